import { afterEach, describe, expect, it } from 'vitest';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, operator, testApp } from './helpers';

/** The replica lifecycle on the demo nodes; the simulated transfers wait on the injected clock. */
function setup() {
  const t = testApp();
  t.app.demo.create();
  const node = (name: string) => t.app.sites.byName(name)!.id;
  return {
    ...t,
    node,
    caller: createCaller(ctxFor(t.app, operator)),
    adminCaller: createCaller(ctxFor(t.app, admin)),
  };
}
let env: ReturnType<typeof setup> | null = null;
afterEach(async () => {
  if (env) {
    await env.app.tasks.shutdown();
  }
  env = null;
});

describe('replica lifecycle (demo nodes)', () => {
  it('validates creation with field-specific errors', async () => {
    env = setup();
    const { caller, node } = env;
    const base = {
      vmName: 'web01',
      sourceSiteId: node('demo-node1'),
      targetSiteId: node('demo-node2'),
      rootZpool: 'zones',
      name: 'r1',
    };
    const fail = async (input: object) => {
      try {
        await caller.replicas.create({ ...base, ...input });
        return null;
      } catch (e) {
        return ((e as { cause?: { fields?: { field: string; message: string }[] } }).cause?.fields ?? [])
          .map((f) => `${f.field}: ${f.message}`)
          .join('; ');
      }
    };
    expect(await fail({ targetSiteId: node('demo-node1') })).toMatch(
      /targetSiteId: the target must be a different node/,
    );
    expect(await fail({ rootZpool: 'tank' })).toMatch(/rootZpool: zpool tank does not exist on the target/);
    expect(await fail({ vmName: 'nope' })).toMatch(/vmName: VM nope does not exist/);
    expect(await fail({ name: 'bad name' })).toMatch(/name:/);
    expect(await fail({ sleepTimeSec: 100000 })).toMatch(/sleepTimeSec: 0–86400 seconds/);
    expect(env.app.replicas.list()).toHaveLength(0);
  });

  it('creates, syncs, fails over (planned), reinitialises, and fails over by force', async () => {
    env = setup();
    const { app, caller, node } = env;
    const n1 = node('demo-node1');
    const n2 = node('demo-node2');
    const created = await caller.replicas.create({
      name: 'dr',
      vmName: 'web01',
      sourceSiteId: n1,
      targetSiteId: n2,
      rootZpool: 'zones',
      diskZpools: { vdb: 'data' },
      sleepTimeSec: 30,
      bandwidthLimit: null,
    });
    const initial = await app.tasks.wait(created.taskId);
    expect(initial.error).toBeNull();
    expect(initial.state).toBe('finished');
    expect(initial.progressComplete).toBeGreaterThan(0);
    let r = app.replicas.get(created.id);
    expect(r.state).toBe('idle');
    expect(r.datasets.map((d) => d.target)).toEqual(['zones/web01-disk0', 'data/web01-disk1']);
    expect(r.lastSnapshot).toMatch(/^tandem-dr-\d{8}T\d{6}\.\d{3}Z$/);
    const target = app.replicas.node(n2);
    expect(await target.zfs.getReadonly('data/web01-disk1')).toBe(true);
    expect(app.replicas.syncRuns(created.id)[0]).toMatchObject({ outcome: 'success' });

    // A second sync is incremental; recovery points are pruned to keepSnapshots (3).
    for (let i = 0; i < 4; i++) {
      const t = await caller.replicas.syncNow({ id: created.id });
      expect((await app.tasks.wait(t.taskId)).state).toBe('finished');
    }
    const snaps = (await target.zfs.listSnapshots('zones/web01-disk0'))['zones/web01-disk0']!.filter((s) =>
      s.name.startsWith('tandem-dr-'),
    );
    expect(snaps).toHaveLength(3);

    // Pause / resume and settings apply from the next cycle.
    await caller.replicas.update({ id: created.id, bandwidthLimit: 8 * 1024 * 1024, sleepTimeSec: 45 });
    await caller.replicas.update({ id: created.id, enabled: false });
    expect(app.replicas.get(created.id)).toMatchObject({
      state: 'paused',
      bandwidthLimit: 8 * 1024 * 1024,
      sleepTimeSec: 45,
    });
    await caller.replicas.update({ id: created.id, enabled: true, bandwidthLimit: 4 * 1024 * 1024 });
    r = app.replicas.get(created.id);
    expect(r.state).toBe('idle');
    expect(r.bandwidthLimit).toBe(4 * 1024 * 1024);

    // Planned failover: zero data loss.
    const plan = await caller.replicas.failoverPlan({ id: created.id });
    expect(plan.mode).toBe('planned');
    expect(plan.dataLossWindowSec).toBe(0);
    expect(plan.canProceed).toBe(true);
    await expect(
      caller.replicas.failover({ id: created.id, confirm: 'web0', mode: 'planned' }),
    ).rejects.toThrow(/type the VM name web01/);
    const fo = await caller.replicas.failover({ id: created.id, confirm: 'web01', mode: 'planned' });
    const foTask = await app.tasks.wait(fo.taskId);
    expect(foTask.error).toBeNull();
    expect(app.tasks.steps(fo.taskId).map((s) => s.state)).toEqual(
      app.tasks.steps(fo.taskId).map(() => 'done'),
    );
    expect(await target.getVmState('web01')).toBe('running');
    expect(await app.replicas.node(n1).getVmState('web01')).toBe('stopped');
    r = app.replicas.get(created.id);
    expect(r).toMatchObject({ state: 'reinit-required', sourceSiteId: n2, targetSiteId: n1, enabled: false });
    await expect(caller.replicas.syncNow({ id: created.id })).rejects.toThrow(/reinitialised first/);

    // Reinit: nothing diverged on the stopped old master.
    const div = await caller.replicas.divergence({ id: created.id });
    expect(div).toHaveLength(2);
    const ri = await caller.replicas.reinit({ id: created.id, confirm: 'web01' });
    const riTask = await app.tasks.wait(ri.taskId);
    expect(riTask.error).toBeNull();
    r = app.replicas.get(created.id);
    expect(r).toMatchObject({ state: 'idle', enabled: true, sourceSiteId: n2, targetSiteId: n1 });
    expect(await app.replicas.node(n1).zfs.getReadonly('zones/web01-disk0')).toBe(true);

    // Forced failover back: the data-loss window is the age of the last sync.
    env.clock.advance(120_000);
    const forcedPlan = await caller.replicas.failoverPlan({ id: created.id, mode: 'forced' });
    expect(forcedPlan.mode).toBe('forced');
    expect(forcedPlan.dataLossWindowSec).toBeGreaterThanOrEqual(120);
    const ff = await caller.replicas.failover({ id: created.id, confirm: 'web01', mode: 'forced' });
    const ffTask = await app.tasks.wait(ff.taskId);
    expect(ffTask.error).toBeNull();
    expect(await app.replicas.node(n1).getVmState('web01')).toBe('running');
    expect(await app.replicas.node(n2).getVmState('web01')).toBe('stopped');
    expect(app.history.list({ action: 'replica.failover' }, { limit: 10, offset: 0 }).total).toBe(2);

    // Delete, keeping nothing on the target.
    const del = await caller.replicas.remove({ id: created.id, destroyData: true });
    expect((await app.tasks.wait(del.taskId)).state).toBe('finished');
    expect(app.replicas.list()).toHaveLength(0);
  }, 60_000);

  it('a site with replicas cannot be removed without saying why', async () => {
    env = setup();
    const { app, caller, adminCaller, node } = env;
    const c = await caller.replicas.create({
      name: 'x',
      vmName: 'app01',
      sourceSiteId: node('demo-node2'),
      targetSiteId: node('demo-node3'),
      rootZpool: 'zones',
    });
    await app.tasks.wait(c.taskId);
    await expect(adminCaller.sites.remove({ id: node('demo-node3') })).rejects.toThrow(
      /used by 1 replica\(s\) \(app01 → x\); delete them first/,
    );
  });
});
