/**
 * Cost of a metrics scrape's own work (not the protected objects' computation): rendering the
 * exposition for 100 and 11,000 objects (10,000 RBD images + 1,000 VM replicas), and the grouped
 * queries over sync_runs and tasks with many rows (the sync totals summed, and kept between scrapes).
 *   npx tsx scripts/bench/metrics.ts
 * Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../../server/app';
import { syncRuns, tasks } from '../../server/db/schema';
import { systemClock } from '../../server/core/clock';
import {
  alertCounts,
  renderMetrics,
  syncTotals,
  SyncTotalsCache,
  taskCounts,
} from '../../server/domain/metrics';
import type { ProtectedObject } from '../../server/domain/protection/types';

function median(times: number[]): number {
  return [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
}

async function time<T>(fn: () => T | Promise<T>, runs = 5): Promise<{ ms: number; value: T }> {
  let value = await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    value = await fn();
    times.push(performance.now() - t);
  }
  return { ms: median(times), value };
}

function objects(images: number, replicas: number): ProtectedObject[] {
  const base = {
    rpoSec: 900,
    rpoFrom: { scope: 'default', label: 'default' },
    recoveryPointAt: null,
    bytesAtRisk: null,
    reason: null,
    predictedBreachAt: null,
    predictedReason: null,
    state: 'idle',
    lastError: null,
    failures: 0,
    bytesPerSecond: null,
    href: '/',
    failoverHref: null,
  };
  const out: ProtectedObject[] = [];
  for (let i = 0; i < images; i++)
    out.push({
      ...base,
      subject: `rbd:3-4/pool${i % 10}//img${i}`,
      kind: 'rbd-image',
      name: `pool${i % 10}/img${i}`,
      source: { id: 3, name: 'site-a' },
      target: { id: 4, name: 'site-b' },
      windowSec: 60 + (i % 600),
      health: 'ok',
      syncSeconds: null,
    });
  for (let i = 0; i < replicas; i++)
    out.push({
      ...base,
      subject: `replica:${i + 1}`,
      kind: 'vm-replica',
      name: `vm${i}`,
      source: { id: 1, name: 'node1' },
      target: { id: 2, name: 'node2' },
      windowSec: 30 + (i % 300),
      health: 'ok',
      syncSeconds: 2 + (i % 5),
    });
  return out;
}

async function main() {
  for (const [images, replicas] of [
    [90, 10],
    [10_000, 1_000],
  ] as const) {
    const objs = objects(images, replicas);
    const totals = Array.from({ length: replicas }, (_, i) => ({
      subject: `replica:${i + 1}`,
      bytes: 1e9 + i,
      failures: i % 3,
    }));
    const r = await time(() =>
      renderMetrics({ objects: objs, syncTotals: totals, sites: [], tasks: [], alerts: [] }),
    );
    console.log(
      `render ${String(objs.length).padStart(6)} objects: median ${r.ms.toFixed(1)} ms, ${(r.value.text.length / 1024).toFixed(0)} KiB, ${r.value.text.split('\n').filter((l) => l && !l.startsWith('#')).length} series`,
    );
  }
  const app = createApp({
    dbFile: ':memory:',
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')),
    clock: systemClock,
    demoLatencyMs: 0,
  });
  for (const rows of [100_000, 1_000_000]) {
    app.db.delete(syncRuns).run();
    app.db.delete(tasks).run();
    app.db.transaction((tx) => {
      for (let i = 0; i < rows; i += 1000) {
        tx.insert(syncRuns)
          .values(
            Array.from({ length: 1000 }, (_, j) => ({
              subject: `replica:${((i + j) % 1000) + 1}`,
              startedAt: new Date(i + j),
              outcome: (i + j) % 20 ? ('success' as const) : ('failure' as const),
              bytes: 1_000_000,
            })),
          )
          .run();
        tx.insert(tasks)
          .values(
            Array.from({ length: 1000 }, (_, j) => ({
              name: 'x',
              kind: ['replica.sync', 'ceph.failover', 'site.check'][(i + j) % 3]!,
              target: 'x',
              state: 'finished' as const,
              createdBy: 'bench',
            })),
          )
          .run();
      }
    });
    const s = await time(() => syncTotals(app.db));
    const cache = new SyncTotalsCache(app.db, systemClock);
    const first = await time(() => new SyncTotalsCache(app.db, systemClock).read(), 1);
    cache.read();
    const next = await time(() => cache.read());
    const t = await time(() => taskCounts(app.db));
    const a = await time(() => alertCounts(app.db));
    console.log(
      `${String(rows).padStart(9)} sync runs and tasks: sync totals summed ${s.ms.toFixed(1)} ms (${s.value.length} replicas), kept: first scrape ${first.ms.toFixed(1)} ms, next ${next.ms.toFixed(1)} ms, task counts ${t.ms.toFixed(1)} ms, alert counts ${a.ms.toFixed(1)} ms`,
    );
  }
}

void main();
