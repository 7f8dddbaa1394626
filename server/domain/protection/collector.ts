import type { CephMirroring } from '../ceph/mirroring';
import type { Clock } from '../../core/clock';
import { errorMessage } from '../../core/errors';
import type { SiteService } from '../sites';
import { ProtectionSamples, type SampleInput } from './samples';
import type { ProtectedObject } from './types';

export const DEFAULT_COLLECT_INTERVAL_MS = 60_000;
/** The span of raw samples one compaction step folds at most (3 buckets of 5 minutes). */
export const COMPACT_STEP_MS = 15 * 60_000;

export interface CollectResult {
  at: number;
  /** Ceph clusters refreshed, and the CLI calls each refresh took (0 when its answer was not new). */
  clusters: { siteId: number; state: string; cliCalls: number }[];
  samples: number;
  compacted: { folded: number; buckets: number; expired: number; steps: number };
  ms: number;
}

/**
 * Samples every protected object on an interval: one status refresh per Ceph cluster (the
 * status's O(pools) CLI calls, as the Ceph page's), so that the stored state the protected objects
 * are computed from is fresh, then one raw sample per object (data-loss window, throughput, sync
 * duration) and the compaction of old samples. VM replicas are not asked anything: their state is
 * what their syncs stored.
 */
export class ProtectionCollector {
  #timer: ReturnType<typeof setInterval> | null = null;
  #running: Promise<CollectResult> | null = null;
  /** Called with a failed collect's error (console.warn by default). */
  onError: (e: unknown) => void = (e) =>
    console.warn(`[tandem] protection collect failed: ${errorMessage(e)}`);

  constructor(
    readonly samples: ProtectionSamples,
    private readonly deps: {
      clock: Clock;
      sites: Pick<SiteService, 'list'>;
      ceph: Pick<CephMirroring, 'status'>;
      /** Every protected (and unprotected) object from stored state. */
      objects: () => Promise<ProtectedObject[]>;
      /** Forgets objects computed before the refresh, so that the samples are computed from it. */
      invalidate?: () => void;
    },
  ) {}

  /** How long a collect waits for a cluster before using its last answer. */
  get waitMs(): number {
    return Math.min(
      20_000,
      Math.max(1_000, Math.floor((this.#intervalMs ?? DEFAULT_COLLECT_INTERVAL_MS) / 2)),
    );
  }
  #intervalMs: number | null = null;

  /**
   * One collect. Clusters are refreshed one after the other: a status also asks the other
   * clusters (for the split-brain check), and `freshSince` lets the next clusters use those answers
   * instead of asking again, so each cluster is asked once.
   */
  async collect(now: number = this.deps.clock.now()): Promise<CollectResult> {
    const started = performance.now();
    const since = this.deps.clock.now();
    const clusters: CollectResult['clusters'] = [];
    for (const site of this.deps.sites.list().filter((s) => s.kind === 'ceph')) {
      try {
        const v = await this.deps.ceph.status(site.id, { waitMs: this.waitMs, freshSince: since });
        clusters.push({
          siteId: site.id,
          state: v.state,
          cliCalls: v.askedAt === null && v.at !== null && v.at >= since ? v.cliCalls : 0,
        });
      } catch (e) {
        clusters.push({ siteId: site.id, state: `failed: ${errorMessage(e)}`, cliCalls: 0 });
      }
    }
    this.deps.invalidate?.();
    const objects = await this.deps.objects();
    const rows: SampleInput[] = objects
      .filter((o) => o.kind !== 'vm' && o.health !== 'unprotected')
      .map((o) => ({
        subject: o.subject,
        windowSec: o.windowSec,
        bytesPerSecond: o.bytesPerSecond,
        syncSeconds: o.syncSeconds,
      }));
    const samples = this.samples.record(rows, now);
    const compacted = await this.compact(now);
    return { at: now, clusters, samples, compacted, ms: performance.now() - started };
  }

  /**
   * Compaction in steps of at most COMPACT_STEP_MS of raw samples, each one transaction, letting
   * other work run between them (a day's backlog of 1,000 objects would otherwise hold the
   * database for seconds).
   */
  async compact(now: number): Promise<{ folded: number; buckets: number; expired: number; steps: number }> {
    const total = { folded: 0, buckets: 0, expired: 0, steps: 0 };
    for (;;) {
      const r = this.samples.compact(now, { maxSpanMs: COMPACT_STEP_MS });
      total.folded += r.folded;
      total.buckets += r.buckets;
      total.expired += r.expired;
      total.steps++;
      if (!r.more) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The chart series of one object, with its RPO (null when the object is not known now). */
  async series(subject: string, range: { from: number; to: number }) {
    const obj = (await this.deps.objects()).find((o) => o.subject === subject);
    return {
      ...this.samples.series(subject, range, obj?.rpoSec ?? null),
      name: obj?.name ?? null,
      kind: obj?.kind ?? null,
      href: obj?.href ?? null,
    };
  }

  /** Collects every `intervalMs` (the first at once); a collect still running skips the next tick. */
  start(intervalMs = Number(process.env.TANDEM_COLLECT_INTERVAL_MS) || DEFAULT_COLLECT_INTERVAL_MS): void {
    this.stop();
    this.#intervalMs = intervalMs;
    const tick = () => {
      if (this.#running) return;
      this.#running = this.collect();
      this.#running.catch(this.onError).finally(() => (this.#running = null));
    };
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref?.();
    tick();
  }

  /** Stops the interval; resolves when a collect under way has ended. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#running?.catch(() => {});
  }
}
