import { nextRuns, parseScheduleInterval } from '../../ceph/schedule';
import type { ImageMirrorMode, SnapshotScheduleItem } from '../../ceph/types';
import type { Pair, PairSnap, SideState, Sim, SimCluster, SimImage, SimPool } from './model';
import {
  COPY_LATENCY_MS,
  MAX_MIRROR_SNAPSHOTS,
  OBJECT_BYTES,
  RESYNC_BASE_MS,
  SYNC_BYTES_PER_SEC,
  hash,
  newSide,
  sideOf,
  uuidFrom,
} from './model';

export function copyMs(snap: PairSnap): number {
  return COPY_LATENCY_MS + (snap.deltaBytes / SYNC_BYTES_PER_SEC) * 1000;
}

/** Whether `snap` has arrived (completely) on `cluster`. */
export function copied(pair: Pair, snap: PairSnap, cluster: string, now: number): boolean {
  if (snap.origin === cluster) return true;
  const side = sideOf(pair, cluster);
  if (side?.resyncUntil !== null && side?.resyncUntil !== undefined) return false;
  return now >= snap.at + copyMs(snap);
}

/** Whether rbd-mirror has begun copying `snap` to the other side. */
export function copyStarted(snap: PairSnap, now: number): boolean {
  return now >= snap.at + COPY_LATENCY_MS / 2;
}

/** How far rbd-mirror has got copying `snap` here, as the last object number it copied. */
export function copiedObjects(snap: PairSnap, sizeBytes: number, now: number): number {
  const objects = Math.ceil(sizeBytes / OBJECT_BYTES);
  const dur = copyMs(snap);
  const fraction = Math.max(0, Math.min(1, (now - snap.at) / Math.max(dur, 1)));
  return Math.floor(objects * fraction);
}

/** The content a side shows now. */
export function sideContent(pair: Pair, side: SideState, now: number): string {
  if (side.primary) return side.content;
  // Split-brain: rbd-mirror replays nothing into it, it keeps what it had as primary.
  if (side.splitBrain) return side.content;
  if (side.resyncUntil !== null && now < side.resyncUntil) return side.content;
  if (pair.mode === 'journal') {
    const p = pair.sides.find((s) => s.primary);
    return p ? p.content : side.content;
  }
  for (let i = pair.snaps.length - 1; i >= 0; i--) {
    const s = pair.snaps[i]!;
    if (copied(pair, s, side.cluster, now)) return s.content;
  }
  return side.content;
}

export function addSnap(pair: Pair, origin: SideState, at: number, demoted: boolean): PairSnap {
  const prev = pair.snaps[pair.snaps.length - 1];
  const written = origin.pendingBytes + (prev ? (pair.writeRate * Math.max(0, at - prev.at)) / 1000 : 0);
  if (pair.writeRate > 0) origin.content = hash(origin.content, 'workload', at);
  const snap: PairSnap = {
    seq: ++pair.seq,
    origin: origin.cluster,
    at,
    demoted,
    content: origin.content,
    deltaBytes: Math.round(written),
  };
  origin.pendingBytes = 0;
  pair.snaps.push(snap);
  while (pair.snaps.length > MAX_MIRROR_SNAPSHOTS) pair.snaps.shift();
  return snap;
}

/**
 * Runs the snapshot schedules that fell due since the last call, and finishes resyncs. `down`
 * holds the clusters that are powered off.
 */
export function tick(sim: Sim, down: ReadonlySet<string>, now: number): void {
  for (const pair of sim.pairs.values()) {
    for (const side of pair.sides) {
      if (side.resyncUntil !== null && now >= side.resyncUntil) {
        const p = pair.sides.find((s) => s.primary);
        if (p) side.content = p.content;
        side.resyncUntil = null;
        side.resyncFrom = null;
      }
    }
    const primary = pair.sides.filter((s) => s.primary);
    if (pair.mode !== 'snapshot' || primary.length !== 1) {
      pair.lastTick = now;
      continue;
    }
    const side = primary[0]!;
    // A cluster that is off takes no scheduled snapshots (none are taken later for that time).
    if (down.has(side.cluster)) {
      pair.lastTick = now;
      continue;
    }
    const cluster = sim.clusters.get(side.cluster);
    const items = cluster ? effectiveSchedule(cluster, pair.pool, pair.namespace, pair.image) : [];
    if (items.length > 0 && now > pair.lastTick) {
      const runs = new Set<number>();
      for (const it of items) {
        const period = parseScheduleInterval(it.interval).minutes * 60_000;
        const first = nextRuns(it.interval, it.startTime, pair.lastTick, 1)[0]!.getTime();
        const last = first + Math.floor((now - first) / period) * period;
        for (let t = last, k = 0; t >= first && k < MAX_MIRROR_SNAPSHOTS; t -= period, k++) runs.add(t);
      }
      const due = [...runs]
        .filter((t) => t <= now)
        .sort((a, b) => a - b)
        .slice(-MAX_MIRROR_SNAPSHOTS);
      for (const t of due) addSnap(pair, side, t, false);
    }
    pair.lastTick = now;
  }
}

export function effectiveSchedule(
  c: SimCluster,
  pool: string,
  namespace: string,
  image: string,
): SnapshotScheduleItem[] {
  for (const key of [`${pool}/${namespace}/${image}`, namespace ? `${pool}/${namespace}/` : `${pool}/`, '']) {
    const items = c.schedules.get(key);
    if (items && items.length > 0) return items;
  }
  return [];
}

/** Pairs an image with its counterpart on the peer cluster(s) of the pool. */
export function startPair(
  sim: Sim,
  c: SimCluster,
  p: SimPool,
  namespace: string,
  img: SimImage,
  mode: ImageMirrorMode,
  now: number,
): Pair {
  const globalId = uuidFrom(`pair/${c.fsid}/${p.name}/${namespace}/${img.name}/${now}`);
  const content = img.content || hash('empty', img.name);
  const pair: Pair = {
    globalId,
    mode,
    pool: p.name,
    namespace,
    image: img.name,
    sides: [newSide(c.name, true, content)],
    snaps: [],
    seq: 0,
    diverged: false,
    lastTick: now,
    writeRate: 0,
  };
  img.pair = globalId;
  sim.pairs.set(globalId, pair);
  if (mode === 'snapshot') {
    const snap = addSnap(pair, pair.sides[0]!, now, false);
    snap.deltaBytes = Math.min(img.sizeBytes, Math.round(img.sizeBytes * 0.1));
  }
  for (const peer of p.peers) {
    const remote = [...sim.clusters.values()].find((x) => x.mirrorUuid === peer.mirrorUuid);
    const rp = remote?.pools.get(p.name);
    const rns = rp?.namespaces.get(namespace);
    if (!remote || !rns || rns.mode === 'disabled' || rns.images.has(img.name)) continue;
    rns.images.set(img.name, {
      name: img.name,
      id: hash('image-id', remote.name, img.name, now).slice(0, 12),
      sizeBytes: img.sizeBytes,
      features: [...img.features],
      createdAt: now,
      pair: globalId,
      content: '',
      userSnaps: [],
    });
    pair.sides.push(newSide(remote.name, false, hash('empty', img.name)));
  }
  return pair;
}

/** `side` becomes primary with the content it shows now, and takes a mirror snapshot in snapshot mode. */
export function promoteSide(pair: Pair, side: SideState, now: number): void {
  side.content = sideContent(pair, side, now);
  side.primary = true;
  side.splitBrain = false;
  side.resyncUntil = null;
  if (pair.mode === 'snapshot') addSnap(pair, side, now, false);
}

/**
 * `side` stops being primary, leaving a demoted mirror snapshot in snapshot mode; after a forced
 * promotion (while the other side is still primary) its brain is split.
 */
export function demoteSide(pair: Pair, side: SideState, now: number): void {
  side.primary = false;
  if (pair.mode === 'snapshot') addSnap(pair, side, now, true);
  if (pair.diverged && pair.sides.some((s) => s.primary)) {
    side.splitBrain = true;
    pair.diverged = false;
  }
}

/** Starts a resync of `side`: its image is recreated from the primary's data. */
export function startResync(pair: Pair, side: SideState, img: SimImage, now: number): void {
  side.splitBrain = false;
  // The image is recreated from the primary: its own history is gone.
  pair.snaps = pair.snaps.filter((s) => s.origin !== side.cluster);
  pair.diverged = false;
  side.resyncFrom = now;
  side.resyncUntil = now + RESYNC_BASE_MS + Math.round(((img.sizeBytes * 0.1) / SYNC_BYTES_PER_SEC) * 1000);
}

/** Whether a resyncing side's image is still being recreated (it is not listed meanwhile). */
export function recreating(side: SideState, now: number): boolean {
  return side.resyncUntil !== null && now < side.resyncUntil - RESYNC_BASE_MS / 2;
}
