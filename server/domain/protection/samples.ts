import { and, asc, eq, gte, inArray, isNotNull, lte, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { protectionSamples, syncRuns } from '../../db/schema';
import type { Clock } from '../../core/clock';
import { AppError } from '../../core/errors';
import { getSetting, setSetting } from '../settings';

/**
 * The collected history of every protected object: raw samples (one per collect), folded into
 * 5-minute averages once older than the raw retention, and the series the charts draw.
 *
 * Indexes (server/db/schema.ts): `protection_samples_at_idx` (resolution, at) serves the fold and
 * the deletions (`resolution = ? AND at < ?`), `protection_samples_subject_idx` (subject,
 * resolution, at) the series of one object; `sync_runs_subject_idx` (subject, started_at) the runs.
 * tests/unit/protection-samples.test.ts checks the plans with EXPLAIN QUERY PLAN.
 */

export const FIVE_MIN_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** At most this many points per series (bucketed further when there are more). */
export const MAX_POINTS = 500;
/** Ranges up to this long are drawn from raw samples when they fit in MAX_POINTS. */
export const RAW_RANGE_MS = DAY_MS;
/** The longest range a series may span. */
export const MAX_RANGE_MS = 366 * DAY_MS;

export const RETENTION_KEY = 'protection.retention';

export const retentionSchema = z.object({
  rawHours: z
    .number({ error: 'a number of hours' })
    .int('whole hours')
    .min(1, 'at least 1 hour')
    .max(168, 'at most 7 days (168 hours)'),
  fiveMinDays: z
    .number({ error: 'a number of days' })
    .int('whole days')
    .min(1, 'at least 1 day')
    .max(365, 'at most 365 days'),
});
export type Retention = z.infer<typeof retentionSchema>;
export const DEFAULT_RETENTION: Retention = { rawHours: 24, fiveMinDays: 30 };

export interface SampleInput {
  subject: string;
  windowSec: number | null;
  bytesPerSecond: number | null;
  syncSeconds: number | null;
}

export interface SeriesPoint {
  /** Epoch ms: the sample's time, or the start of its bucket. */
  at: number;
  windowSec: number | null;
  bytesPerSecond: number | null;
  syncSeconds: number | null;
  /** Raw samples behind the point. */
  count: number;
}

export interface RunPoint {
  /** When the run (or the first run of the bucket) finished, epoch ms. */
  at: number;
  /** finishedAt − startedAt (the bucket's average). */
  durationSec: number;
  /** Bytes sent (the bucket's total); null when not known. */
  bytes: number | null;
  /** Runs behind the point, and how many of them failed. */
  runs: number;
  failed: number;
}

export interface Series {
  subject: string;
  from: number;
  to: number;
  /** `raw`: samples as collected; otherwise the width of the buckets averaged, in ms. */
  resolution: 'raw' | number;
  points: SeriesPoint[];
  /** Sync runs of a VM replica (empty for images). */
  runs: RunPoint[];
  rpoSec: number | null;
}

const round = (x: number | null) => (x === null ? null : Math.round(x));

/** The smallest "nice" bucket width (at least `min`) that puts `range` into at most MAX_POINTS buckets. */
export function bucketFor(rangeMs: number, minMs: number): number {
  const steps = [
    60_000,
    FIVE_MIN_MS,
    10 * 60_000,
    15 * 60_000,
    30 * 60_000,
    HOUR_MS,
    2 * HOUR_MS,
    3 * HOUR_MS,
    6 * HOUR_MS,
    12 * HOUR_MS,
    DAY_MS,
  ];
  for (const s of steps) if (s >= minMs && Math.ceil(rangeMs / s) <= MAX_POINTS) return s;
  return Math.ceil(rangeMs / MAX_POINTS / DAY_MS) * DAY_MS;
}

export class ProtectionSamples {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  retention(): Retention {
    const stored = retentionSchema.safeParse(getSetting(this.db, RETENTION_KEY));
    return stored.success ? stored.data : DEFAULT_RETENTION;
  }

  /** Validated again here: the domain refuses what the router's schema would. */
  setRetention(value: Retention): Retention {
    const parsed = retentionSchema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw AppError.invalid(String(issue.path[0] ?? 'retention'), issue.message);
    }
    if (parsed.data.fiveMinDays * DAY_MS < parsed.data.rawHours * HOUR_MS) {
      throw AppError.invalid(
        'fiveMinDays',
        `5-minute averages must be kept at least as long as raw samples (${parsed.data.rawHours} h)`,
      );
    }
    setSetting(this.db, RETENTION_KEY, parsed.data);
    return parsed.data;
  }

  /** Stores one raw sample per object, all at `at`, in one transaction. */
  record(samples: SampleInput[], at: number = this.clock.now()): number {
    if (!samples.length) return 0;
    const when = new Date(at);
    this.db.transaction((tx) => {
      // Chunks keep each statement under SQLite's bound-parameter limit.
      for (let i = 0; i < samples.length; i += 500) {
        tx.insert(protectionSamples)
          .values(
            samples.slice(i, i + 500).map((s) => ({
              subject: s.subject,
              resolution: 'raw' as const,
              at: when,
              windowSec: round(s.windowSec),
              bytesPerSecond: round(s.bytesPerSecond),
              syncSeconds: round(s.syncSeconds),
              count: 1,
            })),
          )
          .run();
      }
    });
    return samples.length;
  }

  /**
   * Folds raw samples older than the raw retention into 5-minute averages (whole 5-minute buckets
   * only, aligned to the epoch, so that a bucket is folded once), deletes them, and deletes 5-minute
   * rows older than their retention; one transaction. Running it again at the same time changes
   * nothing: the raw rows it folded are gone.
   * `maxSpanMs` bounds one step to the oldest raw samples of that span (whole buckets), so that a
   * long backlog (retention lowered, a long stop) is folded in short transactions; `more` says
   * whether raw samples past the retention are left for the next step.
   */
  compact(
    now: number = this.clock.now(),
    opts: { maxSpanMs?: number } = {},
  ): { folded: number; buckets: number; expired: number; more: boolean } {
    const r = this.retention();
    const retained = Math.floor((now - r.rawHours * HOUR_MS) / FIVE_MIN_MS) * FIVE_MIN_MS;
    const expiry = now - r.fiveMinDays * DAY_MS;
    const client = this.db.$client;
    return client.transaction(() => {
      let cutoff = retained;
      if (opts.maxSpanMs !== undefined) {
        const oldest = (
          client.prepare(`SELECT min(at) AS t FROM protection_samples WHERE resolution = 'raw'`).get() as {
            t: number | null;
          }
        ).t;
        if (oldest !== null)
          cutoff = Math.min(
            retained,
            Math.floor(Math.max(oldest, expiry) / FIVE_MIN_MS) * FIVE_MIN_MS +
              Math.max(FIVE_MIN_MS, Math.floor(opts.maxSpanMs / FIVE_MIN_MS) * FIVE_MIN_MS),
          );
      }
      // Averages over the samples that have a value; `count` is the number of raw samples.
      const buckets = client
        .prepare(
          `INSERT INTO protection_samples (subject, resolution, at, window_sec, bytes_per_second, sync_seconds, count)
           SELECT subject, '5m', (at / ${FIVE_MIN_MS}) * ${FIVE_MIN_MS} AS bucket,
                  CAST(round(avg(window_sec)) AS INTEGER), CAST(round(avg(bytes_per_second)) AS INTEGER), CAST(round(avg(sync_seconds)) AS INTEGER), sum(count)
           FROM protection_samples WHERE resolution = 'raw' AND at < ? AND at >= ?
           GROUP BY subject, bucket`,
        )
        .run(cutoff, expiry).changes;
      const folded = client
        .prepare(`DELETE FROM protection_samples WHERE resolution = 'raw' AND at < ?`)
        .run(cutoff).changes;
      const expired = client
        .prepare(`DELETE FROM protection_samples WHERE resolution = '5m' AND at < ?`)
        .run(expiry).changes;
      const more =
        cutoff < retained &&
        !!client
          .prepare(`SELECT 1 FROM protection_samples WHERE resolution = 'raw' AND at < ? LIMIT 1`)
          .get(retained);
      return { folded, buckets, expired, more };
    })();
  }

  /**
   * The points of one object between `from` and `to` (epoch ms, inclusive): raw samples as
   * collected when the range is at most 24 h and they fit in MAX_POINTS; otherwise averages over
   * buckets of at least 5 minutes, from the 5-minute rows and, for the newest part not folded yet,
   * the raw samples (a raw sample is either still raw or folded into a 5-minute row, never both).
   * Sync runs of a VM replica come from sync_runs: one point per finished run, or bucketed the
   * same way when there are more than MAX_POINTS.
   */
  /**
   * The data-loss windows of each subject over the last `spanMs` (raw samples, oldest first, at
   * most `points` per subject, evenly thinned), for the overview's trend sparklines: one query.
   */
  trends(
    subjects: string[],
    spanMs: number,
    points = 30,
    now: number = this.clock.now(),
  ): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    if (!subjects.length) return out;
    const rows = this.db
      .select({ subject: protectionSamples.subject, windowSec: protectionSamples.windowSec })
      .from(protectionSamples)
      .where(
        and(
          inArray(protectionSamples.subject, subjects),
          eq(protectionSamples.resolution, 'raw'),
          gte(protectionSamples.at, new Date(now - spanMs)),
        ),
      )
      .orderBy(protectionSamples.subject, protectionSamples.at)
      .all();
    for (const r of rows) if (r.windowSec !== null) (out[r.subject] ??= []).push(r.windowSec);
    for (const [k, v] of Object.entries(out))
      if (v.length > points)
        out[k] = Array.from(
          { length: points },
          (_, i) => v[Math.round((i * (v.length - 1)) / (points - 1))]!,
        );
    return out;
  }

  series(subject: string, range: { from: number; to: number }, rpoSec: number | null = null): Series {
    const { from, to } = range;
    if (!Number.isFinite(from) || !Number.isFinite(to) || from >= to)
      throw AppError.invalid('from', '"from" must be before "to"');
    if (to - from > MAX_RANGE_MS)
      throw AppError.invalid('from', `the range may span at most ${MAX_RANGE_MS / DAY_MS} days`);
    const span = to - from;
    const inRange = and(
      eq(protectionSamples.subject, subject),
      gte(protectionSamples.at, new Date(from)),
      lte(protectionSamples.at, new Date(to)),
    );
    let resolution: Series['resolution'] = 'raw';
    let points: SeriesPoint[];
    const rawCount =
      span <= RAW_RANGE_MS
        ? this.db
            .select({ n: sql<number>`count(*)` })
            .from(protectionSamples)
            .where(inRange)
            .get()!.n
        : Infinity;
    if (rawCount <= MAX_POINTS) {
      points = this.db
        .select({
          at: protectionSamples.at,
          windowSec: protectionSamples.windowSec,
          bytesPerSecond: protectionSamples.bytesPerSecond,
          syncSeconds: protectionSamples.syncSeconds,
          count: protectionSamples.count,
        })
        .from(protectionSamples)
        .where(inRange)
        .orderBy(asc(protectionSamples.at))
        .all()
        .map((p) => ({ ...p, at: p.at.getTime() }));
    } else {
      const b = bucketFor(span, FIVE_MIN_MS);
      resolution = b;
      // Weighted by `count`, so that a 5-minute row weighs as the raw samples it stands for.
      const w = (col: string) =>
        `sum(${col} * count) * 1.0 / nullif(sum(CASE WHEN ${col} IS NULL THEN 0 ELSE count END), 0)`;
      const rows = this.db.$client
        .prepare(
          `SELECT (at / ${b}) * ${b} AS t, ${w('window_sec')} AS windowSec, ${w('bytes_per_second')} AS bytesPerSecond, ${w('sync_seconds')} AS syncSeconds, sum(count) AS count
           FROM protection_samples WHERE subject = ? AND resolution IN ('raw', '5m') AND at >= ? AND at <= ?
           GROUP BY t ORDER BY t`,
        )
        .all(subject, from, to) as {
        t: number;
        windowSec: number | null;
        bytesPerSecond: number | null;
        syncSeconds: number | null;
        count: number;
      }[];
      points = rows.map((r) => ({
        at: r.t,
        windowSec: round(r.windowSec),
        bytesPerSecond: round(r.bytesPerSecond),
        syncSeconds: round(r.syncSeconds),
        count: r.count,
      }));
    }
    return {
      subject,
      from,
      to,
      resolution,
      points,
      runs: subject.startsWith('replica:') ? this.#runs(subject, from, to) : [],
      rpoSec,
    };
  }

  #runs(subject: string, from: number, to: number): RunPoint[] {
    const where = and(
      eq(syncRuns.subject, subject),
      gte(syncRuns.startedAt, new Date(from)),
      lte(syncRuns.startedAt, new Date(to)),
      isNotNull(syncRuns.finishedAt),
    );
    const n = this.db
      .select({ n: sql<number>`count(*)` })
      .from(syncRuns)
      .where(where)
      .get()!.n;
    if (n <= MAX_POINTS) {
      return this.db
        .select({
          startedAt: syncRuns.startedAt,
          finishedAt: syncRuns.finishedAt,
          bytes: syncRuns.bytes,
          outcome: syncRuns.outcome,
        })
        .from(syncRuns)
        .where(where)
        .orderBy(asc(syncRuns.startedAt))
        .all()
        .map((r) => ({
          at: r.finishedAt!.getTime(),
          durationSec: Math.max(0, Math.round((r.finishedAt!.getTime() - r.startedAt.getTime()) / 100) / 10),
          bytes: r.bytes,
          runs: 1,
          failed: r.outcome === 'success' ? 0 : 1,
        }));
    }
    const b = bucketFor(to - from, 60_000);
    const rows = this.db.$client
      .prepare(
        `SELECT (started_at / ${b}) * ${b} AS t, min(finished_at) AS at, avg(finished_at - started_at) AS ms, sum(bytes) AS bytes, count(*) AS runs,
                sum(CASE WHEN outcome = 'success' THEN 0 ELSE 1 END) AS failed
         FROM sync_runs WHERE subject = ? AND started_at >= ? AND started_at <= ? AND finished_at IS NOT NULL
         GROUP BY t ORDER BY t`,
      )
      .all(subject, from, to) as {
      t: number;
      at: number;
      ms: number;
      bytes: number | null;
      runs: number;
      failed: number;
    }[];
    return rows.map((r) => ({
      at: r.at,
      durationSec: Math.round(r.ms / 100) / 10,
      bytes: r.bytes,
      runs: r.runs,
      failed: r.failed,
    }));
  }
}
