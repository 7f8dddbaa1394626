import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DemoWorld } from '@/server/adapters/demo/world';
import { createApp } from '@/server/app';
import { ManualClock } from '@/server/core/clock';
import {
  cadenceRefusal,
  copyProgress,
  imageLossWindow,
  predictedBreach,
  protectionHealth,
  replicaNextRecovery,
  STUCK_COPY_MS,
  stuckCopyReason,
  trend,
} from '@/server/domain/protection/health';
import { DEFAULT_RPO_SEC, effectiveRpo, pairKey, rpoChain, scopeKey } from '@/server/domain/protection/rpo';
import { replicas } from '@/server/db/schema';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, operator, testApp, viewer } from './helpers';

describe('RPO inheritance', () => {
  const chain = rpoChain({
    subject: 'rbd:3-4/rbd/ns1/vol1',
    sourceSiteId: 3,
    pair: '3-4',
    pool: 'rbd',
    namespace: 'ns1',
  });
  it('goes from the installation to the object', () => {
    expect(chain).toEqual(['default', 'site:3', 'pool:3-4/rbd', 'pool:3-4/rbd/ns1', 'rbd:3-4/rbd/ns1/vol1']);
    expect(rpoChain({ subject: 'replica:7', sourceSiteId: 1 })).toEqual(['default', 'site:1', 'replica:7']);
  });
  it('takes the most specific target set, and says where it comes from', () => {
    expect(effectiveRpo(new Map(), chain)).toMatchObject({
      seconds: DEFAULT_RPO_SEC,
      from: { scope: 'built-in' },
    });
    const t = new Map([
      ['default', 600],
      ['site:3', 300],
      ['pool:3-4/rbd', 120],
    ]);
    expect(effectiveRpo(t, chain)).toEqual({
      seconds: 120,
      from: { scope: 'pool:3-4/rbd', label: 'pool:3-4/rbd' },
    });
    t.set('rbd:3-4/rbd/ns1/vol1', 60);
    expect(effectiveRpo(t, chain).seconds).toBe(60);
    t.delete('rbd:3-4/rbd/ns1/vol1');
    t.delete('pool:3-4/rbd');
    expect(effectiveRpo(t, chain).from.scope).toBe('site:3');
    // Another site's target does not apply.
    expect(effectiveRpo(new Map([['site:4', 30]]), chain).seconds).toBe(DEFAULT_RPO_SEC);
  });
  it('keys scopes and pairs stably', () => {
    expect(pairKey(4, 3)).toBe('3-4');
    expect(pairKey(3, null)).toBe('3');
    expect(scopeKey({ kind: 'pool', pair: '3-4', pool: 'rbd', namespace: 'ns1' })).toBe('pool:3-4/rbd/ns1');
    expect(scopeKey({ kind: 'site', siteId: 9 })).toBe('site:9');
  });
});

describe('health, windows and predictions', () => {
  it('grades the window against the RPO', () => {
    expect(protectionHealth(null, 60)).toBe('unknown');
    expect(protectionHealth(60, 60)).toBe('ok');
    expect(protectionHealth(61, 60)).toBe('warning');
    expect(protectionHealth(120, 60)).toBe('warning');
    expect(protectionHealth(121, 60)).toBe('breach');
  });
  it('measures an image: snapshot time, journal entries at the replay rate, or why not', () => {
    const now = Date.UTC(2026, 0, 1, 12);
    expect(imageLossWindow({ now, lastSyncedAt: now - 90_000 })).toEqual({
      seconds: 90,
      from: now - 90_000,
      reason: null,
    });
    expect(imageLossWindow({ now, lastSyncedAt: null }).reason).toMatch(/no mirror snapshot/);
    expect(
      imageLossWindow({ now, lastSyncedAt: null, mode: 'journal', entriesBehind: 0, entriesPerSecond: 0 })
        .seconds,
    ).toBe(0);
    expect(
      imageLossWindow({ now, lastSyncedAt: null, mode: 'journal', entriesBehind: 500, entriesPerSecond: 100 })
        .seconds,
    ).toBe(5);
    const noRate = imageLossWindow({
      now,
      lastSyncedAt: null,
      mode: 'journal',
      entriesBehind: 500,
      entriesPerSecond: 0,
    });
    expect(noRate.seconds).toBeNull();
    expect(noRate.reason).toMatch(/500 entries behind.*no replay rate/);
  });
  it('predicts a breach when the next recovery point comes after the RPO is crossed', () => {
    const now = 1_000_000;
    expect(
      predictedBreach({
        now,
        recoveryPointAt: now - 30_000,
        rpoSec: 60,
        nextRecoveryAt: now + 10_000,
        why: 'x',
      }),
    ).toBeNull();
    expect(
      predictedBreach({
        now,
        recoveryPointAt: now - 30_000,
        rpoSec: 60,
        nextRecoveryAt: now + 45_000,
        why: 'slow',
      }),
    ).toEqual({ at: now + 30_000, reason: 'slow' });
    // Already beyond the RPO: that is a warning, not a prediction.
    expect(
      predictedBreach({
        now,
        recoveryPointAt: now - 90_000,
        rpoSec: 60,
        nextRecoveryAt: now + 45_000,
        why: 'x',
      }),
    ).toBeNull();
  });
  it('projects rising sync durations to the next sync', () => {
    const now = 10_000_000;
    const rising = [10, 20, 30, 40, 50].map((s, i) => ({ at: now - (5 - i) * 100_000, seconds: s }));
    const r = replicaNextRecovery({
      now,
      nextSyncAt: now,
      enabled: true,
      recentSyncs: rising,
      sleepTimeSec: 30,
      rpoSec: 60,
    });
    expect(r.at).toBeGreaterThan(now + 50_000);
    expect(r.why).toMatch(/syncs are getting longer/);
    const flat = replicaNextRecovery({
      now,
      nextSyncAt: now + 5_000,
      enabled: true,
      recentSyncs: [5, 5, 5].map((s, i) => ({ at: i * 1000, seconds: s })),
      sleepTimeSec: 30,
      rpoSec: 60,
    });
    expect(flat.at).toBe(now + 10_000);
    expect(
      replicaNextRecovery({
        now,
        nextSyncAt: null,
        enabled: false,
        recentSyncs: [],
        sleepTimeSec: 30,
        rpoSec: 60,
      }).at,
    ).toBeNull();
    expect(trend([{ at: 0, value: 1 }])).toBeNull();
  });
  it('refuses a cadence that cannot meet the RPO, saying by how much', () => {
    expect(
      cadenceRefusal({ what: 'a sleep time', intervalSec: 60, rpoSec: 300, rpoFrom: 'installation default' }),
    ).toBeNull();
    expect(
      cadenceRefusal({ what: 'a snapshot schedule', intervalSec: 3600, rpoSec: 900, rpoFrom: 'pool rbd' }),
    ).toMatch(/a snapshot schedule of 60 min cannot meet the RPO of 15 min \(pool rbd\)/);
  });
});

describe('the Protection overview (demo sites)', () => {
  let stop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await stop?.();
    stop = null;
  });
  function setup() {
    const t = testApp();
    t.app.demo.create();
    stop = async () => {
      await t.app.tasks.shutdown();
    };
    const id = (n: string) => t.app.sites.byName(n)!.id;
    return {
      ...t,
      id,
      caller: createCaller(ctxFor(t.app, operator)),
      adminCaller: createCaller(ctxFor(t.app, admin)),
      viewerCaller: createCaller(ctxFor(t.app, viewer)),
    };
  }

  it('lists replicas, mirrored images and unprotected VMs side by side, with the wizard’s window', async () => {
    const { app, caller, id } = setup();
    await caller.ceph.status({ siteId: id('demo-site-a') });
    await caller.ceph.status({ siteId: id('demo-site-b') });
    await caller.overview.vms();
    const c = await caller.replicas.create({
      name: 'dr',
      vmName: 'web01',
      sourceSiteId: id('demo-node1'),
      targetSiteId: id('demo-node2'),
      rootZpool: 'zones',
      diskZpools: { vdb: 'data' },
      sleepTimeSec: 30,
      bandwidthLimit: null,
    });
    expect((await app.tasks.wait(c.taskId)).state).toBe('finished');
    // The clusters' status after their first mirror snapshots (the overview reads the last one).
    await caller.ceph.status({ siteId: id('demo-site-a') });
    await caller.ceph.status({ siteId: id('demo-site-b') });

    const page = await caller.protection.list({ limit: 500 });
    const images = page.rows.filter((r) => r.kind === 'rbd-image' && r.health !== 'unprotected');
    // An image of a mirrored pool with mirroring disabled is listed as not protected.
    expect(page.rows.find((r) => r.name === 'rbd/tenant1/scratch01')).toMatchObject({
      kind: 'rbd-image',
      health: 'unprotected',
      reason: 'mirroring is disabled for this image',
      target: null,
    });
    expect(images.map((i) => i.name)).toEqual(
      expect.arrayContaining(['rbd/vm-web01-root', 'rbd/archive-2025', 'rbd/tenant1/vm-mail01-root']),
    );
    const pair = pairKey(id('demo-site-a'), id('demo-site-b'));
    for (const img of images) {
      const [pool, ns, image] =
        img.name.split('/').length === 3
          ? img.name.split('/')
          : [img.name.split('/')[0], '', img.name.split('/')[1]];
      expect(img.subject).toBe(`rbd:${pair}/${pool}/${ns}/${image}`);
      expect(img.source?.name).toBe('demo-site-a');
      expect(img.target?.name).toBe('demo-site-b');
      expect(img.windowSec).not.toBeNull();
    }
    const replica = page.rows.find((r) => r.kind === 'vm-replica')!;
    expect(replica).toMatchObject({
      name: 'web01 (dr)',
      source: { name: 'demo-node1' },
      target: { name: 'demo-node2' },
      health: 'ok',
      rpoSec: DEFAULT_RPO_SEC,
      href: `/replicas/${id('demo-node1')}/web01`,
    });
    // VMs with no replica are listed as unprotected; web01 is not.
    const vms = page.rows.filter((r) => r.kind === 'vm');
    expect(vms.length).toBeGreaterThan(0);
    expect(vms.every((v) => v.health === 'unprotected' && v.reason === 'no replica')).toBe(true);
    expect(vms.some((v) => v.name === 'web01' && v.source?.name === 'demo-node1')).toBe(false);
    expect(page.counts.unprotected).toBe(page.rows.filter((r) => r.health === 'unprotected').length);
    expect(page.counts.unprotected).toBeGreaterThan(vms.length);
    expect(page.total).toBe(page.rows.length);

    // One function: the unplanned failover wizard quotes the same window for each image (the test clock stands still).
    const plan = await caller.ceph.failoverPlan({
      fromSiteId: id('demo-site-a'),
      toSiteId: id('demo-site-b'),
      pool: 'rbd',
      namespace: '',
      unplanned: true,
    });
    const now = await caller.protection.list({ kind: 'rbd-image', limit: 10 });
    for (const p of plan.images) {
      const row = now.rows.find((r) => r.name === `rbd/${p.name}`)!;
      expect(row.windowSec).toBe(p.dataLossWindowSec);
    }
  });

  it('inherits RPO targets from the installation, the site, the pool and the object, and shows where from', async () => {
    const { caller, adminCaller, viewerCaller, id } = setup();
    await caller.ceph.status({ siteId: id('demo-site-b') });
    await caller.ceph.status({ siteId: id('demo-site-a') });
    const pair = pairKey(id('demo-site-a'), id('demo-site-b'));
    const img = async () => (await caller.protection.list({ kind: 'rbd-image', q: 'vm-db01-data' })).rows[0]!;
    expect((await img()).rpoFrom.scope).toBe('built-in');
    await expect(caller.protection.setDefaultRpo({ seconds: 600 })).rejects.toThrow(/admin/i);
    await adminCaller.protection.setDefaultRpo({ seconds: 600 });
    expect(await img()).toMatchObject({
      rpoSec: 600,
      rpoFrom: { scope: 'default', label: 'installation default' },
    });
    await caller.protection.setRpo({ scope: { kind: 'site', siteId: id('demo-site-a') }, seconds: 400 });
    expect(await img()).toMatchObject({ rpoSec: 400, rpoFrom: { label: 'site demo-site-a' } });
    await caller.protection.setRpo({ scope: { kind: 'pool', pair, pool: 'rbd' }, seconds: 300 });
    expect(await img()).toMatchObject({
      rpoSec: 300,
      rpoFrom: { label: 'pool rbd (demo-site-a ↔ demo-site-b)' },
    });
    const subject = (await img()).subject;
    await caller.protection.setRpo({ scope: { kind: 'object', subject }, seconds: 30 });
    expect(await img()).toMatchObject({ rpoSec: 30, rpoFrom: { scope: subject, label: 'this object' } });
    await caller.protection.clearRpo({ scope: { kind: 'object', subject } });
    expect((await img()).rpoSec).toBe(300);
    // Clear, specific errors; viewers only read.
    await expect(
      caller.protection.setRpo({ scope: { kind: 'object', subject }, seconds: 5 }),
    ).rejects.toThrow(/at least 10 s/);
    await expect(
      caller.protection.setRpo({ scope: { kind: 'object', subject: 'rm -rf /' }, seconds: 60 }),
    ).rejects.toThrow(/a protected object such as replica:7/);
    await expect(caller.protection.setRpo({ scope: { kind: 'default' }, seconds: 60 })).rejects.toThrow(
      /setDefaultRpo/,
    );
    await expect(
      viewerCaller.protection.setRpo({ scope: { kind: 'object', subject }, seconds: 60 }),
    ).rejects.toThrow(/operator/i);
    expect((await viewerCaller.protection.rpoTargets()).map((t) => t.scope).sort()).toEqual(
      ['default', `pool:${pair}/rbd`, `site:${id('demo-site-a')}`].sort(),
    );
  });

  it('a paused replica goes from ok to warning to breach as its window grows past the RPO', async () => {
    const { app, caller, clock, id } = setup();
    const c = await caller.replicas.create({
      name: 'dr',
      vmName: 'web01',
      sourceSiteId: id('demo-node1'),
      targetSiteId: id('demo-node2'),
      rootZpool: 'zones',
      diskZpools: { vdb: 'data' },
      sleepTimeSec: 30,
      bandwidthLimit: null,
    });
    expect((await app.tasks.wait(c.taskId)).state).toBe('finished');
    await caller.protection.setRpo({ scope: { kind: 'object', subject: `replica:${c.id}` }, seconds: 600 });
    const row = async () => (await caller.protection.list({ kind: 'vm-replica' })).rows[0]!;
    expect((await row()).state).toBe('idle');
    // Paused in its settings (no task): the very next read says so.
    await caller.replicas.update({ id: c.id, enabled: false });
    const first = await row();
    expect(first.health).toBe('ok');
    expect(first.state).toBe('paused');
    // Paused: no new recovery point is planned, so a breach is predicted at the recovery point + RPO.
    expect(first.predictedBreachAt).toBe(first.recoveryPointAt! + 600_000);
    expect(first.predictedReason).toMatch(/paused/);
    // The scheduler marks the master seen at every tick: it still answers, so the window grows.
    clock.set(first.recoveryPointAt! + 700_000);
    app.replicas.markSeen(id('demo-node1'));
    const warn = await row();
    expect(warn.health).toBe('warning');
    expect(warn.predictedBreachAt).toBeNull();
    clock.set(first.recoveryPointAt! + 1_300_000);
    app.replicas.markSeen(id('demo-node1'));
    expect((await row()).health).toBe('breach');
  });

  it('measures the bytes at risk on demand: a replica asks its master, the row shows it until the next recovery point; an image says why not', async () => {
    const { app, caller, clock, id } = setup();
    const c = await caller.replicas.create({
      name: 'dr',
      vmName: 'web01',
      sourceSiteId: id('demo-node1'),
      targetSiteId: id('demo-node2'),
      rootZpool: 'zones',
      diskZpools: { vdb: 'data' },
      sleepTimeSec: 3600,
      bandwidthLimit: null,
      acceptRpoRisk: true,
    });
    expect((await app.tasks.wait(c.taskId)).state).toBe('finished');
    await caller.replicas.update({ id: c.id, enabled: false });
    clock.advance(120_000); // web01 runs: its disks are written to
    const subject = `replica:${c.id}`;
    const risk = await caller.protection.bytesAtRisk({ subject });
    expect(risk.snapshot).toBe(app.replicas.row(c.id).lastSnapshot);
    expect(risk.exact).toBe(true);
    expect(risk.bytes).toBeGreaterThan(0);
    expect(risk.note).toMatch(/written on demo-node1 since tandem-/);
    const row = async () =>
      (await caller.protection.list({ kind: 'vm-replica' })).rows.find((r) => r.subject === subject)!;
    expect((await row()).bytesAtRisk).toBe(risk.bytes);
    // A new recovery point makes the measure stale: the row no longer shows it.
    await caller.replicas.update({ id: c.id, enabled: true });
    expect((await app.tasks.wait((await caller.replicas.syncNow({ id: c.id })).taskId)).state).toBe(
      'finished',
    );
    expect((await row()).bytesAtRisk).toBeNull();

    const image = (await caller.protection.list({ kind: 'rbd-image' })).rows.find(
      (r) => r.health !== 'unprotected',
    )!;
    const img = await caller.protection.bytesAtRisk({ subject: image.subject });
    expect(img.bytes).toBeNull();
    expect(img.note).toMatch(/rbd diff --from-snap/);
    await expect(caller.protection.bytesAtRisk({ subject: 'replica:99999' })).rejects.toThrow(
      /is not a protected object/,
    );
  });

  it('filters, searches, sorts and pages on the server', async () => {
    const { caller, id } = setup();
    await caller.ceph.status({ siteId: id('demo-site-a') });
    await caller.ceph.status({ siteId: id('demo-site-b') });
    await caller.overview.vms();
    const all = await caller.protection.list({ limit: 500 });
    const p1 = await caller.protection.list({ sort: 'name', limit: 3 });
    const p2 = await caller.protection.list({ sort: 'name', limit: 3, offset: 3 });
    expect(p1.total).toBe(all.total);
    expect(p1.rows.length).toBe(3);
    const names = [...p1.rows, ...p2.rows].map((r) => r.name);
    expect(names).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    expect(new Set([...p1.rows, ...p2.rows].map((r) => r.subject)).size).toBe(6);
    const imgs = await caller.protection.list({ kind: 'rbd-image', sort: 'window', dir: 'desc' });
    const w = imgs.rows.map((r) => r.windowSec ?? -1);
    expect(w).toEqual([...w].sort((a, b) => b - a));
    expect((await caller.protection.list({ q: 'ARCHIVE' })).rows.map((r) => r.name)).toEqual([
      'rbd/archive-2025',
    ]);
    const bySite = await caller.protection.list({ siteId: id('demo-node3'), limit: 500 });
    expect(
      bySite.rows.every((r) => r.source?.id === id('demo-node3') || r.target?.id === id('demo-node3')),
    ).toBe(true);
    // Counts are over everything, not the filter.
    expect(bySite.counts).toEqual(all.counts);
    await expect(caller.protection.list({ limit: 100_000 })).rejects.toThrow();
  });
});

describe('save-time RPO checks (demo nodes)', () => {
  it('refuses a sleep time that cannot meet the RPO, on the field, unless the risk is accepted', async () => {
    const t = testApp();
    t.app.demo.create();
    try {
      const caller = createCaller(ctxFor(t.app, operator));
      const id = (n: string) => t.app.sites.byName(n)!.id;
      const input = {
        name: 'dr',
        vmName: 'web01',
        sourceSiteId: id('demo-node1'),
        targetSiteId: id('demo-node2'),
        rootZpool: 'zones',
        diskZpools: { vdb: 'data' },
        sleepTimeSec: 3600,
      };
      const err = (await caller.replicas.create(input).catch((e: unknown) => e)) as {
        cause?: { fields?: { field: string; message: string }[]; details?: { override?: string } };
      };
      expect(err.cause?.fields).toEqual([
        {
          field: 'sleepTimeSec',
          message: expect.stringMatching(
            /a sleep time of 60 min cannot meet the RPO of 15 min \(built-in default \(15 min\)\).*save anyway/,
          ),
        },
      ]);
      expect(err.cause?.details?.override).toBe('acceptRpoRisk');
      expect(t.app.replicas.list()).toEqual([]);
      const c = await caller.replicas.create({ ...input, acceptRpoRisk: true });
      expect((await t.app.tasks.wait(c.taskId)).state).toBe('finished');
      // A replica's own RPO counts at update time, with its last transfer time.
      await caller.protection.setRpo({
        scope: { kind: 'object', subject: `replica:${c.id}` },
        seconds: 7200,
      });
      await caller.replicas.update({ id: c.id, sleepTimeSec: 3000 });
      await expect(caller.replicas.update({ id: c.id, sleepTimeSec: 7200 })).rejects.toThrow(
        /sleep time of 2 h plus about .* cannot meet the RPO of 2 h \(this object\)/,
      );
      expect(t.app.replicas.get(c.id).sleepTimeSec).toBe(3000);
      await caller.replicas.update({ id: c.id, sleepTimeSec: 7200, acceptRpoRisk: true });
      expect(t.app.replicas.get(c.id).sleepTimeSec).toBe(7200);
    } finally {
      await t.app.tasks.shutdown();
    }
  });
});

describe('an image whose rbd-mirror stops reporting (down+stopped, no snapshot time)', () => {
  it('keeps measuring from the last copy seen, in memory and, after a restart, from the collected samples', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-prot-'));
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
    const world = new DemoWorld(clock, 0);
    const open = () =>
      createApp({
        dbFile: path.join(dir, 'tandem.db'),
        dataDir: dir,
        clock,
        demoLatencyMs: 0,
        demoWorld: world,
      });
    const app = open();
    let app2: ReturnType<typeof open> | null = null;
    try {
      app.demo.create();
      const caller = createCaller(ctxFor(app, operator));
      const id = (n: string) => app.sites.byName(n)!.id;
      clock.advance(900_000); // the demo images have copied snapshots by now
      await caller.ceph.status({ siteId: id('demo-site-a') });
      await caller.ceph.status({ siteId: id('demo-site-b') });
      await app.collector.collect();
      const name = 'rbd/vm-db01-data';
      const find = async (c: ReturnType<typeof createCaller>) =>
        (await c.protection.list({ q: 'vm-db01-data', kind: 'rbd-image' })).rows.find(
          (r) => r.name === name,
        )!;
      app.protection.invalidate();
      const before = await find(caller);
      expect(before.recoveryPointAt).not.toBeNull();
      // What Ceph 16.2 reports once site-b's rbd-mirror is stopped: down+stopped, no snapshot times.
      const real = app.ceph.lastStatus.bind(app.ceph);
      const silenced = (siteId: number) => {
        const last = real(siteId);
        if (!last?.ok) return last;
        const strip = <
          T extends {
            rawState: string;
            daemonUp: boolean;
            description: { localSnapshotTimestamp: number | null; remoteSnapshotTimestamp: number | null };
          },
        >(
          x: T,
        ): T => ({
          ...x,
          rawState: 'down+stopped',
          daemonUp: false,
          description: { ...x.description, localSnapshotTimestamp: null, remoteSnapshotTimestamp: null },
        });
        const pools = last.status.pools.map((p) => ({
          ...p,
          images: p.images.map((i) =>
            i.mirroring
              ? { ...i, mirroring: { ...strip(i.mirroring), peerSites: i.mirroring.peerSites.map(strip) } }
              : i,
          ),
        }));
        return { ...last, status: { ...last.status, pools } };
      };
      app.ceph.lastStatus = silenced;
      clock.advance(60_000);
      app.protection.invalidate();
      const after = await find(caller);
      expect(after.recoveryPointAt).toBe(before.recoveryPointAt);
      expect(after.windowSec).toBe(before.windowSec! + 60);
      expect(after.reason).toMatch(
        /demo-site-b reports no copied snapshot now \(down\+stopped\): measured from the last copy seen/,
      );

      // A restart: nothing in memory; the newest collected sample gives the last copy.
      app2 = open();
      app2.ceph.lastStatus = silenced;
      const restarted = await find(createCaller(ctxFor(app2, operator)));
      expect(restarted.recoveryPointAt).toBe(before.recoveryPointAt);
      expect(restarted.windowSec).toBe(after.windowSec);
    } finally {
      await app.tasks.shutdown();
      await app2?.tasks.shutdown();
    }
  });
});

describe('a mirror snapshot copy stuck at the same percent', () => {
  it('is followed between refreshes and counts as stuck after STUCK_COPY_MS', () => {
    const t0 = 1_000_000;
    const a = copyProgress(undefined, 40, t0)!;
    expect(a).toEqual({ percent: 40, since: t0 });
    expect(copyProgress(a, 40, t0 + 60_000)).toBe(a);
    expect(stuckCopyReason(a, t0 + STUCK_COPY_MS - 1)).toBeNull();
    expect(stuckCopyReason(a, t0 + STUCK_COPY_MS)).toMatch(/stayed at 40 % since/);
    expect(copyProgress(a, 41, t0 + 130_000)).toEqual({ percent: 41, since: t0 + 130_000 });
    expect(copyProgress(a, null, t0 + 130_000)).toBeNull();
  });

  it('predicts a breach on the overview at the recovery point + RPO, and no more once the copy moves', async () => {
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
    const app = createApp({
      dbFile: ':memory:',
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-prot-')),
      clock,
      demoLatencyMs: 0,
      demoWorld: new DemoWorld(clock, 0),
    });
    try {
      app.demo.create();
      const caller = createCaller(ctxFor(app, operator));
      const id = (n: string) => app.sites.byName(n)!.id;
      clock.advance(900_000);
      await caller.ceph.status({ siteId: id('demo-site-a') });
      await caller.ceph.status({ siteId: id('demo-site-b') });
      const real = app.ceph.lastStatus.bind(app.ceph);
      let percent = 40;
      // The non-primary side reports a copy in progress, at `percent`, with a recent copied snapshot.
      app.ceph.lastStatus = (siteId: number) => {
        const last = real(siteId);
        if (!last?.ok) return last;
        const pools = last.status.pools.map((p) => ({
          ...p,
          images: p.images.map((i) =>
            i.mirroring && i.name === 'vm-db01-data' && i.mirroring.primary === false
              ? {
                  ...i,
                  mirroring: {
                    ...i.mirroring,
                    description: {
                      ...i.mirroring.description,
                      replayState: 'syncing',
                      syncPercent: percent,
                      localSnapshotTimestamp: Math.floor((clock.now() - 30_000) / 1000),
                    },
                  },
                }
              : i,
          ),
        }));
        return { ...last, status: { ...last.status, pools } };
      };
      const find = async () => {
        app.protection.invalidate();
        return (await caller.protection.list({ q: 'vm-db01-data', kind: 'rbd-image' })).rows.find(
          (r) => r.name === 'rbd/vm-db01-data',
        )!;
      };
      const first = await find();
      await caller.protection.setRpo({ scope: { kind: 'object', subject: first.subject }, seconds: 3600 });
      expect((await find()).predictedReason ?? '').not.toMatch(/stayed at/);
      clock.advance(STUCK_COPY_MS);
      const stuck = await find();
      expect(stuck.health).toBe('ok');
      expect(stuck.predictedReason).toMatch(/the mirror snapshot copy has stayed at 40 % since/);
      expect(stuck.predictedBreachAt).toBe(stuck.recoveryPointAt! + 3_600_000);
      percent = 55;
      clock.advance(10_000);
      expect((await find()).predictedReason ?? '').not.toMatch(/stayed at/);
    } finally {
      await app.tasks.shutdown();
    }
  });
});

describe('trend sparklines', () => {
  it('gives the last hour of windows per subject, oldest first, thinned to the points asked, in one query', async () => {
    const t = testApp();
    try {
      const s = t.app.collector.samples;
      const start = t.clock.now();
      for (let i = 0; i < 90; i++) {
        t.clock.set(start + i * 60_000);
        s.record([
          { subject: 'replica:1', windowSec: i, bytesPerSecond: null, syncSeconds: null },
          {
            subject: 'replica:2',
            windowSec: i % 2 ? null : 100 + i,
            bytesPerSecond: null,
            syncSeconds: null,
          },
        ]);
      }
      const got = s.trends(['replica:1', 'replica:2', 'replica:3'], 3_600_000, 30);
      // The last hour: minutes 29..89 (61 samples, one hour ago included) thinned to 30 points, first and last kept.
      expect(got['replica:1']!.length).toBe(30);
      expect(got['replica:1']![0]).toBe(29);
      expect(got['replica:1']!.at(-1)).toBe(89);
      expect(got['replica:1']).toEqual([...got['replica:1']!].sort((a, b) => a - b));
      // Unknown windows are left out; a subject without samples has none.
      expect(got['replica:2']!.every((v) => v >= 129 && v % 2 === 0)).toBe(true);
      expect(got['replica:3']).toBeUndefined();
      expect(s.trends([], 3_600_000)).toEqual({});
    } finally {
      await t.app.tasks.shutdown();
    }
  });
});

describe('lists without a query per row', () => {
  it('replicas.list and the protection page read 1,000 replicas in a fixed number of statements, and no secret', async () => {
    const t = testApp();
    try {
      t.app.demo.create();
      const n1 = t.app.sites.byName('demo-node1')!.id;
      const n2 = t.app.sites.byName('demo-node2')!.id;
      t.app.db.transaction((tx) => {
        for (let i = 0; i < 1000; i++) {
          tx.insert(replicas)
            .values({
              name: 'dr',
              vmName: `vm-${i}`,
              sourceSiteId: n1,
              targetSiteId: n2,
              rootZpool: 'zones',
              diskZpools: {},
              datasets: [],
              reserveResources: false,
              vcpus: 1,
              memoryMiB: 512,
              sleepTimeSec: 60,
              enabled: true,
              bandwidthLimit: null,
              keepSnapshots: 3,
              state: 'idle',
              lastSyncAt: new Date(t.clock.now() - 30_000),
            })
            .run();
        }
      });
      const client = t.app.db.$client;
      const prepare = client.prepare.bind(client);
      let statements = 0;
      client.prepare = ((sql: string) => (statements++, prepare(sql))) as typeof client.prepare;
      const decrypt = t.app.keys.decrypt.bind(t.app.keys);
      let decryptions = 0;
      t.app.keys.decrypt = (stored: string, aad: string) => (decryptions++, decrypt(stored, aad));
      expect(t.app.replicas.list()).toHaveLength(1000);
      expect(statements).toBeLessThanOrEqual(3);
      statements = 0;
      expect((await t.app.protection.list({ kind: 'vm-replica', limit: 10 })).total).toBe(1000);
      // A fixed number (with the background refreshes of the demo sites it starts), not one per replica.
      expect(statements).toBeLessThanOrEqual(30);
      expect(decryptions).toBe(0);
      client.prepare = prepare;
    } finally {
      await t.app.tasks.shutdown();
    }
  });
});
