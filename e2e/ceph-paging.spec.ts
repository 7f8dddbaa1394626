import { expect, test, type Page } from '@playwright/test';
import { OwnServer } from './own-server';

/*
 * The Ceph page with more images than it shows at once: demo-site-a's pool rbd is given 240
 * mirrored images (`bench-<i>`, TANDEM_DEMO_IMAGES) on a server of its own. Each group of the
 * image table is a paged section filled by `ceph.images`; image choices become a search beyond 200.
 */
const PORT = Number(process.env.E2E_CEPH_PAGING_PORT ?? 3224);
const DATA = process.env.E2E_CEPH_PAGING_DATA_DIR ?? '/tmp/tandem-e2e-ceph-paging-data';
const PASSWORD = 'e2e-ceph-paging-password';
const IMAGES = 240;

let page: Page;

test.describe.configure({ mode: 'serial' });

const own = new OwnServer(PORT, DATA, PASSWORD, {
  TANDEM_DEMO_IMAGES: String(IMAGES),
  TANDEM_DEMO_LATENCY_MS: '20',
});

test.beforeAll(async ({ browser }) => {
  test.setTimeout(180_000);
  page = await own.start(browser);
});

test.afterAll(() => own.stop());

const rows = (group: string) => page.locator(`[data-testid=images-${group}] [data-testid=image-row]`);

test('the pool row and the groups count every image; a group shows 25 rows a page, paged, found by name, sorted', async () => {
  // The status carries counts, not images.
  const status = page.waitForResponse(
    (r) => r.url().includes('/api/trpc/') && r.url().includes('ceph.status'),
  );
  await page.goto('/ceph');
  await expect(page.getByRole('tab', { name: 'demo-site-a' })).toHaveAttribute('aria-selected', 'true');
  const body = await (await status).text();
  expect(body).not.toContain('bench-17');
  expect(body.length).toBeLessThan(20_000);

  const poolRow = page
    .getByTestId('pool-row')
    .filter({ has: page.getByRole('button', { name: 'rbd', exact: true }) });
  await expect(poolRow).toContainText(`${IMAGES} (${IMAGES} mirrored)`);
  await page.getByRole('tab', { name: 'Images' }).click();
  await expect(rows('ready')).toHaveCount(25);
  const pager = page.getByTestId('images-ready-pager');
  await expect(pager).toContainText(/^1–25 of 2\d\d/);
  // Names sort with their numbers in order (bench-9 before bench-10).
  const names = () => rows('ready').evaluateAll((els) => els.map((e) => e.getAttribute('data-image')!));
  const numeric = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true, sensitivity: 'base' });
  const first = await names();
  expect(first).toEqual([...first].sort(numeric));
  expect(first).toContain('bench-9');
  expect(first.indexOf('bench-9')).toBeLessThan(first.indexOf('bench-10'));
  await pager.getByRole('button', { name: 'Next' }).click();
  await expect(pager).toContainText(/^26–50 of /);
  await expect(rows('ready')).toHaveCount(25);
  const second = await names();
  expect(numeric(second[0]!, first.at(-1)!)).toBeGreaterThan(0);

  // Part of a name: the matching images of each group, back to the first page.
  await page.getByLabel('Find images').fill('bench-17');
  // bench-17 and bench-170 … bench-179, wherever their sync is.
  await expect.poll(async () => (await rows('ready').count()) + (await rows('syncing').count())).toBe(11);
  await expect(pager).toHaveCount(0);
  await page.getByLabel('Find images').fill('');
  await expect(rows('ready')).toHaveCount(25);

  // Sorted by name, descending, from the column header.
  await page.locator('[data-testid=images-ready] thead').getByRole('button', { name: /Image/ }).click();
  await expect(page.getByLabel('Sort by')).toHaveValue('name/desc');
  await expect(rows('ready').first()).toHaveAttribute('data-image', /^vm-/);

  // An image's actions and details work on any page.
  await page.getByLabel('Find images').fill('bench-239');
  const row = page.locator('[data-testid=image-row][data-image="bench-239"]');
  await row.getByRole('button', { name: 'bench-239', exact: true }).click();
  await expect(page.locator('[data-testid=image-details][data-image="bench-239"]')).toBeVisible();
  await row.getByRole('button', { name: 'Snapshot' }).click();
  await expect(page.getByText(/Done: Mirror snapshot of rbd\/bench-239/)).toBeVisible({ timeout: 20_000 });

  // A few hundred elements, whatever the number of images.
  expect(await page.evaluate(() => document.getElementsByTagName('*').length)).toBeLessThan(5_000);
});

test('beyond 200 images an image is chosen by typing its name; the failover preview lists 50 with the totals', async () => {
  await page.goto('/ceph?tab=schedules');
  await expect(page.getByRole('tab', { name: 'Schedules' })).toHaveAttribute('aria-selected', 'true');
  // The schedule's image: typed, with suggestions, instead of a list of every image.
  const image = page.getByLabel('Image (empty: whole pool)');
  await expect(image).toHaveAttribute('list', /.+/);
  await image.fill('bench-1');
  const list = (await image.getAttribute('list'))!;
  await expect(page.locator(`[id="${list}"] option`).first()).toHaveAttribute('value', /^bench-1/);
  await image.fill('bench-no-such');
  await expect(page.getByText('no image named bench-no-such')).toBeVisible();

  // The failover from here: planned, 50 of the images listed, the others counted.
  await page.getByRole('tab', { name: 'Failover' }).click();
  const wizard = page.getByTestId('ceph-failover');
  const loss = wizard.getByTestId('ceph-data-loss');
  await expect(loss).toHaveAttribute('data-mode', 'planned', { timeout: 30_000 });
  await expect(loss.getByTestId('ceph-data-loss-row')).toHaveCount(50);
  await expect(wizard.getByTestId('ceph-data-loss-summary')).toContainText(
    /^2\d\d images\. The 50 first are listed/,
  );
  await expect(
    wizard.locator('[data-testid=ceph-precheck]').filter({ hasText: /more image\(s\)/ }),
  ).toBeVisible();
  // One image as the scope, by name.
  await wizard.getByLabel('Scope').fill('bench-42');
  await expect(loss.getByTestId('ceph-data-loss-row')).toHaveCount(1);
  await expect(loss.getByTestId('ceph-data-loss-row')).toHaveAttribute('data-image', 'bench-42');
  await expect(
    wizard.getByRole('button', { name: 'Fail over bench-42 from demo-site-a to demo-site-b' }),
  ).toBeVisible();
});
