import crypto from 'node:crypto';
import { AppError } from '../../../core/errors';
import { assertName } from '../../../core/names';
import { imageSpec } from '../../ceph/cli';
import { parseScheduleStartTime } from '../../ceph/schedule';
import type {
  ImageMirrorMode,
  MirrorMode,
  MirrorPeer,
  ScheduleLevel,
  SnapshotScheduleItem,
} from '../../ceph/types';

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

export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;
export const SYNC_BYTES_PER_SEC = 80 * MiB;
export const COPY_LATENCY_MS = 2_000;
export const RESYNC_BASE_MS = 15_000;
export const MAX_MIRROR_SNAPSHOTS = 5;
export const DEFAULT_FEATURES = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'];
export const KNOWN_FEATURES = [...DEFAULT_FEATURES, 'journaling', 'striping', 'data-pool'];
export const OBJECT_BYTES = 4 * MiB;

export interface SideState {
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

export interface PairSnap {
  seq: number;
  origin: string;
  at: number;
  demoted: boolean;
  content: string;
  deltaBytes: number;
}

export interface Pair {
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

export interface SimImage {
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

export interface SimPeer extends MirrorPeer {
  mirrorUuid: string;
}

export interface SimPool {
  name: string;
  id: number;
  mode: MirrorMode;
  namespaces: Map<string, { mode: MirrorMode; images: Map<string, SimImage> }>;
  peers: SimPeer[];
}

export interface SimCluster {
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

export interface Sim {
  clusters: Map<string, SimCluster>;
  pairs: Map<string, Pair>;
}

export function hash(...parts: (string | number)[]): string {
  return crypto.createHash('sha256').update(parts.join('\u0000')).digest('hex');
}

export function uuidFrom(seed: string): string {
  const h = hash('uuid', seed);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export function levelKey(level: ScheduleLevel): string {
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

export function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

export function fmtCtime(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

export function fmtOffset(minutes: number): string {
  const sign = minutes < 0 ? '-' : '+';
  const a = Math.abs(minutes);
  return `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

export function sameStart(a: string | null, b: string | null): boolean {
  if (!a || !b) return !a && !b;
  return parseScheduleStartTime(a).anchorMinutes === parseScheduleStartTime(b).anchorMinutes;
}

export function monHostOf(c: SimCluster): string {
  const ip = `10.20.${c.index + 1}.11`;
  return `[v2:${ip}:3300/0,v1:${ip}:6789/0]`;
}

/** A side of a pair on `cluster`, neither resyncing nor split. */
export function newSide(cluster: string, primary: boolean, content: string): SideState {
  return {
    cluster,
    primary,
    content,
    pendingBytes: 0,
    resyncFrom: null,
    resyncUntil: null,
    splitBrain: false,
  };
}

export function poolOf(c: SimCluster, pool: string): SimPool {
  assertName('ceph', pool, 'pool');
  const p = c.pools.get(pool);
  if (!p)
    throw new AppError(
      'NOT_FOUND',
      `pool ${pool} does not exist on this cluster (rbd: error opening pool '${pool}': (2) No such file or directory)`,
    );
  return p;
}

export function namespaceOf(c: SimCluster, pool: string, namespace: string) {
  const p = poolOf(c, pool);
  if (namespace) assertName('ceph', namespace, 'namespace');
  const ns = p.namespaces.get(namespace);
  if (!ns)
    throw new AppError(
      'NOT_FOUND',
      `namespace ${namespace} does not exist in pool ${pool} (rbd: namespace '${namespace}' does not exist.)`,
    );
  return { pool: p, ns };
}

export function imageOf(c: SimCluster, pool: string, namespace: string, image: string): SimImage {
  const spec = imageSpec(pool, namespace, image);
  const { ns } = namespaceOf(c, pool, namespace);
  const img = ns.images.get(image);
  if (!img)
    throw new AppError(
      'NOT_FOUND',
      `image ${spec} does not exist (rbd: error opening image ${image}: (2) No such file or directory)`,
    );
  return img;
}

export function pairOf(sim: Sim, img: SimImage): Pair | null {
  return img.pair ? (sim.pairs.get(img.pair) ?? null) : null;
}

export function sideOf(pair: Pair, cluster: string): SideState | undefined {
  return pair.sides.find((s) => s.cluster === cluster);
}

export function otherSide(pair: Pair, cluster: string): SideState | undefined {
  return pair.sides.find((s) => s.cluster !== cluster);
}
