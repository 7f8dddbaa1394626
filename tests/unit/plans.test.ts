import { describe, expect, it } from 'vitest';
import {
  checkPlanShape,
  dependantsOf,
  eachLimited,
  keysOverlap,
  measuredLoss,
  objectKey,
  planInputSchema,
  runFigures,
  runGroups,
  type PlanInput,
} from '@/server/domain/plans/rules';
import { patchCephAdapter } from './ceph-demo-env';
import { boot, live, stuckAt, vmStates, withReplica, type Env } from './demo-env';

/*
 * Recovery plans: the rules (shape, one object in one plan, dependencies, order, parallelism,
 * measured figures) and runs on the demo sites — a planned migration with an RBD image in group 1
 * and web01 in group 2, reprotect and fail back; a disaster recovery with the master's node gone;
 * a failing object answered with skip (its dependant skipped) or abort; a run cut off and resumed
 * in a restarted app.
 */

const shape = (items: unknown[]): PlanInput => planInputSchema.parse({ name: 'p', items });

describe('plan rules', () => {
  it('names objects once: a pool covers its images, namespaces are apart, pairs are unordered', () => {
    const pool = objectKey({
      kind: 'rbd',
      protectedSiteId: 2,
      recoverySiteId: 1,
      pool: 'rbd',
      namespace: '',
      group: 1,
      dependsOn: [],
    });
    const img = objectKey({
      kind: 'rbd',
      protectedSiteId: 1,
      recoverySiteId: 2,
      pool: 'rbd',
      namespace: '',
      image: 'a',
      group: 1,
      dependsOn: [],
    });
    const nsImg = objectKey({
      kind: 'rbd',
      protectedSiteId: 1,
      recoverySiteId: 2,
      pool: 'rbd',
      namespace: 'ns1',
      image: 'a',
      group: 1,
      dependsOn: [],
    });
    expect(pool).toBe('rbd:1,2/rbd//*');
    expect(keysOverlap(pool, img)).toBe(true);
    expect(keysOverlap(pool, nsImg)).toBe(false);
    expect(keysOverlap(img, nsImg)).toBe(false);
    expect(keysOverlap('replica:1', 'replica:1')).toBe(true);
    expect(keysOverlap('replica:1', 'replica:2')).toBe(false);
  });

  it('refuses an object twice, overlaps, dependencies on the same or a later group, and one cluster on both sides', () => {
    const rbd = { kind: 'rbd', protectedSiteId: 1, recoverySiteId: 2, pool: 'rbd', group: 1 };
    expect(() => checkPlanShape(shape([rbd, { ...rbd, group: 2 }]))).toThrow(/in the plan twice/);
    expect(() => checkPlanShape(shape([rbd, { ...rbd, image: 'x', group: 2 }]))).toThrow(/overlaps object 1/);
    expect(() => checkPlanShape(shape([{ ...rbd, recoverySiteId: 1 }]))).toThrow(/must differ/);
    expect(() =>
      checkPlanShape(
        shape([rbd, { kind: 'replica', replicaId: 3, group: 1, dependsOn: ['rbd:1,2/rbd//*'] }]),
      ),
    ).toThrow(/earlier groups/);
    expect(() =>
      checkPlanShape(shape([{ kind: 'replica', replicaId: 3, group: 2, dependsOn: ['rbd:9,9/x//*'] }])),
    ).toThrow(/not in this plan/);
    expect(() =>
      checkPlanShape(
        shape([rbd, { kind: 'replica', replicaId: 3, group: 2, dependsOn: ['rbd:1,2/rbd//*'] }]),
      ),
    ).not.toThrow();
    expect(() => shape([{ ...rbd, group: 6 }])).toThrow(/groups are 1 to 5/);
    expect(() => shape([])).toThrow(/at least one object/);
  });

  it('orders groups, finds dependants through others, and runs at most N at once', async () => {
    expect(
      runGroups([
        { groupNo: 3, n: 'c' },
        { groupNo: 1, n: 'a' },
        { groupNo: 3, n: 'd' },
      ]).map((g) => [g.group, g.items.map((i) => i.n)]),
    ).toEqual([
      [1, ['a']],
      [3, ['c', 'd']],
    ]);
    const items = [
      { objectKey: 'a', dependsOn: [] },
      { objectKey: 'b', dependsOn: ['a'] },
      { objectKey: 'c', dependsOn: ['b'] },
      { objectKey: 'd', dependsOn: [] },
    ];
    expect(dependantsOf('a', items).sort()).toEqual(['b', 'c']);
    expect(dependantsOf('d', items)).toEqual([]);
    let now = 0;
    let peak = 0;
    await eachLimited([1, 2, 3, 4, 5, 6, 7], 3, async () => {
      peak = Math.max(peak, ++now);
      await new Promise((r) => setTimeout(r, 5));
      now--;
    });
    expect(peak).toBe(3);
  });

  it('measures data loss from the recovery point used and recovery time to the last VM ready', () => {
    expect(measuredLoss(100_000, 40_000)).toBe(60);
    expect(measuredLoss(100_000, 120_000)).toBe(0);
    expect(measuredLoss(100_000, null)).toBeNull();
    const f = runFigures(1000, [
      { kind: 'rbd', state: 'done', finishedAt: 5000, readyAt: null, dataLossSec: 12 },
      { kind: 'replica', state: 'done', finishedAt: 9000, readyAt: 11_000, dataLossSec: 30 },
      { kind: 'replica', state: 'skipped', finishedAt: null, readyAt: null, dataLossSec: null },
    ]);
    expect(f).toEqual({ dataLossSec: 30, recoveryTimeMs: 10_000 });
    expect(
      runFigures(1000, [
        { kind: 'rbd', state: 'running', finishedAt: null, readyAt: null, dataLossSec: null },
      ]).recoveryTimeMs,
    ).toBeNull();
  });
});

const IMAGE = 'vm-web01-root';

/** web01's replica (synced at 1000×), then 50× so that Ceph promotes (polled once a real second) meet their deadline. */
async function planOf(env: Env, opts: { readiness?: boolean } = {}) {
  const rid = await withReplica(env);
  env.tickMs = 100;
  const a = env.node('demo-site-a');
  const b = env.node('demo-site-b');
  const rbd = {
    kind: 'rbd' as const,
    protectedSiteId: a,
    recoverySiteId: b,
    pool: 'rbd',
    namespace: '',
    image: IMAGE,
    group: 1,
    dependsOn: [],
  };
  const key = `rbd:${Math.min(a, b)},${Math.max(a, b)}/rbd//${IMAGE}`;
  const plan = await env.caller.plans.create({
    name: 'web tier',
    questionTimeoutSec: 10,
    items: [
      rbd,
      {
        kind: 'replica',
        replicaId: rid,
        group: 2,
        dependsOn: [key],
        waitAfterStartSec: 0,
        readiness: opts.readiness ? { tcp: { host: 'web01', port: 80 }, timeoutSec: 30 } : null,
      },
    ],
  });
  return { rid, a, b, plan, key };
}

const primaryOn = async (env: Env, siteId: number) =>
  (await env.app.ceph.adapter(siteId).getImageInfo('rbd', '', IMAGE)).mirroring.primary;

async function runEnded(env: Env, taskId: number, want: string) {
  const t = await env.app.tasks.wait(taskId);
  if (t.state !== want)
    throw new Error(
      `run task #${taskId}: ${t.state} (wanted ${want}) ${t.error}\n${env.app.tasks
        .logs(taskId)
        .map((l) => l.message)
        .join('\n')}`,
    );
  return t;
}

async function waitFor<T>(what: string, fn: () => T | undefined | null | false): Promise<T> {
  for (let i = 0; i < 5000; i++) {
    const v = fn();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('recovery plans on the demo sites', { timeout: 60_000 }, () => {
  it('are saved with their objects, one object in one plan, and edited and deleted by name', async () => {
    const env = boot();
    const { plan, rid, key } = await planOf(env);
    expect(plan.items.map((i) => [i.group, i.label])).toEqual([
      [1, `RBD image rbd/${IMAGE} (demo-site-a → demo-site-b)`],
      [2, 'VM web01'],
    ]);
    expect(plan.items[1]).toMatchObject({
      protectedSite: 'demo-node1',
      recoverySite: 'demo-node2',
      dependsOn: [key],
    });
    await expect(
      env.caller.plans.create({ name: 'other', items: [{ kind: 'replica', replicaId: rid, group: 1 }] }),
    ).rejects.toThrow(/already in plan "web tier"/);
    await expect(
      env.caller.plans.create({ name: 'web tier', items: [{ kind: 'replica', replicaId: 999, group: 1 }] }),
    ).rejects.toThrow(/already exists/);
    await expect(
      env.caller.plans.create({ name: 'ghost', items: [{ kind: 'replica', replicaId: 999, group: 1 }] }),
    ).rejects.toThrow(/replica #999 does not exist/);
    const edited = await env.caller.plans.update({
      id: plan.id,
      ...(await env.caller.plans.input({ id: plan.id })),
      maxParallel: 2,
      description: 'the shop',
    });
    expect(edited).toMatchObject({ maxParallel: 2, description: 'the shop' });
    expect(edited.items).toHaveLength(2);
    await expect(env.caller.plans.remove({ id: plan.id, confirm: 'web' })).rejects.toThrow(
      /type the plan's name web tier/,
    );
    await env.caller.plans.remove({ id: plan.id, confirm: 'web tier' });
    expect(await env.caller.plans.list()).toEqual([]);
  });

  it('planned migration: the image before the VM, no data lost, the VM ready; then reprotect and fail back', async () => {
    const env = boot();
    const { plan, rid, a, b } = await planOf(env, { readiness: true });
    const pre = await env.caller.plans.precheck({ id: plan.id, kind: 'planned' });
    expect(pre).toMatchObject({
      canProceed: true,
      maxDataLossSec: 0,
      steps: [`Group 1: RBD image rbd/${IMAGE} (demo-site-a → demo-site-b)`, 'Group 2: VM web01'],
    });
    await expect(
      env.caller.plans.run({
        id: plan.id,
        kind: 'planned',
        reason: 'maintenance of site A',
        confirm: 'nope',
      }),
    ).rejects.toThrow(/type the plan's name/);
    await expect(
      env.caller.plans.run({ id: plan.id, kind: 'planned', reason: ' ', confirm: 'web tier' }),
    ).rejects.toThrow(/say why/);
    const { runId, taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'maintenance of site A',
      confirm: 'web tier',
    });
    await runEnded(env, taskId, 'finished');
    expect(live(await vmStates(env))).toEqual(['demo-node2']);
    expect(await primaryOn(env, b)).toBe(true);
    expect(await primaryOn(env, a)).toBe(false);
    const report = await env.caller.plans.report({ id: runId });
    expect(report).toMatchObject({
      kind: 'planned',
      state: 'finished',
      reason: 'maintenance of site A',
      startedBy: 'op',
      dataLossSec: 0,
    });
    const [img, vm] = report.items;
    expect(img).toMatchObject({ state: 'done', dataLossSec: 0 });
    expect(vm).toMatchObject({ state: 'done', dataLossSec: 0 });
    // Group 2 starts when group 1 is done; the VM is ready after it started.
    expect(vm!.startedAt!).toBeGreaterThanOrEqual(img!.finishedAt!);
    expect(vm!.readyAt!).toBeGreaterThan(vm!.startedAt!);
    expect(report.recoveryTimeMs).toBe(vm!.readyAt! - report.startedAt);
    expect(vm!.steps.map((s) => s.name)).toContain('Start the VM');
    expect(report.log.some((l) => l.message.includes('web01:80 accepts connections from demo-node2'))).toBe(
      true,
    );
    expect((await env.caller.plans.get({ id: plan.id })).lastRun).toMatchObject({
      id: runId,
      state: 'finished',
    });

    // A second planned migration is refused: the VM already runs on the recovery side.
    expect(
      (await env.caller.plans.precheck({ id: plan.id, kind: 'planned' })).items[1]!.checks[0]!.message,
    ).toMatch(/waits for its reprotect/);
    // Reprotect: web01's old master is reinitialised as the replica; the image already replicates back.
    const re = await env.caller.plans.run({
      id: plan.id,
      kind: 'reprotect',
      reason: 'protect the new side',
      confirm: 'web tier',
    });
    await runEnded(env, re.taskId, 'finished');
    expect(env.app.replicas.row(rid)).toMatchObject({
      state: expect.not.stringMatching(/reinit/),
      sourceSiteId: env.node('demo-node2'),
      targetSiteId: env.node('demo-node1'),
    });
    const reReport = await env.caller.plans.report({ id: re.runId });
    expect(reReport.items.map((i) => i.state)).toEqual(['done', 'done']);
    expect(reReport.log.some((l) => l.message.includes('nothing to do'))).toBe(true);

    // Fail back: the plan run back, planned.
    const back = await env.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      direction: 'back',
      reason: 'site A is back',
      confirm: 'web tier',
    });
    await runEnded(env, back.taskId, 'finished');
    expect(live(await vmStates(env))).toEqual(['demo-node1']);
    expect(await primaryOn(env, a)).toBe(true);
    expect(
      (await env.caller.plans.reports({ planId: plan.id })).map((r) => [r.kind, r.direction, r.state]),
    ).toEqual([
      ['planned', 'back', 'finished'],
      ['reprotect', 'forward', 'finished'],
      ['planned', 'forward', 'finished'],
    ]);
  });

  it('disaster recovery: a planned run is refused while the master node is gone; the forced run measures the data lost', async () => {
    const env = boot();
    const { plan, rid } = await planOf(env);
    const lastSync = env.app.replicas.row(rid).lastSyncAt!.getTime();
    await waitFor('a minute after the last sync', () => env.clock.now() > lastSync + 60_000);
    // The master answers once more (a pre-check), then its node is gone: the writes of that minute are lost.
    expect((await env.caller.plans.precheck({ id: plan.id, kind: 'planned' })).canProceed).toBe(true);
    env.world.down.add('demo-node1');
    const planned = await env.caller.plans.precheck({ id: plan.id, kind: 'planned' });
    expect(planned.canProceed).toBe(false);
    expect(planned.items[1]!.checks.find((c) => c.id === 'mode')?.message).toMatch(
      /run a disaster recovery instead/,
    );
    const dr = await env.caller.plans.precheck({ id: plan.id, kind: 'disaster' });
    expect(dr.canProceed).toBe(true);
    expect(dr.items[1]!.dataLossWindowSec).toBeGreaterThan(0);
    // demo-site-a still answers: its image is primary there, so a disaster recovery needs the split-brain confirmed.
    expect(dr.splitBrainRisk).toBe(1);
    await expect(
      env.caller.plans.run({ id: plan.id, kind: 'disaster', reason: 'node1 burnt', confirm: 'web tier' }),
    ).rejects.toThrow(/confirm the split-brain/);
    const { runId, taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'disaster',
      reason: 'node1 burnt',
      confirm: 'web tier',
      confirmSplitBrain: true,
    });
    await runEnded(env, taskId, 'finished');
    const report = await env.caller.plans.report({ id: runId });
    const vm = report.items[1]!;
    expect(vm.recoveryPointAt).toBe(lastSync);
    expect(vm.dataLossSec).toBe(Math.round((report.startedAt - lastSync) / 1000));
    expect(report.dataLossSec).toBeGreaterThanOrEqual(vm.dataLossSec!);
    expect(env.app.replicas.row(rid)).toMatchObject({
      state: 'reinit-required',
      sourceSiteId: env.node('demo-node2'),
    });
  });

  it('a failed object asks: skip skips its dependants too; abort fails the run, which resumes once the cause is gone', async () => {
    const first = boot({ faults: 'ceph.failover:Demote on the primary cluster:error' });
    const { plan } = await planOf(first);
    const { runId, taskId } = await first.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'test skip',
      confirm: 'web tier',
    });
    const q = await waitFor(
      'the question',
      () => first.app.tasks.get(taskId)?.state === 'question' && first.app.tasks.get(taskId)!.question,
    );
    expect((q as { message: string }).message).toMatch(
      /failed: injected fault.*skip it and the 1 object\(s\) that depend on it/,
    );
    await first.caller.tasks.answer({ id: taskId, questionId: (q as { id: string }).id, value: 'skip' });
    await runEnded(first, taskId, 'finished');
    const report = await first.caller.plans.report({ id: runId });
    expect(report.items.map((i) => i.state)).toEqual(['skipped', 'skipped']);
    expect(report.items[1]!.error).toMatch(/depends on RBD image/);
    expect(report.questions.map((x) => x.message).join('\n')).toMatch(
      /question: .*failed[\s\S]*answer: skip/,
    );
    expect(live(await vmStates(first))).toEqual(['demo-node1']);

    // Abort (here the default answer, after the plan's 10-s question timeout): the run fails, group 2 never starts.
    const second = await first.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'test abort',
      confirm: 'web tier',
    });
    await waitFor('the question', () => first.app.tasks.get(second.taskId)?.state === 'question');
    const failed = await runEnded(first, second.taskId, 'failed');
    expect(failed.error).toMatch(/aborted by the operator after RBD image .* failed/);
    expect((await first.caller.plans.report({ id: second.runId })).items.map((i) => i.state)).toEqual([
      'failed',
      'pending',
    ]);
    // Without the fault (a restarted app over the same data), the run resumes and finishes.
    const fixed = boot({ from: first });
    await fixed.caller.tasks.resume({ id: second.taskId, confirm: 'web tier' });
    await runEnded(fixed, second.taskId, 'finished');
    expect(live(await vmStates(fixed))).toEqual(['demo-node2']);
    expect((await fixed.caller.plans.report({ id: second.runId })).attempts).toBe(2);
  });

  it("a run's start asks each cluster once: the image's failover acts on that plan rather than asking again", async () => {
    const env = boot();
    const { plan } = await planOf(env);
    const calls: { preview: boolean }[] = [];
    const original = env.app.cephFailover.plan.bind(env.app.cephFailover);
    env.app.cephFailover.plan = (input, opts) => {
      calls.push({ preview: opts?.preview === true });
      return original(input, opts);
    };
    const { runId, taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'maintenance',
      confirm: 'web tier',
    });
    await runEnded(env, taskId, 'finished');
    // One plan of the image, by the run's start, with both clusters asked (not a preview).
    expect(calls).toEqual([{ preview: false }]);
    expect((await env.caller.plans.report({ id: runId })).items.map((i) => i.state)).toEqual([
      'done',
      'done',
    ]);
  });

  it('reprotect after a planned migration trusts `rbd info`, not a mirror status that still calls the demoted image primary', async () => {
    const env = boot();
    const { plan, a } = await planOf(env);
    const { taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'maintenance',
      confirm: 'web tier',
    });
    await runEnded(env, taskId, 'finished');
    // rbd-mirror reports roles some seconds late: site A's status still says "local image is primary".
    const real = patchCephAdapter(env.app, a, (ad) => ({
      listImages: async (pool: string, ns?: string) =>
        (await ad.listImages(pool, ns)).map((i) =>
          i.name === IMAGE && i.mirroring ? { ...i, mirroring: { ...i.mirroring, primary: true } } : i,
        ),
    }));
    const list = (pool: string, ns?: string) => real(a).listImages(pool, ns);
    const re = await env.caller.plans.run({
      id: plan.id,
      kind: 'reprotect',
      reason: 'protect the new side',
      confirm: 'web tier',
    });
    await runEnded(env, re.taskId, 'finished');
    const report = await env.caller.plans.report({ id: re.runId });
    expect(report.items[0]).toMatchObject({ state: 'done', taskId: null });
    expect((await list('rbd', '')).map((i) => i.name).filter((n) => n.includes('-diverged-'))).toEqual([]);
  });

  it('a planned run never force-promotes: an image whose primary cluster stopped answering since the pre-checks is refused, not failed over unplanned', async () => {
    const env = boot({ faults: 'replica.failover:Stop the master VM:error' });
    const rid = await withReplica(env);
    env.tickMs = 100;
    const [a, b] = [env.node('demo-site-a'), env.node('demo-site-b')];
    // The VM in group 1 (its failover fails, the run asks), the image in group 2.
    const plan = await env.caller.plans.create({
      name: 'late image',
      questionTimeoutSec: 600,
      items: [
        { kind: 'replica', replicaId: rid, group: 1 },
        {
          kind: 'rbd',
          protectedSiteId: a,
          recoverySiteId: b,
          pool: 'rbd',
          namespace: '',
          image: IMAGE,
          group: 2,
        },
      ],
    });
    const { runId, taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'maintenance',
      confirm: 'late image',
    });
    const q1 = await waitFor(
      'the question about the VM',
      () => env.app.tasks.get(taskId)?.state === 'question' && env.app.tasks.get(taskId)!.question,
    );
    // demo-site-a stops answering after the pre-checks passed; the VM is skipped and group 2 starts.
    env.world.down.add('demo-site-a');
    await env.caller.tasks.answer({ id: taskId, questionId: (q1 as { id: string }).id, value: 'skip' });
    const q2 = await waitFor('the question about the image', () => {
      const t = env.app.tasks.get(taskId);
      const q = t?.state === 'question' ? (t.question as { id: string; message: string } | null) : null;
      return q && q.id !== (q1 as { id: string }).id && q;
    });
    expect((q2 as { message: string }).message).toMatch(/would now be unplanned/);
    await env.caller.tasks.answer({ id: taskId, questionId: (q2 as { id: string }).id, value: 'abort' });
    await runEnded(env, taskId, 'failed');
    expect(await primaryOn(env, b)).toBe(false);
    const report = await env.caller.plans.report({ id: runId });
    expect(report.items.map((i) => [i.state, i.taskId])).toEqual([
      ['skipped', expect.any(Number)],
      ['failed', null],
    ]);
  });

  it('a VM paused on its master is started paused on the recovery side and counts as ready there', async () => {
    const env = boot();
    const { plan } = await planOf(env);
    await env.app.replicas.node(env.node('demo-node1')).pauseVm('web01');
    const { runId, taskId } = await env.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'move the paused VM',
      confirm: 'web tier',
    });
    await runEnded(env, taskId, 'finished');
    expect((await vmStates(env))['demo-node2']).toBe('paused');
    const report = await env.caller.plans.report({ id: runId });
    expect(report.items[1]).toMatchObject({ state: 'done', dataLossSec: 0 });
    expect(report.items[1]!.readyAt).not.toBeNull();
    expect(
      report.log.some((l) => /web01 is paused on demo-node2, as it was on demo-node1/.test(l.message)),
    ).toBe(true);
  });

  it('a run cut off while the VM fails over resumes in a restarted app: the same failover task is resumed, none started twice', async () => {
    const first = boot({ faults: 'replica.failover:Transfer to the replica:hang' });
    const { plan, rid } = await planOf(first);
    const { runId, taskId } = await first.caller.plans.run({
      id: plan.id,
      kind: 'planned',
      reason: 'crash test',
      confirm: 'web tier',
    });
    const child = await waitFor('the VM failover', () => first.app.replicas.row(rid).operation?.taskId);
    await stuckAt(first.app, child, 'Transfer to the replica');
    const env = boot({ from: first });
    expect(env.app.tasks.get(taskId)!.state).toBe('interrupted');
    expect(env.app.tasks.get(child)!.state).toBe('interrupted');
    await env.caller.tasks.resume({ id: taskId, confirm: 'web tier' });
    await runEnded(env, taskId, 'finished');
    const report = await env.caller.plans.report({ id: runId });
    expect(report.items.map((i) => [i.state, i.taskId === child || i.label !== 'VM web01'])).toEqual([
      ['done', true],
      ['done', true],
    ]);
    expect(env.app.tasks.get(child)).toMatchObject({ state: 'finished', attempts: 2 });
    expect(live(await vmStates(env))).toEqual(['demo-node2']);
  });
});
