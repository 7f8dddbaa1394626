import { describe, expect, it } from 'vitest';
import { NO_REASON } from '@/server/domain/plans/object-runs';
import { boot, finished, withReplica, type Env } from './demo-env';

/*
 * Run reports of single-object failovers (a VM's, an RBD image's) started from their wizards or
 * the API: who, why, the recovery point used, the measured data loss and recovery time; none for
 * the failovers a plan's run starts (the plan's report has them).
 */

const IMAGE = 'vm-web01-root';
const objectReports = async (env: Env) => (await env.caller.plans.reports({})).filter((r) => r.objectRun);

async function ended(env: Env, taskId: number, want = 'finished') {
  const t = await env.app.tasks.wait(taskId);
  if (t.state !== want) throw new Error(`task #${taskId}: ${t.state} (wanted ${want}) ${t.error}`);
  return t;
}

describe('run reports of single-object failovers', { timeout: 60_000 }, () => {
  it("a VM's planned failover: the reason, no data lost, the recovery time to the VM's start", async () => {
    const env = boot();
    const rid = await withReplica(env);
    const { taskId } = await env.caller.replicas.failover({
      id: rid,
      confirm: 'web01',
      mode: 'planned',
      reason: 'kernel update on demo-node1',
    });
    await ended(env, taskId);
    const [row] = await objectReports(env);
    expect(row).toMatchObject({
      planId: null,
      planName: 'VM web01',
      kind: 'planned',
      reason: 'kernel update on demo-node1',
      state: 'finished',
      startedBy: 'op',
      dataLossSec: 0,
      taskId,
    });
    expect(await env.caller.plans.runOfTask({ taskId })).toEqual({ runId: row!.id });
    const r = await env.caller.plans.report({ id: row!.id });
    const start = env.app.tasks.steps(taskId).find((s) => s.name === 'Start the VM')!;
    expect(r.objectRun).toBe(true);
    expect(r.items).toHaveLength(1);
    expect(r.items[0]).toMatchObject({
      state: 'done',
      taskId,
      dataLossSec: 0,
      readyAt: start.finishedAt!.getTime(),
    });
    expect(r.recoveryTimeMs).toBe(start.finishedAt!.getTime() - r.startedAt);
    expect(r.items[0]!.steps.map((s) => s.name)).toContain('Start the VM');
  });

  it("a forced failover with the master's node gone, started through the API without a reason: the loss measured from the recovery point", async () => {
    const env = boot();
    const rid = await withReplica(env);
    const lastSync = env.app.replicas.row(rid).lastSyncAt!.getTime();
    env.world.down.add('demo-node1');
    const { taskId } = await env.caller.replicas.failover({ id: rid, confirm: 'web01', mode: 'forced' });
    await ended(env, taskId);
    const [row] = await objectReports(env);
    const r = await env.caller.plans.report({ id: row!.id });
    expect(r).toMatchObject({ kind: 'disaster', reason: NO_REASON });
    expect(r.items[0]!.recoveryPointAt).toBe(lastSync);
    expect(r.dataLossSec).toBe(Math.round((r.startedAt - lastSync) / 1000));
    expect(r.dataLossSec).toBeGreaterThan(0);
  });

  it("an image's planned failover, and none for a plan run's own failovers", async () => {
    const env = boot();
    env.tickMs = 100;
    const [a, b] = [env.node('demo-site-a'), env.node('demo-site-b')];
    const { taskId } = await env.caller.ceph.failover({
      fromSiteId: a,
      toSiteId: b,
      pool: 'rbd',
      image: IMAGE,
      confirm: IMAGE,
      reason: 'site A maintenance',
    });
    await ended(env, taskId);
    const [row] = await objectReports(env);
    expect(row).toMatchObject({
      planName: `RBD image rbd/${IMAGE} (demo-site-a → demo-site-b)`,
      kind: 'planned',
      reason: 'site A maintenance',
      dataLossSec: 0,
    });
    const r = await env.caller.plans.report({ id: row!.id });
    expect(r.recoveryTimeMs).toBe(r.items[0]!.finishedAt! - r.startedAt);

    // Back by a plan: its run has a report, its image failover none of its own.
    const plan = await env.caller.plans.create({
      name: 'back',
      items: [
        {
          kind: 'rbd',
          protectedSiteId: b,
          recoverySiteId: a,
          pool: 'rbd',
          namespace: '',
          image: IMAGE,
          group: 1,
        },
      ],
    });
    const run = await env.caller.plans.run({ id: plan.id, kind: 'planned', reason: 'home', confirm: 'back' });
    await ended(env, run.taskId);
    expect((await env.caller.plans.reports({})).map((x) => [x.objectRun, x.kind, x.planName])).toEqual([
      [false, 'planned', 'back'],
      [true, 'planned', `RBD image rbd/${IMAGE} (demo-site-a → demo-site-b)`],
    ]);
  });

  it('a failover that fails is reported failed, and done once resumed', async () => {
    const first = boot({ faults: 'replica.failover:Start the VM:error' });
    const rid = await withReplica(first);
    const { taskId } = await first.caller.replicas.failover({
      id: rid,
      confirm: 'web01',
      mode: 'planned',
      reason: 'drill',
    });
    await ended(first, taskId, 'failed');
    const [row] = await objectReports(first);
    expect((await first.caller.plans.report({ id: row!.id })).items[0]).toMatchObject({
      state: 'failed',
      error: expect.stringMatching(/injected fault/),
    });
    const env = boot({ from: first });
    await env.caller.tasks.resume({ id: taskId, confirm: 'web01' });
    await finished(env.app, taskId);
    const r = await env.caller.plans.report({ id: row!.id });
    expect(r.items[0]).toMatchObject({ state: 'done', error: null, dataLossSec: 0 });
    expect(r.recoveryTimeMs).toBeGreaterThan(0);
  });
});
