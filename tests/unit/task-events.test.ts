import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '@/server/app';
import type { TaskRow } from '@/server/db/schema';
import type { TaskEvent } from '@/server/tasks/engine';
import { coalesce } from '@/server/tasks/feed';
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
    const it = (await createCaller({ ...ctxFor(app, s.user), token: s.token }).tasks.watch())[
      Symbol.asyncIterator
    ]();
    streams.push(it);
    const got: TaskRow[] = [];
    rows.push(got);
    void (async () => {
      for (;;) {
        const r = await it.next().catch(() => ({ done: true, value: undefined }));
        if (r.done) return;
        got.push(...(r.value as TaskRow[]));
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
    params: { plan: 'what the run needs, not sent on the stream' },
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
  for (let i = 0; i < 500 && !rows.every((r) => r.some((t) => t.id === id && t.state === 'finished')); i++)
    await new Promise((r) => setTimeout(r, 2));
}

describe('task events', () => {
  it('reach any number of listeners with at most one read per event, and no session read per event', async () => {
    const perListeners: { events: number; taskReads: number; sessionReads: number }[] = [];
    for (const n of [1, 10]) {
      const { app } = testApp();
      const { rows } = await listeners(app, n);
      const events: TaskEvent[] = [];
      app.tasks.events.on('change', (e: TaskEvent) => events.push(e));
      const reads = countReads(app);
      const t = quick(app);
      await settle(app, t.id, rows);
      // Every listener got every change, runs of one state as their last row, without params.
      const sent = coalesce(events.map((e) => e.task)).map(({ params: _p, ...row }) => row);
      for (const r of rows) expect(r).toEqual(sent);
      for (const r of rows) for (const x of r) expect(x).not.toHaveProperty('params');
      perListeners.push({
        events: events.length,
        taskReads: reads.counts.tasks,
        sessionReads: reads.counts.sessions,
      });
    }
    const [one, ten] = perListeners;
    expect(one!.events).toBeGreaterThanOrEqual(7);
    expect(ten!.events).toBe(one!.events);
    // The engine's own reads only, the same with 1 or 10 listeners: at most one per event.
    expect(ten!.taskReads).toBe(one!.taskReads);
    expect(ten!.taskReads).toBeLessThanOrEqual(one!.events);
    // The streams read their sessions when they open and every 5 s, not per event.
    expect(ten!.sessionReads).toBe(0);
  });

  it('cost no read of the task at all: the row of a live task is kept as it is written, and is what is stored', async () => {
    const { app } = testApp();
    const reads = countReads(app);
    const t = quick(app);
    await app.tasks.wait(t.id);
    const without = reads.counts.tasks;
    reads.reset();
    const seen: { event: TaskRow; stored: TaskRow }[] = [];
    app.tasks.events.on('change', (e: TaskEvent) => {
      const r = reads.counts.tasks;
      seen.push({ event: e.task as TaskRow, stored: app.tasks.get(e.taskId)! });
      reads.counts.tasks = r; // the test's own read
    });
    const u = app.tasks.start({
      name: 'asks',
      kind: 'test',
      target: 't/asks',
      username: 'admin',
      steps: ['one'],
      run: async (ctx) => {
        await ctx.step('one', () => ctx.progress(3, 10));
        const a = await ctx.ask({
          message: 'go on?',
          options: [{ value: 'yes', label: 'Yes' }],
          defaultValue: 'yes',
          timeoutMs: 60_000,
        });
        return { answer: a, at: new Date(0) };
      },
    });
    const asked = () => seen.find((x) => x.event.state === 'question')?.event;
    for (let i = 0; i < 500 && !asked(); i++) await new Promise((r) => setTimeout(r, 2));
    app.tasks.answer(u.id, (asked()!.question as { id: string }).id, 'yes', 'admin');
    await app.tasks.wait(u.id);
    expect(reads.counts.tasks).toBeLessThanOrEqual(without);
    expect(seen.map((x) => x.event.state)).toEqual(
      expect.arrayContaining(['waiting', 'running', 'question', 'finished']),
    );
    for (const x of seen) expect(x.event).toEqual(x.stored);
    expect(seen[seen.length - 1]!.event).toMatchObject({
      state: 'finished',
      result: { answer: 'yes', at: '1970-01-01T00:00:00.000Z' },
      progressComplete: 10,
      progressTotal: 10,
    });
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
      // Each row as it was at its change: the waiting one before any step ran.
      expect(mine[0]).toMatchObject({
        state: 'waiting',
        lastCompletedStep: null,
        startedAt: null,
        finishedAt: null,
      });
      expect(mine[mine.length - 1]).toMatchObject({
        state: 'finished',
        lastCompletedStep: 'two',
        progressComplete: 2,
        progressTotal: 2,
      });
    }
  });

  it('streams share one batch per turn of the event loop: the same array, not a copy per stream', async () => {
    const { app } = testApp();
    const a = new AbortController();
    const b = new AbortController();
    const ia = app.tasks.feed.watch(a.signal);
    const ib = app.tasks.feed.watch(b.signal);
    const [na, nb] = [ia.next(), ib.next()];
    for (let i = 0; i < 5; i++) quick(app, `q${i}`);
    const [ra, rb] = await Promise.all([na, nb]);
    expect(ra.value).toBe(rb.value);
    expect(Object.isFrozen(ra.value)).toBe(true);
    // Five quick tasks ran within the turn: each seen waiting, running, finished, in that order.
    const rows = ra.value as TaskRow[];
    for (const t of new Set(rows.map((x) => x.id)))
      expect(rows.filter((x) => x.id === t).map((x) => x.state)).toEqual(['waiting', 'running', 'finished']);
    expect(new Set(rows.map((x) => x.id)).size).toBe(5);
    a.abort();
    b.abort();
    expect(await ia.next()).toMatchObject({ done: true });
    expect(await ib.next()).toMatchObject({ done: true });
    // The feed stops listening to the engine with its last stream.
    expect(app.tasks.events.listenerCount('change')).toBe(0);
  });

  it('coalesce keeps every change of state in order and the last row of each run of one state', () => {
    const r = (id: number, state: TaskRow['state'], progressComplete: number) =>
      ({ id, state, progressComplete }) as TaskRow;
    const rows = [
      r(1, 'waiting', 0),
      r(1, 'running', 0),
      r(2, 'waiting', 0),
      r(1, 'running', 1),
      r(1, 'running', 2),
      r(2, 'running', 0),
      r(1, 'finished', 2),
    ];
    expect(coalesce(rows).map((x) => [x.id, x.state, x.progressComplete])).toEqual([
      [1, 'waiting', 0],
      [2, 'waiting', 0],
      [1, 'running', 2],
      [2, 'running', 0],
      [1, 'finished', 2],
    ]);
  });

  it('watching one task yields only that task, starting with its row', async () => {
    const { app } = testApp();
    await app.auth.setupFirstAdmin('admin', PW);
    const s = await app.auth.login('admin', PW, 'c');
    const a = quick(app, 'a');
    await app.tasks.wait(a.id);
    const it = (await createCaller({ ...ctxFor(app, s.user), token: s.token }).tasks.watch({ id: a.id + 1 }))[
      Symbol.asyncIterator
    ]();
    streams.push(it);
    const first = it.next();
    await new Promise((r) => setTimeout(r, 10));
    quick(app, 'b');
    const batch = (await first).value as TaskRow[];
    expect(batch[0]).toMatchObject({ id: a.id + 1, name: 'b', state: 'waiting' });
    expect(batch.every((t) => t.id === a.id + 1)).toBe(true);
  });
});
