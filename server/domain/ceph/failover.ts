import { imageLossWindow } from '../protection/health';
import { keptCopyOf } from './images';
import { isRetryableCephError } from '../../adapters/ceph/errors';
import type { CephAdapter, ImageMirrorStatus, ImageSnapshot, ImageSummary } from '../../adapters/ceph/types';
import type { TaskRow } from '../../db/schema';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../../core/clock';
import { AppError, errorMessage } from '../../core/errors';
import { assertCanProceed, type Precheck } from '../replicas/failover';
import type { SiteService } from '../sites';
import { cephLock } from './locks';
import type { CephMirroring } from './mirroring';
import type { ObjectRuns } from '../plans/object-runs';
import { itemLabel, objectKey } from '../plans/rules';

/**
 * Whether a non-forced promote of this (non-primary) image is safe now, judged from its
 * snapshots the way librbd does: the newest mirror snapshot must be a complete non-primary
 * copy of the other side's demotion snapshot.
 */
export function promoteReadiness(snaps: ImageSnapshot[]): { ready: boolean; reason: string } {
  const mirror = snaps.filter((s) => s.mirror);
  const last = mirror[mirror.length - 1];
  if (!last?.mirror) return { ready: false, reason: 'the image has no mirror snapshots' };
  if (last.mirror.primary && !last.mirror.demoted)
    return { ready: false, reason: 'the image is already primary' };
  if (last.mirror.primary && last.mirror.demoted) {
    return {
      ready: false,
      reason:
        "the newest mirror snapshot is this image's own demotion: the other side has not sent anything since; promoting here now may split the brain if the other side was promoted",
    };
  }
  if (!last.mirror.complete)
    return { ready: false, reason: `snapshot ${last.id} is still being copied from the primary` };
  if (!last.mirror.demoted)
    return { ready: false, reason: 'the primary has not been demoted (or its demotion has not arrived yet)' };
  return { ready: true, reason: 'the demotion of the other side has been copied completely' };
}

export interface CephFailoverInput {
  /** The cluster whose images are primary now. */
  fromSiteId: number;
  /** The cluster that takes over. */
  toSiteId: number;
  pool: string;
  namespace?: string;
  /** One image, or every mirrored image of the pool when omitted. */
  image?: string;
}

export interface CephFailoverPlan {
  mode: 'planned' | 'unplanned';
  checks: Precheck[];
  canProceed: boolean;
  images: { name: string; lastSyncedAt: number | null; dataLossWindowSec: number | null }[];
  steps: string[];
  /**
   * Unplanned while the old primary cluster answers: its images (these) stay primary there, so a
   * force-promote makes both sides primary. The failover then needs `confirmSplitBrain`.
   */
  splitBrainRisk: string[];
}

/** How many images (and image checks) a preview of a failover plan lists. */
export const PREVIEW_IMAGES = 50;

/** Image names as a message gives them: the first ten, then how many more. */
export function nameList(names: readonly string[], max = 10): string {
  return names.length <= max
    ? names.join(', ')
    : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** A failover plan as the wizard shows it (see previewPlan). */
export interface CephFailoverPreview extends CephFailoverPlan {
  /** Every image the failover would switch (`images` lists at most PREVIEW_IMAGES of them). */
  imageCount: number;
  /** The largest data-loss window among them (null: none known). */
  maxWindowSec: number | null;
  /** Images whose data-loss window is unknown. */
  unknownWindows: number;
  /** Every image at risk of split-brain (`splitBrainRisk` lists at most PREVIEW_IMAGES). */
  splitBrainRiskCount: number;
}

/**
 * What the wizard shows of a plan, whatever the number of images: the images with the largest (or
 * unknown) data-loss windows first, at most `limit`, with the totals; the image checks that block
 * first, then those that warn, at most `limit`, the others summed up in one check.
 */
export function previewPlan(plan: CephFailoverPlan, limit = PREVIEW_IMAGES): CephFailoverPreview {
  const rank = { block: 0, warn: 1, pass: 2 } as const;
  const perImage = plan.checks.filter((c) => c.id.startsWith('img-'));
  const shown = new Set([...perImage].sort((a, b) => rank[a.status] - rank[b.status]).slice(0, limit));
  const hidden = perImage.filter((c) => !shown.has(c));
  const checks: Precheck[] = [];
  for (const c of plan.checks) {
    if (!c.id.startsWith('img-')) checks.push(c);
    else if (shown.has(c)) {
      checks.push(c);
      if (hidden.length && ![...shown].some((x) => plan.checks.indexOf(x) > plan.checks.indexOf(c))) {
        const by = (st: Precheck['status']) => hidden.filter((h) => h.status === st).length;
        const parts = (['block', 'warn', 'pass'] as const)
          .filter((st) => by(st) > 0)
          .map(
            (st) => `${by(st)} ${st === 'block' ? 'blocked' : st === 'warn' ? 'with a warning' : 'ready'}`,
          );
        checks.push({
          id: 'img-more',
          label: `${hidden.length} more image(s)`,
          status: hidden.reduce<Precheck['status']>(
            (w, h) => (rank[h.status] < rank[w] ? h.status : w),
            'pass',
          ),
          message: parts.join(', '),
        });
      }
    }
  }
  const windows = plan.images.map((i) => i.dataLossWindowSec).filter((w) => w !== null);
  const images = [...plan.images]
    .sort((a, b) =>
      a.dataLossWindowSec === b.dataLossWindowSec
        ? a.name.localeCompare(b.name)
        : a.dataLossWindowSec === null
          ? -1
          : b.dataLossWindowSec === null
            ? 1
            : b.dataLossWindowSec - a.dataLossWindowSec,
    )
    .slice(0, limit);
  return {
    ...plan,
    checks,
    images,
    imageCount: plan.images.length,
    maxWindowSec: windows.length ? Math.max(...windows) : null,
    unknownWindows: plan.images.length - windows.length,
    splitBrainRisk: plan.splitBrainRisk.slice(0, limit),
    splitBrainRiskCount: plan.splitBrainRisk.length,
  };
}

/** A resync plan as the wizard shows it: the first `limit` images with the copy kept of each, and how many there are. */
export function previewResync<T extends { images: unknown[] }>(
  plan: T,
  limit = PREVIEW_IMAGES,
): T & { imageCount: number } {
  return { ...plan, images: plan.images.slice(0, limit), imageCount: plan.images.length };
}

export interface ResyncInput {
  /** The cluster whose writes are discarded (after a protective copy). */
  staleSiteId: number;
  /** The cluster that keeps its writes. */
  goodSiteId: number;
  pool: string;
  namespace?: string;
  image?: string;
  failBack?: boolean;
}

/** What a failover task stores: enough to run it again after a crash. */
interface FailoverParams extends Record<string, unknown> {
  fromSiteId: number;
  toSiteId: number;
  pool: string;
  namespace: string;
  image?: string;
  mode: 'planned' | 'unplanned';
  images: CephFailoverPlan['images'];
  /** Images left primary on the old side too, by the operator's split-brain confirmation. */
  splitBrainConfirmed?: string[];
}

interface ResyncParams extends Record<string, unknown> {
  staleSiteId: number;
  goodSiteId: number;
  pool: string;
  namespace: string;
  image?: string;
  failBack: boolean;
  images: string[];
  /** The protective copy of each image (same order), named when the task started. */
  keptCopies: string[];
}

/** One cluster in a planned switch, and the name of its task step. */
interface Side {
  adapter: CephAdapter;
  name: string;
  step: string;
}

/** Failover, failback and split-brain resolution for mirrored RBD images, as tasks. */
export class CephFailover {
  constructor(
    private readonly mirroring: CephMirroring,
    private readonly sites: SiteService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
    /** How long to keep retrying a promote while the demotion snapshot travels. */
    private readonly promoteTimeoutMs = 180_000,
  ) {
    const superseded = (task: TaskRow) => {
      const n = tasks.supersededBy(task, CEPH_DURABLE_KINDS);
      return n
        ? `task #${n.id} "${n.name}" on the same images ${n.state === 'finished' ? 'finished' : 'was rolled back'} after this one`
        : null;
    };
    tasks.define<FailoverParams>('ceph.failover', {
      run: (ctx, p) => this.#runFailover(ctx, p),
      confirmText: (p) => confirmWord(p),
      resumeBlocked: (task) => superseded(task),
      rollback: {
        steps: (p) => [rollbackStep(this.#name(p.fromSiteId))],
        blocked: (task, steps, p) => {
          const later = superseded(task);
          if (later) return later;
          if (p.mode !== 'planned')
            return 'an unplanned failover cannot be undone: fail back (resync the old primary) instead';
          const promote = steps.find((s) => s.name === PLANNED_STEPS[1]);
          if (promote && (promote.state === 'done' || promote.startedAt))
            return 'the promote has started; resume the failover instead';
          return null;
        },
        run: (ctx, p) => this.#rollbackFailover(ctx, p),
      },
    });
    for (const kind of ['ceph.resync', 'ceph.failback']) {
      tasks.define<ResyncParams>(kind, {
        run: (ctx, p) => this.#runResync(ctx, p),
        confirmText: (p) => confirmWord(p),
        resumeBlocked: (task) => superseded(task),
      });
    }
  }

  async #images(a: CephAdapter, pool: string, namespace: string, image?: string): Promise<ImageSummary[]> {
    const all = (await a.listImages(pool, namespace || undefined)).filter((i) => i.mirroring);
    if (!image) return all;
    const one = all.find((i) => i.name === image);
    if (!one)
      throw new AppError(
        'NOT_FOUND',
        `image ${[pool, namespace, image].filter(Boolean).join('/')} is not mirrored on this cluster`,
      );
    return [one];
  }

  /**
   * Pre-checks and the data-loss window. The clusters are asked in parallel, so that a cluster
   * that is gone costs one connect timeout. A `preview` (what the wizard shows while the operator
   * chooses) does not ask again a cluster found unreachable within the last minute: it says so at
   * once and asks again in the background. The failover itself always asks both clusters.
   */
  async plan(
    input: CephFailoverInput,
    opts: { unplanned?: boolean; preview?: boolean } = {},
  ): Promise<CephFailoverPlan> {
    const ns = input.namespace ?? '';
    const checks: Precheck[] = [];
    const to = this.mirroring.adapter(input.toSiteId);
    const from = this.mirroring.adapter(input.fromSiteId);
    const reach = this.mirroring.reach;
    const ask = <T>(siteId: number, a: CephAdapter, fn: () => Promise<T>): Promise<T> => {
      const down = opts.preview ? reach.down(siteId) : null;
      if (!down) return reach.watch(siteId, fn);
      reach.recheck(siteId, () => a.probe());
      return Promise.reject(
        new AppError(
          'UNREACHABLE',
          `${down.error} (found ${Math.max(0, Math.round((this.clock.now() - down.at) / 1000))} s ago; asking again)`,
        ),
      );
    };
    const [listed, probe, daemonList, oldSide] = await Promise.allSettled([
      ask(input.toSiteId, to, () => this.#images(to, input.pool, ns, input.image)),
      ask(input.fromSiteId, from, () => from.probe()),
      ask(input.toSiteId, to, () => to.listMirrorDaemons()),
      ask(input.fromSiteId, from, () => from.listImages(input.pool, ns || undefined)),
    ]);
    // Whether each image is still primary on the old side (unknown when that cluster does not answer).
    const primaryThere = new Map(
      oldSide.status === 'fulfilled'
        ? oldSide.value.filter((i) => i.mirroring).map((i) => [i.name, i.mirroring!.primary])
        : [],
    );
    let secondary: ImageSummary[] = [];
    if (listed.status === 'fulfilled') {
      secondary = listed.value;
      checks.push({
        id: 'to',
        label: 'Surviving cluster reachable',
        status: 'pass',
        message: `${secondary.length} mirrored image(s) in ${input.pool}`,
      });
    } else {
      checks.push({
        id: 'to',
        label: 'Surviving cluster reachable',
        status: 'block',
        message: errorMessage(listed.reason),
      });
    }
    const fromUp = probe.status === 'fulfilled';
    if (fromUp) {
      checks.push({
        id: 'from',
        label: 'Primary cluster reachable',
        status: 'pass',
        message: 'planned failover: demote there, then promote here',
      });
    } else {
      checks.push({
        id: 'from',
        label: 'Primary cluster reachable',
        status: 'warn',
        message: `unreachable (${errorMessage(probe.reason)}): unplanned failover by force-promoting the survivors`,
      });
    }
    const mode = fromUp && !opts.unplanned ? 'planned' : 'unplanned';
    if (!secondary.length && checks[0]?.status === 'pass')
      checks.push({
        id: 'images',
        label: 'Images',
        status: 'block',
        message: 'no mirrored image to fail over',
      });
    for (const img of secondary) {
      const m = img.mirroring!;
      // A planned failover cut off half-way is run again: an image already switched is left as it is.
      if (m.primary && mode === 'planned' && primaryThere.get(img.name) === false)
        checks.push({
          id: `img-${img.name}`,
          label: `Image ${img.name}`,
          status: 'pass',
          message: 'already failed over (primary here, non-primary on the old side): left as it is',
        });
      else if (m.primary)
        checks.push({
          id: `img-${img.name}`,
          label: `Image ${img.name}`,
          status: mode === 'planned' ? 'block' : 'warn',
          message: 'is already primary on the surviving cluster',
        });
      else if (m.description.splitBrain)
        checks.push({
          id: `img-${img.name}`,
          label: `Image ${img.name}`,
          status: 'block',
          message: 'split-brain: resolve it with a failback (demote and resync the stale side) first',
        });
      else if (
        m.state !== 'replaying' &&
        mode === 'planned' &&
        primaryThere.get(img.name) === false &&
        (await this.#demotionCopied(to, input.pool, ns, img.name))
      )
        checks.push({
          id: `img-${img.name}`,
          label: `Image ${img.name}`,
          status: 'pass',
          message: `already demoted on the old side and its demotion snapshot copied here (${m.rawState}): only promoted`,
        });
      else if (m.state !== 'replaying' && mode === 'planned')
        checks.push({
          id: `img-${img.name}`,
          label: `Image ${img.name}`,
          status: 'block',
          message: `is ${m.rawState}, not replaying; a planned failover would wait forever for the demotion snapshot`,
        });
      else
        checks.push({
          id: `img-${img.name}`,
          label: `Image ${img.name}`,
          status: 'pass',
          message: m.rawState,
        });
    }
    const splitBrainRisk =
      mode === 'unplanned' && fromUp
        ? secondary
            .filter((i) => !i.mirroring!.primary && primaryThere.get(i.name) !== false)
            .map((i) => i.name)
        : [];
    if (splitBrainRisk.length) {
      checks.push({
        id: 'split-brain',
        label: 'Split-brain',
        status: 'warn',
        message: `the primary cluster answers and ${nameList(splitBrainRisk)} ${splitBrainRisk.length === 1 ? 'is' : 'are'} still primary there: a force-promote makes both sides primary (split-brain, writes on both are kept apart until a resync discards one side's). Prefer the planned failover; an unplanned one needs the split-brain confirmed explicitly`,
      });
    }
    if (daemonList.status === 'fulfilled') {
      const daemons = daemonList.value;
      const bad = daemons.filter((d) => d.health !== 'OK');
      checks.push(
        daemons.length === 0
          ? {
              id: 'daemon',
              label: 'rbd-mirror on the surviving cluster',
              status: mode === 'planned' ? 'block' : 'warn',
              message: 'no rbd-mirror daemon reports; nothing would copy the demotion snapshot',
            }
          : {
              id: 'daemon',
              label: 'rbd-mirror on the surviving cluster',
              status: bad.length ? 'warn' : 'pass',
              message: bad.length
                ? `${bad.map((d) => `${d.daemonId}: ${d.health}`).join(', ')}`
                : `${daemons.length} daemon(s) healthy`,
            },
      );
    } else {
      checks.push({
        id: 'daemon',
        label: 'rbd-mirror on the surviving cluster',
        status: 'warn',
        message: errorMessage(daemonList.reason),
      });
    }
    const busy =
      this.tasks.holder(this.#lock(input.toSiteId, input)) ??
      this.tasks.holder(this.#lock(input.fromSiteId, input));
    checks.push(
      busy
        ? {
            id: 'tasks',
            label: 'Pending tasks',
            status: 'block',
            message: `task #${busy.id} "${busy.name}" is ${busy.state}`,
          }
        : { id: 'tasks', label: 'Pending tasks', status: 'pass', message: 'none' },
    );
    const now = this.clock.now();
    const images = await Promise.all(
      secondary.map(async (img) => {
        // The status has the time only once rbd-mirror has reported a sync since it (re)started
        // replaying; until then the newest completely copied mirror snapshot tells it.
        const fromStatus = img.mirroring?.description.localSnapshotTimestamp;
        const at = fromStatus
          ? fromStatus * 1000
          : await this.#lastCopiedSnapshotAt(to, input.pool, ns, img.name);
        return {
          name: img.name,
          lastSyncedAt: at,
          dataLossWindowSec:
            mode === 'planned'
              ? 0
              : imageLossWindow({
                  now,
                  lastSyncedAt: at,
                  mode: img.mirroring?.mode,
                  entriesBehind: img.mirroring?.description.entriesBehindPrimary,
                  entriesPerSecond: img.mirroring?.description.entriesPerSecond,
                }).seconds,
        };
      }),
    );
    return {
      mode,
      checks,
      canProceed: !checks.some((c) => c.status === 'block'),
      images,
      steps: mode === 'planned' ? [...PLANNED_STEPS] : [UNPLANNED_STEP],
      splitBrainRisk,
    };
  }

  /** Whether the other side's demotion snapshot is the newest here and copied completely (what a promote waits for). */
  async #demotionCopied(a: CephAdapter, pool: string, ns: string, image: string): Promise<boolean> {
    return promoteReadiness(await a.listImageSnapshots(pool, ns, image).catch(() => [])).ready;
  }

  /** Creation time of the newest complete non-primary mirror snapshot (the CLI prints it in the admin host's time zone, taken as UTC). */
  async #lastCopiedSnapshotAt(
    a: CephAdapter,
    pool: string,
    ns: string,
    image: string,
  ): Promise<number | null> {
    const snaps = await a.listImageSnapshots(pool, ns, image).catch(() => []);
    const copied = snaps.filter((s) => s.mirror && !s.mirror.primary && s.mirror.complete && s.timestamp);
    copied.sort((x, y) => (BigInt(x.id) < BigInt(y.id) ? -1 : 1));
    const ts = copied.at(-1)?.timestamp;
    if (!ts) return null;
    const ms = Date.parse(/(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})$/.test(ts) ? ts : `${ts} UTC`);
    return Number.isFinite(ms) ? ms : null;
  }

  /** The pool, namespace or image locked on one cluster (both clusters are locked). */
  #lock(siteId: number, scope: { pool: string; namespace?: string; image?: string }) {
    return cephLock(siteId, scope);
  }

  /**
   * Starts a failover. It asks both clusters again first (its plan), unless the caller hands it a
   * `plan` it made itself moments ago with both clusters asked (not a preview): a recovery plan's
   * run, whose start has just checked every object.
   */
  /** Records the run reports of failovers started on their own (set by the app). */
  objectRuns?: ObjectRuns;

  async failover(
    input: CephFailoverInput,
    opts: {
      confirm: string;
      unplanned?: boolean;
      confirmSplitBrain?: boolean;
      expectMode?: 'planned' | 'unplanned';
      plan?: CephFailoverPlan;
      report?: { reason?: string };
    },
    user: SessionUser,
  ) {
    const what = confirmWord(input);
    if (opts.confirm !== what) throw AppError.invalid('confirm', `type ${what} to confirm`);
    const plan = opts.plan ?? (await this.plan(input, { unplanned: opts.unplanned }));
    if (opts.expectMode && plan.mode !== opts.expectMode) {
      throw new AppError(
        'PRECONDITION_FAILED',
        plan.mode === 'unplanned'
          ? `${this.#name(input.fromSiteId)} stopped answering since the plan was shown: the failover would now be unplanned (force-promote, writes after the last copied snapshot lost). Review the new plan and confirm again`
          : `${this.#name(input.fromSiteId)} answers again: the failover would now be planned. Review the new plan and confirm again`,
      );
    }
    assertCanProceed(plan);
    if (plan.splitBrainRisk.length && !opts.confirmSplitBrain) {
      throw AppError.invalid(
        'confirmSplitBrain',
        `${this.sites.get(input.fromSiteId).name} answers and ${nameList(plan.splitBrainRisk)} ${plan.splitBrainRisk.length === 1 ? 'is' : 'are'} still primary there: a forced promote causes split-brain. Run the planned failover instead, or confirm the split-brain explicitly`,
      );
    }
    const params: FailoverParams = {
      fromSiteId: input.fromSiteId,
      toSiteId: input.toSiteId,
      pool: input.pool,
      namespace: input.namespace ?? '',
      image: input.image,
      mode: plan.mode,
      images: plan.images,
      splitBrainConfirmed: plan.splitBrainRisk.length ? plan.splitBrainRisk : undefined,
    };
    const task = this.tasks.startDurable({
      name: `${plan.mode === 'planned' ? 'Planned' : 'Unplanned'} failover of ${scopeText(input)}`,
      kind: 'ceph.failover',
      target: this.#lock(input.toSiteId, input),
      locks: [this.#lock(input.fromSiteId, input)],
      params,
      steps: plan.steps,
      username: user.username,
    });
    if (opts.report) {
      const item = {
        kind: 'rbd' as const,
        protectedSiteId: input.fromSiteId,
        recoverySiteId: input.toSiteId,
        pool: input.pool,
        namespace: input.namespace ?? '',
        image: input.image,
        group: 1,
        dependsOn: [],
      };
      this.objectRuns?.record(task, {
        objectKey: objectKey(item),
        objectKind: 'rbd',
        label: itemLabel(item, { site: (id) => this.#name(id), replica: () => '' }),
        kind: plan.mode === 'planned' ? 'planned' : 'disaster',
        reason: opts.report.reason,
        username: user.username,
        prechecks: { mode: plan.mode, checks: plan.checks, images: plan.images.length },
      });
    }
    return task;
  }

  /** The failover's run, rebuilt from its stored params (also on resume). Every step checks the real state first. */
  async #runFailover(ctx: TaskContext, p: FailoverParams) {
    const to = this.mirroring.adapter(p.toSiteId);
    const names = p.images.map((i) => i.name);
    ctx.progress(0, names.length * (p.mode === 'planned' ? 2 : 1));
    let done = 0;
    if (p.mode === 'planned') {
      const from = this.mirroring.adapter(p.fromSiteId);
      await this.#switchPrimary(
        ctx,
        { adapter: from, name: this.#name(p.fromSiteId), step: PLANNED_STEPS[0] },
        { adapter: to, name: this.#name(p.toSiteId), step: PLANNED_STEPS[1] },
        p.pool,
        p.namespace,
        names,
        () => ctx.progress(++done),
      );
    } else {
      await ctx.step(UNPLANNED_STEP, async () => {
        if (p.splitBrainConfirmed?.length)
          ctx.log(
            `split-brain confirmed: ${p.splitBrainConfirmed.join(', ')} stay${p.splitBrainConfirmed.length === 1 ? 's' : ''} primary on ${this.#name(p.fromSiteId)} too; resolve it with a failback (demote and resync the stale side)`,
            'warn',
          );
        for (const n of names) {
          if ((await to.getImageInfo(p.pool, p.namespace, n)).mirroring.primary === true) {
            ctx.log(`${n} is already primary on ${this.#name(p.toSiteId)}: not promoted again`);
          } else {
            await this.#forcePromote(ctx, to, p.pool, p.namespace, n);
            const at = p.images.find((i) => i.name === n)?.lastSyncedAt;
            ctx.log(
              `force-promoted ${n}; writes on the old primary after ${at ? new Date(at).toISOString() : 'its last copied snapshot (unknown)'} are not here`,
              'warn',
            );
          }
          ctx.progress(++done);
        }
      });
    }
    return { mode: p.mode, images: p.images };
  }

  /**
   * Undoes a planned failover cut off before its promote started: every image demoted on the old
   * primary is promoted there again (none is primary on the other side, which is checked first).
   */
  async #rollbackFailover(ctx: TaskContext, p: FailoverParams) {
    const [from, to] = [this.mirroring.adapter(p.fromSiteId), this.mirroring.adapter(p.toSiteId)];
    const step = rollbackStep(this.#name(p.fromSiteId));
    await ctx.step(step, async () => {
      for (const { name: n } of p.images) {
        if ((await to.getImageInfo(p.pool, p.namespace, n)).mirroring.primary === true)
          throw new AppError(
            'CONFLICT',
            `${n} is primary on ${this.#name(p.toSiteId)}: the failover went further than its steps say; resume it instead`,
          );
        if ((await from.getImageInfo(p.pool, p.namespace, n)).mirroring.primary === true) {
          ctx.log(`${n} is primary on ${this.#name(p.fromSiteId)}: nothing to undo`);
          continue;
        }
        await this.#promoteBack(from, p.pool, p.namespace, n);
        ctx.log(`${n} is primary on ${this.#name(p.fromSiteId)} again`);
      }
    });
  }

  /**
   * Promotes an image again on the cluster that demoted it, the other side being non-primary. A
   * plain promote is tried first; Ceph may refuse it (the newest snapshot is the demotion), and
   * then the forced one cannot split the brain because no other side is primary.
   */
  async #promoteBack(a: CephAdapter, pool: string, ns: string, image: string) {
    try {
      await a.promoteImage(pool, ns, image);
    } catch (e) {
      if (e instanceof AppError && /already primary/.test(e.message)) return;
      await a.promoteImage(pool, ns, image, { force: true });
    }
  }

  #name(siteId: number): string {
    try {
      return this.sites.get(siteId).name;
    } catch {
      return `cluster #${siteId}`;
    }
  }

  /**
   * Promotes once the other side's demotion has arrived (promoting earlier can succeed and split
   * the brain), retrying about once a second on Ceph's transient refusals (read-only, busy) until
   * the timeout. Snapshot mode: the demotion snapshot is copied completely. Journal mode: the
   * replayer has replayed the demotion and stopped (`up+stopped`, then `remote image is not
   * primary` once it looked again); a promote accepted before that (Ceph accepts it as soon as the
   * demotion tag is seen) leaves the old primary in split-brain.
   */
  async #promoteWithRetry(
    ctx: TaskContext,
    a: CephAdapter,
    pool: string,
    ns: string,
    image: string,
    mode: string | null,
  ): Promise<number> {
    const started = this.clock.now();
    let why = '';
    for (let attempt = 1; ; attempt++) {
      if (this.clock.now() - started > this.promoteTimeoutMs)
        throw new AppError(
          'TIMEOUT',
          `${image} could not be promoted within ${this.promoteTimeoutMs / 1000} s: ${why}`,
        );
      const readiness =
        mode === 'journal'
          ? await this.#journalReadiness(a, pool, ns, image)
          : await a
              .listImageSnapshots(pool, ns, image)
              .then(promoteReadiness, (e) => ({ ready: false, reason: errorMessage(e) }));
      if (readiness.ready) {
        try {
          await a.promoteImage(pool, ns, image);
          return this.clock.now() - started;
        } catch (e) {
          if (!isRetryableCephError(e)) throw e;
          why = errorMessage(e);
        }
      } else why = readiness.reason;
      if (attempt === 1 || attempt % 10 === 0) ctx.log(`waiting to promote ${image}: ${why}`);
      await this.clock.sleep(1000, ctx.signal);
    }
  }

  /**
   * `promote --force`, retried about once a second on Ceph's transient refusals until the promote
   * timeout: a non-primary image whose local rbd-mirror was copying a snapshot when the primary
   * site went answers `Read-only file system` (or busy) until the replayer lets go of it.
   */
  async #forcePromote(
    ctx: TaskContext,
    a: CephAdapter,
    pool: string,
    ns: string,
    image: string,
  ): Promise<void> {
    const started = this.clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        await a.promoteImage(pool, ns, image, { force: true });
        return;
      } catch (e) {
        if (!isRetryableCephError(e)) throw e;
        if (this.clock.now() - started > this.promoteTimeoutMs)
          throw new AppError(
            'TIMEOUT',
            `${image} could not be force-promoted within ${this.promoteTimeoutMs / 1000} s: ${errorMessage(e)}`,
          );
        if (attempt === 1 || attempt % 10 === 0)
          ctx.log(`waiting to force-promote ${image}: ${errorMessage(e)}`);
      }
      await this.clock.sleep(1000, ctx.signal);
    }
  }

  async #journalReadiness(
    a: CephAdapter,
    pool: string,
    ns: string,
    image: string,
  ): Promise<{ ready: boolean; reason: string }> {
    return a
      .getImageMirrorStatus(pool, ns, image)
      .then(journalDemotionReplayed, (e) => ({ ready: false, reason: errorMessage(e) }));
  }

  /** Failovers, resyncs and failbacks that stopped (a crash, a restart, a failed step) and can be resumed, newest first. */
  unfinished() {
    return this.tasks.unfinished(CEPH_DURABLE_KINDS).map((t) => ({
      id: t.id,
      name: t.name,
      kind: t.kind,
      state: t.state,
      error: t.error,
      lastCompletedStep: t.lastCompletedStep,
      finishedAt: t.finishedAt,
    }));
  }

  /** Deletes a protective copy a resync kept; refuses any other image. */
  async removeKeptCopy(
    ref: { siteId: number; pool: string; namespace?: string; image: string; confirm: string },
    user: SessionUser,
  ) {
    const { confirm } = ref;
    const kept = keptCopyOf(ref.image);
    if (!kept)
      throw AppError.invalid(
        'image',
        `${ref.image} is not a protective copy kept by a resync (<image>-diverged-<UTC time>); delete other images with rbd`,
      );
    if (confirm !== ref.image) throw AppError.invalid('confirm', `type ${ref.image} to confirm`);
    const a = this.mirroring.adapter(ref.siteId);
    const ns = ref.namespace ?? '';
    const info = await a.getImageInfo(ref.pool, ns, ref.image);
    if (info.mirroring.state === 'enabled')
      throw new AppError(
        'PRECONDITION_FAILED',
        `${ref.image} has mirroring enabled: it is in use as a mirrored image, not a kept copy`,
      );
    return this.tasks.start({
      name: `Delete the kept copy ${ref.image} (of ${kept.image}, ${kept.stamp}) on ${this.#name(ref.siteId)}`,
      kind: 'ceph.keptCopy.remove',
      target: this.#lock(ref.siteId, { pool: ref.pool, namespace: ns, image: ref.image }),
      params: { siteId: ref.siteId, pool: ref.pool, namespace: ns, image: ref.image },
      username: user.username,
      run: async (ctx) => {
        await ctx.step('Delete the image', () => a.removeImage(ref.pool, ns, ref.image));
      },
    });
  }

  /** What a resync (or failback) will do: the images to resync and the protective copy kept of each. */
  async resyncPlan(input: ResyncInput): Promise<{
    images: { name: string; primary: boolean | null; state: string; keepAs: string }[];
    steps: string[];
  }> {
    const ns = input.namespace ?? '';
    const stale = this.mirroring.adapter(input.staleSiteId);
    const imgs = await this.mirroring.reach.watch(input.staleSiteId, () =>
      this.#images(stale, input.pool, ns, input.image),
    );
    const at = utcStamp(this.clock.now());
    return {
      images: imgs.map((i) => ({
        name: i.name,
        primary: i.mirroring!.primary,
        state: i.mirroring!.rawState,
        keepAs: keptCopyName(i.name, at),
      })),
      steps: resyncSteps(
        this.#name(input.staleSiteId),
        this.#name(input.goodSiteId),
        input.failBack === true,
      ),
    };
  }

  /**
   * Failback / split-brain resolution: the stale side (`staleSiteId`) is demoted and resynced
   * from the other, which keeps its writes. The stale side's image is first copied in full to
   * `<image>-diverged-<UTC time>` in the same pool (listed as a kept copy until deleted), so that
   * the writes a resync discards are not lost. With `failBack`, a planned failover back to the
   * resynced side follows once it replays.
   */
  async resync(input: ResyncInput, opts: { confirm: string; failBack?: boolean }, user: SessionUser) {
    const what = confirmWord(input);
    if (opts.confirm !== what) throw AppError.invalid('confirm', `type ${what} to confirm`);
    const ns = input.namespace ?? '';
    if (input.staleSiteId === input.goodSiteId)
      throw AppError.invalid('goodSiteId', 'choose two different clusters');
    const stale = this.mirroring.adapter(input.staleSiteId);
    const imgs = await this.#images(stale, input.pool, ns, input.image);
    const staleName = this.#name(input.staleSiteId);
    const goodName = this.#name(input.goodSiteId);
    const at = utcStamp(this.clock.now());
    const params: ResyncParams = {
      staleSiteId: input.staleSiteId,
      goodSiteId: input.goodSiteId,
      pool: input.pool,
      namespace: ns,
      image: input.image,
      failBack: opts.failBack === true,
      images: imgs.map((i) => i.name),
      keptCopies: imgs.map((i) => keptCopyName(i.name, at)),
    };
    return this.tasks.startDurable({
      name: `${opts.failBack ? 'Fail back' : 'Resync'} ${scopeText(input)} ${opts.failBack ? `to ${staleName} after a resync from ${goodName}` : `on ${staleName} from ${goodName}`}`,
      kind: opts.failBack ? 'ceph.failback' : 'ceph.resync',
      target: this.#lock(input.staleSiteId, input),
      locks: [this.#lock(input.goodSiteId, input)],
      params,
      steps: resyncSteps(staleName, goodName, params.failBack),
      username: user.username,
    });
  }

  async #runResync(ctx: TaskContext, p: ResyncParams) {
    const stale = this.mirroring.adapter(p.staleSiteId);
    const [staleName, goodName] = [this.#name(p.staleSiteId), this.#name(p.goodSiteId)];
    const steps = resyncSteps(staleName, goodName, p.failBack);
    const { pool, namespace: ns } = p;
    ctx.progress(0, p.images.length * steps.length);
    let done = 0;
    await ctx.step(steps[0]!, async () => {
      for (const n of p.images) {
        if ((await stale.getImageInfo(pool, ns, n)).mirroring.primary === true) {
          await stale.demoteImage(pool, ns, n);
          ctx.log(`demoted ${n} on ${staleName}`);
        } else ctx.log(`${n} is already non-primary on ${staleName}`);
        ctx.progress(++done);
      }
    });
    await ctx.step(steps[1]!, async () => {
      for (const [i, n] of p.images.entries()) {
        await this.#keepCopy(ctx, stale, pool, ns, n, p.keptCopies[i]!, staleName);
        ctx.progress(++done);
      }
      return { keptCopies: p.keptCopies };
    });
    await ctx.step(steps[2]!, async () => {
      for (const [i, n] of p.images.entries()) {
        try {
          await stale.resyncImage(pool, ns, n);
        } catch (e) {
          // Asked again after a crash: rbd-mirror may already have removed the image to copy it anew.
          if (!(e instanceof AppError && e.code === 'NOT_FOUND')) throw e;
          ctx.log(`${n} is being recreated on ${staleName} (resync already under way)`);
        }
        ctx.log(
          `resync of ${n} requested; ${staleName}'s writes that ${goodName} does not have are discarded there (kept in ${p.keptCopies[i]})`,
          'warn',
        );
        ctx.progress(++done);
      }
    });
    await ctx.step(steps[3]!, async () => {
      const deadline = this.clock.now() + 15 * 60_000;
      for (const n of p.images) {
        for (;;) {
          const s = await stale.getImageMirrorStatus(pool, ns, n).catch(() => null);
          if (
            s &&
            s.state === 'replaying' &&
            !s.description.splitBrain &&
            s.description.replayState !== 'syncing'
          )
            break;
          if (this.clock.now() > deadline)
            throw new AppError(
              'TIMEOUT',
              `${n} is not replaying after 15 min (last state ${s?.rawState ?? 'unknown'})`,
            );
          await this.clock.sleep(2000, ctx.signal);
        }
        ctx.progress(++done);
      }
    });
    if (!p.failBack) return { keptCopies: p.keptCopies };
    const good = { adapter: this.mirroring.adapter(p.goodSiteId), name: goodName, step: steps[4]! };
    await this.#switchPrimary(
      ctx,
      good,
      { adapter: stale, name: staleName, step: steps[5]! },
      pool,
      ns,
      p.images,
      () => ctx.progress(++done),
    );
    return { keptCopies: p.keptCopies };
  }

  /**
   * Copies `image` on the stale side to `keepAs` before a resync discards it. Idempotent: the copy
   * is made under a temporary name and renamed when complete, so a copy found under `keepAs` is
   * whole, and a partial one left by a crash is removed and made again.
   */
  async #keepCopy(
    ctx: TaskContext,
    a: CephAdapter,
    pool: string,
    ns: string,
    image: string,
    keepAs: string,
    siteName: string,
  ) {
    const partial = `${keepAs}-partial`;
    const exists = (n: string) =>
      a.getImageInfo(pool, ns, n).then(
        () => true,
        (e) => (e instanceof AppError && e.code === 'NOT_FOUND' ? false : Promise.reject(e)),
      );
    if (await exists(keepAs)) {
      ctx.log(`${keepAs} is already kept on ${siteName}`);
      return;
    }
    if (await exists(partial)) {
      ctx.log(`removing the incomplete copy ${partial} left by an interrupted attempt`);
      await a.removeImage(pool, ns, partial);
    }
    const info = await a.getImageInfo(pool, ns, image);
    // Without journaling: in a pool-mode pool an image with journaling is mirrored at once.
    await a.copyImage(pool, ns, image, partial, {
      features: info.features.filter((f) => COPY_FEATURES.includes(f)),
    });
    await a.renameImage(pool, ns, partial, keepAs);
    ctx.log(
      `kept a copy of ${image} as it was on ${siteName}: ${keepAs} (delete it from the Ceph page when it is no longer needed)`,
      'warn',
    );
  }

  /**
   * A planned switch: demote every image on `from`, then promote each on `to` once its demotion
   * has arrived. Idempotent per image, so that a switch cut off half-way can be run again: an image
   * already non-primary on `from` is not demoted again, one already primary on `to` is not
   * promoted again, and one primary on `from` again (restored after a failed promote) is demoted
   * again first. When a promote fails, every image not yet promoted is made primary on `from`
   * again, so that no image is left without a primary.
   */
  async #switchPrimary(
    ctx: TaskContext,
    from: Side,
    to: Side,
    pool: string,
    ns: string,
    names: string[],
    tick: () => void,
  ) {
    await ctx.step(from.step, async () => {
      for (const n of names) {
        if ((await from.adapter.getImageInfo(pool, ns, n)).mirroring.primary === false) {
          ctx.log(`${n} is already non-primary on ${from.name}: not demoted again`);
        } else {
          await from.adapter.demoteImage(pool, ns, n);
          ctx.log(`demoted ${n} on ${from.name}`);
        }
        tick();
      }
    });
    await ctx.step(to.step, async () => {
      const pending = [...names];
      try {
        while (pending.length) {
          const n = pending[0]!;
          const info = await to.adapter.getImageInfo(pool, ns, n);
          if (info.mirroring.primary === true) {
            ctx.log(`${n} is already primary on ${to.name}: not promoted again`);
          } else {
            if ((await from.adapter.getImageInfo(pool, ns, n)).mirroring.primary === true) {
              await from.adapter.demoteImage(pool, ns, n);
              ctx.log(
                `${n} was primary on ${from.name} again (restored after a failed promote): demoted it again`,
              );
            }
            const ms = await this.#promoteWithRetry(ctx, to.adapter, pool, ns, n, info.mirroring.mode);
            ctx.log(`promoted ${n} on ${to.name} after ${ms} ms`);
          }
          pending.shift();
          tick();
        }
      } catch (e) {
        const restored: string[] = [];
        for (const n of pending) {
          try {
            if ((await to.adapter.getImageInfo(pool, ns, n)).mirroring.primary === true) continue;
            await this.#promoteBack(from.adapter, pool, ns, n);
            restored.push(n);
          } catch (re) {
            ctx.log(`could not make ${n} primary on ${from.name} again: ${errorMessage(re)}`, 'error');
          }
        }
        if (restored.length)
          ctx.log(
            `the promote failed: ${restored.join(', ')} ${restored.length === 1 ? 'is' : 'are'} primary on ${from.name} again`,
            'warn',
          );
        throw e;
      }
    });
  }
}

/**
 * Journal mode: whether the non-primary side has replayed the other side's demotion. Its replayer
 * stops once it has (`up+stopped`), then starts again and finds the remote not primary; before
 * the demotion it keeps replaying, even from a demoted remote. A promote Ceph accepts earlier (as
 * soon as the demotion tag is seen) leaves the old primary in split-brain.
 */
export function journalDemotionReplayed(
  s: Pick<ImageMirrorStatus, 'daemonUp' | 'state' | 'rawState' | 'rawDescription'>,
): { ready: boolean; reason: string } {
  if (s.daemonUp && (s.state === 'stopped' || /remote image is not primary/.test(s.rawDescription)))
    return { ready: true, reason: 'the demotion has been replayed' };
  return {
    ready: false,
    reason: `the demotion has not been replayed here yet (${s.rawState}${s.rawDescription ? `: ${s.rawDescription.slice(0, 160)}` : ''})`,
  };
}

/** Features a protective copy keeps (journaling would make a pool-mode pool mirror the copy). */
const COPY_FEATURES = ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'];

const CEPH_DURABLE_KINDS = ['ceph.failover', 'ceph.resync', 'ceph.failback'];

export const PLANNED_STEPS = ['Demote on the primary cluster', 'Wait for the demotion and promote'] as const;
export const UNPLANNED_STEP = 'Force-promote on the surviving cluster';
const rollbackStep = (fromName: string) => `Promote again on ${fromName}`;

/** Steps of a resync, and of a failback (a resync followed by the planned switch back). */
export function resyncSteps(staleName: string, goodName: string, failBack: boolean): string[] {
  const base = ['Demote the stale side', 'Keep a protective copy', 'Request resync', 'Wait until replaying'];
  return failBack
    ? [...base, `Demote on ${goodName}`, `Wait for the demotion and promote on ${staleName}`]
    : base;
}

/** `20261203T142233Z`: the UTC time in kept copies' names. */
export function utcStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
}

/** The name of the protective copy of `image` kept before a resync at `stamp`. */
export function keptCopyName(image: string, stamp: string): string {
  return `${image}-diverged-${stamp}`;
}

export { keptCopyOf };

/** What the operator types to confirm: the image, else the namespace as pool/namespace, else the pool. */
export function confirmWord(input: { pool: string; namespace?: string; image?: string }): string {
  return input.image ?? (input.namespace ? `${input.pool}/${input.namespace}` : input.pool);
}

function scopeText(input: { pool: string; namespace?: string; image?: string }): string {
  return input.image
    ? `image ${input.image}`
    : input.namespace
      ? `namespace ${input.pool}/${input.namespace}`
      : `pool ${input.pool}`;
}
