import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { isRetryableCephError } from '@/server/adapters/ceph/errors';
import { createApp, type App } from '@/server/app';
import type { SessionUser } from '@/server/domain/auth';
import { AppError } from '@/server/core/errors';
import type { Context } from '@/server/trpc/init';
import { createCaller } from '@/server/trpc/root';
import { openCephLab, pollUntil, type CephLab } from './ceph-lab';
import { cephPool } from '../unit/ceph-pool';

/*
 * Unpairing a live pool through Tandem's API on the two-site lab. The test has a pool of its own
 * (`unpairtest`, created on both clusters and deleted at the end), paired site-a ↔ site-b, with
 * a snapshot-mirrored image (default features) that went through a planned failover to site-b
 * and back: primary on site-a, replaying on site-b. Its demotion snapshot on site-b names
 * site-b's peer for site-a, and Ceph 16.2 cannot unlink a peer from a mirror snapshot of a
 * non-primary image: `rbd mirror pool peer remove` on site-b removes the peer, then fails with
 * `(30) Read-only file system` and exits non-zero. The unpair must judge by the peer lists,
 * keep its 40 s check, and the status afterwards must say what the images really are.
 */

const POOL = 'unpairtest';
const IMG = `unp-${crypto.randomBytes(3).toString('hex')}`;
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
const timings: Record<string, string> = {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

function poll<T>(
  label: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 120_000,
): Promise<T> {
  return pollUntil(label, fn, ok, timeoutMs, 1_000, (ms) => (timings[label] = `${(ms / 1000).toFixed(1)} s`));
}

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

const ceph = (ad: CephCliAdapter, args: string[]) =>
  ad.exec('ceph', args, { action: `ceph ${args.slice(0, 3).join(' ')}`, pool: POOL });

async function dropPool(ad: CephCliAdapter) {
  await ceph(ad, ['osd', 'pool', 'rm', POOL, POOL, '--yes-i-really-really-mean-it']);
}

async function poolExists(ad: CephCliAdapter): Promise<boolean> {
  const names = JSON.parse((await ceph(ad, ['osd', 'pool', 'ls', '--format', 'json'])).stdout) as string[];
  return names.includes(POOL);
}

/** Demote on one side, then promote on the other once the demotion snapshot has arrived (lab notes, pitfall 3). */
async function switchPrimary(from: CephCliAdapter, to: CephCliAdapter, label: string) {
  const t0 = Date.now();
  await from.demoteImage(POOL, '', IMG);
  for (;;) {
    try {
      await to.promoteImage(POOL, '', IMG);
      break;
    } catch (e) {
      // Ceph 16.2 also refuses with exit 16 "image is primary within a remote cluster or demotion is
      // not propagated yet", which errors.ts does not map (a COMMAND_FAILED).
      if (
        !(isRetryableCephError(e) || AppError.is(e, 'CONFLICT') || AppError.is(e, 'COMMAND_FAILED')) ||
        Date.now() - t0 > 60_000
      )
        throw e;
      await sleep(1_000);
    }
  }
  await poll(
    `${label}: the old primary replays`,
    () => from.getImageMirrorStatus(POOL, '', IMG),
    (s) => s.rawState === 'up+replaying',
  );
  timings[label] = secs(t0);
}

async function imageOn(siteId: number) {
  const p = await cephPool(caller, siteId, POOL);
  return p?.images.find((i) => i.name === IMG);
}

beforeAll(async () => {
  lab = await openCephLab();
  a = lab.adapter('site-a');
  b = lab.adapter('site-b');
  // Left over from an interrupted run: the pool is this test's own.
  for (const ad of [a, b]) if (await poolExists(ad)) await dropPool(ad);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-ceph-unpair-'));
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
  // Unpaired first (a daemon that still has the pool as a peer would otherwise keep an old pool
  // replayer), then the pool with its images goes on both clusters.
  for (const ad of [a, b]) {
    if (!ad) continue;
    for (let i = 0; i < 3; i++) {
      const peers = await ad.getPoolMirrorInfo(POOL).then(
        (x) => x.peers,
        () => [],
      );
      for (const p of peers) await ad.removePeer(POOL, p.uuid).catch(() => undefined);
      if (!peers.length) break;
    }
  }
  for (const ad of [a, b])
    if (ad && (await poolExists(ad).catch(() => false)))
      await dropPool(ad).catch((e) =>
        console.log(`[ceph-unpair] could not remove pool ${POOL}: ${(e as Error).message}`),
      );
  console.log(`[ceph-unpair] timings: ${JSON.stringify(timings)}`);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('unpairing a live pool', () => {
  it('sets up the pair: an image primary on site-a and replaying on site-b, after a planned failover and back', async () => {
    const t0 = Date.now();
    for (const ad of [a, b]) {
      await ceph(ad, ['osd', 'pool', 'create', POOL, '8', '8']);
      await ad.exec('rbd', ['pool', 'init', POOL], { action: `init ${POOL}`, pool: POOL });
      await ad.setPoolMirrorMode(POOL, '', 'image');
    }
    await finished(
      (await caller.ceph.pair({ fromSiteId: A, toSiteId: B, pool: POOL, direction: 'rx-tx' })).taskId,
    );
    await poll(
      'site-a lists site-b as its peer',
      () => a.getPoolMirrorInfo(POOL),
      (i) => i.peers.some((p) => p.siteName === 'site-b'),
    );
    // Default features (object-map, fast-diff …), as an image made with plain `rbd create`.
    await a.createImage(POOL, '', IMG, 32 * MiB);
    await a.writeImage(POOL, '', IMG, 0, crypto.randomBytes(MiB));
    await finished(
      (await caller.ceph.image({ siteId: A, pool: POOL, image: IMG, op: 'enable', mode: 'snapshot' })).taskId,
    );
    await poll(
      'site-b replays the image',
      () => b.getImageMirrorStatus(POOL, '', IMG),
      (s) => s.rawState === 'up+replaying',
      150_000,
    );
    await switchPrimary(a, b, 'planned failover to site-b');
    await switchPrimary(b, a, 'planned failback to site-a');
    expect((await a.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(true);
    expect((await b.getImageInfo(POOL, '', IMG)).mirroring.primary).toBe(false);
    // What makes Ceph's peer removal fail on site-b: a mirror snapshot there names site-b's peer.
    const peerOnB = (await b.getPoolMirrorInfo(POOL)).peers.find((p) => p.siteName === 'site-a')!.uuid;
    const snaps = await b.listImageSnapshots(POOL, '', IMG);
    expect(snaps.some((s) => s.mirror?.mirrorPeerUuids.includes(peerOnB))).toBe(true);
    timings['setup'] = secs(t0);
  });

  it('unpairs: both peers are gone, Ceph’s error from the non-primary image is a warning, the 40 s check runs, history says success', async () => {
    const t0 = Date.now();
    const { taskId } = await caller.ceph.unpair({ siteId: A, otherSiteId: B, pool: POOL });
    const t = await app.tasks.wait(taskId);
    timings['unpair task'] = secs(t0);
    const logs = app.tasks.logs(taskId);
    console.log(
      `[ceph-unpair] unpair task log:\n${logs.map((l) => `  ${l.level}: ${l.message}`).join('\n')}`,
    );
    expect(t.state, `${t.error}\n${logs.map((l) => `${l.level}: ${l.message}`).join('\n')}`).toBe('finished');
    expect((t.result as { removed: number }).removed).toBeGreaterThanOrEqual(2);
    for (const ad of [a, b]) expect((await ad.getPoolMirrorInfo(POOL)).peers).toEqual([]);
    // Ceph's own words are kept, as a warning naming the cluster.
    expect(
      logs.some(
        (l) =>
          l.level === 'warn' &&
          /site-b\/unpairtest/.test(l.message) &&
          /\(30\) Read-only file system/.test(l.message) &&
          /error removing mirror peer/.test(l.message),
      ),
    ).toBe(true);
    expect(logs.map((l) => l.message)).toContain(
      'checking for 40 s that no rbd-mirror registers itself again',
    );
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40_000);
    const h = app.history
      .list({ action: 'ceph.unpair' }, { limit: 5, offset: 0 })
      .rows.find((r) => r.taskId === taskId);
    expect(h).toMatchObject({ outcome: 'success', username: operator.username });
  });

  it('shows both images as they are afterwards: not an issue, role and mode known, not replicating for want of a peer', async () => {
    // The statuses rbd-mirror left behind settle within seconds of the unpair (which waited 40 s).
    const onB = await poll(
      'site-b: the image is not replicating',
      () => imageOn(B),
      (i) => i?.group === 'idle',
      60_000,
    );
    expect(onB!.mirroring).toMatchObject({ primary: false, mode: 'snapshot' });
    expect(onB!.reason).toMatch(/no peer: not replicating/);
    const onA = await poll(
      'site-a: the image is not replicating',
      () => imageOn(A),
      (i) => i?.group === 'idle',
      60_000,
    );
    expect(onA!.mirroring).toMatchObject({ primary: true, mode: 'snapshot' });
    expect(onA!.reason).toMatch(/no peer: not replicating/);
    for (const [site, i] of [
      ['site-a', onA!],
      ['site-b', onB!],
    ] as const)
      console.log(
        `[ceph-unpair] ${site}: ${i.mirroring!.rawState} "${i.mirroring!.rawDescription}" → ${i.group}: ${i.reason}`,
      );
    // Longer than rbd-mirror's peer refresh: nothing came back.
    for (const ad of [a, b]) expect((await ad.getPoolMirrorInfo(POOL)).peers).toEqual([]);
  });
});
