/**
 * Cost of the protection collector and of its compaction.
 *   npx tsx scripts/bench/collector.ts [maxImages=1000]
 * 1. collect: the demo sites (demo adapters, which count the CLI calls a real cluster would take)
 *    with N = 10, 100, 1000 mirrored images in pool rbd (more through the argument): time of one
 *    collect (median of 5, each at a later clock so that every cluster is asked again), status
 *    refreshes per cluster per collect, and CLI calls per cluster refresh.
 * 2. compaction: one day of raw samples (one a minute) for 1,000 objects in a database file,
 *    folded into 5-minute averages; then the same compaction again (nothing to do), and a
 *    steady-state one a minute later.
 * Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DemoCephAdapter } from '../../server/adapters/demo/ceph';
import type { CephAdapter } from '../../server/adapters/ceph/types';
import { createApp } from '../../server/app';
import { openDb } from '../../server/db/client';
import { ManualClock } from '../../server/domain/clock';
import { ProtectionSamples } from '../../server/domain/protection/samples';

const MAX = Number(process.argv[2] ?? 1000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function collect() {
  let refreshes = 0;
  const orig = DemoCephAdapter.prototype.refreshStatus;
  DemoCephAdapter.prototype.refreshStatus = function (this: DemoCephAdapter, ...args: Parameters<typeof orig>) {
    refreshes++;
    return orig.apply(this, args);
  };
  for (const n of [10, 100, 1000, 10_000].filter((x) => x <= MAX)) {
    const clock = new ManualClock(Date.UTC(2026, 11, 3, 12));
    const app = createApp({ dbFile: ':memory:', dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')), clock, demoLatencyMs: 0 });
    app.demo.create();
    const a = app.sites.adapter(app.sites.byName('demo-site-a')!.id) as CephAdapter;
    const have = (await a.listImages('rbd')).length;
    for (let i = have; i < n; i++) {
      await a.createImage('rbd', '', `bench-${i}`, 1 << 30, ['layering', 'exclusive-lock']);
      await a.enableImageMirroring('rbd', '', `bench-${i}`, 'snapshot');
    }
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
  const clock = new ManualClock(t0);
  const db = openDb(path.join(dir, 'samples.db'));
  const samples = new ProtectionSamples(db, clock);
  const subjects = Array.from({ length: 1000 }, (_, i) => (i % 2 ? `replica:${i}` : `rbd:1-2/rbd//img-${i}`));
  let t = performance.now();
  for (let m = 0; m < 1440; m++) samples.record(subjects.map((subject, i) => ({ subject, windowSec: 30 + ((m + i) % 60), bytesPerSecond: 1_000_000 + i, syncSeconds: 5 + (i % 10) })), t0 + m * 60_000);
  const insertMs = performance.now() - t;
  const now = t0 + 48 * 3_600_000; // the whole day is older than the raw retention (24 h)
  t = performance.now();
  const r = samples.compact(now);
  const first = performance.now() - t;
  t = performance.now();
  const again = samples.compact(now);
  const second = performance.now() - t;
  samples.record(subjects.map((subject) => ({ subject, windowSec: 30, bytesPerSecond: 1, syncSeconds: 1 })), now);
  t = performance.now();
  samples.compact(now + 60_000);
  const steady = performance.now() - t;
  t = performance.now();
  const s = samples.series('replica:1', { from: t0, to: t0 + 7 * 86_400_000 });
  const seriesMs = performance.now() - t;
  console.log(`compaction, 1 day of raw samples for 1,000 objects (${(1440 * 1000).toLocaleString('en')} rows, inserted in ${(insertMs / 1000).toFixed(1)} s):`);
  console.log(`  first: ${first.toFixed(0)} ms (${r.folded.toLocaleString('en')} raw rows folded into ${r.buckets.toLocaleString('en')} 5-minute rows)`);
  console.log(`  again at the same time: ${second.toFixed(1)} ms (${JSON.stringify(again)})`);
  console.log(`  a minute later, nothing new to fold: ${steady.toFixed(1)} ms`);
  console.log(`  series of one object over 7 days: ${seriesMs.toFixed(1)} ms, ${s.points.length} points`);
  db.$client.close();
  fs.rmSync(dir, { recursive: true, force: true });
}

collect()
  .then(compaction)
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
