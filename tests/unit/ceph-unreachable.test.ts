import { afterEach, describe, expect, it, vi } from 'vitest';
import type { App } from '@/server/app';
import { LastAnswers, Reachability } from '@/server/domain/ceph/reach';
import { AppError } from '@/server/core/errors';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator, testApp } from './helpers';

/*
 * A Ceph cluster that cannot be asked (its monitors are gone: every CLI call ends UNREACHABLE
 * after the connect timeout) is a state the console shows, not an error page, and pages do not
 * wait for it.
 */

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await cleanup?.();
  cleanup = null;
});

function setup() {
  const t = testApp();
  t.app.demo.create();
  cleanup = () => t.app.tasks.shutdown();
  const id = (n: string) => t.app.sites.byName(n)!.id;
  return { ...t, a: id('demo-site-a'), b: id('demo-site-b'), caller: createCaller(ctxFor(t.app, operator)) };
}

const GONE =
  'the monitors of cluster demo-site-a did not answer within 5 s (down, unreachable from here, or refusing this client)';

/** Every adapter call of `siteId` runs `how` instead (counted in `calls`). */
function breakSite(app: App, siteId: number, how: () => Promise<never>) {
  const calls: string[] = [];
  const real = app.sites.adapter.bind(app.sites);
  vi.spyOn(app.sites, 'adapter').mockImplementation((id) => {
    const a = real(id);
    if (id !== siteId) return a;
    return new Proxy(a, {
      get(target, prop) {
        const v: unknown = Reflect.get(target, prop, target);
        if (typeof v !== 'function') return v;
        return () => {
          calls.push(String(prop));
          return how();
        };
      },
    });
  });
  return calls;
}

const unreachable = () => Promise.reject(new AppError('UNREACHABLE', GONE));
const deferred = () => {
  let reject!: (e: unknown) => void;
  const promise = new Promise<never>((_, r) => (reject = r));
  return { promise, reject };
};
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('status of a cluster that cannot be asked', () => {
  it('is the state "unreachable" with the reason, not an error', async () => {
    const { app, caller, a, b } = setup();
    breakSite(app, a, unreachable);
    const s = await caller.ceph.status({ siteId: a });
    expect(s).toMatchObject({ state: 'unreachable', error: GONE, pools: [], daemons: [], askedAt: null });
    expect(s.at).toBe(app.clock.now());
    // The other cluster is not affected.
    expect((await caller.ceph.status({ siteId: b })).state).toBe('answered');
  });

  it('other failures stay errors', async () => {
    const { app, caller, a } = setup();
    breakSite(app, a, () =>
      Promise.reject(new AppError('FORBIDDEN', 'the Ceph user lacks the permissions (caps) for this')),
    );
    await expect(caller.ceph.status({ siteId: a })).rejects.toMatchObject({ code: 'FORBIDDEN' });
  });

  it('with a wait: answers within it ("waiting"), then shows the late answer while asking again', async () => {
    const { app, caller, a } = setup();
    let pending = deferred();
    const calls = breakSite(app, a, () => pending.promise);
    const t0 = performance.now();
    const first = await caller.ceph.status({ siteId: a, waitMs: 50 });
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(first).toMatchObject({
      state: 'waiting',
      error: 'no answer within 0.05 s (still asking)',
      pools: [],
      at: null,
    });
    expect(first.askedAt).toBe(app.clock.now());

    // The question goes on; its answer (unreachable) comes after the caller stopped waiting.
    pending.reject(new AppError('UNREACHABLE', GONE));
    await tick();
    pending = deferred();
    // Known to be unreachable: said at once (no wait), while it is asked again.
    const t1 = performance.now();
    const second = await caller.ceph.status({ siteId: a, waitMs: 1_000 });
    expect(performance.now() - t1).toBeLessThan(500);
    expect(second).toMatchObject({ state: 'unreachable', error: GONE });
    expect(second.askedAt).not.toBeNull(); // asked again, still open
    expect(calls.length).toBe(2);
    pending.reject(new AppError('UNREACHABLE', GONE));
  });

  it('a cluster that takes longer than the wait shows its last answer, and is "slow" once a question stays open', async () => {
    const { app, caller, a } = setup();
    const good = await caller.ceph.status({ siteId: a, waitMs: 5_000 });
    expect(good.state).toBe('answered');
    const pending = deferred();
    breakSite(app, a, () => pending.promise);
    // Open for less than statusSlowMs: the last answer, as it was.
    const later = await caller.ceph.status({ siteId: a, waitMs: 50 });
    expect(later).toMatchObject({ state: 'answered', error: null, at: good.at });
    expect(later.pools.map((p) => p.pool)).toEqual(good.pools.map((p) => p.pool));
    // Open for longer: the same answer, said to be old.
    app.ceph.statusSlowMs = 0;
    const slow = await caller.ceph.status({ siteId: a, waitMs: 50 });
    expect(slow).toMatchObject({
      state: 'slow',
      at: good.at,
      error: expect.stringMatching(/^no answer for \d+ s \(still asking\)$/),
    });
    expect(slow.pools.map((p) => p.pool)).toEqual(good.pools.map((p) => p.pool));
    pending.reject(new AppError('UNREACHABLE', GONE));
  });
});

describe('LastAnswers', () => {
  it('callers with a wait join a question already open longer than the wait instead of piling up', async () => {
    const answers = new LastAnswers<number>(() => 1000);
    const pending = deferred();
    const fn = vi.fn(() => pending.promise as Promise<number>);
    expect(await answers.ask(1, fn, 20)).toMatchObject({ kind: 'late', last: null });
    expect(await answers.ask(1, fn, 20)).toMatchObject({ kind: 'late', last: null });
    expect(fn).toHaveBeenCalledTimes(1);
    pending.reject(new Error('x'));
    await tick();
    expect(answers.last(1)).toMatchObject({ ok: false });
  });

  it('after the cluster changed, a question asked before the change is not joined, and its late answer does not replace a newer one', async () => {
    const answers = new LastAnswers<string>(() => 1000);
    let answerBefore!: (v: string) => void;
    const before = new Promise<string>((r) => (answerBefore = r));
    expect(await answers.ask(1, () => before, 20)).toMatchObject({ kind: 'late' });
    answers.changed(1); // e.g. a task on the cluster imported a peer
    const after = await answers.ask(1, async () => 'peer listed', 200);
    expect(after).toMatchObject({ kind: 'answered', settled: { ok: true, value: 'peer listed' } });
    answerBefore('no peer');
    await tick();
    expect(answers.last(1)).toMatchObject({ ok: true, value: 'peer listed' });
    expect(answers.current(1, answers.last(1)!)).toBe(true);
    answers.changed(1);
    expect(answers.current(1, answers.last(1)!)).toBe(false);
  });

  it('a call without a wait always asks anew and waits for its answer', async () => {
    const answers = new LastAnswers<number>(() => 1000);
    let n = 0;
    const fn = () => new Promise<number>((r) => setTimeout(() => r(++n), 30));
    expect(await answers.ask(1, fn)).toMatchObject({ kind: 'answered', settled: { ok: true, value: 1 } });
    expect(await answers.ask(1, fn)).toMatchObject({ kind: 'answered', settled: { ok: true, value: 2 } });
  });
});

describe('a status read after a change on the cluster', () => {
  it('asks anew instead of joining a question asked before a task on the cluster', async () => {
    const { app, caller, a } = setup();
    await caller.ceph.status({ siteId: a });
    // A slow question, asked before the change, is still open when the change ends.
    let answerSlow!: () => void;
    const slow = new Promise<void>((r) => (answerSlow = r));
    const real = app.sites.adapter.bind(app.sites);
    let refreshes = 0;
    vi.spyOn(app.sites, 'adapter').mockImplementation((id) => {
      const ad = real(id);
      if (id !== a || ad.kind !== 'ceph') return ad;
      return new Proxy(ad, {
        get(target, prop) {
          const v: unknown = Reflect.get(target, prop, target);
          if (typeof v !== 'function') return v;
          if (prop !== 'refreshStatus') return (v as (...x: unknown[]) => unknown).bind(target);
          return async (...args: unknown[]) => {
            if (++refreshes === 1) await slow;
            return (v as (...x: unknown[]) => unknown).apply(target, args);
          };
        },
      });
    });
    expect(
      (await caller.ceph.status({ siteId: a, waitMs: 50 })).pools.find((p) => p.pool === 'rbd')?.siteName,
    ).toBe('demo-site-a');
    const { taskId } = await caller.ceph.setSiteName({ siteId: a, pool: 'rbd', siteName: 'east' });
    await app.tasks.wait(taskId);
    const after = await caller.ceph.status({ siteId: a, waitMs: 5_000 });
    expect(refreshes).toBe(2);
    expect(after.pools.find((p) => p.pool === 'rbd')?.siteName).toBe('east');
    answerSlow();
  });
});

describe('failover plan preview with a cluster found unreachable', () => {
  it('does not wait for that cluster again, says so, and rechecks it in the background', async () => {
    const { app, caller, a, b } = setup();
    let how = unreachable;
    const calls = breakSite(app, a, () => how());
    expect((await caller.ceph.status({ siteId: a })).state).toBe('unreachable');
    calls.length = 0;
    const recheck = deferred();
    how = () => recheck.promise;

    const plan = await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' });
    expect(plan.mode).toBe('unplanned');
    expect(plan.checks.find((c) => c.id === 'from')).toMatchObject({
      status: 'warn',
      message: expect.stringContaining(GONE),
    });
    expect(plan.checks.find((c) => c.id === 'from')!.message).toMatch(/found 0 s ago; asking again/);
    // Only the background recheck asked the cluster, once, even for two previews.
    await caller.ceph.failoverPlan({ fromSiteId: a, toSiteId: b, pool: 'rbd' });
    expect(calls).toEqual(['probe']);
    recheck.reject(new AppError('UNREACHABLE', GONE));
  });

  it('a cluster that answers again is asked again', () => {
    let now = 0;
    const r = new Reachability(() => now, 60_000);
    r.note(1, { ok: false, error: new AppError('UNREACHABLE', GONE) });
    expect(r.down(1)).toEqual({ error: GONE, at: 0 });
    r.note(1, { ok: false, error: new AppError('NOT_FOUND', 'image x does not exist') });
    expect(r.down(1)).toBeNull();
    r.note(1, { ok: false, error: new AppError('TIMEOUT', 'timed out after 60000 ms') });
    now = 60_001;
    expect(r.down(1)).toBeNull();
  });
});
