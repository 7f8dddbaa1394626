import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { createApp, type App } from '@/server/app';
import type { SessionUser } from '@/server/domain/auth';
import type { Context } from '@/server/trpc/init';
import { createCaller } from '@/server/trpc/root';
import { cephLabScript, openCephLab, pollUntil, type CephLab } from './ceph-lab';
import { cephPool } from '../unit/ceph-pool';

/*
 * Tandem's Ceph mirroring and failover features through its tRPC API (routers → domain →
 * CephCliAdapter) against the real two-site lab: pairing by a pasted token, peers, pool
 * modes, schedules, image actions, a planned failover and failback through the wizard's
 * procedures, an unplanned failover that splits the brain and its resolution by the one-task
 * failback. The steps depend on each other and run in order; everything is undone at the end.
 */

const POOL = 'rbd';
const PLAIN = 'rbd2';
const SUFFIX = crypto.randomBytes(3).toString('hex');
const IMG = `dom-${SUFFIX}`;
const PIMG = `dom-plain-${SUFFIX}`;
const MiB = 1024 * 1024;
const operator: SessionUser = { id: 1, username: 'it-operator', role: 'operator' };

let lab: CephLab;
let app: App;
let dir: string;
let caller: ReturnType<typeof createCaller>;
let A = 0;
let B = 0;
let a: CephCliAdapter;
let b: CephCliAdapter;
let tokenKey = '';
let token = '';
const timings: Record<string, string> = {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

const poll = pollUntil;

async function finished(taskId: number) {
  const t = await app.tasks.wait(taskId);
  if (t.state !== 'finished')
    throw new Error(
      `task #${taskId} ${t.name} ${t.state}: ${t.error}\n${app.tasks
        .logs(taskId)
        .map((l) => l.message)
        .join('\n')}`,
    );
  return t;
}

async function failed(taskId: number) {
  const t = await app.tasks.wait(taskId);
  expect(t.state, `task #${taskId} ${t.name} should have failed`).toBe('failed');
  return t;
}

async function poolOf(siteId: number, pool = POOL) {
  const p = await cephPool(caller, siteId, pool);
  if (!p) throw new Error(`pool ${pool} missing on site #${siteId}`);
  return p;
}

const imageOn = async (siteId: number) => (await poolOf(siteId)).images.find((i) => i.name === IMG);

beforeAll(async () => {
  lab = await openCephLab();
  a = lab.adapter('site-a');
  b = lab.adapter('site-b');
  for (const [name, ad] of [
    ['site-a', a],
    ['site-b', b],
  ] as const) {
    const peers = (await ad.getPoolMirrorInfo(POOL)).peers;
    if (peers.length)
      throw new Error(
        `pool ${POOL} on ${name} is still paired (${peers.map((p) => p.siteName).join(', ')}): run \`bash scripts/lab/ceph-sites.sh unpair\``,
      );
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-ceph-it-'));
  app = createApp({ dbFile: path.join(dir, 'tandem.db'), dataDir: dir });
  const ctx: Context = {
    app,
    user: operator,
    sessionError: null,
    token: undefined,
    origin: 'http://it',
    host: 'it',
    secure: false,
    clientKey: 'it',
    resHeaders: new Headers(),
  };
  caller = createCaller(ctx);
  // Sites are an admin's business; the rest of the test runs as an operator.
  const adminCaller = createCaller({ ...ctx, user: { id: 2, username: 'it-admin', role: 'admin' } });
  const ids: Record<string, number> = {};
  for (const s of lab.sites) {
    const site = await adminCaller.sites.create({
      name: s.name,
      kind: 'ceph',
      config: {
        access: 'local',
        siteName: s.name,
        cluster: s.cluster,
        confPath: s.conf,
        clientId: s.clientId,
        keyringPath: s.keyring,
      },
    });
    ids[s.name] = site.id;
  }
  A = ids['site-a']!;
  B = ids['site-b']!;
});

afterAll(async () => {
  await app?.tasks.shutdown();
  for (const ad of [a, b]) {
    if (!ad) continue;
    await ad.removeSnapshotSchedule({ pool: POOL }, '1h').catch(() => undefined);
    await ad.disableImageMirroring(POOL, '', IMG, { force: true }).catch(() => undefined);
  }
  const kept = a
    ? (await a.listImages(POOL).catch(() => []))
        .map((i) => i.name)
        .filter((n) => n.startsWith(`${IMG}-diverged-`))
    : [];
  for (const [ad, pool, img] of [
    [a, POOL, IMG],
    [b, POOL, IMG],
    [a, PLAIN, PIMG],
    ...kept.map((k) => [a, POOL, k] as const),
  ] as const) {
    for (let i = 0; ad && i < 15; i++) {
      try {
        await ad.removeImage(pool, '', img);
        break;
      } catch (e) {
        if (/does not exist/.test((e as Error).message)) break;
        await sleep(2000);
      }
    }
  }
  if (lab) await cephLabScript('unpair');
  console.log(`[ceph-domain] timings: ${JSON.stringify(timings)}`);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('Tandem Ceph mirroring through its API on the two-site lab', () => {
  it('shows both clusters: pools, modes, site names, daemons, in O(pools) CLI calls', async () => {
    const s = await caller.ceph.status({ siteId: A });
    const rbd = s.pools.find((p) => p.pool === POOL && p.namespace === '')!;
    expect(rbd).toMatchObject({ mode: 'image', siteName: 'site-a', peers: [] });
    expect(s.pools.find((p) => p.pool === PLAIN)?.mode).toBe('disabled');
    expect(s.cliCalls).toBeLessThanOrEqual(14);
    // Right after other tests removed peers, the daemon may still report the old pool replayers.
    const daemons = await poll(
      'site-b’s rbd-mirror reports healthy',
      () => caller.ceph.daemons({ siteId: B }),
      (d) => d.length > 0 && d.every((x) => x.health === 'OK'),
      90_000,
    );
    expect(daemons[0]).toMatchObject({
      daemonId: expect.any(String),
      leader: expect.any(Boolean),
      callouts: [],
    });
  });

  it('pairs by a pasted token: decoded before import, refused when mangled, never stored', async () => {
    const created = await caller.ceph.createToken({ siteId: A, pool: POOL });
    token = created.token;
    tokenKey = (JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { key: string }).key;
    expect(tokenKey.length).toBeGreaterThan(20);
    expect(created.decoded.fsid).toBe((await a.probe()).fsid);
    expect(await caller.ceph.previewToken({ token })).toEqual(created.decoded);
    await expect(caller.ceph.previewToken({ token: token.slice(0, 40) })).rejects.toThrow(
      /truncated|not a bootstrap token/,
    );
    await expect(
      caller.ceph.importToken({ siteId: B, pool: POOL, token: 'garbage!', direction: 'rx-tx' }),
    ).rejects.toThrow(/base64/);

    const t0 = Date.now();
    const { taskId } = await caller.ceph.importToken({ siteId: B, pool: POOL, token, direction: 'rx-tx' });
    await finished(taskId);
    expect((await poolOf(B)).peers).toMatchObject([{ siteName: 'site-a', direction: 'rx-tx' }]);
    await poll(
      'site-a lists site-b as its peer',
      () => poolOf(A),
      (p) => p.peers.some((x) => x.siteName === 'site-b'),
    );
    timings['token import → peers on both sides'] = `${secs(t0)} s`;
  });

  it('refuses to disable mirroring of a pool that has peers, and says why', async () => {
    const t = await failed(
      (await caller.ceph.setPoolMode({ siteId: A, pool: POOL, mode: 'disabled' })).taskId,
    );
    expect(t.error).toMatch(
      /rbd still has 1 peer\(s\) \(site-b\); Ceph refuses to disable mirroring until they are removed/,
    );
    expect((await poolOf(A)).mode).toBe('image');
  });

  it('mirrors an image by snapshots: Ready on site-b with a lag, snapshots listed, schedule with a next run', async () => {
    await a.createImage(POOL, '', IMG, 32 * MiB, ['layering', 'exclusive-lock']);
    await a.writeImage(POOL, '', IMG, 0, crypto.randomBytes(2 * MiB));
    const t0 = Date.now();
    await finished(
      (await caller.ceph.image({ siteId: A, pool: POOL, image: IMG, op: 'enable', mode: 'snapshot' })).taskId,
    );
    const onB = await poll(
      'site-b shows the image Ready',
      () => imageOn(B),
      (i) => i?.group === 'ready' && i.mirroring?.state === 'replaying',
      150_000,
    );
    timings['enable → Ready on site-b'] = `${secs(t0)} s`;
    expect(onB!.mirroring).toMatchObject({ mode: 'snapshot', primary: false, state: 'replaying' });
    expect(onB!.lagSec).toEqual(expect.any(Number));
    expect(onB!.lagSec!).toBeGreaterThanOrEqual(0);
    expect(onB!.lagSec!).toBeLessThan(600);

    const before = (await caller.ceph.snapshots({ siteId: A, pool: POOL, image: IMG })).length;
    await finished((await caller.ceph.image({ siteId: A, pool: POOL, image: IMG, op: 'snapshot' })).taskId);
    const snapsA = await caller.ceph.snapshots({ siteId: A, pool: POOL, image: IMG });
    expect(snapsA.length).toBe(before + 1);
    const newest = snapsA.at(-1)!;
    expect(newest.id).toMatch(/^\d+$/);
    expect(newest.mirror).toMatchObject({ state: 'primary', primary: true });
    await poll(
      'the new mirror snapshot is complete on site-b',
      () => caller.ceph.snapshots({ siteId: B, pool: POOL, image: IMG }),
      (s) => s.some((x) => x.mirror?.primarySnapId === newest.id && x.mirror.complete),
      60_000,
    );

    await expect(caller.ceph.previewSchedule({ interval: '90x' })).rejects.toThrow(/interval/i);
    expect(await caller.ceph.previewSchedule({ interval: '1h', count: 3 })).toHaveLength(3);
    await finished(
      (
        await caller.ceph.addSchedule({
          siteId: A,
          level: { pool: POOL },
          interval: '1h',
          acceptRpoRisk: true,
        })
      ).taskId,
    );
    expect(
      (await caller.ceph.schedules({ siteId: A, level: {} })).some(
        (e) => e.pool === POOL && e.items.some((i) => i.interval === '1h'),
      ),
    ).toBe(true);
    const withNext = await poll(
      'site-a shows the image’s next scheduled snapshot',
      () => imageOn(A),
      (i) => !!i?.nextSnapshotAt,
      90_000,
    );
    const next = Date.parse(
      withNext!.nextSnapshotAt!.replace(' ', 'T') + (/[Z+]/.test(withNext!.nextSnapshotAt!) ? '' : 'Z'),
    );
    expect(next - Date.now()).toBeLessThanOrEqual(3_600_000 + 60_000);
    const removed = await finished(
      (await caller.ceph.removeSchedule({ siteId: A, level: { pool: POOL }, interval: '1h' })).taskId,
    );
    // The task ends with the cluster's schedules (the page lists them at once).
    expect(removed.result).toEqual({
      removed: 1,
      schedules: await caller.ceph.schedules({ siteId: A, level: {} }),
    });
    expect(JSON.stringify(removed.result)).not.toContain('"interval":"1h"');
    const again = await finished(
      (await caller.ceph.removeSchedule({ siteId: A, level: { pool: POOL }, interval: '1h' })).taskId,
    );
    expect(again.result).toMatchObject({ removed: 0 });
    expect(app.tasks.logs(again.id).map((l) => l.message)).toContain(
      'nothing matched: no schedule was removed',
    );
  });

  it('refuses to resync a primary image and to force-promote without naming split-brain', async () => {
    const t = await failed(
      (await caller.ceph.image({ siteId: A, pool: POOL, image: IMG, op: 'resync' })).taskId,
    );
    expect(t.error).toMatch(/is primary here; only a non-primary image can be resynced/);
    await expect(
      caller.ceph.image({ siteId: B, pool: POOL, image: IMG, op: 'promote', force: true }),
    ).rejects.toThrow(/split-brain/);
  });

  it('fails over planned to site-b and back through the wizard’s procedures; the content follows', async () => {
    const md5 = await a.imageChecksum(POOL, '', IMG);
    const plan = await caller.ceph.failoverPlan({ fromSiteId: A, toSiteId: B, pool: POOL, image: IMG });
    expect(plan.mode).toBe('planned');
    expect(plan.checks.filter((c) => c.status === 'block')).toEqual([]);
    expect(plan.checks.map((c) => c.id)).toEqual(
      expect.arrayContaining(['to', 'from', `img-${IMG}`, 'daemon', 'tasks']),
    );
    expect(plan.images).toEqual([{ name: IMG, lastSyncedAt: expect.any(Number), dataLossWindowSec: 0 }]);
    await expect(
      caller.ceph.failover({ fromSiteId: A, toSiteId: B, pool: POOL, image: IMG, confirm: POOL }),
    ).rejects.toThrow(`type ${IMG} to confirm`);

    let t0 = Date.now();
    const over = await finished(
      (await caller.ceph.failover({ fromSiteId: A, toSiteId: B, pool: POOL, image: IMG, confirm: IMG }))
        .taskId,
    );
    timings['planned failover task'] = `${secs(t0)} s`;
    expect(app.tasks.steps(over.id).map((s) => s.state)).toEqual(['done', 'done']);
    expect((await b.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(true);
    expect((await a.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(false);
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(md5);

    // A write on the new primary, then back: site-a must first replay again (a pre-check says so until then).
    await b.writeImage(POOL, '', IMG, 4 * MiB, crypto.randomBytes(MiB));
    const md5b = await b.imageChecksum(POOL, '', IMG);
    t0 = Date.now();
    await poll(
      'failback pre-checks pass (site-a replays)',
      () => caller.ceph.failoverPlan({ fromSiteId: B, toSiteId: A, pool: POOL, image: IMG }),
      (p) => p.canProceed,
      120_000,
    );
    timings['site-a replaying after failover'] = `${secs(t0)} s`;
    t0 = Date.now();
    await finished(
      (await caller.ceph.failover({ fromSiteId: B, toSiteId: A, pool: POOL, image: IMG, confirm: IMG }))
        .taskId,
    );
    timings['planned failback task'] = `${secs(t0)} s`;
    expect((await a.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(true);
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(md5b);

    const h = app.history
      .list({ action: 'ceph.failover' }, { limit: 10, offset: 0 })
      .rows.find((r) => r.taskId === over.id);
    expect(h).toMatchObject({ outcome: 'success', username: operator.username });
    expect((h!.params as { steps: { ms: number }[] }).steps.every((s) => typeof s.ms === 'number')).toBe(
      true,
    );
  });

  it('unplanned failover states the data-loss window, splits the brain; failback resyncs site-a and returns to it', async () => {
    await poll(
      'site-b replays again',
      () => caller.ceph.failoverPlan({ fromSiteId: A, toSiteId: B, pool: POOL, image: IMG }),
      (p) => p.canProceed,
      120_000,
    );
    const plan = await caller.ceph.failoverPlan({
      fromSiteId: A,
      toSiteId: B,
      pool: POOL,
      image: IMG,
      unplanned: true,
    });
    expect(plan.mode).toBe('unplanned');
    expect(plan.steps).toEqual(['Force-promote on the surviving cluster']);
    const win = plan.images[0]!;
    expect(win.lastSyncedAt).toEqual(expect.any(Number));
    expect(Math.abs(win.dataLossWindowSec! - (Date.now() - win.lastSyncedAt!) / 1000)).toBeLessThan(5);

    // site-a answers: the plan says a force-promote splits the brain, and it must be confirmed.
    expect(plan.splitBrainRisk).toEqual([IMG]);
    expect(plan.checks.find((c) => c.id === 'split-brain')).toMatchObject({ status: 'warn' });
    await expect(
      caller.ceph.failover({
        fromSiteId: A,
        toSiteId: B,
        pool: POOL,
        image: IMG,
        confirm: IMG,
        unplanned: true,
      }),
    ).rejects.toThrow(/split-brain/);
    let t0 = Date.now();
    const force = await finished(
      (
        await caller.ceph.failover({
          fromSiteId: A,
          toSiteId: B,
          pool: POOL,
          image: IMG,
          confirm: IMG,
          unplanned: true,
          confirmSplitBrain: true,
        })
      ).taskId,
    );
    timings['unplanned failover task'] = `${secs(t0)} s`;
    expect(app.tasks.logs(force.id).some((l) => l.level === 'warn' && /force-promoted/.test(l.message))).toBe(
      true,
    );
    // Both sides primary now; each writes something different.
    expect((await a.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(true);
    expect((await b.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(true);
    // Ceph raises nothing; the console's status refresh sees the image primary on both clusters
    // (once rbd-mirror has updated site-b's status, a few seconds after the promote).
    await poll(
      'site-b flagged split-brain with site-a',
      () => imageOn(B),
      (i) => i?.splitBrainWith?.siteId === A,
      60_000,
    );
    await poll(
      'site-a flagged split-brain with site-b',
      () => imageOn(A),
      (i) => i?.splitBrainWith?.siteId === B,
      60_000,
    );
    expect((await poolOf(A)).splitBrain).toBe(1);
    await a.writeImage(POOL, '', IMG, 8 * MiB, crypto.randomBytes(MiB));
    await b.writeImage(POOL, '', IMG, 12 * MiB, crypto.randomBytes(MiB));
    const keep = await b.imageChecksum(POOL, '', IMG);
    const stale = await a.imageChecksum(POOL, '', IMG);
    expect(stale).not.toBe(keep);
    const blocked = await caller.ceph.failoverPlan({ fromSiteId: B, toSiteId: A, pool: POOL, image: IMG });
    expect(blocked.canProceed).toBe(false);

    // Failback: site-a is the stale side; its writes since the split are discarded.
    await expect(
      caller.ceph.resync({
        staleSiteId: A,
        goodSiteId: B,
        pool: POOL,
        image: IMG,
        confirm: 'nope',
        failBack: true,
      }),
    ).rejects.toThrow(`type ${IMG} to confirm`);
    t0 = Date.now();
    const back = await finished(
      (
        await caller.ceph.resync({
          staleSiteId: A,
          goodSiteId: B,
          pool: POOL,
          image: IMG,
          confirm: IMG,
          failBack: true,
        })
      ).taskId,
    );
    timings['failback task (demote, resync, replay, demote, promote)'] = `${secs(t0)} s`;
    expect(app.tasks.steps(back.id).map((s) => s.name)).toEqual([
      'Demote the stale side',
      'Keep a protective copy',
      'Request resync',
      'Wait until replaying',
      'Demote on site-b',
      'Wait for the demotion and promote on site-a',
    ]);
    expect(app.tasks.steps(back.id).map((s) => s.state)).toEqual(Array(6).fill('done'));
    // site-a's writes since the split are kept in a copy of the image as it was there.
    const [copy] = (back.params as { keptCopies: string[] }).keptCopies;
    expect(copy).toMatch(new RegExp(`^${IMG}-diverged-\\d{8}T\\d{6}Z$`));
    expect(await a.imageChecksum(POOL, '', copy!)).toBe(stale);
    await a.removeImage(POOL, '', copy!);
    expect((await a.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(true);
    expect((await b.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(false);
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(keep);
    const final = await poll(
      'site-b replays from site-a again',
      () => imageOn(B),
      (i) => i?.mirroring?.state === 'replaying' && !i.mirroring.description.splitBrain,
      120_000,
    );
    expect(final!.group).not.toBe('issues');
  });

  it('turns journaling on and off for every image of a pool that is not snapshot-mirrored', async () => {
    await a.createImage(PLAIN, '', PIMG, 8 * MiB, ['layering', 'exclusive-lock']);
    const on = await finished(
      (await caller.ceph.setPoolJournaling({ siteId: A, pool: PLAIN, on: true })).taskId,
    );
    expect((on.result as { changed: string[] }).changed).toContain(PIMG);
    expect((await a.getImageInfo(PLAIN, '', PIMG)).features).toContain('journaling');
    const onRbd = await finished(
      (await caller.ceph.setPoolJournaling({ siteId: A, pool: POOL, on: true })).taskId,
    );
    expect((onRbd.result as { skipped: { image: string; reason: string }[] }).skipped).toContainEqual({
      image: IMG,
      reason: 'snapshot mirroring mode',
    });
    expect((await a.getImageInfo(POOL, '', IMG)).features).not.toContain('journaling');
    const off = await finished(
      (await caller.ceph.setPoolJournaling({ siteId: A, pool: PLAIN, on: false })).taskId,
    );
    expect((off.result as { changed: string[] }).changed).toContain(PIMG);
    expect((await a.getImageInfo(PLAIN, '', PIMG)).features).not.toContain('journaling');
  });

  it('edits a peer (client, monitors, site name, direction) and removes it after its pool mode; a missing peer is a clear error', async () => {
    // The peer of rbd is re-asserted by site-a's live rbd-mirror (rx-only flips back to rx-tx), so
    // the edits run on a peer of rbd2 naming a cluster that does not exist.
    await finished((await caller.ceph.setPoolMode({ siteId: B, pool: PLAIN, mode: 'image' })).taskId);
    await b.exec('rbd', ['mirror', 'pool', 'peer', 'add', PLAIN, 'client.rbd-mirror-peer@site-z'], {
      action: 'add a test peer',
    });
    const peer = (await poolOf(B, PLAIN)).peers[0]!;
    expect(peer).toMatchObject({ siteName: 'site-z', direction: 'rx-tx' });
    const edit = await finished(
      (
        await caller.ceph.editPeer({
          siteId: B,
          pool: PLAIN,
          peerUuid: peer.uuid,
          direction: 'rx-only',
          clientName: 'client.rbd-mirror-other',
          siteName: 'site-z2',
          monHost: '[v2:127.0.0.1:13399,v1:127.0.0.1:16799]',
        })
      ).taskId,
    );
    expect(edit.result).toEqual({ restartNeeded: true });
    expect(app.tasks.logs(edit.id).map((l) => l.message)).toContain(
      'rbd-mirror picks up peer changes when it is restarted',
    );
    expect((await poolOf(B, PLAIN)).peers).toMatchObject([
      {
        uuid: peer.uuid,
        direction: 'rx-only',
        clientName: 'client.rbd-mirror-other',
        siteName: 'site-z2',
        monHost: '[v2:127.0.0.1:13399,v1:127.0.0.1:16799]',
      },
    ]);
    const missing = await failed(
      (
        await caller.ceph.editPeer({
          siteId: B,
          pool: PLAIN,
          peerUuid: '00000000-0000-4000-8000-000000000000',
          siteName: 'x',
        })
      ).taskId,
    );
    expect(missing.error).toMatch(/that mirror peer does not exist/);
    await expect(
      caller.ceph.editPeer({ siteId: B, pool: PLAIN, peerUuid: peer.uuid, monHost: 'not;a host' }),
    ).rejects.toThrow(/monitor addresses/);
    // A bad address is refused on its field before any task starts.
    await expect(
      caller.ceph.editPeer({
        siteId: B,
        pool: PLAIN,
        peerUuid: peer.uuid,
        monHost: '[v2:127.0.0.1:13399,v1:127.0.0.1:99999]',
      }),
    ).rejects.toMatchObject({
      cause: { fields: [{ field: 'monHost', message: expect.stringMatching(/port 99999/) }] },
    });
    const refused = await failed(
      (await caller.ceph.setPoolMode({ siteId: B, pool: PLAIN, mode: 'disabled' })).taskId,
    );
    expect(refused.error).toMatch(/rbd2 still has 1 peer\(s\) \(site-z2\)/);
    await finished((await caller.ceph.removePeer({ siteId: B, pool: PLAIN, peerUuid: peer.uuid })).taskId);
    await finished((await caller.ceph.setPoolMode({ siteId: B, pool: PLAIN, mode: 'disabled' })).taskId);
    expect((await poolOf(B, PLAIN)).mode).toBe('disabled');
    // As the product tells the operator: rbd-mirror reads its peers at start. (Ceph 16.2's daemon,
    // after a peer it could not connect to was removed, otherwise keeps an old pool replayer that
    // re-registers itself on the other cluster.)
    await cephLabScript('restart-mirror', 'site-b');
  });

  it('unpairs both sides in one task, and they stay unpaired', async () => {
    await finished((await caller.ceph.image({ siteId: A, pool: POOL, image: IMG, op: 'disable' })).taskId);
    const t0 = Date.now();
    const t = await finished((await caller.ceph.unpair({ siteId: A, otherSiteId: B, pool: POOL })).taskId);
    timings['unpair task'] = `${secs(t0)} s`;
    expect((t.result as { removed: number }).removed).toBe(2);
    // Longer than rbd-mirror's peer refresh: nothing comes back.
    for (let i = 0; i < 3; i++) {
      await sleep(5000);
      for (const siteId of [A, B]) expect((await poolOf(siteId)).peers).toEqual([]);
    }
  });

  it('kept the bootstrap token and its key out of the database, history and task logs', async () => {
    expect(token.length).toBeGreaterThan(100);
    app.db.$client.pragma('wal_checkpoint(TRUNCATE)');
    for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('tandem.db'))) {
      const bytes = fs.readFileSync(path.join(dir, f)).toString('latin1');
      expect(bytes.includes(tokenKey), `${f} holds the cephx key of the token`).toBe(false);
      expect(bytes.includes(token.slice(0, 60)), `${f} holds the token`).toBe(false);
    }
    const kinds = new Set(app.history.list({}, { limit: 500, offset: 0 }).rows.map((r) => r.action));
    for (const k of [
      'ceph.createToken',
      'ceph.peer.import',
      'ceph.image.enable',
      'ceph.failover',
      'ceph.failback',
      'ceph.peer.edit',
      'ceph.peer.remove',
      'ceph.unpair',
      'ceph.pool.journaling',
      'ceph.schedule.add',
      'ceph.schedule.remove',
    ]) {
      expect(kinds, `history has ${k}`).toContain(k);
    }
  });
});
