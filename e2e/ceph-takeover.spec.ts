import { expect, test, type Page, type Route } from '@playwright/test';
import { OwnServer } from './own-server';

/*
 * The bad day on the demo clusters: demo-site-a is powered off (TANDEM_DEMO_DOWN) and its pools
 * are failed over from the page of the survivor, demo-site-b. Its own server on a fresh data
 * directory, like ceph.spec.ts: the simulation is changed for good.
 */
const PORT = Number(process.env.E2E_TAKEOVER_PORT ?? Number(process.env.E2E_PORT ?? 3210) + 4);
const DATA =
  process.env.E2E_TAKEOVER_DATA_DIR ?? `${process.env.E2E_DATA_DIR ?? '/tmp/tandem-e2e-data'}-takeover`;
const PASSWORD = 'e2e-takeover-admin-password';
const IMAGES = ['archive-2025', 'backup-staging', 'vm-app01-root', 'vm-db01-data', 'vm-web01-root'];

let page: Page;

test.describe.configure({ mode: 'serial' });

const own = new OwnServer(PORT, DATA, PASSWORD, { TANDEM_DEMO_DOWN: 'demo-site-a' });

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});

test.afterAll(() => own.stop());

const poolRow = () =>
  page.getByTestId('pool-row').filter({ has: page.getByRole('button', { name: 'rbd', exact: true }) });
const imageRow = (name: string) => page.locator(`[data-testid=image-row][data-image="${name}"]`);

test("site-a is gone: site-b's page fails rbd over from site-a, unplanned, with each image's data-loss window", async () => {
  await page.goto('/ceph');
  await expect(page.getByRole('tab', { name: 'demo-site-a' })).toHaveAttribute('aria-selected', 'true');
  // The lost cluster's page says so (its monitors are looked for 5 s) and points to the survivor.
  await expect(page.getByTestId('ceph-cluster-state')).toContainText('demo-site-a is unreachable', {
    timeout: 20_000,
  });
  const hint = page.getByTestId('ceph-takeover-hint');
  await expect(hint).toContainText(
    'demo-site-a cannot be reached. To fail its pools over, open demo-site-b.',
  );
  await expect(page.getByTestId('pool-row')).toHaveCount(0);

  // The plan is held back until the card has shown itself: the card does not wait for the plan
  // (whatever the machine's speed), and says whom it asks meanwhile.
  const plans = (url: URL) =>
    url.pathname.startsWith('/api/trpc/') && url.pathname.includes('ceph.failoverPlan');
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const held = async (route: Route) => {
    await gate;
    await route.continue().catch(() => undefined);
  };
  await page.route(plans, held);
  const card = page.locator('[data-testid=ceph-takeover][data-from="demo-site-a"]');
  // The status carries each pool's image counts; the images come a page at a time (ceph.images).
  const statuses: Promise<string>[] = [];
  page.on(
    'response',
    (r) =>
      void (
        r.url().includes('/api/trpc/') &&
        r.url().includes('ceph.status') &&
        statuses.push(r.text().catch(() => ''))
      ),
  );
  try {
    // The hint opens the survivor on its Failover section.
    await hint.getByRole('button', { name: 'Open demo-site-b' }).click();
    await expect(page.getByRole('tab', { name: 'demo-site-b' })).toHaveAttribute('aria-selected', 'true');
    await expect(page.getByRole('tab', { name: 'Failover' })).toHaveAttribute('aria-selected', 'true');
    await expect(page).toHaveURL(/\/ceph\?site=\d+&tab=failover$/);
    await expect(
      card.getByRole('heading', { name: 'Fail over pool rbd from demo-site-a to demo-site-b' }),
    ).toBeVisible();
    await expect(card.getByTestId('ceph-plan-pending')).toContainText('Asking demo-site-a…');
    // Nothing is primary on site-b: the failover from it has nothing to do.
    await expect(page.getByTestId('ceph-failover').getByTestId('ceph-failover-idle')).toContainText(
      'No mirrored image of rbd is primary on demo-site-b: there is nothing to fail over from here.',
    );
  } finally {
    release();
    await page.unroute(plans, held);
  }
  await page.getByRole('tab', { name: 'Images' }).click();
  for (const name of IMAGES) await expect(imageRow(name)).toBeVisible();
  const bodies = await Promise.all(statuses);
  expect(bodies.some((b) => b.includes('"notPrimary"'))).toBe(true);
  for (const name of IMAGES) expect(bodies.filter((b) => b.includes(name))).toEqual([]);
  // Every mirrored pool and namespace offers the takeover.
  await page.getByRole('tab', { name: 'Pools & peers' }).click();
  await expect(poolRow().getByRole('button', { name: 'Fail over from demo-site-a…' })).toBeVisible();
  await expect(
    page.getByTestId('namespace-row').getByRole('button', { name: 'Fail over from demo-site-a…' }),
  ).toBeVisible();
  await poolRow().getByRole('button', { name: 'Fail over from demo-site-a…' }).click();
  await expect(page.getByRole('tab', { name: 'Failover' })).toHaveAttribute('aria-selected', 'true');

  // The plan: unplanned, site-a unreachable, and what each image loses.
  const loss = card.getByTestId('ceph-data-loss');
  await expect(loss).toHaveAttribute('data-mode', 'unplanned', { timeout: 15_000 });
  await expect(loss).toContainText('Unplanned failover');
  await expect(card.getByTestId('ceph-plan-pending')).toHaveCount(0);
  await expect(
    card
      .locator('[data-testid=ceph-precheck][data-status=warn]')
      .filter({ hasText: 'Primary cluster reachable' }),
  ).toContainText('unreachable');
  await expect(card.locator('[data-testid=ceph-precheck][data-status=block]')).toHaveCount(0);
  await expect(loss).toContainText('Last synced snapshot on demo-site-b');
  const rows = loss.getByTestId('ceph-data-loss-row');
  await expect(rows).toHaveCount(IMAGES.length);
  for (const name of IMAGES)
    await expect(loss.locator(`[data-image="${name}"] td`).nth(2)).toHaveText(/^\d+ (ms|s|min|h|d)\b/);
  await expect(card.getByTestId('confirm-split-brain')).toHaveCount(0);

  // Typed confirmation; the failover asks site-a once more (5 s) and force-promotes on site-b.
  const go = card.getByRole('button', { name: 'Fail over rbd from demo-site-a to demo-site-b' });
  await expect(go).toBeDisabled();
  await card.getByLabel('Type rbd to confirm').fill('rbd');
  // A reason is required (it goes into the failover's run report).
  await expect(go).toBeDisabled();
  await card.getByLabel('Reason (goes into the run report)').fill('site A is lost');
  await go.click();
  await expect(page).toHaveURL(/\/tasks\/\d+$/, { timeout: 20_000 });
  await expect(
    page.getByRole('heading', { name: /Task #\d+: Unplanned failover of pool rbd/ }),
  ).toContainText('finished', { timeout: 30_000 });
  // Its run report: the reason, and the data lost measured from the recovery points used.
  await page.getByRole('link', { name: /Run report #\d+/ }).click();
  const report = page.getByTestId('run-report');
  await expect(
    report.getByRole('heading', { name: /Forced failover of RBD pool rbd \(demo-site-a → demo-site-b\)/ }),
  ).toContainText('finished');
  await expect(report.getByTestId('report-reason')).toHaveText('site A is lost');
  await expect(report.getByTestId('report-data-loss')).toHaveText(/^\d+ (s|min|h)\b/);

  // Every image of rbd is primary on site-b now; the takeover is no longer offered.
  await page.goto('/ceph');
  await page.getByRole('tab', { name: 'demo-site-b' }).click();
  await expect(page.getByRole('tab', { name: 'demo-site-b' })).toHaveAttribute('aria-selected', 'true');
  await expect(poolRow()).toBeVisible();
  await expect(poolRow().getByRole('button', { name: 'Fail over from demo-site-a…' })).toHaveCount(0);
  await page.getByRole('tab', { name: 'Images' }).click();
  for (const name of IMAGES) await expect(imageRow(name).locator('td').nth(2)).toHaveText(/^primary/);
  await page.getByRole('tab', { name: 'Failover' }).click();
  await expect(page.getByTestId('ceph-takeover')).toHaveCount(0);
  await expect(
    page.getByRole('heading', { name: 'Fail over pool rbd from demo-site-b to demo-site-a' }),
  ).toBeVisible();
});

test('the namespace is taken over from its row, one image at a time if chosen', async () => {
  await page.goto('/ceph');
  await page.getByRole('tab', { name: 'demo-site-b' }).click();
  const ns = page.getByTestId('namespace-row');
  await ns.getByRole('button', { name: 'Fail over from demo-site-a…' }).click();
  // The Failover section of the namespace, scrolled to the takeover card.
  await expect(page.getByRole('tab', { name: 'Failover' })).toHaveAttribute('aria-selected', 'true');
  await expect(page).toHaveURL(/&pool=rbd&ns=tenant1&tab=failover$/);
  const card = page.locator('[data-testid=ceph-takeover][data-from="demo-site-a"]');
  await expect(
    card.getByRole('heading', { name: 'Fail over namespace rbd/tenant1 from demo-site-a to demo-site-b' }),
  ).toBeInViewport();
  await card.getByLabel('Scope').selectOption('vm-mail01-root');
  await expect(card.getByTestId('ceph-data-loss')).toHaveAttribute('data-mode', 'unplanned');
  await expect(card.getByTestId('ceph-data-loss-row')).toHaveCount(1);
  await card.getByLabel('Type vm-mail01-root to confirm').fill('vm-mail01-root');
  await card.getByLabel('Reason (goes into the run report)').fill('site A is lost');
  await card
    .getByRole('button', { name: 'Fail over vm-mail01-root from demo-site-a to demo-site-b' })
    .click();
  await expect(
    page.getByRole('heading', { name: /Task #\d+: Unplanned failover of image vm-mail01-root/ }),
  ).toContainText('finished', { timeout: 60_000 });
  await page.goto('/ceph');
  await page.getByRole('tab', { name: 'demo-site-b' }).click();
  await ns.getByRole('button', { name: 'rbd / tenant1', exact: true }).click();
  await page.getByRole('tab', { name: 'Images' }).click();
  await expect(imageRow('vm-mail01-root').locator('td').nth(2)).toHaveText(/^primary/);
  // The other mirrored image of the namespace can still be taken over.
  await expect(imageRow('vm-erp01-data').locator('td').nth(2)).toHaveText(/^non-primary/);
  await page.getByRole('tab', { name: 'Pools & peers' }).click();
  await expect(ns.getByRole('button', { name: 'Fail over from demo-site-a…' })).toBeVisible();
});
