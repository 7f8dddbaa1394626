/**
 * Cost of the protection collector and of its compaction.
 *   npx tsx scripts/bench/collector.ts [maxImages=1000]
 * 1. collect: the demo sites (demo adapters, which count the CLI calls a real cluster would take)
 *    with N = 10, 100, 1000 mirrored images in pool rbd (more through the argument): time of one
 *    collect (median of 5, each at a later clock so that every cluster is asked again), status
 *    refreshes per cluster per collect, and CLI calls per cluster refresh.
 * 2. compaction: one day of raw samples (one a minute) for 1,000 objects in a database file,
 *    folded into 5-minute averages in one step and in the collector's steps of 15 minutes; the
 *    same compaction again (nothing to do); the steady state, a day later, where a collect folds
 *    the one 5-minute bucket that has just passed the raw retention.
 * Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DemoCephAdapter } from '../../server/adapters/demo/ceph';
import type { CephAdapter } from '../../server/adapters/ceph/types';
import { createApp } from '../../server/app';
import { openDb } from '../../server/db/client';
import { ManualClock } from '../../server/core/clock';
import { COMPACT_STEP_MS } from '../../server/domain/protection/collector';
import { ProtectionSamples } from '../../server/domain/protection/samples';
import { addMirroredImages } from './demo-images';

const MAX = Number(process.argv[2] ?? 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function collect() {
  let refreshes = 0;
  const orig = DemoCephAdapter.prototype.refreshStatus;
  DemoCephAdapter.prototype.refreshStatus = function (
    this: DemoCephAdapter,
    ...args: Parameters<typeof orig>
  ) {
    refreshes++;
    return orig.apply(this, args);
  };
  for (const n of [10, 100, 1000, 10_000].filter((x) => x <= MAX)) {
    const clock = new ManualClock(Date.UTC(2026, 11, 3, 12));
    const app = createApp({
      dbFile: ':memory:',
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')),
      clock,
      demoLatencyMs: 0,
    });
    app.demo.create();
    const a = app.sites.adapter(app.sites.byName('demo-site-a')!.id) as CephAdapter;
    await addMirroredImages(a, n);
    await app.collector.collect(); // warm-up
    const times: number[] = [];
    const calls: number[] = [];
    let samples = 0;
    refreshes = 0;
    const runs = 5;
    for (let i = 0; i < runs; i++) {
      clock.advance(60_000);
      const t = performance.now();
      const r = await app.collector.collect();
      times.push(performance.now() - t);
      for (const c of r.clusters) calls.push(c.cliCalls);
      samples = r.samples;
    }
    const clusters = app.sites.list().filter((s) => s.kind === 'ceph').length;
    const images = (await app.protection.objects()).filter((o) => o.kind === 'rbd-image').length;
    console.log(
      `collect, ${String(n).padStart(5)} images on demo-site-a: ${String(images).padStart(5)} image objects, ${String(samples).padStart(5)} samples  ` +
        `median ${median(times).toFixed(1)} ms  max ${Math.max(...times).toFixed(1)} ms  refreshes per cluster per collect ${(refreshes / runs / clusters).toFixed(2)}  ` +
        `CLI calls per cluster refresh ${Math.min(...calls)}–${Math.max(...calls)}`,
    );
    await app.tasks.shutdown();
    app.db.$client.close();
  }
  DemoCephAdapter.prototype.refreshStatus = orig;
}

function compaction() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-samples-'));
  const t0 = Date.UTC(2026, 11, 1);
  const subjects = Array.from({ length: 1000 }, (_, i) => (i % 2 ? `replica:${i}` : `rbd:1-2/rbd//img-${i}`));
  // One day of minute samples, written directly (1,440 collects' worth) into a database file.
  const seeded = path.join(dir, 'seed.db');
  let db = openDb(seeded);
  let t = performance.now();
  const ins = db.$client.prepare(
    `INSERT INTO protection_samples (subject, resolution, at, window_sec, bytes_per_second, sync_seconds, count) VALUES (?, 'raw', ?, ?, ?, ?, 1)`,
  );
  db.$client.transaction(() => {
    for (let m = 0; m < 1440; m++)
      subjects.forEach((subject, i) =>
        ins.run(subject, t0 + m * 60_000, 30 + ((m + i) % 60), 1_000_000 + i, 5 + (i % 10)),
      );
  })();
  db.$client.pragma('wal_checkpoint(TRUNCATE)');
  db.$client.close();
  const fillMs = performance.now() - t;
  console.log(
    `compaction, 1 day of raw samples (one a minute) for 1,000 objects: ${(1440 * 1000).toLocaleString('en')} rows (written in ${(fillMs / 1000).toFixed(1)} s)`,
  );
  const now = t0 + 48 * 3_600_000; // the whole day is older than the raw retention (24 h)

  // (a) The whole backlog in one step (one transaction).
  fs.copyFileSync(seeded, path.join(dir, 'a.db'));
  db = openDb(path.join(dir, 'a.db'));
  let samples = new ProtectionSamples(db, new ManualClock(now));
  t = performance.now();
  const r = samples.compact(now);
  console.log(
    `  in one step: ${(performance.now() - t).toFixed(0)} ms (${r.folded.toLocaleString('en')} raw rows folded into ${r.buckets.toLocaleString('en')} 5-minute rows)`,
  );
  t = performance.now();
  const again = samples.compact(now);
  console.log(
    `  again at the same time: ${(performance.now() - t).toFixed(1)} ms (${JSON.stringify(again)})`,
  );
  t = performance.now();
  const s = samples.series('replica:1', { from: t0, to: t0 + 7 * 86_400_000 });
  console.log(
    `  series of one object over 7 days afterwards: ${(performance.now() - t).toFixed(1)} ms, ${s.points.length} points`,
  );
  db.$client.close();

  // (b) As the collector does it: steps of COMPACT_STEP_MS, each one transaction.
  fs.copyFileSync(seeded, path.join(dir, 'b.db'));
  db = openDb(path.join(dir, 'b.db'));
  samples = new ProtectionSamples(db, new ManualClock(now));
  const steps: number[] = [];
  t = performance.now();
  for (;;) {
    const s0 = performance.now();
    const x = samples.compact(now, { maxSpanMs: COMPACT_STEP_MS });
    steps.push(performance.now() - s0);
    if (!x.more) break;
  }
  console.log(
    `  in steps of ${COMPACT_STEP_MS / 60_000} min: ${(performance.now() - t).toFixed(0)} ms in ${steps.length} steps, longest step ${Math.max(...steps).toFixed(0)} ms, median ${median(steps).toFixed(0)} ms`,
  );

  // (c) Steady state, a day later: a full day of raw samples kept, and each collect folds at most
  // the one 5-minute bucket that has just passed the raw retention (5,000 rows here).
  const later = now + 86_400_000 + 5 * 60_000;
  const ins2 = db.$client.prepare(
    `INSERT INTO protection_samples (subject, resolution, at, window_sec, bytes_per_second, sync_seconds, count) VALUES (?, 'raw', ?, ?, ?, ?, 1)`,
  );
  db.$client.transaction(() => {
    for (let at = now; at < later; at += 60_000)
      subjects.forEach((subject, i) => ins2.run(subject, at, 30 + (i % 60), 1_000_000, 5));
  })();
  samples.record(
    subjects.map((subject) => ({ subject, windowSec: 30, bytesPerSecond: 1, syncSeconds: 1 })),
    later,
  );
  t = performance.now();
  const c = samples.compact(later, { maxSpanMs: COMPACT_STEP_MS });
  const cMs = performance.now() - t;
  t = performance.now();
  samples.compact(later, { maxSpanMs: COMPACT_STEP_MS });
  console.log(
    `  steady state (1.4 M raw + 288 k 5-minute rows stored): one bucket (${c.folded.toLocaleString('en')} rows) folded in ${cMs.toFixed(1)} ms; nothing to fold: ${(performance.now() - t).toFixed(1)} ms`,
  );
  t = performance.now();
  samples.record(
    subjects.map((subject) => ({ subject, windowSec: 30, bytesPerSecond: 1, syncSeconds: 1 })),
    later + 60_000,
  );
  console.log(`  one collect's samples (1,000 rows) written in ${(performance.now() - t).toFixed(1)} ms`);
  db.$client.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

collect()
  .then(compaction)
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
