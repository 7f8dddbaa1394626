import { describe, expect, it } from 'vitest';
import { DemoWorld } from '@/server/adapters/demo/world';
import { ManualClock } from '@/server/core/clock';
import {
  FAILOVER_STEPS,
  dataLossWindow,
  dualRunning,
  failoverRollbackBlocked,
  receiveRefusal,
} from '@/server/domain/replicas/rules';
import { locksConflict, parseFaults } from '@/server/tasks/engine';
import { boot, finished, live, stuckAt, vmStates, withReplica } from './demo-env';

/**
 * The bad day on the demo nodes: a failover cut off at every step (the process "dies": a second
 * app opens the same database over the same simulated machines), fencing, siblings, the receive
 * guard, VMs left paused, and a VM running on two nodes.
 */

describe('plan rules', () => {
  it('refuses a receive into a writable dataset or a live VM’s disk, allows a new or protected one', () => {
    const base = { dataset: 'zones/web01-disk0', node: 'node2', usedBy: [] };
    expect(receiveRefusal({ ...base, exists: false, readonly: false })).toBeNull();
    expect(receiveRefusal({ ...base, exists: true, readonly: true })).toBeNull();
    expect(receiveRefusal({ ...base, exists: true, readonly: false })).toMatch(
      /writable, so it is no longer a replica/,
    );
    expect(
      receiveRefusal({ ...base, exists: true, readonly: true, usedBy: [{ vm: 'web01', state: 'running' }] }),
    ).toMatch(/disk of VM web01, which is running/);
    expect(
      receiveRefusal({ ...base, exists: true, readonly: true, usedBy: [{ vm: 'web01', state: 'stopped' }] }),
    ).toBeNull();
  });

  it('quotes the data-loss window up to when the master was last seen, growing only while it answers', () => {
    const t0 = Date.UTC(2026, 0, 1, 9, 12, 0);
    const lost = dataLossWindow({
      lastSyncAt: t0,
      masterReachable: false,
      masterLastSeenAt: t0 + 4_000,
      now: t0 + 207_000,
    });
    expect(lost).toEqual({ from: t0, to: t0 + 4_000, seconds: 4, growing: false });
    expect(
      dataLossWindow({
        lastSyncAt: t0,
        masterReachable: true,
        masterLastSeenAt: t0 + 4_000,
        now: t0 + 207_000,
      }),
    ).toMatchObject({ seconds: 207, growing: true });
    expect(
      dataLossWindow({ lastSyncAt: null, masterReachable: false, masterLastSeenAt: null, now: t0 }).seconds,
    ).toBeNull();
  });

  it('allows a rollback only before the replica is promoted', () => {
    expect(
      failoverRollbackBlocked(
        'planned',
        ['Stop the master VM', 'Snapshot on the master'],
        ['Transfer to the replica'],
      ),
    ).toBeNull();
    expect(failoverRollbackBlocked('planned', ['Stop the master VM'], ['Promote the replica'])).toMatch(
      /promoted/,
    );
    expect(
      failoverRollbackBlocked(
        'forced',
        ['Fence the old master', 'Promote from the last synced snapshot'],
        [],
      ),
    ).toMatch(/promoted/);
  });

  it('sees a VM live on two nodes', () => {
    expect(
      dualRunning([
        { siteId: 1, state: 'running' },
        { siteId: 2, state: 'paused' },
      ]),
    ).toEqual([1, 2]);
    expect(
      dualRunning([
        { siteId: 1, state: 'running' },
        { siteId: 2, state: 'stopped' },
      ]),
    ).toBeNull();
    expect(
      dualRunning([
        { siteId: 1, state: null },
        { siteId: 2, state: 'running' },
      ]),
    ).toBeNull();
  });

  it('nests locks: a VM contains its replicas, siblings do not meet, plain names match exactly', () => {
    expect(locksConflict('site/1/vm/web01', 'site/1/vm/web01/replica/7')).toBe(true);
    expect(locksConflict('site/1/vm/web01/replica/7', 'site/1/vm/web01')).toBe(true);
    expect(locksConflict('site/1', 'site/1/pool/rbd/image/vol1')).toBe(true);
    expect(locksConflict('site/1/vm/web01/replica/7', 'site/1/vm/web01/replica/8')).toBe(false);
    expect(locksConflict('site/1/vm/web0', 'site/1/vm/web01')).toBe(false);
    expect(locksConflict('site/1', 'site/10')).toBe(false);
    expect(locksConflict('replica:1', 'replica:1')).toBe(true);
    expect(locksConflict('replica:1', 'replica:10')).toBe(false);
  });

  it('reads fault points', () => {
    expect(
      parseFaults('replica.failover:Start the VM:crash, replica.reinit:Keep the diverged state:hang-after'),
    ).toEqual([
      { kind: 'replica.failover', step: 'Start the VM', action: 'crash', after: false },
      { kind: 'replica.reinit', step: 'Keep the diverged state', action: 'hang', after: true },
    ]);
    expect(() => parseFaults('replica.failover:Start the VM:explode')).toThrow(/not <kind>:<step>/);
  });
});

describe('task engine: durable tasks', () => {
  it('a resumed task skips done steps and gets their stored results; the hierarchy names the holder', async () => {
    const env = boot();
    const { app } = env;
    let runs = 0;
    let fail = true;
    app.tasks.define<{ n: number }>('demo.durable', {
      run: async (ctx, p) => {
        const a = await ctx.step('one', () => {
          runs++;
          return { value: p.n * 2 };
        });
        await ctx.step('two', () => {
          if (fail) throw new Error('boom');
        });
        return a.value;
      },
      confirmText: () => 'yes',
    });
    const t = app.tasks.startDurable({
      name: 'durable',
      kind: 'demo.durable',
      target: 'thing:1',
      locks: ['site/1/vm/a'],
      params: { n: 21 },
      steps: ['one', 'two'],
      username: 'op',
    });
    expect(() =>
      app.tasks.start({
        name: 'other',
        kind: 'x',
        target: 'site/1/vm/a/replica/3',
        username: 'op',
        run: async () => null,
      }),
    ).toThrow(/task #\d+ "durable" .* holds site\/1\/vm\/a/);
    expect((await app.tasks.wait(t.id)).state).toBe('failed');
    expect(app.tasks.recovery(t.id)).toMatchObject({
      resume: { ok: true },
      rollback: { ok: false },
      confirmText: 'yes',
    });
    expect(() => app.tasks.resume(t.id, 'no', 'op')).toThrow(/type yes to confirm/);
    fail = false;
    app.tasks.resume(t.id, 'yes', 'op');
    const done = await app.tasks.wait(t.id);
    expect(done).toMatchObject({ state: 'finished', result: 42, attempts: 2 });
    expect(runs).toBe(1);
    expect(app.tasks.recovery(t.id)!.resume).toEqual({ ok: false, reason: 'the task is finished' });
  });
});

describe('VM failover on the bad day (demo nodes)', () => {
  it('finding 1: the intent is stored before the first step; the scheduler never syncs a replica in failover', async () => {
    const env = boot({ faults: 'replica.failover:Start the VM:hang' });
    const id = await withReplica(env);
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    // Before any step ran:
    expect(env.app.replicas.row(id)).toMatchObject({
      state: 'failing-over',
      operation: { kind: 'failover', taskId, mode: 'planned' },
    });
    await stuckAt(env.app, taskId, 'Start the VM');
    env.clock.advance(3600_000);
    expect((await env.app.scheduler.tick()).started).toEqual([]);
    await expect(env.caller.replicas.syncNow({ id })).rejects.toThrow(/in a failover/);
    await expect(env.caller.replicas.remove({ id, destroyData: false })).rejects.toThrow(
      /resume or roll it back/,
    );
    await expect(env.caller.replicas.update({ id, enabled: false })).rejects.toThrow(
      /resume or roll it back/,
    );
    expect(env.app.replicas.row(id).state).toBe('failing-over');
  });

  for (const step of FAILOVER_STEPS.planned) {
    for (const when of ['at', 'after'] as const) {
      it(`finding 8: planned failover cut off ${when} "${step}" resumes to the VM running on exactly one node`, async () => {
        const first = boot({ faults: `replica.failover:${step}:hang${when === 'after' ? '-after' : ''}` });
        const id = await withReplica(first);
        const { taskId } = await first.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
        await stuckAt(first.app, taskId, step);
        // The process dies here; a new one opens the same database.
        const env = boot({ from: first });
        expect(env.app.tasks.get(taskId)!.state).toBe('interrupted');
        if (step === 'Mark the old master for reinit' && when === 'after') {
          // Everything was done but the task's own record: nothing is left to resume.
          expect(env.app.replicas.row(id)).toMatchObject({ state: 'reinit-required', operation: null });
          expect(env.app.tasks.recovery(taskId)!.resume).toMatchObject({
            ok: false,
            reason: expect.stringMatching(/no longer in this operation/),
          });
          expect(live(await vmStates(env))).toEqual(['demo-node2']);
          return;
        }
        expect(env.app.replicas.row(id).state).toBe('failing-over');
        expect((await env.app.scheduler.tick()).started).toEqual([]);
        expect(live(await vmStates(env)).length).toBeLessThanOrEqual(1);
        const offer = env.app.tasks.recovery(taskId)!;
        expect(offer.resume.ok).toBe(true);
        expect(offer.rollback.ok).toBe(
          FAILOVER_STEPS.planned.indexOf(step) < FAILOVER_STEPS.planned.indexOf('Promote the replica'),
        );
        await env.caller.tasks.resume({ id: taskId, confirm: 'web01' });
        const t = await finished(env.app, taskId);
        expect(t.attempts).toBe(2);
        expect(live(await vmStates(env))).toEqual(['demo-node2']);
        expect(env.app.replicas.row(id)).toMatchObject({
          state: 'reinit-required',
          operation: null,
          sourceSiteId: env.node('demo-node2'),
          targetSiteId: env.node('demo-node1'),
        });
        expect((await env.app.scheduler.tick()).started).toEqual([]);
      });
    }
  }

  for (const step of FAILOVER_STEPS.forced) {
    it(`finding 8: forced failover (master up) cut off after "${step}" resumes, and the old VM never runs beside the new one`, async () => {
      const first = boot({ faults: `replica.failover:${step}:hang-after` });
      const id = await withReplica(first);
      const { taskId } = await first.caller.replicas.failover({ id, confirm: 'web01', mode: 'forced' });
      await stuckAt(first.app, taskId, step);
      const env = boot({ from: first });
      expect(live(await vmStates(env)).length).toBeLessThanOrEqual(1);
      expect((await env.app.scheduler.tick()).started).toEqual([]);
      if (env.app.tasks.recovery(taskId)!.resume.ok) {
        await env.caller.tasks.resume({ id: taskId, confirm: 'web01' });
        await finished(env.app, taskId);
      }
      expect(live(await vmStates(env))).toEqual(['demo-node2']);
      expect(env.app.replicas.row(id)).toMatchObject({ state: 'reinit-required', operation: null });
    });
  }

  for (const step of [
    'Stop the old master VM',
    'Keep the diverged state',
    'Snapshot on the master',
    'Transfer to the replica',
    'Protect and prune',
    'Resume replication',
  ]) {
    it(`finding 8: reinit cut off after "${step}" resumes to replication in the new direction, diverged data kept`, async () => {
      const first = boot({ faults: `replica.reinit:${step}:hang-after` });
      const id = await withReplica(first);
      const fo = await first.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
      await finished(first.app, fo.taskId);
      // The old master wrote after the last common snapshot (its VM was started by hand, then stopped).
      const node1 = first.app.replicas.node(first.node('demo-node1'));
      await node1.zfs.setReadonly('zones/web01-disk0', false);
      await node1.startVm('web01');
      first.clock.advance(60_000);
      await node1.stopVm('web01');
      const { taskId } = await first.caller.replicas.reinit({ id, confirm: 'web01' });
      expect(first.app.replicas.row(id)).toMatchObject({
        state: 'reinit-running',
        operation: { kind: 'reinit', taskId },
      });
      await stuckAt(first.app, taskId, step);
      const env = boot({ from: first });
      expect((await env.app.scheduler.tick()).started).toEqual([]);
      if (env.app.tasks.recovery(taskId)!.resume.ok) {
        await env.caller.tasks.resume({ id: taskId, confirm: 'web01' });
        await finished(env.app, taskId);
      }
      expect(env.app.replicas.row(id)).toMatchObject({
        state: 'idle',
        enabled: true,
        operation: null,
        sourceSiteId: env.node('demo-node2'),
      });
      expect(live(await vmStates(env))).toEqual(['demo-node2']);
      const kept = (await node1.zfs.listDatasets('zones')).filter((d) =>
        d.name.startsWith('zones/web01-disk0-diverged-'),
      );
      expect(kept).toHaveLength(1);
      const s = await env.caller.replicas.syncNow({ id });
      await finished(env.app, s.taskId);
    });
  }

  it('finding 9: a planned failover that failed after stopping the master rolls back to the master running', async () => {
    const env = boot({ faults: 'replica.failover:Transfer to the replica:error' });
    const id = await withReplica(env);
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    expect((await env.app.tasks.wait(taskId)).state).toBe('failed');
    expect(live(await vmStates(env))).toEqual([]);
    const offer = await env.caller.tasks.recovery({ id: taskId });
    expect(offer!.rollback).toMatchObject({
      ok: true,
      steps: [
        'Roll back: protect the replica',
        'Roll back: start the master VM again',
        'Roll back: resume replication',
      ],
    });
    await env.caller.tasks.rollback({ id: taskId, confirm: 'web01' });
    expect((await finished(env.app, taskId)).state).toBe('rolled-back');
    expect(live(await vmStates(env))).toEqual(['demo-node1']);
    expect(env.app.replicas.row(id)).toMatchObject({
      state: 'idle',
      operation: null,
      sourceSiteId: env.node('demo-node1'),
    });
    expect(await env.app.replicas.node(env.node('demo-node2')).zfs.getReadonly('zones/web01-disk0')).toBe(
      true,
    );
    expect(env.app.tasks.recovery(taskId)!.resume.ok).toBe(false);
    // Replication goes on in the old direction.
    const s = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s.taskId);
  });

  it('finding 9: a rollback after a crash right after stopping the master (step not recorded) starts the master again', async () => {
    const first = boot({ faults: 'replica.failover:Stop the master VM:hang-after' });
    const id = await withReplica(first);
    const { taskId } = await first.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    await stuckAt(first.app, taskId, 'Stop the master VM');
    const env = boot({ from: first });
    expect(live(await vmStates(env))).toEqual([]);
    expect(env.app.tasks.steps(taskId).filter((s) => s.state === 'done')).toEqual([]);
    await env.caller.tasks.rollback({ id: taskId, confirm: 'web01' });
    await finished(env.app, taskId);
    expect(live(await vmStates(env))).toEqual(['demo-node1']);
    expect(env.app.replicas.row(id)).toMatchObject({ state: 'idle', operation: null });
  });

  it('finding 2: a forced failover with the master up stops the old VM before the replica is promoted', async () => {
    const env = boot({ faults: 'replica.failover:Promote from the last synced snapshot:hang' });
    const id = await withReplica(env);
    const plan = await env.caller.replicas.failoverPlan({ id });
    expect(plan.mode).toBe('planned');
    const forced = await env.caller.replicas.failoverPlan({ id, mode: 'forced' });
    expect(forced).toMatchObject({
      mode: 'forced',
      masterReachable: true,
      dataLossGrowing: true,
      steps: [...FAILOVER_STEPS.forced],
    });
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'forced' });
    await stuckAt(env.app, taskId, 'Promote from the last synced snapshot');
    expect(await vmStates(env)).toMatchObject({ 'demo-node1': 'stopped', 'demo-node2': null });
    expect(env.app.replicas.row(id).stopOldMasterPending).toBe(false);
  });

  it('finding 2: force means "override pending tasks" (cancelled first), not a forced failover', async () => {
    const env = boot();
    const id = await withReplica(env);
    const blocker = env.app.tasks.start({
      name: 'Long work on web01',
      kind: 'demo.long',
      target: `site/${env.node('demo-node1')}/vm/web01`,
      username: 'someone',
      run: (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(new Error('cancelled'))),
        ),
    });
    const plan = await env.caller.replicas.failoverPlan({ id });
    expect(plan.checks.find((c) => c.id === 'tasks')).toMatchObject({ status: 'block', overridable: true });
    await expect(env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' })).rejects.toThrow(
      /Long work on web01/,
    );
    const { taskId } = await env.caller.replicas.failover({
      id,
      confirm: 'web01',
      mode: 'planned',
      force: true,
    });
    expect(env.app.tasks.get(blocker.id)!.state).toBe('cancelled');
    const t = await finished(env.app, taskId);
    expect(t.result).toMatchObject({ mode: 'planned', dataLossWindowSec: 0 });
  });

  it('finding 2: a planned confirmation never runs a forced failover when the master has gone since', async () => {
    const env = boot();
    const id = await withReplica(env);
    env.world.down.add('demo-node1');
    const plan = await env.caller.replicas.failoverPlan({ id, mode: 'planned' });
    expect(plan).toMatchObject({ mode: 'forced', masterReachable: false, dataLossGrowing: false });
    expect(plan.modeReason).toMatch(/does not answer/);
    await expect(env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' })).rejects.toThrow(
      /would now be forced, not planned/,
    );
  });

  it('finding 1: with the master unreachable the old VM is fenced in the same write as the intent, and stopped when its node returns', async () => {
    const env = boot({ faults: 'replica.failover:Fence the old master:hang' });
    const id = await withReplica(env);
    env.world.down.add('demo-node1');
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'forced' });
    expect(env.app.replicas.row(id)).toMatchObject({
      state: 'failing-over',
      stopOldMasterPending: true,
      fenceSiteId: env.node('demo-node1'),
    });
    await stuckAt(env.app, taskId, 'Fence the old master');
    const next = boot({ from: env });
    await next.caller.tasks.resume({ id: taskId, confirm: 'web01' });
    await finished(next.app, taskId);
    expect(next.app.replicas.row(id)).toMatchObject({
      state: 'reinit-required',
      stopOldMasterPending: true,
      fenceSiteId: env.node('demo-node1'),
    });
    // The old master comes back with its VM running (autostart): the scheduler stops it.
    next.world.down.delete('demo-node1');
    expect((await vmStates(next))['demo-node1']).toBe('running');
    await next.app.scheduler.tick();
    expect(live(await vmStates(next))).toEqual(['demo-node2']);
    expect(next.app.replicas.row(id).stopOldMasterPending).toBe(false);
  });

  it('finding 3: failing over one replica pauses its siblings, and a sibling cannot be failed over', async () => {
    const env = boot();
    const r1 = await withReplica(env, 'r1', 'web01', 'demo-node2');
    const r2 = await withReplica(env, 'r2', 'web01', 'demo-node3');
    const plan = await env.caller.replicas.failoverPlan({ id: r1 });
    expect(plan.siblings).toEqual([{ id: r2, name: 'r2', targetSite: 'demo-node3' }]);
    const { taskId } = await env.caller.replicas.failover({ id: r1, confirm: 'web01', mode: 'planned' });
    await finished(env.app, taskId);
    expect(env.app.replicas.row(r2).conflict).toMatchObject({
      kind: 'master-moved',
      siteId: env.node('demo-node2'),
      byReplicaId: r1,
    });
    const p2 = await env.caller.replicas.failoverPlan({ id: r2 });
    expect(p2.canProceed).toBe(false);
    expect(p2.checks.find((c) => c.id === 'master-moved')?.message).toMatch(/failed over to demo-node2/);
    await expect(env.caller.replicas.failover({ id: r2, confirm: 'web01', mode: 'planned' })).rejects.toThrow(
      /failed over to demo-node2/,
    );
    await expect(env.caller.replicas.syncNow({ id: r2 })).rejects.toThrow(/master moved/);
    env.clock.advance(3600_000);
    expect((await env.app.scheduler.tick()).started).toEqual([]);
    expect(live(await vmStates(env))).toEqual(['demo-node2']);
  });

  it('finding 4: a VM left paused by an interrupted snapshot is resumed at the next contact, and its definition keeps "running"', async () => {
    const env = boot();
    const id = await withReplica(env);
    const node1 = env.app.replicas.node(env.node('demo-node1'));
    // What a crash between pause and resume leaves behind:
    await node1.pauseVm('web01');
    env.app.db.$client.prepare('update replicas set paused_by_tandem = 1 where id = ?').run(id);
    await env.app.scheduler.tick();
    expect(await node1.getVmState('web01')).toBe('running');
    expect(env.app.replicas.row(id).pausedByTandem).toBe(false);
    // And when the sync gets there first:
    await node1.pauseVm('web01');
    env.app.db.$client.prepare('update replicas set paused_by_tandem = 1 where id = ?').run(id);
    const s = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s.taskId);
    expect(await node1.getVmState('web01')).toBe('running');
    expect(env.app.replicas.row(id).vmDefinition?.state).toBe('running');
  });

  it('fencing: no sync receives into a writable dataset or the disk of a live VM; the replica goes to error with the reason', async () => {
    const env = boot();
    const id = await withReplica(env);
    const node2 = env.app.replicas.node(env.node('demo-node2'));
    await node2.zfs.setReadonly('zones/web01-disk0', false);
    const s = await env.caller.replicas.syncNow({ id });
    expect((await env.app.tasks.wait(s.taskId)).error).toMatch(
      /zones\/web01-disk0 on demo-node2 is writable/,
    );
    expect(env.app.replicas.row(id)).toMatchObject({ state: 'error' });
    expect(env.app.replicas.row(id).lastError).toMatch(/will not overwrite it/);
  });

  it('finding 11: the old master is kept stopped until the reinit, not stopped once', async () => {
    const env = boot();
    const id = await withReplica(env);
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    await finished(env.app, taskId);
    const node1 = env.app.replicas.node(env.node('demo-node1'));
    for (let i = 0; i < 2; i++) {
      // Someone (autostart, a hand) starts the old master's copy again.
      await node1.startVm('web01');
      await env.app.scheduler.tick();
      expect(live(await vmStates(env))).toEqual(['demo-node2']);
    }
    expect(env.app.history.list({ action: 'replica.fenceOldMaster' }, { limit: 5, offset: 0 }).total).toBe(2);
  });

  it('finding 11: a VM running on two nodes is flagged at the next tick, stops syncing, and the stale copy can be stopped', async () => {
    const env = boot();
    const id = await withReplica(env);
    const fo = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    await finished(env.app, fo.taskId);
    const ri = await env.caller.replicas.reinit({ id, confirm: 'web01' });
    await finished(env.app, ri.taskId);
    // After the reinit node1 holds the replica, and the VM is still defined there: someone starts it.
    await env.app.replicas.node(env.node('demo-node1')).startVm('web01');
    await env.app.scheduler.tick();
    expect(env.app.replicas.row(id).conflict).toMatchObject({
      kind: 'dual-running',
      siteIds: [env.node('demo-node2'), env.node('demo-node1')],
    });
    expect(env.app.history.list({ action: 'replica.dualRunning' }, { limit: 5, offset: 0 }).total).toBe(1);
    await expect(env.caller.replicas.syncNow({ id })).rejects.toThrow(/running on two nodes/);
    env.clock.advance(3600_000);
    expect((await env.app.scheduler.tick()).started).toEqual([]);
    await expect(env.caller.replicas.stopStale({ id, confirm: 'nope' })).rejects.toThrow(/type the VM name/);
    const stop = await env.caller.replicas.stopStale({ id, confirm: 'web01' });
    await finished(env.app, stop.taskId);
    expect(live(await vmStates(env))).toEqual(['demo-node2']);
    expect(env.app.replicas.row(id).conflict).toBeNull();
    const s = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s.taskId);
  });

  it('finding 12: the plan quotes the loss up to when the master was last seen', async () => {
    const env = boot();
    const id = await withReplica(env);
    const lastSync = env.app.replicas.row(id).lastSyncAt!.getTime();
    await env.app.scheduler.tick(); // the master answers: last seen now
    const seen = env.clock.now();
    env.world.down.add('demo-node1');
    env.clock.advance(600_000);
    const plan = await env.caller.replicas.failoverPlan({ id });
    expect(plan.dataLossFrom).toBe(lastSync);
    expect(plan.dataLossTo).toBeGreaterThanOrEqual(seen - 5_000);
    expect(plan.dataLossTo).toBeLessThan(seen + 60_000);
    expect(plan.dataLossWindowSec).toBeLessThan(600);
  });
});

describe('small ones', () => {
  it('a bandwidth of "abc" is an error, never "no limit"', async () => {
    const { parseByteRate } = await import('@/server/domain/replicas/rules');
    expect(parseByteRate('')).toEqual({ ok: true, value: null });
    expect(parseByteRate('8388608')).toEqual({ ok: true, value: 8388608 });
    expect(parseByteRate('8M')).toEqual({ ok: true, value: 8 * 1024 * 1024 });
    expect(parseByteRate('8 MiB/s')).toEqual({ ok: true, value: 8 * 1024 * 1024 });
    expect(parseByteRate('512k')).toEqual({ ok: true, value: 512 * 1024 });
    expect(parseByteRate('abc')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/“abc” is not a rate/),
    });
    expect(parseByteRate('100')).toMatchObject({
      ok: false,
      message: expect.stringMatching(/at least 1024/),
    });
  });
});

describe('finding 10: divergence by data, not by estimates', () => {
  it('reads the data an incremental stream carries from zstreamdump', async () => {
    const { parseStreamDump } = await import('@/server/adapters/node/zfs');
    const unchanged =
      'SUMMARY:\n\tTotal DRR_WRITE records = 0\n\tTotal DRR_FREE records = 7\n\tTotal write size = 0 (0x0)\n\tTotal stream length = 6096 (0x17d0)\n';
    const written = 'SUMMARY:\n\tTotal DRR_WRITE records = 1\n\tTotal write size = 131072 (0x20000)\n';
    expect(parseStreamDump(unchanged)).toEqual({ changed: false, bytes: 0 });
    expect(parseStreamDump(written)).toEqual({ changed: true, bytes: 131072 });
    expect(() => parseStreamDump('garbage')).toThrow(/no "Total write size"/);
  });

  it('the old master’s snapshots after the common one are found by guid in its own list, and a reinit keeps no clone', async () => {
    const env = boot();
    const id = await withReplica(env);
    const fo = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    await finished(env.app, fo.taskId);
    const div = await env.caller.replicas.divergence({ id });
    expect(div.every((d) => d.snapshotsAfter.length === 0 && d.writtenBytes === 0)).toBe(true);
    const node1 = env.app.replicas.node(env.node('demo-node1'));
    await node1.zfs.setReadonly('zones/web01-disk0', false);
    await node1.startVm('web01');
    env.clock.advance(60_000);
    await node1.stopVm('web01');
    const again = await env.caller.replicas.divergence({ id });
    expect(again.find((d) => d.dataset === 'zones/web01-disk0')!.writtenBytes).toBeGreaterThan(0);
    const ri = await env.caller.replicas.reinit({ id, confirm: 'web01' });
    await finished(env.app, ri.taskId);
    const all = await node1.zfs.listDatasets('zones');
    expect(all.filter((d) => d.origin)).toEqual([]);
    expect(all.some((d) => d.name.startsWith('zones/web01-disk0-diverged-'))).toBe(true);
    for (let i = 0; i < 5; i++) {
      const s = await env.caller.replicas.syncNow({ id });
      await finished(env.app, s.taskId);
    }
  });
});

describe('soak hygiene', () => {
  it('a simulated call leaves no abort listener on the task signal', async () => {
    const { EventEmitter } = await import('node:events');
    const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
    const world = new DemoWorld(clock, 1);
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await world.delay(ac.signal);
    expect(EventEmitter.getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });
});

describe('finding 10: a failed pull names its own error line', () => {
  it('never ends with pv’s byte count', async () => {
    const { classifyPullError } = await import('@/server/adapters/node/transfer');
    const { CommandError } = await import('@/server/adapters/runner');
    const e = new CommandError({
      argv: ['bash', '-o', 'pipefail', '-c', '…'],
      exitCode: 1,
      stderr:
        "1024\n2048\ncannot destroy 'zones/web01-disk0@tandem-dr-20261201T000000Z': snapshot has dependent clones\nuse '-R' to destroy the following datasets:\n2704\n",
      target: 'root@127.0.0.1:2201',
    });
    const m = classifyPullError(e, {
      source: { host: 'node1', port: 22, user: 'root' },
      sourceDataset: 'zones/web01-disk0',
      fromSnapshot: 'a',
      toSnapshot: 'b',
      targetDataset: 'zones/web01-disk0',
      bandwidthLimitBytesPerSec: null,
    }).message;
    expect(m).toMatch(
      /pulling zones\/web01-disk0@b into zones\/web01-disk0 on root@127.0.0.1:2201 failed \(exit 1\)/,
    );
    expect(m).not.toMatch(/2704$/);
    expect(m).toMatch(/snapshot has dependent clones$/);
  });
});

describe('finding 13: the replication base is held', () => {
  it('holds the newest common snapshot on both sides, releases the older base, and still deletes cleanly', async () => {
    const env = boot();
    const id = await withReplica(env);
    const n1 = env.app.replicas.node(env.node('demo-node1'));
    const n2 = env.app.replicas.node(env.node('demo-node2'));
    const first = env.app.replicas.row(id).lastSnapshot!;
    await expect(n1.zfs.destroySnapshots('zones/web01-disk0', [first])).rejects.toThrow(/busy/);
    await expect(n2.zfs.destroySnapshots('zones/web01-disk0', [first])).rejects.toThrow(/busy/);
    const s = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s.taskId);
    const second = env.app.replicas.row(id).lastSnapshot!;
    expect(second).not.toBe(first);
    // The older base is free again (an admin or the pruning may remove it); the new one is held.
    await n1.zfs.destroySnapshots('zones/web01-disk0', [first]);
    await expect(n1.zfs.destroySnapshots('zones/web01-disk0', [second])).rejects.toThrow(/busy/);
    const del = await env.caller.replicas.remove({ id, destroyData: true });
    await finished(env.app, del.taskId);
    expect(
      ((await n1.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0'] ?? []).filter((x) =>
        x.name.startsWith('tandem-dr-'),
      ),
    ).toEqual([]);
  });
});

describe('finding 13: a way back without a common snapshot', () => {
  it('a failed-over replica whose common snapshots were destroyed is repaired by a full resync, keeping the old data aside', async () => {
    const env = boot();
    const id = await withReplica(env);
    const fo = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    await finished(env.app, fo.taskId);
    // Someone destroys every replication snapshot on the old master (holds released first).
    const n1 = env.app.replicas.node(env.node('demo-node1'));
    for (const ds of ['zones/web01-disk0', 'zones/web01-disk1']) {
      await n1.zfs.releaseHolds(ds, 'tandem-dr');
      await n1.zfs.destroySnapshots(
        ds,
        ((await n1.zfs.listSnapshots(ds))[ds] ?? []).map((s) => s.name),
      );
    }
    await expect(env.caller.replicas.divergence({ id })).rejects.toThrow(/full resync is needed/);
    const plan = await env.caller.replicas.resyncPlan({ id });
    expect(
      plan.datasets.every((d) => d.exists && d.commonSnapshot === null && d.keepAs?.includes('-diverged-')),
    ).toBe(true);
    await expect(env.caller.replicas.fullResync({ id, confirm: 'nope' })).rejects.toThrow(/type the VM name/);
    const t = await env.caller.replicas.fullResync({ id, confirm: 'web01' });
    expect(env.app.replicas.row(id)).toMatchObject({
      state: 'reinit-running',
      operation: { kind: 'resync' },
    });
    await finished(env.app, t.taskId);
    expect(env.app.replicas.row(id)).toMatchObject({
      state: 'idle',
      enabled: true,
      operation: null,
      sourceSiteId: env.node('demo-node2'),
    });
    const names = (await n1.zfs.listDatasets('zones')).map((d) => d.name);
    expect(names.filter((n) => n.includes('-diverged-'))).toHaveLength(2);
    const s = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s.taskId);
    expect(live(await vmStates(env))).toEqual(['demo-node2']);
  });
});
