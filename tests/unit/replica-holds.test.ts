import { describe, expect, it } from 'vitest';
import { noCommonRefusal } from '@/server/domain/replicas/rules';
import { boot, finished, withReplica, type Env } from './demo-env';

/** What an admin does before destroying held snapshots: release Tandem's hold, then destroy. */
async function destroyReplicaSnapshots(env: Env, node: string, ds: string, tag = 'tandem-dr') {
  const n = env.app.replicas.node(env.node(node));
  await n.zfs.releaseHolds(ds, tag);
  await n.zfs.destroySnapshots(
    ds,
    ((await n.zfs.listSnapshots(ds))[ds] ?? []).map((s) => s.name),
  );
}

describe('a replica without a snapshot in common with its master', () => {
  it('is a refusal with the reason, never a full stream over the replica', () => {
    expect(
      noCommonRefusal({
        dataset: 'zones/x',
        node: 'node2',
        source: 'zones/x',
        sourceNode: 'node1',
        snapshots: 0,
        syncedBefore: false,
      }),
    ).toBeNull();
    expect(
      noCommonRefusal({
        dataset: 'zones/x',
        node: 'node2',
        source: 'zones/x',
        sourceNode: 'node1',
        snapshots: 3,
        syncedBefore: true,
      }),
    ).toMatch(/zones\/x on node2 has no snapshot in common with zones\/x on node1.*full resync/);
    expect(
      noCommonRefusal({
        dataset: 'zones/x',
        node: 'node2',
        source: 'zones/x',
        sourceNode: 'node1',
        snapshots: 0,
        syncedBefore: true,
      }),
    ).toMatch(/has no snapshot left/);
  });

  it('a sync is refused once the common snapshots were destroyed on the master; the full resync keeps the replica aside and replication works again', async () => {
    const env = boot();
    const id = await withReplica(env);
    for (const ds of ['zones/web01-disk0', 'zones/web01-disk1'])
      await destroyReplicaSnapshots(env, 'demo-node1', ds);
    const s = await env.caller.replicas.syncNow({ id });
    const t = await env.app.tasks.wait(s.taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(
      /zones\/web01-disk0 on demo-node2 has no snapshot in common with zones\/web01-disk0 on demo-node1/,
    );
    expect(env.app.replicas.row(id)).toMatchObject({
      state: 'error',
      lastError: expect.stringMatching(/no snapshot in common.*full resync/),
    });
    const plan = await env.caller.replicas.resyncPlan({ id });
    expect(plan.datasets.every((d) => d.exists && d.commonSnapshot === null)).toBe(true);
    const r = await env.caller.replicas.fullResync({ id, confirm: 'web01' });
    await finished(env.app, r.taskId);
    expect(env.world.node('demo-node2')!.datasets.filter((d) => d.name.includes('-diverged-'))).toHaveLength(
      2,
    );
    const again = await env.caller.replicas.syncNow({ id });
    await finished(env.app, again.taskId);
    expect(env.app.replicas.row(id)).toMatchObject({ state: 'idle', lastError: null });
  });

  it('the receive guard also covers a replica dataset with no snapshot left: writable, it is not overwritten', async () => {
    const env = boot();
    const id = await withReplica(env);
    await destroyReplicaSnapshots(env, 'demo-node2', 'zones/web01-disk0');
    const n2 = env.app.replicas.node(env.node('demo-node2'));
    const s = await env.caller.replicas.syncNow({ id });
    expect((await env.app.tasks.wait(s.taskId)).error).toMatch(
      /zones\/web01-disk0 on demo-node2 has no snapshot in common .*\(it has no snapshot left\)/,
    );
    await n2.zfs.setReadonly('zones/web01-disk0', false);
    const w = await env.caller.replicas.syncNow({ id });
    expect((await env.app.tasks.wait(w.taskId)).error).toMatch(
      /zones\/web01-disk0 on demo-node2 is writable/,
    );
    expect(
      env.world.node('demo-node2')!.datasets.find((d) => d.name === 'zones/web01-disk0')!.snapshots,
    ).toEqual([]);
  });
});
