import { expect, test, type Page } from '@playwright/test';
import { OwnServer } from './own-server';

/*
 * Several console tabs in one browser: each opens one task event stream, which it keeps across
 * page changes, so that tabs do not use up the browser's six connections per host; and each
 * tab's stream shows a task started elsewhere. A server of its own (the production build).
 */
const PORT = Number(process.env.E2E_TABS_PORT ?? 3223);
const DATA = process.env.E2E_TABS_DATA_DIR ?? '/tmp/tandem-e2e-tabs-data';
const PASSWORD = 'e2e-tabs-admin-password';
const TABS = 5;

const own = new OwnServer(PORT, DATA, PASSWORD, {});

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  await own.start(browser);
});

test.afterAll(() => own.stop());

/** Requests for the task event stream made by `page`. */
function streamsOf(page: Page): () => number {
  let n = 0;
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/trpc/tasks.watch')) n++;
  });
  return () => n;
}

test(`${TABS} tabs each load, with one task event stream per tab, kept across page changes`, async () => {
  test.setTimeout(180_000);
  const context = own.page.context();
  await own.page.close();
  const tabs: { page: Page; streams: () => number; ms: number }[] = [];
  for (let i = 0; i < TABS; i++) {
    const page = await context.newPage();
    const streams = streamsOf(page);
    const t0 = Date.now();
    await page.goto('/');
    await expect(page.getByTestId('health-summary')).toBeVisible();
    await expect(page.getByLabel('Active tasks')).toContainText(/None running|Check|Sync/);
    tabs.push({ page, streams, ms: Date.now() - t0 });
  }
  // With two streams per tab, the third tab never loaded: the six connections were taken.
  for (const [i, t] of tabs.entries()) expect(t.ms, `tab ${i + 1} loaded in ${t.ms} ms`).toBeLessThan(10_000);

  // Pages changed inside each tab keep its stream.
  for (const { page } of tabs) {
    await page
      .getByRole('navigation', { name: 'Main' })
      .getByRole('link', { name: 'Ceph mirroring' })
      .click();
    await expect(page.getByRole('heading', { name: 'Ceph mirroring' })).toBeVisible();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tasks' }).click();
    await expect(page.getByRole('heading', { name: 'Tasks', exact: true })).toBeVisible();
  }

  // A task started elsewhere (another session, through the API) reaches every tab's list live.
  const api = await context.browser()!.newContext({ baseURL: own.base });
  const login = await api.request.post('/api/trpc/auth.login', {
    headers: { origin: own.base },
    data: { json: { username: 'admin', password: PASSWORD } },
  });
  expect(login.ok()).toBe(true);
  const sites = (await (await api.request.get('/api/trpc/sites.list')).json()).result.data.json as {
    id: number;
    name: string;
  }[];
  const node = sites.find((s) => s.name === 'demo-node1')!;
  const started = await api.request.post('/api/trpc/sites.check', {
    headers: { origin: own.base },
    data: { json: { id: node.id } },
  });
  expect(started.ok()).toBe(true);
  const taskId = (await started.json()).result.data.json.taskId as number;
  for (const { page } of tabs) {
    const row = page
      .getByRole('row')
      .filter({ has: page.getByRole('link', { name: 'Check demo-node1' }) })
      .filter({ hasText: String(taskId) });
    await expect(row).toContainText('finished');
  }
  await api.close();

  for (const [i, t] of tabs.entries()) expect(t.streams(), `tab ${i + 1}`).toBe(1);
});
