import { isRetryableCephError } from '../../adapters/ceph/errors';
import { promoteReadiness } from '../../adapters/ceph/parse';
import type { CephAdapter, ImageSummary } from '../../adapters/ceph/types';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../clock';
import { AppError, errorMessage } from '../errors';
import type { Precheck } from '../replicas/failover';
import type { SiteService } from '../sites';
import { cephLock } from './locks';
import type { CephMirroring } from './mirroring';

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

/** One cluster in a planned switch, and the name of its task step. */
interface Side {
  adapter: CephAdapter;
  name: string;
  step: string;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), reject(new AppError('CANCELLED', 'cancelled'))), { once: true });
  });

/** Failover, failback and split-brain resolution for mirrored RBD images, as tasks. */
export class CephFailover {
  constructor(
    private readonly mirroring: CephMirroring,
    private readonly sites: SiteService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
    /** How long to keep retrying a promote while the demotion snapshot travels. */
    private readonly promoteTimeoutMs = 180_000,
  ) {}

  async #images(a: CephAdapter, pool: string, namespace: string, image?: string): Promise<ImageSummary[]> {
    const all = (await a.listImages(pool, namespace || undefined)).filter((i) => i.mirroring);
    if (!image) return all;
    const one = all.find((i) => i.name === image);
    if (!one) throw new AppError('NOT_FOUND', `image ${[pool, namespace, image].filter(Boolean).join('/')} is not mirrored on this cluster`);
    return [one];
  }

  /**
   * Pre-checks and the data-loss window. The clusters are asked in parallel, so that a cluster
   * that is gone costs one connect timeout. A `preview` (what the wizard shows while the operator
   * chooses) does not ask again a cluster found unreachable within the last minute: it says so at
   * once and asks again in the background. The failover itself always asks both clusters.
   */
  async plan(input: CephFailoverInput, opts: { unplanned?: boolean; preview?: boolean } = {}): Promise<CephFailoverPlan> {
    const ns = input.namespace ?? '';
    const checks: Precheck[] = [];
    const to = this.mirroring.adapter(input.toSiteId);
    const from = this.mirroring.adapter(input.fromSiteId);
    const reach = this.mirroring.reach;
    const ask = <T>(siteId: number, a: CephAdapter, fn: () => Promise<T>): Promise<T> => {
      const down = opts.preview ? reach.down(siteId) : null;
      if (!down) return reach.watch(siteId, fn);
      reach.recheck(siteId, () => a.probe());
      return Promise.reject(new AppError('UNREACHABLE', `${down.error} (found ${Math.max(0, Math.round((this.clock.now() - down.at) / 1000))} s ago; asking again)`));
    };
    const [listed, probe, daemonList, oldSide] = await Promise.allSettled([
      ask(input.toSiteId, to, () => this.#images(to, input.pool, ns, input.image)),
      ask(input.fromSiteId, from, () => from.probe()),
      ask(input.toSiteId, to, () => to.listMirrorDaemons()),
      ask(input.fromSiteId, from, () => from.listImages(input.pool, ns || undefined)),
    ]);
    // Whether each image is still primary on the old side (unknown when that cluster does not answer).
    const primaryThere = new Map(oldSide.status === 'fulfilled' ? oldSide.value.filter((i) => i.mirroring).map((i) => [i.name, i.mirroring!.primary]) : []);
    let secondary: ImageSummary[] = [];
    if (listed.status === 'fulfilled') {
      secondary = listed.value;
      checks.push({ id: 'to', label: 'Surviving cluster reachable', status: 'pass', message: `${secondary.length} mirrored image(s) in ${input.pool}` });
    } else {
      checks.push({ id: 'to', label: 'Surviving cluster reachable', status: 'block', message: errorMessage(listed.reason) });
    }
    const fromUp = probe.status === 'fulfilled';
    if (fromUp) {
      checks.push({ id: 'from', label: 'Primary cluster reachable', status: 'pass', message: 'planned failover: demote there, then promote here' });
    } else {
      checks.push({ id: 'from', label: 'Primary cluster reachable', status: 'warn', message: `unreachable (${errorMessage(probe.reason)}): unplanned failover by force-promoting the survivors` });
    }
    const mode = fromUp && !opts.unplanned ? 'planned' : 'unplanned';
    if (!secondary.length && checks[0]?.status === 'pass') checks.push({ id: 'images', label: 'Images', status: 'block', message: 'no mirrored image to fail over' });
    for (const img of secondary) {
      const m = img.mirroring!;
      // A planned failover cut off half-way is run again: an image already switched is left as it is.
      if (m.primary && mode === 'planned' && primaryThere.get(img.name) === false) checks.push({ id: `img-${img.name}`, label: `Image ${img.name}`, status: 'pass', message: 'already failed over (primary here, non-primary on the old side): left as it is' });
      else if (m.primary) checks.push({ id: `img-${img.name}`, label: `Image ${img.name}`, status: mode === 'planned' ? 'block' : 'warn', message: 'is already primary on the surviving cluster' });
      else if (m.description.splitBrain) checks.push({ id: `img-${img.name}`, label: `Image ${img.name}`, status: 'block', message: 'split-brain: resolve it with a failback (demote and resync the stale side) first' });
      else if (m.state !== 'replaying' && mode === 'planned' && primaryThere.get(img.name) === false && (await this.#demotionCopied(to, input.pool, ns, img.name)))
        checks.push({ id: `img-${img.name}`, label: `Image ${img.name}`, status: 'pass', message: `already demoted on the old side and its demotion snapshot copied here (${m.rawState}): only promoted` });
      else if (m.state !== 'replaying' && mode === 'planned') checks.push({ id: `img-${img.name}`, label: `Image ${img.name}`, status: 'block', message: `is ${m.rawState}, not replaying; a planned failover would wait forever for the demotion snapshot` });
      else checks.push({ id: `img-${img.name}`, label: `Image ${img.name}`, status: 'pass', message: m.rawState });
    }
    const splitBrainRisk = mode === 'unplanned' && fromUp ? secondary.filter((i) => !i.mirroring!.primary && primaryThere.get(i.name) !== false).map((i) => i.name) : [];
    if (splitBrainRisk.length) {
      checks.push({
        id: 'split-brain',
        label: 'Split-brain',
        status: 'warn',
        message: `the primary cluster answers and ${splitBrainRisk.join(', ')} ${splitBrainRisk.length === 1 ? 'is' : 'are'} still primary there: a force-promote makes both sides primary (split-brain, writes on both are kept apart until a resync discards one side's). Prefer the planned failover; an unplanned one needs the split-brain confirmed explicitly`,
      });
    }
    if (daemonList.status === 'fulfilled') {
      const daemons = daemonList.value;
      const bad = daemons.filter((d) => d.health !== 'OK');
      checks.push(
        daemons.length === 0
          ? { id: 'daemon', label: 'rbd-mirror on the surviving cluster', status: mode === 'planned' ? 'block' : 'warn', message: 'no rbd-mirror daemon reports; nothing would copy the demotion snapshot' }
          : { id: 'daemon', label: 'rbd-mirror on the surviving cluster', status: bad.length ? 'warn' : 'pass', message: bad.length ? `${bad.map((d) => `${d.daemonId}: ${d.health}`).join(', ')}` : `${daemons.length} daemon(s) healthy` },
      );
    } else {
      checks.push({ id: 'daemon', label: 'rbd-mirror on the surviving cluster', status: 'warn', message: errorMessage(daemonList.reason) });
    }
    const busy = this.tasks.holder(this.#lock(input.toSiteId, input)) ?? this.tasks.holder(this.#lock(input.fromSiteId, input));
    checks.push(busy ? { id: 'tasks', label: 'Pending tasks', status: 'block', message: `task #${busy.id} "${busy.name}" is ${busy.state}` } : { id: 'tasks', label: 'Pending tasks', status: 'pass', message: 'none' });
    const now = this.clock.now();
    const images = await Promise.all(
      secondary.map(async (img) => {
        // The status has the time only once rbd-mirror has reported a sync since it (re)started
        // replaying; until then the newest completely copied mirror snapshot tells it.
        const fromStatus = img.mirroring?.description.localSnapshotTimestamp;
        const at = fromStatus ? fromStatus * 1000 : await this.#lastCopiedSnapshotAt(to, input.pool, ns, img.name);
        return {
          name: img.name,
          lastSyncedAt: at,
          dataLossWindowSec: mode === 'planned' ? 0 : at !== null ? Math.max(0, Math.round((now - at) / 1000)) : null,
        };
      }),
    );
    return {
      mode,
      checks,
      canProceed: !checks.some((c) => c.status === 'block'),
      images,
      steps: mode === 'planned' ? ['Demote on the primary cluster', 'Wait for the demotion snapshot and promote'] : ['Force-promote on the surviving cluster'],
      splitBrainRisk,
    };
  }

  /** Whether the other side's demotion snapshot is the newest here and copied completely (what a promote waits for). */
  async #demotionCopied(a: CephAdapter, pool: string, ns: string, image: string): Promise<boolean> {
    return promoteReadiness(await a.listImageSnapshots(pool, ns, image).catch(() => [])).ready;
  }

  /** Creation time of the newest complete non-primary mirror snapshot (the CLI prints it in the admin host's time zone, taken as UTC). */
  async #lastCopiedSnapshotAt(a: CephAdapter, pool: string, ns: string, image: string): Promise<number | null> {
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

  async failover(input: CephFailoverInput, opts: { confirm: string; unplanned?: boolean; confirmSplitBrain?: boolean }, user: SessionUser) {
    const what = confirmWord(input);
    if (opts.confirm !== what) throw AppError.invalid('confirm', `type ${what} to confirm`);
    const plan = await this.plan(input, { unplanned: opts.unplanned });
    if (!plan.canProceed) throw new AppError('PRECONDITION_FAILED', plan.checks.filter((c) => c.status === 'block').map((c) => `${c.label}: ${c.message}`).join('; '));
    if (plan.splitBrainRisk.length && !opts.confirmSplitBrain) {
      throw AppError.invalid(
        'confirmSplitBrain',
        `${this.sites.get(input.fromSiteId).name} answers and ${plan.splitBrainRisk.join(', ')} ${plan.splitBrainRisk.length === 1 ? 'is' : 'are'} still primary there: a forced promote causes split-brain. Run the planned failover instead, or confirm the split-brain explicitly`,
      );
    }
    const ns = input.namespace ?? '';
    const names = plan.images.map((i) => i.name);
    return this.tasks.start({
      name: `${plan.mode === 'planned' ? 'Planned' : 'Unplanned'} failover of ${scopeText(input)}`,
      kind: 'ceph.failover',
      target: this.#lock(input.toSiteId, input),
      locks: [this.#lock(input.fromSiteId, input)],
      params: { ...input, mode: plan.mode, images: plan.images, splitBrainConfirmed: plan.splitBrainRisk.length ? true : undefined },
      steps: plan.steps,
      username: user.username,
      run: async (ctx) => {
        const to = this.mirroring.adapter(input.toSiteId);
        ctx.progress(0, names.length * (plan.mode === 'planned' ? 2 : 1));
        let done = 0;
        if (plan.mode === 'planned') {
          const [from, fromName, toName] = [this.mirroring.adapter(input.fromSiteId), this.sites.get(input.fromSiteId).name, this.sites.get(input.toSiteId).name];
          await this.#switchPrimary(ctx, { adapter: from, name: fromName, step: plan.steps[0]! }, { adapter: to, name: toName, step: plan.steps[1]! }, input.pool, ns, names, () => ctx.progress(++done));
        } else {
          await ctx.step('Force-promote on the surviving cluster', async () => {
            if (plan.splitBrainRisk.length) ctx.log(`split-brain confirmed: ${plan.splitBrainRisk.join(', ')} stay${plan.splitBrainRisk.length === 1 ? 's' : ''} primary on ${this.sites.get(input.fromSiteId).name} too; resolve it with a failback (demote and resync the stale side)`, 'warn');
            for (const n of names) {
              await to.promoteImage(input.pool, ns, n, { force: true });
              ctx.log(`force-promoted ${n}; writes after ${new Date(plan.images.find((i) => i.name === n)?.lastSyncedAt ?? 0).toISOString()} on the old primary are not here`, 'warn');
              ctx.progress(++done);
            }
          });
        }
        return { mode: plan.mode, images: plan.images };
      },
    });
  }

  /**
   * Promotes only once the other side's demotion snapshot has been copied completely (promoting
   * earlier can succeed and split the brain), retrying about once a second on Ceph's transient
   * refusals (read-only, busy) until the timeout.
   */
  async #promoteWithRetry(ctx: TaskContext, a: CephAdapter, pool: string, ns: string, image: string): Promise<number> {
    const started = this.clock.now();
    let why = '';
    for (let attempt = 1; ; attempt++) {
      if (this.clock.now() - started > this.promoteTimeoutMs) throw new AppError('TIMEOUT', `${image} could not be promoted within ${this.promoteTimeoutMs / 1000} s: ${why}`);
      const readiness = await a.listImageSnapshots(pool, ns, image).then(promoteReadiness, (e) => ({ ready: false, reason: errorMessage(e) }));
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
      await sleep(1000, ctx.signal);
    }
  }

  /**
   * Failback / split-brain resolution: the stale side (`staleSiteId`) is demoted and resynced
   * from the other, which keeps its writes; the stale side's newer writes are discarded. With
   * `failBack`, a planned failover back to the resynced side follows once it replays.
   */
  async resync(input: { staleSiteId: number; goodSiteId: number; pool: string; namespace?: string; image?: string }, opts: { confirm: string; failBack?: boolean }, user: SessionUser) {
    const what = confirmWord(input);
    if (opts.confirm !== what) throw AppError.invalid('confirm', `type ${what} to confirm`);
    const ns = input.namespace ?? '';
    if (input.staleSiteId === input.goodSiteId) throw AppError.invalid('goodSiteId', 'choose two different clusters');
    const stale = this.mirroring.adapter(input.staleSiteId);
    const imgs = await this.#images(stale, input.pool, ns, input.image);
    const staleName = this.sites.get(input.staleSiteId).name;
    const goodName = this.sites.get(input.goodSiteId).name;
    const backSteps = opts.failBack ? [`Demote on ${goodName}`, `Wait for the demotion snapshot and promote on ${staleName}`] : [];
    return this.tasks.start({
      name: `${opts.failBack ? 'Fail back' : 'Resync'} ${scopeText(input)} ${opts.failBack ? `to ${staleName} after a resync from ${goodName}` : `on ${staleName} from ${goodName}`}`,
      kind: opts.failBack ? 'ceph.failback' : 'ceph.resync',
      target: this.#lock(input.staleSiteId, input),
      locks: [this.#lock(input.goodSiteId, input)],
      params: { ...input, failBack: opts.failBack === true, images: imgs.map((i) => i.name) },
      steps: ['Demote the stale side', 'Request resync', 'Wait until replaying', ...backSteps],
      username: user.username,
      run: async (ctx) => {
        ctx.progress(0, imgs.length * (3 + backSteps.length));
        let done = 0;
        await ctx.step('Demote the stale side', async () => {
          for (const i of imgs) {
            if (i.mirroring?.primary) await stale.demoteImage(input.pool, ns, i.name);
            ctx.progress(++done);
          }
        });
        await ctx.step('Request resync', async () => {
          for (const i of imgs) {
            await stale.resyncImage(input.pool, ns, i.name);
            ctx.log(`resync of ${i.name} requested; its local writes after the split are discarded`, 'warn');
            ctx.progress(++done);
          }
        });
        await ctx.step('Wait until replaying', async () => {
          const deadline = this.clock.now() + 15 * 60_000;
          for (const i of imgs) {
            for (;;) {
              const s = await stale.getImageMirrorStatus(input.pool, ns, i.name).catch(() => null);
              if (s && s.state === 'replaying' && !s.description.splitBrain && s.description.replayState !== 'syncing') break;
              if (this.clock.now() > deadline) throw new AppError('TIMEOUT', `${i.name} is not replaying after 15 min (last state ${s?.rawState ?? 'unknown'})`);
              await sleep(2000, ctx.signal);
            }
            ctx.progress(++done);
          }
        });
        if (!opts.failBack) return;
        const good = { adapter: this.mirroring.adapter(input.goodSiteId), name: goodName, step: backSteps[0]! };
        await this.#switchPrimary(ctx, good, { adapter: stale, name: staleName, step: backSteps[1]! }, input.pool, ns, imgs.map((i) => i.name), () => ctx.progress(++done));
      },
    });
  }

  /**
   * A planned switch: demote every image on `from`, then promote each on `to` once its demotion
   * snapshot has arrived. Idempotent per image, so that a switch cut off half-way can be run again:
   * an image already non-primary on `from` is not demoted again, one already primary on `to` (and
   * not on `from`) is not promoted again.
   */
  async #switchPrimary(ctx: TaskContext, from: Side, to: Side, pool: string, ns: string, names: string[], tick: () => void) {
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
    // Every image is non-primary on `from` now.
    await ctx.step(to.step, async () => {
      for (const n of names) {
        if ((await to.adapter.getImageInfo(pool, ns, n)).mirroring.primary === true) {
          ctx.log(`${n} is already primary on ${to.name}: not promoted again`);
          tick();
          continue;
        }
        const ms = await this.#promoteWithRetry(ctx, to.adapter, pool, ns, n);
        ctx.log(`promoted ${n} on ${to.name} after ${ms} ms`);
        tick();
      }
    });
  }
}

/** What the operator types to confirm: the image, else the namespace as pool/namespace, else the pool. */
export function confirmWord(input: { pool: string; namespace?: string; image?: string }): string {
  return input.image ?? (input.namespace ? `${input.pool}/${input.namespace}` : input.pool);
}

function scopeText(input: { pool: string; namespace?: string; image?: string }): string {
  return input.image ? `image ${input.image}` : input.namespace ? `namespace ${input.pool}/${input.namespace}` : `pool ${input.pool}`;
}
