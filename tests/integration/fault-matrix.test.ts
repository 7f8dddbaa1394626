import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import { FAILOVER_STEPS } from '@/server/domain/replicas/rules';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import { TandemServer } from './server';

/**
 * Crash at every step, on the real node lab, through a real server: for each step of the VM
 * planned failover, forced failover and reinit, the server runs with TANDEM_FAULT set to kill it
 * (SIGKILL) right after that step's work and before its completion is stored; then it is started
 * again without the fault and the task is resumed — or, where offered, rolled back. After each:
 * the VM is live on exactly one node (`virsh domstate` on every node), its disks hold the
 * expected data (md5), and during two scheduler intervals no sync ran in the wrong direction
 * (none is recorded, and a write on the new master is not reverted). One line per fault point.
 */
const VM = `fm${process.pid % 10000}`;
/** Overridable so that parallel checkouts do not collide on one port. */
const PORT = Number(process.env.TANDEM_FAULT_MATRIX_PORT ?? 3215);
const PASSWORD = 'fault-matrix-admin-password';
const REINIT_STEPS = [
  'Stop the old master VM',
  'Keep the diverged state',
  'Snapshot on the master',
  'Transfer to the replica',
  'Protect and prune',
  'Resume replication',
];
const SLEEP_SEC = 2;
const INTERVAL_MS = 1000;

let lab: Lab;
let server: TandemServer;
let dataDir: string;
let db: Database.Database;
let replicaId = 0;
const site: Record<string, number> = {};
const nodeOf = (id: number) => Object.keys(site).find((k) => site[k] === id)!;
const table: string[] = [];

interface Task {
  id: number;
  createdAt: string;
  state: string;
  error: string | null;
  kind: string;
}
interface Replica {
  id: number;
  state: string;
  sourceSiteId: number;
  targetSiteId: number;
  operation: unknown;
}

const runner = (node: string): SshRunner => lab.runner(node);
const disks = [0, 1].map((i) => `/zones/${VM}-disk${i}/disk.img`);

async function md5s(node: string): Promise<string> {
  const out = await runner(node).run({ argv: ['md5sum', ...disks] });
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[0])
    .join(',');
}

async function write(node: string, disk: number, seekMiB: number) {
  await runner(node).run({
    argv: [
      'dd',
      'if=/dev/urandom',
      `of=${disks[disk]}`,
      'bs=1M',
      'count=1',
      `seek=${seekMiB}`,
      'conv=notrunc',
      'status=none',
    ],
  });
  await runner(node).run({ argv: ['sync'] });
}

/** Nodes on which the VM is live (running or paused), from `virsh domstate` on every node. */
async function liveOn(): Promise<string[]> {
  const out: string[] = [];
  for (const n of ['node1', 'node2', 'node3']) {
    const r = await runner(n).run({ argv: ['virsh', 'domstate', VM], allowFailure: true });
    if (r.exitCode === 0 && /running|paused/.test(r.stdout)) out.push(n);
  }
  return out;
}

async function waitTask(id: number, timeoutMs = 240_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const t = (await server.query<{ task: Task }>('tasks.get', { id })).task;
    if (!['waiting', 'running', 'question'].includes(t.state)) return t;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`task #${id} still running after ${timeoutMs / 1000} s`);
}

async function done(id: number, want = 'finished'): Promise<Task> {
  const t = await waitTask(id);
  if (t.state !== want) {
    const { logs } = await server.query<{ logs: { message: string }[] }>('tasks.get', { id });
    throw new Error(
      `task #${id} is ${t.state} (wanted ${want}): ${t.error}\n${logs.map((l) => l.message).join('\n')}`,
    );
  }
  return t;
}

const replica = () => server.query<Replica>('replicas.get', { id: replicaId });

function syncRunsSince(ms: number): number {
  return (
    db
      .prepare('select count(*) as n from sync_runs where subject = ? and started_at >= ?')
      .get(`replica:${replicaId}`, ms) as { n: number }
  ).n;
}

/** Waits until a sync of the replica that started at or after `ms` has succeeded. */
async function syncedAfter(ms: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const n = (
      db
        .prepare(
          "select count(*) as n from sync_runs where subject = ? and started_at >= ? and outcome = 'success'",
        )
        .get(`replica:${replicaId}`, ms) as { n: number }
    ).n;
    if (n > 0) return;
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`no successful sync of replica #${replicaId} since ${new Date(ms).toISOString()}`);
}

/** The replica once it is idle (not syncing), within `timeoutMs`; its last state otherwise. */
async function idleReplica(timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  let r = await replica();
  while (r.state === 'syncing' && Date.now() < deadline) {
    await new Promise((ok) => setTimeout(ok, 300));
    r = await replica();
  }
  return r;
}

/** Restarts the server, with `faults` or without. */
async function restart(faults = '') {
  await server.stop();
  await server.start(faults);
}

/**
 * Watches two scheduler intervals after a failover: no sync of the replica is recorded and a
 * write on the new master survives (a receive in the old direction would roll it back).
 */
async function noWrongSync(master: string, since: number): Promise<void> {
  await write(master, 0, 3);
  const after = await md5s(master);
  const until = Date.now() + 2 * (SLEEP_SEC * 1000 + INTERVAL_MS) + 1000;
  while (Date.now() < until) {
    expect(syncRunsSince(since), 'a sync ran after the failover').toBe(0);
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(await md5s(master)).toBe(after);
}

/** Crash after `step`, restart, then resume or roll back. Returns the interrupted task. */
async function crashRun(kind: string, step: string, start: () => Promise<number>): Promise<number> {
  await restart(`${kind}:${step}:crash-after`);
  const taskId = await start();
  const how = await server.exited(240_000);
  expect(how, `the server should have been killed after "${step}"\n${server.log.slice(-2000)}`).toBe(
    'SIGKILL',
  );
  await server.start();
  const t = (await server.query<{ task: Task }>('tasks.get', { id: taskId })).task;
  expect(t.state).toBe('interrupted');
  return taskId;
}

beforeAll(async () => {
  lab = await openLab(3);
  await labScript('mkvm', 'node1', VM, '2', '16');
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fm-'));
  server = new TandemServer(PORT, dataDir, PASSWORD, { TANDEM_SCHEDULER_INTERVAL_MS: String(INTERVAL_MS) });
  await server.start();
  await server.login();
  const { registerLab } = await import(path.resolve(__dirname, '../../scripts/lab/register.mjs'));
  await registerLab(server.base, 'admin', PASSWORD, { nodes: true, ceph: false });
  for (const s of await server.query<{ id: number; name: string }[]>('sites.list')) site[s.name] = s.id;
  db = new Database(path.join(dataDir, 'tandem.db'), { readonly: true, fileMustExist: true });
  const c = await server.call<{ id: number; taskId: number }>('replicas.create', {
    name: 'fm',
    vmName: VM,
    sourceSiteId: site.node1,
    targetSiteId: site.node2,
    rootZpool: 'zones',
    sleepTimeSec: SLEEP_SEC,
  });
  replicaId = c.id;
  await done(c.taskId);
}, 300_000);

afterAll(async () => {
  console.log(`[fault] ${table.length} fault points:\n${table.join('\n')}`);
  await server?.stop();
  db?.close();
  const left: string[] = [];
  for (const n of ['node1', 'node2', 'node3'])
    left.push(...(await cleanVm(runner(n), VM, ['tandem-fm'], ['zones'])));
  if (left.length) console.warn(`[fault] could not remove ${left.join(', ')}`);
  await lab?.close();
}, 300_000);

/** The reinit fault points, handed out one per failover that ends on the replica node. */
const reinitQueue = [...REINIT_STEPS];

async function reinitAfter(master: string, old: string) {
  const step = reinitQueue.shift();
  const t0 = Date.now();
  const start = async () =>
    (await server.call<{ taskId: number }>('replicas.reinit', { id: replicaId, confirm: VM })).taskId;
  let outcome: string;
  if (step) {
    const taskId = await crashRun('replica.reinit', step, start);
    expect((await replica()).state).toMatch(/reinit-running|idle/);
    const offer = await server.query<{ resume: { ok: boolean; reason: string | null } }>('tasks.recovery', {
      id: taskId,
    });
    if (offer.resume.ok) {
      await server.call('tasks.resume', { id: taskId, confirm: VM });
      await done(taskId);
      outcome = 'resumed';
    } else outcome = `nothing to resume (${offer.resume.reason})`;
  } else {
    await done(await start());
    outcome = 'no fault';
  }
  // The scheduler may start the replica's next sync as soon as the reinit ends: wait until it is idle
  // (observed state) before comparing the disks.
  const r = await idleReplica();
  expect(r).toMatchObject({
    state: 'idle',
    sourceSiteId: site[master],
    targetSiteId: site[old],
    operation: null,
  });
  expect(await liveOn()).toEqual([master]);
  expect(await md5s(old)).toBe(await md5s(master));
  if (step)
    table.push(
      `replica.reinit:${step}:crash-after → ${outcome}; VM on ${master} only, disks equal on both nodes (${Math.round((Date.now() - t0) / 1000)} s)`,
    );
}

describe('crash at every step, on the real node lab', () => {
  const points: { mode: 'planned' | 'forced'; step: string; recovery: 'resume' | 'rollback' }[] = [
    ...FAILOVER_STEPS.planned.map((step) => ({
      mode: 'planned' as const,
      step,
      recovery: 'resume' as const,
    })),
    ...FAILOVER_STEPS.planned
      .slice(0, 3)
      .map((step) => ({ mode: 'planned' as const, step, recovery: 'rollback' as const })),
    ...FAILOVER_STEPS.forced.map((step) => ({ mode: 'forced' as const, step, recovery: 'resume' as const })),
  ];
  for (const p of points) {
    it(`${p.mode} failover killed after "${p.step}", then ${p.recovery === 'resume' ? 'resumed' : 'rolled back'}`, async () => {
      const t0 = Date.now();
      // A point that failed before its reinit leaves the replica switched: reinit it first.
      if ((await replica()).state === 'reinit-required')
        await done(
          (await server.call<{ taskId: number }>('replicas.reinit', { id: replicaId, confirm: VM })).taskId,
        );
      const before = await replica();
      expect(before.state).toMatch(/idle|syncing/);
      const master = nodeOf(before.sourceSiteId);
      const target = nodeOf(before.targetSiteId);
      // Planned: a write just before the failover must arrive. Forced: the replica starts from
      // the last synced snapshot, so the master's disks are left as they were at that sync.
      if (p.mode === 'planned') await write(master, 1, 2);
      else await syncedAfter(Date.now()); // the scheduler syncs every few seconds
      const expected = await md5s(master);
      const taskId = await crashRun(
        'replica.failover',
        p.step,
        async () =>
          (
            await server.call<{ taskId: number }>('replicas.failover', {
              id: replicaId,
              confirm: VM,
              mode: p.mode,
              force: true,
            })
          ).taskId,
      );
      // From the moment the failover was stored, no sync of this replica may start.
      const since = Date.parse(
        (await server.query<{ task: Task }>('tasks.get', { id: taskId })).task.createdAt,
      );
      const live = await liveOn();
      expect(live.length, `VM live on ${live.join(', ')} after the crash`).toBeLessThanOrEqual(1);
      expect(syncRunsSince(since)).toBe(0);
      const offer = await server.query<{
        resume: { ok: boolean; reason: string | null };
        rollback: { ok: boolean; reason: string | null };
      }>('tasks.recovery', { id: taskId });
      let outcome: string;
      if (p.recovery === 'rollback') {
        expect(offer.rollback.ok, offer.rollback.reason ?? '').toBe(true);
        await server.call('tasks.rollback', { id: taskId, confirm: VM });
        await done(taskId, 'rolled-back');
        expect(await liveOn()).toEqual([master]);
        expect(await replica()).toMatchObject({ sourceSiteId: site[master], operation: null });
        expect(await md5s(master)).toBe(expected);
        // Replication goes on in the old direction and catches up.
        await syncedAfter(Date.now());
        expect(await md5s(target)).toBe(await md5s(master));
        outcome = 'rolled back; VM on the old master only, replica caught up';
      } else {
        if (offer.resume.ok) {
          await server.call('tasks.resume', { id: taskId, confirm: VM });
          await done(taskId);
          outcome = 'resumed';
        } else {
          expect(p.step).toBe('Mark the old master for reinit');
          outcome = `nothing left to resume (${offer.resume.reason})`;
        }
        expect(await replica()).toMatchObject({
          state: 'reinit-required',
          sourceSiteId: site[target],
          targetSiteId: site[master],
          operation: null,
        });
        expect(await liveOn()).toEqual([target]);
        expect(await md5s(target)).toBe(expected);
        await noWrongSync(target, since);
        outcome += `; VM on ${target} only, disks as expected, no sync for ${2 * SLEEP_SEC + 2} s`;
        await reinitAfter(target, master);
      }
      table.push(
        `replica.failover(${p.mode}):${p.step}:crash-after → ${outcome} (${Math.round((Date.now() - t0) / 1000)} s)`,
      );
    }, 600_000);
  }
});
