/**
 * What open console tabs cost and see, in Chromium against the production build (`next build`
 * first) on a fresh data directory with the demo sites:
 *  1. five tabs of one browser opened one after another: the time until each shows its data, and
 *     the task event streams (`tasks.watch` requests) each opens;
 *  2. an open Ceph page (demo-site-b) for a minute while another operator's session runs 20 tasks
 *     on demo-site-a (unrelated), then for a minute while it runs 20 on demo-site-b: how often the
 *     page asks for `ceph.status`, and at most how many times in one request.
 *   npx tsx scripts/bench/browser-events.ts [--minutes 1]
 * BENCH_PORT (default 3290) is the server's port; CHROMIUM_PATH the browser (/usr/bin/chromium).
 * Prints figures; asserts nothing.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Page } from '@playwright/test';

const PORT = Number(process.env.BENCH_PORT ?? 3290);
const BASE = `http://127.0.0.1:${PORT}`;
const PASSWORD = 'bench-admin-password';
const MINUTES = Number(process.argv[process.argv.indexOf('--minutes') + 1]) || 1;

async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-browser-'));
  const proc = spawn('npx', ['next', 'start', '-p', String(PORT), '-H', '127.0.0.1'], {
    env: { ...process.env, TANDEM_DATA_DIR: dir, TANDEM_ADMIN_PASSWORD: PASSWORD, TANDEM_SCHEDULER: '0' },
    detached: true,
    stdio: 'ignore',
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${BASE}/login`)).ok) break;
    } catch {
      /* not yet */
    }
    if (i > 180) throw new Error(`no answer on port ${PORT}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    stop: () => {
      try {
        process.kill(-proc.pid!, 'SIGTERM');
      } catch {
        /* gone */
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Another operator: a session of its own, calling the tRPC HTTP API as the browser does. */
async function apiSession() {
  const headers = { 'content-type': 'application/json', origin: BASE };
  const login = await fetch(`${BASE}/api/trpc/auth.login`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ json: { username: 'admin', password: PASSWORD } }),
  });
  const cookie = String(login.headers.get('set-cookie')).split(';')[0]!;
  const call = async (proc: string, input: unknown, mutation = false) => {
    const res = mutation
      ? await fetch(`${BASE}/api/trpc/${proc}`, {
          method: 'POST',
          headers: { ...headers, cookie },
          body: JSON.stringify({ json: input }),
        })
      : await fetch(`${BASE}/api/trpc/${proc}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, {
          headers: { cookie },
        });
    const body = (await res.json()) as { result?: { data: { json: unknown } }; error?: unknown };
    if (!body.result) throw new Error(`${proc}: ${JSON.stringify(body.error)}`);
    return body.result.data.json;
  };
  return { call };
}

async function signIn(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}

const streams = (page: Page) => {
  let n = 0;
  page.on('request', (r) => void (r.url().includes('/api/trpc/tasks.watch') && n++));
  return () => n;
};

async function fiveTabs(browser: import('@playwright/test').Browser) {
  const context = await browser.newContext({ baseURL: BASE });
  const first = await context.newPage();
  await signIn(first);
  await first.close();
  const rows: string[] = [];
  const pages: Page[] = [];
  for (let i = 1; i <= 5; i++) {
    const page = await context.newPage();
    pages.push(page);
    const count = streams(page);
    const t0 = Date.now();
    await page.goto('/');
    // Loaded: the overview's data and the Active tasks panel are shown.
    await page.getByTestId('health-summary').waitFor({ timeout: 30_000 });
    await page.getByLabel('Active tasks').waitFor();
    const ms = Date.now() - t0;
    await page.waitForTimeout(300);
    rows.push(`  tab ${i}: loaded in ${ms} ms, task event streams opened: ${count()}`);
  }
  console.log('Five console tabs (Overview) in one browser, opened one after another:');
  for (const r of rows) console.log(r);
  await context.close();
}

async function cephPage(
  browser: import('@playwright/test').Browser,
  api: Awaited<ReturnType<typeof apiSession>>,
) {
  const context = await browser.newContext({ baseURL: BASE });
  const page = await context.newPage();
  await signIn(page);
  const sites = (await api.call('sites.list', undefined)) as { id: number; name: string }[];
  const a = sites.find((s) => s.name === 'demo-site-a')!.id;
  const b = sites.find((s) => s.name === 'demo-site-b')!.id;
  await page.goto('/ceph');
  await page.getByRole('tab', { name: 'demo-site-b' }).click();
  await page.getByTestId('pool-row').first().waitFor({ timeout: 30_000 });

  let runs = 0;
  let maxInOne = 0;
  page.on('request', (r) => {
    const u = new URL(r.url());
    if (!u.pathname.startsWith('/api/trpc/')) return;
    const n = u.pathname
      .slice('/api/trpc/'.length)
      .split(',')
      .filter((p) => p === 'ceph.status').length;
    runs += n;
    maxInOne = Math.max(maxInOne, n);
  });
  const images = ['vm-web01-root', 'vm-db01-data', 'vm-app01-root', 'backup-staging', 'archive-2025'];
  const phase = async (siteId: number, label: string) => {
    runs = 0;
    maxInOne = 0;
    const ms = MINUTES * 60_000;
    const t0 = Date.now();
    let started = 0;
    let failed = 0;
    // 20 tasks spread over the minute, one image after another.
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + (i * ms) / 20 - Date.now())));
      try {
        await api.call(
          'ceph.image',
          { siteId, pool: 'rbd', namespace: '', image: images[i % images.length], op: 'snapshot' },
          true,
        );
        started++;
      } catch {
        failed++;
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + ms - Date.now())));
    console.log(
      `  ${label}: ${runs} ceph.status runs in ${MINUTES} min (${started} tasks started${failed ? `, ${failed} refused` : ''}); at most ${maxInOne} in one request`,
    );
  };
  console.log(
    'An open Ceph page (demo-site-b) while another session runs 20 mirror-snapshot tasks in a minute:',
  );
  await phase(a, 'tasks on demo-site-a (unrelated)');
  await phase(b, 'tasks on demo-site-b (its own cluster)');
  await context.close();
}

async function main() {
  const server = await startServer();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu'],
  });
  try {
    await fiveTabs(browser);
    await cephPage(browser, await apiSession());
  } finally {
    await browser.close();
    server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
