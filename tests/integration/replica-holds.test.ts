import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import type { App } from '@/server/app';
import type { createCaller } from '@/server/trpc/root';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import {
  datasetExists,
  finishedTask,
  hasHold,
  labApp,
  md5,
  snapshotsOf,
  userrefs,
  writeDisk,
} from './lab-app';

/**
 * Replication holds and the full resync on the real node lab (zfs-fuse, node-to-node SSH): the
 * base is held on both nodes and survives a `zfs destroy`; the hold moves with each sync; when an
 * admin releases and destroys the common snapshots anyway, syncing stops with the reason and the
 * full resync keeps the replica's data aside and replicates again. One VM, two 16 MiB disks.
 */
const VM = `rh${process.pid % 10000}`;
const TAG = 'tandem-hd';

let lab: Lab;
let app: App;
let caller: ReturnType<typeof createCaller>;
let site: Record<string, number>;
let n1: SshRunner;
let n2: SshRunner;
let id = 0;
/** Each disk: its dataset and image on node1 (master) and node2 (replica). */
const disks = [
  {
    src: `zones/${VM}-disk0`,
    dst: `zones/${VM}-disk0`,
    srcImg: `/zones/${VM}-disk0/disk.img`,
    dstImg: `/zones/${VM}-disk0/disk.img`,
  },
  {
    src: `zones/${VM}-disk1`,
    dst: `data/${VM}-disk1`,
    srcImg: `/zones/${VM}-disk1/disk.img`,
    dstImg: `/data/${VM}-disk1/disk.img`,
  },
];

async function sync() {
  const { taskId } = await caller.replicas.syncNow({ id });
  const t = await finishedTask(app, taskId);
  return { task: t, snapshot: (await caller.replicas.get({ id })).lastSnapshot! };
}

async function expectHeld(snap: string) {
  for (const d of disks) {
    for (const [r, ds] of [
      [n1, d.src],
      [n2, d.dst],
    ] as const) {
      expect(await userrefs(r, `${ds}@${snap}`), `${ds}@${snap} holds`).toBe(1);
      expect(await hasHold(r, `${ds}@${snap}`, TAG), `${ds}@${snap} held by ${TAG}`).toBe(true);
    }
  }
}

async function expectSameDisks() {
  for (const d of disks) expect(await md5(n2, d.dstImg), d.dst).toBe(await md5(n1, d.srcImg));
}

beforeAll(async () => {
  lab = await openLab(3);
  n1 = lab.runner('node1');
  n2 = lab.runner('node2');
  await labScript('mkvm', 'node1', VM, '2', '16');
  ({ app, caller, site } = await labApp(lab));
});

afterAll(async () => {
  await app?.tasks.shutdown();
  for (const runner of [n1, n2]) {
    if (!runner) continue;
    const left = await cleanVm(runner, VM, [TAG]);
    if (left.length) console.warn(`[holds] could not remove ${left.join(', ')}`);
  }
  await app?.ssh.closeAll();
  await lab?.close();
});

describe('replication holds and the full resync on the real node lab', () => {
  let first = '';

  it('holds the base on both nodes after the initial sync, and zfs destroy of it is refused', async () => {
    const res = await caller.replicas.create({
      name: 'hd',
      vmName: VM,
      sourceSiteId: site.node1!,
      targetSiteId: site.node2!,
      rootZpool: 'zones',
      diskZpools: { vdb: 'data' },
      sleepTimeSec: 3600,
      acceptRpoRisk: true,
      keepSnapshots: 2,
    });
    id = res.id;
    await finishedTask(app, res.taskId);
    first = (await caller.replicas.get({ id })).lastSnapshot!;
    await expectHeld(first);
    for (const d of disks) {
      for (const [r, ds] of [
        [n1, d.src],
        [n2, d.dst],
      ] as const) {
        const res = await r.run({ argv: ['zfs', 'destroy', `${ds}@${first}`], allowFailure: true });
        expect(res.exitCode, `zfs destroy ${ds}@${first}`).not.toBe(0);
        expect(res.stderr).toMatch(/dataset is busy/);
        expect(await snapshotsOf(r, ds)).toContain(first);
      }
    }
    await expectSameDisks();
  });

  it('moves the hold to the newer base at each sync; the old base is released, then pruned', async () => {
    await writeDisk(n1, disks[0]!.srcImg, 2, 3);
    const { snapshot: second } = await sync();
    await expectHeld(second);
    for (const d of disks) {
      for (const [r, ds] of [
        [n1, d.src],
        [n2, d.dst],
      ] as const) {
        expect(await userrefs(r, `${ds}@${first}`), `${ds}@${first} released`).toBe(0);
        expect(await snapshotsOf(r, ds)).toEqual([first, second]);
      }
    }
    await writeDisk(n1, disks[1]!.srcImg, 2, 5);
    const { snapshot: third } = await sync();
    await expectHeld(third);
    for (const d of disks) {
      for (const [r, ds] of [
        [n1, d.src],
        [n2, d.dst],
      ] as const) {
        // Two recovery points kept: the first base is gone on both nodes, the second released.
        expect(await snapshotsOf(r, ds)).toEqual([second, third]);
        expect(await userrefs(r, `${ds}@${second}`)).toBe(0);
      }
    }
    await expectSameDisks();
  });

  it('stops syncing when an admin destroyed the common snapshots; the full resync keeps the replica as -diverged- and replicates again', async () => {
    const replicaMd5 = await Promise.all(disks.map((d) => md5(n2, d.dstImg)));
    // As an admin would: release Tandem's holds, then destroy its snapshots on the master.
    for (const d of disks) {
      for (const s of (await snapshotsOf(n1, d.src)).filter((x) => x.startsWith('tandem-hd-'))) {
        await n1.run({ argv: ['zfs', 'release', TAG, `${d.src}@${s}`], allowFailure: true });
        await n1.run({ argv: ['zfs', 'destroy', `${d.src}@${s}`] });
      }
    }
    await writeDisk(n1, disks[0]!.srcImg, 1, 8);
    const { taskId } = await caller.replicas.syncNow({ id });
    const failed = await app.tasks.wait(taskId);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatch(
      new RegExp(
        `zones/${VM}-disk0 on node2 has no snapshot in common with zones/${VM}-disk0 on node1.*full resync`,
      ),
    );
    expect(await caller.replicas.get({ id })).toMatchObject({
      state: 'error',
      lastError: expect.stringMatching(/no snapshot in common/),
    });
    // Nothing was received: the replica is as it was.
    expect(await Promise.all(disks.map((d) => md5(n2, d.dstImg)))).toEqual(replicaMd5);

    const plan = await caller.replicas.resyncPlan({ id });
    expect(plan.datasets.map((d) => [d.dataset, d.exists, d.commonSnapshot])).toEqual(
      disks.map((d) => [d.dst, true, null]),
    );
    expect(plan.datasets.every((d) => d.keepAs === `${d.dataset}-diverged-${plan.stamp}`)).toBe(true);
    const r = await caller.replicas.fullResync({ id, confirm: VM });
    const t = await finishedTask(app, r.taskId);
    const kept = (t.result as { kept: string[] }).kept;
    // Named at the start of the task (the preview's names may be a second older).
    expect(kept).toEqual(disks.map((d) => `${d.dst}-diverged-${(t.params as { stamp: string }).stamp}`));
    for (const [i, d] of disks.entries()) {
      // The old replica data, whole, under the kept name; no replication hold left on it.
      expect(await md5(n2, `/${kept[i]}/disk.img`), kept[i]).toBe(replicaMd5[i]);
      for (const s of await snapshotsOf(n2, kept[i]!)) expect(await userrefs(n2, `${kept[i]}@${s}`)).toBe(0);
      expect(await datasetExists(n2, d.dst)).toBe(true);
    }
    await expectSameDisks();
    const resynced = await caller.replicas.get({ id });
    expect(resynced).toMatchObject({ state: 'idle', lastError: null, operation: null });
    await expectHeld(resynced.lastSnapshot!);

    await writeDisk(n1, disks[1]!.srcImg, 1, 9);
    const again = await sync();
    expect(
      app.tasks
        .logs(again.task.id)
        .some((l) =>
          l.message.startsWith(
            `zones/${VM}-disk1 → data/${VM}-disk1: incremental from ${resynced.lastSnapshot}`,
          ),
        ),
    ).toBe(true);
    await expectHeld(again.snapshot);
    await expectSameDisks();
  });
});
