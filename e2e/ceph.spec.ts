import { expect, test, type Locator, type Page, type Route } from '@playwright/test';
import { seriousViolations } from './axe';
import { OwnServer } from './own-server';

/*
 * The Ceph mirroring page against the demo clusters. It runs its own server on a fresh data
 * directory (the production build, like the shared one): console.spec.ts needs the shared server
 * untouched for its first-start test, and these tests change the demo clusters.
 */
const PORT = Number(process.env.E2E_CEPH_PORT ?? 3213);
const DATA = process.env.E2E_CEPH_DATA_DIR ?? '/tmp/tandem-e2e-ceph-data';
const PASSWORD = 'e2e-ceph-admin-password';

let page: Page;

test.describe.configure({ mode: 'serial' });

const own = new OwnServer(PORT, DATA, PASSWORD, {});

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});

test.afterAll(() => own.stop());

type Section = 'Pools & peers' | 'Images' | 'Schedules' | 'Failover';

/** Opens a cluster's page (on its pools), then one of its sections. */
async function openCluster(site: string, section?: Section) {
  await page.goto('/ceph');
  await page.getByRole('tab', { name: site }).click();
  await expect(page.getByRole('tab', { name: site })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByTestId('pool-row').first()).toBeVisible();
  if (section) await openSection(section);
}

async function openSection(name: Section) {
  const tab = page.getByRole('tab', { name, exact: true });
  await tab.click();
  await expect(tab).toHaveAttribute('aria-selected', 'true');
}

const poolRow = () =>
  page.getByTestId('pool-row').filter({ has: page.getByRole('button', { name: 'rbd', exact: true }) });
const nsRow = () =>
  page
    .getByTestId('namespace-row')
    .filter({ has: page.getByRole('button', { name: 'rbd / tenant1', exact: true }) });
const imageRow = (name: string) => page.locator(`[data-testid=image-row][data-image="${name}"]`);
const details = (name: string) => page.locator(`[data-testid=image-details][data-image="${name}"]`);

/** Chooses the namespace in the pools table (its section stays shown). */
async function selectNamespace() {
  await nsRow().getByRole('button', { name: 'rbd / tenant1', exact: true }).click();
  await expect(nsRow().getByRole('button', { name: 'rbd / tenant1', exact: true })).toHaveAttribute(
    'aria-pressed',
    'true',
  );
}

/** Chooses the namespace and shows its images. */
async function openNamespace() {
  await selectNamespace();
  await openSection('Images');
  await expect(page.getByRole('heading', { name: 'Images of namespace rbd/tenant1' })).toBeVisible();
}

async function expand(name: string): Promise<Locator> {
  await imageRow(name).getByRole('button', { name, exact: true }).click();
  await expect(imageRow(name).getByRole('button', { name, exact: true })).toHaveAttribute(
    'aria-expanded',
    'true',
  );
  return details(name);
}

test('a namespace is a row of its own with its images and its own mirror mode; a refused mode change snaps back', async () => {
  await openCluster('demo-site-a');
  await expect(nsRow()).toContainText('namespace');
  await expect(nsRow()).toContainText('3 (2 mirrored)');
  // The pool's health comes with its counts of image states, and each peer with its id.
  await expect(poolRow().getByTestId('state-counts')).toContainText(/(stopped|replaying) \d+/);
  await expect(poolRow().getByTestId('peer').first()).toContainText(/[0-9a-f]{8}/);
  const nsMode = page.getByLabel('Mirror mode of rbd/tenant1', { exact: true });
  const poolMode = page.getByLabel('Mirror mode of rbd', { exact: true });
  await expect(nsMode).toHaveValue('image');

  // Selecting the namespace shows its images, not the default namespace's.
  await openNamespace();
  for (const img of ['vm-mail01-root', 'vm-erp01-data', 'scratch01'])
    await expect(imageRow(img)).toBeVisible();
  await expect(imageRow('vm-web01-root')).toHaveCount(0);
  await openSection('Failover');
  await expect(
    page.getByRole('heading', { name: 'Fail over namespace rbd/tenant1 from demo-site-a to demo-site-b' }),
  ).toBeVisible();
  await openSection('Pools & peers');

  // Cancel keeps the mode; confirming changes the namespace only.
  await nsMode.selectOption('pool');
  const dialog = page.getByRole('dialog').filter({ hasText: 'Set the mirror mode of rbd/tenant1 to pool?' });
  await expect(dialog).toContainText('Every image of rbd/tenant1 with the journaling feature is mirrored');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(nsMode).toHaveValue('image');
  await nsMode.selectOption('pool');
  await page.getByRole('dialog').getByRole('button', { name: 'Set to pool' }).click();
  await expect(page.getByText('Mirror mode of rbd/tenant1 is now pool')).toBeVisible();
  await expect(nsMode).toHaveValue('pool');
  await expect(nsMode).toBeEnabled();
  await expect(poolMode).toHaveValue('image');
  await page.reload();
  await page.getByRole('tab', { name: 'demo-site-a' }).click();
  await expect(page.getByLabel('Mirror mode of rbd/tenant1', { exact: true })).toHaveValue('pool');
  await page.getByLabel('Mirror mode of rbd/tenant1', { exact: true }).selectOption('image');
  await page.getByRole('dialog').getByRole('button', { name: 'Set to image' }).click();
  await expect(page.getByText('Mirror mode of rbd/tenant1 is now image')).toBeVisible();
  await expect(page.getByLabel('Mirror mode of rbd/tenant1', { exact: true })).toHaveValue('image');

  // Disabling a pool that has peers: warned, refused with Ceph's reason, and the select shows the real mode.
  await page.getByLabel('Mirror mode of rbd', { exact: true }).selectOption('disabled');
  const off = page.getByRole('dialog').filter({ hasText: 'Set the mirror mode of rbd to disabled?' });
  await expect(off).toContainText(
    'rbd still has 1 peer(s) (demo-site-b): Ceph will refuse until they are removed.',
  );
  await off.getByRole('button', { name: 'Set to disabled' }).click();
  await expect(
    page.getByRole('alert').filter({
      hasText:
        'Set mirror mode of rbd to disabled on demo-site-a failed: rbd still has 1 peer(s) (demo-site-b)',
    }),
  ).toBeVisible();
  await expect(poolRow().getByTestId('mode-error')).toContainText(
    'Ceph refuses to disable mirroring until they are removed',
  );
  await expect(page.getByLabel('Mirror mode of rbd', { exact: true })).toHaveValue('image');
  await expect(page.getByLabel('Mirror mode of rbd', { exact: true })).toBeEnabled();
});

test('replaying images show the parsed replay details: state, throughput, snapshot times', async () => {
  await openCluster('demo-site-b', 'Images');
  const ready = page.getByTestId('images-ready').getByTestId('replay-details');
  await expect(ready.first()).toBeVisible();
  await expect(ready.first()).toContainText(/idle|syncing/);
  await expect(ready.first()).toContainText(/local snapshot .+ · remote snapshot/);
  // The primary side shows what its peer reports.
  await openCluster('demo-site-a', 'Images');
  await expect(page.getByTestId('images-ready').getByTestId('replay-details').first()).toContainText(
    /^demo-site-b: /,
  );
});

test('each group counts its images; a search by part of a name shows the matching ones of every group', async () => {
  await openCluster('demo-site-b', 'Images');
  const ready = page.getByTestId('images-ready').getByTestId('image-row');
  await expect(ready.first()).toBeVisible();
  const before = await ready.count();
  expect(before).toBeGreaterThan(1);
  await page.getByLabel('Find images').fill('ARCHIVE');
  await expect(page.locator('[data-testid=image-row]')).toHaveCount(1);
  await expect(imageRow('archive-2025')).toBeVisible();
  await page.getByLabel('Find images').fill('no-such-image');
  await expect(page.getByText('No image matching “no-such-image”.').first()).toBeVisible();
  await page.getByLabel('Find images').fill('');
  await expect(ready).toHaveCount(before);
  // Sorted by size, largest first: archive-2025 (1000 GiB) leads.
  await page.getByLabel('Sort by').selectOption('size/desc');
  await expect(ready.first()).toHaveAttribute('data-image', 'archive-2025');
});

test('a header with the health and peers; sections are tabs, and the URL carries the cluster, section, pool and image', async () => {
  await openCluster('demo-site-a');
  const header = page.getByTestId('ceph-cluster-header');
  await expect(header.getByRole('heading', { name: 'demo-site-a' })).toBeVisible();
  await expect(header.getByTestId('ceph-cluster-health')).toHaveAttribute(
    'data-health',
    /^(OK|WARNING|ERROR)$/,
  );
  await expect(header.getByTestId('ceph-header-peers')).toContainText('demo-site-b');
  const site = /[?&]site=(\d+)/.exec(page.url())![1]!;

  // Two tablists: the clusters, and the sections of the one shown.
  await expect(page.getByRole('tablist', { name: 'Clusters' }).getByRole('tab')).toHaveCount(2);
  const sections = page.getByRole('tablist', { name: 'Sections of demo-site-a' });
  await expect(sections.getByRole('tab')).toHaveText(['Pools & peers', 'Images', 'Schedules', 'Failover']);
  const pools = page.getByRole('tab', { name: 'Pools & peers' });
  await expect(pools).toHaveAttribute('aria-selected', 'true');
  await expect(page.locator(`[id="${await pools.getAttribute('aria-controls')}"]`)).toBeVisible();

  // A section shows its panel only; the namespace chosen stays through the sections.
  await selectNamespace();
  await expect(page).toHaveURL(new RegExp(`/ceph\\?site=${site}&pool=rbd&ns=tenant1$`));
  const images = page.getByRole('tab', { name: 'Images' });
  await images.click();
  await expect(images).toHaveAttribute('aria-selected', 'true');
  await expect(pools).toHaveAttribute('aria-selected', 'false');
  await expect(page.locator(`[id="${await images.getAttribute('aria-controls')}"]`)).toBeVisible();
  await expect(page.locator(`[id="${await pools.getAttribute('aria-controls')}"]`)).toBeHidden();
  await expect(page.getByTestId('pool-row')).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'Images of namespace rbd/tenant1' })).toBeVisible();
  await expect(page).toHaveURL(/&pool=rbd&ns=tenant1&tab=images$/);
  // No kept copy: no kept-copies table.
  await expect(page.getByTestId('kept-copies')).toHaveCount(0);
  expect(await seriousViolations(page)).toEqual([]);

  // An image's details are a link too: a reload shows them again.
  await expand('vm-mail01-root');
  await expect(page).toHaveURL(/&ns=tenant1&tab=images&image=vm-mail01-root$/);
  await page.reload();
  await expect(page.getByRole('tab', { name: 'Images' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByLabel('Pool or namespace')).toHaveValue('rbd/tenant1');
  await expect(page.getByLabel('Find images')).toHaveValue('vm-mail01-root');
  await expect(details('vm-mail01-root')).toBeVisible();

  // Arrow keys move between the sections.
  await page.getByRole('tab', { name: 'Images' }).focus();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Schedules' })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: 'Schedules' })).toBeFocused();
  await expect(page.getByTestId('schedules')).toBeVisible();
  await expect(page).toHaveURL(/&pool=rbd&ns=tenant1&tab=schedules$/);

  // The failback shows only when it applies (no split-brain here): it opens on request.
  await openSection('Failover');
  await expect(page).toHaveURL(/&pool=rbd&ns=tenant1&tab=failover$/);
  const wizard = page.getByTestId('ceph-failover');
  await expect(
    wizard.getByRole('heading', { name: 'Fail over namespace rbd/tenant1 from demo-site-a to demo-site-b' }),
  ).toBeVisible();
  await expect(wizard.getByTestId('failback-closed')).toBeVisible();
  await expect(wizard.getByTestId('kept-copy-plan')).toHaveCount(0);
  await wizard.getByRole('button', { name: 'Failback / resync anyway…' }).click();
  await expect(wizard.getByTestId('kept-copy-plan')).toContainText('vm-mail01-root');

  // The pool chosen in the header; the section stays.
  await page.getByLabel('Pool or namespace').selectOption('rbd/');
  await expect(page).toHaveURL(new RegExp(`/ceph\\?site=${site}&pool=rbd&tab=failover$`));
  await expect(
    wizard.getByRole('heading', { name: 'Fail over pool rbd from demo-site-a to demo-site-b' }),
  ).toBeVisible();

  // A link to a failback of one image against a cluster (as a split-brain row's "Resolve" makes it).
  const other = (await page.getByRole('tab', { name: 'demo-site-b' }).getAttribute('id'))!.replace(
    'ceph-cluster-tab-',
    '',
  );
  await page.goto(`/ceph?site=${site}&pool=rbd&tab=failover&image=vm-web01-root&to=${other}`);
  await expect(page.getByRole('tab', { name: 'Failover' })).toHaveAttribute('aria-selected', 'true');
  await expect(wizard.getByLabel('Scope')).toHaveValue('vm-web01-root');
  await expect(wizard.getByRole('heading', { name: 'Failback / resolve split-brain' })).toBeVisible();
  await expect(wizard.getByTestId('kept-copy-plan')).toContainText('vm-web01-root → vm-web01-root-diverged-');

  // Switching the cluster keeps the section; a link to an image opens its details.
  await page.getByRole('tab', { name: 'demo-site-b' }).click();
  await expect(page).toHaveURL(new RegExp(`/ceph\\?site=${other}&tab=failover$`));
  await page.goto(`/ceph?site=${site}&pool=rbd&ns=tenant1&image=scratch01`);
  await expect(page.getByRole('tab', { name: 'Images' })).toHaveAttribute('aria-selected', 'true');
  await expect(details('scratch01')).toBeVisible();
});

test('pairing by token is a guided dialog: create and copy on one cluster, go on to the other, paste and check', async () => {
  await openCluster('demo-site-a');
  await page.getByRole('button', { name: 'Pair by token…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Pair pool rbd by bootstrap token' });
  await expect(page).toHaveURL(/&pair=create$/);
  const steps = dialog.getByRole('navigation', { name: 'Pairing steps' });
  await expect(steps.getByRole('button', { name: 'Create a token on demo-site-a' })).toHaveAttribute(
    'aria-current',
    'step',
  );
  await dialog.getByRole('button', { name: 'Create token' }).click();
  const box = dialog.getByTestId('bootstrap-token');
  await expect(box).toContainText('•••');
  await expect(box).not.toHaveAttribute('data-token');
  await dialog.getByRole('button', { name: 'Reveal' }).click();
  await expect(box).toHaveAttribute('data-token', /.{40,}/);
  const token = (await box.getAttribute('data-token'))!;

  // On to the other cluster's page, at the import step.
  await dialog.getByRole('button', { name: 'Open demo-site-b to import it' }).click();
  await expect(page.getByRole('tab', { name: 'demo-site-b' })).toHaveAttribute('aria-selected', 'true');
  await expect(page).toHaveURL(/&pool=rbd&pair=import$/);
  const there = page.getByRole('dialog', { name: 'Pair pool rbd by bootstrap token' });
  await expect(
    there
      .getByRole('navigation', { name: 'Pairing steps' })
      .getByRole('button', { name: 'Import a token into demo-site-b' }),
  ).toHaveAttribute('aria-current', 'step');
  // The token is forgotten with the dialog that showed it.
  await expect(there.getByTestId('bootstrap-token')).toHaveCount(0);
  await there.getByLabel('Bootstrap token').fill('not a token');
  await expect(there.getByLabel('Bootstrap token')).toHaveAttribute('aria-invalid', 'true');
  await expect(there.getByRole('button', { name: 'Import token' })).toBeDisabled();
  await there.getByLabel('Bootstrap token').fill(token);
  await expect(there.getByTestId('token-preview')).toContainText('Peer fsid');
  await expect(there.getByRole('button', { name: 'Import token' })).toBeEnabled();
  expect(await seriousViolations(page)).toEqual([]);

  // Closed: gone from the page and from the URL (Escape closes it too).
  await there.getByRole('button', { name: 'Close' }).click();
  await expect(there).toHaveCount(0);
  await expect(page).not.toHaveURL(/pair=/);
  await page.getByRole('button', { name: 'Pair by token…' }).click();
  await expect(there).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(there).toHaveCount(0);
});

test('an image lists its mirror snapshots; a new mirror snapshot appears; resync only on non-primary images', async () => {
  await openCluster('demo-site-a');
  await openNamespace();
  await expect(imageRow('vm-mail01-root').getByRole('button', { name: 'Resync…' })).toHaveCount(0);
  const panel = await expand('vm-mail01-root');
  const rows = panel.getByTestId('snapshot-row');
  await expect(rows.first()).toBeVisible();
  await expect(rows.first()).toContainText('primary');
  await expect(rows.first()).toContainText('mirror');
  const before = await rows.evaluateAll((r) => r.map((x) => x.getAttribute('data-snap-id')));

  await panel.getByRole('button', { name: 'Create mirror snapshot' }).click();
  const toast = page.getByText(/^Mirror snapshot \d+ of rbd\/tenant1\/vm-mail01-root created$/);
  await expect(toast).toBeVisible();
  const id = /Mirror snapshot (\d+)/.exec((await toast.textContent())!)![1]!;
  expect(before).not.toContain(id);
  const created = panel.locator(`[data-testid=snapshot-row][data-snap-id="${id}"]`);
  await expect(created).toBeVisible();
  await expect(created).toHaveAttribute('data-new', 'true');
  await expect(created.locator('td').nth(0)).toContainText(id);
  await expect(created.locator('td').nth(3)).toHaveText('primary');
  await expect(created.locator('td').nth(4)).toHaveText('yes');
  // newest first
  await expect(rows.first()).toHaveAttribute('data-snap-id', id);

  // The other cluster holds the copies: non-primary, with how much was copied, and no snapshot button.
  await openCluster('demo-site-b');
  await openNamespace();
  await expect(imageRow('vm-mail01-root').getByRole('button', { name: 'Resync…' })).toBeVisible();
  const copies = await expand('vm-mail01-root');
  await expect(copies.getByTestId('snapshot-row').first()).toBeVisible();
  await expect(copies.getByTestId('snapshot-row').filter({ hasText: 'non-primary' }).first()).toBeVisible();
  await expect(copies.getByTestId('snapshot-row').filter({ hasText: '100 %' }).first()).toBeVisible();
  await expect(copies.getByRole('button', { name: 'Create mirror snapshot' })).toHaveCount(0);
  await expect(copies.getByTestId('image-journaling')).toContainText('A non-primary image is read-only here');
});

test('journaling of one image on and off', async () => {
  await openCluster('demo-site-a');
  await openNamespace();
  const panel = await expand('scratch01');
  const j = panel.getByTestId('image-journaling');
  await expect(j).toHaveAttribute('data-on', 'false');
  await j.getByRole('button', { name: 'Journaling on', exact: true }).click();
  await expect(j).toHaveAttribute('data-on', 'true');
  await expect(panel.getByText(/^features: .*journaling/)).toBeVisible();
  await j.getByRole('button', { name: 'Journaling off', exact: true }).click();
  await expect(j).toHaveAttribute('data-on', 'false');
  // Journal-based mirroring needs it: the off button is refused with the reason.
  const erp = await expand('vm-erp01-data');
  await expect(erp.getByRole('button', { name: 'Journaling off', exact: true })).toBeDisabled();
  await expect(erp.getByTestId('image-journaling')).toContainText('Journal-based mirroring needs it');
});

test('pool journaling says which images it affects before it runs, and skips snapshot-mode images', async () => {
  await openCluster('demo-site-a', 'Images');
  // The default namespace holds only snapshot-mirrored images: nothing to do.
  await page.getByRole('button', { name: 'Journaling on for rbd…', exact: true }).click();
  let dialog = page.getByRole('dialog', { name: 'Turn journaling on for rbd?' });
  await expect(dialog.getByTestId('journaling-plan')).toHaveAttribute('data-affected', '0');
  await expect(dialog).toContainText('0 of 5 image(s)');
  await expect(dialog.getByRole('button', { name: 'Turn journaling on' })).toBeDisabled();
  await dialog.getByRole('button', { name: 'Cancel' }).click();

  // The namespace chosen in the header, the section stays.
  await page.getByLabel('Pool or namespace').selectOption('rbd/tenant1');
  await expect(page.getByRole('heading', { name: 'Images of namespace rbd/tenant1' })).toBeVisible();
  await page.getByRole('button', { name: 'Journaling on for rbd/tenant1…', exact: true }).click();
  dialog = page.getByRole('dialog', { name: 'Turn journaling on for rbd/tenant1?' });
  const plan = dialog.getByTestId('journaling-plan');
  await expect(plan).toHaveAttribute('data-affected', '2');
  await expect(plan).toContainText('2 of 3 image(s) (scratch01, vm-erp01-data)');
  await expect(plan).toContainText('Will change: scratch01');
  await expect(plan).toContainText('vm-mail01-root: snapshot mirroring mode');
  await expect(plan).toContainText('vm-erp01-data: journaling already on');
  await dialog.getByRole('button', { name: 'Turn journaling on' }).click();
  await expect(
    page.getByText('Journaling on for rbd/tenant1: changed scratch01; 2 left as they were'),
  ).toBeVisible();
  await expect((await expand('scratch01')).getByTestId('image-journaling')).toHaveAttribute(
    'data-on',
    'true',
  );
  await expect((await expand('vm-mail01-root')).getByTestId('image-journaling')).toHaveAttribute(
    'data-on',
    'false',
  );

  await page.getByRole('button', { name: 'Journaling off for rbd/tenant1…', exact: true }).click();
  dialog = page.getByRole('dialog', { name: 'Turn journaling off for rbd/tenant1?' });
  await expect(dialog.getByTestId('journaling-plan')).toContainText(
    'vm-erp01-data: journal mirroring enabled',
  );
  await dialog.getByRole('button', { name: 'Turn journaling off' }).click();
  await expect(
    page.getByText('Journaling off for rbd/tenant1: changed scratch01; 2 left as they were'),
  ).toBeVisible();
  await expect(details('scratch01').getByTestId('image-journaling')).toHaveAttribute('data-on', 'false');
});

test('a snapshot schedule added is listed at once, and gone at once when removed, even while another Ceph query is slow', async () => {
  await openCluster('demo-site-b', 'Schedules');
  const list = page.getByTestId('schedules');
  await expect(list).toHaveAttribute('data-loaded', 'true');
  await expect(page.getByText('No schedules at any level.')).toBeVisible();
  // The failover preview is held back until the end (its peer answers late, as a real cluster
  // under load or gone does): a Ceph task's end refreshes every Ceph query of the page, and the
  // list must not wait for that one.
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow = async (route: Route) => {
    await gate;
    await route.continue().catch(() => undefined);
  };
  const plans = (url: URL) =>
    url.pathname.startsWith('/api/trpc/') && url.pathname.includes('ceph.failoverPlan');
  await page.route(plans, slow);
  try {
    await page.getByLabel('Interval').fill('2h');
    await expect(page.getByTestId('schedule-preview')).toContainText('Next runs:');
    await page.getByRole('button', { name: 'Add schedule' }).click();
    // Longer than the RPO (15 min by default): refused on the field until the risk is accepted.
    await expect(
      page.getByText(/a snapshot schedule of .* cannot meet the RPO of 15 min/).first(),
    ).toBeVisible();
    await page.getByLabel(/Save anyway/).check();
    await page.getByRole('button', { name: 'Add schedule' }).click();
    // No reload, no waiting for the slow query: the list follows the task.
    await expect(list).toContainText('rbd: every 2h');
    await expect(page.getByText('No schedules at any level.')).toHaveCount(0);
    await list.getByRole('button', { name: 'Remove' }).click();
    await expect(list).not.toContainText('rbd: every 2h');
    await expect(page.getByText('No schedules at any level.')).toBeVisible();
  } finally {
    release();
    await page.unroute(plans, slow);
  }
});

test('the site name is shown and changed, validated on its field', async () => {
  await openCluster('demo-site-b');
  await expect(page.getByTestId('site-name-value')).toHaveText('demo-site-b');
  await page.getByRole('button', { name: 'Change site name…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Change the site name of demo-site-b' });
  const field = dialog.getByLabel('New site name');
  await field.fill('demo-site-a');
  await dialog.getByRole('button', { name: 'Save site name' }).click();
  await expect(
    dialog.getByText('demo-site-a is the site name of a peer: each cluster needs a site name of its own'),
  ).toBeVisible();
  await field.fill('bad name');
  await dialog.getByRole('button', { name: 'Save site name' }).click();
  await expect(
    dialog.getByText('letters, digits and . _ - only, starting with a letter or digit'),
  ).toBeVisible();
  await expect(field).toHaveValue('bad name');
  await field.fill('dr-east');
  await dialog.getByRole('button', { name: 'Save site name' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId('site-name-value')).toHaveText('dr-east');
  // The peer cluster learns it.
  await openCluster('demo-site-a');
  await expect(poolRow().getByTestId('peer')).toHaveAttribute('data-peer', 'dr-east');
  await openCluster('demo-site-b');
  await page.getByRole('button', { name: 'Change site name…' }).click();
  await page.getByRole('dialog').getByLabel('New site name').fill('demo-site-b');
  await page.getByRole('dialog').getByRole('button', { name: 'Save site name' }).click();
  await expect(page.getByTestId('site-name-value')).toHaveText('demo-site-b');
});

test('a peer is edited: only changed fields are sent, errors stay on their field, and rbd-mirror must be restarted', async () => {
  await openCluster('demo-site-a');
  const peer = poolRow().getByTestId('peer');
  await expect(peer).toHaveAttribute('data-peer', 'demo-site-b');
  await expect(peer).toContainText('rx-tx');
  await poolRow().getByRole('button', { name: 'Edit peer demo-site-b' }).click();
  const dialog = page.getByRole('dialog', { name: 'Edit peer demo-site-b of pool rbd' });
  await expect(dialog.getByTestId('peer-restart-hint')).toContainText(
    'restart the rbd-mirror daemon(s) of demo-site-a',
  );
  await expect(dialog.getByLabel('Monitor hosts')).toHaveValue('[v2:10.20.2.11:3300/0,v1:10.20.2.11:6789/0]');

  await dialog.getByRole('button', { name: 'Save peer' }).click();
  await expect(dialog.getByText('Nothing changed: edit a field first.')).toBeVisible();

  // Bad values: the errors are on their fields, the values stay.
  await dialog.getByLabel('Client name').fill('admin');
  await dialog.getByRole('button', { name: 'Save peer' }).click();
  await expect(dialog.getByText('like client.rbd-mirror-peer')).toBeVisible();
  await expect(dialog.getByLabel('Client name')).toHaveAttribute('aria-invalid', 'true');
  await expect(dialog.getByLabel('Client name')).toHaveValue('admin');
  await dialog.getByLabel('Client name').fill('client.rbd-mirror-dr');
  await dialog.getByLabel('Peer site name').fill('demo-site-a');
  await dialog.getByRole('button', { name: 'Save peer' }).click();
  await expect(
    dialog.getByText(
      "demo-site-a is this cluster's own site name; a peer has the site name of the other cluster",
    ),
  ).toBeVisible();
  await expect(dialog.getByLabel('Client name')).toHaveValue('client.rbd-mirror-dr');

  await dialog.getByLabel('Peer site name').fill('demo-site-b');
  await dialog.getByLabel('Direction').selectOption('rx-only');
  const sent = page.waitForRequest((r) => r.url().includes('ceph.editPeer') && r.method() === 'POST');
  await dialog.getByRole('button', { name: 'Save peer' }).click();
  const body = JSON.parse((await sent).postData()!) as Record<string, { json: Record<string, unknown> }>;
  const input = body['0']!.json;
  expect(Object.keys(input).sort()).toEqual(['clientName', 'direction', 'peerUuid', 'pool', 'siteId']);
  expect(input).toMatchObject({ clientName: 'client.rbd-mirror-dr', direction: 'rx-only', pool: 'rbd' });

  await expect(dialog).toHaveCount(0);
  const notice = page.getByTestId('restart-notice');
  await expect(notice).toContainText(
    'Peer demo-site-b of pool rbd changed (client client.rbd-mirror-peer → client.rbd-mirror-dr; direction rx-tx → rx-only)',
  );
  await expect(notice).toContainText(
    'Restart the rbd-mirror daemon(s) of demo-site-a (demo on demo-site-a-mirror1) for the change to take effect.',
  );
  await expect(peer).toContainText('rx-only');
  await expect(peer).toContainText('client.rbd-mirror-dr');
  await page.reload();
  await page.getByRole('tab', { name: 'demo-site-a' }).click();
  await expect(poolRow().getByTestId('peer')).toContainText('rx-only');
});

test('a bad monitor address of a peer is an error on its field at once, and no task starts', async () => {
  await openCluster('demo-site-a');
  const answers: number[] = [];
  page.on('response', (r) => {
    if (r.url().includes('ceph.editPeer')) answers.push(r.status());
  });
  await poolRow().getByRole('button', { name: 'Edit peer demo-site-b' }).click();
  const dialog = page.getByRole('dialog', { name: 'Edit peer demo-site-b of pool rbd' });
  const mon = dialog.getByLabel('Monitor hosts');
  const before = await mon.inputValue();
  await mon.fill('[v2:10.20.2.11:3300/0,v1:10.20.2.11:99999/0]');
  await dialog.getByRole('button', { name: 'Save peer' }).click();
  await expect(
    dialog.getByText('port 99999 of [v2:10.20.2.11:3300/0,v1:10.20.2.11:99999/0] is not between 1 and 65535'),
  ).toBeVisible();
  await expect(mon).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText(/^Task #\d+ started/)).toHaveCount(0);
  expect(answers).toEqual([400]);
  // Corrected, the error goes; closing keeps the peer as it was.
  await mon.fill(before);
  await expect(mon).not.toHaveAttribute('aria-invalid', 'true');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await expect(page.getByText(/^Task #\d+ started/)).toHaveCount(0);
});

test('removing a peer asks first, naming the peer and pool and what stops; cancel keeps it', async () => {
  await openCluster('demo-site-a');
  let removeCalls = 0;
  page.on('request', (r) => {
    if (r.url().includes('ceph.removePeer')) removeCalls++;
  });
  await poolRow().getByRole('button', { name: 'Remove peer demo-site-b' }).click();
  const dialog = page.getByRole('dialog').filter({ hasText: 'Remove peer demo-site-b from pool rbd?' });
  await expect(dialog.getByTestId('remove-peer-effect')).toContainText(
    'Mirroring of pool rbd and its namespace tenant1 with demo-site-b stops',
  );
  await expect(dialog.getByTestId('remove-peer-effect')).toContainText('(7 mirrored images here)');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  await page.reload();
  await page.getByRole('tab', { name: 'demo-site-a' }).click();
  await expect(poolRow().getByTestId('peer')).toHaveAttribute('data-peer', 'demo-site-b');
  expect(removeCalls).toBe(0);

  await poolRow().getByRole('button', { name: 'Remove peer demo-site-b' }).click();
  await page
    .getByRole('dialog')
    .filter({ hasText: 'Remove peer demo-site-b from pool rbd?' })
    .getByRole('button', { name: 'Remove peer' })
    .click();
  await expect(page.getByText('Peer demo-site-b removed from rbd')).toBeVisible();
  expect(removeCalls).toBe(1);
  await expect(poolRow().getByTestId('peer')).toHaveCount(0);
  await expect(poolRow()).toContainText('none');
  // The other cluster keeps its own entry, as the dialog said.
  await openCluster('demo-site-b');
  await expect(poolRow().getByTestId('peer')).toHaveAttribute('data-peer', 'demo-site-a');
});
