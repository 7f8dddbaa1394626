import { and, eq } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { alertDeliveries, alerts, history } from '@/server/db/schema';
import { AlertService } from '@/server/domain/alerts/service';
import type { ProtectedObject } from '@/server/domain/protection/types';
import { createCaller } from '@/server/trpc/root';
import { protectedObject } from './protected-object';
import { boot, finished, withReplica } from './demo-env';
import { admin, ctxFor, operator, testApp, viewer } from './helpers';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A test app whose alert service evaluates the objects the test sets. */
function withObjects() {
  const t = testApp();
  let objects: ProtectedObject[] = [];
  const service = new AlertService({
    db: t.app.db,
    clock: t.clock,
    history: t.app.history,
    tasks: t.app.tasks,
    ceph: t.app.ceph,
    delivery: t.app.alerts.delivery,
    objects: async () => objects,
  });
  t.app.alerts = service;
  cleanups.push(() => t.app.tasks.shutdown());
  return { ...t, service, set: (o: ProtectedObject[]) => (objects = o) };
}

const rows = (app: ReturnType<typeof testApp>['app']) =>
  app.db.select().from(alerts).orderBy(alerts.id).all();
const firingDeliveries = (app: ReturnType<typeof testApp>['app'], alertId: number) =>
  app.db
    .select()
    .from(alertDeliveries)
    .where(and(eq(alertDeliveries.alertId, alertId), eq(alertDeliveries.event, 'firing')))
    .all();

describe('alert service', () => {
  it('fires, de-duplicates, resolves and fires again as a new row; each change in history; deliveries queued per enabled channel', async () => {
    const { app, clock, service, set } = withObjects();
    const hook = app.alerts.delivery.createChannel({
      kind: 'webhook',
      name: 'ops',
      url: 'http://127.0.0.1:9/hook',
    });
    const off = app.alerts.delivery.createChannel({ kind: 'email', name: 'off', to: ['x@example.com'] });
    app.alerts.delivery.updateChannel(off.channel.id, { enabled: false });

    set([
      protectedObject({ health: 'breach', windowSec: 3600 }),
      protectedObject({ subject: 'replica:2', name: 'db01' }),
    ]);
    const t1 = await service.evaluate();
    expect(t1.inserts.map((i) => i.key)).toEqual(['rpo-breach:replica:1']);
    let all = rows(app);
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({
      rule: 'rpo-breach',
      subject: 'replica:1',
      key: 'rpo-breach:replica:1',
      state: 'firing',
      severity: 'critical',
      resolvedAt: null,
    });
    const first = all[0]!;
    expect(
      app.db
        .select()
        .from(alertDeliveries)
        .all()
        .map((d) => [d.alertId, d.channelId, d.event, d.state]),
    ).toEqual([[first.id, hook.channel.id, 'firing', 'pending']]);

    clock.advance(30_000);
    await service.evaluate();
    all = rows(app);
    expect(all).toHaveLength(1);
    expect(all[0]!.lastSeenAt.getTime()).toBe(first.firedAt.getTime() + 30_000);
    expect(firingDeliveries(app, first.id)).toHaveLength(1);

    set([protectedObject({ health: 'ok' })]);
    clock.advance(30_000);
    await service.evaluate();
    expect(rows(app)[0]).toMatchObject({ state: 'resolved', resolvedAt: new Date(clock.now()) });
    expect(
      app.db.select().from(alertDeliveries).where(eq(alertDeliveries.event, 'resolved')).all(),
    ).toHaveLength(1);

    set([protectedObject({ health: 'breach', windowSec: 3600 })]);
    clock.advance(30_000);
    await service.evaluate();
    all = rows(app);
    expect(all.map((a) => [a.id, a.state])).toEqual([
      [first.id, 'resolved'],
      [first.id + 1, 'firing'],
    ]);
    const h = app.db.select().from(history).where(eq(history.username, 'alerts')).all();
    expect(h.map((r) => [r.action, r.target])).toEqual([
      ['alert.fired', 'alert:rpo-breach:replica:1'],
      ['alert.resolved', 'alert:rpo-breach:replica:1'],
      ['alert.fired', 'alert:rpo-breach:replica:1'],
    ]);
  });

  it('acknowledges through the API (operators, recorded in history): still firing, not notified again; viewers may only look', async () => {
    const { app, clock, service, set } = withObjects();
    app.alerts.delivery.createChannel({ kind: 'webhook', name: 'ops', url: 'http://127.0.0.1:9/hook' });
    service.setSettings({ repeatSec: 3600 });
    set([
      protectedObject({ health: 'warning', windowSec: 1000 }),
      protectedObject({ subject: 'replica:2', name: 'db01', health: 'warning', windowSec: 1000 }),
    ]);
    await service.evaluate();
    const [a, b] = rows(app);
    const op = createCaller(ctxFor(app, operator));
    await expect(createCaller(ctxFor(app, viewer)).alerts.ack({ id: a!.id })).rejects.toThrow(
      /operator role/,
    );
    expect((await createCaller(ctxFor(app, viewer)).alerts.list({ state: 'firing' })).total).toBe(2);
    const acked = await op.alerts.ack({ id: a!.id });
    expect(acked).toMatchObject({ ackedBy: 'op', ackedAt: new Date(clock.now()), state: 'firing' });
    await expect(op.alerts.ack({ id: a!.id })).rejects.toThrow(/already acknowledged by op/);
    expect(
      app.db
        .select()
        .from(history)
        .where(eq(history.action, 'alerts.ack'))
        .all()
        .map((r) => [r.username, r.outcome]),
    ).toEqual([
      ['op', 'success'],
      ['op', 'failure'],
    ]);
    clock.advance(3600_000);
    await service.evaluate();
    expect(firingDeliveries(app, a!.id)).toHaveLength(1);
    expect(firingDeliveries(app, b!.id)).toHaveLength(2);
    expect(rows(app).map((r) => r.state)).toEqual(['firing', 'firing']);
    // Resolved alerts cannot be acknowledged.
    set([]);
    await service.evaluate();
    await expect(op.alerts.ack({ id: b!.id })).rejects.toThrow(
      /is resolved; only a firing alert can be acknowledged/,
    );
  });

  it('silences by key or prefix: the alert is recorded, nothing is queued until the silence ends (or is lifted); the list says it is silenced', async () => {
    const { app, clock, service, set } = withObjects();
    app.alerts.delivery.createChannel({ kind: 'webhook', name: 'ops', url: 'http://127.0.0.1:9/hook' });
    const op = createCaller(ctxFor(app, operator));
    await expect(op.alerts.silence({ matcher: '*', minutes: 10 })).rejects.toThrow(
      /silencing everything is not allowed/,
    );
    await expect(op.alerts.silence({ matcher: 'rpo*breach', minutes: 10 })).rejects.toThrow(
      /only a final \* is allowed/,
    );
    await expect(op.alerts.silence({ matcher: 'nonsense:replica:1', minutes: 10 })).rejects.toThrow(
      /a key starts with a rule/,
    );
    const s = await op.alerts.silence({
      matcher: 'rpo-breach:replica:*',
      minutes: 10,
      reason: 'maintenance of node2',
    });
    expect(s).toMatchObject({
      createdBy: 'op',
      reason: 'maintenance of node2',
      until: new Date(clock.now() + 600_000),
    });
    set([protectedObject({ health: 'breach', windowSec: 3600 })]);
    await service.evaluate();
    const [a] = rows(app);
    expect(a!.state).toBe('firing');
    expect(firingDeliveries(app, a!.id)).toHaveLength(0);
    expect((await op.alerts.list({ state: 'firing' })).rows[0]!.silencedUntil).toBe(clock.now() + 600_000);
    clock.advance(599_000);
    await service.evaluate();
    expect(firingDeliveries(app, a!.id)).toHaveLength(0);
    clock.advance(1_000);
    await service.evaluate();
    expect(firingDeliveries(app, a!.id)).toHaveLength(1);
    expect((await op.alerts.list({ state: 'firing' })).rows[0]!.silencedUntil).toBeNull();

    // Lifted early: the next firing alert it matched is delivered at once.
    const s2 = await op.alerts.silence({ matcher: 'sync-failures:*', minutes: 60 });
    set([protectedObject({ health: 'breach', windowSec: 3600, failures: 5 })]);
    await service.evaluate();
    const failing = rows(app).find((r) => r.rule === 'sync-failures')!;
    expect(firingDeliveries(app, failing.id)).toHaveLength(0);
    await op.alerts.unsilence({ id: s2.id });
    await expect(op.alerts.unsilence({ id: s2.id })).rejects.toThrow(/has already ended/);
    await service.evaluate();
    expect(firingDeliveries(app, failing.id)).toHaveLength(1);
    expect((await op.alerts.silences()).map((x) => x.id)).toEqual([]);
  });

  it('lists firing alerts critical first, pages, and filters by state and rule; the N of consecutive failures is a setting', async () => {
    const { app, service, set, clock } = withObjects();
    set([
      protectedObject({ subject: 'replica:1', health: 'warning', windowSec: 1000 }),
      protectedObject({ subject: 'replica:2', health: 'breach', windowSec: 3000, failures: 2 }),
      protectedObject({ subject: 'replica:3', health: 'warning', windowSec: 1000 }),
    ]);
    await service.evaluate();
    const c = createCaller(ctxFor(app, viewer));
    expect((await c.alerts.list({ state: 'firing' })).rows.map((r) => r.subject)).toEqual([
      'replica:2',
      'replica:3',
      'replica:1',
    ]);
    const page2 = await c.alerts.list({ state: 'firing', page: 2, pageSize: 5 });
    expect(page2).toMatchObject({ total: 3, rows: [] });
    expect((await c.alerts.list({ rule: 'rpo-warning' })).total).toBe(2);
    expect(await c.alerts.counts()).toEqual({ critical: 1, warning: 2 });
    await expect(c.alerts.setSettings({ syncFailures: 2 })).rejects.toThrow(/admin role/);
    await createCaller(ctxFor(app, admin)).alerts.setSettings({ syncFailures: 2 });
    clock.advance(1000);
    await service.evaluate();
    expect((await c.alerts.list({ rule: 'sync-failures' })).rows.map((r) => r.subject)).toEqual([
      'replica:2',
    ]);
  });
});

describe('alert rules on the demo sites', () => {
  it('a paused replica crosses its RPO: warning, then breach instead, from the protection service; resumed and synced, it resolves', async () => {
    const env = boot();
    const id = await withReplica(env);
    await env.caller.protection.setRpo({ scope: { kind: 'object', subject: `replica:${id}` }, seconds: 600 });
    const rpo = () =>
      rows(env.app).filter(
        (r) => (r.rule === 'rpo-warning' || r.rule === 'rpo-breach') && r.subject === `replica:${id}`,
      );
    await env.app.alerts.evaluate();
    expect(rpo()).toEqual([]);
    await env.caller.replicas.update({ id, enabled: false });
    const until = async (pred: () => boolean) => {
      for (let i = 0; i < 5000 && !pred(); i++) {
        await new Promise((r) => setTimeout(r, 2));
        // The scheduler notes that the master answers: the window grows while it does.
        await env.app.scheduler.tick();
        await env.app.alerts.evaluate();
      }
    };
    await until(() => rpo().some((r) => r.rule === 'rpo-warning'));
    expect(rpo().map((r) => [r.rule, r.state])).toEqual([['rpo-warning', 'firing']]);
    await until(() => rpo().some((r) => r.rule === 'rpo-breach'));
    expect(rpo().map((r) => [r.rule, r.state])).toEqual([
      ['rpo-warning', 'resolved'],
      ['rpo-breach', 'firing'],
    ]);
    expect(rpo()[1]!.summary).toMatch(
      /^web01 \(dr\) \(demo-node1 → demo-node2\): data-loss window \d+ min is over twice its RPO of 10 min$/,
    );
    // Slow time down: the sync and the evaluation after it take well under the protection
    // service's reuse of computed objects, so the finished sync itself must make them stale.
    env.tickMs = 2;
    await env.caller.replicas.update({ id, enabled: true });
    await finished(env.app, (await env.caller.replicas.syncNow({ id })).taskId);
    await env.app.alerts.evaluate();
    expect(rpo().map((r) => r.state)).toEqual(['resolved', 'resolved']);
  });

  it('a failed failover raises task-failed until it is rolled back', async () => {
    const env = boot({ faults: 'replica.failover:Transfer to the replica:error' });
    const id = await withReplica(env);
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    expect((await env.app.tasks.wait(taskId)).state).toBe('failed');
    await env.app.alerts.evaluate();
    // The simulated hours also raise predictions for other objects: only the task's alert counts here.
    const taskAlerts = () => rows(env.app).filter((r) => r.rule === 'task-failed');
    const [a] = taskAlerts();
    expect(taskAlerts()).toHaveLength(1);
    expect(a).toMatchObject({
      rule: 'task-failed',
      subject: `task:${taskId}`,
      severity: 'critical',
      state: 'firing',
    });
    expect(a!.summary).toMatch(
      new RegExp(`^task #${taskId} ".*web01.*" failed.*injected fault.*; resume it or roll it back$`),
    );
    await env.caller.tasks.rollback({ id: taskId, confirm: 'web01' });
    expect((await env.app.tasks.wait(taskId)).state).toBe('rolled-back');
    await env.app.alerts.evaluate();
    expect(taskAlerts().map((r) => [r.subject, r.state])).toEqual([[`task:${taskId}`, 'resolved']]);
  });

  it('a failover interrupted by a failure and resumed after a restart: its alert stays one row and resolves when the task finishes', async () => {
    const first = boot({ faults: 'replica.failover:Transfer to the replica:error' });
    const id = await withReplica(first);
    const { taskId } = await first.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    expect((await first.app.tasks.wait(taskId)).state).toBe('failed');
    await first.app.alerts.evaluate();
    const env = boot({ from: first });
    await env.app.alerts.evaluate();
    const failed = () => rows(env.app).filter((r) => r.rule === 'task-failed');
    expect(failed().map((r) => [r.subject, r.state])).toEqual([[`task:${taskId}`, 'firing']]);
    await env.caller.tasks.resume({ id: taskId, confirm: 'web01' });
    expect((await env.app.tasks.wait(taskId)).state).toBe('finished');
    await env.app.alerts.evaluate();
    expect(failed().map((r) => [r.subject, r.state])).toEqual([[`task:${taskId}`, 'resolved']]);
  });

  it('a node the scheduler stops hearing from is unreachable after the set time, and resolved when it answers again', async () => {
    const env = boot();
    await withReplica(env);
    const reach = () => rows(env.app).filter((r) => r.rule === 'unreachable');
    await env.app.scheduler.tick();
    await env.app.alerts.evaluate();
    expect(reach()).toEqual([]);
    env.world.down.add('demo-node2');
    const since = env.clock.now();
    while (env.clock.now() - since < 130_000) await new Promise((r) => setTimeout(r, 5));
    await env.app.scheduler.tick();
    await env.app.alerts.evaluate();
    const node2 = env.node('demo-node2');
    expect(reach().map((r) => [r.rule, r.subject, r.state])).toEqual([
      ['unreachable', `site:${node2}`, 'firing'],
    ]);
    expect(reach()[0]!.summary).toMatch(/^node demo-node2 cannot be reached: no answer since /);
    env.world.down.delete('demo-node2');
    await env.app.scheduler.tick();
    await env.app.alerts.evaluate();
    expect(reach().map((r) => r.state)).toEqual(['resolved']);
  });

  it('a Ceph cluster found unreachable by its last status raises unreachable; its daemon and split-brain alerts are kept meanwhile; resolved when it answers', async () => {
    const env = boot();
    const a = env.node('demo-site-a');
    await env.app.ceph.status(a);
    await env.app.alerts.evaluate();
    expect(rows(env.app)).toEqual([]);
    env.world.down.add('demo-site-a');
    const down = await env.app.ceph.status(a);
    expect(down.state).toBe('unreachable');
    // A daemon alert of site-a from before (its status said so): nothing is known of it now.
    const at = new Date(env.clock.now());
    env.app.db
      .insert(alerts)
      .values({
        rule: 'daemon',
        subject: `site:${a}`,
        key: `daemon:site:${a}`,
        severity: 'critical',
        state: 'firing',
        summary: 'no rbd-mirror daemon',
        firedAt: at,
        lastSeenAt: at,
      })
      .run();
    await env.app.alerts.evaluate();
    expect(rows(env.app).map((r) => [r.rule, r.subject, r.state])).toEqual([
      ['daemon', `site:${a}`, 'firing'],
      ['unreachable', `site:${a}`, 'firing'],
    ]);
    expect(rows(env.app)[1]!.summary).toMatch(/^Ceph cluster demo-site-a cannot be reached: .*powered off/);
    env.world.down.delete('demo-site-a');
    expect((await env.app.ceph.status(a)).state).toBe('answered');
    await env.app.alerts.evaluate();
    // The status shows a daemon again: both resolve.
    expect(rows(env.app).map((r) => r.state)).toEqual(['resolved', 'resolved']);
  });
});
