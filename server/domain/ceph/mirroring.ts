import type {
  BootstrapDirection,
  CephAdapter,
  CephMirrorSnapshot,
  ImageInfo,
  ImageMirrorMode,
  ImageSummary,
  MirrorMode,
  MirrorPeer,
  PeerDirection,
  PoolMirrorState,
  ScheduleLevel,
} from '../../adapters/ceph/types';
import { cliWords } from '../../adapters/ceph/errors';
import { normalizeMonHosts } from '../../adapters/ceph/mon-host';
import { decodeBootstrapToken } from '../../adapters/ceph/token';
import { nextRuns, parseScheduleInterval, parseScheduleStartTime } from '../../adapters/ceph/schedule';
import { countCliCalls } from '../../adapters/ceph/call-count';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../../core/clock';
import { AppError, errorMessage } from '../../core/errors';
import { cadenceRefusal } from '../protection/health';
import type { SiteService } from '../sites';
import { cephLock, type CephLockScope } from './locks';
import { pageImages, poolOverview, type ImagePage, type ImageQuery, type PoolOverview } from './images';
import { isUnreachable, LastAnswers, Reachability } from './reach';

/** `idle`: mirroring is enabled but nothing replicates the image, because its pool has no peer to do it with. */
export type ImageGroup = 'issues' | 'syncing' | 'ready' | 'idle';

/**
 * Where an image belongs on the status page, and its lag (now − last synced snapshot). `pool`:
 * the peers of the image's pool (a namespace has its pool's); without it, peers are not judged.
 */
export function classifyImage(
  img: ImageSummary,
  now: number,
  pool?: { peers: readonly Pick<MirrorPeer, 'direction'>[] },
): { group: ImageGroup; lagSec: number | null; reason: string } {
  const m = img.mirroring;
  if (!m) return { group: 'ready', lagSec: null, reason: 'mirroring disabled' };
  const d = m.description;
  if (d.splitBrain)
    return {
      group: 'issues',
      lagSec: null,
      reason: 'split-brain: both sides have diverged; demote and resync one side',
    };
  if (m.state === 'error') return { group: 'issues', lagSec: null, reason: m.rawDescription || 'error' };
  // Without a peer no rbd-mirror works on the pool, so nothing reports its images (their status is
  // stale or empty): that says nothing about the daemon. A non-primary image needs a peer it
  // receives from (not tx-only); a primary one is copied by the other cluster's daemon, whose
  // report would show among its peer sites.
  if (pool && !m.daemonUp && !m.peerSites.some((p) => p.daemonUp)) {
    const receives = pool.peers.some((p) => p.direction !== 'tx-only');
    if (pool.peers.length === 0 || (m.primary === false && !receives)) {
      const reason =
        pool.peers.length === 0
          ? `no peer: not replicating (mirroring is enabled, but pool ${img.pool} has no peer cluster)`
          : `no peer to receive from: not replicating (the peers of pool ${img.pool} are tx-only)`;
      return { group: 'idle', lagSec: null, reason };
    }
  }
  if (!m.daemonUp && m.primary !== true)
    return { group: 'issues', lagSec: null, reason: 'rbd-mirror daemon is down or has not reported yet' };
  const peerDesc = m.peerSites[0]?.description;
  const synced = m.primary ? peerDesc?.localSnapshotTimestamp : d.localSnapshotTimestamp;
  const lagSec = synced ? Math.max(0, Math.round(now / 1000 - synced)) : null;
  const syncing =
    m.state === 'syncing' ||
    m.state === 'starting_replay' ||
    d.replayState === 'syncing' ||
    (m.primary && m.peerSites.some((p) => p.state === 'syncing' || p.description.replayState === 'syncing'));
  if (syncing)
    return {
      group: 'syncing',
      lagSec,
      reason: d.syncPercent !== null ? `${d.syncPercent} % synced` : 'syncing',
    };
  if (m.primary !== true && m.state !== 'replaying')
    return { group: 'issues', lagSec, reason: `${m.rawState}: not replaying` };
  if (m.primary && m.peerSites.some((p) => !p.daemonUp || p.state === 'unknown' || p.state === 'error')) {
    return {
      group: 'issues',
      lagSec,
      reason: `peer ${m.peerSites.find((p) => !p.daemonUp || p.state === 'unknown' || p.state === 'error')!.siteName} reports ${m.peerSites[0]?.rawState}`,
    };
  }
  return { group: 'ready', lagSec, reason: m.primary ? 'primary' : 'replaying' };
}

/** What turning journaling on/off for a whole pool (or namespace) will do to each of its images. */
/** What a pool-wide journaling change did. */
export interface JournalingChange {
  changed: string[];
  skipped: { image: string; reason: string }[];
}

export interface JournalingPlan {
  on: boolean;
  /** Every image of the pool/namespace. */
  images: number;
  /** Images not in snapshot mirroring mode: the ones the change is about. */
  notSnapshotMode: string[];
  /** Images whose journaling feature will change. */
  change: string[];
  /** Images left as they are, with the reason (snapshot mirroring mode among them). */
  skipped: { image: string; reason: string }[];
}

/**
 * The rule of a pool-wide journaling change, image by image: images in snapshot mirroring mode are
 * never touched; non-primary images cannot be changed here; journaling stays on while journal-based
 * mirroring needs it, and needs the exclusive-lock feature to be turned on. Tandem shows this plan
 * before the operator confirms, and applies it image by image when the task runs.
 */
export function planPoolJournaling(
  infos: Pick<ImageInfo, 'name' | 'features' | 'mirroring'>[],
  on: boolean,
): JournalingPlan {
  const plan: JournalingPlan = { on, images: infos.length, notSnapshotMode: [], change: [], skipped: [] };
  for (const info of [...infos].sort((a, b) => a.name.localeCompare(b.name))) {
    const skip = (reason: string) => plan.skipped.push({ image: info.name, reason });
    const has = info.features.includes('journaling');
    if (info.mirroring.mode === 'snapshot') {
      skip('snapshot mirroring mode');
      continue;
    }
    plan.notSnapshotMode.push(info.name);
    if (info.features.includes('non-primary') || info.mirroring.primary === false) skip('not primary here');
    else if (on && has) skip('journaling already on');
    else if (!on && !has) skip('journaling already off');
    else if (on && !info.features.includes('exclusive-lock')) skip('no exclusive-lock feature');
    else if (!on && info.mirroring.mode === 'journal') skip('journal mirroring enabled');
    else plan.change.push(info.name);
  }
  return plan;
}

/**
 * Removes a peer and judges by the peer list afterwards, not by the exit code alone. Ceph 16.2
 * deletes the peer entry first, then unlinks the peer from the mirror snapshots of every
 * snapshot-mirrored image of the pool; on a non-primary image (whose demotion snapshot, left from a
 * failover and failback, names the peer) that fails with `UnlinkPeerRequest … (30) Read-only file
 * system`, and `rbd mirror pool peer remove` exits non-zero with the peer gone. Returns null when
 * the command succeeded, Ceph's own words when it failed but the peer is gone; throws the command's
 * error when the peer is still there (or the peers cannot be read).
 */
export async function removePeerChecked(
  a: CephAdapter,
  pool: string,
  peerUuid: string,
): Promise<string | null> {
  try {
    await a.removePeer(pool, peerUuid);
    return null;
  } catch (e) {
    const stillThere = await a.getPoolMirrorInfo(pool).then(
      (info) => info.peers.some((p) => p.uuid === peerUuid),
      () => true,
    );
    if (stillThere) throw e;
    return cliWords(e);
  }
}

export type StatusImage = ImageSummary &
  ReturnType<typeof classifyImage> & {
    nextSnapshotAt: string | null;
    /**
     * Primary here and on the registered cluster named (the pool's peer): a split-brain Ceph itself
     * does not report (both sides say "local image is primary"). Null when not seen.
     */
    splitBrainWith: { siteId: number; siteName: string } | null;
  };

/** A cluster's mirroring: pools (and namespaces) with their images classified; `splitBrain` counts the images primary on both clusters of the pair. */
export interface CephStatus extends CephMirrorSnapshot {
  pools: (Omit<PoolMirrorState, 'images'> & { images: StatusImage[]; splitBrain: number })[];
}

/** How old another cluster's last status may be to be used for the split-brain check without asking it again. */
const PEER_STATUS_FRESH_MS = 10_000;

/**
 * Marks the images that are primary both here and on a peer cluster of the same pool (a
 * registered cluster whose site name is a peer of the pool here), and counts them per pool.
 */
export function markSplitBrain(
  own: CephStatus,
  peers: { siteId: number; siteName: string; status: CephStatus }[],
): CephStatus {
  // The peers' images by pool/namespace and global id (or name), so that the check is linear in the images.
  const indexed = peers.map((peer) => {
    const byScope = new Map<string, Map<string, StatusImage>>();
    for (const q of peer.status.pools) {
      const m = new Map<string, StatusImage>();
      for (const i of q.images) {
        m.set(`name:${i.name}`, i);
        if (i.mirroring?.globalId) m.set(`id:${i.mirroring.globalId}`, i);
      }
      byScope.set(`${q.pool}/${q.namespace}`, m);
    }
    return byScope;
  });
  const pools = own.pools.map((p) => {
    const peerNames = new Set(
      (own.pools.find((q) => q.pool === p.pool && q.namespace === '') ?? p).peers.map((x) => x.siteName),
    );
    const images = p.images.map((img) => {
      if (img.mirroring?.primary !== true) return { ...img, splitBrainWith: null };
      for (const [n, peer] of peers.entries()) {
        const theirs = peer.status.pools.find((q) => q.pool === p.pool && q.namespace === '');
        if (!theirs?.siteName || !peerNames.has(theirs.siteName)) continue;
        const same = indexed[n]!.get(`${p.pool}/${p.namespace}`)?.get(
          img.mirroring!.globalId ? `id:${img.mirroring!.globalId}` : `name:${img.name}`,
        );
        if (same?.mirroring?.primary === true) {
          return {
            ...img,
            group: 'issues' as const,
            reason: `split-brain: primary here and on ${peer.siteName}, and both may have taken writes; resolve it with a failback (demote and resync the stale side)`,
            splitBrainWith: { siteId: peer.siteId, siteName: peer.siteName },
          };
        }
      }
      return { ...img, splitBrainWith: null };
    });
    return { ...p, images, splitBrain: images.filter((i) => i.splitBrainWith).length };
  });
  return { ...own, pools };
}

/**
 * The status as the console shows it. `answered`: the cluster's answer from `at` (its newest,
 * also while a new question has been open for less than `statusSlowMs`). `slow`: a question has
 * been open for longer; what is shown is the answer from `at`. `unreachable`: the cluster cannot
 * be asked (`error` says why; found at `at`; no pools). `waiting`: no answer yet and none known.
 * `askedAt` is the time of the question still open, if any.
 */
export interface CephStatusView extends CephStatus {
  state: 'answered' | 'slow' | 'unreachable' | 'waiting';
  error: string | null;
  at: number | null;
  askedAt: number | null;
}

/** The status as the Ceph page reads it: its pools and namespaces without their images (see CephMirroring.overview). */
export interface CephOverviewView extends Omit<CephStatusView, 'pools'> {
  pools: PoolOverview[];
}

function scopeOf(pool: string, namespace: string): string {
  return namespace ? `${pool}/${namespace}` : pool;
}

interface Action<T> {
  kind: string;
  name: string;
  /** What the task locks on this cluster (its target): the site, or a pool, namespace or image of it. */
  scope: CephLockScope;
  /** Further locks, e.g. the same pool on the other cluster of a pair. */
  locks?: string[];
  params?: Record<string, unknown>;
  run: (a: CephAdapter, ctx: TaskContext) => Promise<T>;
}

/**
 * RBD mirroring between clusters: status in O(pools) CLI calls, and every change as a task with
 * history. Bootstrap tokens are returned once and never stored or logged.
 */
/** One image of a cluster (a site). */
export interface ImageAt {
  siteId: number;
  pool: string;
  namespace: string;
  image: string;
}

/** What `image()` can do to one image. */
export const IMAGE_OPS = [
  'enable',
  'disable',
  'promote',
  'demote',
  'resync',
  'snapshot',
  'journaling-on',
  'journaling-off',
] as const;
export type ImageOp = (typeof IMAGE_OPS)[number];

export class CephMirroring {
  /**
   * After unpairing, both sides must stay without each other's peer for `unpairQuietMs`, checked
   * every `unpairCheckMs`: a running rbd-mirror drops a removed peer only at its next refresh
   * (rbd_mirror_pool_replayers_refresh_interval, 30 s by default) and re-registers itself until then.
   */
  unpairQuietMs = 40_000;
  unpairCheckMs = 5_000;
  /** A status question open for longer than this makes the cluster `slow` (see CephStatusView). */
  statusSlowMs = 10_000;
  /** Clusters recently found unreachable (status questions and failover plans record it). */
  readonly reach: Reachability;
  readonly #statusAnswers: LastAnswers<CephStatus>;
  readonly #splitBrain = new Map<number, number>();

  constructor(
    private readonly sites: SiteService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
  ) {
    this.reach = new Reachability(() => this.clock.now());
    this.#statusAnswers = new LastAnswers(() => this.clock.now());
    // A task that starts or ends on a cluster changes it: the next status read asks anew.
    tasks.onState((t) => {
      for (const lock of t.locks ?? [t.target]) {
        const site = /^site\/(\d+)(?:\/|$)/.exec(lock);
        if (site) this.#statusAnswers.changed(Number(site[1]));
      }
    });
  }

  adapter(siteId: number): CephAdapter {
    const a = this.sites.adapter(siteId);
    if (a.kind !== 'ceph') throw new AppError('INVALID_INPUT', `site #${siteId} is not a Ceph cluster`);
    return a;
  }

  #siteName(siteId: number): string {
    return this.sites.get(siteId).name;
  }

  /**
   * A cluster's mirroring status. A cluster that cannot be asked is a status too (`unreachable`,
   * with the reason), not an error. With `waitMs` the answer comes within about that long: if the
   * cluster has not answered by then, its last answer is shown (`slow`, `unreachable`) or that it
   * is being asked (`waiting`), and the question goes on for the next call. A cluster whose last
   * answer was that it cannot be asked is shown so at once, while it is asked again.
   * `freshSince` (epoch ms, domain clock): an answer to a question asked at or after it is used as
   * it is instead of asking again (the collector asks each cluster once per round, although every
   * status also asks the other clusters for the split-brain check).
   */
  async status(siteId: number, opts: { waitMs?: number; freshSince?: number } = {}): Promise<CephStatusView> {
    const [{ source, ...view }, peers] = await Promise.all([
      this.#view(siteId, opts),
      this.#peerStatuses(siteId, opts.waitMs),
    ]);
    if (!view.pools.length) return view;
    const marked = { ...view, ...this.#mark(siteId, source, peers) };
    this.#splitBrain.set(
      siteId,
      marked.pools.reduce((n, p) => n + p.splitBrain, 0),
    );
    return marked;
  }

  /**
   * The status without the images: each (pool, namespace) with its images counted per group and
   * role (see poolOverview), for the console's Ceph page. The images come a page at a time from
   * `images`.
   */
  async overview(siteId: number, opts: { waitMs?: number } = {}): Promise<CephOverviewView> {
    const { pools, ...rest } = await this.status(siteId, opts);
    return { ...rest, pools: pools.map(poolOverview) };
  }

  /**
   * A page of the images of one pool or namespace (see pageImages), from the cluster's last status
   * answer, split-brain marked with its peers' last answers: no CLI call. A cluster never asked
   * yet is asked once, as `status` does (within `waitMs`). `at`: the time of the answer the page
   * is from (null: no answer).
   */
  async images(
    siteId: number,
    q: ImageQuery,
    opts: { waitMs?: number } = {},
  ): Promise<ImagePage & { at: number | null }> {
    let marked = this.#lastMarked(siteId);
    if (!marked) {
      await this.status(siteId, opts);
      marked = this.#lastMarked(siteId);
    }
    const pool = marked?.status.pools.find((p) => p.pool === q.pool && p.namespace === q.namespace);
    if (marked && !pool)
      throw new AppError(
        'NOT_FOUND',
        `${scopeOf(q.pool, q.namespace)} is not in the last status of ${this.#siteName(siteId)}`,
      );
    return { ...pageImages(pool?.images ?? [], q), at: marked?.at ?? null };
  }

  /** The split-brain marking of each cluster's last status, kept while its answer and its peers' stay the same. */
  readonly #marked = new Map<number, { own: CephStatus; peers: CephStatus[]; value: CephStatus }>();

  #mark(
    siteId: number,
    own: CephStatus,
    peers: { siteId: number; siteName: string; status: CephStatus }[],
  ): CephStatus {
    const m = this.#marked.get(siteId);
    if (
      m &&
      m.own === own &&
      m.peers.length === peers.length &&
      m.peers.every((p, i) => p === peers[i]!.status)
    )
      return m.value;
    const value = markSplitBrain(own, peers);
    this.#marked.set(siteId, { own, peers: peers.map((p) => p.status), value });
    return value;
  }

  /** The last answer of a cluster, marked with its peers' last answers (those not found unreachable); null when it never answered. */
  #lastMarked(siteId: number): { status: CephStatus; at: number } | null {
    const last = this.#statusAnswers.last(siteId);
    if (!last?.ok) return null;
    const m = this.#marked.get(siteId);
    // What the last status call marked, while the cluster's answer is the same.
    if (m && m.own === last.value) return { status: m.value, at: last.at };
    const peers = this.sites
      .list()
      .filter((s) => s.kind === 'ceph' && s.id !== siteId && !this.reach.down(s.id))
      .flatMap((o) => {
        const l = this.#statusAnswers.last(o.id);
        return l?.ok ? [{ siteId: o.id, siteName: o.name, status: l.value }] : [];
      });
    return { status: this.#mark(siteId, last.value, peers), at: last.at };
  }

  /**
   * A cluster's last status answer (or failure), without asking it; null when never asked.
   * `unreachable`: the failure says the cluster cannot be asked (rather than a refused question).
   */
  lastStatus(
    siteId: number,
  ):
    | { ok: true; status: CephStatus; at: number }
    | { ok: false; error: string; unreachable: boolean; at: number }
    | null {
    const last = this.#statusAnswers.last(siteId);
    if (!last) return null;
    return last.ok
      ? { ok: true, status: last.value, at: last.at }
      : { ok: false, error: errorMessage(last.error), unreachable: isUnreachable(last.error), at: last.at };
  }

  /** Images seen primary on this cluster and on its peer at the last status of this cluster (for the overview). */
  splitBrainCount(siteId: number): number {
    return this.#splitBrain.get(siteId) ?? 0;
  }

  /**
   * The other registered Ceph clusters' statuses, for the split-brain check: an answer younger than
   * PEER_STATUS_FRESH_MS is used as it is; a cluster recently found unreachable is left out.
   */
  async #peerStatuses(
    siteId: number,
    waitMs?: number,
  ): Promise<{ siteId: number; siteName: string; status: CephStatus }[]> {
    const others = this.sites.list().filter((s) => s.kind === 'ceph' && s.id !== siteId);
    const got = await Promise.all(
      others.map(async (o) => {
        const last = this.#statusAnswers.last(o.id);
        if (last?.ok && this.clock.now() - last.at <= PEER_STATUS_FRESH_MS)
          return { siteId: o.id, siteName: o.name, status: last.value };
        if (this.reach.down(o.id)) return null;
        const asked = await this.#statusAnswers
          .ask(o.id, () => this.reach.watch(o.id, () => this.#status(o.id)), waitMs)
          .catch(() => null);
        const s = asked?.kind === 'answered' ? asked.settled : asked?.last;
        return s?.ok ? { siteId: o.id, siteName: o.name, status: s.value } : null;
      }),
    );
    return got.filter((g) => g !== null);
  }

  async #view(
    siteId: number,
    opts: { waitMs?: number; freshSince?: number },
  ): Promise<CephStatusView & { source: CephStatus }> {
    const before = this.#statusAnswers.last(siteId);
    const wait =
      opts.waitMs !== undefined && before && !before.ok && isUnreachable(before.error) ? 0 : opts.waitMs;
    const fresh =
      opts.freshSince !== undefined &&
      before &&
      before.askedAt >= opts.freshSince &&
      this.#statusAnswers.current(siteId, before);
    const asked = fresh
      ? { kind: 'answered' as const, settled: before }
      : await this.#statusAnswers.ask(
          siteId,
          () => this.reach.watch(siteId, () => this.#status(siteId)),
          wait,
        );
    const none = {
      fetchedAt: '',
      pools: [],
      daemons: [],
      cliCalls: 0,
      source: { fetchedAt: '', pools: [], daemons: [], cliCalls: 0 },
    };
    if (asked.kind === 'answered') {
      const s = asked.settled;
      if (s.ok)
        return { ...s.value, source: s.value, state: 'answered', error: null, at: s.at, askedAt: null };
      if (isUnreachable(s.error))
        return { ...none, state: 'unreachable', error: errorMessage(s.error), at: s.at, askedAt: null };
      throw s.error;
    }
    const last = asked.last;
    if (last?.ok) {
      const slow = asked.openMs > this.statusSlowMs;
      return {
        ...last.value,
        source: last.value,
        state: slow ? 'slow' : 'answered',
        error: slow ? `no answer for ${Math.round(asked.openMs / 1000)} s (still asking)` : null,
        at: last.at,
        askedAt: asked.askedAt,
      };
    }
    if (last && isUnreachable(last.error))
      return {
        ...none,
        state: 'unreachable',
        error: errorMessage(last.error),
        at: last.at,
        askedAt: asked.askedAt,
      };
    return {
      ...none,
      state: 'waiting',
      error: `no answer within ${(opts.waitMs ?? 0) / 1000} s (still asking)`,
      at: null,
      askedAt: asked.askedAt,
    };
  }

  async #status(siteId: number): Promise<CephStatus> {
    const a = this.adapter(siteId);
    const {
      value: [snap, next],
      calls,
    } = await countCliCalls(async () => {
      const snap = await a.refreshStatus();
      // One schedule-status call per mirrored pool gives its images' next mirror snapshots
      // (Ceph 16.2 answers an empty list when asked without a pool).
      const mirrored = [...new Set(snap.pools.filter((p) => p.mode !== 'disabled').map((p) => p.pool))];
      const next = await Promise.all(
        mirrored.map((pool) => a.getSnapshotScheduleStatus({ pool }).catch(() => [])),
      );
      return [snap, next.flat()] as const;
    });
    const nextAt = new Map(next.map((s) => [`${s.pool}/${s.namespace}/${s.image}`, s.scheduleTime]));
    const now = this.clock.now();
    return {
      ...snap,
      cliCalls: calls,
      pools: snap.pools.map((p) => ({
        ...p,
        images: p.images.map((img) => ({
          ...img,
          ...classifyImage(img, now, p),
          nextSnapshotAt: nextAt.get(`${img.pool}/${img.namespace}/${img.name}`) ?? null,
          splitBrainWith: null,
        })),
        splitBrain: 0,
      })),
    };
  }

  #act<T>(user: SessionUser, siteId: number, act: Action<T>) {
    const site = this.#siteName(siteId);
    return this.tasks.start({
      name: `${act.name} on ${site}`,
      kind: act.kind,
      target: cephLock(siteId, act.scope),
      locks: act.locks,
      params: { siteId, ...(act.params ?? {}) },
      steps: [act.name],
      username: user.username,
      run: async (ctx) => {
        ctx.progress(0, 1);
        const r = await ctx.step(act.name, () => act.run(this.adapter(siteId), ctx));
        ctx.progress(1, 1);
        return r;
      },
    });
  }

  setPoolMode(
    { siteId, pool, namespace, mode }: { siteId: number; pool: string; namespace: string; mode: MirrorMode },
    user: SessionUser,
  ) {
    return this.#act(user, siteId, {
      kind: 'ceph.pool.mode',
      name: `Set mirror mode of ${pool}${namespace ? '/' + namespace : ''} to ${mode}`,
      scope: { pool, namespace },
      params: { pool, namespace, mode },
      run: async (a) => {
        if (mode === 'disabled') {
          const info = await a.getPoolMirrorInfo(pool, namespace || undefined);
          if (info.peers.length && !namespace) {
            throw new AppError(
              'PRECONDITION_FAILED',
              `${pool} still has ${info.peers.length} peer(s) (${info.peers.map((p) => p.siteName).join(', ')}); Ceph refuses to disable mirroring until they are removed`,
            );
          }
        }
        await a.setPoolMirrorMode(pool, namespace, mode);
      },
    });
  }

  /**
   * The site name is cluster-wide; Ceph reads and writes it through a pool with mirroring enabled.
   * Checked before the task starts so that a bad name is an error on its field.
   */
  async setSiteName(
    { siteId, pool, siteName }: { siteId: number; pool: string; siteName: string },
    user: SessionUser,
  ) {
    const info = await this.adapter(siteId).getPoolMirrorInfo(pool);
    if (info.mode === 'disabled')
      throw new AppError(
        'PRECONDITION_FAILED',
        `the site name is set through a pool with mirroring enabled, and mirroring of ${pool} is disabled: enable it on a pool first`,
      );
    const mode = info.mode;
    if (info.siteName === siteName)
      throw AppError.invalid('siteName', `${siteName} is already this cluster's site name`);
    const clash = info.peers.find((p) => p.siteName === siteName);
    if (clash)
      throw AppError.invalid(
        'siteName',
        `${siteName} is the site name of peer ${clash.uuid.slice(0, 8)}: each cluster needs a site name of its own`,
      );
    return this.#act(user, siteId, {
      kind: 'ceph.site-name',
      name: `Set site name to ${siteName}`,
      // The site name is the cluster's, whichever pool it is set through.
      scope: {},
      params: { pool, siteName, previous: info.siteName },
      run: async (a, ctx) => {
        await a.setSiteName(pool, mode, siteName);
        ctx.log(
          `site name changed from ${info.siteName ?? '(none)'} to ${siteName}; peers learn it from the rbd-mirror daemons`,
        );
      },
    });
  }

  /** The token is returned to the caller once; it is never stored, logged or put in history. */
  async createToken(
    siteId: number,
    pool: string,
  ): Promise<{ token: string; decoded: ReturnType<typeof decodeBootstrapToken> }> {
    const token = await this.adapter(siteId).createBootstrapToken(pool);
    return { token, decoded: decodeBootstrapToken(token) };
  }

  previewToken(token: string) {
    return decodeBootstrapToken(token);
  }

  importToken(
    {
      siteId,
      pool,
      token,
      direction,
      localSiteName,
    }: { siteId: number; pool: string; token: string; direction: BootstrapDirection; localSiteName?: string },
    user: SessionUser,
  ) {
    const decoded = decodeBootstrapToken(token);
    return this.#act(user, siteId, {
      kind: 'ceph.peer.import',
      name: `Import bootstrap token of cluster ${decoded.fsid.slice(0, 8)}`,
      // Importing with a site name renames the cluster: then the whole site is locked.
      scope: localSiteName ? {} : { pool },
      params: {
        pool,
        direction,
        peerFsid: decoded.fsid,
        peerMonHost: decoded.monHost,
        peerClient: decoded.clientId,
      },
      run: (a) => a.importBootstrapToken(pool, token, { direction, siteName: localSiteName }),
    });
  }

  /** Pairs two registered clusters in one step; the token stays on the server. */
  pair(
    {
      fromSiteId,
      toSiteId,
      pool,
      direction,
    }: { fromSiteId: number; toSiteId: number; pool: string; direction: BootstrapDirection },
    user: SessionUser,
  ) {
    if (fromSiteId === toSiteId) throw AppError.invalid('toSiteId', 'choose two different clusters');
    const from = this.#siteName(fromSiteId);
    return this.#act(user, toSiteId, {
      kind: 'ceph.pair',
      name: `Pair ${pool} with ${from}`,
      scope: { pool },
      locks: [cephLock(fromSiteId, { pool })],
      params: { pool, from, direction },
      run: async (a, ctx) => {
        const token = await this.adapter(fromSiteId).createBootstrapToken(pool);
        ctx.log(`created a bootstrap token on ${from} (not stored)`);
        await a.importBootstrapToken(pool, token, { direction });
        const info = await a.getPoolMirrorInfo(pool);
        return { peers: info.peers.map((p) => p.siteName) };
      },
    });
  }

  /**
   * Unpairs a pool of two registered clusters: removes each side's peer entry for the other, then
   * checks until both stay empty for `unpairQuietMs`, removing again what a still-running rbd-mirror
   * re-registers (it pings its peer cluster and re-creates its own entry there as tx-only). Each
   * removal is judged by the peer list afterwards (removePeerChecked): Ceph's error after a removal
   * that did happen is logged as a warning, not the end of the task.
   */
  unpair(
    { siteId, otherSiteId, pool }: { siteId: number; otherSiteId: number; pool: string },
    user: SessionUser,
  ) {
    if (siteId === otherSiteId) throw AppError.invalid('otherSiteId', 'choose two different clusters');
    const here = this.#siteName(siteId);
    const there = this.#siteName(otherSiteId);
    return this.#act(user, siteId, {
      kind: 'ceph.unpair',
      name: `Unpair ${pool} from ${there}`,
      scope: { pool },
      locks: [cephLock(otherSiteId, { pool })],
      params: { pool, other: there },
      run: async (a, ctx) => {
        const b = this.adapter(otherSiteId);
        const [infoA, infoB] = await Promise.all([a.getPoolMirrorInfo(pool), b.getPoolMirrorInfo(pool)]);
        if (!infoA.siteName || !infoB.siteName)
          throw new AppError(
            'PRECONDITION_FAILED',
            `mirroring of ${pool} is disabled on ${infoA.siteName ? there : here}: there is no pairing to remove`,
          );
        const sides = [
          { cluster: here, adapter: a, peerSite: infoB.siteName },
          { cluster: there, adapter: b, peerSite: infoA.siteName },
        ];
        const sweep = async (round: number) => {
          let removed = 0;
          for (const side of sides) {
            const peers = (await side.adapter.getPoolMirrorInfo(pool)).peers.filter(
              (p) => p.siteName === side.peerSite,
            );
            for (const p of peers) {
              const cephError = await removePeerChecked(side.adapter, pool, p.uuid);
              removed++;
              ctx.log(
                round === 0
                  ? `removed peer ${p.siteName} (${p.direction}) from ${side.cluster}/${pool}`
                  : `the rbd-mirror of ${side.peerSite} registered itself again on ${side.cluster}/${pool} (${p.direction}); removed it again`,
                round === 0 ? 'info' : 'warn',
              );
              if (cephError)
                ctx.log(
                  `${side.cluster}/${pool}: Ceph removed peer ${p.siteName} but then reported an error (${cephError}); its peer list no longer has it, so the unpair goes on (a mirror snapshot of a non-primary image there may still name the removed peer)`,
                  'warn',
                );
            }
          }
          return removed;
        };
        const first = await sweep(0);
        if (first === 0)
          ctx.log(`${here} and ${there} had no peer entries for each other on ${pool}`, 'warn');
        // Real time, not the domain clock: this waits for daemons, not for simulated events.
        const started = Date.now();
        let lastRemoval = started;
        let again = 0;
        let round = 1;
        ctx.log(
          `checking for ${Math.round(this.unpairQuietMs / 1000)} s that no rbd-mirror registers itself again`,
        );
        while (Date.now() - lastRemoval < this.unpairQuietMs) {
          if (Date.now() - started > this.unpairQuietMs * 4) {
            throw new AppError(
              'TIMEOUT',
              `peers of ${pool} keep coming back: an rbd-mirror daemon still has the other cluster as a peer; restart the rbd-mirror daemons of both clusters, then unpair again`,
            );
          }
          if (ctx.signal.aborted) throw new AppError('CANCELLED', 'cancelled by the operator');
          await new Promise((r) => setTimeout(r, this.unpairCheckMs));
          const n = await sweep(round++);
          if (n > 0) {
            again += n;
            lastRemoval = Date.now();
          }
        }
        return { removed: first, removedAgain: again, rounds: round - 1 };
      },
    });
  }

  /**
   * Changes only the fields given; rbd-mirror uses a changed peer after it is restarted. The
   * monitor addresses and the site name are checked before the task starts, so that a bad value
   * is an error on its field.
   */
  async editPeer(
    input: {
      siteId: number;
      pool: string;
      peerUuid: string;
      clientName?: string;
      monHost?: string;
      siteName?: string;
      direction?: PeerDirection;
    },
    user: SessionUser,
  ) {
    const { siteId, pool, peerUuid, ...changes } = input;
    let patch = changes;
    if (
      patch.clientName === undefined &&
      patch.monHost === undefined &&
      patch.siteName === undefined &&
      patch.direction === undefined
    ) {
      throw AppError.invalid(
        'input',
        'nothing to change: give at least one of client name, monitor hosts, site name or direction',
      );
    }
    if (patch.monHost !== undefined) patch = { ...patch, monHost: normalizeMonHosts(patch.monHost) };
    if (patch.siteName !== undefined) {
      const own = (await this.adapter(siteId).getPoolMirrorInfo(pool)).siteName;
      if (own && own === patch.siteName)
        throw AppError.invalid(
          'siteName',
          `${own} is this cluster's own site name; a peer has the site name of the other cluster`,
        );
    }
    return this.#act(user, siteId, {
      kind: 'ceph.peer.edit',
      name: `Edit peer ${peerUuid.slice(0, 8)} of ${pool}`,
      scope: { pool },
      params: { pool, peerUuid, ...patch },
      run: async (a, ctx) => {
        if (patch.clientName) await a.setPeerClient(pool, peerUuid, patch.clientName);
        if (patch.monHost) await a.setPeerMonHost(pool, peerUuid, patch.monHost);
        if (patch.siteName) await a.setPeerSiteName(pool, peerUuid, patch.siteName);
        if (patch.direction) await a.setPeerDirection(pool, peerUuid, patch.direction);
        ctx.log('rbd-mirror picks up peer changes when it is restarted', 'warn');
        // Observed on Ceph 16.2: the peer cluster's running rbd-mirror re-asserts its own entry here.
        if (patch.direction === 'rx-only')
          ctx.log(
            `while the peer cluster's rbd-mirror runs with ${pool} paired, it turns this entry back into rx-tx within seconds; to stop it sending, change or remove the peer on that cluster`,
            'warn',
          );
        if (patch.siteName)
          ctx.log(
            `while the peer cluster's rbd-mirror runs, it adds itself again under its own site name as a tx-only peer; rename the site on that cluster instead, if that is what you meant`,
            'warn',
          );
        return { restartNeeded: true };
      },
    });
  }

  removePeer(
    { siteId, pool, peerUuid }: { siteId: number; pool: string; peerUuid: string },
    user: SessionUser,
  ) {
    return this.#act(user, siteId, {
      kind: 'ceph.peer.remove',
      name: `Remove peer ${peerUuid.slice(0, 8)} of ${pool}`,
      scope: { pool },
      params: { pool, peerUuid },
      run: async (a, ctx) => {
        const peer = (await a.getPoolMirrorInfo(pool)).peers.find((p) => p.uuid === peerUuid);
        if (peer)
          ctx.log(
            `removing peer ${peer.siteName} (${peer.clientName}, ${peer.direction}): mirroring of ${pool} with ${peer.siteName} stops`,
          );
        // A peer that was not there is Ceph's error (NOT_FOUND); one that was is judged by the peer list afterwards.
        const cephError = peer
          ? await removePeerChecked(a, pool, peerUuid)
          : await a.removePeer(pool, peerUuid);
        if (cephError)
          ctx.log(
            `Ceph removed the peer but then reported an error (${cephError}); the peer list no longer has it (a mirror snapshot of a non-primary image may still name the removed peer)`,
            'warn',
          );
        if (peer)
          ctx.log(
            `if ${peer.siteName}'s rbd-mirror still has this cluster as a peer of ${pool}, it registers itself here again (tx-only) within seconds: remove the peer on ${peer.siteName} too`,
            'warn',
          );
      },
    });
  }

  /** Every image of a pool or namespace with its `rbd info` (eight questions at a time). */
  async #imageInfos(a: CephAdapter, pool: string, namespace: string): Promise<ImageInfo[]> {
    const names = (await a.listImages(pool, namespace || undefined))
      .filter((i) => i.id !== null)
      .map((i) => i.name);
    const infos: ImageInfo[] = [];
    for (let i = 0; i < names.length; i += 8)
      infos.push(
        ...(await Promise.all(names.slice(i, i + 8).map((n) => a.getImageInfo(pool, namespace, n)))),
      );
    return infos;
  }

  /** What a pool-wide journaling change would do, image by image (one `rbd info` per image). */
  async journalingPlan(
    siteId: number,
    pool: string,
    namespace: string,
    on: boolean,
  ): Promise<JournalingPlan & { pool: string; namespace: string }> {
    const infos = await this.#imageInfos(this.adapter(siteId), pool, namespace);
    return { pool, namespace, ...planPoolJournaling(infos, on) };
  }

  /**
   * Journaling on/off for every image of the pool (or namespace) that is not in snapshot mirroring
   * mode: the plan is made again when the task runs (images may have changed since the preview),
   * and the adapter changes one image at a time.
   */
  setPoolJournaling(
    { siteId, pool, namespace, on }: { siteId: number; pool: string; namespace: string; on: boolean },
    user: SessionUser,
  ) {
    const scope = scopeOf(pool, namespace);
    return this.#act(user, siteId, {
      kind: 'ceph.pool.journaling',
      name: `${on ? 'Enable' : 'Disable'} journaling on ${scope}`,
      scope: { pool, namespace },
      params: { pool, namespace, on },
      run: async (a, ctx): Promise<JournalingChange> => {
        const plan = planPoolJournaling(await this.#imageInfos(a, pool, namespace), on);
        for (const image of plan.change)
          if (on) await a.enableJournaling(pool, namespace, image);
          else await a.disableJournaling(pool, namespace, image);
        ctx.log(
          plan.change.length
            ? `journaling turned ${on ? 'on' : 'off'} for ${plan.change.join(', ')}`
            : `no image needed a change`,
        );
        for (const s of plan.skipped) ctx.log(`${s.image} left as it is: ${s.reason}`);
        return { changed: plan.change, skipped: plan.skipped };
      },
    });
  }

  // ------------------------------------------------------------------ schedules

  schedules(siteId: number, level: ScheduleLevel) {
    return this.adapter(siteId).listSnapshotSchedules(level);
  }

  /** The next runs of a schedule before it is saved (clear errors for bad intervals/start times). */
  previewSchedule(interval: string, startTime: string | undefined, count = 5) {
    parseScheduleInterval(interval);
    if (startTime) parseScheduleStartTime(startTime);
    return nextRuns(interval, startTime ?? null, this.clock.now(), count).map((d) => d.toISOString());
  }

  /**
   * The RPO of what a schedule covers (set by the app: server/domain/protection), for the check of
   * a new schedule's interval. Without it, intervals are not checked.
   */
  rpoFor: ((o: { siteId: number } & ScheduleLevel) => { seconds: number; from: string }) | null = null;

  /** `acceptRpoRisk`: add a schedule whose interval cannot meet the RPO anyway (otherwise refused on the field). */
  addSchedule(
    input: {
      siteId: number;
      level: ScheduleLevel;
      interval: string;
      startTime?: string;
      acceptRpoRisk?: boolean;
    },
    user: SessionUser,
  ) {
    const { siteId, level, interval, acceptRpoRisk = false } = input;
    const startTime = input.startTime || undefined;
    this.previewSchedule(interval, startTime, 1);
    if (!acceptRpoRisk && this.rpoFor) {
      const rpo = this.rpoFor({ siteId, ...level });
      const refusal = cadenceRefusal({
        what: 'a snapshot schedule',
        intervalSec: parseScheduleInterval(interval).minutes * 60,
        rpoSec: rpo.seconds,
        rpoFrom: rpo.from,
      });
      if (refusal)
        throw new AppError('INVALID_INPUT', `interval: ${refusal}`, {
          fields: [{ field: 'interval', message: `${refusal}; save anyway to accept the risk` }],
          details: { override: 'acceptRpoRisk' },
        });
    }
    return this.#act(user, siteId, {
      kind: 'ceph.schedule.add',
      name: `Add snapshot schedule every ${interval}`,
      scope: level,
      params: { level, interval, startTime },
      run: async (a) => {
        await a.addSnapshotSchedule(level, interval, startTime);
        // Every schedule of the cluster (what the page lists), shown at once when the task ends.
        return { schedules: await a.listSnapshotSchedules({}) };
      },
    });
  }

  removeSchedule(
    input: { siteId: number; level: ScheduleLevel; interval?: string; startTime?: string },
    user: SessionUser,
  ) {
    const { siteId, level } = input;
    const interval = input.interval || undefined;
    const startTime = input.startTime || undefined;
    return this.#act(user, siteId, {
      kind: 'ceph.schedule.remove',
      name: `Remove snapshot schedule${interval ? ` every ${interval}` : 's'}`,
      scope: level,
      params: { level, interval, startTime },
      run: async (a, ctx) => {
        const count = async () =>
          (await a.listSnapshotSchedules(level))
            .filter((e) => sameLevel(e, level))
            .reduce((n, e) => n + e.items.filter((i) => !interval || i.interval === interval).length, 0);
        const before = await count();
        await a.removeSnapshotSchedule(level, interval, startTime);
        const after = await count();
        const removed = before - after;
        ctx.log(
          removed > 0 ? `removed ${removed} schedule(s)` : 'nothing matched: no schedule was removed',
          removed > 0 ? 'info' : 'warn',
        );
        return { removed, schedules: await a.listSnapshotSchedules({}) };
      },
    });
  }

  // ------------------------------------------------------------------ images

  image(
    opts: {
      siteId: number;
      pool: string;
      namespace: string;
      image: string;
      op: ImageOp;
      mode?: ImageMirrorMode;
      force?: boolean;
      /** A forced promote must be confirmed by naming split-brain. */
      confirmSplitBrain?: boolean;
    },
    user: SessionUser,
  ) {
    const { siteId, pool, namespace, image, op } = opts;
    if (op === 'promote' && opts.force && !opts.confirmSplitBrain) {
      throw AppError.invalid(
        'confirmSplitBrain',
        'a forced promote while the other side may still be primary causes split-brain: confirm it explicitly',
      );
    }
    const spec = `${pool}/${namespace ? namespace + '/' : ''}${image}`;
    const label: Record<typeof op, string> = {
      enable: `Enable ${opts.mode ?? 'snapshot'} mirroring of ${spec}`,
      disable: `Disable mirroring of ${spec}`,
      promote: `${opts.force ? 'Force-promote' : 'Promote'} ${spec}`,
      demote: `Demote ${spec}`,
      resync: `Resync ${spec}`,
      snapshot: `Mirror snapshot of ${spec}`,
      'journaling-on': `Enable journaling on ${spec}`,
      'journaling-off': `Disable journaling on ${spec}`,
    };
    return this.#act(user, siteId, {
      kind: `ceph.image.${op}`,
      name: label[op],
      scope: { pool, namespace, image },
      params: { pool, namespace, image, mode: opts.mode, force: opts.force },
      run: async (a) => {
        switch (op) {
          case 'enable':
            return a.enableImageMirroring(pool, namespace, image, opts.mode ?? 'snapshot');
          case 'disable':
            return a.disableImageMirroring(pool, namespace, image, { force: opts.force });
          case 'promote':
            return a.promoteImage(pool, namespace, image, { force: opts.force });
          case 'demote':
            return a.demoteImage(pool, namespace, image);
          case 'resync': {
            const info = await a.getImageInfo(pool, namespace, image);
            if (info.mirroring.primary)
              throw new AppError(
                'PRECONDITION_FAILED',
                `${spec} is primary here; only a non-primary image can be resynced (demote it first, which discards nothing until the resync)`,
              );
            if (info.mirroring.primary !== false)
              throw new AppError(
                'PRECONDITION_FAILED',
                `${spec} is not mirrored here (mirroring ${info.mirroring.state}); only a non-primary mirrored image can be resynced`,
              );
            return a.resyncImage(pool, namespace, image);
          }
          case 'snapshot':
            return a.createMirrorSnapshot(pool, namespace, image);
          case 'journaling-on':
            return a.enableJournaling(pool, namespace, image);
          case 'journaling-off':
            return a.disableJournaling(pool, namespace, image);
        }
      },
    });
  }

  snapshots({ siteId, pool, namespace, image }: ImageAt) {
    return this.adapter(siteId).listImageSnapshots(pool, namespace, image);
  }

  imageInfo({ siteId, pool, namespace, image }: ImageAt) {
    return this.adapter(siteId).getImageInfo(pool, namespace, image);
  }

  daemons(siteId: number) {
    return this.adapter(siteId).listMirrorDaemons();
  }
}

function sameLevel(
  e: { pool: string | null; namespace: string | null; image: string | null },
  l: ScheduleLevel,
): boolean {
  return (
    (e.pool ?? undefined) === l.pool &&
    (e.namespace || undefined) === (l.namespace || undefined) &&
    (e.image ?? undefined) === l.image
  );
}
