import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterOfPeer, hasPrimaryHere, takeoverSources } from '@/components/ceph/takeover';
import { pageImages, poolOverview } from '@/server/domain/ceph/images';
import type { CephStatus } from '@/server/domain/ceph/mirroring';
import { createApp } from '@/server/app';
import { ManualClock } from '@/server/core/clock';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator } from './helpers';

const a = { id: 4, name: 'demo-site-a', config: { siteName: 'demo-site-a' } };
const b = { id: 5, name: 'demo-site-b', config: { siteName: 'demo-site-b' } };
const east = { id: 6, name: 'prague', config: { siteName: 'dr-east' } };
const clusters = [a, b, east];

type Pool = CephStatus['pools'][number];
const img = (name: string, primary: boolean | null, peerSites: string[] = []) => ({
  name,
  group: 'ready',
  sizeBytes: null,
  mirroring: { primary, peerSites: peerSites.map((siteName) => ({ siteName })) },
});
const plain = (name: string) => ({ name, group: 'ready', sizeBytes: null, mirroring: null });
/** A (pool, namespace) as `ceph.status` gives it (counted by the server's poolOverview). */
const entry = (pool: string, namespace: string, peers: string[], images: unknown[]) =>
  poolOverview({
    pool,
    namespace,
    peers: peers.map((siteName) => ({ siteName })),
    images,
  } as unknown as Pool);
/** The images a takeover wizard offers: those not primary here (`ceph.images` with role `not-primary`). */
const takeoverImages = (images: unknown[]) =>
  pageImages(images as Pool['images'], { role: 'not-primary' }).rows.map((i) => i.name);

describe('which registered cluster a peer is', () => {
  it('is the cluster registered with that mirroring site name, else the one of that name', () => {
    expect(clusterOfPeer('dr-east', clusters, b.id)).toBe(east);
    expect(clusterOfPeer('demo-site-a', clusters, b.id)).toBe(a);
    // Registered under the name only (a config without a site name).
    expect(clusterOfPeer('lab', [{ id: 9, name: 'lab' }], b.id)).toMatchObject({ id: 9 });
  });

  it('prefers the site name over a registered name, and is never the cluster itself or an unknown one', () => {
    const renamed = { id: 7, name: 'dr-east', config: { siteName: 'old-east' } };
    expect(clusterOfPeer('dr-east', [renamed, east], b.id)).toBe(east);
    expect(clusterOfPeer('demo-site-b', clusters, b.id)).toBeNull();
    expect(clusterOfPeer('elsewhere', clusters, b.id)).toBeNull();
  });
});

describe('from which clusters a pool or namespace can be taken over', () => {
  const images = [img('vm1', false), img('vm2', false), plain('scratch')];
  const pool = entry('rbd', '', ['demo-site-a'], images);

  it('from the registered peer of the pool while its images are not primary here', () => {
    expect(takeoverSources([pool], pool, clusters, b.id)).toEqual([a]);
    expect(takeoverImages(images)).toEqual(['vm1', 'vm2']);
    expect(pool.counts).toMatchObject({ total: 3, mirrored: 2, primary: 0, notPrimary: 2 });
    expect(hasPrimaryHere(pool)).toBe(false);
  });

  it('not when every mirrored image is primary here, or nothing is mirrored', () => {
    const done = entry('rbd', '', ['demo-site-a'], [img('vm1', true), img('vm2', true)]);
    expect(takeoverSources([done], done, clusters, b.id)).toEqual([]);
    expect(hasPrimaryHere(done)).toBe(true);
    const none = entry('rbd', '', ['demo-site-a'], [plain('scratch')]);
    expect(takeoverSources([none], none, clusters, b.id)).toEqual([]);
    // Some images already switched: the rest can still be taken over.
    const halfImages = [img('vm1', true), img('vm2', false)];
    const half = entry('rbd', '', ['demo-site-a'], halfImages);
    expect(takeoverSources([half], half, clusters, b.id)).toEqual([a]);
    expect(takeoverImages(halfImages)).toEqual(['vm2']);
  });

  it('a namespace has the peers of its pool', () => {
    const ns = entry('rbd', 'tenant1', [], [img('mail', false)]);
    expect(takeoverSources([pool, ns], ns, clusters, b.id)).toEqual([a]);
    // Without its pool in the status, only what its images report.
    expect(takeoverSources([ns], ns, clusters, b.id)).toEqual([]);
  });

  it('only registered clusters, each once; the site an image replays from counts too', () => {
    const stranger = entry('rbd', '', ['elsewhere'], [img('vm1', false)]);
    expect(takeoverSources([stranger], stranger, clusters, b.id)).toEqual([]);
    const noPeer = entry(
      'rbd',
      '',
      [],
      [img('vm1', false, ['dr-east']), img('vm2', null, ['dr-east', 'demo-site-a'])],
    );
    expect(takeoverSources([noPeer], noPeer, clusters, b.id)).toEqual([east, a]);
    const both = entry('rbd', '', ['demo-site-a', 'dr-east'], [img('vm1', false, ['demo-site-a'])]);
    expect(takeoverSources([both], both, clusters, b.id)).toEqual([a, east]);
  });
});

describe('a demo Ceph cluster powered off (TANDEM_DEMO_DOWN)', () => {
  let stop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await stop?.();
    stop = null;
  });

  it('is unreachable, takes no scheduled snapshots, and the survivor takes its pool over, unplanned, with the data-loss window', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-test-'));
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
    const app = createApp({
      dbFile: ':memory:',
      dataDir: dir,
      clock,
      demoLatencyMs: 0,
      demoDown: ' demo-site-a , ',
    });
    stop = () => app.tasks.shutdown();
    app.demo.create();
    const caller = createCaller(ctxFor(app, operator));
    const [sa, sb] = [app.sites.byName('demo-site-a')!.id, app.sites.byName('demo-site-b')!.id];

    const gone = await caller.ceph.status({ siteId: sa });
    expect(gone).toMatchObject({ state: 'unreachable', pools: [] });
    expect(gone.error).toMatch(/demo-site-a did not answer within 5 s \(powered off in the simulation\)/);

    // An hour later: site-a took no snapshots meanwhile, so site-b's copies are an hour old.
    clock.advance(3600_000);
    const status = await caller.ceph.status({ siteId: sb });
    const rbd = status.pools.find((p) => p.pool === 'rbd' && p.namespace === '')!;
    expect(rbd.counts.mirrored).toBeGreaterThan(0);
    expect(rbd.counts.notPrimary).toBe(rbd.counts.mirrored);
    const sites = app.sites.list().filter((s) => s.kind === 'ceph');
    expect(takeoverSources(status.pools, rbd, sites, sb).map((s) => s.name)).toEqual(['demo-site-a']);

    const input = { fromSiteId: sa, toSiteId: sb, pool: 'rbd', namespace: '' };
    const plan = await caller.ceph.failoverPlan(input);
    expect(plan.mode).toBe('unplanned');
    expect(plan.canProceed).toBe(true);
    expect(plan.splitBrainRisk).toEqual([]);
    expect(plan.checks.find((c) => c.id === 'from')).toMatchObject({
      status: 'warn',
      label: 'Primary cluster reachable',
    });
    expect(plan.checks.find((c) => c.id === 'from')!.message).toMatch(/^unreachable \(/);
    expect(plan.images).toHaveLength(5);
    for (const i of plan.images) {
      expect(i.lastSyncedAt).not.toBeNull();
      expect(i.dataLossWindowSec).toBe(Math.round((clock.now() - i.lastSyncedAt!) / 1000));
      expect(i.dataLossWindowSec!).toBeGreaterThanOrEqual(3600);
    }

    const { taskId } = await caller.ceph.failover({ ...input, confirm: 'rbd' });
    const t = await app.tasks.wait(taskId);
    expect([t.state, t.error]).toEqual(['finished', null]);
    expect([t.kind, t.params?.mode, t.params?.pool]).toEqual(['ceph.failover', 'unplanned', 'rbd']);
    const after = (await caller.ceph.status({ siteId: sb })).pools.find(
      (p) => p.pool === 'rbd' && p.namespace === '',
    )!;
    expect(after.counts.primary).toBe(after.counts.mirrored);
    expect(takeoverSources(status.pools, after, sites, sb)).toEqual([]);
  });
});
