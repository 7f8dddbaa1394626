/*
 * Which registered cluster a pool's mirror peer is, and from which clusters this one can take a
 * pool or namespace over. Pure, so that the Ceph page and its tests share it.
 */

/** A registered Ceph cluster as `sites.list` gives it. */
export interface ClusterRef {
  id: number;
  name: string;
  /** Its registration; `siteName` is the mirroring site name its peers know it by. */
  config?: Record<string, unknown> | null;
}

/** What the takeover needs of a (pool, namespace) of the status (see poolOverview on the server). */
export interface TakeoverEntry {
  pool: string;
  namespace: string;
  peers: { siteName: string }[];
  counts: { mirrored: number; primary: number; notPrimary: number };
  /** The peer site names its mirrored images that are not primary here report. */
  imagePeerSites: string[];
}

/**
 * The registered cluster a peer site name stands for: the one registered with that mirroring site
 * name (`config.siteName`), else the one registered under that name; never `selfId`. Null when the
 * peer is no registered cluster.
 */
export function clusterOfPeer<C extends ClusterRef>(
  peerSiteName: string,
  clusters: readonly C[],
  selfId: number,
): C | null {
  const others = clusters.filter((c) => c.id !== selfId);
  return (
    others.find((c) => c.config?.siteName === peerSiteName) ??
    others.find((c) => c.name === peerSiteName) ??
    null
  );
}

/**
 * The registered clusters this cluster can take `entry` over from ("Fail over from <peer>"): the
 * peers of its pool (a namespace has its pool's peers), and the sites its non-primary images
 * report, that are registered clusters — as long as some mirrored image of `entry` is not primary
 * here. Each cluster once, in the order its peers are listed.
 */
export function takeoverSources<C extends ClusterRef>(
  pools: readonly TakeoverEntry[],
  entry: TakeoverEntry,
  clusters: readonly C[],
  selfId: number,
): C[] {
  if (!entry.counts.notPrimary) return [];
  const pool = pools.find((p) => p.pool === entry.pool && p.namespace === '') ?? entry;
  const names = [...pool.peers.map((p) => p.siteName), ...entry.imagePeerSites];
  const found: C[] = [];
  for (const n of names) {
    const c = clusterOfPeer(n, clusters, selfId);
    if (c && !found.includes(c)) found.push(c);
  }
  return found;
}

/** Whether some mirrored image of `entry` is primary on this cluster (there is something to fail over from here). */
export function hasPrimaryHere(entry: Pick<TakeoverEntry, 'counts'>): boolean {
  return entry.counts.primary > 0;
}
