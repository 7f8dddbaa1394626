/**
 * The Ceph page at 10,000 mirrored RBD images.
 *  1. Server (in process, demo sites, no latency): `ceph.images` first page (25 rows of a group,
 *     as the page asks) at 100 and at 10,000 images in demo-site-a's pool rbd — the first call
 *     after a new status answer (which sorts and groups the pool's images once) and the next ones —
 *     and the size of `ceph.status` as sent (superjson) against the full status with every image.
 *  2. Browser: a production server (`npx next build` first) on BENCH_PORT (3300) with the demo
 *     sites and TANDEM_DEMO_IMAGES=N (10,000; about 45 s to seed), Chromium (/usr/bin/chromium)
 *     opening /ceph (demo-site-a, pool rbd): time until the image table's first page is shown and
 *     answers a click (a row expands), DOM elements, longest main-thread task (PerformanceObserver
 *     'longtask'), JS heap after a GC, bytes of the responses carrying `ceph.status`.
 *   npx tsx scripts/bench/ceph-page.ts [--images 10000] [--server-only] [--browser-only]
 * Prints figures; asserts nothing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from '@playwright/test';
import superjson from 'superjson';
import type { CephAdapter } from '../../server/adapters/ceph/types';
import { createApp } from '../../server/app';
import { systemClock } from '../../server/core/clock';
import { createCaller } from '../../server/trpc/root';
import { ctxFor } from '../../tests/unit/helpers';
import { addMirroredImages } from './demo-images';

const PORT = Number(process.env.BENCH_PORT ?? 3300);
const BASE = `http://127.0.0.1:${PORT}`;
const PASSWORD = 'bench-admin-password';
const arg = (name: string) =>
  process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined;
const N = Number(arg('--images') ?? 10_000);

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number) =>
  bytes >= 1e6 ? `${(bytes / 1e6).toFixed(2)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;

async function serverSide(n: number) {
  const app = createApp({
    dbFile: ':memory:',
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')),
    clock: systemClock,
    demoLatencyMs: 0,
  });
  app.demo.create();
  const a = app.sites.byName('demo-site-a')!.id;
  const b = app.sites.byName('demo-site-b')!.id;
  await addMirroredImages(app.sites.adapter(a) as CephAdapter, n);
  const caller = createCaller(ctxFor(app, { id: 1, username: 'bench', role: 'viewer' }));
  await caller.ceph.status({ siteId: b });
  const cold: number[] = [];
  const warm: number[] = [];
  const statusMs: number[] = [];
  let statusBytes = 0;
  let fullBytes = 0;
  let images = 0;
  for (let round = 0; round < 5; round++) {
    // A new status answer (what the page's refresh brings), then the page's four sections.
    let t = process.hrtime.bigint();
    const status = await caller.ceph.status({ siteId: a });
    const wire = JSON.stringify(superjson.serialize(status));
    statusMs.push(ms(t));
    statusBytes = wire.length;
    images = status.pools.reduce((x, p) => x + p.counts.total, 0);
    const page = (group: 'ready' | 'issues' | 'syncing' | 'idle') =>
      caller.ceph
        .images({ siteId: a, pool: 'rbd', namespace: '', group, limit: 25 })
        .then((r) => JSON.stringify(superjson.serialize(r)));
    t = process.hrtime.bigint();
    await page('ready');
    cold.push(ms(t));
    for (let i = 0; i < 20; i++) {
      for (const g of ['issues', 'idle', 'syncing', 'ready'] as const) {
        t = process.hrtime.bigint();
        await page(g);
        warm.push(ms(t));
      }
    }
  }
  fullBytes = JSON.stringify(superjson.serialize(await app.ceph.status(a))).length;
  await app.tasks.shutdown();
  return {
    images,
    statusBytes,
    fullBytes,
    statusMs: median(statusMs),
    cold: median(cold),
    warm: median(warm),
  };
}

async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-ceph-page-'));
  const proc = spawn('npx', ['next', 'start', '-p', String(PORT), '-H', '127.0.0.1'], {
    env: {
      ...process.env,
      TANDEM_DATA_DIR: dir,
      TANDEM_ADMIN_PASSWORD: PASSWORD,
      TANDEM_SCHEDULER: '0',
      TANDEM_DEMO_LATENCY_MS: '0',
      TANDEM_DEMO_IMAGES: String(N),
    },
    detached: true,
    stdio: 'ignore',
  });
  const stop = () => {
    try {
      process.kill(-proc.pid!, 'SIGTERM');
    } catch {
      /* gone */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // The first request boots the app, which seeds the images before it answers.
  const t0 = Date.now();
  for (;;) {
    try {
      if ((await fetch(`${BASE}/login`, { signal: AbortSignal.timeout(300_000) })).ok) break;
    } catch {
      /* not yet */
    }
    if (Date.now() - t0 > 400_000) {
      stop();
      throw new Error(`no answer on port ${PORT}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  // Signing in waits for the app to be ready (the seeding done).
  const login = await fetch(`${BASE}/api/trpc/auth.login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: BASE },
    body: JSON.stringify({ json: { username: 'admin', password: PASSWORD } }),
    signal: AbortSignal.timeout(400_000),
  });
  if (!login.ok) throw new Error(`sign-in: ${login.status}`);
  console.log(`server up with ${N} images in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return { stop };
}

async function browserSide() {
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--enable-precise-memory-info'],
  });
  try {
    const context = await browser.newContext({ baseURL: BASE });
    const page = await context.newPage();
    await page.goto('/login');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview' }).waitFor({ timeout: 60_000 });

    const runs: {
      usable: number;
      shown: number;
      dom: number;
      longest: number;
      heap: number;
      statusBytes: number;
    }[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await context.newPage();
      await p.addInitScript(() => {
        const w = window as unknown as { __longtasks: number[] };
        w.__longtasks = [];
        new PerformanceObserver((list) => {
          for (const e of list.getEntries()) w.__longtasks.push(e.duration);
        }).observe({ type: 'longtask', buffered: true });
      });
      let statusBytes = 0;
      p.on('response', (r) => {
        if (r.url().includes('/api/trpc/') && r.url().includes('ceph.status'))
          void r
            .body()
            .then((b) => (statusBytes = Math.max(statusBytes, b.length)))
            .catch(() => undefined);
      });
      const calls: string[] = [];
      p.on('requestfinished', (r) => {
        const u = new URL(r.url());
        if (!u.pathname.startsWith('/api/trpc/')) return;
        const tm = r.timing();
        calls.push(
          `    ${(tm.startTime - t0).toFixed(0).padStart(5)} ms +${tm.responseEnd.toFixed(0).padStart(5)} ms  ${u.pathname.slice('/api/trpc/'.length)}`,
        );
      });
      const t0 = Date.now();
      await p.goto('/ceph?tab=images');
      const row = p.locator('[data-testid=images-ready] [data-testid=image-row]').first();
      await row.waitFor({ timeout: 120_000 });
      const shown = Date.now() - t0;
      const name = row.getByRole('button').first();
      await name.click();
      await p.locator('[data-testid=image-details]').first().waitFor({ timeout: 60_000 });
      const usable = Date.now() - t0;
      await p.waitForTimeout(1_000);
      const dom = await p.evaluate(() => document.getElementsByTagName('*').length);
      const longest = await p.evaluate(() =>
        Math.max(0, ...(window as unknown as { __longtasks: number[] }).__longtasks),
      );
      const cdp = await context.newCDPSession(p);
      await cdp.send('HeapProfiler.collectGarbage');
      const heap = (await cdp.send('Runtime.getHeapUsage')).usedSize;
      runs.push({ usable, shown, dom, longest, heap, statusBytes });
      if (process.env.BENCH_VERBOSE)
        console.log(`  load ${i + 1}: requests (start after navigation, duration):\n${calls.join('\n')}`);
      await p.close();
    }
    console.log(
      `Ceph page (demo-site-a, pool rbd with ${N} mirrored images), Chromium, production build, 3 loads:`,
    );
    for (const [i, r] of runs.entries()) {
      console.log(
        `  load ${i + 1}: first page shown ${r.shown} ms, usable (a row expands on click) ${r.usable} ms, DOM ${r.dom} elements, longest main-thread task ${r.longest.toFixed(0)} ms, JS heap ${mb(r.heap)}, ceph.status response ${mb(r.statusBytes)}`,
      );
    }
  } finally {
    await browser.close();
    server.stop();
  }
}

async function main() {
  if (!process.argv.includes('--browser-only')) {
    const small = await serverSide(100);
    const big = await serverSide(N);
    console.log(
      'ceph.status and ceph.images (first page of a group, 25 rows) on the server, demo sites, no latency (medians of 5 status answers):',
    );
    for (const r of [small, big]) {
      console.log(
        `  ${String(r.images).padStart(6)} images: ceph.status ${r.statusMs.toFixed(1)} ms, ${mb(r.statusBytes)} sent (the full status with every image: ${mb(r.fullBytes)}); ` +
          `ceph.images first page after a new answer ${r.cold.toFixed(2)} ms, then ${r.warm.toFixed(2)} ms per page (median)`,
      );
    }
    console.log(
      `  first page at ${big.images} / ${small.images} images: ${(big.warm / small.warm).toFixed(1)}× (after a new answer: ${(big.cold / small.cold).toFixed(1)}×)`,
    );
  }
  if (!process.argv.includes('--server-only')) await browserSide();
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
