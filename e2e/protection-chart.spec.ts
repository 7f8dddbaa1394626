import path from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import Database from 'better-sqlite3';
import { seriousViolations } from './axe';
import { OwnServer } from './own-server';

/**
 * A VM replica's collected history: stored on the demo nodes with two sync runs, sampled by the collector
 * (every second here), then its history page shows the data-loss window against the labelled RPO
 * line, the range picker, and no serious or critical axe violations; the VM page shows the chart too.
 */
const PORT = Number(process.env.E2E_CHART_PORT ?? 3222);
const DATA = process.env.E2E_CHART_DATA_DIR ?? '/tmp/tandem-e2e-chart-data';
const PASSWORD = 'e2e-chart-admin-password';

let page: Page;

test.describe.configure({ mode: 'serial' });

const own = new OwnServer(PORT, DATA, PASSWORD, { TANDEM_COLLECT_INTERVAL_MS: '1000' });

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000);
  page = await own.start(browser);
});

test.afterAll(() => own.stop());

test('a replica’s history page: the data-loss window against the RPO line, the range picker, no serious axe violations', async () => {
  // A replica of web01 as its syncs left it (a real initial sync of its 140 GiB takes minutes in
  // the simulation): last recovery point 5 min ago, paused so that no sync starts, with two runs.
  const db = new Database(path.join(DATA, 'tandem.db'));
  const siteId = (name: string) =>
    (db.prepare('select id from sites where name = ?').get(name) as { id: number }).id;
  const now = Date.now();
  const rid = Number(
    db
      .prepare(
        `insert into replicas (name, vm_name, source_site_id, target_site_id, root_zpool, disk_zpools, datasets, vm_definition, reserve_resources, vcpus, memory_mib,
           sleep_time_sec, enabled, keep_snapshots, state, last_sync_at, last_snapshot, last_sync_bytes)
         values ('chart', 'web01', ?, ?, 'zones', '{"vdb":"data"}', ?, ?, 1, 4, 8192, 60, 0, 3, 'paused', ?, 'tandem-chart-20261203T000000Z', 1048576)`,
      )
      .run(
        siteId('demo-node1'),
        siteId('demo-node2'),
        JSON.stringify([
          {
            device: 'vda',
            source: 'zones/web01-disk0',
            target: 'zones/web01-disk0',
            kind: 'file',
            file: 'disk.img',
          },
          {
            device: 'vdb',
            source: 'zones/web01-disk1',
            target: 'data/web01-disk1',
            kind: 'file',
            file: 'disk.img',
          },
        ]),
        JSON.stringify({
          format: 'libvirt-xml',
          name: 'web01',
          text: '<domain type="kvm"><name>web01</name></domain>',
          state: 'running',
          disks: [{ device: 'vda', path: '/zones/web01-disk0/disk.img' }],
        }),
        now - 300_000,
      ).lastInsertRowid,
  );
  const run = db.prepare(
    `insert into sync_runs (subject, started_at, finished_at, bytes, bytes_per_second, outcome, snapshot) values (?, ?, ?, ?, ?, 'success', ?)`,
  );
  run.run(
    `replica:${rid}`,
    now - 1_500_000,
    now - 1_488_000,
    50 << 20,
    Math.round((50 << 20) / 12),
    'tandem-chart-a',
  );
  run.run(
    `replica:${rid}`,
    now - 312_000,
    now - 300_000,
    1 << 20,
    Math.round((1 << 20) / 12),
    'tandem-chart-20261203T000000Z',
  );
  const node1 = siteId('demo-node1');
  db.close();
  const created = { id: rid };

  // The objects are computed from stored state (and reused for a second): the replica appears at the next reading.
  await page.goto(`/protection/${encodeURIComponent(`replica:${created.id}`)}`);
  await expect(async () => {
    await page.reload();
    await expect(page.getByRole('heading', { name: 'History of web01 (chart)' })).toBeVisible({
      timeout: 5_000,
    });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByRole('heading', { name: /History of web01/ })).toContainText('VM replica');
  // Bytes at risk are asked of the master on demand; this replica's recovery point was never taken there.
  await expect(page.getByTestId('bytes-at-risk')).toContainText(
    /unknown — the recovery point is not on the master: .*tandem-chart-20261203T000000Z/,
  );
  const windowChart = page.getByTestId('chart-window');
  await expect(windowChart.getByRole('heading', { name: 'Data-loss window' })).toBeVisible();
  // The RPO (the installation default, 15 min) is drawn as a labelled line and said in the caption.
  await expect(windowChart).toHaveAttribute('data-rpo', '900');
  await expect(windowChart.locator('svg').getByText('RPO 15 min')).toBeVisible();
  // Collected samples arrive (the page refetches when the range changes): the caption reports them.
  await expect
    .poll(
      async () => {
        await page.getByRole('button', { name: '1 h' }).click();
        await page.getByRole('button', { name: '6 h' }).click();
        return windowChart.locator('figcaption').textContent();
      },
      { timeout: 30_000, intervals: [1_000] },
    )
    .toMatch(/latest .+; RPO 15 min, exceeded in 0 of \d+ samples/);
  await expect(page.getByRole('button', { name: '6 h' })).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByRole('button', { name: '24 h' })).toHaveAttribute('aria-pressed', 'false');
  // The samples are drawn (as dots while they are few).
  await expect(windowChart.locator('svg .recharts-line-dots circle').first()).toBeVisible();
  expect(await windowChart.locator('svg .recharts-line-dots circle').count()).toBeGreaterThan(0);
  // The sync runs are points of the duration chart, with their bytes.
  await expect(page.getByTestId('chart-duration').locator('figcaption')).toContainText(
    /2 syncs \(0 failed\)/,
  );
  await expect(page.getByRole('figure', { name: 'Data-loss window' })).toBeVisible();
  expect(await seriousViolations(page)).toEqual([]);

  // The VM page shows the same chart under the replica, with a link to the page above.
  await page.goto(`/replicas/${node1}/web01`);
  const card = page.locator('[data-testid=replica-card][data-replica="chart"]');
  await expect(card.getByTestId('chart-window').locator('svg').getByText('RPO 15 min')).toBeVisible();
  await expect(card.getByRole('link', { name: 'History of chart' })).toHaveAttribute(
    'href',
    `/protection/replica%3A${created.id}`,
  );

  // The protection table draws the last hour as a sparkline once there are two samples: a picture
  // with its figures in words, nothing in it focusable (axe: aria-hidden-focus).
  await page.goto('/');
  const spark = page.locator(`tr[data-subject="replica:${created.id}"] [data-testid=sparkline]`);
  await expect(async () => {
    await page.reload();
    await expect(spark.locator('svg')).toBeVisible({ timeout: 5_000 });
  }).toPass({ timeout: 60_000 });
  await expect(spark).toHaveAttribute('aria-label', /^last hour: data-loss window from /);
  expect(await seriousViolations(page)).toEqual([]);
});
