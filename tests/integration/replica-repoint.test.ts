import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import type { App } from '@/server/app';
import type { createCaller } from '@/server/trpc/root';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import { finishedTask, hasHold, labApp, md5, snapshotsOf, userrefs, writeDisk } from './lab-app';

/**
 * Re-point on the real node lab: r1 replicates a VM node1 → node2 and r2 node1 → node3. r1 fails
 * over (planned), so the VM runs on node2 and r2 is paused; r2 is re-pointed to node2, node3's
 * data continuing from the snapshot node2 started from (brought over from node1, which only
 * sends), and a write on node2 arrives on node3. One VM, two 16 MiB disks.
 */
const VM = `rp${process.pid % 10000}`;

let lab: Lab;
let app: App;
let caller: ReturnType<typeof createCaller>;
let site: Record<string, number>;
let n1: SshRunner;
let n2: SshRunner;
let n3: SshRunner;
let r1 = 0;
let r2 = 0;
/** Each disk on node1 (the first master), node2 (r1's target, the new master) and node3 (r2's target). */
const disks = [
  { n1: `zones/${VM}-disk0`, n2: `zones/${VM}-disk0`, n3: `zones/${VM}-disk0` },
  { n1: `zones/${VM}-disk1`, n2: `data/${VM}-disk1`, n3: `zones/${VM}-disk1` },
];
const img = (ds: string) => `/${ds}/disk.img`;

async function sync(id: number) {
  const { taskId } = await caller.replicas.syncNow({ id });
  return finishedTask(app, taskId);
}

/** Every snapshot of the VM's datasets on a node, with its hold count. */
async function snapshotTree(r: SshRunner, datasets: string[]) {
  const out: string[] = [];
  for (const ds of datasets) for (const s of await snapshotsOf(r, ds)) out.push(`${ds}@${s}`);
  return out;
}

beforeAll(async () => {
  lab = await openLab(3);
  n1 = lab.runner('node1');
  n2 = lab.runner('node2');
  n3 = lab.runner('node3');
  await labScript('mkvm', 'node1', VM, '2', '16');
  ({ app, caller, site } = await labApp(lab));
});

afterAll(async () => {
  await app?.tasks.shutdown();
  for (const runner of [n1, n2, n3]) {
    if (!runner) continue;
    const left = await cleanVm(runner, VM, ['tandem-r1', 'tandem-r2']);
    if (left.length) console.warn(`[repoint] could not remove ${left.join(', ')}`);
  }
  await app?.ssh.closeAll();
  await lab?.close();
});

describe('re-point of a sibling replica on the real node lab', () => {
  let failoverSnapshot = '';

  it('replicates one VM to node2 (r1) and node3 (r2), then fails r1 over: the VM runs on node2 and r2 is paused', async () => {
    const a = await caller.replicas.create({
      name: 'r1',
      vmName: VM,
      sourceSiteId: site.node1!,
      targetSiteId: site.node2!,
      rootZpool: 'zones',
      diskZpools: { vdb: 'data' },
      sleepTimeSec: 3600,
      acceptRpoRisk: true,
    });
    const b = await caller.replicas.create({
      name: 'r2',
      vmName: VM,
      sourceSiteId: site.node1!,
      targetSiteId: site.node3!,
      rootZpool: 'zones',
      sleepTimeSec: 3600,
      acceptRpoRisk: true,
    });
    r1 = a.id;
    r2 = b.id;
    await finishedTask(app, a.taskId);
    await finishedTask(app, b.taskId);
    await writeDisk(n1, img(disks[0]!.n1), 2, 2);
    await sync(r1);
    await sync(r2);
    await writeDisk(n1, img(disks[1]!.n1), 1, 6);
    const fo = await caller.replicas.failover({ id: r1, confirm: VM, mode: 'planned' });
    const t = await finishedTask(app, fo.taskId);
    failoverSnapshot = (t.params as { snapshot: string }).snapshot;
    expect(await n2.run({ argv: ['virsh', 'domstate', VM] }).then((x) => x.stdout.trim())).toMatch(
      /paused|running/,
    );
    expect(await caller.replicas.get({ id: r2 })).toMatchObject({
      conflict: { kind: 'master-moved', siteId: site.node2, byReplicaId: r1 },
      movedTo: 'node2',
    });
    await expect(caller.replicas.syncNow({ id: r2 })).rejects.toThrow(/re-point or delete it/);
  });

  it('re-points r2 to node2 from the snapshot node2 started from; node1 only sends', async () => {
    const plan = await caller.replicas.repointPlan({ id: r2 });
    expect(plan).toMatchObject({
      canProceed: true,
      oldMaster: 'node1',
      newMaster: 'node2',
      targetSite: 'node3',
    });
    expect(plan.disks.map((d) => [d.source, d.target, d.via, d.common])).toEqual(
      disks.map((d) => [d.n2, d.n3, 'old-master', failoverSnapshot]),
    );
    const node1Before = await snapshotTree(
      n1,
      disks.map((d) => d.n1),
    );
    const t0 = Date.now();
    const { taskId } = await caller.replicas.repoint({ id: r2, confirm: VM });
    const t = await finishedTask(app, taskId);
    console.log(
      `[repoint] ${Date.now() - t0} ms: ${app.tasks
        .steps(taskId)
        .map((s) => `${s.name} ${s.finishedAt!.getTime() - s.startedAt!.getTime()} ms`)
        .join(', ')}`,
    );
    const row = await caller.replicas.get({ id: r2 });
    expect(row).toMatchObject({
      state: 'idle',
      conflict: null,
      operation: null,
      sourceSiteId: site.node2,
      targetSiteId: site.node3,
      movedTo: null,
    });
    expect(row.datasets.map((d) => [d.source, d.target])).toEqual(disks.map((d) => [d.n2, d.n3]));
    const logs = app.tasks.logs(t.id).map((l) => l.message);
    for (const d of disks) expect(logs).toContain(`${d.n2} → ${d.n3}: incremental from ${failoverSnapshot}`);
    for (const d of disks) {
      // The new base is held on node2 and node3; the bridge snapshot is gone from node3 again.
      expect(await hasHold(n2, `${d.n2}@${row.lastSnapshot}`, 'tandem-r2')).toBe(true);
      expect(await hasHold(n3, `${d.n3}@${row.lastSnapshot}`, 'tandem-r2')).toBe(true);
      expect((await snapshotsOf(n3, d.n3)).every((s) => s.startsWith('tandem-r2-'))).toBe(true);
      expect(await md5(n3, img(d.n3))).toBe(await md5(n2, img(d.n2)));
      // On node1 r2's holds are released and nothing is destroyed.
      for (const s of (await snapshotsOf(n1, d.n1)).filter((x) => x.startsWith('tandem-r2-')))
        expect(await userrefs(n1, `${d.n1}@${s}`)).toBe(0);
    }
    expect(
      await snapshotTree(
        n1,
        disks.map((d) => d.n1),
      ),
    ).toEqual(node1Before);
  });

  it('a write on node2 arrives on node3, incrementally', async () => {
    const base = (await caller.replicas.get({ id: r2 })).lastSnapshot!;
    await writeDisk(n2, img(disks[0]!.n2), 2, 10);
    await writeDisk(n2, img(disks[1]!.n2), 1, 12);
    const t = await sync(r2);
    const logs = app.tasks.logs(t.id).map((l) => l.message);
    for (const d of disks)
      expect(logs.some((m) => m.startsWith(`${d.n2} → ${d.n3}: incremental from ${base}`))).toBe(true);
    expect(t.progressComplete).toBeLessThan(8 * 1024 * 1024);
    for (const d of disks) expect(await md5(n3, img(d.n3)), d.n3).toBe(await md5(n2, img(d.n2)));
  });

  it('r1 reinitialises the old master as before; both replicas of node2 then sync', async () => {
    const ri = await caller.replicas.reinit({ id: r1, confirm: VM });
    await finishedTask(app, ri.taskId);
    await writeDisk(n2, img(disks[0]!.n2), 1, 14);
    await sync(r1);
    await sync(r2);
    for (const d of disks) {
      const m = await md5(n2, img(d.n2));
      expect(await md5(n1, img(d.n1)), d.n1).toBe(m);
      expect(await md5(n3, img(d.n3)), d.n3).toBe(m);
    }
  });
});
