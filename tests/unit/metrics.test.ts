import { beforeAll, describe, expect, it } from 'vitest';
import { alerts, sites, syncRuns, tasks } from '@/server/db/schema';
import { AppError } from '@/server/core/errors';
import { eq } from 'drizzle-orm';
import {
  alertCounts,
  renderMetrics,
  scrapeMetrics,
  STALE_RUN_MS,
  syncTotals,
  SyncTotalsCache,
  taskCounts,
  type MetricsData,
} from '@/server/domain/metrics';
import { setProcessApp } from '@/server/app';
import type { ProtectedObject } from '@/server/domain/protection/types';
import { testApp } from './helpers';
import { protectedObject } from './protected-object';

/** A sample of the text format: `name{label="value",…} value`. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus' text exposition format (0.0.4) back: samples, and each metric's TYPE and HELP. */
function parseExposition(text: string): {
  samples: Sample[];
  types: Map<string, string>;
  help: Map<string, string>;
} {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    let m = /^# (TYPE|HELP) (\S+) (.*)$/.exec(line);
    if (m) {
      (m[1] === 'TYPE' ? types : help).set(m[2]!, m[3]!);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/gy;
    let l: RegExpExecArray | null;
    let end = 0;
    while ((l = re.exec(body))) {
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      end = re.lastIndex;
    }
    if (end !== body.length) throw new Error(`labels not read to the end: ${line}`);
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { samples, types, help };
}

function obj(
  p: Partial<ProtectedObject> & Pick<ProtectedObject, 'subject' | 'kind' | 'name'>,
): ProtectedObject {
  return protectedObject({
    source: { id: 1, name: 'node-a' },
    target: { id: 2, name: 'node-b' },
    windowSec: null,
    health: 'unknown',
    href: '/',
    ...p,
  });
}

const replica = obj({
  subject: 'replica:7',
  kind: 'vm-replica',
  name: 'web01',
  windowSec: 1234,
  health: 'warning',
  rpoSec: 600,
  syncSeconds: 4.5,
});
const image = obj({
  subject: 'rbd:3-4/rbd//vol1',
  kind: 'rbd-image',
  name: 'rbd/vol1',
  source: { id: 3, name: 'ceph-a' },
  target: { id: 4, name: 'ceph-b' },
  windowSec: 45,
  health: 'ok',
  rpoSec: 300,
});
const journal = obj({
  subject: 'rbd:3-4/rbd//j"1\\x',
  kind: 'rbd-image',
  name: 'rbd/j"1\\x\nline',
  source: { id: 3, name: 'ceph-a' },
  target: { id: 4, name: 'ceph-b' },
  health: 'unknown',
  reason: 'journal lag not reported',
});
const bare = obj({ subject: 'vm:1/db01', kind: 'vm', name: 'db01', target: null, health: 'unprotected' });
const quiet = obj({ subject: 'replica:8', kind: 'vm-replica', name: 'new-one', health: 'unknown' });

const data: MetricsData = {
  objects: [replica, image, journal, bare, quiet],
  syncTotals: [
    { subject: 'replica:7', bytes: 5_000_000, failures: 3 },
    { subject: 'replica:99', bytes: 1, failures: 1 }, // a deleted replica: not exported
  ],
  sites: [
    { site: { id: 1, name: 'node-a', kind: 'node' }, up: true, at: 1_000_000, lastSeenAt: 1_000_000 },
    {
      site: { id: 3, name: 'ceph-a', kind: 'ceph' },
      up: false,
      at: 2_000_000,
      lastSeenAt: 1_500_000,
      error: 'UNREACHABLE',
    },
    { site: { id: 5, name: 'fresh', kind: 'node' }, up: null, at: null, lastSeenAt: null },
  ],
  tasks: [
    { kind: 'replica.sync', state: 'finished', count: 40 },
    { kind: 'replica.sync', state: 'failed', count: 2 },
    { kind: 'ceph.failover', state: 'running', count: 1 },
  ],
  alerts: [{ rule: 'rpo-breach', severity: 'critical', state: 'firing', count: 2 }],
};

describe('metrics text', () => {
  let parsed: ReturnType<typeof parseExposition>;
  let contentType: string;
  beforeAll(async () => {
    const m = await renderMetrics(data);
    contentType = m.contentType;
    parsed = parseExposition(m.text);
  });
  const values = (name: string) => parsed.samples.filter((s) => s.name === name);
  const one = (name: string, labels: Record<string, string>) => {
    const found = values(name).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    expect(found, `${name} ${JSON.stringify(labels)}`).toHaveLength(1);
    return found[0]!.value;
  };

  it('is the text format, each metric typed and explained', () => {
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(Object.fromEntries(parsed.types)).toEqual({
      tandem_data_loss_window_seconds: 'gauge',
      tandem_rpo_seconds: 'gauge',
      tandem_protection_health: 'gauge',
      tandem_sync_duration_seconds: 'gauge',
      tandem_sync_bytes_total: 'counter',
      tandem_sync_failures_total: 'counter',
      tandem_site_up: 'gauge',
      tandem_site_last_seen_timestamp_seconds: 'gauge',
      tandem_tasks: 'gauge',
      tandem_alerts: 'gauge',
    });
    for (const name of parsed.types.keys()) expect(parsed.help.get(name)?.length, name).toBeGreaterThan(20);
  });

  it('gives each protected object its window, RPO and latest sync, labelled by subject, kind, name, source and target', () => {
    expect(values('tandem_data_loss_window_seconds').map((s) => s.labels)).toEqual([
      { subject: 'replica:7', kind: 'vm-replica', name: 'web01', source: 'node-a', target: 'node-b' },
      {
        subject: 'rbd:3-4/rbd//vol1',
        kind: 'rbd-image',
        name: 'rbd/vol1',
        source: 'ceph-a',
        target: 'ceph-b',
      },
    ]);
    expect(one('tandem_data_loss_window_seconds', { subject: 'replica:7' })).toBe(1234);
    expect(one('tandem_data_loss_window_seconds', { subject: 'rbd:3-4/rbd//vol1' })).toBe(45);
    // An unknown window is left out rather than given as 0; an unprotected VM has no RPO.
    expect(values('tandem_rpo_seconds').map((s) => [s.labels.subject, s.value])).toEqual([
      ['replica:7', 600],
      ['rbd:3-4/rbd//vol1', 300],
      [journal.subject, 900],
      ['replica:8', 900],
    ]);
    expect(values('tandem_sync_duration_seconds').map((s) => [s.labels.subject, s.value])).toEqual([
      ['replica:7', 4.5],
    ]);
  });

  it('keeps label values exactly, quotes, backslashes and newlines included', () => {
    expect(one('tandem_rpo_seconds', { subject: 'rbd:3-4/rbd//j"1\\x' })).toBe(900);
    expect(values('tandem_rpo_seconds').find((s) => s.labels.subject === journal.subject)?.labels.name).toBe(
      'rbd/j"1\\x\nline',
    );
  });

  it('exposes health as a state set: one series per health, 1 for the current one', () => {
    for (const o of data.objects) {
      const series = values('tandem_protection_health').filter((s) => s.labels.subject === o.subject);
      expect(series.map((s) => s.labels.health).sort()).toEqual([
        'breach',
        'ok',
        'unknown',
        'unprotected',
        'warning',
      ]);
      expect(series.filter((s) => s.value === 1).map((s) => s.labels.health)).toEqual([o.health]);
      expect(series.filter((s) => s.value === 0)).toHaveLength(4);
    }
  });

  it('counts bytes and failures of every replica, 0 for one without runs, nothing for deleted ones or images', () => {
    expect(values('tandem_sync_bytes_total').map((s) => [s.labels.subject, s.value])).toEqual([
      ['replica:7', 5_000_000],
      ['replica:8', 0],
    ]);
    expect(values('tandem_sync_failures_total').map((s) => [s.labels.subject, s.value])).toEqual([
      ['replica:7', 3],
      ['replica:8', 0],
    ]);
  });

  it('says which sites are up from what is known, and leaves out a site nothing is known of', () => {
    expect(values('tandem_site_up').map((s) => [s.labels, s.value])).toEqual([
      [{ site: 'node-a', kind: 'node' }, 1],
      [{ site: 'ceph-a', kind: 'ceph' }, 0],
    ]);
    expect(one('tandem_site_last_seen_timestamp_seconds', { site: 'ceph-a' })).toBe(1500);
  });

  it('counts tasks by kind and state and alerts by rule, severity and state', () => {
    expect(one('tandem_tasks', { kind: 'replica.sync', state: 'finished' })).toBe(40);
    expect(one('tandem_tasks', { kind: 'replica.sync', state: 'failed' })).toBe(2);
    expect(one('tandem_tasks', { kind: 'ceph.failover', state: 'running' })).toBe(1);
    expect(one('tandem_alerts', { rule: 'rpo-breach', severity: 'critical', state: 'firing' })).toBe(2);
  });
});

describe('metrics from stored state', () => {
  it('sums bytes of successful runs and counts failed runs per replica, tasks and alerts, each in one grouped query', () => {
    const { app } = testApp();
    const at = new Date(0);
    app.db
      .insert(syncRuns)
      .values([
        { subject: 'replica:1', startedAt: at, outcome: 'success', bytes: 100 },
        { subject: 'replica:1', startedAt: at, outcome: 'success', bytes: 250 },
        { subject: 'replica:1', startedAt: at, outcome: 'failure', bytes: 999 },
        { subject: 'replica:1', startedAt: at, outcome: 'running' },
        { subject: 'replica:1', startedAt: at, outcome: 'cancelled', bytes: 7 },
        { subject: 'replica:2', startedAt: at, outcome: 'failure' },
        { subject: 'ceph-image:a/rbd/x', startedAt: at, outcome: 'success', bytes: 5 },
      ])
      .run();
    expect(syncTotals(app.db).sort((a, b) => a.subject.localeCompare(b.subject))).toEqual([
      { subject: 'replica:1', bytes: 350, failures: 1 },
      { subject: 'replica:2', bytes: 0, failures: 1 },
    ]);
    const task = (kind: string, state: 'finished' | 'failed') => ({
      name: kind,
      kind,
      target: 'x',
      state,
      createdBy: 't',
    });
    app.db
      .insert(tasks)
      .values([
        task('replica.sync', 'finished'),
        task('replica.sync', 'finished'),
        task('replica.sync', 'failed'),
        task('ceph.resync', 'finished'),
      ])
      .run();
    expect(taskCounts(app.db).sort((a, b) => (a.kind + a.state).localeCompare(b.kind + b.state))).toEqual([
      { kind: 'ceph.resync', state: 'finished', count: 1 },
      { kind: 'replica.sync', state: 'failed', count: 1 },
      { kind: 'replica.sync', state: 'finished', count: 2 },
    ]);
    const alert = (rule: string, state: 'firing' | 'resolved', subject: string) => ({
      rule,
      subject,
      key: `${rule}:${subject}`,
      severity: 'warning' as const,
      state,
      summary: 's',
      firedAt: at,
      lastSeenAt: at,
    });
    app.db
      .insert(alerts)
      .values([
        alert('rpo-warning', 'firing', 'a'),
        alert('rpo-warning', 'firing', 'b'),
        alert('rpo-warning', 'resolved', 'a'),
      ])
      .run();
    expect(alertCounts(app.db).sort((a, b) => a.state.localeCompare(b.state))).toEqual([
      { rule: 'rpo-warning', severity: 'warning', state: 'firing', count: 2 },
      { rule: 'rpo-warning', severity: 'warning', state: 'resolved', count: 1 },
    ]);
  });

  it('keeps the sync totals from one scrape to the next: the same as summing every run, runs that end later included', () => {
    const { app, clock } = testApp();
    const cache = new SyncTotalsCache(app.db, clock);
    const sorted = (t: { subject: string }[]) => [...t].sort((a, b) => a.subject.localeCompare(b.subject));
    const run = (subject: string, outcome: 'running' | 'success' | 'failure', bytes: number | null = null) =>
      app.db
        .insert(syncRuns)
        .values({ subject, startedAt: new Date(clock.now()), outcome, bytes })
        .returning({ id: syncRuns.id })
        .get().id;
    const end = (id: number, outcome: 'success' | 'failure', bytes: number | null = null) =>
      app.db.update(syncRuns).set({ outcome, bytes }).where(eq(syncRuns.id, id)).run();
    const check = () => expect(sorted(cache.read())).toEqual(sorted(syncTotals(app.db)));

    run('replica:1', 'success', 100);
    run('replica:2', 'failure');
    check();
    const long = run('replica:3', 'running'); // an initial sync that takes a while
    run('replica:1', 'success', 50);
    run('replica:2', 'success', 7);
    check();
    expect(cache.read().find((t) => t.subject === 'replica:1')).toEqual({
      subject: 'replica:1',
      bytes: 150,
      failures: 0,
    });
    end(long, 'success', 1_000);
    check();
    expect(cache.read().find((t) => t.subject === 'replica:3')?.bytes).toBe(1_000);
    const other = run('replica:1', 'running');
    check();
    end(other, 'failure');
    run('replica:4', 'success', 1);
    check();
    // A run cut off while running (its process ended) no longer holds the mark after a day.
    run('replica:5', 'running');
    clock.advance(STALE_RUN_MS + 1);
    run('replica:5', 'success', 3);
    check();
    expect(cache.read().find((t) => t.subject === 'replica:5')).toEqual({
      subject: 'replica:5',
      bytes: 3,
      failures: 0,
    });
  });

  it('knows whether a site is up without waiting for it, and learns it in the background', async () => {
    const { app, clock } = testApp();
    app.demo.create();
    const scrape = async () =>
      parseExposition((await scrapeMetrics({ ...app, objects: async () => [] })).text).samples.filter(
        (s) => s.name === 'tandem_site_up',
      );
    const nodeA = app.sites.byName('demo-node1')!;
    const cephA = app.sites.byName('demo-site-a')!;
    // Nothing known yet: no series, and the scrape did not wait for the sites.
    const started = performance.now();
    expect(await scrape()).toEqual([]);
    expect(performance.now() - started).toBeLessThan(500);
    // The questions the first scrape started are answered in the background.
    let up: Sample[] = [];
    for (let i = 0; i < 200 && up.length < app.sites.list().length; i++) {
      await new Promise((r) => setTimeout(r, 10));
      up = await scrape();
    }
    expect(up.length).toBe(app.sites.list().length);
    expect(up.every((s) => s.value === 1)).toBe(true);
    // A cluster found unreachable after that is down; a node seen since is up.
    clock.set(Date.now() + 60_000);
    app.ceph.reach.note(cephA.id, { ok: false, error: new AppError('UNREACHABLE', 'no monitor answered') });
    app.db
      .update(sites)
      .set({ lastSeenAt: new Date(clock.now()) })
      .run();
    const after = await scrape();
    expect(after.find((s) => s.labels.site === cephA.name)?.value).toBe(0);
    expect(after.find((s) => s.labels.site === nodeA.name)?.value).toBe(1);
  });
});

describe('/api/metrics', () => {
  it('answers 401 with a Bearer challenge without a valid token, and the metrics with one', async () => {
    const { app } = testApp();
    setProcessApp(app);
    const { GET } = await import('@/app/api/metrics/route');
    const get = (headers: Record<string, string>) =>
      GET(new Request('http://127.0.0.1/api/metrics', { headers: { host: '127.0.0.1', ...headers } }));
    const { token, info } = app.apiTokens.create(
      { name: 'prometheus', scope: 'metrics' },
      { id: 1, username: 'admin', role: 'admin' },
    );

    const none = await get({});
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="tandem"');
    const wrong = await get({ authorization: `Bearer ${token.slice(0, -2)}xx` });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Bearer realm="tandem", error="invalid_token"/);
    expect(await wrong.text()).not.toContain(token.slice(4, -2));
    // A session cookie is no credential here.
    expect((await get({ cookie: 'tandem_session=whatever' })).status).toBe(401);
    // A host name the console does not answer to is refused before the token is looked at.
    expect((await get({ host: 'evil.example', authorization: `Bearer ${token}` })).status).toBe(421);

    const ok = await get({ authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(ok.headers.get('cache-control')).toBe('no-store');
    const { types } = parseExposition(await ok.text());
    expect(types.get('tandem_tasks')).toBe('gauge');

    app.apiTokens.revoke(info.id, { id: 1, username: 'admin', role: 'admin' });
    const revoked = await get({ authorization: `Bearer ${token}` });
    expect(revoked.status).toBe(401);
    expect(await revoked.text()).toBe('this token was revoked\n');
  });
});
