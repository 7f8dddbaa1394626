import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { replicas } from '@/server/db/schema';
import { ReplicationScheduler, syncLimits, type SyncLimits } from '@/server/domain/replicas/scheduler';
import { boot, finished, stuckAt, type Env } from './demo-env';

/**
 * Six replicas over the three demo nodes (each sync touches two of them). Their initial syncs run
 * in one process; a second one over the same machines and database holds every later sync at its
 * transfer, so that what the scheduler starts stays running while it is counted.
 */
async function sixReplicas(): Promise<Env> {
  const first = boot();
  const n1 = first.node('demo-node1');
  const n2 = first.node('demo-node2');
  const n3 = first.node('demo-node3');
  const specs: { vmName: string; from: number; to: number; diskZpools: Record<string, string> }[] = [
    { vmName: 'web01', from: n1, to: n2, diskZpools: { vdb: 'data' } },
    { vmName: 'db01', from: n1, to: n2, diskZpools: { vdb: 'data' } },
    { vmName: 'mail01', from: n1, to: n3, diskZpools: {} },
    { vmName: 'app01', from: n2, to: n3, diskZpools: {} },
    { vmName: 'cache01', from: n2, to: n1, diskZpools: {} },
    { vmName: 'monitor01', from: n3, to: n1, diskZpools: {} },
  ];
  for (const s of specs) {
    const c = await first.caller.replicas.create({
      name: 'dr',
      vmName: s.vmName,
      sourceSiteId: s.from,
      targetSiteId: s.to,
      rootZpool: 'zones',
      diskZpools: s.diskZpools,
      sleepTimeSec: 30,
    });
    await finished(first.app, c.taskId);
  }
  first.app.scheduler.stop();
  const env = boot({ from: first, faults: 'replica.sync:Transfer to the replica:hang' });
  // All due now.
  env.app.db
    .update(replicas)
    .set({ nextSyncAt: new Date(env.clock.now() - 1000) })
    .run();
  return env;
}

function schedulerOf(env: Env, limits: SyncLimits) {
  return new ReplicationScheduler(
    env.app.db,
    env.app.replicas,
    env.app.tasks,
    env.app.history,
    env.app.clock,
    limits,
  );
}

/** Syncs running now, per node id and in all. */
function load(env: Env) {
  const running = env.app.tasks.list({ active: true, limit: 100 }).filter((t) => t.kind === 'replica.sync');
  const perNode = new Map<number, number>();
  for (const t of running) {
    const r = env.app.replicas.row((t.params as { replicaId: number }).replicaId);
    for (const n of [r.sourceSiteId, r.targetSiteId]) perNode.set(n, (perNode.get(n) ?? 0) + 1);
  }
  return { total: running.length, maxPerNode: Math.max(0, ...perNode.values()) };
}

describe('the scheduler starts due syncs with bounded concurrency', () => {
  it('overall: at most `total` at once, the rest at later ticks as running ones end', async () => {
    const env = await sixReplicas();
    const s = schedulerOf(env, { perNode: 100, total: 2 });
    const first = (await s.tick()).started;
    expect(first).toHaveLength(2);
    for (const id of first) await stuckAt(env.app, id, 'Transfer to the replica');
    expect(load(env).total).toBe(2);
    // Nothing more while they run.
    expect((await s.tick()).started).toEqual([]);
    // One ends: one more starts.
    env.app.tasks.cancel(first[0]!, 'test');
    await env.app.tasks.wait(first[0]!);
    const next = (await s.tick()).started;
    expect(next).toHaveLength(1);
    expect(load(env).total).toBe(2);
  });

  it('per node: a sync counts on its master and its replica node; a manual sync counts too', async () => {
    const env = await sixReplicas();
    const s = schedulerOf(env, { perNode: 1, total: 100 });
    // Three nodes, each sync on two of them: with one per node, one sync at a time.
    const started = (await s.tick()).started;
    expect(started).toHaveLength(1);
    expect(load(env)).toEqual({ total: 1, maxPerNode: 1 });
    env.app.tasks.cancel(started[0]!, 'test');
    await env.app.tasks.wait(started[0]!);

    const wide = schedulerOf(env, { perNode: 2, total: 100 });
    // A sync started by hand takes its nodes' slots.
    const web01 = env.app.db.select().from(replicas).where(eq(replicas.vmName, 'web01')).get()!;
    env.app.replicas.startSync(web01.id, 'op');
    const more = (await wide.tick()).started;
    const now = load(env);
    expect(now.maxPerNode).toBeLessThanOrEqual(2);
    // Node slots: 3 nodes × 2 = 6, two per sync: three syncs at most, the manual one among them.
    expect(now.total).toBeLessThanOrEqual(3);
    expect(more.length).toBeGreaterThanOrEqual(1);
  });

  it('the longest-waiting due replica goes first', async () => {
    const env = await sixReplicas();
    const all = env.app.db.select().from(replicas).all();
    const oldest = all[all.length - 1]!;
    env.app.db
      .update(replicas)
      .set({ nextSyncAt: new Date(env.clock.now() - 3600_000) })
      .where(eq(replicas.id, oldest.id))
      .run();
    const started = (await schedulerOf(env, { perNode: 100, total: 1 }).tick()).started;
    expect(env.app.tasks.get(started[0]!)!.params).toMatchObject({ replicaId: oldest.id });
  });

  it('reads its limits from the environment, with defaults of 2 per node and 8 in all', () => {
    expect(syncLimits({})).toEqual({ perNode: 2, total: 8 });
    expect(syncLimits({ TANDEM_SYNCS_PER_NODE: '3', TANDEM_SYNCS_TOTAL: '12' })).toEqual({
      perNode: 3,
      total: 12,
    });
    expect(() => syncLimits({ TANDEM_SYNCS_PER_NODE: '0' })).toThrow(
      /TANDEM_SYNCS_PER_NODE: "0" is not a whole number from 1 to 1000/,
    );
    expect(() => syncLimits({ TANDEM_SYNCS_TOTAL: 'many' })).toThrow(/TANDEM_SYNCS_TOTAL/);
  });
});
