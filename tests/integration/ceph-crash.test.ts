import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { createApp, type App } from '@/server/app';
import type { Context } from '@/server/trpc/init';
import { createCaller } from '@/server/trpc/root';
import { cephLabScript, openCephLab, pollUntil, type CephLab } from './ceph-lab';
import { cephPool } from '../unit/ceph-pool';
import { rejection } from '../unit/ceph-demo-env';

/*
 * A site of the two-site lab loses power (`ceph-sites.sh crash site-a`: kill -9 of its mon, mgr,
 * OSD and rbd-mirror) and comes back (`ceph-sites.sh start site-a`) with its data. Meanwhile
 * site-b keeps answering, and Tandem shows site-a as unreachable within seconds instead of
 * waiting for Ceph's own timeouts. The lab is left as it was found: both sites up, healthy,
 * unpaired, with one rbd-mirror daemon each.
 */

const POOL = 'rbd';
const IMG = `crash-${crypto.randomBytes(3).toString('hex')}`;
const MiB = 1024 * 1024;
const SIZE = 16 * MiB;

let lab: CephLab;
let a: CephCliAdapter;
let b: CephCliAdapter;
let app: App;
let dir: string;
let caller: ReturnType<typeof createCaller>;
let A = 0;
let B = 0;
let crashed = false;
const timings: Record<string, string> = {};

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function timed<T>(label: string, fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  timings[label] = secs(ms);
  console.log(`[ceph-crash] ${label}: ${secs(ms)}`);
  return { value, ms };
}

beforeAll(async () => {
  lab = await openCephLab();
  a = lab.adapter('site-a');
  b = lab.adapter('site-b');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-ceph-crash-'));
  app = createApp({ dbFile: path.join(dir, 'tandem.db'), dataDir: dir });
  const ctx: Context = {
    app,
    user: { id: 1, username: 'it-admin', role: 'admin' },
    sessionError: null,
    token: undefined,
    origin: 'http://it',
    host: 'it',
    secure: false,
    clientKey: 'it',
    resHeaders: new Headers(),
  };
  caller = createCaller(ctx);
  const ids: Record<string, number> = {};
  for (const s of lab.sites) {
    ids[s.name] = (
      await caller.sites.create({
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
      })
    ).id;
  }
  A = ids['site-a']!;
  B = ids['site-b']!;
});

afterAll(async () => {
  // Whatever failed above, the other test files need site-a up.
  if (crashed) await cephLabScript('start', 'site-a');
  await a?.removeImage(POOL, '', IMG).catch(() => undefined);
  await app?.tasks.shutdown();
  console.log(`[ceph-crash] timings: ${JSON.stringify(timings)}`);
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('a Ceph site that loses power', () => {
  it('comes back with its data; meanwhile the other site answers and Tandem says it is unreachable within seconds', async () => {
    // Data on site-a: two writes into a 16 MiB image, and the checksum of the whole image.
    await a.createImage(POOL, '', IMG, SIZE);
    const expected = Buffer.alloc(SIZE);
    const w1 = crypto.randomBytes(4 * MiB);
    const w2 = crypto.randomBytes(MiB);
    await a.writeImage(POOL, '', IMG, 0, w1);
    await a.writeImage(POOL, '', IMG, 9 * MiB, w2);
    w1.copy(expected, 0);
    w2.copy(expected, 9 * MiB);
    const md5 = crypto.createHash('md5').update(expected).digest('hex');
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(md5);
    const before = await caller.ceph.status({ siteId: A });
    expect(before.state).toBe('answered');
    expect((await cephPool(caller, A, POOL))!.images.map((i) => i.name)).toContain(IMG);

    await timed('crash site-a', () => cephLabScript('crash', 'site-a'));
    crashed = true;

    // site-b does not notice.
    const other = await timed('status of site-b', () => caller.ceph.status({ siteId: B }));
    expect(other.value.state).toBe('answered');
    expect((await b.probe()).health).toBe('HEALTH_OK');

    // site-a: an UNREACHABLE error from the adapter, a state from the status procedure, both
    // bounded by the connect timeout (5 s) rather than Ceph's 30 to 300 s.
    const probe = await timed('probe of crashed site-a', () => rejection(a.probe()));
    expect(probe.value.code).toBe('UNREACHABLE');
    expect(probe.value.message).toMatch(/monitors of cluster site-a did not answer within 5 s/);
    expect(probe.ms).toBeLessThan(10_000);
    const gone = await timed('status of crashed site-a', () => caller.ceph.status({ siteId: A }));
    expect(gone.value).toMatchObject({ state: 'unreachable', pools: [], daemons: [] });
    expect(gone.value.error).toMatch(/site-a did not answer within 5 s/);
    expect(gone.ms).toBeLessThan(10_000);
    // What the page asks: an answer within its wait (1.5 s), here the unreachable state found above.
    const page = await timed('status of crashed site-a as the page asks it (waitMs 1500)', () =>
      caller.ceph.status({ siteId: A, waitMs: 1_500 }),
    );
    expect(page.value.state).toBe('unreachable');
    expect(page.ms).toBeLessThan(5_000);
    // The failover wizard's preview from site-b's page does not wait for site-a again.
    const plan = await timed('failover plan preview site-a → site-b', () =>
      caller.ceph.failoverPlan({ fromSiteId: A, toSiteId: B, pool: POOL }),
    );
    expect(plan.value.mode).toBe('unplanned');
    expect(plan.value.checks.find((c) => c.id === 'from')).toMatchObject({
      status: 'warn',
      message: expect.stringMatching(/unreachable/),
    });
    expect(plan.ms).toBeLessThan(5_000);

    await timed('start site-a', () => cephLabScript('start', 'site-a'));
    crashed = false;

    // Everything written before the power loss is there.
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(md5);
    const back = await pollUntil(
      'site-a answers its status again',
      () => caller.ceph.status({ siteId: A }),
      (s) => s.state === 'answered',
      30_000,
    );
    expect(back.pools.some((p) => p.pool === POOL && p.namespace === '')).toBe(true);
    expect((await cephPool(caller, A, POOL))!.images.map((i) => i.name)).toContain(IMG);
    expect((await a.probe()).health).toBe('HEALTH_OK');
    // One rbd-mirror daemon again (the killed one has left the service map).
    expect(await a.listMirrorDaemons()).toHaveLength(1);
    // `up` leaves healthy sites alone: the data is still there afterwards.
    await timed('up with both sites healthy', () => cephLabScript('up'));
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(md5);

    await a.removeImage(POOL, '', IMG);
  });
});
