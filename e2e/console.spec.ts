import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import Database from 'better-sqlite3';
import { utils as sshUtils } from 'ssh2';

const ADMIN = { username: 'admin', password: 'e2e-admin-password' };

async function progressValue(page: Page): Promise<number> {
  return Number(
    await page.getByTestId('task-progress').getByRole('progressbar').getAttribute('aria-valuenow'),
  );
}

test.describe.configure({ mode: 'serial' });

test('first start: setup, demo overview, a task watched live, history and CSV, sign-out', async ({
  page,
}) => {
  // A protected page without a session goes to sign-in, which sends a fresh install to setup.
  await page.goto('/history');
  await expect(page).toHaveURL(/\/setup$/);
  // The one-time setup code is in the server's log and in <data dir>/setup-code.
  const setupCode = fs
    .readFileSync(path.join(process.env.E2E_DATA_DIR ?? '/tmp/tandem-e2e-data', 'setup-code'), 'utf8')
    .trim();
  await page.getByLabel('Setup code').fill('WRNG-CODE-0000');
  await page.getByLabel('Admin username').fill(ADMIN.username);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Repeat password').fill('something else');
  await expect(page.getByText('the two passwords differ')).toBeVisible();
  await page.getByLabel('Repeat password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Create admin and sign in' }).click();
  await expect(page.getByText('wrong setup code')).toBeVisible();
  await page.getByLabel('Setup code').fill(setupCode);
  await page.getByRole('button', { name: 'Create admin and sign in' }).click();

  // Overview: the demo environment, labelled, healthy.
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await expect(page.getByTestId('current-user')).toHaveText(ADMIN.username);
  for (const name of ['demo-node1', 'demo-node2', 'demo-node3', 'demo-site-a', 'demo-site-b']) {
    await expect(page.getByRole('heading', { name })).toBeVisible();
  }
  await expect(page.getByTestId('health-summary')).toContainText('5 healthy');
  await expect(page.getByText('Demo', { exact: true }).first()).toBeVisible();

  // Start a demo task and watch it to completion.
  await page.getByRole('link', { name: 'Sites' }).click();
  const row = page.getByTestId('site-row').filter({ hasText: 'demo-node1' });
  await row.getByRole('button', { name: 'Check' }).click();
  await expect(page).toHaveURL(/\/tasks\/\d+$/);
  const taskId = page.url().split('/').pop();
  const seen = new Set<number>();
  await expect
    .poll(
      async () => {
        seen.add(await progressValue(page));
        return seen.has(100);
      },
      { intervals: [50], timeout: 30_000 },
    )
    .toBe(true);
  expect(
    [...seen].some((v) => v > 0 && v < 100),
    `intermediate progress seen: ${[...seen].join(',')}`,
  ).toBe(true);
  await expect(page.getByRole('heading', { name: /Task #\d+: Check demo-node1/ })).toContainText('finished');
  await expect(page.getByTestId('task-step')).toHaveCount(4);
  for (const step of await page.getByTestId('task-step').all()) await expect(step).toContainText('done');
  await expect(page.getByTestId('task-log')).toContainText('step: Read capacity');

  // History shows the task and exports it as CSV.
  await page.getByRole('link', { name: 'History' }).click();
  await page.getByLabel('Action').selectOption('site.check');
  const hrow = page.getByTestId('history-row').filter({ hasText: 'site:demo-node1' });
  await expect(hrow).toHaveCount(1);
  await expect(hrow).toContainText('success');
  await expect(hrow).toContainText(`task #${taskId}`);
  const downloadPromise = page.waitForEvent('download');
  await page.getByRole('link', { name: 'Export CSV' }).click();
  const download = await downloadPromise;
  expect(download.suggestedFilename()).toMatch(/^tandem-history-.*\.csv$/);
  const csv = fs.readFileSync((await download.path())!, 'utf8');
  const lines = csv.trim().split('\n');
  expect(lines[0]).toContain('id,time,user,action,target,outcome');
  expect(lines.length).toBe(2);
  expect(lines[1]).toContain('site.check');
  expect(lines[1]).toContain('site:demo-node1');
  expect(lines[1]).toContain(',success,');

  // Sign out; protected pages send us back to sign-in.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto('/tasks');
  await expect(page).toHaveURL(/\/login\?next=%2Ftasks/);
  const res = await page.request.get('/api/history/export');
  expect(res.status()).toBe(401);
});

test('sign-in: a wrong password says so; the right one returns to the page asked for', async ({ page }) => {
  await page.goto('/history');
  await expect(page).toHaveURL(/\/login\?next=%2Fhistory/);
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill('not the password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.locator('form').getByRole('alert')).toHaveText('wrong username or password');
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/history$/);
  await expect(page.getByRole('heading', { name: 'History' })).toBeVisible();
});

test('the overview opens with its data from the server: the browser need not ask for it', async ({
  page,
}) => {
  await page.goto('/login');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  // From here on the browser's own requests for the sites' health fail: what shows came with the page.
  const asked: string[] = [];
  await page.route(/\/api\/trpc\/[^?]*overview\.get/, (route) => {
    asked.push(route.request().url());
    return route.abort();
  });
  await page.reload();
  await expect(page.getByTestId('health-summary')).toContainText('5 healthy');
  await expect(page.getByRole('heading', { name: 'demo-site-b' })).toBeVisible();
  expect(asked).toEqual([]);
});

test('the history and the task list open with their rows from the server', async ({ page }) => {
  await signIn(page);
  // Every request of the browser's own for these lists fails: what shows came with the page.
  await page.route(/\/api\/trpc\/[^?]*(history\.list|tasks\.list)/, (route) => route.abort());
  await page.goto('/history');
  await expect(page.getByTestId('history-row').first()).toBeVisible();
  await expect(page.getByTestId('history-row').filter({ hasText: 'site:demo-node1' }).first()).toBeVisible();
  await page.goto('/tasks');
  await expect(page.getByRole('link', { name: /^Check demo-/ }).first()).toBeVisible();
});

test('sites: bad input gets field errors; a duplicate name its own message', async ({ page }) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Sites' }).click();
  await page.getByRole('button', { name: 'Add node' }).click();
  await page.getByLabel('Name in Tandem').fill('demo-node1');
  await page.getByLabel('SSH host').fill('bad host!');
  await page.getByLabel(/SSH private key/).fill('not a key');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(
    page.getByText('paste the whole private key, including the BEGIN and END lines'),
  ).toBeVisible();
  await page
    .getByLabel(/SSH private key/)
    .fill('-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByText('not a valid host name or IP address')).toBeVisible();
  await page.getByLabel('SSH host').fill('10.9.8.7');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByText('a site named "demo-node1" already exists')).toBeVisible();
});

async function signIn(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
}

test('losing the server: a banner says since when, the page is greyed out, and both clear when it answers again', async ({
  page,
  context,
}) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Replicas (VMs)' }).click();
  await expect(page.getByTestId('vm-row').first()).toBeVisible();
  const banner = page.getByTestId('connection-banner');
  const content = page.getByTestId('page-content');
  await expect(banner).toHaveCount(0);

  // The server stops answering: the next request (here, opening another page) gets nothing back.
  await page.route('**/api/trpc/**', (r) => r.abort());
  await page.getByRole('link', { name: 'History' }).click();
  await expect(banner).toBeVisible();
  await expect(banner).toHaveText(
    /^Lost contact with the Tandem server since \d\d:\d\d:\d\d — states shown may be stale; retrying…$/,
  );
  await expect(content).toHaveAttribute('data-stale', 'true');
  // It answers again: the banner goes, and the page is fetched afresh.
  await page.unroute('**/api/trpc/**');
  await expect(banner).toBeHidden({ timeout: 10_000 });
  await expect(content).not.toHaveAttribute('data-stale', 'true');
  await expect(page.getByTestId('history-row').first()).toBeVisible();

  // The same when the browser itself goes offline.
  await context.setOffline(true);
  await expect(banner).toBeVisible();
  await context.setOffline(false);
  await expect(banner).toBeHidden({ timeout: 10_000 });
});

test('a VM whose master node is unreachable is listed from its stored replica, marked, with its failover one click away', async ({
  page,
}) => {
  await signIn(page);
  // A node that refuses connections (nothing listens on port 1).
  await page.getByRole('link', { name: 'Sites' }).click();
  await page.getByRole('button', { name: 'Add node' }).click();
  await page.getByLabel('Name in Tandem').fill('lost-node');
  await page.getByLabel('SSH host').fill('127.0.0.1');
  await page.getByLabel('SSH port').fill('1');
  await page.getByLabel(/SSH private key/).fill(sshUtils.generateKeyPairSync('ed25519').private);
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByTestId('site-row').filter({ hasText: 'lost-node' })).toBeVisible();

  // The replica Tandem stored for web09 while that node still answered, as its last sync left it.
  const db = new Database(path.join(process.env.E2E_DATA_DIR ?? '/tmp/tandem-e2e-data', 'tandem.db'));
  const siteId = (name: string) =>
    (db.prepare('select id from sites where name = ?').get(name) as { id: number }).id;
  const lastSync = Date.now() - 300_000;
  db.prepare(
    `insert into replicas (name, vm_name, source_site_id, target_site_id, root_zpool, disk_zpools, datasets, vm_definition, reserve_resources, vcpus, memory_mib,
       sleep_time_sec, enabled, keep_snapshots, state, last_sync_at, last_snapshot, last_sync_bytes)
     values ('dr', 'web09', ?, ?, 'zones', '{}', ?, ?, 1, 2, 4096, 60, 0, 3, 'paused', ?, 'tandem-dr-20260101T000000Z', 1048576)`,
  ).run(
    siteId('lost-node'),
    siteId('demo-node2'),
    JSON.stringify([
      { device: 'vda', source: 'zones/web09-disk0', target: 'zones/web09-disk0', kind: 'zvol', file: null },
    ]),
    JSON.stringify({
      format: 'libvirt-xml',
      name: 'web09',
      text: '<domain type="kvm"><name>web09</name></domain>',
      state: 'running',
      disks: [{ device: 'vda', path: '/dev/zvol/zones/web09-disk0' }],
    }),
    lastSync,
  );
  db.close();

  // The Replicas page shows the node as unreachable with the reason, and web09 in it.
  await page.getByRole('link', { name: 'Replicas (VMs)' }).click();
  const card = page.locator('[data-testid=node-card][data-node="lost-node"]');
  await expect(card.getByTestId('node-status')).toContainText(
    'lost-node is unreachable: connection refused by 127.0.0.1:1',
  );
  const row = card.locator('[data-testid=vm-row][data-vm="web09"]');
  await expect(row).toContainText('node unreachable');
  await expect(row).toContainText('2 / 4.0 GiB');
  await expect(row).toContainText('last known: running');
  // The failover wizard is one click away.
  await row.getByRole('button', { name: 'Fail over to demo-node2…' }).click();
  await expect(page.getByRole('heading', { name: 'Fail over web09' })).toBeVisible();
  await page.getByRole('button', { name: 'Close' }).click();

  // So is the VM page, which says why and shows the replica with its wizard.
  await row.getByRole('link', { name: 'web09' }).click();
  await expect(page.getByTestId('vm-unreachable')).toContainText(
    'Node unreachable: connection refused by 127.0.0.1:1',
  );
  await expect(page.getByTestId('vm-unreachable')).toContainText('last known state running');
  const replicaCard = page.locator('[data-testid=replica-card][data-replica="dr"]');
  await expect(replicaCard).toBeVisible();
  await replicaCard.getByRole('button', { name: 'Fail over…' }).click();
  await expect(page.getByRole('heading', { name: 'Fail over web09' })).toBeVisible();
});

test('the server is stopped and started again: the banner says so, and live progress works again afterwards', async ({
  browser,
}) => {
  // A server of its own (the shared one must keep running), stopped as a service manager stops it.
  test.setTimeout(180_000);
  const port = Number(process.env.E2E_RESTART_PORT ?? 3216);
  const base = `http://127.0.0.1:${port}`;
  const data = process.env.E2E_RESTART_DATA_DIR ?? '/tmp/tandem-e2e-restart-data';
  const password = 'e2e-restart-admin-password';
  fs.rmSync(data, { recursive: true, force: true });
  const start = () =>
    spawn('npx', ['next', 'start', '-p', String(port), '-H', '127.0.0.1'], {
      env: {
        ...process.env,
        TANDEM_DATA_DIR: data,
        TANDEM_DEMO_LATENCY_MS: '1000',
        TANDEM_ADMIN_PASSWORD: password,
      },
      detached: true,
      stdio: 'ignore',
    });
  const answering = async () => {
    for (
      const deadline = Date.now() + 90_000;
      Date.now() < deadline;
      await new Promise((r) => setTimeout(r, 300))
    ) {
      if (
        await fetch(`${base}/login`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
    }
    throw new Error(`the server on port ${port} did not answer within 90 s`);
  };
  // SIGTERM to the whole group; a stopping Next.js server keeps serving the streams it has open.
  const stop = (s: ChildProcess, signal: NodeJS.Signals = 'SIGTERM') => {
    try {
      process.kill(-s.pid!, signal);
    } catch {
      /* already gone */
    }
  };
  const servers: ChildProcess[] = [start()];
  const context = await browser.newContext({ baseURL: base });
  try {
    await answering();
    const page = await context.newPage();
    await page.goto('/login');
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Sites' }).click();
    await expect(page.getByTestId('site-row').first()).toBeVisible();
    const banner = page.getByTestId('connection-banner');

    stop(servers[0]!);
    await expect(banner).toBeVisible({ timeout: 20_000 });
    await expect(page.getByTestId('page-content')).toHaveAttribute('data-stale', 'true');
    servers.push(start());
    await answering();
    await expect(banner).toBeHidden({ timeout: 20_000 });

    // The active-tasks panel hears of a new task only through the live stream: it must have reconnected.
    await page
      .getByTestId('site-row')
      .filter({ hasText: 'demo-node1' })
      .getByRole('button', { name: 'Check' })
      .click();
    await expect(page.getByTestId('active-task').filter({ hasText: 'Check demo-node1' })).toBeVisible();
    await expect(page.getByRole('heading', { name: /Task #\d+: Check demo-node1/ })).toContainText(
      'finished',
      { timeout: 30_000 },
    );
    await expect(page.getByTestId('active-task')).toHaveCount(0);
  } finally {
    await context.close();
    for (const s of servers) stop(s, 'SIGKILL');
    fs.rmSync(data, { recursive: true, force: true });
  }
});
