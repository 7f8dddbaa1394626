import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prometheus, until as untilSeen } from '../integration/prometheus';
import { TandemServer } from '../integration/server';

/**
 * A real Prometheus (Debian's `prometheus`) scrapes a production Tandem server on the demo sites
 * with a metrics token, every second, and its query API returns the data-loss window of a VM
 * replica and of a mirrored RBD image; the README's alerting rules evaluate. Revoking the token
 * takes the target down.
 */
const PORT = Number(process.env.METRICS_HTTP_PORT) || 3260;
const PROM_PORT = Number(process.env.METRICS_PROM_PORT) || 9091;
const PASSWORD = 'metrics-admin-password';

let dir: string;
let server: TandemServer;
let prom: Prometheus;
let token: string;
let replicaId: number;
/** When the replica was created: its window cannot be longer than the time since. */
let createdAt: number;

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs?: number) =>
  untilSeen(what, fn, timeoutMs, () => prom?.log ?? '');

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-metrics-'));
  server = new TandemServer(PORT, path.join(dir, 'data'), PASSWORD, {
    TANDEM_DEMO: '1',
    TANDEM_DEMO_LATENCY_MS: '20',
    TANDEM_ALERT_INTERVAL_MS: '2000',
  });
  prom = new Prometheus(PROM_PORT, dir, `127.0.0.1:${PORT}`);
  await server.start();
  await server.login();
});

afterAll(async () => {
  await prom?.stop();
  await server?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('Prometheus scraping /api/metrics', () => {
  it('refuses a scrape without a token, with 401 and a Bearer challenge', async () => {
    const res = await fetch(`${server.base}/api/metrics`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
  });

  it('has a replica synced and the Ceph clusters asked, through the API', async () => {
    const sites = await server.query<{ id: number; name: string }[]>('sites.list');
    const id = (n: string) => sites.find((s) => s.name === n)!.id;
    createdAt = Date.now();
    const created = await server.call<{ id: number; taskId: number }>('replicas.create', {
      name: 'metrics',
      // The demo's smallest VM: its initial sync moves about 6 GiB at the simulated 110 MiB/s.
      vmName: 'cache01',
      sourceSiteId: id('demo-node2'),
      targetSiteId: id('demo-node3'),
      rootZpool: 'zones',
      diskZpools: {},
      sleepTimeSec: 30,
    });
    replicaId = created.id;
    type TaskInfo = { task: { state: string; error: string | null }; logs: { message: string }[] };
    const ended = await until(
      'the initial sync has ended',
      async () => {
        const t = await server.query<TaskInfo>('tasks.get', { id: created.taskId });
        return ['waiting', 'running', 'question'].includes(t.task.state) ? undefined : t;
      },
      240_000,
    );
    expect(ended.task, ended.logs.map((l) => l.message).join('\n')).toMatchObject({
      state: 'finished',
      error: null,
    });
    expect(
      (await server.query<{ lastSyncAt: string | null }>('replicas.get', { id: replicaId })).lastSyncAt,
    ).not.toBeNull();
    for (const n of ['demo-site-a', 'demo-site-b']) {
      await until(`${n} answered its mirroring status`, async () =>
        (await server.query<{ state: string }>('ceph.status', { siteId: id(n), waitMs: 5_000 })).state ===
        'answered'
          ? true
          : undefined,
      );
    }
  });

  it('is scraped by a real Prometheus with the token, and its query API returns the data-loss window of a replica and of an image', async () => {
    token = (
      await server.call<{ token: string }>('apiTokens.create', { name: 'prometheus', scope: 'metrics' })
    ).token;
    prom.start(token);
    const up = await until('the target is up', async () => {
      const t = await prom.scraped();
      return t?.health === 'up' ? t : undefined;
    });
    expect(up.lastError).toBe('');
    console.log(`[metrics] last scrape took ${(up.lastScrapeDuration * 1000).toFixed(1)} ms`);
    expect(up.lastScrapeDuration).toBeLessThan(1);

    const windows = await until('the data-loss windows of a replica and an image', async () => {
      const r = await prom.query('tandem_data_loss_window_seconds');
      return r.some((s) => s.metric.kind === 'vm-replica') && r.some((s) => s.metric.kind === 'rbd-image')
        ? r
        : undefined;
    });
    const rep = windows.find((s) => s.metric.subject === `replica:${replicaId}`);
    expect(rep?.metric).toMatchObject({
      kind: 'vm-replica',
      name: 'cache01 (metrics)',
      source: 'demo-node2',
      target: 'demo-node3',
      job: 'tandem',
    });
    const repWindow = Number(rep!.value[1]);
    expect(repWindow).toBeGreaterThanOrEqual(0);
    expect(repWindow).toBeLessThanOrEqual((Date.now() - createdAt) / 1000 + 1);
    const img = windows.find((s) => s.metric.kind === 'rbd-image')!;
    expect(img.metric.name).toMatch(/^[\w.-]+\/([\w.-]+\/)?[\w.-]+$/);
    expect([img.metric.source, img.metric.target].sort()).toEqual(['demo-site-a', 'demo-site-b']);
    expect(Number(img.value[1])).toBeGreaterThanOrEqual(0);
    expect(Number(img.value[1])).toBeLessThan(86_400);

    // The RPO joins the window on the same labels: an alerting rule's expression evaluates.
    const over = await prom.query(
      `tandem_data_loss_window_seconds{subject="replica:${replicaId}"} / on(subject) tandem_rpo_seconds`,
    );
    expect(over).toHaveLength(1);
    expect(Number(over[0]!.value[1])).toBeGreaterThanOrEqual(0);
    // The health is a state set: exactly one health per object is 1.
    const health = await prom.query(
      `sum by (subject) (tandem_protection_health{subject="replica:${replicaId}"})`,
    );
    expect(health.map((s) => s.value[1])).toEqual(['1']);
    // Every demo site is known to be up, the sync shows in the counters and the task counts.
    const sitesUp = await until('every site known', async () => {
      const r = await prom.query('tandem_site_up');
      return r.length === 5 ? r : undefined;
    });
    expect(sitesUp.map((s) => [s.metric.site, s.value[1]]).sort()).toEqual([
      ['demo-node1', '1'],
      ['demo-node2', '1'],
      ['demo-node3', '1'],
      ['demo-site-a', '1'],
      ['demo-site-b', '1'],
    ]);
    const bytes = await prom.query(`tandem_sync_bytes_total{subject="replica:${replicaId}"}`);
    expect(Number(bytes[0]!.value[1])).toBeGreaterThan(0);
    const syncs = await prom.query('tandem_tasks{kind="replica.sync",state="finished"}');
    expect(Number(syncs[0]!.value[1])).toBeGreaterThanOrEqual(1);
  });

  it("evaluates the README's alerting rules: an RPO below the replica's window makes its alert pending (and Tandem's own alert, counted in tandem_alerts)", async () => {
    const evaluated = await until('both rules evaluated', async () => {
      const r = await prom.rules();
      return r.length === 2 && r.every((x) => x.health === 'ok') ? r : undefined;
    });
    expect(evaluated.map((r) => r.name).sort()).toEqual(['TandemDataLossWindowOverRpo', 'TandemSiteDown']);
    // Every demo site answers: the site rule has nothing to say.
    expect(evaluated.find((r) => r.name === 'TandemSiteDown')!.alerts).toEqual([]);
    // The replica syncs every 30 s; with a 10-s RPO its window goes over it between two syncs.
    await server.call('protection.setRpo', {
      scope: { kind: 'object', subject: `replica:${replicaId}` },
      seconds: 10,
    });
    await until('the RPO of 10 s scraped', async () =>
      (await prom.query(`tandem_rpo_seconds{subject="replica:${replicaId}"}`))[0]?.value[1] === '10'
        ? true
        : undefined,
    );
    const pending = await until(
      'the RPO alert pending for the replica',
      async () =>
        (await prom.rules())
          .find((r) => r.name === 'TandemDataLossWindowOverRpo')
          ?.alerts.find((a) => a.labels.subject === `replica:${replicaId}`),
      90_000,
    );
    expect(pending).toMatchObject({
      state: 'pending',
      labels: { kind: 'vm-replica', source: 'demo-node2', target: 'demo-node3', severity: 'warning' },
    });
    // Tandem's own alert rules fire for the replica too, and its alert counts reach Prometheus.
    type Alert = { rule: string; subject: string; severity: string };
    const fired = await until(
      "Tandem's RPO alert for the replica",
      async () =>
        (await server.query<{ rows: Alert[] }>('alerts.list', { state: 'firing', pageSize: 200 })).rows.find(
          (a) => a.subject === `replica:${replicaId}` && a.rule.startsWith('rpo-'),
        ),
      90_000,
    );
    const counted = await until(
      'the alert counted in tandem_alerts',
      async () =>
        (
          await prom.query(`tandem_alerts{rule="${fired.rule}",severity="${fired.severity}",state="firing"}`)
        )[0],
    );
    expect(Number(counted.value[1])).toBeGreaterThanOrEqual(1);
  });

  it('takes the target down once the token is revoked', async () => {
    const [t] =
      await server.query<{ id: number; name: string; lastUsedAt: string | null }[]>('apiTokens.list');
    expect(t!.name).toBe('prometheus');
    expect(t!.lastUsedAt).not.toBeNull();
    await server.call('apiTokens.revoke', { id: t!.id });
    const down = await until('the target is down', async () => {
      const x = await prom.scraped();
      return x?.health === 'down' ? x : undefined;
    });
    expect(down.lastError).toMatch(/401/);
    // The token is in no log of the server.
    expect(server.log).not.toContain(token);
  });
});
