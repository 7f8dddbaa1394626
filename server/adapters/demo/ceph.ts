import type { CephLabImages } from '../ceph/lab-images';
import crypto from 'node:crypto';
import { AppError } from '../../core/errors';
import { checkMirrorSnapshot, imageSpec, mirrorSnapshotGone, poolSpec, testCopyFeatures } from '../ceph/cli';
import { countCliCalls, noteCliCalls } from '../ceph/call-count';
import { normalizeMonHosts } from '../ceph/mon-host';
import { mergeImageList, parseMirrorDescription, parseMirrorState } from '../ceph/parse';
import {
  nextRunOf,
  nextRuns,
  parseScheduleInterval,
  parseScheduleStartTime,
  formatScheduleInterval,
} from '../ceph/schedule';
import { decodeBootstrapToken, encodeBootstrapToken } from '../ceph/token';
import type {
  BootstrapDirection,
  CephAdapter,
  CephMirrorSnapshot,
  CephProbe,
  ImageInfo,
  ImageMirrorMode,
  ImageMirrorStatus,
  ImageSnapshot,
  ImageSummary,
  MirrorDaemon,
  MirrorMode,
  MirrorPeer,
  PeerDirection,
  PeerSiteStatus,
  PoolMirrorInfo,
  PoolMirrorState,
  PoolMirrorStatus,
  PoolMirrorStatusVerbose,
  PoolMirrorSummary,
  PoolStatusSummary,
  RbdPool,
  ScheduleLevel,
  SnapshotScheduleEntry,
  SnapshotScheduleItem,
  SnapshotScheduleStatus,
  TestCopyResult,
} from '../ceph/types';
import { assertName } from '../../core/names';
import type { DemoCluster, DemoWorld } from './world';

/*
 * RBD mirroring of the demo's two Ceph clusters, simulated in process. All state lives in a
 * per-world simulation object (both clusters' adapters share it) and everything that moves is
 * a function of the world clock:
 *
 * - A mirrored image is a "pair" with one side per cluster. Mirror snapshots form one timeline
 *   per pair; a snapshot taken on one side reaches the other `COPY_LATENCY_MS + delta / 80 MiB/s`
 *   after it was taken (so a demotion is not visible on the other side at once: a promote
 *   right after the peer's demote is refused and succeeds a moment later, as on real clusters).
 * - Snapshot schedules really run: on every call, runs due since the previous call are
 *   materialised for primary snapshot-mode images (at most the last five).
 * - Content is a running hash: writes change the primary's; a non-primary shows the content of
 *   the newest snapshot it has copied, so checksums converge after a sync.
 */

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
const SYNC_BYTES_PER_SEC = 80 * MiB;
const COPY_LATENCY_MS = 2_000;
const RESYNC_BASE_MS = 15_000;
const MAX_MIRROR_SNAPSHOTS = 5;
const DEFAULT_FEATURES = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'];
const KNOWN_FEATURES = [...DEFAULT_FEATURES, 'journaling', 'striping', 'data-pool'];
const OBJECT_BYTES = 4 * MiB;

/**
 * A namespace of the demo pool with images of its own: one snapshot-mirrored (scheduled), one
 * journal-mirrored, and one that only exists on the primary cluster and is not mirrored.
 */
export const DEMO_NAMESPACE = 'tenant1';
const NAMESPACE_IMAGES: {
  name: string;
  sizeBytes: number;
  mode: ImageMirrorMode | null;
  intervalMin?: number;
  writeRate: number;
}[] = [
  { name: 'vm-mail01-root', sizeBytes: 80 * GiB, mode: 'snapshot', intervalMin: 10, writeRate: 1 * MiB },
  { name: 'vm-erp01-data', sizeBytes: 120 * GiB, mode: 'journal', writeRate: 0 },
  { name: 'scratch01', sizeBytes: 10 * GiB, mode: null, writeRate: 0 },
];

interface SideState {
  cluster: string;
  primary: boolean;
  /** Content hash of a primary (a non-primary's is derived from the snapshots it has). */
  content: string;
  /** Bytes written since the last mirror snapshot. */
  pendingBytes: number;
  /** Resync in progress from/until these times (ms). */
  resyncFrom: number | null;
  resyncUntil: number | null;
  splitBrain: boolean;
}

interface PairSnap {
  seq: number;
  origin: string;
  at: number;
  demoted: boolean;
  content: string;
  deltaBytes: number;
}

interface Pair {
  globalId: string;
  mode: ImageMirrorMode;
  pool: string;
  namespace: string;
  image: string;
  sides: SideState[];
  snaps: PairSnap[];
  seq: number;
  /** Both sides were primary at the same time (a forced promote): the next demote splits the brain. */
  diverged: boolean;
  lastTick: number;
  /** Bytes per second the "workload" writes on the primary (seeded images). */
  writeRate: number;
}

interface SimImage {
  name: string;
  id: string;
  sizeBytes: number;
  features: string[];
  createdAt: number;
  /** Global id of its mirroring pair, or null when mirroring is disabled. */
  pair: string | null;
  /** Content of an unmirrored image. */
  content: string;
  userSnaps: { id: number; name: string; at: number }[];
}

interface SimPeer extends MirrorPeer {
  mirrorUuid: string;
}

interface SimPool {
  name: string;
  id: number;
  mode: MirrorMode;
  namespaces: Map<string, { mode: MirrorMode; images: Map<string, SimImage> }>;
  peers: SimPeer[];
}

interface SimCluster {
  name: string;
  fsid: string;
  siteName: string;
  mirrorUuid: string;
  index: number;
  pools: Map<string, SimPool>;
  /** Level key (`` / `pool/` / `pool/ns/` / `pool/ns/image`) → schedules. */
  schedules: Map<string, SnapshotScheduleItem[]>;
  idSeq: number;
}

interface Sim {
  clusters: Map<string, SimCluster>;
  pairs: Map<string, Pair>;
}

const sims = new WeakMap<DemoWorld, Sim>();

function hash(...parts: (string | number)[]): string {
  return crypto.createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

function uuidFrom(seed: string): string {
  const h = hash('uuid', seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

function levelKey(level: ScheduleLevel): string {
  if (!level.pool) {
    if (level.namespace || level.image)
      throw AppError.invalid('level', 'a namespace or image level needs a pool');
    return '';
  }
  assertName('ceph', level.pool, 'pool');
  if (level.namespace) assertName('ceph', level.namespace, 'namespace');
  if (level.image)
    return `${level.pool}/${level.namespace ?? ''}/${assertName('ceph', level.image, 'image')}`;
  return level.namespace ? `${level.pool}/${level.namespace}/` : `${level.pool}/`;
}

function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

function fmtCtime(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

function seedSim(world: DemoWorld): Sim {
  const sim: Sim = { clusters: new Map(), pairs: new Map() };
  const clusters = world.clusters;
  clusters.forEach((c, index) => {
    sim.clusters.set(c.name, {
      name: c.name,
      fsid: c.fsid,
      siteName: c.siteName,
      mirrorUuid: uuidFrom(`${c.fsid}/mirror`),
      index,
      pools: new Map(),
      schedules: new Map(),
      idSeq: 100,
    });
  });
  const created = world.epoch - 30 * 86400_000;
  for (const c of clusters) {
    const sc = sim.clusters.get(c.name)!;
    const others = clusters.filter((o) => o !== c);
    const peers: SimPeer[] = others.map((o) => ({
      uuid: uuidFrom(`${c.fsid}/peer/${o.fsid}`),
      siteName: o.siteName,
      direction: 'rx-tx',
      clientName: 'client.rbd-mirror-peer',
      mirrorUuid: uuidFrom(`${o.fsid}/mirror`),
      monHost: monHostOf(sim.clusters.get(o.name)!),
    }));
    const images = new Map<string, SimImage>();
    c.images.forEach((img, i) => {
      images.set(img.name, {
        name: img.name,
        id: hash('image-id', c.name, img.name).slice(0, 12),
        sizeBytes: img.sizeBytes,
        features: [...DEFAULT_FEATURES],
        createdAt: created,
        pair: uuidFrom(`pair/${img.name}/${i}`),
        content: '',
        userSnaps: [],
      });
    });
    const primary = clusters.find((x) => x.primary) ?? clusters[0]!;
    const nsImages = new Map<string, SimImage>();
    for (const img of NAMESPACE_IMAGES) {
      if (!img.mode && c !== primary) continue;
      nsImages.set(img.name, {
        name: img.name,
        id: hash('image-id', c.name, DEMO_NAMESPACE, img.name).slice(0, 12),
        sizeBytes: img.sizeBytes,
        features: img.mode === 'journal' ? [...DEFAULT_FEATURES, 'journaling'] : [...DEFAULT_FEATURES],
        createdAt: created,
        pair: img.mode ? uuidFrom(`pair/${DEMO_NAMESPACE}/${img.name}`) : null,
        content: img.mode ? '' : hash('seed', DEMO_NAMESPACE, img.name),
        userSnaps: [],
      });
    }
    sc.pools.set(c.pool, {
      name: c.pool,
      id: 2,
      mode: 'image',
      namespaces: new Map([
        ['', { mode: 'image', images }],
        [DEMO_NAMESPACE, { mode: 'image', images: nsImages }],
      ]),
      peers,
    });
    sc.pools.set('rbd2', {
      name: 'rbd2',
      id: 3,
      mode: 'disabled',
      namespaces: new Map([['', { mode: 'disabled', images: new Map() }]]),
      peers: [],
    });
    if (c === primary) {
      for (const img of c.images)
        sc.schedules.set(`${c.pool}//${img.name}`, [
          {
            interval: formatScheduleInterval(Math.max(1, Math.round(img.intervalSec / 60))),
            startTime: null,
          },
        ]);
      for (const img of NAMESPACE_IMAGES)
        if (img.intervalMin)
          sc.schedules.set(`${c.pool}/${DEMO_NAMESPACE}/${img.name}`, [
            { interval: formatScheduleInterval(img.intervalMin), startTime: null },
          ]);
    }
  }
  const primary = clusters.find((x) => x.primary) ?? clusters[0]!;
  const seedPair = (
    globalId: string,
    namespace: string,
    image: string,
    mode: ImageMirrorMode,
    writeRate: number,
  ) => {
    const content = namespace ? hash('seed', namespace, image) : hash('seed', image);
    sim.pairs.set(globalId, {
      globalId,
      mode,
      pool: primary.pool,
      namespace,
      image,
      sides: clusters.map((c) => ({
        cluster: c.name,
        primary: c === primary,
        content,
        pendingBytes: 0,
        resyncFrom: null,
        resyncUntil: null,
        splitBrain: false,
      })),
      snaps:
        mode === 'snapshot'
          ? [{ seq: 1, origin: primary.name, at: world.epoch, demoted: false, content, deltaBytes: 0 }]
          : [],
      seq: mode === 'snapshot' ? 1 : 0,
      diverged: false,
      lastTick: world.epoch,
      writeRate,
    });
  };
  primary.images.forEach((img, i) =>
    seedPair(uuidFrom(`pair/${img.name}/${i}`), '', img.name, 'snapshot', img.writeRate),
  );
  for (const img of NAMESPACE_IMAGES)
    if (img.mode)
      seedPair(
        uuidFrom(`pair/${DEMO_NAMESPACE}/${img.name}`),
        DEMO_NAMESPACE,
        img.name,
        img.mode,
        img.writeRate,
      );
  return sim;
}

function monHostOf(c: SimCluster): string {
  const ip = `10.20.${c.index + 1}.11`;
  return `[v2:${ip}:3300/0,v1:${ip}:6789/0]`;
}

/** The demo's Ceph adapter: the same interface as CephCliAdapter over the shared simulation. */
export class DemoCephAdapter implements CephAdapter, CephLabImages {
  readonly kind = 'ceph' as const;
  #calls = 0;

  constructor(
    private readonly world: DemoWorld,
    readonly clusterName: string,
  ) {}

  get cliCalls(): number {
    return this.#calls;
  }

  // ---------------------------------------------------------------- plumbing

  get #sim(): Sim {
    let s = sims.get(this.world);
    if (!s) {
      s = seedSim(this.world);
      sims.set(this.world, s);
    }
    return s;
  }

  #worldCluster(): DemoCluster {
    const c = this.world.cluster(this.clusterName);
    if (!c)
      throw new AppError('UNREACHABLE', `demo cluster ${this.clusterName} does not exist in the simulation`);
    return c;
  }

  #me(): SimCluster {
    this.#worldCluster();
    const c = this.#sim.clusters.get(this.clusterName);
    if (!c)
      throw new AppError('UNREACHABLE', `demo cluster ${this.clusterName} does not exist in the simulation`);
    return c;
  }

  #count(n: number): void {
    this.#calls += n;
    noteCliCalls(n);
  }

  get #now(): number {
    return this.world.clock.now();
  }

  /** One simulated CLI round trip: latency, call counting and the clock-driven schedule runs. */
  async #step(calls = 1, signal?: AbortSignal): Promise<SimCluster> {
    this.#count(calls);
    await this.world.delay(signal);
    if (this.world.down.has(this.clusterName)) {
      await this.world.delay(signal, this.world.unreachableAfterMs);
      throw new AppError(
        'UNREACHABLE',
        `the monitors of demo cluster ${this.clusterName} did not answer within 5 s (powered off in the simulation)`,
      );
    }
    const me = this.#me();
    this.#tick();
    return me;
  }

  #pool(c: SimCluster, pool: string): SimPool {
    assertName('ceph', pool, 'pool');
    const p = c.pools.get(pool);
    if (!p)
      throw new AppError(
        'NOT_FOUND',
        `pool ${pool} does not exist on this cluster (rbd: error opening pool '${pool}': (2) No such file or directory)`,
      );
    return p;
  }

  #ns(c: SimCluster, pool: string, namespace: string) {
    const p = this.#pool(c, pool);
    if (namespace) assertName('ceph', namespace, 'namespace');
    const ns = p.namespaces.get(namespace);
    if (!ns)
      throw new AppError(
        'NOT_FOUND',
        `namespace ${namespace} does not exist in pool ${pool} (rbd: namespace '${namespace}' does not exist.)`,
      );
    return { pool: p, ns };
  }

  #image(c: SimCluster, pool: string, namespace: string, image: string): SimImage {
    const spec = imageSpec(pool, namespace, image);
    const { ns } = this.#ns(c, pool, namespace);
    const img = ns.images.get(image);
    if (!img)
      throw new AppError(
        'NOT_FOUND',
        `image ${spec} does not exist (rbd: error opening image ${image}: (2) No such file or directory)`,
      );
    return img;
  }

  #pairOf(img: SimImage): Pair | null {
    return img.pair ? (this.#sim.pairs.get(img.pair) ?? null) : null;
  }

  #side(pair: Pair, cluster: string): SideState | undefined {
    return pair.sides.find((s) => s.cluster === cluster);
  }

  #other(pair: Pair, cluster: string): SideState | undefined {
    return pair.sides.find((s) => s.cluster !== cluster);
  }

  #copyMs(snap: PairSnap): number {
    return COPY_LATENCY_MS + (snap.deltaBytes / SYNC_BYTES_PER_SEC) * 1000;
  }

  /** Whether `snap` has arrived (completely) on `cluster`. */
  #copied(pair: Pair, snap: PairSnap, cluster: string): boolean {
    if (snap.origin === cluster) return true;
    const side = this.#side(pair, cluster);
    if (side?.resyncUntil !== null && side?.resyncUntil !== undefined) return false;
    return this.#now >= snap.at + this.#copyMs(snap);
  }

  /** The content a side shows now. */
  #content(pair: Pair, side: SideState): string {
    if (side.primary) return side.content;
    // Split-brain: rbd-mirror replays nothing into it, it keeps what it had as primary.
    if (side.splitBrain) return side.content;
    if (side.resyncUntil !== null && this.#now < side.resyncUntil) return side.content;
    if (pair.mode === 'journal') {
      const p = pair.sides.find((s) => s.primary);
      return p ? p.content : side.content;
    }
    for (let i = pair.snaps.length - 1; i >= 0; i--) {
      const s = pair.snaps[i]!;
      if (this.#copied(pair, s, side.cluster)) return s.content;
    }
    return side.content;
  }

  #addSnap(pair: Pair, origin: SideState, at: number, demoted: boolean): PairSnap {
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

  /** Runs the snapshot schedules that fell due since the last call, and finishes resyncs. */
  #tick(): void {
    const now = this.#now;
    for (const pair of this.#sim.pairs.values()) {
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
      if (this.world.down.has(side.cluster)) {
        pair.lastTick = now;
        continue;
      }
      const cluster = this.#sim.clusters.get(side.cluster);
      const items = cluster ? this.#effectiveSchedule(cluster, pair.pool, pair.namespace, pair.image) : [];
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
        for (const t of due) this.#addSnap(pair, side, t, false);
      }
      pair.lastTick = now;
    }
  }

  #effectiveSchedule(c: SimCluster, pool: string, namespace: string, image: string): SnapshotScheduleItem[] {
    for (const key of [
      `${pool}/${namespace}/${image}`,
      namespace ? `${pool}/${namespace}/` : `${pool}/`,
      '',
    ]) {
      const items = c.schedules.get(key);
      if (items && items.length > 0) return items;
    }
    return [];
  }

  // ---------------------------------------------------------------- status

  #sideStatus(pair: Pair, side: SideState): { state: string; description: string } {
    const now = this.#now;
    const other = this.#other(pair, side.cluster);
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
    const copiedList = remote.filter((s) => this.#copied(pair, s, side.cluster));
    const copied = copiedList[copiedList.length - 1];
    if (latest?.demoted && copied === latest)
      return { state: 'up+unknown', description: 'remote image demoted' };
    const details: Record<string, unknown> = {
      bytes_per_second: 0.0,
      bytes_per_snapshot: copied ? copied.deltaBytes : 0,
      last_snapshot_bytes: copied ? copied.deltaBytes : 0,
      last_snapshot_sync_seconds: copied ? Math.round(this.#copyMs(copied) / 1000) : 0,
    };
    if (copied) details.local_snapshot_timestamp = Math.floor(copied.at / 1000);
    if (latest) details.remote_snapshot_timestamp = Math.floor(latest.at / 1000);
    if (latest && copied !== latest) {
      const dur = this.#copyMs(latest);
      details.replay_state = 'syncing';
      details.syncing_percent = Math.max(0, Math.min(99, Math.floor(((now - latest.at) / dur) * 100)));
      details.syncing_snapshot_timestamp = Math.floor(latest.at / 1000);
      details.bytes_per_second = SYNC_BYTES_PER_SEC;
    } else details.replay_state = 'idle';
    return { state: 'up+replaying', description: `replaying, ${JSON.stringify(details)}` };
  }

  #peerSites(pair: Pair, side: SideState): PeerSiteStatus[] {
    const other = this.#other(pair, side.cluster);
    if (!other) return [];
    const oc = this.#sim.clusters.get(other.cluster);
    if (!oc) return [];
    const s = this.#sideStatus(pair, other);
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
        lastUpdate: fmtTime(Math.floor(this.#now / 30_000) * 30_000),
      },
    ];
  }

  #snapId(snap: PairSnap, cluster: string): string {
    return String(1000 + snap.seq * 2 + (snap.origin === cluster ? 0 : 1));
  }

  #imageStatus(c: SimCluster, pool: string, namespace: string, img: SimImage): ImageMirrorStatus | null {
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    if (!pair || !side) return null;
    const s = this.#sideStatus(pair, side);
    const st = parseMirrorState(s.state);
    const snaps =
      side.primary && pair.mode === 'snapshot' ? pair.snaps.filter((x) => x.origin === c.name) : [];
    const peer = this.#pool(c, pool).peers[0];
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
      lastUpdate: fmtTime(Math.floor(this.#now / 30_000) * 30_000),
      daemon: {
        serviceId: String(4100 + c.index * 10),
        instanceId: String(4101 + c.index * 10),
        daemonId: 'demo',
        hostname: `${c.name}-mirror1`,
      },
      peerSites: this.#peerSites(pair, side),
      snapshots: snaps.map((x) => ({
        id: this.#snapId(x, c.name),
        name: `.mirror.primary.${pair.globalId}.${uuidFrom(`${pair.globalId}/${x.seq}`)}`,
        demoted: x.demoted,
        mirrorPeerUuids:
          peer && this.#copied(pair, x, this.#other(pair, c.name)?.cluster ?? '')
            ? []
            : peer
              ? [peer.uuid]
              : [],
      })),
    };
  }

  #summary(statuses: ImageMirrorStatus[]): PoolStatusSummary {
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

  #statuses(c: SimCluster, pool: string, namespace: string): ImageMirrorStatus[] {
    const { ns } = this.#ns(c, pool, namespace);
    return [...ns.images.values()]
      .map((img) => this.#imageStatus(c, pool, namespace, img))
      .filter((s): s is ImageMirrorStatus => s !== null)
      .map(({ snapshots: _s, ...rest }) => ({ ...rest, snapshots: [] }));
  }

  #daemonInstances(c: SimCluster) {
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

  #enabled(mode: MirrorMode, what: string): void {
    if (mode === 'disabled')
      throw new AppError(
        'PRECONDITION_FAILED',
        `mirroring is not enabled on pool ${what}: set its mirror mode to image or pool first (rbd: mirroring not enabled on the pool)`,
      );
  }

  // ---------------------------------------------------------------- cluster

  async probe(signal?: AbortSignal): Promise<CephProbe> {
    const c = await this.#step(3, signal);
    return { fsid: c.fsid, health: 'HEALTH_OK', version: 'ceph version 16.2.15 (demo) pacific (stable)' };
  }

  async listMirrorPools(): Promise<PoolMirrorSummary[]> {
    const c = await this.#step();
    return [...c.pools.values()].map((p) => {
      const statuses = p.mode === 'disabled' ? [] : this.#statuses(c, p.name, '');
      const sum = p.mode === 'disabled' ? null : this.#summary(statuses);
      return {
        pool: p.name,
        namespace: '',
        mode: p.mode,
        siteName: p.mode === 'disabled' ? '' : c.siteName,
        peers: p.peers.map(({ monHost: _m, ...peer }) => peer),
        health: sum?.health ?? 'UNKNOWN',
        daemonHealth: sum?.daemonHealth ?? 'UNKNOWN',
        imageHealth: sum?.imageHealth ?? 'UNKNOWN',
        states: sum?.states ?? {},
      };
    });
  }

  // ---------------------------------------------------------------- pools

  async listRbdPools(): Promise<RbdPool[]> {
    const c = await this.#step();
    return [...c.pools.values()].map((p) => ({
      name: p.name,
      id: p.id,
      namespaces: [...p.namespaces.keys()].filter(Boolean).sort(),
    }));
  }

  async getPoolMirrorInfo(pool: string, namespace = ''): Promise<PoolMirrorInfo> {
    const c = await this.#step();
    const { pool: p, ns } = this.#ns(c, pool, namespace);
    return {
      pool,
      namespace,
      mode: ns.mode,
      siteName: p.mode === 'disabled' ? null : c.siteName,
      peers: p.peers.map((x) => ({ ...x })),
    };
  }

  async getPoolMirrorStatus(pool: string, namespace = ''): Promise<PoolMirrorStatus> {
    const c = await this.#step();
    const { ns } = this.#ns(c, pool, namespace);
    this.#enabled(ns.mode, poolSpec(pool, namespace));
    return { pool, namespace, summary: this.#summary(this.#statuses(c, pool, namespace)) };
  }

  async getPoolMirrorStatusVerbose(pool: string, namespace = ''): Promise<PoolMirrorStatusVerbose> {
    const c = await this.#step();
    const { ns } = this.#ns(c, pool, namespace);
    this.#enabled(ns.mode, poolSpec(pool, namespace));
    const images = this.#statuses(c, pool, namespace);
    return { pool, namespace, summary: this.#summary(images), daemons: this.#daemonInstances(c), images };
  }

  async setPoolMirrorMode(
    pool: string,
    namespace: string,
    mode: MirrorMode,
    opts: { siteName?: string } = {},
  ): Promise<void> {
    const c = await this.#step();
    const { pool: p, ns } = this.#ns(c, pool, namespace);
    if (mode === 'disabled') {
      if (!namespace && p.peers.length > 0) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `mirroring of pool ${pool} cannot be disabled while peers are registered: remove the peers first (mode_set: mirror peers still registered)`,
        );
      }
      if ([...ns.images.values()].some((i) => i.pair)) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `mirroring of ${poolSpec(pool, namespace)} cannot be disabled while images have mirroring enabled: disable mirroring on those images first`,
        );
      }
      const enabledNs = [...p.namespaces.entries()]
        .filter(([n, v]) => n && v.mode !== 'disabled')
        .map(([n]) => n);
      if (!namespace && enabledNs.length > 0) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `mirroring of pool ${pool} cannot be disabled while its namespace(s) ${enabledNs.join(', ')} mirror: disable mirroring of those namespaces first`,
        );
      }
    } else if (mode !== 'image' && mode !== 'pool')
      throw AppError.invalid(
        'mode',
        `${JSON.stringify(mode)} is not a mirror mode (disabled, image or pool)`,
      );
    if (opts.siteName) c.siteName = assertName('ceph', opts.siteName, 'siteName');
    if (namespace && mode !== 'disabled' && p.mode === 'disabled') this.#enabled(p.mode, pool);
    ns.mode = mode;
    if (!namespace) p.mode = mode;
    if (mode === 'pool') {
      for (const img of ns.images.values())
        if (!img.pair && img.features.includes('journaling'))
          this.#startPair(c, p, namespace, img, 'journal');
    }
  }

  // ---------------------------------------------------------------- site name

  async getSiteName(pool: string): Promise<string | null> {
    const c = await this.#step();
    return this.#pool(c, pool).mode === 'disabled' ? null : c.siteName;
  }

  async setSiteName(pool: string, mode: Exclude<MirrorMode, 'disabled'>, siteName: string): Promise<void> {
    const c = await this.#step(2);
    assertName('ceph', siteName, 'siteName');
    // As `rbd mirror pool enable --site-name`: the pool is mirrored in `mode` afterwards.
    this.#pool(c, pool).mode = mode;
    const old = c.siteName;
    c.siteName = siteName;
    // Peers elsewhere learn the new name from the daemons.
    for (const other of this.#sim.clusters.values())
      for (const p of other.pools.values())
        for (const peer of p.peers)
          if (peer.mirrorUuid === c.mirrorUuid && peer.siteName === old) peer.siteName = siteName;
  }

  // ---------------------------------------------------------------- bootstrap and peers

  async createBootstrapToken(pool: string, opts: { siteName?: string } = {}): Promise<string> {
    const c = await this.#step();
    this.#enabled(this.#pool(c, pool).mode, pool);
    if (opts.siteName) c.siteName = assertName('ceph', opts.siteName, 'siteName');
    return encodeBootstrapToken({
      fsid: c.fsid,
      clientId: 'rbd-mirror-peer',
      key: `AQ${Buffer.from(hash('key', c.fsid)).toString('base64').slice(0, 38)}==`,
      monHost: monHostOf(c),
    });
  }

  async importBootstrapToken(
    pool: string,
    token: string,
    opts: { direction: BootstrapDirection; siteName?: string },
  ): Promise<void> {
    const decoded = decodeBootstrapToken(token);
    const c = await this.#step();
    if (opts.direction !== 'rx-only' && opts.direction !== 'rx-tx')
      throw AppError.invalid('direction', 'must be rx-only or rx-tx');
    const p = this.#pool(c, pool);
    this.#enabled(p.mode, pool);
    if (opts.siteName) c.siteName = assertName('ceph', opts.siteName, 'siteName');
    const remote = [...this.#sim.clusters.values()].find((x) => x.fsid === decoded.fsid);
    if (!remote)
      throw new AppError(
        'UNREACHABLE',
        `the token points at cluster ${decoded.fsid} (${decoded.monHost}), which the demo cannot reach`,
      );
    if (remote === c)
      throw new AppError(
        'INVALID_INPUT',
        'token: this token was created on this very cluster; import it on the other site',
      );
    const rp = this.#pool(remote, pool);
    this.#enabled(rp.mode, `${pool} on ${remote.siteName}`);
    const upsert = (on: SimPool, self: SimCluster, peer: SimCluster, direction: PeerDirection) => {
      const existing = on.peers.find((x) => x.mirrorUuid === peer.mirrorUuid);
      if (existing) {
        existing.direction = direction;
        existing.siteName = peer.siteName;
        return;
      }
      on.peers.push({
        uuid: uuidFrom(`${self.fsid}/peer/${peer.fsid}/${this.#now}`),
        siteName: peer.siteName,
        direction,
        clientName: `client.${decoded.clientId}`,
        mirrorUuid: peer.mirrorUuid,
        monHost: monHostOf(peer),
      });
    };
    upsert(p, c, remote, opts.direction);
    if (opts.direction === 'rx-tx') upsert(rp, remote, c, 'rx-tx');
  }

  async #peer(pool: string, uuid: string): Promise<{ c: SimCluster; p: SimPool; peer: SimPeer }> {
    const c = await this.#step();
    const p = this.#pool(c, pool);
    const peer = p.peers.find((x) => x.uuid === uuid);
    if (!peer)
      throw new AppError(
        'NOT_FOUND',
        `that mirror peer does not exist (rbd: mirror peer ${uuid} does not exist)`,
      );
    return { c, p, peer };
  }

  async setPeerClient(pool: string, peerUuid: string, clientName: string): Promise<void> {
    const id = clientName.startsWith('client.') ? clientName.slice('client.'.length) : clientName;
    assertName('cephClient', id, 'clientName');
    (await this.#peer(pool, peerUuid)).peer.clientName = `client.${id}`;
  }

  async setPeerMonHost(pool: string, peerUuid: string, monHost: string): Promise<void> {
    if (!/^[A-Za-z0-9[][A-Za-z0-9.:,[\]/_-]{0,1023}$/.test(monHost))
      throw AppError.invalid('monHost', `${JSON.stringify(monHost)} is not a list of monitor addresses`);
    (await this.#peer(pool, peerUuid)).peer.monHost = normalizeMonHosts(monHost);
  }

  async setPeerSiteName(pool: string, peerUuid: string, siteName: string): Promise<void> {
    assertName('ceph', siteName, 'siteName');
    (await this.#peer(pool, peerUuid)).peer.siteName = siteName;
  }

  async setPeerDirection(pool: string, peerUuid: string, direction: PeerDirection): Promise<void> {
    if (!['rx-only', 'rx-tx', 'tx-only'].includes(direction))
      throw AppError.invalid('direction', 'must be rx-only, rx-tx or tx-only');
    (await this.#peer(pool, peerUuid)).peer.direction = direction;
  }

  async removePeer(pool: string, peerUuid: string): Promise<void> {
    const { p, peer } = await this.#peer(pool, peerUuid);
    p.peers = p.peers.filter((x) => x !== peer);
  }

  // ---------------------------------------------------------------- journaling

  async enableJournaling(pool: string, namespace: string, image: string): Promise<void> {
    const c = await this.#step();
    const img = this.#image(c, pool, namespace, image);
    this.#writable(c, img, imageSpec(pool, namespace, image));
    if (!img.features.includes('exclusive-lock'))
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} lacks the exclusive-lock feature that journaling needs`,
      );
    if (!img.features.includes('journaling')) img.features.push('journaling');
    this.#poolModeMirrors(c, pool, namespace, img);
  }

  /** In pool mode Ceph mirrors (journal-based) every image that has the journaling feature. */
  #poolModeMirrors(c: SimCluster, pool: string, namespace: string, img: SimImage): void {
    const { pool: p, ns } = this.#ns(c, pool, namespace);
    if (ns.mode === 'pool' && !img.pair && img.features.includes('journaling'))
      this.#startPair(c, p, namespace, img, 'journal');
  }

  async disableJournaling(pool: string, namespace: string, image: string): Promise<void> {
    const c = await this.#step();
    const img = this.#image(c, pool, namespace, image);
    this.#writable(c, img, imageSpec(pool, namespace, image));
    const pair = this.#pairOf(img);
    if (pair?.mode === 'journal') {
      throw new AppError(
        'PRECONDITION_FAILED',
        `journaling of ${imageSpec(pool, namespace, image)} cannot be turned off while journal-based mirroring is enabled for it: disable its mirroring first`,
      );
    }
    img.features = img.features.filter((f) => f !== 'journaling');
  }

  // ---------------------------------------------------------------- schedules

  #checkLevel(c: SimCluster, level: ScheduleLevel): string {
    const key = levelKey(level);
    if (level.pool) {
      this.#ns(c, level.pool, level.namespace ?? '');
      if (level.image) {
        const img = this.#image(c, level.pool, level.namespace ?? '', level.image);
        const pair = this.#pairOf(img);
        if (pair?.mode !== 'snapshot') {
          throw new AppError(
            'PRECONDITION_FAILED',
            `${imageSpec(level.pool, level.namespace ?? '', level.image)} is not in snapshot mirroring mode: snapshot schedules apply only to snapshot-mirrored images`,
          );
        }
      }
    }
    return key;
  }

  async listSnapshotSchedules(level: ScheduleLevel = {}): Promise<SnapshotScheduleEntry[]> {
    const c = await this.#step();
    const key = this.#checkLevel(c, level);
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

  async addSnapshotSchedule(level: ScheduleLevel, interval: string, startTime?: string): Promise<void> {
    const iv = parseScheduleInterval(interval);
    const st = startTime && startTime.trim() ? parseScheduleStartTime(startTime) : null;
    const c = await this.#step();
    const key = this.#checkLevel(c, level);
    const items = c.schedules.get(key) ?? [];
    const shown = st
      ? `${String(st.hour).padStart(2, '0')}:${String(st.minute).padStart(2, '0')}:00${st.offsetMinutes === null ? '' : fmtOffset(st.offsetMinutes)}`
      : null;
    if (
      !items.some(
        (i) =>
          parseScheduleInterval(i.interval).minutes === iv.minutes &&
          sameStart(i.startTime, st?.text ?? null),
      )
    ) {
      items.push({ interval: formatScheduleInterval(iv.minutes), startTime: shown });
    }
    c.schedules.set(key, items);
  }

  async removeSnapshotSchedule(level: ScheduleLevel, interval?: string, startTime?: string): Promise<void> {
    const c = await this.#step();
    const key = this.#checkLevel(c, level);
    if (interval === undefined) {
      if (startTime) throw AppError.invalid('startTime', 'a start time needs its interval');
      c.schedules.delete(key);
      return;
    }
    const iv = parseScheduleInterval(interval);
    const st = startTime && startTime.trim() ? startTime : null;
    const items = (c.schedules.get(key) ?? []).filter(
      (i) => !(parseScheduleInterval(i.interval).minutes === iv.minutes && sameStart(i.startTime, st)),
    );
    if (items.length) c.schedules.set(key, items);
    else c.schedules.delete(key);
  }

  async getSnapshotScheduleStatus(level: ScheduleLevel = {}): Promise<SnapshotScheduleStatus[]> {
    const c = await this.#step();
    this.#checkLevel(c, level);
    const out: SnapshotScheduleStatus[] = [];
    for (const pair of this.#sim.pairs.values()) {
      const side = this.#side(pair, c.name);
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
      const items = this.#effectiveSchedule(c, pair.pool, pair.namespace, pair.image);
      const next = nextRunOf(items, this.#now);
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

  // ---------------------------------------------------------------- images

  async listImages(pool: string, namespace = ''): Promise<ImageSummary[]> {
    const c = await this.#step(2);
    return this.#list(c, pool, namespace);
  }

  #list(c: SimCluster, pool: string, namespace: string): ImageSummary[] {
    const { ns } = this.#ns(c, pool, namespace);
    const ls = [...ns.images.values()]
      .filter((i) => {
        const pair = this.#pairOf(i);
        const side = pair ? this.#side(pair, c.name) : undefined;
        return !(side && side.resyncUntil !== null && this.#now < side.resyncUntil - RESYNC_BASE_MS / 2);
      })
      .map((i) => ({ name: i.name, id: i.id, sizeBytes: i.sizeBytes }));
    return mergeImageList(
      pool,
      namespace,
      ls,
      ns.mode === 'disabled' ? [] : this.#statuses(c, pool, namespace),
    );
  }

  async getImageInfo(pool: string, namespace: string, image: string): Promise<ImageInfo> {
    const c = await this.#step();
    const img = this.#image(c, pool, namespace, image);
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    return {
      pool,
      namespace,
      name: img.name,
      id: img.id,
      sizeBytes: img.sizeBytes,
      objectSizeBytes: OBJECT_BYTES,
      features: side && !side.primary ? [...img.features, 'non-primary'] : [...img.features],
      opFeatures: [],
      snapshotCount:
        img.userSnaps.length + (pair ? pair.snaps.filter((s) => this.#copied(pair, s, c.name)).length : 0),
      createdAt: fmtCtime(img.createdAt),
      mirroring:
        pair && side
          ? { mode: pair.mode, state: 'enabled', globalId: pair.globalId, primary: side.primary }
          : { mode: null, state: 'disabled', globalId: null, primary: null },
    };
  }

  async getImageMirrorStatus(pool: string, namespace: string, image: string): Promise<ImageMirrorStatus> {
    const c = await this.#step();
    const img = this.#image(c, pool, namespace, image);
    const s = this.#imageStatus(c, pool, namespace, img);
    if (!s)
      throw new AppError(
        'PRECONDITION_FAILED',
        `mirroring is not enabled for ${imageSpec(pool, namespace, image)}`,
      );
    return s;
  }

  /** Pairs an image with its counterpart on the peer cluster(s) of the pool. */
  #startPair(c: SimCluster, p: SimPool, namespace: string, img: SimImage, mode: ImageMirrorMode): Pair {
    const globalId = uuidFrom(`pair/${c.fsid}/${p.name}/${namespace}/${img.name}/${this.#now}`);
    const content = img.content || hash('empty', img.name);
    const pair: Pair = {
      globalId,
      mode,
      pool: p.name,
      namespace,
      image: img.name,
      sides: [
        {
          cluster: c.name,
          primary: true,
          content,
          pendingBytes: 0,
          resyncFrom: null,
          resyncUntil: null,
          splitBrain: false,
        },
      ],
      snaps: [],
      seq: 0,
      diverged: false,
      lastTick: this.#now,
      writeRate: 0,
    };
    img.pair = globalId;
    this.#sim.pairs.set(globalId, pair);
    if (mode === 'snapshot') {
      const snap = this.#addSnap(pair, pair.sides[0]!, this.#now, false);
      snap.deltaBytes = Math.min(img.sizeBytes, Math.round(img.sizeBytes * 0.1));
    }
    for (const peer of p.peers) {
      const remote = [...this.#sim.clusters.values()].find((x) => x.mirrorUuid === peer.mirrorUuid);
      const rp = remote?.pools.get(p.name);
      const rns = rp?.namespaces.get(namespace);
      if (!remote || !rns || rns.mode === 'disabled' || rns.images.has(img.name)) continue;
      rns.images.set(img.name, {
        name: img.name,
        id: hash('image-id', remote.name, img.name, this.#now).slice(0, 12),
        sizeBytes: img.sizeBytes,
        features: [...img.features],
        createdAt: this.#now,
        pair: globalId,
        content: '',
        userSnaps: [],
      });
      pair.sides.push({
        cluster: remote.name,
        primary: false,
        content: hash('empty', img.name),
        pendingBytes: 0,
        resyncFrom: null,
        resyncUntil: null,
        splitBrain: false,
      });
    }
    return pair;
  }

  async enableImageMirroring(
    pool: string,
    namespace: string,
    image: string,
    mode: ImageMirrorMode,
  ): Promise<void> {
    if (mode !== 'journal' && mode !== 'snapshot')
      throw AppError.invalid('mode', 'must be journal or snapshot');
    const c = await this.#step();
    const { pool: p, ns } = this.#ns(c, pool, namespace);
    const img = this.#image(c, pool, namespace, image);
    if (ns.mode === 'disabled')
      throw new AppError(
        'PRECONDITION_FAILED',
        `mirroring is not enabled on pool ${poolSpec(pool, namespace)}: set its mirror mode to image or pool first`,
      );
    if (img.pair) return; // already enabled: Ceph says so and succeeds
    if (mode === 'journal' && !img.features.includes('journaling')) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} needs the journaling feature for journal-based mirroring`,
      );
    }
    this.#startPair(c, p, namespace, img, mode);
  }

  async disableImageMirroring(
    pool: string,
    namespace: string,
    image: string,
    opts: { force?: boolean } = {},
  ): Promise<void> {
    const c = await this.#step();
    const img = this.#image(c, pool, namespace, image);
    const pair = this.#pairOf(img);
    if (!pair) return;
    const side = this.#side(pair, c.name);
    if (side && !side.primary && !opts.force) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} is not primary on this cluster: disable mirroring on the primary, or force it here`,
      );
    }
    img.content = side ? this.#content(pair, side) : img.content;
    img.pair = null;
    pair.sides = pair.sides.filter((s) => s.cluster !== c.name);
    if (side?.primary || pair.sides.length === 0) {
      // rbd-mirror deletes the non-primary copies once the primary stops mirroring.
      for (const s of pair.sides) {
        const rc = this.#sim.clusters.get(s.cluster);
        const rimg = rc?.pools.get(pool)?.namespaces.get(namespace)?.images.get(image);
        if (rimg && rimg.pair === pair.globalId && !s.primary)
          rc!.pools.get(pool)!.namespaces.get(namespace)!.images.delete(image);
        else if (rimg && rimg.pair === pair.globalId) rimg.pair = null;
      }
      this.#sim.pairs.delete(pair.globalId);
    }
    for (const [k] of c.schedules) if (k === `${pool}/${namespace}/${image}`) c.schedules.delete(k);
  }

  async promoteImage(
    pool: string,
    namespace: string,
    image: string,
    opts: { force?: boolean } = {},
  ): Promise<void> {
    const { c, spec, pair, side } = await this.#mirrored(pool, namespace, image);
    if (side.primary) throw new AppError('PRECONDITION_FAILED', `${spec} is already primary on this cluster`);
    const other = this.#other(pair, c.name);
    if (!opts.force) {
      if (side.resyncUntil !== null)
        throw new AppError('CONFLICT', `${spec} is being resynced; wait until it replays again`, {
          details: { retryable: true },
        });
      if (other?.primary) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `${spec} is still primary on ${this.#sim.clusters.get(other.cluster)?.siteName ?? other.cluster}: demote it there first (or force the promotion, accepting a split-brain)`,
        );
      }
      const last = pair.snaps[pair.snaps.length - 1];
      if (last && last.origin !== c.name && !this.#copied(pair, last, c.name)) {
        throw new AppError(
          'CONFLICT',
          `${spec} cannot be promoted yet: the demotion of the other site has not been copied here completely; retry in a few seconds (or force the promotion, accepting a split-brain) (rbd: error promoting image to primary: (16) Device or resource busy)`,
          {
            details: { retryable: true },
          },
        );
      }
    } else if (other?.primary) pair.diverged = true;
    side.content = this.#content(pair, side);
    side.primary = true;
    side.splitBrain = false;
    side.resyncUntil = null;
    if (pair.mode === 'snapshot') this.#addSnap(pair, side, this.#now, false);
  }

  /** The image's mirrored pair and this cluster's side of it; refuses an image without mirroring. */
  async #mirrored(pool: string, namespace: string, image: string) {
    const c = await this.#step();
    const spec = imageSpec(pool, namespace, image);
    const img = this.#image(c, pool, namespace, image);
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    if (!pair || !side) throw new AppError('PRECONDITION_FAILED', `mirroring is not enabled for ${spec}`);
    return { c, spec, img, pair, side };
  }

  async demoteImage(pool: string, namespace: string, image: string): Promise<void> {
    const { spec, pair, side } = await this.#mirrored(pool, namespace, image);
    if (!side.primary)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec} is not primary on this cluster (image is not primary)`,
      );
    side.primary = false;
    if (pair.mode === 'snapshot') this.#addSnap(pair, side, this.#now, true);
    if (pair.diverged && pair.sides.some((s) => s.primary)) {
      side.splitBrain = true;
      pair.diverged = false;
    }
  }

  async resyncImage(pool: string, namespace: string, image: string): Promise<void> {
    const { c, spec, img, pair, side } = await this.#mirrored(pool, namespace, image);
    if (side.primary)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec} is primary here: a resync replaces a non-primary image with the primary's data`,
      );
    side.splitBrain = false;
    // The image is recreated from the primary: its own history is gone.
    pair.snaps = pair.snaps.filter((s) => s.origin !== c.name);
    pair.diverged = false;
    side.resyncFrom = this.#now;
    side.resyncUntil =
      this.#now + RESYNC_BASE_MS + Math.round(((img.sizeBytes * 0.1) / SYNC_BYTES_PER_SEC) * 1000);
  }

  async createMirrorSnapshot(
    pool: string,
    namespace: string,
    image: string,
  ): Promise<{ snapshotId: string }> {
    const { c, spec, pair, side } = await this.#mirrored(pool, namespace, image);
    if (pair.mode !== 'snapshot')
      throw new AppError('PRECONDITION_FAILED', `${spec} is not in snapshot mirroring mode`);
    if (!side.primary) throw new AppError('PRECONDITION_FAILED', `${spec} is not primary on this cluster`);
    const snap = this.#addSnap(pair, side, this.#now, false);
    return { snapshotId: this.#snapId(snap, c.name) };
  }

  async listImageSnapshots(pool: string, namespace: string, image: string): Promise<ImageSnapshot[]> {
    const c = await this.#step();
    return this.#snapshots(c, pool, this.#image(c, pool, namespace, image));
  }

  #snapshots(c: SimCluster, pool: string, img: SimImage): ImageSnapshot[] {
    const out: ImageSnapshot[] = img.userSnaps.map((s) => ({
      id: String(s.id),
      name: s.name,
      sizeBytes: img.sizeBytes,
      protected: false,
      timestamp: fmtCtime(s.at),
      namespaceType: 'user',
      mirror: null,
    }));
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    if (pair && side && pair.mode === 'snapshot') {
      const other = this.#other(pair, c.name);
      const oc = other ? this.#sim.clusters.get(other.cluster) : undefined;
      const peerUuid = this.#pool(c, pool).peers[0]?.uuid;
      for (const s of pair.snaps) {
        const own = s.origin === c.name;
        if (!own && side.resyncUntil !== null) continue;
        if (!own && this.#now < s.at + COPY_LATENCY_MS / 2) continue; // not started yet
        const complete = this.#copied(pair, s, c.name);
        const sent = other ? this.#copied(pair, s, other.cluster) : false;
        out.push({
          id: this.#snapId(s, c.name),
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
            primarySnapId: own ? null : this.#snapId(s, s.origin),
            lastCopiedObjectNumber: own ? null : this.#copiedObjects(pair, s, img.sizeBytes),
          },
        });
      }
    }
    return out;
  }

  /**
   * The simulated import of a mirror snapshot (see CephCliAdapter.createTestCopy): an unmirrored
   * image with the content the snapshot has, listed like any other image. As many simulated CLI
   * calls as the real one makes.
   */
  async createTestCopy(
    pool: string,
    namespace: string,
    image: string,
    snapshotId: string,
    dest: string,
  ): Promise<TestCopyResult> {
    const [src, dst] = [imageSpec(pool, namespace, image), imageSpec(pool, namespace, dest)];
    if (!/^\d{1,20}$/.test(snapshotId))
      throw AppError.invalid('snapshotId', `${JSON.stringify(snapshotId)} is not a snapshot id`);
    if (dest === image) throw AppError.invalid('dest', 'the copy needs a name of its own');
    const c = await this.#step(8);
    const { ns } = this.#ns(c, pool, namespace);
    const img = this.#image(c, pool, namespace, image);
    if (ns.images.has(dest)) throw new AppError('ALREADY_EXISTS', `${dst} already exists`);
    const snap = this.#snapshots(c, pool, img).find((x) => x.id === snapshotId);
    if (!snap) throw mirrorSnapshotGone(src, snapshotId);
    checkMirrorSnapshot(src, snap);
    const pair = this.#pairOf(img)!;
    const at = pair.snaps.find((x) => this.#snapId(x, c.name) === snapshotId)!;
    const features = testCopyFeatures(img.features);
    ns.images.set(dest, {
      name: dest,
      id: hash('image-id', c.name, pool, namespace, dest, this.#now).slice(0, 12),
      sizeBytes: img.sizeBytes,
      features,
      createdAt: this.#now,
      pair: null,
      content: at.content,
      userSnaps: img.userSnaps.filter((u) => u.at <= at.at).map((u) => ({ ...u })),
    });
    return { method: 'copy', snapshotId, sizeBytes: img.sizeBytes, features };
  }

  async removeTestCopy(pool: string, namespace: string, dest: string): Promise<void> {
    const dst = imageSpec(pool, namespace, dest);
    const c = await this.#step(3);
    const { ns } = this.#ns(c, pool, namespace);
    const img = ns.images.get(dest);
    if (!img) return;
    if (img.pair)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${dst} has mirroring enabled: it is not a test copy, refusing to remove it`,
      );
    ns.images.delete(dest);
  }

  /** How far rbd-mirror has got copying `snap` here, as the last object number it copied. */
  #copiedObjects(pair: Pair, snap: PairSnap, sizeBytes: number): number {
    const objects = Math.ceil(sizeBytes / OBJECT_BYTES);
    const dur = this.#copyMs(snap);
    const fraction = Math.max(0, Math.min(1, (this.#now - snap.at) / Math.max(dur, 1)));
    return Math.floor(objects * fraction);
  }

  async createImage(
    pool: string,
    namespace: string,
    name: string,
    sizeBytes: number,
    features?: string[],
  ): Promise<void> {
    const spec = imageSpec(pool, namespace, name);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0)
      throw AppError.invalid('sizeBytes', 'must be a positive whole number of bytes');
    for (const f of features ?? [])
      if (!KNOWN_FEATURES.includes(f))
        throw AppError.invalid(
          'features',
          `${JSON.stringify(f)} is not an image feature (${KNOWN_FEATURES.join(', ')})`,
        );
    const c = await this.#step();
    const { pool: p, ns } = this.#ns(c, pool, namespace);
    if (ns.images.has(name))
      throw new AppError('ALREADY_EXISTS', `${spec} already exists (rbd: create error: (17) File exists)`);
    const feats = features && features.length ? [...features] : [...DEFAULT_FEATURES];
    if (feats.includes('journaling') && !feats.includes('exclusive-lock'))
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec} lacks the exclusive-lock feature that journaling needs`,
      );
    const img: SimImage = {
      name,
      id: hash('image-id', c.name, pool, namespace, name, this.#now).slice(0, 12),
      sizeBytes,
      features: feats,
      createdAt: this.#now,
      pair: null,
      content: hash('empty', sizeBytes),
      userSnaps: [],
    };
    ns.images.set(name, img);
    if (ns.mode === 'pool' && feats.includes('journaling')) this.#startPair(c, p, namespace, img, 'journal');
  }

  async removeImage(pool: string, namespace: string, name: string): Promise<void> {
    const c = await this.#step();
    const spec = imageSpec(pool, namespace, name);
    const { ns } = this.#ns(c, pool, namespace);
    const img = this.#image(c, pool, namespace, name);
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    if (pair && side?.primary)
      throw new AppError('PRECONDITION_FAILED', `${spec} has mirroring enabled: disable its mirroring first`);
    if (img.userSnaps.length > 0)
      throw new AppError('PRECONDITION_FAILED', `${spec} still has snapshots: remove them first`);
    ns.images.delete(name);
    if (pair) pair.sides = pair.sides.filter((s) => s.cluster !== c.name);
  }

  async copyImage(
    pool: string,
    namespace: string,
    image: string,
    dest: string,
    opts: { features?: string[] } = {},
  ): Promise<void> {
    const c = await this.#step();
    const { ns } = this.#ns(c, pool, namespace);
    const src = this.#image(c, pool, namespace, image);
    if (ns.images.has(dest))
      throw new AppError(
        'ALREADY_EXISTS',
        `${imageSpec(pool, namespace, dest)} already exists (rbd: deep copy error: (17) File exists)`,
      );
    for (const f of opts.features ?? [])
      if (!KNOWN_FEATURES.includes(f))
        throw AppError.invalid(
          'features',
          `${JSON.stringify(f)} is not an image feature (${KNOWN_FEATURES.join(', ')})`,
        );
    const pair = this.#pairOf(src);
    const side = pair ? this.#side(pair, c.name) : undefined;
    const content = pair && side ? this.#content(pair, side) : src.content;
    const features = opts.features?.length ? [...opts.features] : [...src.features];
    ns.images.set(dest, {
      name: dest,
      id: hash('image-id', c.name, pool, namespace, dest, this.#now).slice(0, 12),
      sizeBytes: src.sizeBytes,
      features,
      createdAt: this.#now,
      pair: null,
      content,
      userSnaps: src.userSnaps.map((u) => ({ ...u })),
    });
  }

  async renameImage(pool: string, namespace: string, image: string, dest: string): Promise<void> {
    const c = await this.#step();
    const { ns } = this.#ns(c, pool, namespace);
    const img = this.#image(c, pool, namespace, image);
    if (ns.images.has(dest))
      throw new AppError(
        'ALREADY_EXISTS',
        `${imageSpec(pool, namespace, dest)} already exists (rbd: rename error: (17) File exists)`,
      );
    if (img.pair)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${imageSpec(pool, namespace, image)} has mirroring enabled: disable its mirroring first`,
      );
    ns.images.delete(image);
    img.name = dest;
    ns.images.set(dest, img);
  }

  async imageChecksum(pool: string, namespace: string, image: string): Promise<string> {
    const c = await this.#step();
    const img = this.#image(c, pool, namespace, image);
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    const content = pair && side ? this.#content(pair, side) : img.content;
    return crypto.createHash('md5').update(content).digest('hex');
  }

  async writeImage(
    pool: string,
    namespace: string,
    image: string,
    offset: number,
    data: Uint8Array,
  ): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw AppError.invalid('offset', 'must be a whole number of bytes, 0 or more');
    if (data.length === 0) throw AppError.invalid('data', 'nothing to write');
    const c = await this.#step();
    const spec = imageSpec(pool, namespace, image);
    const img = this.#image(c, pool, namespace, image);
    this.#writable(c, img, spec);
    const digest = crypto.createHash('sha256').update(data).digest('hex');
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    if (pair && side) {
      side.content = hash(side.content, offset, digest);
      side.pendingBytes += data.length;
    } else img.content = hash(img.content, offset, digest);
  }

  #writable(c: SimCluster, img: SimImage, spec: string): void {
    const pair = this.#pairOf(img);
    const side = pair ? this.#side(pair, c.name) : undefined;
    if (side && !side.primary) {
      throw new AppError(
        'CONFLICT',
        `${spec} is read-only here (it is not primary) (rbd: (30) Read-only file system)`,
        { details: { retryable: true } },
      );
    }
  }

  // ---------------------------------------------------------------- daemons and refresh

  #daemonsOf(c: SimCluster): MirrorDaemon[] {
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
        lastBeacon: new Date(Math.floor(this.#now / 5000) * 5000).toISOString(),
      },
    ];
  }

  async listMirrorDaemons(): Promise<MirrorDaemon[]> {
    const c = await this.#step(2);
    return this.#daemonsOf(c);
  }

  async refreshStatus(pools?: string[]): Promise<CephMirrorSnapshot> {
    const { value, calls } = await countCliCalls(() => this.#refreshStatus(pools));
    return { ...value, cliCalls: calls };
  }

  async #refreshStatus(pools?: string[]): Promise<Omit<CephMirrorSnapshot, 'cliCalls'>> {
    const c = await this.#step(pools ? 2 : 3);
    const names = pools ?? [...c.pools.keys()];
    const out: PoolMirrorState[] = [];
    for (const name of names) {
      const p = this.#pool(c, name);
      this.#count(2);
      for (const [ns, v] of [...p.namespaces.entries()].sort(([a], [b]) => a.localeCompare(b))) {
        this.#count(v.mode === 'disabled' ? 1 : 2);
        const statuses = v.mode === 'disabled' ? [] : this.#statuses(c, name, ns);
        out.push({
          pool: name,
          namespace: ns,
          mode: v.mode,
          siteName: p.mode === 'disabled' ? null : c.siteName,
          peers: p.peers.map((x) => ({ ...x })),
          summary: v.mode === 'disabled' ? null : this.#summary(statuses),
          images: this.#list(c, name, ns),
        });
      }
    }
    return {
      fetchedAt: new Date(this.#now).toISOString(),
      pools: out,
      daemons: this.#daemonsOf(c),
    };
  }
}

function fmtOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

function sameStart(a: string | null, b: string | null): boolean {
  if (!a || !b) return !a && !b;
  return parseScheduleStartTime(a).anchorMinutes === parseScheduleStartTime(b).anchorMinutes;
}
