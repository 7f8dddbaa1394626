import { createHmac } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import Database from 'better-sqlite3';
import { seriousViolations } from './axe';
import { OwnServer } from './own-server';

/*
 * Alerts against the demo sites, on a server of its own (it changes the demo replicas): a paused
 * replica with a small RPO makes an alert fire, the Alerts page shows it and it is acknowledged;
 * a webhook channel is added (its secret shown once) and tested against a receiver in this test.
 */
const PORT = Number(process.env.E2E_ALERTS_PORT ?? 3270);
const HOOK_PORT = Number(process.env.E2E_ALERTS_HOOK_PORT ?? 3277);
const DATA = process.env.E2E_ALERTS_DATA_DIR ?? '/tmp/tandem-e2e-alerts-data';
const PASSWORD = 'e2e-alerts-admin-password';

let page: Page;
const own = new OwnServer(PORT, DATA, PASSWORD, {
  TANDEM_ALERT_INTERVAL_MS: '1000',
  TANDEM_SCHEDULER_INTERVAL_MS: '1000',
});

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});

test.afterAll(() => own.stop());

/** A tRPC call over HTTP as the browser makes it (superjson envelope, the console's Origin). */
async function call<T>(kind: 'query' | 'mutation', path: string, input?: unknown): Promise<T> {
  const res =
    kind === 'query'
      ? await page.request.get(
          `/api/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`}`,
        )
      : await page.request.post(`/api/trpc/${path}`, {
          data: { json: input ?? null },
          headers: { origin: own.base },
        });
  const body = (await res.json()) as {
    result?: { data: { json: T } };
    error?: { json: { message: string } };
  };
  if (!res.ok() || !body.result)
    throw new Error(`${path}: ${res.status()} ${body.error?.json.message ?? ''}`);
  return body.result.data.json;
}

const axe = () => seriousViolations(page);

test('a paused demo replica with a small RPO fires an alert; the Alerts page shows it first and it is acknowledged; no serious accessibility violation', async () => {
  test.setTimeout(180_000);
  // A paused replica of web01 whose last sync was 12 s ago, stored as Tandem keeps it (a first
  // sync of the demo's 140 GiB takes minutes in real time): the scheduler hears from its master
  // every second, so its data-loss window grows from 12 s on.
  const db = new Database(path.join(DATA, 'tandem.db'));
  const siteId = (name: string) =>
    (db.prepare('select id from sites where name = ?').get(name) as { id: number }).id;
  const id = Number(
    db
      .prepare(
        `insert into replicas (name, vm_name, source_site_id, target_site_id, root_zpool, disk_zpools, datasets, vm_definition, reserve_resources, vcpus, memory_mib,
           sleep_time_sec, enabled, keep_snapshots, state, last_sync_at, last_snapshot, last_sync_bytes)
         values ('dr', 'web01', ?, ?, 'zones', '{}', ?, null, 1, 4, 8192, 30, 0, 3, 'idle', ?, 'tandem-dr-20261203T000000Z', 1048576)`,
      )
      .run(
        siteId('demo-node1'),
        siteId('demo-node2'),
        JSON.stringify([
          {
            device: 'vda',
            source: 'zones/web01-disk0',
            target: 'zones/web01-disk0',
            kind: 'zvol',
            file: null,
          },
        ]),
        Date.now() - 12_000,
      ).lastInsertRowid,
  );
  db.close();
  // An RPO of 10 s for it, through the API: over 10 s it is a warning, over 20 s a breach.
  await call('mutation', 'protection.setRpo', {
    scope: { kind: 'object', subject: `replica:${id}` },
    seconds: 10,
  });
  const created = { id };

  await page.getByRole('link', { name: 'Alerts' }).click();
  await expect(page.getByRole('heading', { name: 'Alerts', level: 1 })).toBeVisible();
  const row = page
    .getByTestId('alert-row')
    .filter({ hasText: 'web01 (dr) (demo-node1 → demo-node2): data-loss window' })
    .filter({ hasText: 'over twice its RPO of 10 s' });
  await expect(row).toBeVisible({ timeout: 60_000 });
  await expect(row).toContainText('critical');
  await expect(row).toContainText(`rpo-breach:replica:${created.id}`);
  // Critical alerts come first.
  await expect(page.getByTestId('alert-row').first()).toContainText('critical');
  await expect(page.getByTestId('alert-counts')).toContainText('critical');
  // The warning that came first was replaced by the breach: it is among the past alerts.
  await expect(
    page
      .getByTestId('past-alert-row')
      .filter({ hasText: 'web01 (dr)' })
      .filter({ hasText: 'over its RPO of 10 s' }),
  ).toBeVisible({ timeout: 30_000 });

  expect(await axe()).toEqual([]);

  await row.getByRole('button', { name: 'Acknowledge' }).click();
  await expect(row.getByRole('button', { name: 'Acknowledge' })).toHaveCount(0);
  await expect(row.getByRole('cell').nth(3)).toContainText('admin');
  // Still firing after the next evaluations.
  await page.reload();
  await expect(
    page.getByTestId('alert-row').filter({ hasText: `rpo-breach:replica:${created.id}` }),
  ).toContainText('admin');

  // Silence the rule for a day with a reason; the silence is listed and can be ended.
  await page
    .getByTestId('alert-row')
    .filter({ hasText: `rpo-breach:replica:${created.id}` })
    .getByRole('button', { name: 'Silence' })
    .click();
  const dialog = page.getByRole('dialog', { name: 'Silence alerts' });
  await dialog
    .getByLabel('What to silence')
    .selectOption({ label: 'Every alert of this rule (RPO breached (over 2×))' });
  await dialog.getByLabel('For').selectOption({ label: '1 day' });
  await dialog.getByLabel('Reason').fill('demo maintenance');
  expect(await axe()).toEqual([]);
  await dialog.getByRole('button', { name: 'Silence' }).click();
  const silence = page.getByTestId('silence-row').filter({ hasText: 'rpo-breach:*' });
  await expect(silence).toContainText('demo maintenance');
  await expect(
    page.getByTestId('alert-row').filter({ hasText: `rpo-breach:replica:${created.id}` }),
  ).toContainText('silenced until');
  await silence.getByRole('button', { name: 'End silence' }).click();
  await expect(silence).toHaveCount(0);

  // The acknowledgement is in history, as the admin.
  await page.getByRole('link', { name: 'History' }).click();
  await page.getByLabel('Action').selectOption('alerts.ack');
  await expect(page.getByTestId('history-row').first()).toContainText('admin');
});

test('a webhook channel: its secret is shown once, and "Send test" reaches a receiver that verifies the signature', async () => {
  // Requests may arrive before the test has read the secret from the page: checked afterwards.
  const got: { timestamp: string; signature: string; body: string }[] = [];
  let secret = '';
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({
        timestamp: String(req.headers['x-tandem-timestamp']),
        signature: String(req.headers['x-tandem-signature']),
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(204).end();
    });
  });
  const verified = (g: (typeof got)[number]) =>
    g.signature === `sha256=${createHmac('sha256', secret).update(`${g.timestamp}.${g.body}`).digest('hex')}`;
  await new Promise<void>((r) => receiver.listen(HOOK_PORT, '127.0.0.1', () => r()));
  try {
    await page.goto('/alerts');
    const channels = page.getByRole('heading', { name: 'Channels' }).locator('xpath=ancestor::section[1]');
    await channels.getByLabel('Channel name').fill('e2e receiver');
    await channels.getByLabel('URL').fill('ftp://127.0.0.1/x');
    await channels.getByRole('button', { name: 'Add channel' }).click();
    await expect(channels.getByText('only http:// and https:// URLs are allowed, not ftp://')).toBeVisible();
    await channels.getByLabel('URL').fill(`http://127.0.0.1:${HOOK_PORT}/hook`);
    await channels.getByRole('button', { name: 'Add channel' }).click();
    const shown = page.getByTestId('webhook-secret');
    await expect(shown).toContainText('shown only now');
    secret = (await shown.getByLabel('Signing secret').textContent())!.trim();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await axe()).toEqual([]);
    await shown.getByRole('button', { name: 'I have stored it' }).click();
    await expect(shown).toHaveCount(0);
    // Not shown again: the page no longer holds it.
    await page.reload();
    expect(await page.content()).not.toContain(secret);

    const channel = page.getByTestId('channel-row').filter({ hasText: 'e2e receiver' });
    await channel.getByRole('button', { name: 'Send test' }).click();
    await expect(channel.getByTestId('channel-last')).toContainText('sent');
    await expect(channel.getByTestId('channel-last')).toContainText('test');
    // Every request is signed with the secret shown; one is the test. The firing alerts nobody was
    // told of yet were sent to the new channel too, but not the acknowledged breach.
    expect(got.length).toBeGreaterThanOrEqual(1);
    expect(got.filter((g) => !verified(g))).toEqual([]);
    const bodies = got.map(
      (g) =>
        JSON.parse(g.body) as { event: string; channel: { name: string }; alert: { key: string } | null },
    );
    expect(bodies.filter((b) => b.event === 'test')).toEqual([
      expect.objectContaining({ channel: expect.objectContaining({ name: 'e2e receiver' }), alert: null }),
    ]);
    expect(bodies.filter((b) => b.alert?.key.startsWith('rpo-breach:replica:'))).toEqual([]);
  } finally {
    await new Promise<void>((r) => receiver.close(() => r()));
  }
});
