import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '@/server/app';
import type { TaskRow } from '@/server/db/schema';
import type { TaskEvent } from '@/server/tasks/engine';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, testApp } from './helpers';

const PW = 'a long enough password';

/** Counts the SQL statements the app prepares that read the tasks and sessions tables. */
function countReads(app: App) {
  const client = app.db.$client;
  const prepare = client.prepare.bind(client);
  const counts = { tasks: 0, sessions: 0 };
  client.prepare = ((source: string) => {
    if (/^select\b/i.test(source) && /\bfrom "tasks"/.test(source)) counts.tasks++;
    if (/^select\b/i.test(source) && /\bfrom "sessions"/.test(source)) counts.sessions++;
    return prepare(source);
  }) as typeof client.prepare;
  return { counts, reset: () => ((counts.tasks = 0), (counts.sessions = 0)) };
}

const streams: AsyncIterator<unknown>[] = [];
afterEach(() => {
  // A pending next() holds return() back; the streams end with the test app.
  for (const s of streams.splice(0)) void s.return?.(undefined);
});

async function listeners(app: App, n: number): Promise<{ rows: TaskRow[][] }> {
  await app.auth.setupFirstAdmin('admin', PW);
  const rows: TaskRow[][] = [];
  for (let i = 0; i < n; i++) {
    // Ten browsers: ten sessions, ten streams.
    const s = await app.auth.login('admin', PW, `client-${i}`);
    const it = (await createCaller({ ...ctxFor(app, s.user), token: s.token }).tasks.watch())[Symbol.asyncIterator]();
    streams.push(it);
    const got: TaskRow[] = [];
    rows.push(got);
    void (async () => {
      for (;;) {
        const r = await it.next().catch(() => ({ done: true, value: undefined }));
        if (r.done) return;
        got.push(r.value as TaskRow);
      }
    })();
  }
  await new Promise((r) => setTimeout(r, 20)); // the streams are listening
  return { rows };
}

/** A task that ends without awaiting anything slow: three steps, a progress tick, a log line. */
function quick(app: App, name = 'quick') {
  return app.tasks.start({
    name,
    kind: 'test',
    target: `t/${name}`,
    username: 'admin',
    steps: ['one', 'two'],
    run: async (ctx) => {
      await ctx.step('one', () => ctx.progress(1, 2));
      await ctx.step('two', () => ctx.log('half way'));
    },
  });
}

async function settle(app: App, id: number, rows: TaskRow[][]) {
  await app.tasks.wait(id);
  // Until every stream has delivered the task's end (observed, not a fixed wait).
  for (let i = 0; i < 500 && !rows.every((r) => r.some((t) => t.id === id && t.state === 'finished')); i++) await new Promise((r) => setTimeout(r, 2));
}

describe('task events', () => {
  it('reach any number of listeners with one read of the task per event, and no session read per event', async () => {
    const perListeners: { events: number; taskReads: number; sessionReads: number }[] = [];
    for (const n of [1, 10]) {
      const { app } = testApp();
      const { rows } = await listeners(app, n);
      const events: TaskEvent[] = [];
      app.tasks.events.on('change', (e: TaskEvent) => events.push(e));
      const reads = countReads(app);
      const t = quick(app);
      await settle(app, t.id, rows);
      // Every listener got every event.
      for (const r of rows) expect(r.map((x) => x.state)).toEqual(events.map((e) => e.state));
      perListeners.push({ events: events.length, taskReads: reads.counts.tasks, sessionReads: reads.counts.sessions });
    }
    const [one, ten] = perListeners;
    expect(one!.events).toBeGreaterThanOrEqual(7);
    expect(ten!.events).toBe(one!.events);
    // One read of the row per event (plus the engine's own, the same with 1 or 10 listeners).
    expect(ten!.taskReads).toBe(one!.taskReads);
    expect(ten!.taskReads).toBeLessThanOrEqual(one!.events + 2);
    // The streams read their sessions when they open and every 5 s, not per event.
    expect(ten!.sessionReads).toBe(0);
  });

  it('with no listener, the engine does not read the task to emit', async () => {
    const { app } = testApp();
    const reads = countReads(app);
    const t = quick(app);
    await app.tasks.wait(t.id);
    const without = reads.counts.tasks;
    reads.reset();
    const seen: TaskEvent[] = [];
    app.tasks.events.on('change', (e: TaskEvent) => seen.push(e));
    const u = quick(app, 'second');
    await app.tasks.wait(u.id);
    expect(reads.counts.tasks - without).toBe(seen.length);
  });

  it('carry the state each change happened in: a fast task is seen waiting, running, then finished', async () => {
    const { app } = testApp();
    const { rows } = await listeners(app, 3);
    const t = quick(app);
    await settle(app, t.id, rows);
    for (const r of rows) {
      const mine = r.filter((x) => x.id === t.id);
      const states = mine.map((x) => x.state).filter((s, i, a) => s !== a[i - 1]);
      expect(states).toEqual(['waiting', 'running', 'finished']);
      // Steps and progress as they were at each change, in order.
      expect(mine.map((x) => x.lastCompletedStep)).toEqual(expect.arrayContaining([null, 'one', 'two']));
      expect(mine.findIndex((x) => x.lastCompletedStep === 'one')).toBeLessThan(mine.findIndex((x) => x.lastCompletedStep === 'two'));
      expect(mine[mine.length - 1]).toMatchObject({ state: 'finished', progressComplete: 2, progressTotal: 2 });
    }
  });

  it('watching one task yields only that task, starting with its row', async () => {
    const { app } = testApp();
    await app.auth.setupFirstAdmin('admin', PW);
    const s = await app.auth.login('admin', PW, 'c');
    const a = quick(app, 'a');
    await app.tasks.wait(a.id);
    const it = (await createCaller({ ...ctxFor(app, s.user), token: s.token }).tasks.watch({ id: a.id + 1 }))[Symbol.asyncIterator]();
    streams.push(it);
    const first = it.next();
    await new Promise((r) => setTimeout(r, 10));
    quick(app, 'b');
    expect(await first).toMatchObject({ value: { id: a.id + 1, name: 'b', state: 'waiting' } });
  });
});
