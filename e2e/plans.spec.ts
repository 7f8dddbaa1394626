import fs from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { seriousViolations } from './axe';
import { addReplica, OwnServer } from './own-server';

/*
 * Recovery plans on the demo sites: a plan made in the editor (an RBD image in group 1, web01 in
 * group 2 depending on it, ready when web01:80 answers), a planned migration started from its
 * wizard with every object's data-loss window and a reason, followed live on its task page, and
 * its run report: measured figures, JSON export and a PDF printed by Chromium. Its own server: it
 * fails things over.
 */
const PORT = Number(process.env.E2E_PLANS_PORT ?? 3226);
const DATA = process.env.E2E_PLANS_DATA_DIR ?? '/tmp/tandem-e2e-plans-data';
const PASSWORD = 'e2e-plans-admin-password';

let page: Page;
test.describe.configure({ mode: 'serial' });
// A fast simulated link: web01's first full sync (tens of GiB) takes seconds, not minutes.
const own = new OwnServer(PORT, DATA, PASSWORD, { TANDEM_DEMO_LINK_MIBPS: '20000' });

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});
test.afterAll(() => own.stop());

test('a plan is made in the editor: an RBD image first, then web01, which depends on it', async () => {
  test.setTimeout(180_000);
  // web01's replica, synced once.
  await addReplica(page, { vm: 'web01', name: 'dr', target: 'demo-node2' });
  await expect(page.getByRole('heading', { name: /Task #\d+/ })).toContainText('finished', {
    timeout: 120_000,
  });

  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Recovery plans' }).click();
  await expect(page.getByRole('heading', { name: 'Recovery plans' })).toBeVisible();
  await expect(page.getByText('No recovery plan yet.')).toBeVisible();
  await page.getByRole('link', { name: 'New plan' }).click();
  await page.getByLabel('Name', { exact: true }).fill('shop');
  // An empty plan is refused by the server's schema, in the browser, before any request.
  const creates: string[] = [];
  const onRequest = (r: { url(): string }) =>
    void (r.url().includes('plans.create') && creates.push(r.url()));
  page.on('request', onRequest);
  await page.getByRole('button', { name: 'Create plan' }).click();
  await expect(page.getByText('a plan needs at least one object').first()).toBeVisible();
  expect(creates).toEqual([]);
  page.off('request', onRequest);

  await page.getByLabel('Production cluster').selectOption({ label: 'demo-site-a' });
  await page.getByLabel('Recovery cluster').selectOption({ label: 'demo-site-b' });
  await expect(page.getByLabel('Pool or namespace')).toContainText('rbd');
  await page.getByLabel('Pool or namespace').selectOption('rbd');
  await page.getByLabel('Image (optional)').fill('vm-web01-root');
  await page.getByLabel('RBD group').selectOption('1');
  await page.getByRole('button', { name: 'Add RBD object' }).click();
  await page.getByLabel('VM replica').selectOption({ label: 'web01 (demo-node1 → demo-node2)' });
  await page.getByLabel('VM group').selectOption('2');
  await page.getByRole('button', { name: 'Add VM' }).click();
  const vm = page.locator('[data-testid=plan-item][data-label^="VM web01"]');
  await vm.getByLabel('Ready when TCP host answers').fill('web01');
  // A field of one object is checked by the same schema, in place, before any request.
  await vm.getByLabel('on port').fill('70000');
  page.on('request', onRequest);
  await page.getByRole('button', { name: 'Create plan' }).click();
  await expect(vm.getByText('1 to 65535')).toBeVisible();
  await expect(page.getByText('a plan needs at least one object')).toHaveCount(0);
  expect(creates).toEqual([]);
  page.off('request', onRequest);
  await vm.getByLabel('on port').fill('80');
  await expect(vm.getByText('1 to 65535')).toHaveCount(0);
  await vm.getByLabel(/RBD image rbd\/vm-web01-root/).check();
  expect(await seriousViolations(page)).toEqual([]);
  await page.getByRole('button', { name: 'Create plan' }).click();

  await expect(page).toHaveURL(/\/plans\/\d+$/);
  await expect(page.getByRole('heading', { name: 'Plan shop' })).toBeVisible();
  await expect(page.locator('[data-testid=plan-group][data-group="1"]')).toContainText(
    'RBD image rbd/vm-web01-root (demo-site-a → demo-site-b)',
  );
  await expect(page.locator('[data-testid=plan-group][data-group="2"]')).toContainText('VM web01');
  await expect(page.locator('[data-testid=plan-group][data-group="2"]')).toContainText(
    'ready when running and web01:80 answers',
  );
  await expect(page.locator('[data-testid=plan-group][data-group="2"]')).toContainText(
    'after RBD image rbd/vm-web01-root',
  );

  // Editing: removing the image also removes web01's dependency on it; cancelled, nothing changes.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const items = page.getByTestId('plan-item');
  await expect(items).toHaveCount(2);
  await expect(vm.getByLabel(/RBD image rbd\/vm-web01-root/)).toBeChecked();
  await page.getByRole('button', { name: /^Remove RBD image rbd\/vm-web01-root/ }).click();
  await expect(items).toHaveCount(1);
  await expect(vm.getByText('Depends on')).toHaveCount(0);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.locator('[data-testid=plan-group][data-group="2"]')).toContainText(
    'after RBD image rbd/vm-web01-root',
  );
  // Moved to group 3 with a wait after start: saved, the plan says so, the dependency kept.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  await vm.getByLabel('Group of VM web01').selectOption('3');
  await vm.getByLabel('Wait after start (s)').fill('1');
  await page.getByRole('button', { name: 'Save plan' }).click();
  await expect(page.getByRole('heading', { name: 'Plan shop' })).toBeVisible();
  const group3 = page.locator('[data-testid=plan-group][data-group="3"]');
  await expect(group3).toContainText('VM web01');
  await expect(group3).toContainText('after RBD image rbd/vm-web01-root');
  await expect(group3).toContainText('waits 1 s, ready when running');
  await expect(page.locator('[data-testid=plan-group][data-group="2"]')).toHaveCount(0);
});

test('a test failover from its wizard, then its cleanup from the report', async () => {
  test.setTimeout(180_000);
  await page.getByRole('button', { name: 'Test failover…' }).click();
  const wizard = page.getByRole('dialog', { name: 'Test failover: shop' });
  await expect(wizard.getByText('pre-checks pass')).toBeVisible();
  await expect(wizard.getByTestId('run-max-loss')).toContainText('Oldest recovery point');
  await expect(wizard.locator('[data-testid=run-object][data-label="VM web01"]')).toContainText(
    'clone 2 disk(s) on demo-node2',
  );
  // An isolated network needs its name.
  await wizard.getByLabel(/An isolated libvirt network/).check();
  await wizard.getByLabel('Reason (goes into the run report)').fill('quarterly test');
  await wizard.getByLabel('Type shop to confirm').fill('shop');
  const start = wizard.getByRole('button', { name: 'Start test failover' });
  await expect(start).toBeDisabled();
  await wizard.getByLabel(/None: their network interfaces are removed/).check();
  await expect(start).toBeEnabled();
  // The button's colour fades in (a CSS transition): checked once it has settled.
  await expect.poll(() => seriousViolations(page)).toEqual([]);
  await start.click();
  await expect(page.getByRole('heading', { name: /Test failover: plan shop/ })).toBeVisible();
  await expect(page.getByRole('heading', { name: /Task #\d+/ })).toContainText('finished', {
    timeout: 120_000,
  });
  await page.getByRole('link', { name: /Run report #\d+/ }).click();
  const report = page.getByTestId('run-report');
  await expect(report.getByTestId('test-created')).toContainText(/test VM web01-test-\d+/);
  await expect(report.getByTestId('test-created')).toContainText(
    /image copy rbd\/tandem-test-\d+-vm-web01-root/,
  );
  await expect(report.getByTestId('test-cleanup-state')).toContainText('not yet');
  await expect(report.getByTestId('report-recovery-time')).not.toHaveText('—');
  expect(await seriousViolations(page)).toEqual([]);
  await report.getByRole('button', { name: 'Clean up test…' }).click();
  await expect(page.getByRole('dialog', { name: /Clean up test run #\d+\?/ })).toContainText(
    /zones\/tandem-test-\d+-web01-disk0/,
  );
  await page.getByRole('button', { name: "Destroy the test's resources" }).click();
  await expect(page.getByRole('heading', { name: /Task #\d+/ })).toContainText('finished', {
    timeout: 60_000,
  });
  await page.goBack();
  await expect(page.getByTestId('test-cleanup-state')).toContainText('done');
  await page.getByRole('link', { name: 'shop' }).first().click();
  await expect(page.getByRole('heading', { name: 'Plan shop' })).toBeVisible();
  await expect(page.getByTestId('open-test')).toHaveCount(0);
});

test("one VM's test failover from its replica card, its report, its cleanup", async () => {
  test.setTimeout(120_000);
  await page.goto('/replicas');
  await page.getByRole('link', { name: 'web01' }).first().click();
  const card = page.locator('[data-testid=replica-card][data-replica="dr"]');
  await card.getByRole('button', { name: 'Test failover…' }).click();
  const start = page.getByRole('button', { name: 'Start test failover' });
  await page.getByLabel('Type web01 to confirm the test').fill('web01');
  await expect(start).toBeDisabled();
  await page.getByLabel('Reason (goes into the run report)').fill('does web01 boot?');
  await expect(start).toBeEnabled();
  await start.click();
  await expect(page.getByRole('heading', { name: /Task #\d+: Test failover: VM web01/ })).toContainText(
    'finished',
    { timeout: 60_000 },
  );
  await page.getByRole('link', { name: /Run report #\d+/ }).click();
  const report = page.getByTestId('run-report');
  await expect(report.getByRole('heading', { name: /Test failover of VM web01/ })).toContainText('finished');
  await expect(report.getByTestId('report-reason')).toHaveText('does web01 boot?');
  await expect(report.getByTestId('test-created')).toContainText(/test VM web01-test-\d+/);
  await report.getByRole('button', { name: 'Clean up test…' }).click();
  await page.getByRole('button', { name: "Destroy the test's resources" }).click();
  await expect(page.getByRole('heading', { name: /Task #\d+/ })).toContainText('finished', {
    timeout: 60_000,
  });
  await page.goBack();
  await expect(page.getByTestId('test-cleanup-state')).toContainText('done');
  await page.goto('/plans');
  await page.getByRole('link', { name: 'shop' }).click();
  await expect(page.getByRole('heading', { name: 'Plan shop' })).toBeVisible();
});

test("a replica's settings: a mistake is refused on its field before any request, a good change saved", async () => {
  await page.goto('/replicas');
  await page.getByRole('link', { name: 'web01' }).first().click();
  const card = page.locator('[data-testid=replica-card][data-replica="dr"]');
  await card.getByRole('button', { name: 'Edit' }).click();
  const updates: string[] = [];
  const onRequest = (r: { url(): string }) =>
    void (r.url().includes('replicas.update') && updates.push(r.url()));
  page.on('request', onRequest);
  await card.getByLabel('Bandwidth limit (bytes/s)').fill('8 lightyears');
  await card.getByLabel('Recovery points to keep').fill('0');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(card.getByText(/is not a rate/)).toBeVisible();
  await expect(card.getByText('keep at least 1 recovery point')).toBeVisible();
  expect(updates).toEqual([]);
  await card.getByLabel('Bandwidth limit (bytes/s)').fill('8M');
  await card.getByLabel('Recovery points to keep').fill('4');
  await card.getByLabel('Sleep time (s)').fill('120');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Saved; applies from the next sync')).toBeVisible();
  await expect(card.getByRole('button', { name: 'Save' })).toHaveCount(0);
  expect(updates).toHaveLength(1);
  await expect(card.locator('dt:text-is("Bandwidth limit") + dd')).toHaveText('8.0 MiB/s');
  await expect(card.locator('dt:text-is("Sleep time") + dd')).toHaveText('120 s');
  // An empty limit is none: the limit goes again (the planned migration below syncs at full speed).
  await card.getByRole('button', { name: 'Edit' }).click();
  await card.getByLabel('Bandwidth limit (bytes/s)').fill('');
  await card.getByRole('button', { name: 'Save' }).click();
  await expect(card.locator('dt:text-is("Bandwidth limit") + dd')).toHaveText('none');
  expect(updates).toHaveLength(2);
  page.off('request', onRequest);
  // Back on the plan's page, where the next test starts.
  await page.goto('/plans');
  await page.getByRole('link', { name: 'shop' }).click();
  await expect(page.getByRole('heading', { name: 'Plan shop' })).toBeVisible();
});

test('a planned migration: pre-checks and windows first, a reason and the name typed, live steps, then its report', async () => {
  test.setTimeout(240_000);
  await page.getByRole('button', { name: 'Planned migration…' }).click();
  const wizard = page.getByRole('dialog', { name: 'Planned migration: shop' });
  await expect(wizard.getByTestId('run-object')).toHaveCount(2);
  await expect(wizard.getByTestId('run-max-loss')).toContainText('Data lost at most: none');
  await expect(wizard.locator('[data-testid=run-object][data-label="VM web01"]')).toContainText(
    'demo-node1 → demo-node2: planned failover',
  );
  const start = wizard.getByRole('button', { name: 'Start planned migration' });
  await expect(start).toBeDisabled();
  await wizard.getByLabel('Reason (goes into the run report)').fill('maintenance of demo-node1');
  await wizard.getByLabel('Type shop to confirm').fill('shop');
  await expect(start).toBeEnabled();
  await start.click();

  await expect(page).toHaveURL(/\/tasks\/\d+$/);
  await expect(page.getByRole('heading', { name: /Planned migration: plan shop/ })).toBeVisible();
  await expect(page.getByTestId('task-step')).toHaveCount(2);
  await expect(page.getByRole('heading', { name: /Task #\d+/ })).toContainText('finished', {
    timeout: 180_000,
  });
  await page.getByRole('link', { name: /Run report #\d+/ }).click();

  const report = page.getByTestId('run-report');
  await expect(
    report.getByRole('heading', { name: /Run report #\d+: Planned migration of shop/ }),
  ).toContainText('finished');
  await expect(report.getByTestId('report-reason')).toHaveText('maintenance of demo-node1');
  await expect(report.getByTestId('report-data-loss')).toHaveText('none');
  await expect(report.getByTestId('report-recovery-time')).toHaveText(/^\d+(\.\d+)? s$|^\d+ min \d+ s$/);
  await expect(report.getByTestId('report-object')).toHaveCount(2);
  for (const row of await report.getByTestId('report-object').all()) await expect(row).toContainText('done');
  await expect(report.locator('[data-testid=report-object][data-label="VM web01"]')).toContainText(
    'Start the VM: done',
  );
  await expect(report.locator('[data-testid=report-object][data-label="VM web01"]')).toContainText(
    'after the start',
  );
  expect(await seriousViolations(page)).toEqual([]);

  // JSON export: the same figures.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    report.getByRole('button', { name: 'Export JSON' }).click(),
  ]);
  const json = JSON.parse(fs.readFileSync((await download.path())!, 'utf8'));
  expect(json).toMatchObject({
    planName: 'shop',
    kind: 'planned',
    state: 'finished',
    reason: 'maintenance of demo-node1',
    dataLossSec: 0,
  });
  expect(json.recoveryTimeMs).toBeGreaterThan(0);
  expect(json.items.map((i: { state: string }) => i.state)).toEqual(['done', 'done']);

  // Printed by Chromium: the report without the console's frame.
  await page.emulateMedia({ media: 'print' });
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeHidden();
  await expect(report.getByRole('button', { name: 'Export JSON' })).toBeHidden();
  await page.emulateMedia({ media: 'screen' });
  const pdf = await page.pdf({ format: 'A4' });
  expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
  expect(pdf.length).toBeGreaterThan(10_000);

  // The list of reports has it, filtered by plan and kind.
  await page.goto('/reports');
  await page.getByLabel('Kind').selectOption('planned');
  await expect(page.getByTestId('report-row')).toHaveCount(1);
  await expect(page.getByTestId('report-row')).toContainText('maintenance of demo-node1');
  await page.getByLabel('Kind').selectOption('reprotect');
  await expect(page.getByTestId('report-row')).toHaveCount(0);
});
