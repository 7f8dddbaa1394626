import { describe, expect, it } from 'vitest';
import { ManualClock } from '@/server/core/clock';
import { openDb } from '@/server/db/client';
import { syncRuns } from '@/server/db/schema';
import { FIVE_MIN_MS, MAX_POINTS, ProtectionSamples, bucketFor } from '@/server/domain/protection/samples';

const T0 = Date.UTC(2026, 10, 23, 0, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

function setup() {
  const clock = new ManualClock(T0);
  const db = openDb(':memory:');
  const samples = new ProtectionSamples(db, clock);
  const rows = (resolution?: 'raw' | '5m') =>
    db.$client
      .prepare(
        `SELECT subject, resolution, at, window_sec AS w, bytes_per_second AS bps, sync_seconds AS s, count FROM protection_samples ${resolution ? `WHERE resolution = '${resolution}'` : ''} ORDER BY subject, resolution, at`,
      )
      .all() as {
      subject: string;
      resolution: string;
      at: number;
      w: number | null;
      bps: number | null;
      s: number | null;
      count: number;
    }[];
  /** One raw sample per minute for `subjects` from `from` for `minutes`, window = minute index. */
  const fill = (
    subjects: string[],
    from: number,
    minutes: number,
    value: (i: number) => number | null = (i) => i,
  ) => {
    for (let i = 0; i < minutes; i++)
      samples.record(
        subjects.map((subject) => ({
          subject,
          windowSec: value(i),
          bytesPerSecond: 1000 * (i + 1),
          syncSeconds: 10,
        })),
        from + i * MIN,
      );
  };
  return { clock, db, samples, rows, fill };
}

describe('protection samples: compaction', () => {
  it('folds raw samples older than the raw retention into 5-minute averages with counts, and keeps the newer ones raw', () => {
    const { samples, rows, fill } = setup();
    fill(['replica:1', 'rbd:1-2/rbd//vol1'], T0, 30 * 60); // 30 h of minutes
    const now = T0 + 30 * HOUR;
    const r = samples.compact(now);
    // Raw retention 24 h: everything before now − 24 h = T0 + 6 h is folded (72 buckets of 5 per subject).
    expect(r.folded).toBe(2 * 6 * 60);
    expect(r.buckets).toBe(2 * 72);
    expect(r.expired).toBe(0);
    const five = rows('5m').filter((x) => x.subject === 'replica:1');
    expect(five).toHaveLength(72);
    expect(five[0]).toMatchObject({ at: T0, w: 2, bps: 3000, s: 10, count: 5 }); // avg(0..4) = 2, avg(1000..5000) = 3000
    expect(five[1]).toMatchObject({ at: T0 + FIVE_MIN_MS, w: 7, count: 5 });
    expect(five.every((x) => x.at % FIVE_MIN_MS === 0)).toBe(true);
    const raw = rows('raw').filter((x) => x.subject === 'replica:1');
    expect(raw).toHaveLength(24 * 60);
    expect(Math.min(...raw.map((x) => x.at))).toBe(T0 + 6 * HOUR);
  });

  it('is idempotent: a second compaction at the same time changes nothing', () => {
    const { samples, rows, fill } = setup();
    fill(['replica:1', 'replica:2'], T0, 26 * 60);
    const now = T0 + 26 * HOUR + 2 * MIN; // a cutoff inside a bucket: only whole buckets before it fold
    samples.compact(now);
    const after = rows();
    expect(samples.compact(now)).toEqual({ folded: 0, buckets: 0, expired: 0, more: false });
    expect(rows()).toEqual(after);
    // Later compactions fold only new whole buckets; every raw sample is counted exactly once.
    samples.compact(now + 7 * MIN);
    samples.compact(now + 7 * MIN);
    const all = rows().filter((x) => x.subject === 'replica:1');
    expect(all.reduce((n, x) => n + x.count, 0)).toBe(26 * 60);
    const keys = all.filter((x) => x.resolution === '5m').map((x) => x.at);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('folds a backlog in bounded steps to the same rows as one step', () => {
    const a = setup();
    const b = setup();
    for (const x of [a, b]) x.fill(['replica:1', 'replica:2'], T0, 26 * 60);
    const now = T0 + 26 * HOUR;
    a.samples.compact(now);
    let steps = 0;
    for (;;) {
      const r = b.samples.compact(now, { maxSpanMs: 15 * MIN });
      steps++;
      expect(r.buckets).toBeLessThanOrEqual(2 * 3);
      if (!r.more) break;
    }
    expect(steps).toBe(2 * 4); // 2 h of backlog, 15 min a step
    expect(b.rows()).toEqual(a.rows());
    expect(b.samples.compact(now, { maxSpanMs: 15 * MIN })).toEqual({
      folded: 0,
      buckets: 0,
      expired: 0,
      more: false,
    });
  });

  it('averages only the samples that have a value, and deletes expired 5-minute rows and raw samples past every retention', () => {
    const { samples, rows, fill } = setup();
    fill(['rbd:1-2/rbd//a'], T0, 10, (i) => (i % 2 ? null : 100));
    const r1 = samples.compact(T0 + 25 * HOUR);
    expect(r1.buckets).toBe(2);
    expect(rows('5m').map((x) => [x.w, x.count])).toEqual([
      [100, 5],
      [100, 5],
    ]);
    // 30 days later the 5-minute rows expire.
    const r2 = samples.compact(T0 + 31 * DAY);
    expect(r2.expired).toBe(2);
    expect(rows()).toHaveLength(0);
    // Raw samples older than the 5-minute retention are deleted without being folded.
    fill(['rbd:1-2/rbd//a'], T0, 10);
    expect(samples.compact(T0 + 31 * DAY)).toEqual({ folded: 10, buckets: 0, expired: 0, more: false });
    expect(rows()).toHaveLength(0);
  });

  it('follows the retention settings, validated', () => {
    const { samples, rows, fill } = setup();
    expect(samples.retention()).toEqual({ rawHours: 24, fiveMinDays: 30 });
    expect(() => samples.setRetention({ rawHours: 0, fiveMinDays: 30 })).toThrow(/rawHours: at least 1 hour/);
    expect(() => samples.setRetention({ rawHours: 169, fiveMinDays: 30 })).toThrow(
      /rawHours: at most 7 days/,
    );
    expect(() => samples.setRetention({ rawHours: 24, fiveMinDays: 366 })).toThrow(
      /fiveMinDays: at most 365 days/,
    );
    expect(() => samples.setRetention({ rawHours: 1.5, fiveMinDays: 30 })).toThrow(/whole hours/);
    expect(() => samples.setRetention({ rawHours: 168, fiveMinDays: 1 })).toThrow(
      /at least as long as raw samples/,
    );
    expect(samples.retention()).toEqual({ rawHours: 24, fiveMinDays: 30 });
    samples.setRetention({ rawHours: 1, fiveMinDays: 2 });
    expect(samples.retention()).toEqual({ rawHours: 1, fiveMinDays: 2 });
    fill(['replica:1'], T0, 120);
    samples.compact(T0 + 2 * HOUR);
    expect(rows('raw')).toHaveLength(60);
    expect(rows('5m')).toHaveLength(12);
  });

  it('uses the indexes for the fold, the deletions and the series (EXPLAIN QUERY PLAN)', () => {
    const { db } = setup();
    const plan = (q: string, ...args: unknown[]) =>
      (db.$client.prepare(`EXPLAIN QUERY PLAN ${q}`).all(...args) as { detail: string }[])
        .map((r) => r.detail)
        .join('; ');
    expect(
      plan(`SELECT subject FROM protection_samples WHERE resolution = 'raw' AND at < ? AND at >= ?`, 1, 0),
    ).toMatch(/USING (COVERING )?INDEX protection_samples_at_idx/);
    expect(plan(`DELETE FROM protection_samples WHERE resolution = 'raw' AND at < ?`, 1)).toMatch(
      /USING (COVERING )?INDEX protection_samples_at_idx/,
    );
    expect(plan(`DELETE FROM protection_samples WHERE resolution = '5m' AND at < ?`, 1)).toMatch(
      /USING (COVERING )?INDEX protection_samples_at_idx/,
    );
    expect(
      plan(
        `SELECT at, window_sec, count FROM protection_samples WHERE subject = ? AND resolution IN ('raw', '5m') AND at >= ? AND at <= ?`,
        's',
        0,
        1,
      ),
    ).toMatch(/USING INDEX protection_samples_subject_idx/);
    expect(
      plan(
        `SELECT count(*) FROM sync_runs WHERE subject = ? AND started_at >= ? AND started_at <= ?`,
        's',
        0,
        1,
      ),
    ).toMatch(/USING (COVERING )?INDEX sync_runs_subject_idx/);
  });
});

describe('protection samples: series', () => {
  it('returns raw samples for a short range, the object’s RPO, and nothing of other objects', () => {
    const { samples, fill } = setup();
    fill(['replica:1', 'replica:2'], T0, 120);
    const s = samples.series('replica:1', { from: T0 + 60 * MIN, to: T0 + 119 * MIN }, 900);
    expect(s.resolution).toBe('raw');
    expect(s.points).toHaveLength(60);
    expect(s.points[0]).toEqual({
      at: T0 + 60 * MIN,
      windowSec: 60,
      bytesPerSecond: 61_000,
      syncSeconds: 10,
      count: 1,
    });
    expect(s.rpoSec).toBe(900);
    expect(() => samples.series('replica:1', { from: T0, to: T0 })).toThrow(/"from" must be before "to"/);
    expect(() => samples.series('replica:1', { from: T0, to: T0 + 400 * DAY })).toThrow(/at most 366 days/);
  });

  it('buckets a 24-hour range of minute samples to at most 500 points, averaged', () => {
    const { samples, fill } = setup();
    fill(['replica:1'], T0, 24 * 60, () => 30);
    const s = samples.series('replica:1', { from: T0, to: T0 + DAY - 1 });
    expect(s.resolution).toBe(FIVE_MIN_MS);
    expect(s.points).toHaveLength(288);
    expect(s.points.every((p) => p.windowSec === 30 && p.count === 5)).toBe(true);
  });

  it('for 7 days, reads 5-minute rows and the newest raw samples together, each sample counted once, within the bucket limit', () => {
    const { samples, fill } = setup();
    fill(['rbd:1-2/rbd//vol1'], T0, 7 * 24 * 60, (i) => (i < 6 * 24 * 60 ? 60 : 120));
    const now = T0 + 7 * DAY;
    samples.compact(now);
    const s = samples.series('rbd:1-2/rbd//vol1', { from: T0, to: now });
    expect(s.points.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(s.points.length).toBeGreaterThan(300);
    expect(typeof s.resolution).toBe('number');
    expect(s.points.reduce((n, p) => n + p.count, 0)).toBe(7 * 24 * 60);
    // The last day (still raw) is at 120 s, the days before (folded) at 60 s.
    expect(s.points.at(-1)!.windowSec).toBe(120);
    expect(s.points[0]!.windowSec).toBe(60);
    expect(s.runs).toEqual([]);
    expect(bucketFor(30 * DAY, FIVE_MIN_MS)).toBeGreaterThanOrEqual((30 * DAY) / MAX_POINTS);
    expect(Math.ceil((30 * DAY) / bucketFor(30 * DAY, FIVE_MIN_MS))).toBeLessThanOrEqual(MAX_POINTS);
  });

  it('adds the sync runs of a VM replica: duration and bytes per run, bucketed beyond 500 runs', () => {
    const { db, samples } = setup();
    const run = (i: number, outcome: 'success' | 'failure' = 'success') => ({
      subject: 'replica:7',
      startedAt: new Date(T0 + i * MIN),
      finishedAt: new Date(T0 + i * MIN + 12_500),
      bytes: 1_000_000,
      outcome,
    });
    db.insert(syncRuns)
      .values([
        run(0),
        run(1, 'failure'),
        { subject: 'replica:7', startedAt: new Date(T0 + 2 * MIN), outcome: 'running' as const },
        { ...run(3), subject: 'replica:8' },
      ])
      .run();
    const s = samples.series('replica:7', { from: T0, to: T0 + HOUR });
    expect(s.points).toEqual([]);
    expect(s.runs).toEqual([
      { at: T0 + 12_500, durationSec: 12.5, bytes: 1_000_000, runs: 1, failed: 0 },
      { at: T0 + MIN + 12_500, durationSec: 12.5, bytes: 1_000_000, runs: 1, failed: 1 },
    ]);
    db.insert(syncRuns)
      .values(Array.from({ length: 1440 }, (_, i) => run(60 + i)))
      .run();
    const day = samples.series('replica:7', { from: T0, to: T0 + 25 * HOUR });
    expect(day.runs.length).toBeLessThanOrEqual(MAX_POINTS);
    expect(day.runs.reduce((n, r) => n + r.runs, 0)).toBe(1442);
    expect(day.runs.reduce((n, r) => n + (r.bytes ?? 0), 0)).toBe(1442 * 1_000_000);
    expect(day.runs[0]!.failed).toBe(1);
    expect(samples.series('rbd:1-2/rbd//vol1', { from: T0, to: T0 + HOUR }).runs).toEqual([]);
  });
});
