import { describe, expect, it } from 'vitest';
import { testNames } from '@/server/domain/plans/rules';
import { cephCtime } from '@/server/domain/protection/format';
import { boot, finished, stuckAt, withReplica, type Env } from './demo-env';

/*
 * Test failover on the demo sites: the plan's image is copied and web01's disks cloned on the
 * recovery side, web01's test VM runs there with a new name and UUID and no network, while
 * production and its replication go on; the cleanup destroys exactly what the test recorded; a
 * test cut off by a crash is cleaned up as well.
 */

const IMAGE = 'vm-web01-root';

async function testPlan(env: Env) {
  const rid = await withReplica(env);
  env.tickMs = 100;
  const a = env.node('demo-site-a');
  const b = env.node('demo-site-b');
  const plan = await env.caller.plans.create({
    name: 'web tier',
    items: [
      {
        kind: 'rbd',
        protectedSiteId: a,
        recoverySiteId: b,
        pool: 'rbd',
        namespace: '',
        image: IMAGE,
        group: 1,
      },
      {
        kind: 'replica',
        replicaId: rid,
        group: 2,
        readiness: { tcp: { host: 'web01', port: 80 }, timeoutSec: 30 },
      },
    ],
  });
  return { rid, a, b, plan };
}

const node2 = (env: Env) => env.world.node('demo-node2')!;
const testDatasets = (env: Env) =>
  node2(env)
    .datasets.filter((d) => d.name.includes('tandem-test-'))
    .map((d) => d.name);
const heldBy = (env: Env, node: string, tag: string) =>
  env.world
    .node(node)!
    .datasets.flatMap((d) =>
      d.snapshots.filter((s) => s.holds?.includes(tag)).map((s) => `${d.name}@${s.name}`),
    );
const images = async (env: Env, site: number) =>
  (await env.app.ceph.adapter(site).listImages('rbd')).map((i) => i.name);

async function ended(env: Env, taskId: number, want = 'finished') {
  const t = await env.app.tasks.wait(taskId);
  if (t.state !== want)
    throw new Error(
      `task #${taskId}: ${t.state} (wanted ${want}) ${t.error}\n${env.app.tasks
        .logs(taskId)
        .map((l) => l.message)
        .join('\n')}`,
    );
  return t;
}

it("reads the times of `rbd snap ls` (a mirror snapshot's recovery point)", () => {
  expect(cephCtime('Mon Nov 23 09:33:41 2026')).toBe(Date.UTC(2026, 10, 23, 9, 33, 41));
  expect(cephCtime('Thu Dec  3 07:05:09 2026')).toBe(Date.UTC(2026, 11, 3, 7, 5, 9));
  expect(cephCtime('2026-11-23 09:33:41')).toBeNull();
  expect(cephCtime(null)).toBeNull();
});

describe('test failover on the demo sites', { timeout: 60_000 }, () => {
  it('clones on the recovery side, runs the test VM without network beside production, keeps replicating, and cleans up exactly what it made', async () => {
    const env = boot();
    const { rid, a, b, plan } = await testPlan(env);
    const pre = await env.caller.plans.precheck({ id: plan.id, kind: 'test' });
    expect(pre.canProceed).toBe(true);
    expect(pre.steps).toEqual([
      `Test RBD image rbd/${IMAGE} (demo-site-a → demo-site-b): copy the recovery points`,
      'Test VM web01: clone the recovery point',
      'Test VM web01: start the test VM',
    ]);
    expect(pre.items.map((i) => i.dataLossWindowSec)).toEqual([expect.any(Number), expect.any(Number)]);
    await expect(
      env.caller.plans.run({
        id: plan.id,
        kind: 'test',
        direction: 'back',
        reason: 'quarterly test',
        confirm: 'web tier',
      }),
    ).rejects.toThrow(/toward the recovery sites only/);
    await expect(
      env.caller.plans.run({
        id: plan.id,
        kind: 'test',
        reason: 'quarterly test',
        confirm: 'web tier',
        network: { kind: 'isolated', network: 'a b' },
      }),
    ).rejects.toThrow(/letters, digits/);

    const { runId, taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'test',
      reason: 'quarterly test',
      confirm: 'web tier',
    });
    await ended(env, taskId);
    const names = testNames(runId);
    const vm = names.vm('web01');

    // The clones, outside the replicated datasets, each a clone of the same recovery point.
    const replica = env.app.replicas.row(rid);
    const clones = replica.datasets.map((d) => names.clone(d.target));
    expect(testDatasets(env).sort()).toEqual([...clones].sort());
    const report = await env.caller.plans.report({ id: runId });
    const created = report.items[1]!.created!;
    expect(created).toMatchObject({ kind: 'replica', vm, clones, tag: names.tag });
    const snap = (created as { snapshot: string }).snapshot;
    for (const [i, c] of clones.entries())
      expect(node2(env).datasets.find((d) => d.name === c)!.origin).toBe(
        `${replica.datasets[i]!.target}@${snap}`,
      );
    // Held on both nodes.
    expect(heldBy(env, 'demo-node2', names.tag)).toHaveLength(replica.datasets.length);
    expect(heldBy(env, 'demo-node1', names.tag)).toHaveLength(replica.datasets.length);

    // The test VM runs on the clones with a new uuid and no interface; production runs on.
    const n2 = env.app.replicas.node(env.node('demo-node2'));
    const n1 = env.app.replicas.node(env.node('demo-node1'));
    const test = (await n2.getVm(vm))!;
    expect(test.state).toBe('running');
    expect(test.disks.map((d) => d.dataset).sort()).toEqual([...clones].sort());
    expect(test.uuid).not.toBe((await n1.getVm('web01'))!.uuid);
    expect((await n2.dumpVm(vm)).text).not.toMatch(/<interface/);
    expect(await n1.getVmState('web01')).toBe('running');
    expect(await n2.getVmState('web01')).toBeNull();
    expect(env.app.replicas.row(rid).state).not.toMatch(/reinit|failing/);

    // The image's copy on site B; roles unchanged.
    expect(await images(env, b)).toContain(names.rbdCopy(IMAGE));
    expect(await images(env, a)).not.toContain(names.rbdCopy(IMAGE));
    expect((await env.app.ceph.adapter(b).getImageInfo('rbd', '', IMAGE)).mirroring.primary).toBe(false);
    expect((await env.app.ceph.adapter(a).getImageInfo('rbd', '', IMAGE)).mirroring.primary).toBe(true);

    // The report: reason, the recovery points used, the VM ready (no TCP check: no network).
    expect(report).toMatchObject({
      kind: 'test',
      state: 'finished',
      reason: 'quarterly test',
      options: { network: { kind: 'none' } },
      cleanedAt: null,
    });
    expect(
      report.items.every((i) => i.state === 'done' && i.recoveryPointAt !== null && i.dataLossSec !== null),
    ).toBe(true);
    expect(report.recoveryTimeMs).toBe(report.items[1]!.readyAt! - report.startedAt);
    expect(report.items[1]!.steps.map((s) => s.name)).toEqual([
      'Test VM web01: clone the recovery point',
      'Test VM web01: start the test VM',
    ]);
    expect(report.log.some((l) => /TCP check of web01:80 is left out/.test(l.message))).toBe(true);

    // Replication goes on, more syncs than recovery points kept: the cloned snapshot stays.
    for (let i = 0; i < 4; i++) {
      const sync = await finished(env.app, (await env.caller.replicas.syncNow({ id: rid })).taskId);
      // Pruning leaves the tested snapshot out, rather than failing on its hold at every sync.
      expect(
        env.app.tasks
          .logs(sync.id)
          .filter((l) => l.level !== 'info')
          .map((l) => l.message),
      ).toEqual([]);
    }
    expect(env.app.replicas.row(rid).lastSyncAt!.getTime()).toBeGreaterThan(report.startedAt);
    const targetSnaps = node2(env)
      .datasets.find((d) => d.name === replica.datasets[0]!.target)!
      .snapshots.map((s) => s.name);
    expect(targetSnaps).toContain(snap);
    expect(targetSnaps.length).toBe(replica.keepSnapshots + 1);

    // A planned migration meanwhile is not refused, but told.
    const planned = await env.caller.plans.precheck({ id: plan.id, kind: 'planned' });
    expect(planned.items.map((i) => i.checks.find((c) => c.id === 'open-test')?.status)).toEqual([
      'warn',
      'warn',
    ]);
    // A second test waits for the cleanup of this one.
    await expect(
      env.caller.plans.run({ id: plan.id, kind: 'test', reason: 'again', confirm: 'web tier' }),
    ).rejects.toThrow(/not cleaned up yet/);

    const clean = await env.caller.plans.cleanupTest({ runId });
    await ended(env, clean.taskId);
    expect(testDatasets(env)).toEqual([]);
    expect(await n2.getVm(vm)).toBeNull();
    expect(await images(env, b)).not.toContain(names.rbdCopy(IMAGE));
    expect(heldBy(env, 'demo-node2', names.tag)).toEqual([]);
    expect(heldBy(env, 'demo-node1', names.tag)).toEqual([]);
    // Production and its replica untouched.
    expect(await n1.getVmState('web01')).toBe('running');
    expect(await images(env, b)).toContain(IMAGE);
    expect((await env.caller.plans.report({ id: runId })).cleanedAt).not.toBeNull();
    const cleanReport = await env.caller.plans.report({ id: clean.runId });
    expect(cleanReport).toMatchObject({ kind: 'test-cleanup', ofRunId: runId, state: 'finished' });
    expect(cleanReport.items.map((i) => i.state)).toEqual(['done', 'done']);
    await expect(env.caller.plans.cleanupTest({ runId })).rejects.toThrow(/cleaned up already/);
    expect(
      (await env.caller.plans.precheck({ id: plan.id, kind: 'planned' })).items.flatMap((i) =>
        i.checks.filter((c) => c.id === 'open-test'),
      ),
    ).toEqual([]);
    // The next sync prunes the snapshot the test kept.
    await finished(env.app, (await env.caller.replicas.syncNow({ id: rid })).taskId);
    expect(
      node2(env)
        .datasets.find((d) => d.name === replica.datasets[0]!.target)!
        .snapshots.map((s) => s.name),
    ).not.toContain(snap);
  });

  it('a test cut off by a crash after its clones is cleaned up from what it recorded', async () => {
    const first = boot({ faults: 'plan.run:Test VM web01: start the test VM:hang' });
    const { plan } = await testPlan(first);
    const { runId, taskId } = await first.caller.plans.run({
      id: plan.id,
      kind: 'test',
      reason: 'crash test',
      confirm: 'web tier',
    });
    await stuckAt(first.app, taskId, 'Test VM web01: start the test VM');
    expect(testDatasets(first)).toHaveLength(2);
    const env = boot({ from: first });
    expect(env.app.tasks.get(taskId)!.state).toBe('interrupted');
    const clean = await env.caller.plans.cleanupTest({ runId });
    await ended(env, clean.taskId);
    const names = testNames(runId);
    expect(testDatasets(env)).toEqual([]);
    expect(heldBy(env, 'demo-node2', names.tag)).toEqual([]);
    expect(heldBy(env, 'demo-node1', names.tag)).toEqual([]);
    expect(await images(env, env.node('demo-site-b'))).not.toContain(names.rbdCopy(IMAGE));
    // The replica itself is untouched.
    expect(node2(env).datasets.map((d) => d.name)).toEqual(expect.arrayContaining(['zones/web01-disk0']));
  });

  it('one object on its own: a VM replica, and an RBD image, each tested and cleaned up without a plan', async () => {
    const env = boot();
    const rid = await withReplica(env);
    env.tickMs = 100;
    const [a, b] = [env.node('demo-site-a'), env.node('demo-site-b')];
    await expect(
      env.caller.plans.testObject({
        object: { kind: 'replica', replicaId: rid },
        reason: 'check web01',
        confirm: 'web',
      }),
    ).rejects.toThrow(/type web01 to confirm/);
    await expect(
      env.caller.plans.testObject({
        object: { kind: 'replica', replicaId: rid },
        reason: ' ',
        confirm: 'web01',
      }),
    ).rejects.toThrow(/say why/);
    const vm = await env.caller.plans.testObject({
      object: { kind: 'replica', replicaId: rid },
      reason: 'check web01',
      confirm: 'web01',
      network: { kind: 'isolated', network: 'dr-test' },
    });
    await ended(env, vm.taskId);
    const names = testNames(vm.runId);
    const n2 = env.app.replicas.node(env.node('demo-node2'));
    expect(await n2.getVmState(names.vm('web01'))).toBe('running');
    expect((await n2.dumpVm(names.vm('web01'))).text).toContain("<source network='dr-test'/>");
    const report = await env.caller.plans.report({ id: vm.runId });
    expect(report).toMatchObject({
      kind: 'test',
      objectRun: true,
      planId: null,
      planName: 'VM web01',
      reason: 'check web01',
      state: 'finished',
    });
    expect(report.items[0]!.created).toMatchObject({ kind: 'replica', vm: names.vm('web01') });
    await expect(
      env.caller.plans.testObject({
        object: { kind: 'replica', replicaId: rid },
        reason: 'again',
        confirm: 'web01',
      }),
    ).rejects.toThrow(/not cleaned up yet/);

    const img = await env.caller.plans.testObject({
      object: {
        kind: 'rbd',
        protectedSiteId: a,
        recoverySiteId: b,
        pool: 'rbd',
        namespace: '',
        image: IMAGE,
      },
      reason: 'check the image',
      confirm: IMAGE,
    });
    await ended(env, img.taskId);
    expect(await images(env, b)).toContain(testNames(img.runId).rbdCopy(IMAGE));
    for (const t of [vm, img])
      await ended(env, (await env.caller.plans.cleanupTest({ runId: t.runId })).taskId);
    expect(testDatasets(env)).toEqual([]);
    expect(await n2.getVmState(names.vm('web01'))).toBeNull();
    expect(await images(env, b)).not.toContain(testNames(img.runId).rbdCopy(IMAGE));
    expect((await env.caller.plans.reports({ kind: 'test' })).map((r) => [r.planName, r.objectRun])).toEqual([
      [`RBD image rbd/${IMAGE} (demo-site-a → demo-site-b)`, true],
      ['VM web01', true],
    ]);
  });
});
