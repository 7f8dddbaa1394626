import crypto from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { isRetryableCephError } from '@/server/adapters/ceph/errors';
import { promoteReadiness } from '@/server/domain/ceph/failover';
import { nextRunOf } from '@/server/adapters/ceph/schedule';
import { decodeBootstrapToken } from '@/server/adapters/ceph/token';
import type { CephLabImages } from '@/server/adapters/ceph/lab-images';
import type { CephAdapter, ImageMirrorStatus } from '@/server/adapters/ceph/types';
import { AppError } from '@/server/core/errors';
import { cephLabScript, openCephLab, pollUntil, type CephLab } from './ceph-lab';

/*
 * CephCliAdapter against the real two-site lab (scripts/lab/ceph-sites.sh up): pool `rbd`
 * (image mode, unpaired at start) and `rbd2` (mirroring disabled) on site-a and site-b.
 * The steps depend on each other and run in order: pairing by bootstrap token, a
 * snapshot-mirrored image, schedules, journaling, pool modes, a planned failover and
 * failback, a forced promote with split-brain and resync, then everything is undone so
 * that the pools are unpaired and clean again.
 */

const POOL = 'rbd';
const PLAIN = 'rbd2';
const SUFFIX = crypto.randomBytes(3).toString('hex');
const IMG = `it-snap-${SUFFIX}`;
const JIMG = `it-journal-${SUFFIX}`;
const NS = `itns${SUFFIX}`;
const MiB = 1024 * 1024;

/** Every method of the CephAdapter interface; the test fails if one was never called. */
const INTERFACE_METHODS = [
  'probe',
  'listMirrorPools',
  'listRbdPools',
  'getPoolMirrorInfo',
  'getPoolMirrorStatus',
  'getPoolMirrorStatusVerbose',
  'setPoolMirrorMode',
  'getSiteName',
  'setSiteName',
  'createBootstrapToken',
  'importBootstrapToken',
  'setPeerClient',
  'setPeerMonHost',
  'setPeerSiteName',
  'setPeerDirection',
  'removePeer',
  'enableJournaling',
  'disableJournaling',
  'listSnapshotSchedules',
  'addSnapshotSchedule',
  'removeSnapshotSchedule',
  'getSnapshotScheduleStatus',
  'listImages',
  'getImageInfo',
  'getImageMirrorStatus',
  'enableImageMirroring',
  'disableImageMirroring',
  'promoteImage',
  'demoteImage',
  'resyncImage',
  'createMirrorSnapshot',
  'listImageSnapshots',
  'createImage',
  'removeImage',
  'imageChecksum',
  'writeImage',
  'listMirrorDaemons',
  'refreshStatus',
] as const satisfies readonly (keyof (CephAdapter & CephLabImages))[];

const called = new Set<string>();

/** Records which interface methods are used (cleanup in afterAll is not recorded). */
function recording(inner: CephCliAdapter): CephCliAdapter {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v === 'function' && typeof prop === 'string') {
        return (...args: unknown[]) => {
          called.add(prop);
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return v;
    },
  });
}

let lab: CephLab;
let rawA: CephCliAdapter;
let rawB: CephCliAdapter;
let a: CephCliAdapter;
let b: CephCliAdapter;
let fsidA = '';
let peerOnA = '';
let peerOnB = '';
const timings: Record<string, string> = {};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const secs = (t0: number) => ((Date.now() - t0) / 1000).toFixed(1);

function log(msg: string) {
  console.log(`[ceph-adapter] ${msg}`);
}

/** Polls (see pollUntil) and records how long it took under `label`. */
function poll<T>(
  label: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 90_000,
  everyMs = 1_000,
): Promise<T> {
  return pollUntil(label, fn, ok, timeoutMs, everyMs, (ms) => {
    timings[label] = `${(ms / 1000).toFixed(1)} s`;
    log(`${label}: ${timings[label]}`);
  });
}

/** Promote, retrying the transient refusals right after the peer's demote (lab notes, pitfall 3). */
async function promoteWithRetry(site: CephAdapter, label: string, timeoutMs = 60_000): Promise<number> {
  const t0 = Date.now();
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await site.promoteImage(POOL, '', IMG);
      timings[label] = `${secs(t0)} s, ${attempts} attempt(s)`;
      log(`${label}: promoted after ${attempts} attempt(s) in ${secs(t0)} s`);
      return attempts;
    } catch (e) {
      const retry =
        isRetryableCephError(e) || (AppError.is(e) && ['CONFLICT', 'COMMAND_FAILED'].includes(e.code));
      log(
        `${label}: attempt ${attempts} refused (${AppError.is(e) ? e.code : 'error'}: …${(e as Error).message.slice(-260)})`,
      );
      if (!retry || Date.now() - t0 > timeoutMs) throw e;
      await sleep(1_000);
    }
  }
}

const status = (site: CephAdapter) => () => site.getImageMirrorStatus(POOL, '', IMG);
const isReplaying = (s: ImageMirrorStatus) => s.rawState === 'up+replaying';
const isPrimaryStatus = (s: ImageMirrorStatus) => s.description.localPrimary;

/** Set when the lab is missing or not in its starting state: every test then fails with it. */
let labError: Error | null = null;

beforeAll(async () => {
  try {
    await openAndCheckLab();
  } catch (e) {
    labError = e as Error;
  }
});

beforeEach(() => {
  if (labError) throw labError;
});

async function openAndCheckLab() {
  lab = await openCephLab();
  rawA = lab.adapter('site-a');
  rawB = lab.adapter('site-b');
  a = recording(rawA);
  b = recording(rawB);
  for (const [name, site] of [
    ['site-a', rawA],
    ['site-b', rawB],
  ] as const) {
    const info = await site.getPoolMirrorInfo(POOL);
    if (info.peers.length > 0) {
      throw new Error(
        `pool ${POOL} on ${name} is already paired (${info.peers.length} peer(s)); this test starts from unpaired pools: run \`bash scripts/lab/ceph-sites.sh unpair\``,
      );
    }
    if (info.mode !== 'image')
      throw new Error(
        `pool ${POOL} on ${name} is in mode ${info.mode}, expected image; recreate the lab (ceph-sites.sh down && up)`,
      );
    if ((await site.getPoolMirrorInfo(PLAIN)).mode !== 'disabled')
      throw new Error(`pool ${PLAIN} on ${name} has mirroring enabled; the lab is not clean`);
  }
}

afterAll(async () => {
  if (!rawA || !rawB || labError) return;
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      if (!AppError.is(e, 'NOT_FOUND')) problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  // schedules, journal image, namespace, rbd2 mode, site names
  await attempt('schedules', async () => {
    for (const e of await rawA.listSnapshotSchedules()) {
      if (e.image === IMG || e.image === JIMG || (e.level === 'pool' && e.pool === POOL)) {
        await rawA.removeSnapshotSchedule({
          pool: e.pool ?? undefined,
          namespace: e.namespace ?? undefined,
          image: e.image ?? undefined,
        });
      }
    }
  });
  for (const site of [rawA, rawB]) {
    for (const img of [IMG, JIMG]) {
      await attempt(`disable mirroring of ${img}`, async () => {
        const info = await site.getImageInfo(POOL, '', img);
        if (info.mirroring.state !== 'disabled')
          await site.disableImageMirroring(POOL, '', img, { force: true });
      });
    }
  }
  await sleep(2_000);
  for (const site of [rawA, rawB]) {
    for (const img of [IMG, JIMG]) await attempt(`remove ${img}`, () => site.removeImage(POOL, '', img));
    await attempt('namespace', async () => {
      const pools = await site.listRbdPools();
      if (pools.find((p) => p.name === POOL)?.namespaces.includes(NS)) {
        if ((await site.getPoolMirrorInfo(POOL, NS)).mode !== 'disabled')
          await site.setPoolMirrorMode(POOL, NS, 'disabled');
        await site.exec('rbd', ['namespace', 'remove', `${POOL}/${NS}`], { action: 'remove namespace' });
      }
    });
    await attempt('rbd2 mode', async () => {
      if ((await site.getPoolMirrorInfo(PLAIN)).mode !== 'disabled')
        await site.setPoolMirrorMode(PLAIN, '', 'disabled');
    });
    await attempt('peers', async () => {
      for (const p of (await site.getPoolMirrorInfo(POOL)).peers) await site.removePeer(POOL, p.uuid);
    });
  }
  await attempt('site names', async () => {
    if ((await rawA.getSiteName(POOL)) !== 'site-a') await rawA.setSiteName(POOL, 'image', 'site-a');
    if ((await rawB.getSiteName(POOL)) !== 'site-b') await rawB.setSiteName(POOL, 'image', 'site-b');
  });
  log(`timings: ${JSON.stringify(timings)}`);
  if (problems.length) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
});

describe.sequential('CephCliAdapter on the two-site lab', () => {
  it('probes both sites and reads pools, status, daemons', async () => {
    const [pa, pb] = await Promise.all([a.probe(), b.probe()]);
    expect(pa.health).toBe('HEALTH_OK');
    expect(pb.health).toBe('HEALTH_OK');
    expect(pa.fsid).not.toBe(pb.fsid);
    expect(pa.version).toMatch(/ceph version 16\.2/);
    fsidA = pa.fsid;

    const pools = await a.listRbdPools();
    expect(pools.map((p) => p.name).sort()).toEqual([POOL, PLAIN]);
    const info = await a.getPoolMirrorInfo(POOL);
    expect(info).toMatchObject({ mode: 'image', siteName: 'site-a', peers: [] });
    expect((await b.getPoolMirrorInfo(PLAIN)).mode).toBe('disabled');
    const st = await a.getPoolMirrorStatus(POOL);
    expect(st.summary.imageHealth).toBe('OK');
    const verbose = await b.getPoolMirrorStatusVerbose(POOL);
    expect(verbose.daemons.length).toBeGreaterThan(0);
    expect(verbose.daemons[0]).toMatchObject({ clientId: 'lab', version: '16.2.15' });
    const summaries = await a.listMirrorPools();
    expect(summaries.find((p) => p.pool === POOL)).toMatchObject({ mode: 'image', siteName: 'site-a' });
    const daemons = await a.listMirrorDaemons();
    expect(daemons).toHaveLength(1);
    expect(daemons[0]).toMatchObject({ daemonId: 'lab', version: '16.2.15' });
    await expect(a.getPoolMirrorInfo('--all')).rejects.toThrow(/not a valid name/);
  });

  it('gets and sets the site name, then restores it', async () => {
    expect(await a.getSiteName(POOL)).toBe('site-a');
    expect(await a.getSiteName(PLAIN)).toBeNull();
    await a.setSiteName(POOL, 'image', 'site-a-renamed');
    expect(await a.getSiteName(POOL)).toBe('site-a-renamed');
    await a.setSiteName(POOL, 'image', 'site-a');
    expect(await a.getSiteName(POOL)).toBe('site-a');
  });

  it('pairs the pools with a bootstrap token (site-a → site-b, rx-tx)', async () => {
    const token = await a.createBootstrapToken(POOL, { siteName: 'site-a' });
    const decoded = decodeBootstrapToken(token);
    expect(decoded.fsid).toBe(fsidA);
    expect(decoded.clientId).toBe('rbd-mirror-peer');
    expect(decoded.monHost).toContain('127.0.0.1:13300');
    expect(decoded).not.toHaveProperty('key');
    await b.importBootstrapToken(POOL, token, { direction: 'rx-tx', siteName: 'site-b' });
    const [ia, ib] = await Promise.all([a.getPoolMirrorInfo(POOL), b.getPoolMirrorInfo(POOL)]);
    expect(ia.peers).toHaveLength(1);
    expect(ib.peers).toHaveLength(1);
    expect(ia.peers[0]).toMatchObject({
      siteName: 'site-b',
      direction: 'rx-tx',
      clientName: 'client.rbd-mirror-peer',
    });
    expect(ib.peers[0]).toMatchObject({
      siteName: 'site-a',
      direction: 'rx-tx',
      monHost: expect.stringContaining('13300'),
    });
    expect(JSON.stringify([ia, ib])).not.toMatch(/"key"/);
    peerOnA = ia.peers[0]!.uuid;
    peerOnB = ib.peers[0]!.uuid;
    // a pool with peers cannot have mirroring disabled
    const refused = await a.setPoolMirrorMode(POOL, '', 'disabled').catch((x: unknown) => x);
    expect(AppError.is(refused, 'PRECONDITION_FAILED')).toBe(true);
    expect((refused as Error).message).toMatch(/remove the peers first/);
  });

  it('changes peer settings and restores them (on a peer that no remote daemon pings)', async () => {
    // A live remote rbd-mirror re-asserts its own peer entry (mirror_peer_ping): within seconds it
    // turns rx-only back into rx-tx, and after a rename it adds its site name again as a second,
    // tx-only peer. So the edits run on a peer of rbd2 that names a cluster that does not exist.
    await b.setPoolMirrorMode(PLAIN, '', 'image');
    await rawB.exec('rbd', ['mirror', 'pool', 'peer', 'add', PLAIN, 'client.rbd-mirror-peer@site-z'], {
      action: 'add a test peer',
    });
    const peer = (await b.getPoolMirrorInfo(PLAIN)).peers.find((p) => p.siteName === 'site-z')!;
    expect(peer).toMatchObject({ direction: 'rx-tx', clientName: 'client.rbd-mirror-peer' });
    await b.setPeerSiteName(PLAIN, peer.uuid, 'site-z-alias');
    await b.setPeerDirection(PLAIN, peer.uuid, 'rx-only');
    await b.setPeerClient(PLAIN, peer.uuid, 'client.rbd-mirror-other');
    await b.setPeerMonHost(PLAIN, peer.uuid, '[v2:127.0.0.1:13399/0]');
    expect((await b.getPoolMirrorInfo(PLAIN)).peers[0]).toMatchObject({
      uuid: peer.uuid,
      siteName: 'site-z-alias',
      direction: 'rx-only',
      clientName: 'client.rbd-mirror-other',
      monHost: '[v2:127.0.0.1:13399/0]',
    });
    await b.setPeerSiteName(PLAIN, peer.uuid, 'site-z');
    await b.setPeerDirection(PLAIN, peer.uuid, 'rx-tx');
    await b.setPeerClient(PLAIN, peer.uuid, 'client.rbd-mirror-peer');
    expect((await b.getPoolMirrorInfo(PLAIN)).peers[0]).toMatchObject({
      siteName: 'site-z',
      direction: 'rx-tx',
      clientName: 'client.rbd-mirror-peer',
    });
    const missing = await b
      .setPeerSiteName(PLAIN, '00000000-0000-0000-0000-000000000000', 'x')
      .catch((x: unknown) => x);
    expect(AppError.is(missing, 'NOT_FOUND'), String(missing)).toBe(true);
    await b.removePeer(PLAIN, peer.uuid);
    expect((await b.getPoolMirrorInfo(PLAIN)).peers).toEqual([]);
    await b.setPoolMirrorMode(PLAIN, '', 'disabled');
    // The real peer of rbd is untouched.
    expect((await b.getPoolMirrorInfo(POOL)).peers).toMatchObject([
      { uuid: peerOnB, siteName: 'site-a', direction: 'rx-tx' },
    ]);
    // rbd-mirror reads peers at start; restart it as an operator would after changing them.
    await cephLabScript('restart-mirror', 'site-b');
  });

  it('mirrors a new image by snapshots: replaying on site-b, same checksum', async () => {
    await a.createImage(POOL, '', IMG, 64 * MiB);
    const dup = await a.createImage(POOL, '', IMG, 64 * MiB).catch((x: unknown) => x);
    expect(AppError.is(dup, 'ALREADY_EXISTS')).toBe(true);
    await a.enableImageMirroring(POOL, '', IMG, 'snapshot');
    await a.writeImage(POOL, '', IMG, 1 * MiB, crypto.randomBytes(MiB));
    const { snapshotId } = await a.createMirrorSnapshot(POOL, '', IMG);
    expect(snapshotId).toMatch(/^\d+$/);
    const t0 = Date.now();
    await poll('initial replay (site-b up+replaying)', status(b), isReplaying, 90_000);
    await poll(
      'mirror snapshot complete on site-b',
      () => b.listImageSnapshots(POOL, '', IMG),
      (snaps) => snaps.some((s) => s.mirror?.primarySnapId === snapshotId && s.mirror.complete),
      60_000,
    );
    timings['image create → replaying + snapshot copied'] = `${secs(t0)} s`;

    const infoA = await a.getImageInfo(POOL, '', IMG);
    const infoB = await b.getImageInfo(POOL, '', IMG);
    expect(infoA.mirroring).toMatchObject({ mode: 'snapshot', state: 'enabled', primary: true });
    expect(infoB.mirroring).toMatchObject({
      mode: 'snapshot',
      primary: false,
      globalId: infoA.mirroring.globalId,
    });
    const snapsA = await a.listImageSnapshots(POOL, '', IMG);
    expect(snapsA.find((s) => s.id === snapshotId)?.mirror).toMatchObject({
      state: 'primary',
      primary: true,
      complete: true,
    });

    const before = rawA.cliCalls;
    const listA = await a.listImages(POOL);
    expect(rawA.cliCalls - before).toBe(2);
    expect(listA.find((i) => i.name === IMG)?.mirroring).toMatchObject({ primary: true, state: 'stopped' });
    const listB = await b.listImages(POOL);
    expect(listB.find((i) => i.name === IMG)?.mirroring).toMatchObject({
      primary: false,
      state: 'replaying',
      mode: 'snapshot',
    });

    const sa = await a.getImageMirrorStatus(POOL, '', IMG);
    expect(sa.description.localPrimary).toBe(true);
    await poll(
      'site-a sees the peer replaying',
      status(a),
      (s) => s.peerSites[0]?.state === 'replaying',
      60_000,
    );

    const [ca, cb] = await Promise.all([a.imageChecksum(POOL, '', IMG), b.imageChecksum(POOL, '', IMG)]);
    expect(cb).toBe(ca);
    log(`checksum ${ca} on both sites`);
  });

  it('refreshes a whole cluster in O(pools) CLI calls', async () => {
    const before = rawB.cliCalls;
    const snap = await b.refreshStatus();
    expect(rawB.cliCalls - before).toBe(snap.cliCalls);
    const rbd = snap.pools.find((p) => p.pool === POOL && p.namespace === '')!;
    expect(rbd.images.find((i) => i.name === IMG)?.mirroring?.state).toBe('replaying');
    expect(rbd.peers).toHaveLength(1);
    expect(snap.daemons[0]).toMatchObject({ daemonId: 'lab', leader: true });
    timings['refreshStatus CLI calls (2 pools, discovery)'] = String(snap.cliCalls);
    log(
      `refreshStatus: ${snap.cliCalls} CLI calls for ${snap.pools.length} pool(s)/namespace(s), ${snap.pools.reduce((n, p) => n + p.images.length, 0)} image(s)`,
    );
    const named = await b.refreshStatus([POOL]);
    log(`refreshStatus([${POOL}]): ${named.cliCalls} CLI calls`);
    expect(named.cliCalls).toBe(1 + 1 + 1 + 1 + 2);
  });

  it('adds, lists, reports and removes snapshot schedules at pool and image level', async () => {
    await a.addSnapshotSchedule({ pool: POOL }, '30m');
    await a.addSnapshotSchedule({ pool: POOL, image: IMG }, '3m', '00:01');
    const all = await a.listSnapshotSchedules();
    expect(all.find((e) => e.level === 'pool' && e.pool === POOL)?.items).toEqual([
      { interval: '30m', startTime: null },
    ]);
    expect(all.find((e) => e.level === 'image' && e.image === IMG)?.items).toEqual([
      { interval: '3m', startTime: '00:01:00' },
    ]);
    expect((await a.listSnapshotSchedules({ pool: POOL, image: IMG })).map((e) => e.level)).toEqual([
      'image',
    ]);

    const st = await poll(
      'schedule status lists the image',
      () => a.getSnapshotScheduleStatus({ pool: POOL }),
      (s) => s.some((x) => x.image === IMG),
      90_000,
      2_000,
    );
    const row = st.find((x) => x.image === IMG)!;
    // the image level overrides the pool level; the mgr runs in UTC here
    const expected = nextRunOf([{ interval: '3m', startTime: '00:01' }], Date.now() - 60_000)!;
    const shown = new Date(`${row.scheduleTime.replace(' ', 'T')}Z`).getTime();
    expect(Math.abs(shown - expected.getTime()) % (3 * 60_000)).toBe(0);
    expect(new Date(shown).getUTCMinutes() % 3).toBe(1);
    log(`next scheduled snapshot of ${IMG}: ${row.scheduleTime}`);
    expect((await a.getSnapshotScheduleStatus({ pool: POOL, image: IMG }))[0]?.scheduleTime).toBe(
      row.scheduleTime,
    );

    await a.removeSnapshotSchedule({ pool: POOL, image: IMG }, '3m', '00:01');
    await a.removeSnapshotSchedule({ pool: POOL }, '30m');
    const after = await a.listSnapshotSchedules();
    expect(after.some((e) => e.image === IMG || (e.level === 'pool' && e.pool === POOL))).toBe(false);
    expect(await a.listSnapshotSchedules({ pool: PLAIN })).toEqual([]);
  });

  it('turns journaling on and off, per image and per pool, and mirrors by journal', async () => {
    await a.createImage(POOL, '', JIMG, 16 * MiB, ['layering', 'exclusive-lock']);
    await a.enableJournaling(POOL, '', JIMG);
    expect((await a.getImageInfo(POOL, '', JIMG)).features).toContain('journaling');
    await a.disableJournaling(POOL, '', JIMG);
    expect((await a.getImageInfo(POOL, '', JIMG)).features).not.toContain('journaling');
    await a.enableJournaling(POOL, '', JIMG);
    await a.enableImageMirroring(POOL, '', JIMG, 'journal');
    await a.writeImage(POOL, '', JIMG, 0, crypto.randomBytes(64 * 1024));
    const s = await poll(
      'journal image replaying on site-b',
      () => b.getImageMirrorStatus(POOL, '', JIMG),
      isReplaying,
      90_000,
    );
    expect(s.description.entriesBehindPrimary).not.toBeNull();
    const refused = await a.disableJournaling(POOL, '', JIMG).catch((x: unknown) => x);
    expect(AppError.is(refused, 'PRECONDITION_FAILED')).toBe(true);
    await a.disableImageMirroring(POOL, '', JIMG);
    // disabling is asynchronous: the image shows `disabling` until its peer let go of it
    const disabled = await poll(
      'journal mirroring disabled',
      () => a.getImageInfo(POOL, '', JIMG),
      (i) => i.mirroring.state === 'disabled',
      60_000,
    );
    // Ceph drops the journaling feature together with journal-based mirroring
    expect(disabled.features).not.toContain('journaling');
    await a.enableJournaling(POOL, '', JIMG);
    expect((await a.getImageInfo(POOL, '', JIMG)).features).toContain('journaling');
    await a.disableJournaling(POOL, '', JIMG);
    expect((await a.getImageInfo(POOL, '', JIMG)).features).not.toContain('journaling');
    await a.removeImage(POOL, '', JIMG);
    await poll(
      'journal image gone from site-b',
      () => b.listImages(POOL),
      (l) => !l.some((i) => i.name === JIMG),
      90_000,
      2_000,
    );
  });

  it('sets the mirror mode of rbd2 (image → pool → disabled) and of a namespace', async () => {
    await a.setPoolMirrorMode(PLAIN, '', 'image');
    expect((await a.getPoolMirrorInfo(PLAIN)).mode).toBe('image');
    await a.setPoolMirrorMode(PLAIN, '', 'pool');
    expect((await a.getPoolMirrorInfo(PLAIN)).mode).toBe('pool');
    await a.setPoolMirrorMode(PLAIN, '', 'disabled');
    expect((await a.getPoolMirrorInfo(PLAIN)).mode).toBe('disabled');

    await rawA.exec('rbd', ['namespace', 'create', `${POOL}/${NS}`], { action: 'create namespace' });
    expect((await a.listRbdPools()).find((p) => p.name === POOL)?.namespaces).toContain(NS);
    await a.setPoolMirrorMode(POOL, NS, 'image');
    const nsInfo = await a.getPoolMirrorInfo(POOL, NS);
    expect(nsInfo).toMatchObject({ namespace: NS, mode: 'image', siteName: 'site-a' });
    expect(nsInfo.peers).toHaveLength(1);
    expect(await a.listImages(POOL, NS)).toEqual([]);
    const snap = await a.refreshStatus([POOL]);
    expect(snap.pools.map((p) => `${p.namespace}:${p.mode}`)).toEqual([':image', `${NS}:image`]);
    await a.setPoolMirrorMode(POOL, NS, 'disabled');
    await rawA.exec('rbd', ['namespace', 'remove', `${POOL}/${NS}`], { action: 'remove namespace' });
  });

  it('planned failover to site-b and failback to site-a', async () => {
    const t0 = Date.now();
    await a.demoteImage(POOL, '', IMG);
    const readiness = promoteReadiness(await b.listImageSnapshots(POOL, '', IMG));
    log(`right after demote, site-b promote readiness: ${readiness.ready ? 'ready' : readiness.reason}`);
    await promoteWithRetry(b, 'failover promote on site-b (after demote on site-a)');
    await poll('failover: site-a replaying from site-b', status(a), isReplaying, 90_000);
    timings['planned failover total'] = `${secs(t0)} s`;

    const refused = await a.writeImage(POOL, '', IMG, 0, Buffer.from('x')).catch((x: unknown) => x);
    expect(AppError.is(refused, 'CONFLICT')).toBe(true);
    await b.writeImage(POOL, '', IMG, 8 * MiB, crypto.randomBytes(MiB));
    const { snapshotId } = await b.createMirrorSnapshot(POOL, '', IMG);
    await poll(
      'write on site-b copied to site-a',
      () => a.listImageSnapshots(POOL, '', IMG),
      (s) => s.some((x) => x.mirror?.primarySnapId === snapshotId && x.mirror.complete),
      60_000,
    );
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(await b.imageChecksum(POOL, '', IMG));

    const t1 = Date.now();
    await b.demoteImage(POOL, '', IMG);
    await promoteWithRetry(a, 'failback promote on site-a (after demote on site-b)');
    await poll('failback: site-b replaying from site-a', status(b), isReplaying, 90_000);
    timings['failback total'] = `${secs(t1)} s`;
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(await b.imageChecksum(POOL, '', IMG));
  });

  it('forced promote on site-b while site-a is primary: split-brain, then demote + resync', async () => {
    await b.promoteImage(POOL, '', IMG, { force: true });
    await b.writeImage(POOL, '', IMG, 0, Buffer.from('diverged on site-b'));
    await poll(
      'both sides primary',
      async () => [await a.getImageMirrorStatus(POOL, '', IMG), await b.getImageMirrorStatus(POOL, '', IMG)],
      ([x, y]) => isPrimaryStatus(x!) && isPrimaryStatus(y!),
      60_000,
    );
    await b.demoteImage(POOL, '', IMG);
    const sb = await poll(
      'split-brain visible on site-b',
      status(b),
      (s) => s.description.splitBrain,
      90_000,
    );
    expect(sb.rawState).toBe('up+error');
    await poll(
      'site-a sees the split-brain of its peer',
      status(a),
      (s) => s.peerSites[0]?.description.splitBrain === true,
      60_000,
    );
    const pool = await b.getPoolMirrorStatus(POOL);
    expect(pool.summary.states.error).toBe(1);

    const t0 = Date.now();
    await b.resyncImage(POOL, '', IMG);
    await poll('resync: site-b replaying again', status(b), isReplaying, 180_000, 2_000);
    await a.createMirrorSnapshot(POOL, '', IMG);
    await poll(
      'resync: site-b caught up',
      status(b),
      (s) =>
        isReplaying(s) &&
        s.description.replayState === 'idle' &&
        s.description.localSnapshotTimestamp === s.description.remoteSnapshotTimestamp,
      60_000,
    );
    timings['demote + resync → replaying'] = `${secs(t0)} s`;
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(await a.imageChecksum(POOL, '', IMG));
  });

  it('disables mirroring, removes the images and unpairs both sides', async () => {
    await a.disableImageMirroring(POOL, '', IMG);
    await poll(
      'non-primary copy removed from site-b',
      () => b.listImages(POOL),
      (l) => !l.some((i) => i.name === IMG),
      90_000,
      2_000,
    );
    await a.removeImage(POOL, '', IMG);
    const gone = await a.getImageInfo(POOL, '', IMG).catch((x: unknown) => x);
    expect(AppError.is(gone, 'NOT_FOUND')).toBe(true);
    await a.removePeer(POOL, peerOnA);
    await b.removePeer(POOL, peerOnB);
    expect((await a.getPoolMirrorInfo(POOL)).peers).toEqual([]);
    expect((await b.getPoolMirrorInfo(POOL)).peers).toEqual([]);
  });

  it('exercised every adapter method', () => {
    const missing = INTERFACE_METHODS.filter((m) => !called.has(m));
    expect(missing).toEqual([]);
  });
});
