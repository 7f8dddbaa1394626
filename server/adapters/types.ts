import type { CephAdapter } from './ceph/types';
import type { NodeAdapter } from './node/types';

export type SiteAdapter = NodeAdapter | CephAdapter;
export type { CephAdapter, NodeAdapter };
