import { expect, test, type Page } from '@playwright/test';
import { OwnServer } from './own-server';

/*
 * API → tokens in the browser: a metrics token created and shown once (copied with the button),
 * accepted by /api/metrics, listed by its prefix with its last use, then revoked after a
 * confirmation and refused; a personal API token with a lower role calls /api/v1 as its user.
 * Its own server: it creates and revokes tokens.
 */
const PORT = Number(process.env.E2E_TOKENS_PORT ?? 3219);
const DATA = process.env.E2E_TOKENS_DATA_DIR ?? '/tmp/tandem-e2e-tokens-data';
const PASSWORD = 'e2e-tokens-admin-password';

let page: Page;
test.describe.configure({ mode: 'serial' });
const own = new OwnServer(PORT, DATA, PASSWORD, {});

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});
test.afterAll(() => own.stop());

/** The tokens' part of the API page (the reference below has labels and tables of its own). */
const tokens = () => page.getByTestId('api-tokens');
const scrape = (token: string) =>
  fetch(`${own.base}/api/metrics`, { headers: { authorization: `Bearer ${token}` } });

test('an API token is shown once, copied, works for the metrics, and is refused once revoked', async () => {
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: own.base });
  await page.goto('/api-docs');
  await expect(page.getByRole('heading', { name: 'API', exact: true })).toBeVisible();
  await expect(tokens().getByText('No API tokens yet.')).toBeVisible();

  await tokens().getByLabel('Name').fill('prometheus');
  await tokens().getByLabel('Kind').selectOption('metrics');
  await tokens().getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByRole('region', { name: 'New API token' });
  await expect(shown).toContainText('it is not shown again');
  const token = (await shown.getByTestId('api-token').textContent())!.trim();
  expect(token).toMatch(/^tdm_[A-Za-z0-9_-]{43}$/);
  await shown.getByRole('button', { name: 'Copy' }).click();
  await expect(page.getByText('Token copied to the clipboard')).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(token);

  // The list names it by its prefix; a scrape with it is answered and noted as its last use.
  const row = tokens().locator('tbody tr', { hasText: 'prometheus' });
  await expect(row).toContainText(`${token.slice(0, 10)}…`);
  await expect(row).toContainText('never');
  expect((await scrape(token)).status).toBe(200);

  // Once dismissed, the token is nowhere on the page, not even after a reload.
  await shown.getByRole('button', { name: 'Done' }).click();
  await expect(shown).toHaveCount(0);
  expect(await page.content()).not.toContain(token);
  await page.reload();
  await expect(row).not.toContainText('never');
  expect(await page.content()).not.toContain(token);

  // A second token with the same name is refused on its field.
  await tokens().getByLabel('Name').fill('prometheus');
  await tokens().getByLabel('Kind').selectOption('metrics');
  await tokens().getByRole('button', { name: 'Create token' }).click();
  await expect(tokens().getByText('a token of this name exists')).toBeVisible();

  // Revoking asks first; cancelling changes nothing.
  await row.getByRole('button', { name: 'Revoke' }).click();
  const dialog = page.getByRole('dialog').filter({ hasText: 'Revoke the token prometheus?' });
  await expect(dialog).toContainText(`${token.slice(0, 10)}…`);
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toBeHidden();
  expect((await scrape(token)).status).toBe(200);
  await row.getByRole('button', { name: 'Revoke' }).click();
  await dialog.getByRole('button', { name: 'Revoke token' }).click();
  await expect(row.getByText('revoked', { exact: true })).toBeVisible();
  await expect(row.getByRole('button', { name: 'Revoke' })).toHaveCount(0);
  const refused = await scrape(token);
  expect(refused.status).toBe(401);
  expect(await refused.text()).toBe('this token was revoked\n');
});

test('a personal API token with a lower role calls /api/v1 as its user, and the call is in the history under its name', async () => {
  await page.goto('/api-docs');
  await tokens().getByLabel('Name').fill('runbook');
  await tokens().getByLabel('Kind').selectOption('api');
  await tokens().getByLabel('Role').selectOption('viewer');
  await tokens().getByLabel('Expires in').selectOption('7');
  await tokens().getByRole('button', { name: 'Create token' }).click();
  const shown = page.getByRole('region', { name: 'New API token' });
  const token = (await shown.getByTestId('api-token').textContent())!.trim();
  const row = tokens().locator('tbody tr', { hasText: 'runbook' });
  await expect(row).toContainText('(viewer)');
  const sites = await fetch(`${own.base}/api/v1/sites`, { headers: { authorization: `Bearer ${token}` } });
  expect(sites.status).toBe(200);
  expect(Array.isArray(await sites.json())).toBe(true);
  // A viewer token changes nothing.
  const refused = await fetch(`${own.base}/api/v1/tasks/1`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${token}` },
  });
  expect(refused.status).toBe(403);
  expect((await refused.json()).error).toMatchObject({
    code: 'FORBIDDEN',
    message: 'this needs the operator role; you are viewer',
  });
  await shown.getByRole('button', { name: 'Done' }).click();
  await page.goto('/history');
  await expect(page.getByText('via api token "runbook"').first()).toBeVisible();
  // The reference is linked and served.
  const doc = await fetch(`${own.base}/api/v1/openapi.json`);
  expect((await doc.json()).openapi).toBe('3.1.0');
});

test('the API page shows the reference of every route, without a CSP violation', async () => {
  const violations: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text()))
      violations.push(m.text());
  });
  await page.goto('/api-docs');
  const ref = page.getByTestId('api-reference');
  await expect(ref.getByText('Tandem API').first()).toBeVisible({ timeout: 30_000 });
  await expect(ref.getByText('Ask AI')).toHaveCount(0);
  // The first tag's operations are rendered; the others are listed (rendered when scrolled to).
  for (const op of [
    'Create a replica',
    'Fail the VM over to this replica',
    'Reinitialise the old master as the replica',
  ])
    await expect(ref.getByText(op).first(), op).toBeAttached({ timeout: 15_000 });
  for (const tag of ['RBD mirroring', 'Tasks', 'History'])
    await expect(ref.getByText(tag, { exact: true }).first(), tag).toBeAttached();
  expect(violations).toEqual([]);
});
