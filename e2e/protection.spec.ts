import { expect, test, type Page } from '@playwright/test';
import { seriousViolations } from './axe';
import { addReplica, OwnServer } from './own-server';

/*
 * The Protection overview on the home page, against the demo sites: VM replicas, mirrored images
 * and what is not protected in one table, filtered and sorted on the server, with RPO targets
 * edited in place. Its own server: it creates a replica and changes RPO targets.
 */
const PORT = Number(process.env.E2E_PROTECTION_PORT ?? 3218);
const DATA = process.env.E2E_PROTECTION_DATA_DIR ?? '/tmp/tandem-e2e-protection-data';
const PASSWORD = 'e2e-protection-admin-password';

let page: Page;
test.describe.configure({ mode: 'serial' });
const own = new OwnServer(PORT, DATA, PASSWORD, {});

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});
test.afterAll(() => own.stop());

const table = () => page.getByTestId('protection-table');
const rows = (prefix: string) => table().locator(`tbody tr[data-subject^="${prefix}"]`);

test('one table of replicas, mirrored images and unprotected VMs, filtered, searched, sorted and paged on the server', async () => {
  await page.goto('/');
  await expect(page.getByRole('heading', { name: 'Protection' })).toBeVisible();
  // Mirrored images of the demo pair, and VMs without a replica (not protected), side by side.
  await expect(rows('rbd:').first()).toBeVisible();
  await expect(rows('vm:').first()).toBeVisible();
  await expect(rows('vm:').first()).toContainText('Not protected');
  await expect(table().locator('tr[data-subject$="/rbd//vm-db01-data"]')).toContainText(
    'demo-site-a → demo-site-b',
  );
  expect(await seriousViolations(page)).toEqual([]);

  // A replica of web01: it joins the table as a VM replica, and web01 is no longer unprotected.
  await addReplica(page, { vm: 'web01', name: 'dr', target: 'demo-node2' });
  await page.goto('/');
  const replica = rows('replica:');
  await expect(replica).toHaveCount(1);
  await expect(replica).toContainText('web01 (dr)');
  await expect(replica).toContainText('demo-node1 → demo-node2');
  // Until its first sync has finished, its window is not known (and the table says why).
  await expect(replica).toHaveAttribute('data-health', /unknown|ok/);
  if ((await replica.getAttribute('data-health')) === 'unknown')
    await expect(replica).toContainText('the first sync has not finished yet');
  await expect(table().locator('tr[data-subject$="/web01"][data-subject^="vm:"]')).toHaveCount(0);

  // Filters are answered by the server: kind, search.
  await page.getByLabel('Kind').selectOption('rbd-image');
  await expect(rows('replica:')).toHaveCount(0);
  await expect(rows('vm:')).toHaveCount(0);
  await page.getByLabel('Search').fill('archive');
  await expect(table().locator('tbody tr')).toHaveCount(1);
  await expect(table().locator('tbody tr')).toContainText('rbd/archive-2025');
  await page.getByLabel('Search').fill('');
  await page.getByLabel('Kind').selectOption('');

  await expect.poll(() => table().locator('tbody tr').count()).toBeGreaterThan(3);

  // Sorted by name, descending, on two clicks of its header.
  await table().getByRole('button', { name: 'Name' }).click();
  await expect(table().locator('thead th[aria-sort="ascending"]')).toContainText('Name');
  await table().getByRole('button', { name: /Name/ }).click();
  await expect(table().locator('thead th[aria-sort="descending"]')).toContainText('Name');
  await expect
    .poll(async () => {
      const names = await table().locator('tbody tr td:nth-child(3)').allTextContents();
      return (
        names.length > 3 &&
        names.join('\n') === [...names].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0)).join('\n')
      );
    })
    .toBe(true);
});

test('an RPO set on an image shows where it comes from and turns its health; the site-loss summary answers what would be lost', async () => {
  await page.goto('/');
  const row = table().locator('tr[data-subject$="/rbd//vm-db01-data"]');
  await expect(row).toBeVisible();
  await row.getByRole('button', { name: /RPO of rbd\/vm-db01-data/ }).click();
  const dialog = page.getByRole('dialog', { name: 'RPO of rbd/vm-db01-data' });
  await expect(dialog).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);
  await dialog.getByLabel('RPO (minutes)').fill('0.05');
  await dialog.getByRole('button', { name: 'Save' }).click();
  // 3 s is below the minimum: a specific error, nothing saved.
  await expect(dialog.getByText('at least 10 s')).toBeVisible();
  await dialog.getByLabel('RPO (minutes)').fill('0.5');
  await dialog.getByRole('button', { name: 'Save' }).click();
  await expect(dialog).toBeHidden();
  await expect(row).toContainText('30 s');
  await expect(row).toContainText('this object');
  // The demo images copy a snapshot every few minutes: 30 s is soon breached.
  await expect(row).toHaveAttribute('data-health', /warning|breach/, { timeout: 30_000 });

  // The same target for the whole pool, from the pool scope: other images inherit it.
  const other = table().locator('tr[data-subject$="/rbd//vm-web01-root"]');
  await other.getByRole('button', { name: /RPO of rbd\/vm-web01-root/ }).click();
  const d2 = page.getByRole('dialog', { name: 'RPO of rbd/vm-web01-root' });
  await d2.getByLabel('Set the target of').selectOption('pool');
  await d2.getByLabel('RPO (minutes)').fill('120');
  await d2.getByRole('button', { name: 'Save' }).click();
  await expect(other).toContainText('2 h');
  await expect(other).toContainText('pool rbd (demo-site-a ↔ demo-site-b)');
  await expect(row).toContainText('30 s');

  // "What would I lose if site A died now?"
  const exposure = page.getByTestId('protection-exposure');
  await expect(exposure).toContainText(/demo-site-a: \d+ image\(s\) fail over losing up to/);
  await expect(exposure).toContainText(/demo-node1: 1 VM\(s\) fail over losing up to/);

  // The failover link opens the surviving cluster's page on the image's pool.
  await row.getByRole('link', { name: 'Fail over…' }).click();
  await expect(page).toHaveURL(/\/ceph\?site=\d+&pool=rbd/);
  await expect(page.getByRole('tab', { name: 'demo-site-b' })).toHaveAttribute('aria-selected', 'true');
});
