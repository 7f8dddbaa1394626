import { expect, test, type Locator, type Page } from '@playwright/test';
import { cephLab, dropImages, imageMd5, rbd, register, signIn, waitForTask } from './helpers';

/*
 * The Ceph console against the real two-site lab: pair by copying a token on site-a's page and
 * pasting it on site-b's; enable snapshot mirroring of an image; add a schedule and see its
 * next run; a planned failover and failback through the wizard; the content is identical.
 */
const IMG = `e2eimg${process.pid % 10000}`;
const t0 = Date.now();
const mark = (what: string) => console.log(`[ceph-e2e] ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ baseURL }) => {
  cephLab('unpair');
  rbd('site-a', 'create', '--size', '32M', '--image-feature', 'layering,exclusive-lock', `rbd/${IMG}`);
  rbd(
    'site-a',
    'bench',
    '--io-type',
    'write',
    '--io-size',
    '1M',
    '--io-total',
    '8M',
    '--io-pattern',
    'rand',
    `rbd/${IMG}`,
  );
  await register(baseURL!, { nodes: false, ceph: true });
});

test.afterAll(() => {
  for (const site of ['site-a', 'site-b'] as const) {
    try {
      rbd(site, 'mirror', 'snapshot', 'schedule', 'remove', '--pool', 'rbd', '1h');
    } catch {
      /* not there */
    }
    dropImages(site, [IMG]);
  }
  cephLab('unpair');
});

type Section = 'Pools & peers' | 'Images' | 'Schedules' | 'Failover';

/** Opens a cluster's page (on its pools), then one of its sections. */
async function openCluster(page: Page, site: string, section?: Section) {
  await page.goto('/ceph');
  await page.getByRole('tab', { name: site }).click();
  await expect(page.getByRole('tab', { name: site })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('pool-row').first()).toBeVisible();
  if (section) {
    await page.getByRole('tab', { name: section, exact: true }).click();
    await expect(page.getByRole('tab', { name: section, exact: true })).toHaveAttribute(
      'aria-selected',
      'true',
    );
  }
}

const poolRow = (page: Page) =>
  page.getByTestId('pool-row').filter({ has: page.getByRole('button', { name: 'rbd', exact: true }) });
const imageRow = (page: Page) => page.getByTestId('image-row').filter({ hasText: IMG });

/** Reloads the cluster's page (a section of it) until `check` holds (Ceph's status lags reality by seconds). */
async function eventually(
  page: Page,
  at: string | [site: string, section: Section],
  what: string,
  check: () => Promise<boolean>,
  timeout = 150_000,
) {
  const [site, section] = typeof at === 'string' ? [at, undefined] : at;
  await expect
    .poll(
      async () => {
        await openCluster(page, site, section);
        return check();
      },
      { message: what, timeout, intervals: [3000] },
    )
    .toBe(true);
  mark(what);
}

test('pair by token, mirror an image, schedule it, fail over and back; the content is identical', async ({
  page,
  context,
}) => {
  test.setTimeout(600_000);
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await signIn(page);

  // Pair: copy a token in site-a's pairing dialog, go on to site-b's and paste it there.
  await openCluster(page, 'site-a');
  await page.getByRole('button', { name: 'Pair by token…' }).click();
  const pairing = page.getByRole('dialog', { name: 'Pair pool rbd by bootstrap token' });
  await pairing.getByRole('button', { name: 'Create token' }).click();
  const tokenBox = pairing.getByTestId('bootstrap-token');
  await expect(tokenBox).toContainText('•••');
  await expect(tokenBox).not.toHaveAttribute('data-token');
  await pairing.getByRole('button', { name: 'Copy', exact: true }).click();
  await expect(page.getByText('Token copied to the clipboard')).toBeVisible();
  await pairing.getByRole('button', { name: 'Open site-b to import it' }).click();
  await expect(page.getByRole('tab', { name: 'site-b' })).toHaveAttribute('aria-selected', 'true');
  const field = pairing.getByLabel('Bootstrap token');
  await field.focus();
  await page.keyboard.press('Control+V');
  expect((await field.inputValue()).length).toBeGreaterThan(100);
  await expect(pairing.getByTestId('token-preview')).toContainText('127.0.0.1:13300');
  await pairing.getByRole('button', { name: 'Import token' }).click();
  await expect(pairing).toHaveCount(0);
  await expect(page.getByText(/Task #\d+ started/)).toBeVisible();
  await eventually(page, 'site-b', 'site-b lists site-a as a peer of rbd', async () =>
    /site-a/.test((await poolRow(page).textContent()) ?? ''),
  );
  await eventually(page, 'site-a', 'site-a lists site-b as a peer of rbd', async () =>
    /site-b/.test((await poolRow(page).textContent()) ?? ''),
  );

  // Enable snapshot mirroring of the image on site-a; site-b replays it.
  await openCluster(page, 'site-a', 'Images');
  await imageRow(page).getByRole('button', { name: 'Enable (snapshot)' }).click();
  await eventually(page, ['site-a', 'Images'], 'the image is primary on site-a', async () =>
    /primary/.test((await imageRow(page).textContent()) ?? ''),
  );
  await eventually(
    page,
    ['site-b', 'Images'],
    'site-b replays the image',
    async () =>
      /up\+replaying/.test(
        (await imageRow(page)
          .textContent({ timeout: 15_000 })
          .catch(() => '')) ?? '',
      ),
    240_000,
  );
  await eventually(
    page,
    ['site-b', 'Images'],
    'site-b shows the replay details',
    async () =>
      /(idle|syncing) · .*local snapshot/.test(
        (await imageRow(page)
          .getByTestId('replay-details')
          .textContent()
          .catch(() => '')) ?? '',
      ),
    60_000,
  );

  // A schedule: its next runs before saving, then the image's next snapshot.
  await openCluster(page, 'site-a', 'Schedules');
  await page.getByLabel('Interval').fill('1x');
  await expect(
    page.getByText('"1x" has an unknown unit: use m (minutes), h (hours) or d (days), e.g. 15m, 1h, 1d'),
  ).toBeVisible();
  await page.getByLabel('Interval').fill('1h');
  await expect(page.getByTestId('schedule-preview')).toContainText('Next runs:');
  await page.getByRole('button', { name: 'Add schedule' }).click();
  // Longer than the RPO (15 min by default): refused on the field until the risk is accepted.
  await expect(
    page.getByText(/a snapshot schedule of .* cannot meet the RPO of 15 min/).first(),
  ).toBeVisible();
  await page.getByLabel(/Save anyway/).check();
  await page.getByRole('button', { name: 'Add schedule' }).click();
  // The page refreshes its Ceph queries when the task finishes.
  await expect(page.getByTestId('schedules')).toContainText('rbd: every 1h', { timeout: 30_000 });
  mark('the schedule is listed');
  await openCluster(page, 'site-a', 'Schedules');
  await expect(page.getByTestId('schedules')).toHaveAttribute('data-loaded', 'true');
  await expect(page.getByTestId('schedules')).toContainText('rbd: every 1h');
  await eventually(
    page,
    ['site-a', 'Images'],
    'the image shows its next scheduled snapshot',
    async () =>
      /\d{4}-\d{2}-\d{2}.\d{2}:\d{2}/.test(
        (await imageRow(page).getByTestId('next-snapshot').textContent()) ?? '',
      ),
    120_000,
  );

  // Planned failover a → b through the wizard: pre-checks pass, no data loss, typed confirmation.
  const before = imageMd5('site-a', `rbd/${IMG}`);
  await openCluster(page, 'site-a', 'Failover');
  // The wizard from the shown cluster to the other (a "Fail over from <peer>" card may show too).
  const wizard = page.getByTestId('ceph-failover');
  await wizard.getByLabel('Scope').selectOption(IMG);
  await expect(wizard.getByTestId('ceph-data-loss')).toContainText('Planned failover');
  await expect(wizard.getByTestId('ceph-data-loss')).toContainText('none (demote first, then promote)');
  await expect(wizard.locator('[data-testid=ceph-precheck][data-status=block]')).toHaveCount(0);
  const go = wizard.getByRole('button', { name: `Fail over ${IMG} from site-a to site-b` });
  await expect(go).toBeDisabled();
  await wizard.getByLabel(`Type ${IMG} to confirm`, { exact: true }).fill(IMG);
  await expect(go).toBeDisabled();
  await wizard.getByLabel('Reason (goes into the run report)').fill('maintenance of site-a');
  await go.click();
  await waitForTask(page);
  mark('planned failover finished');
  expect(imageMd5('site-b', `rbd/${IMG}`)).toBe(before);

  // Failback b → a once site-a replays again (until then a pre-check blocks).
  // A slow answer from site-b may still show it as before the failover (no wizard yet): not yet, reload.
  const shows = (l: Locator) =>
    l.waitFor({ timeout: 15_000 }).then(
      () => true,
      () => false,
    );
  await eventually(page, ['site-b', 'Failover'], 'failback pre-checks pass', async () => {
    if (!(await shows(wizard.getByLabel('Scope')))) return false;
    await wizard.getByLabel('Scope').selectOption(IMG);
    if (!(await shows(wizard.getByTestId('ceph-precheck').first()))) return false;
    return (await wizard.locator('[data-testid=ceph-precheck][data-status=block]').count()) === 0;
  });
  await wizard.getByLabel(`Type ${IMG} to confirm`, { exact: true }).fill(IMG);
  await wizard.getByLabel('Reason (goes into the run report)').fill('site-a is back');
  await wizard.getByRole('button', { name: `Fail over ${IMG} from site-b to site-a` }).click();
  await waitForTask(page);
  mark('failback finished');
  expect(imageMd5('site-a', `rbd/${IMG}`)).toBe(before);
  expect(imageMd5('site-b', `rbd/${IMG}`)).toBe(before);

  // Unpair both sides from site-a's page.
  await openCluster(page, 'site-a');
  await poolRow(page).getByRole('button', { name: 'Unpair from site-b…' }).click();
  await expect(page.getByTestId('unpair-effect')).toContainText(
    'Mirroring of rbd between site-a and site-b stops',
  );
  await page.getByRole('button', { name: 'Unpair both sides' }).click();
  await eventually(page, 'site-a', 'site-a has no peer for rbd', async () =>
    /none/.test((await poolRow(page).textContent()) ?? ''),
  );
  await openCluster(page, 'site-b');
  await expect(poolRow(page)).toContainText('none');
});

/*
 * The bad day: site-a loses power. From site-b's page the pool is failed over (unplanned, the
 * data-loss window shown). site-a comes back still believing it is primary: the split-brain is
 * flagged, and resolved from site-a's page by the failback, which first keeps a copy of site-a's
 * image (with the writes site-b never got), lists it, and deletes it only when asked.
 */
const LOST = `e2elost${process.pid % 10000}`;

test('site-a lost: fail over from site-b, site-a back: split-brain flagged and resolved with a protective copy', async ({
  page,
}) => {
  let crashed = false;
  try {
    await signIn(page);
    // The unpair of the test before keeps removing re-registered peers for 40 s: let it end first.
    await expect
      .poll(
        async () => {
          const res = await page.request.get(
            `/api/trpc/tasks.list?input=${encodeURIComponent(JSON.stringify({ json: { active: true, limit: 50 } }))}`,
          );
          return ((await res.json()) as { result: { data: { json: unknown[] } } }).result.data.json.length;
        },
        { message: 'no task is running', timeout: 120_000, intervals: [2000] },
      )
      .toBe(0);
    // This test fails over the whole pool: the image of the test before goes first (once paired
    // again, site-b would be resyncing it when site-a crashes, and a force-promote waits on that).
    for (const site of ['site-a', 'site-b'] as const) dropImages(site, [IMG]);
    cephLab('pair');
    rbd('site-a', 'create', '--size', '16M', '--image-feature', 'layering,exclusive-lock', `rbd/${LOST}`);
    rbd(
      'site-a',
      'bench',
      '--io-type',
      'write',
      '--io-size',
      '1M',
      '--io-total',
      '4M',
      '--io-pattern',
      'rand',
      `rbd/${LOST}`,
    );
    rbd('site-a', 'mirror', 'image', 'enable', `rbd/${LOST}`, 'snapshot');
    const synced = imageMd5('site-a', `rbd/${LOST}`);
    await expect
      .poll(
        () => {
          try {
            return imageMd5('site-b', `rbd/${LOST}`);
          } catch {
            return '';
          }
        },
        { message: 'site-b has site-a’s data', timeout: 180_000, intervals: [2000] },
      )
      .toBe(synced);
    // Written on site-a after the last mirror snapshot: site-b never gets it. Every block is written
    // (rbd bench writes one buffer over and over: a few random blocks may land where the first write put
    // the same bytes, and leave the image unchanged).
    rbd(
      'site-a',
      'bench',
      '--io-type',
      'write',
      '--io-size',
      '1M',
      '--io-total',
      '16M',
      '--io-pattern',
      'seq',
      `rbd/${LOST}`,
    );
    const lostWrites = imageMd5('site-a', `rbd/${LOST}`);
    expect(lostWrites).not.toBe(synced);

    cephLab('crash', 'site-a');
    crashed = true;
    mark('site-a crashed');
    await page.goto('/ceph');
    await page.getByRole('tab', { name: 'site-b' }).click();
    await poolRow(page).getByRole('button', { name: 'Fail over from site-a…' }).click();
    const card = page.locator('[data-testid=ceph-takeover][data-from="site-a"]');
    const loss = card.getByTestId('ceph-data-loss');
    await expect(loss).toHaveAttribute('data-mode', 'unplanned', { timeout: 30_000 });
    await expect(
      card
        .locator('[data-testid=ceph-precheck][data-status=warn]')
        .filter({ hasText: 'Primary cluster reachable' }),
    ).toContainText('unreachable');
    await expect(loss.locator(`[data-image="${LOST}"] td`).nth(2)).toHaveText(/^\d+ (ms|s|min|h|d)\b/);
    await card.getByLabel('Type rbd to confirm').fill('rbd');
    await card.getByLabel('Reason (goes into the run report)').fill('site-a lost power');
    await card.getByRole('button', { name: 'Fail over rbd from site-a to site-b' }).click();
    await waitForTask(page);
    mark('unplanned failover from site-b’s page finished');
    expect(JSON.parse(rbd('site-b', 'info', '--format', 'json', `rbd/${LOST}`)).mirroring.primary).toBe(true);

    cephLab('start', 'site-a');
    crashed = false;
    mark('site-a started again');
    const lostRow = () => page.locator(`[data-testid=image-row][data-image="${LOST}"]`);
    await eventually(
      page,
      ['site-a', 'Images'],
      'site-a flags the split-brain',
      async () =>
        lostRow()
          .getByTestId('split-brain')
          .waitFor({ timeout: 15_000 })
          .then(
            () => true,
            () => false,
          ),
      180_000,
    );
    await lostRow().getByRole('button', { name: 'Resolve split-brain…' }).click();
    // The Failover section, its failback set to the image and the cluster it is also primary on.
    await expect(page.getByRole('tab', { name: 'Failover' })).toHaveAttribute('aria-selected', 'true');
    await expect(page).toHaveURL(new RegExp(`&tab=failover&image=${LOST}&to=\\d+$`));
    await expect(page.getByTestId('ceph-failover').getByLabel('Scope')).toHaveValue(LOST);
    const plan = page.getByTestId('kept-copy-plan');
    await expect(plan).toContainText(`${LOST} → ${LOST}-diverged-<UTC time of the resync>`);
    await page.getByLabel(`Type ${LOST} to confirm the resync`).fill(LOST);
    await page.getByRole('button', { name: 'Resync site-a and fail back' }).click();
    await waitForTask(page, 600_000);
    mark('failback with protective copy finished');
    await expect(page.getByTestId('task-log')).toContainText(
      `kept a copy of ${LOST} as it was on site-a: ${LOST}-diverged-`,
    );

    // The kept copy is listed on site-a's page with the writes site-b never had; the image is site-b's data.
    // (site-a's status may still be the answer it gave before the copy was made: reload until it lists it.)
    const kept = page.getByTestId('kept-copies');
    await eventually(
      page,
      ['site-a', 'Images'],
      'site-a lists the kept copy',
      async () =>
        kept
          .filter({ hasText: `${LOST}-diverged-` })
          .waitFor({ timeout: 15_000 })
          .then(
            () => true,
            () => false,
          ),
      120_000,
    );
    const copy = (await kept.locator('td.font-mono').filter({ hasText: LOST }).first().textContent())!.trim();
    expect(imageMd5('site-a', `rbd/${copy}`)).toBe(lostWrites);
    expect(JSON.parse(rbd('site-a', 'info', '--format', 'json', `rbd/${LOST}`)).mirroring.primary).toBe(true);
    expect(imageMd5('site-a', `rbd/${LOST}`)).toBe(synced);
    await kept.getByRole('row').filter({ hasText: copy }).getByRole('button', { name: 'Delete…' }).click();
    await page.getByRole('dialog').getByRole('textbox').fill(copy);
    await page.getByRole('dialog').getByRole('button', { name: 'Delete the copy' }).click();
    // Its row goes (the card with it when no other copy is kept in the pool).
    await expect(page.locator('[data-testid=kept-copies] tr').filter({ hasText: copy })).toHaveCount(0, {
      timeout: 60_000,
    });
    expect(() => rbd('site-a', 'info', `rbd/${copy}`)).toThrow();
  } finally {
    if (crashed) cephLab('start', 'site-a');
    for (const site of ['site-a', 'site-b'] as const)
      dropImages(
        site,
        rbd(site, 'ls', 'rbd')
          .split('\n')
          .filter((n) => n.startsWith(LOST)),
      );
    cephLab('unpair');
  }
});
