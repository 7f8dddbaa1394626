import { afterEach, describe, expect, it } from 'vitest';
import { TaskEngine } from '@/server/tasks/engine';
import { testApp } from './helpers';

const apps: { app: ReturnType<typeof testApp>['app'] }[] = [];
function setup() {
  const t = testApp();
  apps.push(t);
  return t;
}
afterEach(async () => {
  for (const { app } of apps.splice(0)) await app.tasks.shutdown();
});

const deferred = () => {
  let resolve!: () => void;
  const p = new Promise<void>((r) => (resolve = r));
  return { p, resolve };
};

describe('task engine', () => {
  it('a stopping engine starts, resumes and rolls back nothing, and ends its streams', async () => {
    const { app } = setup();
    const ac = new AbortController();
    const stream = app.tasks.watch(ac.signal);
    const ended = (async () => {
      for await (const _ of stream) void _;
      return true;
    })();
    app.tasks.drain();
    expect(app.tasks.draining).toBe(true);
    expect(await ended).toBe(true);
    let ran = false;
    const start = () =>
      app.tasks.start({
        name: 'Sync web01',
        kind: 'demo.work',
        target: 'vm:a',
        steps: ['one'],
        username: 'alice',
        run: async () => void (ran = true),
      });
    expect(start).toThrow(/Tandem is stopping: "Sync web01" was not started/);
    try {
      start();
    } catch (e) {
      expect((e as { code?: string }).code).toBe('UNAVAILABLE');
    }
    expect(() => app.tasks.resume(1, 'x', 'alice')).toThrow(/Tandem is stopping: the resume of task #1/);
    expect(() => app.tasks.rollback(1, 'x', 'alice')).toThrow(/Tandem is stopping: the rollback of task #1/);
    expect(app.tasks.list({ limit: 10 })).toEqual([]);
    expect(ran).toBe(false);
    ac.abort();
  });

  it('runs steps in order with progress, timings, logs and a history row', async () => {
    const { app } = setup();
    const t = app.tasks.start({
      name: 'Demo work',
      kind: 'demo.work',
      target: 'vm:a',
      steps: ['one', 'two'],
      username: 'alice',
      params: { password: 'hunter2hunter2', size: 3 },
      run: async (ctx) => {
        ctx.progress(0, 2);
        await ctx.step('one', () => ctx.progress(1));
        await ctx.step('two', () => ctx.log('working'));
        ctx.progress(2);
        return { ok: true };
      },
    });
    const done = await app.tasks.wait(t.id);
    expect(done.state).toBe('finished');
    expect(done.progressComplete).toBe(2);
    expect(done.progressTotal).toBe(2);
    expect(done.result).toEqual({ ok: true });
    const steps = app.tasks.steps(t.id);
    expect(steps.map((s) => [s.name, s.state])).toEqual([
      ['one', 'done'],
      ['two', 'done'],
    ]);
    expect(steps.every((s) => s.startedAt && s.finishedAt)).toBe(true);
    expect(app.tasks.logs(t.id).map((l) => l.message)).toContain('working');
    const h = app.history.list({ action: 'demo.work' }, { limit: 10, offset: 0 });
    expect(h.total).toBe(1);
    expect(h.rows[0]!.outcome).toBe('success');
    expect(h.rows[0]!.taskId).toBe(t.id);
    expect(h.rows[0]!.params?.password).toBe('[redacted]');
    expect((h.rows[0]!.params?.steps as unknown[]).length).toBe(2);
  });

  it('allows one task per resource and names the holder in the conflict', async () => {
    const { app } = setup();
    const gate = deferred();
    const a = app.tasks.start({
      name: 'Failover web01',
      kind: 'x',
      target: 'vm:web01',
      username: 'alice',
      run: () => gate.p,
    });
    expect(() =>
      app.tasks.start({
        name: 'Second',
        kind: 'x',
        target: 'vm:web01',
        username: 'bob',
        run: async () => {},
      }),
    ).toThrow(new RegExp(`task #${a.id} "Failover web01"`));
    // Extra locks conflict too.
    expect(() =>
      app.tasks.start({
        name: 'Third',
        kind: 'x',
        target: 'vm:other',
        locks: ['vm:web01'],
        username: 'bob',
        run: async () => {},
      }),
    ).toThrow(/busy/);
    // A different resource is fine.
    const c = app.tasks.start({
      name: 'Other',
      kind: 'x',
      target: 'vm:db01',
      username: 'bob',
      run: async () => {},
    });
    await app.tasks.wait(c.id);
    gate.resolve();
    await app.tasks.wait(a.id);
    // Released after the end.
    const d = app.tasks.start({
      name: 'Again',
      kind: 'x',
      target: 'vm:web01',
      username: 'bob',
      run: async () => {},
    });
    expect((await app.tasks.wait(d.id)).state).toBe('finished');
  });

  it('cancels a running task, marks the running step cancelled and skips the rest', async () => {
    const { app } = setup();
    const started = deferred();
    const t = app.tasks.start({
      name: 'Long',
      kind: 'x',
      target: 'r',
      steps: ['wait', 'after'],
      username: 'alice',
      run: async (ctx) => {
        await ctx.step(
          'wait',
          () =>
            new Promise<void>((_, reject) => {
              started.resolve();
              ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
            }),
        );
        await ctx.step('after', () => {});
      },
    });
    await started.p;
    app.tasks.cancel(t.id, 'bob');
    const done = await app.tasks.wait(t.id);
    expect(done.state).toBe('cancelled');
    expect(done.cancelRequested).toBe(true);
    expect(app.tasks.steps(t.id).map((s) => s.state)).toEqual(['cancelled', 'skipped']);
    expect(() => app.tasks.cancel(t.id, 'bob')).toThrow(/only waiting or running/);
    expect(app.history.list({ outcome: 'cancelled' }, { limit: 5, offset: 0 }).total).toBe(1);
  });

  it('asks a question and takes the operator answer', async () => {
    const { app } = setup();
    const t = app.tasks.start({
      name: 'Ask',
      kind: 'x',
      target: 'r',
      username: 'alice',
      run: (ctx) =>
        ctx.ask({
          message: 'Proceed?',
          options: [
            { value: 'yes', label: 'Yes' },
            { value: 'no', label: 'No' },
          ],
          defaultValue: 'no',
          timeoutMs: 60_000,
        }),
    });
    await new Promise((r) => setTimeout(r, 20));
    const row = app.tasks.get(t.id)!;
    expect(row.state).toBe('question');
    const q = row.question as { id: string; message: string };
    expect(q.message).toBe('Proceed?');
    expect(() => app.tasks.answer(t.id, q.id, 'maybe', 'bob')).toThrow(/must be one of/);
    expect(() => app.tasks.answer(t.id, 'stale', 'yes', 'bob')).toThrow(/not waiting/);
    app.tasks.answer(t.id, q.id, 'yes', 'bob');
    const done = await app.tasks.wait(t.id);
    expect(done.state).toBe('finished');
    expect(done.result).toBe('yes');
    // A finished task reads complete even if it never reported progress.
    expect([done.progressComplete, done.progressTotal]).toEqual([1, 1]);
  });

  it('takes the default answer when the question times out', async () => {
    const { app } = setup();
    const t = app.tasks.start({
      name: 'Ask',
      kind: 'x',
      target: 'r',
      username: 'alice',
      run: (ctx) =>
        ctx.ask({
          message: 'Proceed?',
          options: [
            { value: 'yes', label: 'Yes' },
            { value: 'no', label: 'No' },
          ],
          defaultValue: 'no',
          timeoutMs: 30,
        }),
    });
    const done = await app.tasks.wait(t.id);
    expect(done.result).toBe('no');
    expect(app.tasks.logs(t.id).some((l) => /timeout, default taken/.test(l.message))).toBe(true);
  });

  it('cancels a task that waits for an answer', async () => {
    const { app } = setup();
    const t = app.tasks.start({
      name: 'Ask',
      kind: 'x',
      target: 'r',
      username: 'alice',
      run: (ctx) =>
        ctx.ask({
          message: '?',
          options: [{ value: 'a', label: 'A' }],
          defaultValue: 'a',
          timeoutMs: 60_000,
        }),
    });
    await new Promise((r) => setTimeout(r, 10));
    app.tasks.cancel(t.id, 'bob');
    expect((await app.tasks.wait(t.id)).state).toBe('cancelled');
  });

  it('records failures with the error and the failed step', async () => {
    const { app } = setup();
    const t = app.tasks.start({
      name: 'Fails',
      kind: 'x',
      target: 'r',
      steps: ['ok', 'boom', 'never'],
      username: 'alice',
      run: async (ctx) => {
        await ctx.step('ok', () => {});
        await ctx.step('boom', () => {
          throw new Error('disk on fire');
        });
      },
    });
    const done = await app.tasks.wait(t.id);
    expect(done.state).toBe('failed');
    expect(done.error).toBe('disk on fire');
    expect(done.lastCompletedStep).toBe('ok');
    expect(app.tasks.steps(t.id).map((s) => s.state)).toEqual(['done', 'failed', 'skipped']);
    expect(app.tasks.steps(t.id)[1]!.detail).toBe('disk on fire');
  });

  it('marks tasks left running by a previous process as interrupted at boot', async () => {
    const { app, clock } = setup();
    const gate = deferred();
    const t = app.tasks.start({
      name: 'Crashy',
      kind: 'x',
      target: 'vm:z',
      steps: ['first', 'second'],
      username: 'alice',
      run: async (ctx) => {
        await ctx.step('first', () => {});
        await ctx.step('second', () => gate.p);
      },
    });
    await new Promise((r) => setTimeout(r, 20));
    // A new engine over the same database stands for the next process.
    const next = new TaskEngine(app.db, app.history, clock);
    expect(next.recoverAtBoot()).toEqual([t.id]);
    const row = next.get(t.id)!;
    expect(row.state).toBe('interrupted');
    expect(row.lastCompletedStep).toBe('first');
    expect(next.steps(t.id).map((s) => s.state)).toEqual(['done', 'failed']);
    expect(app.history.list({ target: 'vm:z' }, { limit: 5, offset: 0 }).rows[0]!.error).toMatch(
      /interrupted \(last completed step: first\)/,
    );
    // The new process holds no lock for it.
    expect(next.holder('vm:z')).toBeUndefined();
    gate.resolve();
  });
});
