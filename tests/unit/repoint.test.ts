import { describe, expect, it } from 'vitest';
import { repointBase, repointBlocked } from '@/server/domain/replicas/rules';
import type { SnapshotInfo } from '@/server/adapters/node/types';
import { boot, finished, live, stuckAt, vmStates, withReplica, type Env } from './demo-env';

/**
 * Re-pointing a sibling replica after a failover (demo nodes): r1 (node1 → node2) and r2
 * (node1 → node3) replicate web01; r1 fails over, so r2 pulls from the old master and is paused
 * until it is re-pointed to node2 (or fully resynced from node2, or deleted).
 */
const TAG = 'tandem-r2';

/** Snapshots of a dataset on a demo node that carry `tag`. */
function held(env: Env, node: string, ds: string, tag = TAG): string[] {
  const d = env.world.node(node)!.datasets.find((x) => x.name === ds);
  return (d?.snapshots ?? []).filter((s) => s.holds?.includes(tag)).map((s) => s.name);
}
function snapNames(env: Env, node: string, ds: string): string[] {
  return (env.world.node(node)!.datasets.find((x) => x.name === ds)?.snapshots ?? []).map((s) => s.name);
}
/** Every dataset and snapshot of a node (to prove that a re-point changed nothing there). */
function tree(env: Env, node: string) {
  return env.world
    .node(node)!
    .datasets.filter((d) => d.name.includes('web01'))
    .map((d) => `${d.name}:${d.snapshots.map((s) => s.name).join(',')}`)
    .sort();
}

async function sync(env: Env, id: number) {
  const s = await env.caller.replicas.syncNow({ id });
  return finished(env.app, s.taskId);
}

/** r1 → node2 and r2 → node3, each synced a few times, then r1 failed over (planned). */
async function failedOver(env: Env) {
  const r1 = await withReplica(env, 'r1', 'web01', 'demo-node2');
  const r2 = await withReplica(env, 'r2', 'web01', 'demo-node3');
  for (let i = 0; i < 2; i++) {
    await sync(env, r1);
    await sync(env, r2);
  }
  const fo = await env.caller.replicas.failover({ id: r1, confirm: 'web01', mode: 'planned' });
  await finished(env.app, fo.taskId);
  expect(env.app.replicas.row(r2).conflict).toMatchObject({
    kind: 'master-moved',
    siteId: env.node('demo-node2'),
    byReplicaId: r1,
  });
  return { r1, r2 };
}

const snap = (name: string, guid: string, txg: number): SnapshotInfo => ({
  dataset: 'd',
  name,
  guid,
  createTxg: String(txg),
  creation: txg,
  usedBytes: 0,
  referencedBytes: 0,
});
const names = { master: 'node2', target: 'node3', old: 'node1' };

describe('re-point rules', () => {
  it('finds the base: on the replica already, or brought from the old master, or says why not', () => {
    const b = snap('r2-b', 'g-b', 10);
    const f = snap('r1-f', 'g-f', 20);
    // The replica's newest snapshot is on the new master too: nothing to bring.
    expect(repointBase({ dataset: 'zones/x', master: [f], replica: [b, f], old: null, names })).toMatchObject(
      { via: 'direct', common: { name: 'r1-f' } },
    );
    // The usual case after a planned failover: r2's base is older than the snapshot node2 started from.
    expect(repointBase({ dataset: 'zones/x', master: [f], replica: [b], old: [b, f], names })).toMatchObject({
      via: 'old-master',
      common: { name: 'r1-f' },
      from: { name: 'r2-b' },
    });
    // The replica has writes the new master never got (r2 synced after r1's recovery point).
    expect(
      repointBase({
        dataset: 'zones/x',
        master: [snap('r1-f', 'g-f', 5)],
        replica: [b],
        old: [snap('r1-f', 'g-f', 5), b],
        names,
      }),
    ).toMatchObject({ via: null, problem: expect.stringMatching(/newer than r1-f.*discard/) });
    expect(repointBase({ dataset: 'zones/x', master: [f], replica: [b], old: [f], names })).toMatchObject({
      via: null,
      problem: expect.stringMatching(/node1 no longer has r2-b/),
    });
    expect(
      repointBase({ dataset: 'zones/x', master: [f], replica: [b], old: null, oldError: 'no answer', names }),
    ).toMatchObject({
      via: null,
      problem: expect.stringMatching(/no snapshot in common with node2.*node1.*no answer/),
    });
    expect(repointBase({ dataset: 'zones/x', master: [f], replica: null, old: [b, f], names })).toMatchObject(
      { via: null, problem: expect.stringMatching(/zones\/x does not exist on node3/) },
    );
  });

  it('is refused while the failover that moved the master is unfinished, or without a moved master', () => {
    const r = {
      name: 'r2',
      operation: null,
      conflict: { kind: 'master-moved' as const, siteId: 2, byReplicaId: 1, at: 0 },
      targetSiteId: 3,
    };
    const by = { name: 'r1', state: 'reinit-required' as const, operation: null, sourceSiteId: 2 };
    expect(repointBlocked({ replica: r, by, newMaster: 'node2' })).toEqual([]);
    expect(
      repointBlocked({
        replica: r,
        by: { ...by, state: 'failing-over', operation: { kind: 'failover', taskId: 7, startedAt: 0 } },
        newMaster: 'node2',
      })[0],
    ).toMatch(/failover of replica r1 \(task #7\) is still in progress/);
    expect(
      repointBlocked({
        replica: r,
        by: { ...by, state: 'reinit-running', operation: { kind: 'reinit', taskId: 9, startedAt: 0 } },
        newMaster: 'node2',
      })[0],
    ).toMatch(/reinit of replica r1 \(task #9\)/);
    expect(repointBlocked({ replica: { ...r, conflict: null }, by, newMaster: 'node2' })[0]).toMatch(
      /master has not moved/,
    );
    expect(repointBlocked({ replica: r, by: { ...by, sourceSiteId: 1 }, newMaster: 'node2' })[0]).toMatch(
      /moved again/,
    );
    expect(repointBlocked({ replica: r, by: null, newMaster: 'node2' })).toEqual([]);
  });
});

describe('re-point of a sibling replica (demo nodes)', () => {
  it('is refused while the failover is in progress or cut off, and runs once it has finished', async () => {
    const first = boot({ faults: 'replica.failover:Start the VM:hang' });
    const r1 = await withReplica(first, 'r1', 'web01', 'demo-node2');
    const r2 = await withReplica(first, 'r2', 'web01', 'demo-node3');
    const { taskId } = await first.caller.replicas.failover({ id: r1, confirm: 'web01', mode: 'planned' });
    await stuckAt(first.app, taskId, 'Start the VM');
    expect(first.app.replicas.row(r2).conflict).toMatchObject({ kind: 'master-moved', byReplicaId: r1 });
    const busy = new RegExp(`failover of replica r1 \\(task #${taskId}\\) is still in progress`);
    expect((await first.caller.replicas.repointPlan({ id: r2 })).blocked.join(' ')).toMatch(busy);
    await expect(first.caller.replicas.repoint({ id: r2, confirm: 'web01' })).rejects.toThrow(busy);
    // The process dies: the failover is interrupted, still unfinished.
    const env = boot({ from: first });
    await expect(env.caller.replicas.repoint({ id: r2, confirm: 'web01' })).rejects.toThrow(busy);
    expect(env.app.replicas.row(r2)).toMatchObject({ sourceSiteId: env.node('demo-node1'), operation: null });
    await env.caller.tasks.resume({ id: taskId, confirm: 'web01' });
    await finished(env.app, taskId);
    const plan = await env.caller.replicas.repointPlan({ id: r2 });
    expect(plan).toMatchObject({
      canProceed: true,
      blocked: [],
      newMaster: 'demo-node2',
      oldMaster: 'demo-node1',
    });
    const t = await env.caller.replicas.repoint({ id: r2, confirm: 'web01' });
    await finished(env.app, t.taskId);
    expect(env.app.replicas.row(r2)).toMatchObject({
      sourceSiteId: env.node('demo-node2'),
      conflict: null,
      operation: null,
    });
  });

  it('is refused while the reinit of the old master runs', async () => {
    const env = boot({ faults: 'replica.reinit:Transfer to the replica:hang' });
    const { r1, r2 } = await failedOver(env);
    const ri = await env.caller.replicas.reinit({ id: r1, confirm: 'web01' });
    await stuckAt(env.app, ri.taskId, 'Transfer to the replica');
    await expect(env.caller.replicas.repoint({ id: r2, confirm: 'web01' })).rejects.toThrow(
      new RegExp(`reinit of replica r1 \\(task #${ri.taskId}\\) is still in progress`),
    );
    expect(env.app.replicas.row(r2)).toMatchObject({
      sourceSiteId: env.node('demo-node1'),
      operation: null,
      conflict: { kind: 'master-moved' },
    });
  });

  it('re-points r2 to node2 from the snapshot both share, then syncs node2 → node3 incrementally; node1 is left as it was', async () => {
    const env = boot();
    const { r1, r2 } = await failedOver(env);
    await expect(env.caller.replicas.syncNow({ id: r2 })).rejects.toThrow(/re-point or delete it/);
    const node1Before = tree(env, 'demo-node1');
    const plan = await env.caller.replicas.repointPlan({ id: r2 });
    expect(plan).toMatchObject({
      canProceed: true,
      oldMaster: 'demo-node1',
      newMaster: 'demo-node2',
      targetSite: 'demo-node3',
    });
    expect(plan.disks.map((d) => [d.device, d.source, d.target, d.via])).toEqual([
      ['vda', 'zones/web01-disk0', 'zones/web01-disk0', 'old-master'],
      ['vdb', 'data/web01-disk1', 'zones/web01-disk1', 'old-master'],
    ]);
    // The snapshot node2 started from (r1's final one) is what the two will share.
    const f = env.app.tasks.get(
      env.app.history.list({ action: 'replica.failover' }, { limit: 1, offset: 0 }).rows[0]!.taskId!,
    )!.params as { snapshot: string };
    expect(plan.disks.every((d) => d.common === f.snapshot)).toBe(true);
    await expect(env.caller.replicas.repoint({ id: r2, confirm: 'nope' })).rejects.toThrow(
      /type the VM name web01/,
    );

    const t = await env.caller.replicas.repoint({ id: r2, confirm: 'web01' });
    expect(env.app.replicas.row(r2)).toMatchObject({
      state: 'reinit-running',
      operation: { kind: 'repoint', taskId: t.taskId },
    });
    await expect(env.caller.replicas.syncNow({ id: r2 })).rejects.toThrow(/in a repoint/);
    await finished(env.app, t.taskId);
    const row = env.app.replicas.row(r2);
    expect(row).toMatchObject({
      state: 'idle',
      enabled: true,
      operation: null,
      conflict: null,
      sourceSiteId: env.node('demo-node2'),
      targetSiteId: env.node('demo-node3'),
    });
    expect(row.datasets.map((d) => [d.device, d.source, d.target])).toEqual([
      ['vda', 'zones/web01-disk0', 'zones/web01-disk0'],
      ['vdb', 'data/web01-disk1', 'zones/web01-disk1'],
    ]);
    // Its first sync ran incrementally from the shared snapshot, node to node.
    const logs = env.app.tasks.logs(t.taskId).map((l) => l.message);
    expect(logs).toContain(`data/web01-disk1 → zones/web01-disk1: incremental from ${f.snapshot}`);
    // Holds: the new base on node2 and node3; none of r2's left on node1, where nothing else changed.
    expect(held(env, 'demo-node2', 'zones/web01-disk0')).toEqual([row.lastSnapshot]);
    expect(held(env, 'demo-node2', 'data/web01-disk1')).toEqual([row.lastSnapshot]);
    expect(held(env, 'demo-node3', 'zones/web01-disk1')).toEqual([row.lastSnapshot]);
    expect(held(env, 'demo-node1', 'zones/web01-disk0')).toEqual([]);
    expect(tree(env, 'demo-node1')).toEqual(node1Before);
    // The snapshot brought over as the bridge is gone from node3 again: only r2's own are left.
    expect(snapNames(env, 'demo-node3', 'zones/web01-disk0').every((n) => n.startsWith('tandem-r2-'))).toBe(
      true,
    );

    // Replication goes on from node2, incrementally, on the schedule and by hand.
    const s = await sync(env, r2);
    const syncLogs = env.app.tasks.logs(s.id).map((l) => l.message);
    expect(
      syncLogs.some((m) =>
        m.startsWith(`data/web01-disk1 → zones/web01-disk1: incremental from ${row.lastSnapshot}`),
      ),
    ).toBe(true);
    expect(env.app.replicas.row(r2).lastSyncBytes!).toBeLessThan(1024 ** 3);
    env.clock.advance(3600_000);
    const { started } = await env.app.scheduler.tick();
    expect(started).toHaveLength(1);
    await finished(env.app, started[0]!);
    expect(live(await vmStates(env))).toEqual(['demo-node2']);

    // History: the task, with its steps.
    const h = env.app.history.list({ action: 'replica.repoint' }, { limit: 5, offset: 0 });
    expect(h.total).toBe(1);
    expect(h.rows[0]).toMatchObject({ outcome: 'success', target: `replica:${r2}`, username: 'op' });

    // r1's own way back still works: the old master is reinitialised and syncs from node2.
    const ri = await env.caller.replicas.reinit({ id: r1, confirm: 'web01' });
    await finished(env.app, ri.taskId);
    for (let i = 0; i < 4; i++) {
      await sync(env, r1);
      await sync(env, r2);
    }
  });

  it('without a snapshot in common it is refused and points to the full resync, which re-points and sends every disk in full', async () => {
    const env = boot();
    const { r2 } = await failedOver(env);
    // Someone removed r2's snapshots on the old master (holds released first): nothing links node3 to node2 any more.
    const n1 = env.app.replicas.node(env.node('demo-node1'));
    for (const ds of ['zones/web01-disk0', 'zones/web01-disk1']) {
      await n1.zfs.releaseHolds(ds, TAG);
      await n1.zfs.destroySnapshots(
        ds,
        snapNames(env, 'demo-node1', ds).filter((n) => n.startsWith('tandem-r2-')),
      );
    }
    const plan = await env.caller.replicas.repointPlan({ id: r2 });
    expect(plan.canProceed).toBe(false);
    expect(
      plan.disks.every((d) => d.via === null && /demo-node1 no longer has tandem-r2-/.test(d.problem ?? '')),
    ).toBe(true);
    await expect(env.caller.replicas.repoint({ id: r2, confirm: 'web01' })).rejects.toThrow(
      /no longer has tandem-r2-.*full resync.*or delete the replica/,
    );
    expect(env.app.replicas.row(r2)).toMatchObject({
      sourceSiteId: env.node('demo-node1'),
      operation: null,
      conflict: { kind: 'master-moved' },
    });

    // The full resync takes the data from the new master, keeping r2's current data aside.
    const rp = await env.caller.replicas.resyncPlan({ id: r2 });
    expect(rp).toMatchObject({
      masterSite: 'demo-node2',
      targetSite: 'demo-node3',
      repoint: { toSiteId: env.node('demo-node2') },
    });
    const t = await env.caller.replicas.fullResync({ id: r2, confirm: 'web01' });
    await finished(env.app, t.taskId);
    expect(env.app.replicas.row(r2)).toMatchObject({
      state: 'idle',
      operation: null,
      conflict: null,
      sourceSiteId: env.node('demo-node2'),
    });
    const kept = env.world
      .node('demo-node3')!
      .datasets.map((d) => d.name)
      .filter((n) => n.includes('-diverged-'));
    expect(kept).toHaveLength(2);
    expect(env.app.tasks.logs(t.taskId).map((l) => l.message)).toContain(
      'data/web01-disk1 → zones/web01-disk1: full send',
    );
    const s = await sync(env, r2);
    expect(
      env.app.tasks
        .logs(s.id)
        .some((l) => /^zones\/web01-disk0 → zones\/web01-disk0: incremental from/.test(l.message)),
    ).toBe(true);
  });

  for (const step of [
    'Bring the common snapshot to the replica',
    'Switch to the new master',
    'Snapshot on the master',
    'Transfer to the replica',
    'Protect and prune',
    'Resume replication',
  ]) {
    it(`cut off after "${step}" it resumes to the same end${['Bring the common snapshot to the replica'].includes(step) ? ', or rolls back' : ''}`, async () => {
      const first = boot({ faults: `replica.repoint:${step}:hang-after` });
      const { r2 } = await failedOver(first);
      const t = await first.caller.replicas.repoint({ id: r2, confirm: 'web01' });
      await stuckAt(first.app, t.taskId, step);
      const env = boot({ from: first });
      expect((await env.app.scheduler.tick()).started).toEqual([]);
      const offer = env.app.tasks.recovery(t.taskId)!;
      if (step === 'Resume replication') {
        // Everything was done but the task's own record.
        expect(offer.resume.ok).toBe(false);
      } else {
        expect(offer.resume.ok).toBe(true);
        expect(offer.rollback.ok).toBe(step === 'Bring the common snapshot to the replica');
        if (offer.rollback.ok) {
          await env.caller.tasks.rollback({ id: t.taskId, confirm: 'web01' });
          await finished(env.app, t.taskId);
          expect(env.app.replicas.row(r2)).toMatchObject({
            operation: null,
            sourceSiteId: env.node('demo-node1'),
            conflict: { kind: 'master-moved' },
          });
          // The snapshot it brought stays on node3: a new re-point needs nothing from the old master.
          const plan = await env.caller.replicas.repointPlan({ id: r2 });
          expect(plan.disks.map((d) => d.via)).toEqual(['direct', 'direct']);
          const again = await env.caller.replicas.repoint({ id: r2, confirm: 'web01' });
          await finished(env.app, again.taskId);
        } else {
          await env.caller.tasks.resume({ id: t.taskId, confirm: 'web01' });
          await finished(env.app, t.taskId);
        }
      }
      expect(env.app.replicas.row(r2)).toMatchObject({
        state: 'idle',
        operation: null,
        conflict: null,
        sourceSiteId: env.node('demo-node2'),
      });
      await sync(env, r2);
    });
  }
});
