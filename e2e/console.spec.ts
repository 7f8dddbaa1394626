import fs from 'node:fs';
import { expect, test, type Page } from '@playwright/test';

const ADMIN = { username: 'admin', password: 'e2e-admin-password' };

async function progressValue(page: Page): Promise<number> {
  return Number(await page.getByTestId('task-progress').getByRole('progressbar').getAttribute('aria-valuenow'));
}

test.describe.configure({ mode: 'serial' });

test('first start: setup, demo overview, a task watched live, history and CSV, sign-out', async ({ page }) => {
  // A protected page without a session goes to sign-in, which sends a fresh install to setup.
  await page.goto('/history');
  await expect(page).toHaveURL(/\/setup$/);
  await page.getByLabel('Admin username').fill(ADMIN.username);
  await page.getByLabel('Password', { exact: true }).fill(ADMIN.password);
  await page.getByLabel('Repeat password').fill('something else');
  await expect(page.getByText('the two passwords differ')).toBeVisible();
  await page.getByLabel('Repeat password').fill(ADMIN.password);
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
  expect([...seen].some((v) => v > 0 && v < 100), `intermediate progress seen: ${[...seen].join(',')}`).toBe(true);
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

test('sites: bad input gets field errors; a duplicate name its own message', async ({ page }) => {
  await page.goto('/login');
  await page.getByLabel('Username').fill(ADMIN.username);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
  await page.getByRole('link', { name: 'Sites' }).click();
  await page.getByRole('button', { name: 'Add node' }).click();
  await page.getByLabel('Name in Tandem').fill('demo-node1');
  await page.getByLabel('SSH host').fill('bad host!');
  await page.getByLabel(/SSH private key/).fill('not a key');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByText('paste the whole private key, including the BEGIN and END lines')).toBeVisible();
  await page.getByLabel(/SSH private key/).fill('-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByText('not a valid host name or IP address')).toBeVisible();
  await page.getByLabel('SSH host').fill('10.9.8.7');
  await page.getByRole('button', { name: 'Register' }).click();
  await expect(page.getByText('a site named "demo-node1" already exists')).toBeVisible();
});
