import { describe, expect, it } from 'vitest';
import { DemoNodeAdapter } from '@/server/adapters/demo/adapters';
import { DemoWorld } from '@/server/adapters/demo/world';
import { latestCommonSnapshot } from '@/server/adapters/node/zfs';
import type { NodeAdapter, PullOptions } from '@/server/adapters/node/types';
import { ManualClock } from '@/server/core/clock';
import { startVmOnWritableDisks } from '@/server/domain/replicas/start-vm';

const MiB = 1024 ** 2;

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
  const world = new DemoWorld(clock, 0);
  const n1: NodeAdapter = new DemoNodeAdapter(world, 'demo-node1');
  const n2: NodeAdapter = new DemoNodeAdapter(world, 'demo-node2');
  const n3: NodeAdapter = new DemoNodeAdapter(world, 'demo-node3');
  return { clock, world, n1, n2, n3 };
}

/** Moves the world clock forward while a simulated long operation runs. */
async function drive<T>(p: Promise<T>, clock: ManualClock, stepMs: number): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  for (let i = 0; i < 100_000 && !done; i++) {
    clock.advance(stepMs);
    await new Promise((r) => setTimeout(r, 3));
  }
  return p;
}

const pullOpts = (over: Partial<PullOptions>): PullOptions => ({
  source: { host: 'demo-node1', port: 22, user: 'root' },
  sourceDataset: 'zones/web01-disk0',
  fromSnapshot: null,
  toSnapshot: 'r1',
  targetDataset: 'zones/web01-disk0',
  bandwidthLimitBytesPerSec: null,
  ...over,
});

describe('DemoNodeAdapter', () => {
  it('inventory: probe, capacity, pools, VMs with disk datasets, datasets', async () => {
    const { n1 } = setup();
    expect(await n1.probe()).toMatchObject({ hostname: 'demo-node1', zfsAvailable: true, pvAvailable: true });
    expect((await n1.capacity()).cpus).toBe(32);
    expect((await n1.zfs.listZpools()).map((p) => p.name)).toEqual(['zones', 'data']);
    const vms = await n1.listVms();
    expect(vms.find((v) => v.name === 'web01')?.disks.map((d) => d.dataset)).toEqual([
      'zones/web01-disk0',
      'zones/web01-disk1',
    ]);
    const ds = await n1.zfs.listDatasets('zones');
    expect(ds.map((d) => d.name)).toContain('zones/db01-disk1');
    expect(ds.every((d) => /^\d+$/.test(d.guid))).toBe(true);
    await expect(n1.zfs.listDatasets('zones/nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(n1.zfs.listDatasets('zones/x;id')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('is deterministic: the same calls give the same guids', async () => {
    const a = setup();
    const b = setup();
    const sa = await a.n1.zfs.createSnapshots(['zones/web01-disk0', 'zones/web01-disk1'], 'r1');
    const sb = await b.n1.zfs.createSnapshots(['zones/web01-disk0', 'zones/web01-disk1'], 'r1');
    expect(sa).toEqual(sb);
    expect(sa.map((s) => s.name)).toEqual(['r1', 'r1']);
    expect(new Set(sa.map((s) => s.guid)).size).toBe(2);
    await expect(a.n1.zfs.createSnapshots(['zones/web01-disk0'], 'r1')).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('replicates: full pull with progress, writes, incremental pull at a limited rate, common snapshot by guid', async () => {
    const { clock, world, n1, n2 } = setup();
    await n1.zfs.createSnapshots(['zones/web01-disk0'], 'r1');
    const r1At = clock.now();
    const progress: number[] = [];
    const full = await drive(n2.pull(pullOpts({ onProgress: (b) => progress.push(b) })), clock, 1000);
    expect(progress.length).toBeGreaterThan(3);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(progress.at(-1)).toBe(full.bytes);
    expect(full.bytes).toBeGreaterThan(12 * 1024 ** 3); // 30 % of 40 GiB
    expect(world.transfers).toHaveLength(0);
    const target = await n2.zfs.listSnapshots('zones/web01-disk0');
    const source = await n1.zfs.listSnapshots('zones/web01-disk0');
    expect(target['zones/web01-disk0']![0]!.guid).toBe(source['zones/web01-disk0']![0]!.guid);

    // the running VM writes 256 KiB/s to its first disk (also while the pull ran)
    clock.advance(120_000);
    const est = await n1.zfs.estimateWritten('zones/web01-disk0', 'r1');
    expect(est.bytes).toBe(Math.round((256 * 1024 * (clock.now() - r1At)) / 1000));
    await n1.zfs.createSnapshots(['zones/web01-disk0'], 'r2');
    const inc = await drive(
      n2.pull(pullOpts({ fromSnapshot: 'r1', toSnapshot: 'r2', bandwidthLimitBytesPerSec: 4 * MiB })),
      clock,
      250,
    );
    expect(inc.bytes).toBeGreaterThanOrEqual(est.bytes);
    expect(inc.bytes / inc.seconds).toBeGreaterThan(4 * MiB * 0.9);
    expect(inc.bytes / inc.seconds).toBeLessThanOrEqual(4 * MiB * 1.01);
    const common = latestCommonSnapshot(
      (await n1.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0']!,
      (await n2.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0']!,
    );
    expect(common?.source.name).toBe('r2');
    // allocation on the target grew by the received data
    const zones2 = (await n2.zfs.listZpools()).find((p) => p.name === 'zones')!;
    expect(zones2.allocBytes).toBeGreaterThan(420 * 1024 ** 3 + 12 * 1024 ** 3);
  });

  it('a full pull without -R carries only its snapshot, like `zfs send -p`; with -R every earlier one', async () => {
    const { clock, n1, n2, n3 } = setup();
    await n1.zfs.createSnapshots(['zones/web01-disk0'], 'a');
    await n1.zfs.createSnapshots(['zones/web01-disk0'], 'b');
    await drive(n2.pull(pullOpts({ toSnapshot: 'b', recursive: false })), clock, 1000);
    expect(
      (await n2.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0']!.map((s) => s.name),
    ).toEqual(['b']);
    await drive(n3.pull(pullOpts({ toSnapshot: 'b' })), clock, 1000);
    expect(
      (await n3.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0']!.map((s) => s.name),
    ).toEqual(['a', 'b']);
  });

  it('refuses streams that do not continue the target, and cancels cleanly', async () => {
    const { clock, world, n1, n2, n3 } = setup();
    await n1.zfs.createSnapshots(['zones/web01-disk0'], 'r1');
    clock.advance(10_000);
    await n1.zfs.createSnapshots(['zones/web01-disk0'], 'r2');
    await expect(n3.pull(pullOpts({ fromSnapshot: 'r1', toSnapshot: 'r2' }))).rejects.toMatchObject({
      code: 'CONFLICT',
    });
    await expect(n3.pull(pullOpts({ toSnapshot: 'nope' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(
      n3.pull(pullOpts({ source: { host: 'elsewhere', port: 22, user: 'root' } })),
    ).rejects.toMatchObject({ code: 'UNREACHABLE' });
    await expect(n3.pull(pullOpts({ targetDataset: 'zones/$(id)' }))).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });

    // Cancelled once the transfer has moved its first bytes.
    const ac = new AbortController();
    const p = n2.pull(pullOpts({ signal: ac.signal, onProgress: (b) => b > 0 && ac.abort() }));
    await drive(
      p.catch(() => undefined),
      clock,
      1000,
    );
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(world.transfers).toHaveLength(0);
    await expect(n2.zfs.listDatasets('zones/web01-disk0')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    // the repair: pull again (full, since nothing is common)
    await drive(n2.pull(pullOpts({ toSnapshot: 'r2' })), clock, 5000);
    expect(
      (await n2.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0']!.map((s) => s.name),
    ).toEqual(['r1', 'r2']);
    await expect(n2.pull(pullOpts({ toSnapshot: 'r2' }))).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('fails over: readonly replica, rewritten definition, start refused until writable, lifecycle', async () => {
    const { clock, n1, n2 } = setup();
    const disks = ['zones/web01-disk0', 'zones/web01-disk1'];
    await n1.zfs.createSnapshots(disks, 'r1');
    for (const d of disks)
      await drive(
        n2.pull(pullOpts({ sourceDataset: d, targetDataset: d.replace('zones/', 'data/') })),
        clock,
        10_000,
      );
    for (const d of disks) await n2.zfs.setReadonly(d.replace('zones/', 'data/'), true);
    expect(await n2.zfs.getReadonly('data/web01-disk0')).toBe(true);
    expect(
      await n2.zfs.getProperties('data/web01-disk0', ['tandem:readonly', 'tandem:vm', 'readonly']),
    ).toEqual({
      'tandem:readonly': 'on',
      'tandem:vm': 'web01',
      readonly: 'on',
    });

    const def = await n1.dumpVm('web01');
    const rewritten = n2.rewriteVm(def, {
      disks: disks.map((d) => ({ from: `/${d}/disk.img`, to: `/${d.replace('zones/', 'data/')}/disk.img` })),
    });
    expect(await n2.defineVm(rewritten)).toBe('web01');
    const vm = await n2.getVm('web01');
    expect(vm).toMatchObject({ state: 'stopped', vcpus: 4, memoryMiB: 8192 });
    expect(vm!.disks.map((d) => d.dataset)).toEqual(['data/web01-disk0', 'data/web01-disk1']);
    await expect(startVmOnWritableDisks(n2, 'web01')).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    for (const d of disks) await n2.zfs.setReadonly(d.replace('zones/', 'data/'), false);
    await startVmOnWritableDisks(n2, 'web01', { paused: true });
    expect(await n2.getVmState('web01')).toBe('paused');
    await n2.resumeVm('web01');
    expect(await n2.getVmState('web01')).toBe('running');
    await expect(n2.undefineVm('web01')).rejects.toMatchObject({ code: 'CONFLICT' });
    await n2.pauseVm('web01');
    await n2.stopVm('web01');
    expect(await n2.getVmState('web01')).toBe('stopped');
    await n2.undefineVm('web01');
    expect(await n2.getVm('web01')).toBeNull();
    expect(await n2.getVmState('web01')).toBeNull();
    await n1.stopVm('web01');
    expect(await n1.getVmState('web01')).toBe('stopped');
  });

  it('dataset housekeeping: properties, clone, rename, promote, rollback, destroy', async () => {
    const { clock, n1 } = setup();
    await n1.zfs.createSnapshots(['zones/db01-disk1'], 'a');
    clock.advance(60_000);
    await n1.zfs.createSnapshots(['zones/db01-disk1'], 'b');
    clock.advance(60_000);
    await n1.zfs.createSnapshots(['zones/db01-disk1'], 'c');
    await n1.zfs.setProperties('zones/db01-disk1', { 'tandem:role': 'source' });
    expect(await n1.zfs.getProperties('zones/db01-disk1', ['tandem:role', 'tandem:none'])).toEqual({
      'tandem:role': 'source',
      'tandem:none': null,
    });
    await expect(n1.zfs.setProperties('zones/db01-disk1', { mountpoint: '/x' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });

    await n1.zfs.cloneSnapshot('zones/db01-disk1', 'b', 'zones/db01-disk1-diverged');
    expect((await n1.zfs.listDatasets('zones/db01-disk1-diverged'))[0]!.origin).toBe('zones/db01-disk1@b');
    await expect(n1.zfs.destroyDataset('zones/db01-disk1')).rejects.toMatchObject({ code: 'CONFLICT' });
    await n1.zfs.renameDataset('zones/db01-disk1-diverged', 'zones/db01-disk1-kept');
    expect((await n1.zfs.listDatasets('zones/db01-disk1-kept'))[0]!.name).toBe('zones/db01-disk1-kept');

    // keep diverged data the way the replica engine does: rename, clone the common snapshot back, promote
    await n1.zfs.renameDataset('zones/db01-disk1', 'zones/db01-disk1-old');
    await n1.zfs.cloneSnapshot('zones/db01-disk1-old', 'c', 'zones/db01-disk1');
    const guids = (await n1.zfs.listSnapshots('zones/db01-disk1-old'))['zones/db01-disk1-old']!.map(
      (x) => x.guid,
    );
    await n1.zfs.promoteDataset('zones/db01-disk1');
    expect((await n1.zfs.listSnapshots('zones/db01-disk1'))['zones/db01-disk1']!.map((x) => x.guid)).toEqual(
      guids,
    );
    expect((await n1.zfs.listDatasets('zones/db01-disk1'))[0]!.origin).toBeNull();
    expect((await n1.zfs.listDatasets('zones/db01-disk1-old'))[0]!.origin).toBe('zones/db01-disk1@c');
    await expect(n1.zfs.promoteDataset('zones/db01-disk1')).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    await n1.zfs.destroyDataset('zones/db01-disk1-old');

    const before = await n1.zfs.estimateWritten('zones/db01-disk1', 'a');
    expect(before.bytes).toBeGreaterThan(0);
    await n1.zfs.rollback('zones/db01-disk1', 'b');
    expect((await n1.zfs.listSnapshots('zones/db01-disk1'))['zones/db01-disk1']!.map((s) => s.name)).toEqual([
      'a',
      'b',
    ]);
    await n1.zfs.destroySnapshots('zones/db01-disk1', ['a', 'missing']);
    expect((await n1.zfs.listSnapshots('zones/db01-disk1'))['zones/db01-disk1']!.map((s) => s.name)).toEqual([
      'b',
    ]);
    await n1.zfs.destroyDataset('zones/db01-disk1-kept');
    await n1.zfs.destroyDataset('zones/db01-disk1-kept'); // gone: no error
    await expect(n1.zfs.destroyDataset('zones')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });
});
