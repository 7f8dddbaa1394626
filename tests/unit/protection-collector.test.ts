import { afterEach, describe, expect, it, vi } from 'vitest';
import { DemoCephAdapter } from '@/server/adapters/demo/ceph';
import { ProtectionCollector } from '@/server/domain/protection/collector';
import { ProtectionSamples } from '@/server/domain/protection/samples';
import type { ProtectedObject } from '@/server/domain/protection/types';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, testApp, viewer } from './helpers';
import { protectedObject } from './protected-object';

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await cleanup?.();
  cleanup = null;
});

function obj(subject: string, over: Partial<ProtectedObject> = {}): ProtectedObject {
  const kind = subject.startsWith('replica:') ? 'vm-replica' : subject.startsWith('vm:') ? 'vm' : 'rbd-image';
  return protectedObject({
    subject,
    kind,
    name: subject,
    source: { id: 1, name: 'a' },
    target: { id: 2, name: 'b' },
    windowSec: 120,
    syncSeconds: 8,
    bytesPerSecond: 4096,
    href: `/protection/${encodeURIComponent(subject)}`,
    ...over,
  });
}

function setup(objects: () => ProtectedObject[]) {
  const t = testApp();
  t.app.demo.create();
  cleanup = () => t.app.tasks.shutdown();
  // Each refresh of a cluster's status, counted per cluster (the demo adapter counts its CLI calls too).
  const refreshes = new Map<string, number>();
  const orig = DemoCephAdapter.prototype.refreshStatus;
  vi.spyOn(DemoCephAdapter.prototype, 'refreshStatus').mockImplementation(function (
    this: DemoCephAdapter,
    ...args
  ) {
    refreshes.set(this.clusterName, (refreshes.get(this.clusterName) ?? 0) + 1);
    return orig.apply(this, args);
  });
  const collector = new ProtectionCollector(new ProtectionSamples(t.app.db, t.clock), {
    clock: t.clock,
    sites: t.app.sites,
    ceph: t.app.ceph,
    objects: async () => objects(),
  });
  const stored = () =>
    t.app.db.$client
      .prepare(
        `SELECT subject, at, window_sec AS w, bytes_per_second AS bps, sync_seconds AS s FROM protection_samples WHERE resolution = 'raw' ORDER BY at, subject`,
      )
      .all();
  return { ...t, collector, refreshes, stored };
}

describe('protection collector', () => {
  it('stores one raw sample per protected object, none for unprotected ones', async () => {
    const objects = [
      obj('replica:1'),
      obj('rbd:4-5/rbd//vol1', {
        windowSec: null,
        health: 'unknown',
        syncSeconds: null,
        bytesPerSecond: null,
      }),
      obj('vm:1/web02', { health: 'unprotected', windowSec: null }),
      obj('rbd:4-5/rbd//plain', { health: 'unprotected' }),
    ];
    const { collector, clock, stored } = setup(() => objects);
    const r = await collector.collect(clock.now());
    expect(r.samples).toBe(2);
    expect(stored()).toEqual([
      { subject: 'rbd:4-5/rbd//vol1', at: clock.now(), w: null, bps: null, s: null },
      { subject: 'replica:1', at: clock.now(), w: 120, bps: 4096, s: 8 },
    ]);
    clock.advance(60_000);
    await collector.collect(clock.now());
    expect(stored()).toHaveLength(4);
  });

  it('refreshes each Ceph cluster once per collect, in O(pools) CLI calls, although each status checks the other cluster', async () => {
    const { app, clock, collector, refreshes } = setup(() => []);
    const r1 = await collector.collect(clock.now());
    expect(Object.fromEntries(refreshes)).toEqual({ 'demo-site-a': 1, 'demo-site-b': 1 });
    expect(r1.clusters.map((c) => c.state)).toEqual(['answered', 'answered']);
    // The CLI calls of one refresh: a handful per pool, not per image.
    for (const c of r1.clusters) expect(c.cliCalls).toBeGreaterThan(0);
    for (const c of r1.clusters) expect(c.cliCalls).toBeLessThan(20);
    clock.advance(60_000);
    await collector.collect(clock.now());
    expect(Object.fromEntries(refreshes)).toEqual({ 'demo-site-a': 2, 'demo-site-b': 2 });
    // Without `freshSince`, a status of each cluster asks the second cluster twice (its own status and the split-brain check).
    refreshes.clear();
    clock.advance(60_000);
    for (const s of app.sites.list().filter((x) => x.kind === 'ceph'))
      await app.ceph.status(s.id, { waitMs: 5_000 });
    expect([...refreshes.values()].reduce((a, b) => a + b, 0)).toBe(3);
  });

  it('with the protection service: one sample per protected image and replica of the demo sites, each cluster refreshed once', async () => {
    const { app, clock, refreshes, stored } = setup(() => []);
    const r = await app.collector.collect(clock.now());
    const objects = await app.protection.objects();
    const protectedOnes = objects.filter((o) => o.kind !== 'vm' && o.health !== 'unprotected');
    expect(protectedOnes.filter((o) => o.kind === 'rbd-image').length).toBeGreaterThan(2);
    expect(r.samples).toBe(protectedOnes.length);
    expect((stored() as { subject: string }[]).map((x) => x.subject).sort()).toEqual(
      protectedOnes.map((o) => o.subject).sort(),
    );
    expect(Object.fromEntries(refreshes)).toEqual({ 'demo-site-a': 1, 'demo-site-b': 1 });
    // The series carries the object's RPO.
    const one = protectedOnes[0]!;
    const s = await app.collector.series(one.subject, { from: clock.now() - 3_600_000, to: clock.now() });
    expect(s.rpoSec).toBe(one.rpoSec);
    expect(s.points).toHaveLength(1);
    expect(s.name).toBe(one.name);
  });

  it('a cluster that cannot be asked is recorded as such and the objects are still sampled', async () => {
    const { app, clock, collector, stored } = setup(() => [obj('replica:1')]);
    const world = (app.registry as unknown as { demo: () => { down: Set<string> } }).demo();
    world.down.add('demo-site-a');
    const r = await collector.collect(clock.now());
    expect(r.clusters.find((c) => c.siteId === app.sites.byName('demo-site-a')!.id)?.state).toBe(
      'unreachable',
    );
    expect(stored()).toHaveLength(1);
  });

  it('serves the series with the object’s RPO and the retention to viewers; only admins change the retention, recorded in history', async () => {
    const { app, clock } = setup(() => []);
    const c = createCaller(ctxFor(app, viewer));
    app.collector.samples.record(
      [{ subject: 'replica:1', windowSec: 30, bytesPerSecond: 10, syncSeconds: 2 }],
      clock.now() - 60_000,
    );
    const s = await c.protectionHistory.series({ subject: 'replica:1', range: '1h' });
    expect(s.points).toHaveLength(1);
    expect(s.to - s.from).toBe(3_600_000);
    expect(await c.protectionHistory.retention()).toEqual({ rawHours: 24, fiveMinDays: 30 });
    await expect(c.protectionHistory.setRetention({ rawHours: 12, fiveMinDays: 30 })).rejects.toThrow();
    const a = createCaller(ctxFor(app, admin));
    await expect(a.protectionHistory.setRetention({ rawHours: 200, fiveMinDays: 30 })).rejects.toThrow(
      /at most 7 days/,
    );
    await a.protectionHistory.setRetention({ rawHours: 12, fiveMinDays: 60 });
    expect(app.collector.samples.retention()).toEqual({ rawHours: 12, fiveMinDays: 60 });
    expect(
      app.history
        .list({ action: 'protectionHistory.setRetention' }, { limit: 10, offset: 0 })
        .rows.map((r) => r.outcome),
    ).toEqual(['success']);
  });

  it('starts on an interval, skips a tick while a collect runs, and stops', async () => {
    const { collector } = setup(() => []);
    let n = 0;
    let release!: () => void;
    const spy = vi.spyOn(collector, 'collect').mockImplementation(async () => {
      n++;
      await new Promise<void>((r) => (release = r));
      return {
        at: 0,
        clusters: [],
        samples: 0,
        compacted: { folded: 0, buckets: 0, expired: 0, steps: 1 },
        ms: 0,
      };
    });
    vi.useFakeTimers();
    try {
      collector.start(1_000);
      expect(n).toBe(1);
      await vi.advanceTimersByTimeAsync(3_000);
      expect(n).toBe(1);
      release();
      await vi.advanceTimersByTimeAsync(1_000);
      expect(n).toBe(2);
      release();
      await collector.stop();
      await vi.advanceTimersByTimeAsync(5_000);
      expect(n).toBe(2);
    } finally {
      vi.useRealTimers();
      spy.mockRestore();
    }
  });
});

describe('protection collector with a VM replica', () => {
  it('samples the replica’s window and sync figures, and its series carries the sync runs', async () => {
    const { boot, withReplica } = await import('./demo-env');
    const env = boot();
    const id = await withReplica(env);
    const r = await env.app.collector.collect();
    expect(r.samples).toBeGreaterThan(0);
    const o = (await env.app.protection.objects()).find((x) => x.subject === `replica:${id}`)!;
    const s = await env.app.collector.series(`replica:${id}`, {
      from: env.clock.now() - 3_600_000,
      to: env.clock.now() + 1,
    });
    expect(s.points).toHaveLength(1);
    // The window grows with the (fast) demo clock until the next sync: the sample is at most the window read after it.
    expect(s.points[0]!.windowSec).not.toBeNull();
    expect(s.points[0]!.windowSec!).toBeGreaterThanOrEqual(0);
    expect(s.points[0]!.windowSec!).toBeLessThanOrEqual(o.windowSec!);
    expect(s.rpoSec).toBe(o.rpoSec);
    expect(s.runs.length).toBeGreaterThanOrEqual(1);
    expect(s.runs[0]!.failed).toBe(0);
    expect(s.runs[0]!.bytes).toBeGreaterThan(0);
  });
});
