import { afterEach, describe, expect, it } from 'vitest';
import type { CephAdapter } from '@/server/adapters/ceph/types';
import { previewPlan, type CephFailoverPlan } from '@/server/domain/ceph/failover';
import { keptCopyOf, pageImages, poolOverview } from '@/server/domain/ceph/images';
import type { CephStatus, ImageGroup, StatusImage } from '@/server/domain/ceph/mirroring';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator, testApp } from './helpers';

type Pool = CephStatus['pools'][number];

function image(
  name: string,
  group: ImageGroup,
  o: {
    lagSec?: number | null;
    sizeBytes?: number | null;
    primary?: boolean | null;
    rawState?: string;
    mirrored?: boolean;
  } = {},
): StatusImage {
  const mirroring =
    o.mirrored === false
      ? null
      : {
          primary: o.primary === undefined ? true : o.primary,
          rawState: o.rawState ?? 'up+replaying',
          peerSites: [{ siteName: 'east' }],
        };
  return {
    pool: 'rbd',
    namespace: '',
    name,
    id: name,
    sizeBytes: o.sizeBytes ?? null,
    mirroring,
    group,
    lagSec: o.lagSec ?? null,
    reason: '',
    nextSnapshotAt: null,
    splitBrainWith: null,
  } as unknown as StatusImage;
}

const names = (rows: StatusImage[]) => rows.map((r) => r.name);

describe('a page of a pool’s images', () => {
  const images = [
    image('vm-10', 'ready', { lagSec: 30, sizeBytes: 300 }),
    image('vm-2', 'ready', { lagSec: null, sizeBytes: 100 }),
    image('vm-1', 'issues', { lagSec: 90, sizeBytes: 200, rawState: 'up+error' }),
    image('db-1', 'syncing', { lagSec: 5, primary: false, rawState: 'up+syncing' }),
    image('scratch', 'ready', { mirrored: false, sizeBytes: 50 }),
    image('db-2', 'idle', { primary: null }),
  ];

  it('sorts by name with numbers in order, and pages with offset and limit', () => {
    expect(names(pageImages(images, {}).rows)).toEqual(['db-1', 'db-2', 'scratch', 'vm-1', 'vm-2', 'vm-10']);
    expect(names(pageImages(images, { dir: 'desc' }).rows)).toEqual([
      'vm-10',
      'vm-2',
      'vm-1',
      'scratch',
      'db-2',
      'db-1',
    ]);
    const p = pageImages(images, { offset: 2, limit: 3 });
    expect(names(p.rows)).toEqual(['scratch', 'vm-1', 'vm-2']);
    expect(p).toMatchObject({ total: 6, matching: 6, offset: 2, limit: 3 });
    expect(pageImages(images, { offset: 6 }).rows).toEqual([]);
  });

  it('sorts by lag, size or state, unknown values last either way, ties by name', () => {
    expect(names(pageImages(images, { sort: 'lag', dir: 'desc' }).rows)).toEqual([
      'vm-1',
      'vm-10',
      'db-1',
      'db-2',
      'scratch',
      'vm-2',
    ]);
    expect(names(pageImages(images, { sort: 'lag' }).rows)).toEqual([
      'db-1',
      'vm-10',
      'vm-1',
      'db-2',
      'scratch',
      'vm-2',
    ]);
    expect(names(pageImages(images, { sort: 'size' }).rows)).toEqual([
      'scratch',
      'vm-2',
      'vm-1',
      'vm-10',
      'db-1',
      'db-2',
    ]);
    expect(names(pageImages(images, { sort: 'state' }).rows)).toEqual([
      'scratch',
      'vm-1',
      'db-2',
      'vm-2',
      'vm-10',
      'db-1',
    ]);
  });

  it('filters by group with the counts of every group, by role and by part of the name', () => {
    const ready = pageImages(images, { group: 'ready' });
    expect(names(ready.rows)).toEqual(['scratch', 'vm-2', 'vm-10']);
    expect(ready).toMatchObject({
      total: 3,
      matching: 6,
      counts: { ready: 3, issues: 1, syncing: 1, idle: 1 },
    });
    expect(names(pageImages(images, { role: 'mirrored' }).rows)).toEqual([
      'db-1',
      'db-2',
      'vm-1',
      'vm-2',
      'vm-10',
    ]);
    expect(names(pageImages(images, { role: 'not-primary' }).rows)).toEqual(['db-1', 'db-2']);
    const found = pageImages(images, { search: ' VM-1', group: 'ready' });
    expect(names(found.rows)).toEqual(['vm-10']);
    expect(found).toMatchObject({
      total: 1,
      matching: 2,
      counts: { ready: 1, issues: 1, syncing: 0, idle: 0 },
    });
    expect(pageImages(images, { search: 'nothing' })).toMatchObject({ rows: [], total: 0, matching: 0 });
  });

  it('sorts each view once per status answer: a new answer (new images) is sorted anew', () => {
    const a = pageImages(images, { group: 'ready' }).rows;
    expect(pageImages(images, { group: 'ready' }).rows[0]).toBe(a[0]);
    const next = [...images, image('aa', 'ready')];
    expect(names(pageImages(next, { group: 'ready' }).rows)[0]).toBe('aa');
  });

  it('the status counts a pool’s images per group and role, with its kept copies and the sites its copies come from', () => {
    const pool = {
      pool: 'rbd',
      namespace: '',
      mode: 'image',
      siteName: 'west',
      peers: [],
      summary: null,
      splitBrain: 0,
      images: [
        ...images,
        image('vm-1-diverged-20261203T142233Z', 'ready', { mirrored: false, sizeBytes: 7 }),
      ],
    } as unknown as Pool;
    const o = poolOverview(pool);
    expect(o).not.toHaveProperty('images');
    expect(o.counts).toEqual({
      total: 7,
      mirrored: 5,
      primary: 3,
      notPrimary: 2,
      issues: 1,
      idle: 1,
      syncing: 1,
      ready: 4,
    });
    expect(o.imagePeerSites).toEqual(['east']);
    expect(o.kept).toEqual([
      { name: 'vm-1-diverged-20261203T142233Z', of: 'vm-1', stamp: '20261203T142233Z', sizeBytes: 7 },
    ]);
    expect(keptCopyOf('vm-1-diverged-2026')).toBeNull();
  });
});

describe('the failover wizard’s preview of a plan', () => {
  it('lists the largest (and unknown) windows first and sums up the image checks beyond the limit, blocks first', () => {
    const images = Array.from({ length: 120 }, (_, i) => ({
      name: `img-${i}`,
      lastSyncedAt: 0,
      dataLossWindowSec: i === 7 ? null : i,
    }));
    const checks = [
      { id: 'to', label: 'Surviving cluster reachable', status: 'pass' as const, message: '' },
      ...images.map((i, n) => ({
        id: `img-${i.name}`,
        label: `Image ${i.name}`,
        status: n === 100 ? ('block' as const) : ('pass' as const),
        message: '',
      })),
      { id: 'tasks', label: 'Pending tasks', status: 'pass' as const, message: 'none' },
    ];
    const plan: CephFailoverPlan = {
      mode: 'unplanned',
      checks,
      canProceed: false,
      images,
      steps: [],
      splitBrainRisk: images.map((i) => i.name),
    };
    const p = previewPlan(plan, 10);
    expect(names(p.images as unknown as StatusImage[])).toEqual([
      'img-7',
      'img-119',
      'img-118',
      'img-117',
      'img-116',
      'img-115',
      'img-114',
      'img-113',
      'img-112',
      'img-111',
    ]);
    expect(p).toMatchObject({
      imageCount: 120,
      maxWindowSec: 119,
      unknownWindows: 1,
      splitBrainRiskCount: 120,
      canProceed: false,
    });
    expect(p.splitBrainRisk).toHaveLength(10);
    const ids = p.checks.map((c) => c.id);
    expect(ids[0]).toBe('to');
    expect(ids.at(-1)).toBe('tasks');
    expect(ids).toContain('img-img-100');
    expect(p.checks.find((c) => c.id === 'img-more')).toMatchObject({
      label: '110 more image(s)',
      status: 'pass',
      message: '110 ready',
    });
    expect(p.checks).toHaveLength(1 + 10 + 1 + 1);
  });
});

describe('ceph.images on the demo clusters', () => {
  let stop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await stop?.();
    stop = null;
  });

  it('answers from the stored status without a CLI call, split-brain marked, and the status carries counts only', async () => {
    const { app } = testApp();
    stop = () => app.tasks.shutdown();
    app.demo.create();
    const caller = createCaller(ctxFor(app, operator));
    const a = app.sites.byName('demo-site-a')!.id;
    const status = await caller.ceph.status({ siteId: a });
    const rbd = status.pools.find((p) => p.pool === 'rbd' && p.namespace === '')!;
    expect(rbd).not.toHaveProperty('images');
    expect(rbd.counts.total).toBeGreaterThan(0);
    const adapter = app.sites.adapter(a) as CephAdapter;
    const calls = adapter.cliCalls;
    const page = await caller.ceph.images({ siteId: a, pool: 'rbd', limit: 2 });
    expect(adapter.cliCalls).toBe(calls);
    expect(page.rows).toHaveLength(2);
    expect(page.total).toBe(rbd.counts.total);
    expect(page.counts).toEqual({
      issues: rbd.counts.issues,
      idle: rbd.counts.idle,
      syncing: rbd.counts.syncing,
      ready: rbd.counts.ready,
    });
    expect(page.at).toBe(status.at);
    const rest = await caller.ceph.images({ siteId: a, pool: 'rbd', offset: 2, limit: 200 });
    expect(new Set([...page.rows, ...rest.rows].map((r) => r.name)).size).toBe(rbd.counts.total);
    await expect(caller.ceph.images({ siteId: a, pool: 'nope' })).rejects.toThrow(/not in the last status/);
  });

  it('asks a cluster never asked once, then answers from that answer', async () => {
    const { app } = testApp();
    stop = () => app.tasks.shutdown();
    app.demo.create();
    const caller = createCaller(ctxFor(app, operator));
    const b = app.sites.byName('demo-site-b')!.id;
    const first = await caller.ceph.images({ siteId: b, pool: 'rbd', group: 'ready' });
    expect(first.at).not.toBeNull();
    const adapter = app.sites.adapter(b) as CephAdapter;
    const calls = adapter.cliCalls;
    await caller.ceph.images({ siteId: b, pool: 'rbd', search: 'vm' });
    expect(adapter.cliCalls).toBe(calls);
  });
});
