/**
 * What Tandem needs from a Ceph cluster for RBD mirroring. Implemented over the `rbd`/`ceph`
 * CLIs (`--format json`) and by the demo simulation.
 */
export interface CephProbe {
  fsid: string;
  health: 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR' | string;
  version: string;
}

export type MirrorMode = 'disabled' | 'image' | 'pool';

export interface MirrorPeer {
  uuid: string;
  siteName: string;
  direction: 'rx-only' | 'rx-tx' | 'tx-only' | string;
  clientName: string;
  monHost?: string;
}

export interface PoolMirrorSummary {
  pool: string;
  namespace: string;
  mode: MirrorMode;
  siteName: string;
  peers: MirrorPeer[];
  health: 'OK' | 'WARNING' | 'ERROR' | 'UNKNOWN' | string;
  daemonHealth: string;
  imageHealth: string;
  /** Counts by state, e.g. { replaying: 3, stopped: 1 }. */
  states: Record<string, number>;
}

export interface CephAdapter {
  readonly kind: 'ceph';
  probe(signal?: AbortSignal): Promise<CephProbe>;
  /** Pools with the rbd application, with their mirroring summary. */
  listMirrorPools(): Promise<PoolMirrorSummary[]>;
}
