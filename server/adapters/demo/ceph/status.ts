import { nextRunOf } from '../../ceph/schedule';
import { mergeImageList, parseMirrorDescription, parseMirrorState } from '../../ceph/parse';
import type {
  ImageMirrorStatus,
  ImageSnapshot,
  ImageSummary,
  MirrorDaemon,
  PeerSiteStatus,
  PoolStatusSummary,
  ScheduleLevel,
  SnapshotScheduleEntry,
  SnapshotScheduleStatus,
} from '../../ceph/types';
import type { Pair, PairSnap, SideState, Sim, SimCluster, SimImage } from './model';
import {
  SYNC_BYTES_PER_SEC,
  fmtCtime,
  fmtTime,
  namespaceOf,
  otherSide,
  pairOf,
  poolOf,
  sideOf,
  uuidFrom,
} from './model';
import { copied, copiedObjects, copyMs, copyStarted, effectiveSchedule, recreating } from './timeline';

export function sideStatus(pair: Pair, side: SideState, now: number): { state: string; description: string } {
  const other = otherSide(pair, side.cluster);
  if (side.resyncUntil !== null && now < side.resyncUntil) {
    const from = side.resyncFrom ?? now;
    const pct = Math.max(
      0,
      Math.min(99, Math.floor(((now - from) / Math.max(side.resyncUntil - from, 1)) * 100)),
    );
    return { state: 'up+syncing', description: `bootstrapping, IMAGE_SYNC/COPY_IMAGE ${pct}%` };
  }
  if (side.splitBrain) return { state: 'up+error', description: 'split-brain' };
  if (side.primary) return { state: 'up+stopped', description: 'local image is primary' };
  if (!other) return { state: 'down+unknown', description: 'status not found' };
  if (pair.mode === 'journal') {
    if (!other.primary) return { state: 'up+unknown', description: 'remote image demoted' };
    const details = {
      bytes_per_second: 0.0,
      entries_behind_primary: 0,
      entries_per_second: 0.0,
      non_primary_position: { entry_tid: pair.seq, object_number: 0, tag_tid: 1 },
      primary_position: { entry_tid: pair.seq, object_number: 0, tag_tid: 1 },
    };
    return { state: 'up+replaying', description: `replaying, ${JSON.stringify(details)}` };
  }
  const remote = pair.snaps.filter((s) => s.origin === other.cluster);
  const latest = remote[remote.length - 1];
  const copiedList = remote.filter((s) => copied(pair, s, side.cluster, now));
  const lastCopied = copiedList[copiedList.length - 1];
  if (latest?.demoted && lastCopied === latest)
    return { state: 'up+unknown', description: 'remote image demoted' };
  const details: Record<string, unknown> = {
    bytes_per_second: 0.0,
    bytes_per_snapshot: lastCopied ? lastCopied.deltaBytes : 0,
    last_snapshot_bytes: lastCopied ? lastCopied.deltaBytes : 0,
    last_snapshot_sync_seconds: lastCopied ? Math.round(copyMs(lastCopied) / 1000) : 0,
  };
  if (lastCopied) details.local_snapshot_timestamp = Math.floor(lastCopied.at / 1000);
  if (latest) details.remote_snapshot_timestamp = Math.floor(latest.at / 1000);
  if (latest && lastCopied !== latest) {
    const dur = copyMs(latest);
    details.replay_state = 'syncing';
    details.syncing_percent = Math.max(0, Math.min(99, Math.floor(((now - latest.at) / dur) * 100)));
    details.syncing_snapshot_timestamp = Math.floor(latest.at / 1000);
    details.bytes_per_second = SYNC_BYTES_PER_SEC;
  } else details.replay_state = 'idle';
  return { state: 'up+replaying', description: `replaying, ${JSON.stringify(details)}` };
}

export function peerSites(sim: Sim, pair: Pair, side: SideState, now: number): PeerSiteStatus[] {
  const other = otherSide(pair, side.cluster);
  if (!other) return [];
  const oc = sim.clusters.get(other.cluster);
  if (!oc) return [];
  const s = sideStatus(pair, other, now);
  const st = parseMirrorState(s.state);
  return [
    {
      siteName: oc.siteName,
      mirrorUuids: oc.mirrorUuid,
      rawState: s.state,
      daemonUp: st.daemonUp,
      state: st.state,
      description: parseMirrorDescription(s.description),
      rawDescription: s.description,
      lastUpdate: fmtTime(Math.floor(now / 30_000) * 30_000),
    },
  ];
}

export function snapId(snap: PairSnap, cluster: string): string {
  return String(1000 + snap.seq * 2 + (snap.origin === cluster ? 0 : 1));
}

export function imageStatus(
  sim: Sim,
  c: SimCluster,
  pool: string,
  namespace: string,
  img: SimImage,
  now: number,
): ImageMirrorStatus | null {
  const pair = pairOf(sim, img);
  const side = pair ? sideOf(pair, c.name) : undefined;
  if (!pair || !side) return null;
  const s = sideStatus(pair, side, now);
  const st = parseMirrorState(s.state);
  const snaps = side.primary && pair.mode === 'snapshot' ? pair.snaps.filter((x) => x.origin === c.name) : [];
  const peer = poolOf(c, pool).peers[0];
  return {
    pool,
    namespace,
    name: img.name,
    globalId: pair.globalId,
    rawState: s.state,
    daemonUp: st.daemonUp,
    state: st.state,
    rawDescription: s.description,
    description: parseMirrorDescription(s.description),
    lastUpdate: fmtTime(Math.floor(now / 30_000) * 30_000),
    daemon: {
      serviceId: String(4100 + c.index * 10),
      instanceId: String(4101 + c.index * 10),
      daemonId: 'demo',
      hostname: `${c.name}-mirror1`,
    },
    peerSites: peerSites(sim, pair, side, now),
    snapshots: snaps.map((x) => ({
      id: snapId(x, c.name),
      name: `.mirror.primary.${pair.globalId}.${uuidFrom(`${pair.globalId}/${x.seq}`)}`,
      demoted: x.demoted,
      mirrorPeerUuids:
        peer && copied(pair, x, otherSide(pair, c.name)?.cluster ?? '', now) ? [] : peer ? [peer.uuid] : [],
    })),
  };
}

export function summary(statuses: ImageMirrorStatus[]): PoolStatusSummary {
  const states: Record<string, number> = {};
  let worst = 'OK';
  for (const s of statuses) {
    states[s.state] = (states[s.state] ?? 0) + 1;
    if (s.state === 'error') worst = 'ERROR';
    else if ((s.state === 'unknown' || s.state === 'syncing' || !s.daemonUp) && worst !== 'ERROR')
      worst = 'WARNING';
  }
  return { health: worst, daemonHealth: 'OK', imageHealth: worst, states };
}

export function imageStatuses(
  sim: Sim,
  c: SimCluster,
  pool: string,
  namespace: string,
  now: number,
): ImageMirrorStatus[] {
  const { ns } = namespaceOf(c, pool, namespace);
  return [...ns.images.values()]
    .map((img) => imageStatus(sim, c, pool, namespace, img, now))
    .filter((s): s is ImageMirrorStatus => s !== null)
    .map(({ snapshots: _s, ...rest }) => ({ ...rest, snapshots: [] }));
}

export function daemonInstances(c: SimCluster) {
  return [
    {
      serviceId: String(4100 + c.index * 10),
      instanceId: String(4101 + c.index * 10),
      clientId: 'demo',
      hostname: `${c.name}-mirror1`,
      version: '16.2.15',
      leader: true,
      health: 'OK',
    },
  ];
}

export function daemonsOf(c: SimCluster, now: number): MirrorDaemon[] {
  const pools = [...c.pools.values()].filter((p) => p.mode !== 'disabled');
  return [
    {
      serviceId: String(4100 + c.index * 10),
      daemonId: 'demo',
      hostname: `${c.name}-mirror1`,
      version: '16.2.15',
      pools: pools.map((p) => {
        const imgs = [...p.namespaces.values()]
          .filter((ns) => ns.mode !== 'disabled')
          .flatMap((ns) => [...ns.images.values()])
          .filter((i) => i.pair);
        return {
          pool: p.name,
          leader: true,
          instanceId: String(4101 + c.index * 10),
          imageCounts: {
            assigned: imgs.length,
            error: 0,
            local: imgs.length,
            remote: imgs.length,
            warning: 0,
          },
        };
      }),
      leader: pools.length > 0,
      health: 'OK',
      callouts: [],
      lastBeacon: new Date(Math.floor(now / 5000) * 5000).toISOString(),
    },
  ];
}

export function imageList(
  sim: Sim,
  c: SimCluster,
  pool: string,
  namespace: string,
  now: number,
): ImageSummary[] {
  const { ns } = namespaceOf(c, pool, namespace);
  const ls = [...ns.images.values()]
    .filter((i) => {
      const pair = pairOf(sim, i);
      const side = pair ? sideOf(pair, c.name) : undefined;
      return !(side && recreating(side, now));
    })
    .map((i) => ({ name: i.name, id: i.id, sizeBytes: i.sizeBytes }));
  return mergeImageList(
    pool,
    namespace,
    ls,
    ns.mode === 'disabled' ? [] : imageStatuses(sim, c, pool, namespace, now),
  );
}

export function imageSnapshots(
  sim: Sim,
  c: SimCluster,
  pool: string,
  img: SimImage,
  now: number,
): ImageSnapshot[] {
  const out: ImageSnapshot[] = img.userSnaps.map((s) => ({
    id: String(s.id),
    name: s.name,
    sizeBytes: img.sizeBytes,
    protected: false,
    timestamp: fmtCtime(s.at),
    namespaceType: 'user',
    mirror: null,
  }));
  const pair = pairOf(sim, img);
  const side = pair ? sideOf(pair, c.name) : undefined;
  if (pair && side && pair.mode === 'snapshot') {
    const other = otherSide(pair, c.name);
    const oc = other ? sim.clusters.get(other.cluster) : undefined;
    const peerUuid = poolOf(c, pool).peers[0]?.uuid;
    for (const s of pair.snaps) {
      const own = s.origin === c.name;
      if (!own && side.resyncUntil !== null) continue;
      if (!own && !copyStarted(s, now)) continue;
      const complete = copied(pair, s, c.name, now);
      const sent = other ? copied(pair, s, other.cluster, now) : false;
      out.push({
        id: snapId(s, c.name),
        name: `.mirror.${own ? 'primary' : 'non_primary'}.${pair.globalId}.${uuidFrom(`${pair.globalId}/${s.seq}/${own}`)}`,
        sizeBytes: img.sizeBytes,
        protected: false,
        timestamp: fmtCtime(s.at),
        namespaceType: 'mirror',
        mirror: {
          state: s.demoted ? 'demoted' : own ? 'primary' : 'non-primary',
          primary: own,
          demoted: s.demoted,
          complete,
          mirrorPeerUuids: own ? (sent && peerUuid ? [peerUuid] : []) : [],
          primaryMirrorUuid: own ? null : (oc?.mirrorUuid ?? null),
          primarySnapId: own ? null : snapId(s, s.origin),
          lastCopiedObjectNumber: own ? null : copiedObjects(s, img.sizeBytes, now),
        },
      });
    }
  }
  return out;
}

/** The schedules at `key` and below, as `rbd mirror snapshot schedule ls --recursive` lists them. */
export function scheduleEntries(c: SimCluster, key: string): SnapshotScheduleEntry[] {
  const out: SnapshotScheduleEntry[] = [];
  for (const [k, items] of [...c.schedules.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    if (items.length === 0 || !k.startsWith(key)) continue;
    if (k === '') {
      out.push({
        level: 'global',
        pool: null,
        namespace: null,
        image: null,
        items: items.map((i) => ({ ...i })),
      });
      continue;
    }
    const [pool = '', ns = '', image = ''] = k.split('/');
    const lvl: SnapshotScheduleEntry['level'] = image ? 'image' : ns ? 'namespace' : 'pool';
    out.push({
      level: lvl,
      pool,
      namespace: lvl === 'pool' ? null : ns,
      image: image || null,
      items: items.map((i) => ({ ...i })),
    });
  }
  return out;
}

/** The next scheduled run of each snapshot-mirrored image primary on `c` within `level`. */
export function scheduleStatuses(
  sim: Sim,
  c: SimCluster,
  level: ScheduleLevel,
  now: number,
): SnapshotScheduleStatus[] {
  const out: SnapshotScheduleStatus[] = [];
  for (const pair of sim.pairs.values()) {
    const side = sideOf(pair, c.name);
    if (!side?.primary || pair.mode !== 'snapshot') continue;
    if (level.pool && pair.pool !== level.pool) continue;
    if (
      level.namespace !== undefined &&
      level.pool &&
      (level.namespace || level.image) &&
      pair.namespace !== (level.namespace ?? '')
    )
      continue;
    if (level.image && pair.image !== level.image) continue;
    const items = effectiveSchedule(c, pair.pool, pair.namespace, pair.image);
    const next = nextRunOf(items, now);
    if (!next) continue;
    const spec = pair.namespace
      ? `${pair.pool}/${pair.namespace}/${pair.image}`
      : `${pair.pool}/${pair.image}`;
    out.push({
      imageSpec: spec,
      pool: pair.pool,
      namespace: pair.namespace,
      image: pair.image,
      scheduleTime: `${fmtTime(next.getTime()).slice(0, 16)}:00`,
    });
  }
  return out.sort(
    (a, b) => a.scheduleTime.localeCompare(b.scheduleTime) || a.imageSpec.localeCompare(b.imageSpec),
  );
}
