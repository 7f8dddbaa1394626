import { afterEach, describe, expect, it } from 'vitest';
import { createCaller } from '@/server/trpc/root';
import { confirmWord } from '@/server/domain/ceph/failover';
import { ctxFor, operator, testApp } from './helpers';
import { cephPool } from './ceph-pool';

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

describe('Ceph failback as one task (demo clusters)', () => {
  it('resyncs the stale side, waits until it replays, then fails back planned; refuses the same cluster twice', async () => {
    const { app, clock } = testApp();
    app.demo.create();
    cleanup = () => app.tasks.shutdown();
    const caller = createCaller(ctxFor(app, operator));
    const a = app.sites.byName('demo-site-a')!.id;
    const b = app.sites.byName('demo-site-b')!.id;
    const done = async (taskId: number) => {
      const t = await app.tasks.wait(taskId);
      if (t.state !== 'finished') throw new Error(`${t.name}: ${t.state} ${t.error}`);
      return t;
    };
    const roleOf = async (siteId: number, img: string) =>
      (await cephPool(caller, siteId))!.images.find((i) => i.name === img)!.mirroring;
    const img = (await cephPool(caller, a))!.images
      .filter((i) => i.mirroring?.primary)
      .sort((x, y) => (x.sizeBytes ?? 0) - (y.sizeBytes ?? 0))[0]!.name;
    await clock.sleep(20_000); // the demo clusters' first mirror snapshots are copied
    await done(
      (await caller.ceph.failover({ fromSiteId: a, toSiteId: b, pool: 'rbd', image: img, confirm: img }))
        .taskId,
    );
    expect((await roleOf(b, img))?.primary).toBe(true);

    await expect(
      caller.ceph.resync({
        staleSiteId: a,
        goodSiteId: a,
        pool: 'rbd',
        image: img,
        confirm: img,
        failBack: true,
      }),
    ).rejects.toThrow('choose two different clusters');
    const { taskId } = await caller.ceph.resync({
      staleSiteId: a,
      goodSiteId: b,
      pool: 'rbd',
      image: img,
      confirm: img,
      failBack: true,
    });
    const t = await done(taskId);
    expect(t.kind).toBe('ceph.failback');
    expect(t.params).toMatchObject({ staleSiteId: a, goodSiteId: b, image: img, failBack: true });
    expect(app.tasks.steps(taskId).map((s) => [s.name, s.state])).toEqual([
      ['Demote the stale side', 'done'],
      ['Keep a protective copy', 'done'],
      ['Request resync', 'done'],
      ['Wait until replaying', 'done'],
      ['Demote on demo-site-b', 'done'],
      ['Wait for the demotion and promote on demo-site-a', 'done'],
    ]);
    expect(t.progressComplete).toBe(6);
    expect((await roleOf(a, img))?.primary).toBe(true);
    expect((await roleOf(b, img))?.primary).toBe(false);
    const h = app.history
      .list({ action: 'ceph.failback' }, { limit: 5, offset: 0 })
      .rows.find((r) => r.taskId === taskId);
    expect(h).toMatchObject({ outcome: 'success', username: operator.username });
    expect((h!.params as { steps: { name: string; ms: number }[] }).steps.map((s) => typeof s.ms)).toEqual(
      Array(6).fill('number'),
    );
  }, 90_000);
});

describe('Ceph failover plan: the data-loss window without a timestamp in the status', () => {
  it('falls back to the newest complete non-primary mirror snapshot (ids compared exactly)', async () => {
    const { app, clock } = testApp();
    cleanup = () => app.tasks.shutdown();
    const mirrorSnap = (id: string, timestamp: string, complete: boolean) => ({
      id,
      name: `.mirror.non_primary.x.${id}`,
      sizeBytes: 1,
      protected: false,
      timestamp,
      namespaceType: 'mirror',
      mirror: {
        state: 'non-primary',
        primary: false,
        demoted: false,
        complete,
        mirrorPeerUuids: [],
        primaryMirrorUuid: 'u',
        primarySnapId: '1',
        lastCopiedObjectNumber: null,
      },
    });
    const survivor = {
      kind: 'ceph',
      listImages: async () => [
        {
          name: 'vm1',
          pool: 'rbd',
          namespace: '',
          mirroring: {
            primary: false,
            state: 'replaying',
            rawState: 'up+replaying',
            description: { splitBrain: false, localSnapshotTimestamp: null },
          },
        },
      ],
      probe: async () => ({ fsid: 'f', health: 'HEALTH_OK', version: '16.2.15' }),
      listMirrorDaemons: async () => [{ daemonId: 'a', health: 'OK' }],
      listImageSnapshots: async () => [
        mirrorSnap('18446744073709551613', 'Mon Nov 23 11:50:00 2026', true),
        mirrorSnap('18446744073709551614', 'Mon Nov 23 11:55:00 2026', true),
        mirrorSnap('18446744073709551615', 'Mon Nov 23 11:59:00 2026', false),
      ],
    };
    const gone = { kind: 'ceph', probe: async () => Promise.reject(new Error('connection refused')) };
    app.ceph.adapter = ((id: number) => (id === 1 ? gone : survivor)) as never;
    clock.set(Date.UTC(2026, 10, 23, 12, 0, 0));
    const plan = await app.cephFailover.plan({ fromSiteId: 1, toSiteId: 2, pool: 'rbd', image: 'vm1' });
    expect(plan.mode).toBe('unplanned');
    // 18446744073709551614 (complete) beats …613; …615 is still being copied. 11:55 → 5 min before now.
    expect(plan.images).toEqual([
      { name: 'vm1', lastSyncedAt: Date.UTC(2026, 10, 23, 11, 55), dataLossWindowSec: 300 },
    ]);
  });
});

describe('Ceph failover of a namespace', () => {
  it('is confirmed by typing pool/namespace', async () => {
    const { app } = testApp();
    app.demo.create();
    cleanup = () => app.tasks.shutdown();
    const caller = createCaller(ctxFor(app, operator));
    const a = app.sites.byName('demo-site-a')!.id;
    const b = app.sites.byName('demo-site-b')!.id;
    expect(confirmWord({ pool: 'rbd', namespace: 'tenant1' })).toBe('rbd/tenant1');
    expect(confirmWord({ pool: 'rbd', namespace: '' })).toBe('rbd');
    expect(confirmWord({ pool: 'rbd', namespace: 'tenant1', image: 'vm1' })).toBe('vm1');
    await expect(
      caller.ceph.failover({ fromSiteId: a, toSiteId: b, pool: 'rbd', namespace: 'tenant1', confirm: 'rbd' }),
    ).rejects.toThrow('type rbd/tenant1 to confirm');
    await expect(
      caller.ceph.resync({
        staleSiteId: a,
        goodSiteId: b,
        pool: 'rbd',
        namespace: 'tenant1',
        confirm: 'tenant1',
      }),
    ).rejects.toThrow('type rbd/tenant1 to confirm');
    const plan = await caller.ceph.failoverPlan({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      namespace: 'tenant1',
    });
    expect(plan.images.length).toBeGreaterThan(0);
  });
});

describe('Ceph unpair of two registered clusters', () => {
  it('removes both sides’ peers and again what a running rbd-mirror re-registers, until both stay empty', async () => {
    const { app } = testApp();
    app.demo.create();
    cleanup = () => app.tasks.shutdown();
    app.ceph.unpairQuietMs = 30;
    app.ceph.unpairCheckMs = 5;
    const caller = createCaller(ctxFor(app, operator));
    const a = app.sites.byName('demo-site-a')!.id;
    const b = app.sites.byName('demo-site-b')!.id;
    await expect(caller.ceph.unpair({ siteId: a, otherSiteId: a, pool: 'rbd' })).rejects.toThrow(
      'choose two different clusters',
    );

    // site-b's rbd-mirror "pings" site-a once more after its entry was removed there.
    const real = app.ceph.adapter.bind(app.ceph);
    let pinged = false;
    const removeCalls: string[] = [];
    app.ceph.adapter = ((id: number) => {
      const ad = real(id);
      if (id !== a) return ad;
      return new Proxy(ad, {
        get(t, prop, r) {
          if (prop === 'removePeer') {
            return async (pool: string, uuid: string) => {
              removeCalls.push(uuid);
              if (uuid !== '11111111-1111-4111-8111-111111111111') await t.removePeer(pool, uuid);
            };
          }
          if (prop !== 'getPoolMirrorInfo') {
            const v: unknown = Reflect.get(t, prop, r);
            return typeof v === 'function' ? v.bind(t) : v;
          }
          return async (pool: string, ns?: string) => {
            const info = await t.getPoolMirrorInfo(pool, ns);
            if (!pinged && info.peers.length === 0) {
              pinged = true;
              return {
                ...info,
                peers: [
                  {
                    uuid: '11111111-1111-4111-8111-111111111111',
                    siteName: 'demo-site-b',
                    direction: 'tx-only',
                    clientName: '',
                  },
                ],
              };
            }
            return info;
          };
        },
      });
    }) as never;

    const { taskId } = await caller.ceph.unpair({ siteId: a, otherSiteId: b, pool: 'rbd' });
    const t = await app.tasks.wait(taskId);
    expect(t.state, t.error ?? '').toBe('finished');
    expect(t.result).toMatchObject({ removed: 2, removedAgain: 1 });
    expect((t.result as { rounds: number }).rounds).toBeGreaterThanOrEqual(3);
    expect(removeCalls).toContain('11111111-1111-4111-8111-111111111111');
    expect(
      app.tasks
        .logs(taskId)
        .some(
          (l) =>
            l.level === 'warn' && /registered itself again on demo-site-a\/rbd \(tx-only\)/.test(l.message),
        ),
    ).toBe(true);
    app.ceph.adapter = real as never;
    for (const id of [a, b])
      expect(
        (await caller.ceph.status({ siteId: id })).pools.find((p) => p.pool === 'rbd' && p.namespace === '')!
          .peers,
      ).toEqual([]);
    expect(
      app.history
        .list({ action: 'ceph.unpair' }, { limit: 5, offset: 0 })
        .rows.find((h) => h.taskId === taskId),
    ).toMatchObject({ outcome: 'success' });
  });
});
