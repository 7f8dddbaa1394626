import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { DemoWorld } from '@/server/adapters/demo/world';
import { createApp, type App } from '@/server/app';
import { ManualClock } from '@/server/core/clock';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator } from './helpers';

/**
 * The demo world as the bad-day tests drive it (see bad-day.test.ts): an app over simulated nodes
 * whose clock runs fast, optional fault points, and a second app over the same database and
 * machines to play a restart.
 */
export interface Env {
  app: App;
  clock: ManualClock;
  world: DemoWorld;
  dbFile: string;
  dir: string;
  timer: NodeJS.Timeout;
  caller: ReturnType<typeof createCaller>;
  node: (n: string) => number;
  /** Simulated milliseconds per 2 real ones; may be changed while the env runs. */
  tickMs: number;
}

const envs: Env[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) {
    clearInterval(e.timer);
    e.app.scheduler.stop();
    await e.app.tasks.shutdown();
  }
});

/** `tickMs`: simulated milliseconds per 2 real ones (1000× by default; Ceph promotes poll once a real second). */
export function boot(opts: { faults?: string; from?: Env; tickMs?: number } = {}): Env {
  const dir = opts.from?.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-demo-'));
  const clock = opts.from?.clock ?? new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const world = opts.from?.world ?? new DemoWorld(clock, 0);
  const dbFile = path.join(dir, 'tandem.db');
  const app = createApp({
    dbFile,
    dataDir: dir,
    clock,
    demoLatencyMs: 0,
    demoWorld: world,
    faults: opts.faults ?? '',
  });
  if (!opts.from) app.demo.create();
  else app.tasks.recoverAtBoot();
  const speed = { tickMs: opts.tickMs ?? opts.from?.tickMs ?? 2_000 };
  const timer = opts.from?.timer ?? setInterval(() => clock.advance(speed.tickMs), 2);
  const env: Env = {
    app,
    clock,
    world,
    dbFile,
    dir,
    timer,
    caller: createCaller(ctxFor(app, operator)),
    node: (n) => app.sites.byName(n)!.id,
    get tickMs() {
      return speed.tickMs;
    },
    set tickMs(v: number) {
      speed.tickMs = v;
    },
  };
  envs.push(env);
  return env;
}

/** Waits for a task and fails with its log unless it finished (or was rolled back). */
export async function finished(app: App, id: number) {
  const t = await app.tasks.wait(id);
  if (t.state !== 'finished' && t.state !== 'rolled-back')
    throw new Error(
      `task #${id} ${t.state}: ${t.error}\n${app.tasks
        .logs(id)
        .map((l) => l.message)
        .join('\n')}`,
    );
  return t;
}

/** Waits (on observed state) until a `hang` fault holds the task at (or after) its step. */
export async function stuckAt(app: App, id: number, step: string) {
  for (let i = 0; i < 2000; i++) {
    if (
      app.tasks
        .logs(id)
        .some((l) => l.message.startsWith('TANDEM_FAULT: hang') && l.message.endsWith(`:${step}`))
    )
      return;
    await new Promise((r) => setTimeout(r, 2));
  }
  throw new Error(
    `task #${id} never reached ${step}: ${JSON.stringify(app.tasks.steps(id).map((s) => [s.name, s.state]))}`,
  );
}

/** A replica of `vm` from demo-node1, its initial sync done. */
export async function withReplica(env: Env, name = 'dr', vm = 'web01', to = 'demo-node2') {
  const c = await env.caller.replicas.create({
    name,
    vmName: vm,
    sourceSiteId: env.node('demo-node1'),
    targetSiteId: env.node(to),
    rootZpool: 'zones',
    diskZpools: to === 'demo-node2' ? { vdb: 'data' } : {},
    sleepTimeSec: 30,
  });
  await finished(env.app, c.taskId);
  return c.id;
}

export async function vmStates(env: Env, vm = 'web01') {
  const out: Record<string, string | null> = {};
  for (const n of ['demo-node1', 'demo-node2', 'demo-node3'])
    out[n] = await env.app.replicas.node(env.node(n)).getVmState(vm);
  return out;
}

export const live = (s: Record<string, string | null>) =>
  Object.entries(s)
    .filter(([, v]) => v === 'running' || v === 'paused')
    .map(([k]) => k);
