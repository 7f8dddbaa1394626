import { afterEach, describe, expect, it } from 'vitest';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, testApp } from './helpers';

const apps: ReturnType<typeof testApp>[] = [];
afterEach(async () => {
  for (const { app } of apps.splice(0)) await app.tasks.shutdown();
});

/** A finished task that logged `n` numbered lines. */
async function loggedTask(n: number) {
  const t = testApp();
  apps.push(t);
  const task = t.app.tasks.start({
    name: 'Long work',
    kind: 'demo.long',
    target: 'vm:long',
    steps: ['log'],
    username: 'admin',
    run: async (ctx) => {
      await ctx.step('log', () => {
        for (let i = 1; i <= n; i++) ctx.log(`line ${i}`);
      });
    },
  });
  await t.app.tasks.wait(task.id);
  // Another task's lines in between must not count.
  const other = t.app.tasks.start({
    name: 'Other',
    kind: 'demo.other',
    target: 'vm:other',
    steps: [],
    username: 'admin',
    run: async (ctx) => ctx.log('other'),
  });
  await t.app.tasks.wait(other.id);
  return {
    caller: createCaller(ctxFor(t.app, admin)),
    id: task.id,
    total: (id: number) => t.app.tasks.logs(id, 0, 100_000).length,
  };
}

const numbers = (logs: { message: string }[]) =>
  logs.map((l) => Number(/^line (\d+)$/.exec(l.message)?.[1] ?? NaN));

describe('a long task’s log', () => {
  it('opens at its last lines, says how many come before, and pages back to its first line', async () => {
    const { caller, id, total } = await loggedTask(1_234);
    const shown = await caller.tasks.get({ id });
    const tail = numbers(shown.logs).filter((x) => !Number.isNaN(x));
    expect(tail[tail.length - 1]).toBe(1_234);
    expect(shown.logs).toHaveLength(500);
    // Every line of the task: the numbered ones and the engine's own (its steps).
    expect(shown.earlierLogs + shown.logs.length).toBe(total(id));

    const all = [...shown.logs];
    let earlier = shown.earlierLogs;
    while (earlier > 0) {
      const page = await caller.tasks.logs({ id, before: all[0]!.id });
      expect(page.logs.length).toBeLessThanOrEqual(500);
      expect(page.logs.length).toBeGreaterThan(0);
      expect(page.earlierLogs).toBe(earlier - page.logs.length);
      all.unshift(...page.logs);
      earlier = page.earlierLogs;
    }
    // Every line once, in order, from the first to the last.
    expect(numbers(all).filter((x) => !Number.isNaN(x))).toEqual(
      Array.from({ length: 1_234 }, (_, i) => i + 1),
    );
    expect(new Set(all.map((l) => l.id)).size).toBe(all.length);
    expect(all.every((l) => l.taskId === id)).toBe(true);
  });

  it('a short log is shown whole, with nothing before it', async () => {
    const { caller, id } = await loggedTask(3);
    const shown = await caller.tasks.get({ id });
    expect(numbers(shown.logs).filter((x) => !Number.isNaN(x))).toEqual([1, 2, 3]);
    expect(shown.earlierLogs).toBe(0);
  });

  it('a task that does not exist is NOT_FOUND for its log too', async () => {
    const { caller } = await loggedTask(1);
    await expect(caller.tasks.logs({ id: 9_999, before: 10 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
