import { afterEach, describe, expect, it } from 'vitest';
import { promoteReadiness } from '@/server/domain/ceph/failover';
import { AppError } from '@/server/core/errors';
import { planPoolJournaling } from '@/server/domain/ceph/mirroring';
import { createCaller } from '@/server/trpc/root';
import { patchCephAdapter } from './ceph-demo-env';
import { cephPool } from './ceph-pool';
import { ctxFor, operator, testApp } from './helpers';

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

function setup() {
  const t = testApp();
  t.app.demo.create();
  cleanup = () => t.app.tasks.shutdown();
  const id = (n: string) => t.app.sites.byName(n)!.id;
  return { ...t, a: id('demo-site-a'), b: id('demo-site-b'), caller: createCaller(ctxFor(t.app, operator)) };
}

async function done(app: ReturnType<typeof testApp>['app'], taskId: number) {
  const t = await app.tasks.wait(taskId);
  if (t.state !== 'finished') throw new Error(`${t.name}: ${t.state} ${t.error}`);
  return t;
}

describe('Ceph mirroring (demo clusters)', () => {
  it('shows pools and images grouped with lag, in a bounded number of CLI calls', async () => {
    const { caller, b } = setup();
    const pool = (await cephPool(caller, b))!;
    const s = pool.status;
    expect(pool.images.length).toBeGreaterThan(0);
    // The status counts what the pages list.
    expect(pool.counts.total).toBe(pool.images.length);
    expect(pool.counts.ready + pool.counts.syncing + pool.counts.issues + pool.counts.idle).toBe(
      pool.images.length,
    );
    expect(pool).not.toHaveProperty('status.pools.0.images');
    expect(typeof s.cliCalls).toBe('number');
    for (const img of pool.images) {
      expect(['issues', 'syncing', 'ready']).toContain(img.group);
      const d = img.mirroring?.description;
      // Lag is known once a snapshot has been synced, and is then now − that snapshot's time.
      if (img.mirroring && !img.mirroring.primary && d?.localSnapshotTimestamp)
        expect(img.lagSec).toBe(Math.round(Date.UTC(2026, 10, 23, 12) / 1000 - d.localSnapshotTimestamp));
      if (img.mirroring && !img.mirroring.primary && !d?.localSnapshotTimestamp)
        expect(img.lagSec).toBeNull();
      if (d?.replayState === 'syncing') expect(img.group).toBe('syncing');
    }
  });

  it('creates a token once, never in history; previews it; rejects garbage with a specific error', async () => {
    const { app, caller, a } = setup();
    const { token, decoded } = await caller.ceph.createToken({ siteId: a, pool: 'rbd' });
    expect(decoded.fsid).toMatch(/^[0-9a-f-]{36}$/);
    expect(JSON.stringify(decoded)).not.toContain('AQ');
    expect(await caller.ceph.previewToken({ token })).toEqual(decoded);
    await expect(caller.ceph.previewToken({ token: 'not a token!' })).rejects.toThrow(
      /characters that base64 never uses/,
    );
    await expect(caller.ceph.previewToken({ token: token.slice(0, 20) })).rejects.toThrow(
      /truncated|not a bootstrap token/,
    );
    await expect(
      caller.ceph.previewToken({ token: Buffer.from('[1,2]').toString('base64') }),
    ).rejects.toThrow(/a JSON array/);
    const history = JSON.stringify(app.history.list({}, { limit: 100, offset: 0 }).rows);
    expect(history).not.toContain(token);
    expect(history).toContain('ceph.createToken');
  });

  it('imports a token as a task whose history names the peer but not the token', async () => {
    const { app, caller, a, b } = setup();
    const { token } = await caller.ceph.createToken({ siteId: a, pool: 'rbd' });
    const { taskId } = await caller.ceph.importToken({ siteId: b, pool: 'rbd', token, direction: 'rx-tx' });
    await done(app, taskId);
    const rows =
      JSON.stringify(app.history.list({}, { limit: 100, offset: 0 }).rows) +
      JSON.stringify(app.tasks.logs(taskId));
    expect(rows).not.toContain(token);
    expect(rows).toContain('peerFsid');
  });

  it('pairs two registered clusters without the token leaving the server', async () => {
    const { app, caller, a, b } = setup();
    const { taskId } = await caller.ceph.pair({ fromSiteId: a, toSiteId: b, pool: 'rbd' });
    const t = await done(app, taskId);
    expect((t.result as { peers: string[] }).peers.length).toBeGreaterThan(0);
    await expect(caller.ceph.pair({ fromSiteId: a, toSiteId: a, pool: 'rbd' })).rejects.toThrow(
      /two different clusters/,
    );
  });

  it('validates schedules, previews their next runs, and says whether a delete removed anything', async () => {
    const { app, clock, caller, a } = setup();
    await expect(caller.ceph.previewSchedule({ interval: '5x' })).rejects.toThrow();
    const runs = await caller.ceph.previewSchedule({ interval: '1h', count: 3 });
    expect(runs).toHaveLength(3);
    expect(new Date(runs[0]!).getTime()).toBeGreaterThan(clock.now());
    expect(new Date(runs[1]!).getTime() - new Date(runs[0]!).getTime()).toBe(3600_000);
    // 30 minutes between mirror snapshots cannot meet the default RPO (15 min): refused on the field, unless accepted.
    await expect(
      caller.ceph.addSchedule({ siteId: a, level: { pool: 'rbd' }, interval: '30m' }),
    ).rejects.toThrow(/interval: a snapshot schedule of 30 min cannot meet the RPO of 15 min/);
    const added = await done(
      app,
      (
        await caller.ceph.addSchedule({
          siteId: a,
          level: { pool: 'rbd' },
          interval: '30m',
          acceptRpoRisk: true,
        })
      ).taskId,
    );
    const list = await caller.ceph.schedules({ siteId: a, level: { pool: 'rbd' } });
    expect(JSON.stringify(list)).toContain('30m');
    // The task ends with every schedule of the cluster: what the page lists, shown as soon as it ends.
    expect(added.result).toEqual({ schedules: await caller.ceph.schedules({ siteId: a, level: {} }) });
    expect(added.result).toMatchObject({
      schedules: expect.arrayContaining([
        expect.objectContaining({
          level: 'pool',
          pool: 'rbd',
          items: [expect.objectContaining({ interval: '30m' })],
        }),
      ]),
    });
    const removed = await done(
      app,
      (await caller.ceph.removeSchedule({ siteId: a, level: { pool: 'rbd' }, interval: '30m' })).taskId,
    );
    expect(removed.result).toEqual({
      removed: 1,
      schedules: await caller.ceph.schedules({ siteId: a, level: {} }),
    });
    expect(JSON.stringify(removed.result)).not.toContain('30m');
    const none = await done(
      app,
      (await caller.ceph.removeSchedule({ siteId: a, level: { pool: 'rbd' }, interval: '30m' })).taskId,
    );
    expect(none.result).toMatchObject({ removed: 0 });
  });

  it('demands an explicit split-brain confirmation for a forced promote, and refuses to resync a primary', async () => {
    const { app, caller, a, b } = setup();
    const img = (await cephPool(caller, a))!.images[0]!;
    await expect(
      caller.ceph.image({ siteId: b, pool: 'rbd', image: img.name, op: 'promote', force: true }),
    ).rejects.toThrow(/split-brain/);
    const resync = await caller.ceph.image({ siteId: a, pool: 'rbd', image: img.name, op: 'resync' });
    const t = await app.tasks.wait(resync.taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/is primary here; only a non-primary image can be resynced/);
  });

  it('refuses to disable a pool that still has peers, with the reason', async () => {
    const { app, caller, a } = setup();
    const t = await app.tasks.wait(
      (await caller.ceph.setPoolMode({ siteId: a, pool: 'rbd', mode: 'disabled' })).taskId,
    );
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/still has 1 peer\(s\).*refuses to disable mirroring until they are removed/);
  });
});

describe('pool journaling rule', () => {
  const img = (
    name: string,
    features: string[],
    mode: 'journal' | 'snapshot' | null,
    primary: boolean | null,
  ) => ({
    name,
    features,
    mirroring: { mode, state: mode ? 'enabled' : 'disabled', globalId: null, primary },
  });
  const images = [
    img('snap', ['exclusive-lock'], 'snapshot', true),
    img('snap-journaled', ['exclusive-lock', 'journaling'], 'snapshot', true),
    img('plain', ['layering', 'exclusive-lock'], null, null),
    img('journaled', ['exclusive-lock', 'journaling'], null, null),
    img('nolock', ['layering'], null, null),
    img('jmirror', ['exclusive-lock', 'journaling'], 'journal', true),
    img('copy', ['exclusive-lock', 'non-primary'], null, false),
  ];

  it('never touches images in snapshot mirroring mode, and says why it skips the others', () => {
    const on = planPoolJournaling(images, true);
    expect(on.images).toBe(7);
    expect(on.notSnapshotMode).toEqual(['copy', 'jmirror', 'journaled', 'nolock', 'plain']);
    expect(on.change).toEqual(['plain']);
    expect(on.skipped).toEqual([
      { image: 'copy', reason: 'not primary here' },
      { image: 'jmirror', reason: 'journaling already on' },
      { image: 'journaled', reason: 'journaling already on' },
      { image: 'nolock', reason: 'no exclusive-lock feature' },
      { image: 'snap', reason: 'snapshot mirroring mode' },
      { image: 'snap-journaled', reason: 'snapshot mirroring mode' },
    ]);
    const off = planPoolJournaling(images, false);
    expect(off.change).toEqual(['journaled']);
    expect(off.skipped).toContainEqual({ image: 'jmirror', reason: 'journal mirroring enabled' });
    expect(off.skipped).toContainEqual({ image: 'snap-journaled', reason: 'snapshot mirroring mode' });
  });
});

describe('Ceph mirroring UI operations (demo clusters)', () => {
  it('plans a pool journaling change per namespace, and the task changes exactly the planned images', async () => {
    const { app, caller, a } = setup();
    const plan = await caller.ceph.journalingPlan({ siteId: a, pool: 'rbd', namespace: 'tenant1', on: true });
    expect(plan).toMatchObject({
      images: 3,
      notSnapshotMode: ['scratch01', 'vm-erp01-data'],
      change: ['scratch01'],
    });
    expect(plan.skipped).toEqual([
      { image: 'vm-erp01-data', reason: 'journaling already on' },
      { image: 'vm-mail01-root', reason: 'snapshot mirroring mode' },
    ]);
    // the default namespace holds only snapshot-mirrored images: nothing to do there
    expect((await caller.ceph.journalingPlan({ siteId: a, pool: 'rbd', on: true })).notSnapshotMode).toEqual(
      [],
    );
    const t = await done(
      app,
      (await caller.ceph.setPoolJournaling({ siteId: a, pool: 'rbd', namespace: 'tenant1', on: true }))
        .taskId,
    );
    expect(t.target).toBe(`site/${a}/pool/rbd/ns/tenant1`);
    expect((t.result as { changed: string[] }).changed).toEqual(plan.change);
    expect((t.result as { skipped: unknown[] }).skipped).toContainEqual({
      image: 'vm-mail01-root',
      reason: 'snapshot mirroring mode',
    });
    expect(app.tasks.logs(t.id).map((l) => l.message)).toContain(
      'vm-mail01-root left as it is: snapshot mirroring mode',
    );
    expect(
      (await caller.ceph.imageInfo({ siteId: a, pool: 'rbd', namespace: 'tenant1', image: 'scratch01' }))
        .features,
    ).toContain('journaling');
    expect(
      (await caller.ceph.imageInfo({ siteId: a, pool: 'rbd', namespace: 'tenant1', image: 'vm-mail01-root' }))
        .features,
    ).not.toContain('journaling');
    const off = await caller.ceph.journalingPlan({ siteId: a, pool: 'rbd', namespace: 'tenant1', on: false });
    expect(off.change).toEqual(['scratch01']);
    expect(off.skipped).toContainEqual({ image: 'vm-erp01-data', reason: 'journal mirroring enabled' });
  });

  it('turns journaling of one image on and off', async () => {
    const { app, caller, a } = setup();
    const ref = { siteId: a, pool: 'rbd', namespace: 'tenant1', image: 'scratch01' };
    await done(app, (await caller.ceph.image({ ...ref, op: 'journaling-on' })).taskId);
    expect((await caller.ceph.imageInfo(ref)).features).toContain('journaling');
    await done(app, (await caller.ceph.image({ ...ref, op: 'journaling-off' })).taskId);
    expect((await caller.ceph.imageInfo(ref)).features).not.toContain('journaling');
  });

  it('edits only the fields given, says rbd-mirror needs a restart, and refuses nonsense on its field', async () => {
    const { app, caller, a, b } = setup();
    const before = (await caller.ceph.status({ siteId: a })).pools.find((p) => p.pool === 'rbd')!.peers[0]!;
    const t = await done(
      app,
      (await caller.ceph.editPeer({ siteId: a, pool: 'rbd', peerUuid: before.uuid, direction: 'rx-only' }))
        .taskId,
    );
    expect(t.result).toEqual({ restartNeeded: true });
    expect(app.tasks.logs(t.id).map((l) => l.message)).toContain(
      'rbd-mirror picks up peer changes when it is restarted',
    );
    const after = (await caller.ceph.status({ siteId: a })).pools.find((p) => p.pool === 'rbd')!.peers[0]!;
    expect(after).toEqual({ ...before, direction: 'rx-only' });
    await expect(
      caller.ceph.editPeer({ siteId: a, pool: 'rbd', peerUuid: before.uuid }),
    ).rejects.toMatchObject({ cause: { fields: [{ field: 'input' }] } });
    await expect(
      caller.ceph.editPeer({ siteId: a, pool: 'rbd', peerUuid: before.uuid, siteName: 'demo-site-a' }),
    ).rejects.toMatchObject({
      cause: { fields: [{ field: 'siteName', message: expect.stringMatching(/own site name/) }] },
    });
    await expect(
      caller.ceph.editPeer({ siteId: a, pool: 'rbd', peerUuid: before.uuid, clientName: 'admin' }),
    ).rejects.toMatchObject({ cause: { fields: [{ field: 'clientName' }] } });
    // the other cluster's peer entry is its own
    expect(
      (await caller.ceph.status({ siteId: b })).pools.find((p) => p.pool === 'rbd')!.peers[0]!.direction,
    ).toBe('rx-tx');
  });

  it('checks the monitor addresses of a peer edit before starting its task: a bad one is an error on its field', async () => {
    const { app, caller, a } = setup();
    const peer = (await caller.ceph.status({ siteId: a })).pools.find((p) => p.pool === 'rbd')!.peers[0]!;
    const tasksBefore = app.tasks.list({ limit: 1000 }).length;
    for (const [monHost, message] of [
      ['10.20.2.11:99999', /port 99999 .*between 1 and 65535/],
      ['10.20.2.300:6789', /10\.20\.2\.300 is not an IPv4 address/],
      ['[v2:10.20.2.11:3300/0,v1:10.20.2.11:6789/0', /unclosed \[/],
      ['[v3:10.20.2.11:3300]', /v3: .*v1 or v2/],
    ] as const) {
      await expect(
        caller.ceph.editPeer({ siteId: a, pool: 'rbd', peerUuid: peer.uuid, monHost }),
        monHost,
      ).rejects.toMatchObject({
        cause: { fields: [{ field: 'monHost', message: expect.stringMatching(message) }] },
      });
    }
    expect(app.tasks.list({ limit: 1000 }).length).toBe(tasksBefore);
    // Spaces separate addresses as in ceph.conf; Ceph is given commas.
    const t = await done(
      app,
      (
        await caller.ceph.editPeer({
          siteId: a,
          pool: 'rbd',
          peerUuid: peer.uuid,
          monHost: '10.20.2.11:6789  10.20.2.12:6789, mon3',
        })
      ).taskId,
    );
    expect(app.tasks.get(t.id)!.params).toMatchObject({ monHost: '10.20.2.11:6789,10.20.2.12:6789,mon3' });
    expect(
      (await caller.ceph.status({ siteId: a })).pools.find((p) => p.pool === 'rbd')!.peers[0]!.monHost,
    ).toBe('10.20.2.11:6789,10.20.2.12:6789,mon3');
  });

  it('removes a peer as a task that names the peer site', async () => {
    const { app, caller, a } = setup();
    const peer = (await caller.ceph.status({ siteId: a })).pools.find((p) => p.pool === 'rbd')!.peers[0]!;
    const t = await done(
      app,
      (await caller.ceph.removePeer({ siteId: a, pool: 'rbd', peerUuid: peer.uuid })).taskId,
    );
    expect(
      app.tasks
        .logs(t.id)
        .map((l) => l.message)
        .join('\n'),
    ).toContain('mirroring of rbd with demo-site-b stops');
    expect(
      (await caller.ceph.status({ siteId: a })).pools
        .filter((p) => p.pool === 'rbd')
        .every((p) => p.peers.length === 0),
    ).toBe(true);
  });

  it('changes the site name, refusing a name a peer has, the current one, and a pool without mirroring', async () => {
    const { app, caller, a, b } = setup();
    await expect(
      caller.ceph.setSiteName({ siteId: a, pool: 'rbd', siteName: 'demo-site-b' }),
    ).rejects.toMatchObject({
      cause: {
        fields: [
          {
            field: 'siteName',
            message: expect.stringMatching(/site name of peer .*each cluster needs a site name of its own/),
          },
        ],
      },
    });
    await expect(
      caller.ceph.setSiteName({ siteId: a, pool: 'rbd', siteName: 'demo-site-a' }),
    ).rejects.toThrow(/already this cluster's site name/);
    await expect(
      caller.ceph.setSiteName({ siteId: a, pool: 'rbd2', siteName: 'paris' }),
    ).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    await expect(caller.ceph.setSiteName({ siteId: a, pool: 'rbd', siteName: '-x' })).rejects.toMatchObject({
      cause: { fields: [{ field: 'siteName' }] },
    });
    await done(app, (await caller.ceph.setSiteName({ siteId: a, pool: 'rbd', siteName: 'paris' })).taskId);
    expect((await caller.ceph.status({ siteId: a })).pools.find((p) => p.pool === 'rbd')!.siteName).toBe(
      'paris',
    );
    expect(
      (await caller.ceph.status({ siteId: b })).pools.find((p) => p.pool === 'rbd')!.peers[0]!.siteName,
    ).toBe('paris');
  });

  it('sets the mirror mode of a namespace on its own', async () => {
    const { app, caller, a } = setup();
    await done(
      app,
      (await caller.ceph.setPoolMode({ siteId: a, pool: 'rbd', namespace: 'tenant1', mode: 'pool' })).taskId,
    );
    const s = await caller.ceph.status({ siteId: a });
    expect(s.pools.filter((p) => p.pool === 'rbd').map((p) => `${p.namespace}:${p.mode}`)).toEqual([
      ':image',
      'tenant1:pool',
    ]);
  });

  it('resyncs only a non-primary mirrored image, and says why otherwise', async () => {
    const { app, caller, a, b } = setup();
    const unmirrored = await app.tasks.wait(
      (
        await caller.ceph.image({
          siteId: a,
          pool: 'rbd',
          namespace: 'tenant1',
          image: 'scratch01',
          op: 'resync',
        })
      ).taskId,
    );
    expect(unmirrored.state).toBe('failed');
    expect(unmirrored.error).toMatch(
      /rbd\/tenant1\/scratch01 is not mirrored here .*only a non-primary mirrored image can be resynced/,
    );
    await done(
      app,
      (
        await caller.ceph.image({
          siteId: b,
          pool: 'rbd',
          namespace: 'tenant1',
          image: 'vm-mail01-root',
          op: 'resync',
        })
      ).taskId,
    );
  });
});

describe('Ceph failover (demo clusters)', () => {
  it('plans with pre-checks and a per-image data-loss window, fails over planned, then fails back by resync', async () => {
    const { app, clock, caller, a, b } = setup();
    const img = (await cephPool(caller, a))!.images
      .filter((i) => i.mirroring?.primary)
      .sort((x, y) => (x.sizeBytes ?? 0) - (y.sizeBytes ?? 0))[0]!.name;
    // Let the first snapshot reach the secondary.
    await clock.sleep(20_000); // the demo clusters' first mirror snapshots are copied
    const plan = await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd', image: img });
    expect(plan.mode).toBe('planned');
    expect(plan.images).toHaveLength(1);
    expect(plan.images[0]!.dataLossWindowSec).toBe(0);
    const unplanned = await caller.ceph.failoverPlan({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      image: img,
      unplanned: true,
    });
    expect(unplanned.mode).toBe('unplanned');
    await expect(
      caller.ceph.failover({ fromSiteId: a, toSiteId: b, pool: 'rbd', image: img, confirm: 'rbd' }),
    ).rejects.toThrow(`type ${img} to confirm`);
    if (!plan.canProceed) throw new Error(JSON.stringify(plan.checks));
    const { taskId } = await caller.ceph.failover({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      image: img,
      confirm: img,
    });
    const t = await done(app, taskId);
    expect(app.tasks.steps(taskId).map((s) => s.state)).toEqual(['done', 'done']);
    expect(t.progressComplete).toBe(t.progressTotal);
    const onB = (await cephPool(caller, b))!.images.find((i) => i.name === img)!;
    expect(onB.mirroring?.primary).toBe(true);
    // Failback: make site-a the stale side explicitly (it is non-primary now) and resync it.
    const r = await caller.ceph.resync({
      staleSiteId: a,
      goodSiteId: b,
      pool: 'rbd',
      image: img,
      confirm: img,
    });
    await done(app, r.taskId);
    const rows = app.history.list({ action: 'ceph.failover' }, { limit: 10, offset: 0 }).rows;
    expect(rows.find((h) => h.taskId === taskId)).toMatchObject({ outcome: 'success' });
    expect(rows.filter((h) => h.outcome === 'failure')[0]?.error).toMatch(/type .* to confirm/);
  }, 90_000);

  it('refuses an image demote while a pool failover holds the pool on both clusters, naming the failover task', async () => {
    const { app, clock, caller, a, b } = setup();
    await clock.sleep(20_000); // the demo clusters' first mirror snapshots are copied
    const plan = await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' });
    if (!plan.canProceed) throw new Error(JSON.stringify(plan.checks));
    const img = plan.images[0]!.name;
    const { taskId } = await caller.ceph.failover({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      confirm: 'rbd',
    });
    const t = app.tasks.get(taskId)!;
    expect(t.target).toBe(`site/${b}/pool/rbd`);
    for (const siteId of [a, b]) {
      const err = await caller.ceph
        .image({ siteId, pool: 'rbd', namespace: '', image: img, op: 'demote' })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'CONFLICT' });
      expect(String((err as Error).message)).toContain(`task #${taskId} "${t.name}"`);
    }
    // A namespace's image is inside the pool too.
    await expect(
      caller.ceph.image({
        siteId: a,
        pool: 'rbd',
        namespace: 'tenant1',
        image: 'scratch01',
        op: 'snapshot',
      }),
    ).rejects.toThrow(`task #${taskId}`);
    await done(app, taskId);
  }, 90_000);

  it('runs a planned pool failover again after it was cut off: an image already demoted is promoted, not demoted again', async () => {
    const { app, clock, caller, a, b } = setup();
    await clock.sleep(20_000); // the demo clusters' first mirror snapshots are copied
    const mirrored = (await cephPool(caller, a))!.images
      .filter((i) => i.namespace === '' && i.mirroring?.primary)
      .map((i) => i.name);
    expect(mirrored.length).toBeGreaterThanOrEqual(2);
    // What a failover cut off after its first demote leaves behind.
    await done(
      app,
      (
        await caller.ceph.image({
          siteId: a,
          pool: 'rbd',
          namespace: '',
          image: mirrored[0]!,
          op: 'demote',
        })
      ).taskId,
    );
    const arrived = async () =>
      promoteReadiness(await app.ceph.adapter(b).listImageSnapshots('rbd', '', mirrored[0]!)).ready;
    for (let i = 0; i < 600 && !(await arrived()); i++) await clock.sleep(1_000);
    const plan = await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' });
    expect(plan.checks.find((c) => c.id === `img-${mirrored[0]}`)).toMatchObject({
      status: 'pass',
      message: expect.stringMatching(/already demoted/),
    });
    if (!plan.canProceed) throw new Error(JSON.stringify(plan.checks));
    const { taskId } = await caller.ceph.failover({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      confirm: 'rbd',
    });
    await done(app, taskId);
    expect(app.tasks.logs(taskId).map((l) => l.message)).toContain(
      `${mirrored[0]} is already non-primary on demo-site-a: not demoted again`,
    );
    const onB = (await cephPool(caller, b))!.images.filter((i) => i.namespace === '');
    const onA = (await cephPool(caller, a))!.images.filter((i) => i.namespace === '');
    for (const n of mirrored) {
      expect(onB.find((i) => i.name === n)?.mirroring?.primary).toBe(true);
      expect(onA.find((i) => i.name === n)?.mirroring?.primary).toBe(false);
    }
    // Run once more: every image is already switched, and nothing is demoted or promoted again.
    const again = await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' });
    expect(again.canProceed).toBe(true);
  }, 90_000);

  it('an unplanned failover while the old primary answers says it splits the brain and needs that confirmed', async () => {
    const { app, clock, caller, a, b } = setup();
    await clock.sleep(20_000); // the demo clusters' first mirror snapshots are copied
    const img = (await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' })).images[0]!.name;
    const input = { fromSiteId: a, toSiteId: b, pool: 'rbd', image: img };
    const plan = await caller.ceph.failoverPlan({ ...input, unplanned: true });
    expect(plan.mode).toBe('unplanned');
    expect(plan.splitBrainRisk).toEqual([img]);
    expect(plan.checks.find((c) => c.id === 'split-brain')).toMatchObject({
      status: 'warn',
      message: expect.stringMatching(/planned failover/),
    });
    // The planned failover has no such risk.
    expect((await caller.ceph.failoverPlan(input)).splitBrainRisk).toEqual([]);
    const err = await caller.ceph
      .failover({ ...input, unplanned: true, confirm: img })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/split-brain.*planned failover|planned failover.*split-brain/),
    });
    expect(JSON.stringify(err)).toContain('confirmSplitBrain');
    expect(await app.ceph.adapter(b).getImageInfo('rbd', '', img)).toMatchObject({
      mirroring: { primary: false },
    });
    const { taskId } = await caller.ceph.failover({
      ...input,
      unplanned: true,
      confirm: img,
      confirmSplitBrain: true,
    });
    await done(app, taskId);
    expect(
      app.tasks.logs(taskId).some((l) => l.level === 'warn' && /split-brain confirmed/.test(l.message)),
    ).toBe(true);
    expect((await app.ceph.adapter(a).getImageInfo('rbd', '', img)).mirroring.primary).toBe(true);
    expect((await app.ceph.adapter(b).getImageInfo('rbd', '', img)).mirroring.primary).toBe(true);
  }, 90_000);

  it('a forced promote refused for a moment (read-only: the local rbd-mirror still holds the image) is retried, not failed', async () => {
    const { app, clock, caller, a, b } = setup();
    await clock.sleep(20_000); // the demo clusters' first mirror snapshots are copied
    const img = (await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' })).images[0]!.name;
    // Ceph answers a forced promote with EROFS while site B's rbd-mirror still holds the image's lock.
    let refusals = 2;
    const adapter = patchCephAdapter(app, b, (ad) => ({
      promoteImage: async (pool, ns, image, opts) => {
        if (opts?.force && refusals-- > 0)
          throw new AppError('CONFLICT', `rbd/${image} is read-only here (rbd: (30) Read-only file system)`, {
            details: { retryable: true },
          });
        return ad.promoteImage(pool, ns, image, opts);
      },
    }));
    const { taskId } = await caller.ceph.failover({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      image: img,
      unplanned: true,
      confirm: img,
      confirmSplitBrain: true,
    });
    await done(app, taskId);
    expect(refusals).toBe(-1);
    expect(
      app.tasks.logs(taskId).some((l) => /waiting to force-promote .*Read-only file system/.test(l.message)),
    ).toBe(true);
    expect((await adapter(b).getImageInfo('rbd', '', img)).mirroring.primary).toBe(true);
  }, 90_000);

  it('a status refresh flags an image primary on both clusters of the pair as split-brain, counted on the pool and in the overview', async () => {
    const { app, caller, a, b } = setup();
    const rbd = async (siteId: number) => (await cephPool(caller, siteId))!;
    const before = await rbd(a);
    expect(before.splitBrain).toBe(0);
    expect(before.images.every((i) => i.splitBrainWith === null)).toBe(true);
    const img = before.images.find((i) => i.mirroring?.primary)!.name;
    // Force-promote on the secondary while the primary stays primary: what an unplanned failover
    // leaves when the old primary site comes back. Ceph reports no split-brain on either side.
    await done(
      app,
      (
        await caller.ceph.image({
          siteId: b,
          pool: 'rbd',
          namespace: '',
          image: img,
          op: 'promote',
          force: true,
          confirmSplitBrain: true,
        })
      ).taskId,
    );
    for (const siteId of [a, b]) {
      const s = await app.ceph.adapter(siteId).getImageMirrorStatus('rbd', '', img);
      expect(s).toMatchObject({ rawState: 'up+stopped', description: { splitBrain: false } });
    }
    for (const [siteId, other] of [
      [b, a],
      [a, b],
    ] as const) {
      const pool = await rbd(siteId);
      const row = pool.images.find((i) => i.name === img)!;
      expect(row.splitBrainWith).toEqual({ siteId: other, siteName: app.sites.get(other).name });
      expect(row.group).toBe('issues');
      expect(row.reason).toMatch(/^split-brain: primary here and on demo-site-/);
      expect(pool.splitBrain).toBe(1);
      expect(pool.images.filter((i) => i.name !== img).every((i) => i.splitBrainWith === null)).toBe(true);
    }
    const overview = await caller.overview.get();
    for (const siteId of [a, b]) {
      const site = overview.find((o) => o.site.id === siteId)!;
      expect(site.ceph?.splitBrain).toBe(1);
      expect(site.level).toBe('error');
      expect(site.headline).toMatch(/split-brain/);
    }
  });
});
