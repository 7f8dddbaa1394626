/**
 * Server time of the Protection overview's first page (50 rows, sorted by health) from stored
 * state, at ~100 objects and at 10,000 mirrored RBD images + 1,000 VM replicas (with 10 sync runs
 * each), on the demo sites. Also counts the SQL statements one page runs (no per-row SQL), and
 * times the Replicas list (replicas.list) at 1,000 replicas.
 *   npx tsx scripts/bench/protection.ts
 * Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CephAdapter } from '../../server/adapters/ceph/types';
import { createApp, type App } from '../../server/app';
import { replicas, syncRuns } from '../../server/db/schema';
import { systemClock } from '../../server/core/clock';
import { addMirroredImages } from './demo-images';

function ms(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function build(images: number, replicaCount: number): Promise<App> {
  const app = createApp({
    dbFile: ':memory:',
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')),
    clock: systemClock,
    demoLatencyMs: 0,
  });
  app.demo.create();
  const a = app.sites.byName('demo-site-a')!.id;
  const b = app.sites.byName('demo-site-b')!.id;
  const ca = app.sites.adapter(a) as CephAdapter;
  await addMirroredImages(ca, images);
  const n1 = app.sites.byName('demo-node1')!.id;
  const n2 = app.sites.byName('demo-node2')!.id;
  const now = Date.now();
  app.db.transaction((tx) => {
    for (let i = 0; i < replicaCount; i++) {
      const r = tx
        .insert(replicas)
        .values({
          name: 'dr',
          vmName: `bench-vm-${i}`,
          sourceSiteId: n1,
          targetSiteId: n2,
          rootZpool: 'zones',
          diskZpools: {},
          datasets: [],
          reserveResources: false,
          vcpus: 1,
          memoryMiB: 512,
          sleepTimeSec: 60,
          enabled: true,
          bandwidthLimit: null,
          keepSnapshots: 3,
          state: 'idle',
          lastSyncAt: new Date(now - (i % 900) * 1000),
        })
        .returning({ id: replicas.id })
        .get();
      for (let k = 0; k < 10; k++) {
        const s = now - (10 - k) * 90_000;
        tx.insert(syncRuns)
          .values({
            subject: `replica:${r.id}`,
            startedAt: new Date(s),
            finishedAt: new Date(s + 5_000 + k * 100),
            bytes: 1 << 20,
            bytesPerSecond: 200_000,
            outcome: 'success',
          })
          .run();
      }
    }
  });
  // The clusters' statuses, as the collector or an open page leaves them.
  await app.ceph.status(a);
  await app.ceph.status(b);
  return app;
}

async function measure(app: App, label: string) {
  const client = app.db.$client;
  const prepare = client.prepare.bind(client);
  let statements = 0;
  client.prepare = ((sql: string) => {
    statements++;
    return prepare(sql);
  }) as typeof client.prepare;
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const compute: number[] = [];
  const fresh: number[] = [];
  const cached: number[] = [];
  let total = 0;
  for (let i = 0; i < 7; i++) {
    app.protection.invalidate();
    statements = 0;
    let t = process.hrtime.bigint();
    total = (await app.protection.list({ limit: 50 })).total;
    compute.push(ms(t));
    // Another filter and sort of the same computed objects, then the same page again.
    t = process.hrtime.bigint();
    await app.protection.list({ limit: 50, sort: 'window', dir: 'desc', kind: 'rbd-image' });
    fresh.push(ms(t));
    t = process.hrtime.bigint();
    await app.protection.list({ limit: 50, offset: 50, sort: 'window', dir: 'desc', kind: 'rbd-image' });
    cached.push(ms(t));
  }
  const stmts = statements;
  client.prepare = prepare;
  const page = median(cached);
  console.log(
    `${label.padEnd(36)} objects ${String(total).padStart(6)}  compute all + first page ${median(compute).toFixed(1)} ms (${stmts} SQL statements)  ` +
      `new filter+sort ${median(fresh).toFixed(1)} ms  next page ${page.toFixed(2)} ms`,
  );
  return { compute: median(compute), page };
}

async function main() {
  const small = await build(0, 20);
  const a = await measure(small, 'demo sites + 20 replicas');
  await small.tasks.shutdown();
  const big = await build(10_000, 1_000);
  const b = await measure(big, '10,000 RBD images + 1,000 replicas');
  // The Replicas list (replicas.list) at 1,000 replicas: statements and time per call.
  const client = big.db.$client;
  const prepare = client.prepare.bind(client);
  let statements = 0;
  client.prepare = ((sql: string) => (statements++, prepare(sql))) as typeof client.prepare;
  const t = process.hrtime.bigint();
  const n = big.replicas.list().length;
  console.log(
    `replicas.list at ${n} replicas: ${ms(t).toFixed(1)} ms, ${statements} SQL statements prepared`,
  );
  client.prepare = prepare;
  await big.tasks.shutdown();
  console.log(
    `a page from the computed objects, large/small: ${(b.page / a.page).toFixed(1)}×; computing them (about once a second in the background while pages are answered, and at the first read after a change): ${b.compute.toFixed(0)} ms at the large size`,
  );
}

void main();
