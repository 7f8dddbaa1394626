import { expect, test, type Page } from '@playwright/test';
import { cephLab, imageMd5, rbd, register, signIn, waitForTask } from './helpers';

const IMG = `e2eimg${process.pid % 10000}`;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ baseURL }) => {
  rbd('site-a', 'create', '--size', '32M', '--image-feature', 'layering,exclusive-lock', `rbd/${IMG}`);
  rbd('site-a', 'bench', '--io-type', 'write', '--io-size', '1M', '--io-total', '8M', '--io-pattern', 'rand', `rbd/${IMG}`);
  await register(baseURL!, { nodes: false, ceph: true });
});

test.afterAll(() => {
  for (const site of ['site-a', 'site-b'] as const) {
    try {
      rbd(site, 'mirror', 'snapshot', 'schedule', 'remove', '--pool', 'rbd', '1h');
    } catch {
      /* not there */
    }
    try {
      rbd(site, 'mirror', 'image', 'disable', '--force', `rbd/${IMG}`);
    } catch {
      /* not there */
    }
  }
  for (const site of ['site-a', 'site-b'] as const) {
    for (let i = 0; i < 10; i++) {
      try {
        rbd(site, 'rm', '--no-progress', `rbd/${IMG}`);
        break;
      } catch {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
      }
    }
  }
  cephLab('unpair');
});

async function openCluster(page: Page, site: string) {
  await page.goto('/ceph');
  await page.getByRole('tab', { name: site }).click();
  await expect(page.getByRole('tab', { name: site })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('pool-row').first()).toBeVisible();
}

/** Reloads until the locator shows the text (Ceph's status lags reality by seconds). */
async function eventually(page: Page, site: string, check: () => Promise<boolean>, timeout = 120_000) {
  await expect
    .poll(
      async () => {
        await openCluster(page, site);
        return check();
      },
      { timeout, intervals: [3000] },
    )
    .toBe(true);
}

test('pair by token, mirror an image, schedule it, fail over and back; the content is identical', async ({ page }) => {
  test.setTimeout(480_000);
  await signIn(page);

  // Pair: copy a token from site-a's page, paste it on site-b's page.
  await openCluster(page, 'site-a');
  await page.getByRole('button', { name: 'Create token' }).click();
  const tokenBox = page.getByTestId('bootstrap-token');
  await expect(tokenBox).toContainText('•••');
  await page.getByRole('button', { name: 'Reveal' }).click();
  const token = (await tokenBox.textContent())!.trim();
  expect(token.length).toBeGreaterThan(100);
  await openCluster(page, 'site-b');
  await page.getByLabel('Bootstrap token').fill(token);
  await expect(page.getByTestId('token-preview')).toContainText('127.0.0.1');
  await page.getByRole('button', { name: 'Import token' }).click();
  await eventually(page, 'site-b', async () => (await page.getByTestId('pool-row').filter({ hasText: 'rbd' }).first().textContent())!.includes('site-a'));

  // Enable snapshot mirroring of the image on site-a.
  await openCluster(page, 'site-a');
  await page.getByTestId('image-row').filter({ hasText: IMG }).getByRole('button', { name: 'Enable (snapshot)' }).click();
  await eventually(page, 'site-b', async () => {
    const row = page.getByTestId('image-row').filter({ hasText: IMG });
    return (await row.count()) > 0 && /up\+replaying/.test((await row.textContent()) ?? '');
  });

  // A schedule, with its next runs shown before saving, and the image's next snapshot after.
  await openCluster(page, 'site-a');
  await page.getByLabel('Interval').fill('1h');
  await expect(page.getByTestId('schedule-preview')).toContainText('Next runs:');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  await eventually(page, 'site-a', async () => /every 1h/.test((await page.getByTestId('schedules').textContent()) ?? ''));
  await eventually(page, 'site-a', async () => /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test((await page.getByTestId('image-row').filter({ hasText: IMG }).getByTestId('next-snapshot').textContent()) ?? ''), 90_000);

  // Planned failover a → b through the wizard.
  const before = imageMd5('site-a', `rbd/${IMG}`);
  await openCluster(page, 'site-a');
  await page.getByLabel('Scope').selectOption(IMG);
  await expect(page.getByTestId('ceph-data-loss')).toContainText('Planned failover');
  await expect(page.locator('[data-testid=ceph-precheck][data-status=block]')).toHaveCount(0);
  await page.getByLabel(`Type ${IMG} to confirm`).first().fill(IMG);
  await page.getByRole('button', { name: 'Fail over to site-b' }).click();
  await waitForTask(page);
  expect(imageMd5('site-b', `rbd/${IMG}`)).toBe(before);

  // Failback b → a once site-a replays again.
  await eventually(page, 'site-a', async () => /up\+replaying/.test((await page.getByTestId('image-row').filter({ hasText: IMG }).textContent()) ?? ''));
  await openCluster(page, 'site-b');
  await page.getByLabel('Scope').selectOption(IMG);
  await expect(page.locator('[data-testid=ceph-precheck][data-status=block]')).toHaveCount(0);
  await page.getByLabel(`Type ${IMG} to confirm`).first().fill(IMG);
  await page.getByRole('button', { name: 'Fail over to site-a' }).click();
  await waitForTask(page);
  expect(imageMd5('site-a', `rbd/${IMG}`)).toBe(before);
  expect(imageMd5('site-b', `rbd/${IMG}`)).toBe(before);
});
