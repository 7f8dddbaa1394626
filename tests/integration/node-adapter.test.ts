import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SshNodeAdapter } from '@/server/adapters/node/ssh-node';
import type { PullOptions, SourceSpec, TransferResult } from '@/server/adapters/node/types';
import { latestCommonSnapshot } from '@/server/adapters/node/zfs';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import { LAB_DIR, labScript, openLab, type Lab } from './lab';
import { startVmOnWritableDisks } from '@/server/domain/replicas/start-vm';

/*
 * SshNodeAdapter against the real node lab (3 nodes: zfs-fuse, libvirt, sshd). One VM with two
 * disks on node1 is replicated to node2's `data` pool, changed, replicated incrementally under a
 * bandwidth limit, interrupted and repaired, defined on node2 from rewritten XML, and cleaned up.
 * The steps depend on each other and run in order.
 */

const MiB = 1024 * 1024;
const VM = `it-${crypto.randomBytes(3).toString('hex')}`;
const SRC = [0, 1].map((i) => `zones/${VM}-disk${i}`);
const DST = [0, 1].map((i) => `data/${VM}-disk${i}`);
const KEPT = `data/${VM}-kept`;
const LIMIT = 2 * MiB;

let lab: Lab;
let r1: SshRunner;
let r2: SshRunner;
let n1: SshNodeAdapter;
let n2: SshNodeAdapter;
let source: SourceSpec;

const mb = (b: number) => (b / MiB).toFixed(2);

async function md5(r: SshRunner, file: string): Promise<string> {
  return (await r.run({ argv: ['md5sum', file] })).stdout.split(/\s+/)[0]!;
}

async function pull(
  opts: Omit<PullOptions, 'source'>,
  label: string,
): Promise<TransferResult & { progress: number[] }> {
  const progress: number[] = [];
  const r = await n2.pull({ ...opts, source, onProgress: (b) => progress.push(b) });
  console.log(
    `[node-adapter] ${label}: ${mb(r.bytes)} MiB in ${r.seconds.toFixed(2)} s = ${mb(r.bytes / r.seconds)} MiB/s (${progress.length} progress callbacks)`,
  );
  return { ...r, progress };
}

/** `zfs recv` processes on node2 receiving into `dataset`. */
async function receivers(dataset: string): Promise<string[]> {
  const ps = await r2.run({ argv: ['ps', '-eo', 'pid=,args='] });
  return ps.stdout.split('\n').filter((l) => /zfs (recv|receive)/.test(l) && l.includes(dataset));
}

beforeAll(async () => {
  lab = await openLab(3);
  r1 = lab.runner('node1');
  r2 = lab.runner('node2');
  n1 = new SshNodeAdapter(r1, 'libvirt');
  n2 = new SshNodeAdapter(r2, 'libvirt');
  // node2 reaches node1 by the alias in its /root/.ssh/config (host/port/user for the record)
  const node1 = lab.node('node1');
  source = { host: node1.host, port: node1.port, user: node1.user, alias: 'node1' };
  await labScript('mkvm', 'node1', VM, '2', '64');
});

afterAll(async () => {
  if (!lab) return;
  const problems: string[] = [];
  const attempt = async (what: string, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  await attempt('undefine on node2', async () => {
    if ((await n2.getVmState(VM)) !== null) {
      await n2.stopVm(VM, { graceMs: 0 });
      await n2.undefineVm(VM);
    }
  });
  for (const d of [KEPT, ...DST]) await attempt(`destroy ${d}`, () => n2.zfs.destroyDataset(d));
  await attempt('undefine on node1', async () => {
    if ((await n1.getVmState(VM)) !== null) {
      await n1.stopVm(VM, { graceMs: 0 });
      await n1.undefineVm(VM);
    }
  });
  for (const d of SRC) await attempt(`destroy ${d}`, () => n1.zfs.destroyDataset(d));
  fs.rmSync(path.join(LAB_DIR, 'nodes', 'node1', 'vms', `${VM}.xml`), { force: true });
  await lab.close();
  if (problems.length) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
});

describe.sequential('SshNodeAdapter on the node lab', () => {
  it('probes node1 and lists pools, capacity and the new VM with its disk datasets', async () => {
    const probe = await n1.probe();
    expect(probe).toEqual({
      hostname: 'node1',
      zfsAvailable: true,
      hypervisor: 'libvirt',
      hypervisorAvailable: true,
      pvAvailable: true,
    });
    const pools = await n1.zfs.listZpools();
    expect(pools.map((p) => p.name).sort()).toEqual(['data', 'zones']);
    for (const p of pools) {
      expect(p.health).toBe('ONLINE');
      expect(p.freeBytes).toBeGreaterThan(50 * MiB);
      expect(p.sizeBytes).toBe(p.allocBytes + p.freeBytes);
    }
    const cap = await n1.capacity();
    expect(cap.cpus).toBeGreaterThanOrEqual(1);
    expect(cap.memoryMiB).toBeGreaterThan(256);

    const vms = await n1.listVms();
    const vm = vms.find((v) => v.name === VM);
    expect(vm).toBeDefined();
    expect(vm).toMatchObject({ state: 'paused', vcpus: 1, memoryMiB: 128 });
    expect(vm!.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(vm!.disks).toEqual([
      {
        device: 'vda',
        path: `/zones/${VM}-disk0/disk.img`,
        kind: 'file',
        dataset: SRC[0],
        sizeBytes: 64 * MiB,
      },
      {
        device: 'vdb',
        path: `/zones/${VM}-disk1/disk.img`,
        kind: 'file',
        dataset: SRC[1],
        sizeBytes: 64 * MiB,
      },
    ]);
    expect(await n1.getVm(VM)).toEqual(vm);
    expect(await n1.getVmState(VM)).toBe('paused');
    expect(await n1.getVm('no-such-vm')).toBeNull();

    const ds = await n1.zfs.listDatasets(SRC[0]!);
    expect(ds).toHaveLength(1);
    expect(ds[0]).toMatchObject({
      name: SRC[0],
      type: 'filesystem',
      mountpoint: `/zones/${VM}-disk0`,
      mounted: true,
      readonly: false,
      origin: null,
    });
    expect(ds[0]!.referencedBytes).toBeGreaterThanOrEqual(64 * MiB);
    expect(await n1.zfs.getProperties(SRC[0]!, ['tandem:vm', 'tandem:disk'])).toEqual({
      'tandem:vm': VM,
      'tandem:disk': '0',
    });
    await expect(n1.zfs.listDatasets(`zones/${VM}-nothing`)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('pauses and resumes the VM', async () => {
    await n1.resumeVm(VM);
    expect(await n1.getVmState(VM)).toBe('running');
    await n1.pauseVm(VM);
    expect(await n1.getVmState(VM)).toBe('paused');
  });

  it('snapshots both disks and pulls them in full to node2 with progress', async () => {
    const snaps = await n1.zfs.createSnapshots(SRC, 'tandem-1');
    expect(snaps.map((s) => `${s.dataset}@${s.name}`)).toEqual(SRC.map((d) => `${d}@tandem-1`));
    expect(snaps.every((s) => /^\d+$/.test(s.guid) && s.guid !== '0')).toBe(true);
    for (let i = 0; i < 2; i++) {
      const r = await pull(
        {
          sourceDataset: SRC[i]!,
          fromSnapshot: null,
          toSnapshot: 'tandem-1',
          targetDataset: DST[i]!,
          bandwidthLimitBytesPerSec: null,
        },
        `full pull disk${i}`,
      );
      expect(r.bytes).toBeGreaterThanOrEqual(64 * MiB);
      expect(r.progress.length).toBeGreaterThanOrEqual(1);
      expect(r.progress.at(-1)).toBe(r.bytes);
      expect(r.progress).toEqual([...r.progress].sort((a, b) => a - b));
    }
    const target = await n2.zfs.listSnapshots(DST[0]!);
    expect(target[DST[0]!]!.map((s) => s.name)).toEqual(['tandem-1']);
    expect(target[DST[0]!]![0]!.guid).toBe(snaps[0]!.guid);
    // user properties travel with -R and show on the replica
    expect((await n2.zfs.getProperties(DST[0]!, ['tandem:vm']))['tandem:vm']).toBe(VM);
  });

  it('writes on node1, estimates the change, and pulls it incrementally at 2 MiB/s', async () => {
    await r1.run({
      argv: [
        'dd',
        'if=/dev/urandom',
        `of=/zones/${VM}-disk0/disk.img`,
        'bs=1M',
        'count=16',
        'seek=8',
        'conv=notrunc',
        'status=none',
      ],
    });
    const est = await n1.zfs.estimateWritten(SRC[0]!, 'tandem-1');
    console.log(
      `[node-adapter] written since tandem-1 (estimate, exact=${est.exact}): ${mb(est.bytes)} MiB (max ${mb(est.maxBytes)} MiB) for a 16 MiB rewrite`,
    );
    expect(est.bytes).toBeGreaterThanOrEqual(15 * MiB);
    expect(est.bytes).toBeLessThanOrEqual(17 * MiB);

    await n1.zfs.createSnapshots(SRC, 'tandem-2');
    const r = await pull(
      {
        sourceDataset: SRC[0]!,
        fromSnapshot: 'tandem-1',
        toSnapshot: 'tandem-2',
        targetDataset: DST[0]!,
        bandwidthLimitBytesPerSec: LIMIT,
      },
      'incremental pull disk0 limited to 2 MiB/s',
    );
    const rate = r.bytes / r.seconds;
    const error = (rate - LIMIT) / LIMIT;
    console.log(
      `[node-adapter] bandwidth limit 2.00 MiB/s → achieved ${mb(rate)} MiB/s (${(error * 100).toFixed(1)} %) over ${r.seconds.toFixed(2)} s`,
    );
    expect(r.bytes).toBeGreaterThanOrEqual(16 * MiB);
    expect(r.bytes).toBeLessThan(18 * MiB);
    expect(Math.abs(error)).toBeLessThanOrEqual(0.25);
    expect(r.progress.length).toBeGreaterThanOrEqual(8);

    await pull(
      {
        sourceDataset: SRC[1]!,
        fromSnapshot: 'tandem-1',
        toSnapshot: 'tandem-2',
        targetDataset: DST[1]!,
        bandwidthLimitBytesPerSec: null,
      },
      'incremental pull disk1 (unchanged)',
    );

    for (let i = 0; i < 2; i++) {
      expect(await md5(r2, `/data/${VM}-disk${i}/disk.img`)).toBe(
        await md5(r1, `/zones/${VM}-disk${i}/disk.img`),
      );
    }
    const common = latestCommonSnapshot(
      (await n1.zfs.listSnapshots(SRC[0]!))[SRC[0]!]!,
      (await n2.zfs.listSnapshots(DST[0]!))[DST[0]!]!,
    );
    expect(common?.source.name).toBe('tandem-2');
    expect(common?.target.guid).toBe(common?.source.guid);
  });

  it('makes the replica read-only (mirror property, and writes really fail)', async () => {
    for (const d of DST) await n2.zfs.setReadonly(d, true);
    expect(await n2.zfs.getReadonly(DST[0]!)).toBe(true);
    expect((await n2.zfs.listDatasets(DST[1]!))[0]!.readonly).toBe(true);
    const probe = await r2.run({ argv: ['touch', `/data/${VM}-disk0/write-probe`], allowFailure: true });
    expect(probe.exitCode).not.toBe(0);
    expect(probe.stderr).toMatch(/Read-only file system/);
  });

  it('an interrupted pull is cancelled, leaves no receiver behind, and is repaired from the last common snapshot', async () => {
    await r1.run({
      argv: [
        'dd',
        'if=/dev/urandom',
        `of=/zones/${VM}-disk1/disk.img`,
        'bs=1M',
        'count=8',
        'conv=notrunc',
        'status=none',
      ],
    });
    await n1.zfs.createSnapshots([SRC[1]!], 'tandem-3', { recursive: false });
    const ac = new AbortController();
    let seen = 0;
    const started = Date.now();
    const p = n2.pull({
      source,
      sourceDataset: SRC[1]!,
      fromSnapshot: 'tandem-2',
      toSnapshot: 'tandem-3',
      targetDataset: DST[1]!,
      bandwidthLimitBytesPerSec: 1 * MiB,
      signal: ac.signal,
      onProgress: (b) => {
        seen = b;
        if (b > 0 && !ac.signal.aborted) setTimeout(() => ac.abort(), 500);
      },
    });
    const err = await p.then(
      () => null,
      (e: unknown) => e as { code?: string; message?: string; details?: unknown },
    );
    if (err?.code !== 'CANCELLED')
      console.log('[node-adapter] unexpected pull result:', err?.message, JSON.stringify(err?.details));
    expect(err?.code).toBe('CANCELLED');
    console.log(
      `[node-adapter] cancelled after ${((Date.now() - started) / 1000).toFixed(2)} s at ${mb(seen)} MiB`,
    );
    expect(seen).toBeGreaterThan(0);
    expect(seen).toBeLessThan(8 * MiB);
    let left: string[] = [];
    for (let i = 0; i < 50; i++) {
      left = await receivers(DST[1]!);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(left).toEqual([]);
    // the killed send released its temporary holds on the source snapshots
    for (const snap of ['tandem-2', 'tandem-3']) {
      const refs = await r1.run({
        argv: ['zfs', 'get', '-H', '-p', '-o', 'value', 'userrefs', `${SRC[1]}@${snap}`],
      });
      expect(refs.stdout.trim(), `holds on ${SRC[1]}@${snap}`).toBe('0');
    }
    const target = (await n2.zfs.listSnapshots(DST[1]!))[DST[1]!]!;
    const common = latestCommonSnapshot((await n1.zfs.listSnapshots(SRC[1]!))[SRC[1]!]!, target);
    expect(common?.source.name).toBe('tandem-2');
    await pull(
      {
        sourceDataset: SRC[1]!,
        fromSnapshot: common!.source.name,
        toSnapshot: 'tandem-3',
        targetDataset: DST[1]!,
        bandwidthLimitBytesPerSec: null,
      },
      'repair pull disk1',
    );
    expect(await md5(r2, `/data/${VM}-disk1/disk.img`)).toBe(await md5(r1, `/zones/${VM}-disk1/disk.img`));
    expect(await n2.zfs.getReadonly(DST[1]!)).toBe(true);
  });

  it('defines the VM on node2 from rewritten XML, refuses to start it on read-only disks, and undefines it', async () => {
    const def = await n1.dumpVm(VM);
    expect(def.format).toBe('libvirt-xml');
    const vm = (await n1.getVm(VM))!;
    const rewritten = n2.rewriteVm(def, {
      disks: vm.disks.map((d, i) => ({
        from: d.path,
        to: d.path.replace(`/zones/${VM}-disk${i}/`, `/data/${VM}-disk${i}/`),
      })),
    });
    expect(rewritten.text).not.toContain('/zones/');
    expect(await n2.defineVm(rewritten)).toBe(VM);
    const onTarget = await n2.getVm(VM);
    expect(onTarget).toMatchObject({ name: VM, uuid: vm.uuid, state: 'stopped', vcpus: 1, memoryMiB: 128 });
    expect(onTarget!.disks.map((d) => d.dataset)).toEqual(DST);
    expect((await n2.listVms()).map((v) => v.name)).toContain(VM);
    await expect(startVmOnWritableDisks(n2, VM, { paused: true })).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect(await n2.getVmState(VM)).toBe('stopped');
    await n2.undefineVm(VM);
    expect(await n2.getVm(VM)).toBeNull();
  });

  it('stops and starts the VM on node1 (paused → destroy; running guest without OS → shutdown, grace, destroy)', async () => {
    await n1.stopVm(VM, { graceMs: 5000 });
    expect(await n1.getVmState(VM)).toBe('stopped');
    await n1.startVm(VM, { paused: true });
    expect(await n1.getVmState(VM)).toBe('paused');
    await n1.resumeVm(VM);
    const t0 = Date.now();
    await n1.stopVm(VM, { graceMs: 1500 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400);
    expect(await n1.getVmState(VM)).toBe('stopped');
    await n1.startVm(VM, { paused: true });
    expect(await n1.getVmState(VM)).toBe('paused');
  });

  it('keeps diverged replica data (rename, clone, promote) and still continues incrementally', async () => {
    // the replica diverges: someone wrote to it
    await n2.zfs.setReadonly(DST[0]!, false);
    await r2.run({
      argv: [
        'dd',
        'if=/dev/urandom',
        `of=/data/${VM}-disk0/disk.img`,
        'bs=1M',
        'count=1',
        'conv=notrunc',
        'status=none',
      ],
    });
    const diverged = await md5(r2, `/data/${VM}-disk0/disk.img`);
    const before = (await n2.zfs.listSnapshots(DST[0]!))[DST[0]!]!;
    // keep it aside, and put the dataset back at the common snapshot with the same guids
    await n2.zfs.renameDataset(DST[0]!, KEPT);
    await n2.zfs.cloneSnapshot(KEPT, 'tandem-2', DST[0]!);
    await n2.zfs.promoteDataset(DST[0]!);
    await n2.zfs.setReadonly(DST[0]!, true);
    expect((await n2.zfs.listSnapshots(DST[0]!))[DST[0]!]!.map((s) => [s.name, s.guid])).toEqual(
      before.map((s) => [s.name, s.guid]),
    );
    expect((await n2.zfs.listDatasets(KEPT))[0]!.origin).toBe(`${DST[0]}@tandem-2`);
    expect((await n2.zfs.listDatasets(DST[0]!))[0]).toMatchObject({
      origin: null,
      mounted: true,
      readonly: true,
    });
    expect(await md5(r2, `/data/${VM}-kept/disk.img`)).toBe(diverged);
    await n2.zfs.setProperties(KEPT, { 'tandem:role': 'diverged', 'tandem:from': `node1 ${VM} 'tandem-2'` });
    expect(await n2.zfs.getProperties(KEPT, ['tandem:role', 'tandem:from', 'origin'])).toEqual({
      'tandem:role': 'diverged',
      'tandem:from': `node1 ${VM} 'tandem-2'`,
      origin: `${DST[0]}@tandem-2`,
    });
    // replication continues from the common snapshot
    await r1.run({
      argv: [
        'dd',
        'if=/dev/urandom',
        `of=/zones/${VM}-disk0/disk.img`,
        'bs=1M',
        'count=2',
        'conv=notrunc',
        'status=none',
      ],
    });
    await n1.zfs.createSnapshots([SRC[0]!], 'tandem-4', { recursive: false });
    await pull(
      {
        sourceDataset: SRC[0]!,
        fromSnapshot: 'tandem-2',
        toSnapshot: 'tandem-4',
        targetDataset: DST[0]!,
        bandwidthLimitBytesPerSec: null,
      },
      'incremental pull after keeping diverged data',
    );
    expect(await md5(r2, `/data/${VM}-disk0/disk.img`)).toBe(await md5(r1, `/zones/${VM}-disk0/disk.img`));
    await n2.zfs.destroyDataset(KEPT);
    expect((await n2.zfs.listDatasets('data')).map((d) => d.name)).not.toContain(KEPT);
  });

  it('rolls back and prunes snapshots', async () => {
    await n2.zfs.rollback(DST[1]!, 'tandem-2');
    expect((await n2.zfs.listSnapshots(DST[1]!))[DST[1]!]!.map((s) => s.name)).toEqual([
      'tandem-1',
      'tandem-2',
    ]);
    await n2.zfs.destroySnapshots(DST[0]!, ['tandem-1', 'never-existed']);
    expect((await n2.zfs.listSnapshots(DST[0]!))[DST[0]!]!.map((s) => s.name)).toEqual([
      'tandem-2',
      'tandem-4',
    ]);
    for (const d of SRC) await n1.zfs.destroySnapshots(d, ['tandem-1']);
    expect((await n1.zfs.listSnapshots(SRC[0]!))[SRC[0]!]!.map((s) => s.name)).toEqual([
      'tandem-2',
      'tandem-4',
    ]);
  });

  it('destroys everything it created on node2', async () => {
    for (const d of DST) await n2.zfs.destroyDataset(d);
    const left = (await n2.zfs.listDatasets('data')).map((d) => d.name).filter((n) => n.includes(VM));
    expect(left).toEqual([]);
    expect((await n2.listVms()).map((v) => v.name)).not.toContain(VM);
  });
});
