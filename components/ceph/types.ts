import type { RouterOutputs } from '../trpc';

export type CephStatus = RouterOutputs['ceph']['status'];
/** One (pool, namespace) of the status; `namespace: ''` is the pool's default namespace. */
export type PoolEntry = CephStatus['pools'][number];
/** One image row of a page of `ceph.images`. */
export type ImageEntry = RouterOutputs['ceph']['images']['rows'][number];
export type Peer = PoolEntry['peers'][number];
export type { TrackedTask as Task, TaskHandlers, TrackTask } from '../task-tracker';

export interface Scope {
  pool: string;
  namespace: string;
}

/** `rbd` or `rbd/tenant1`, as Ceph writes a pool spec. */
export function scopeName(s: Scope): string {
  return s.namespace ? `${s.pool}/${s.namespace}` : s.pool;
}
