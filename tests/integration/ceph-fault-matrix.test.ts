import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { keptCopyOf, PLANNED_STEPS, resyncSteps, UNPLANNED_STEP } from '@/server/domain/ceph/failover';
import { cephLabScript, openCephLab, pollUntil, type CephLab } from './ceph-lab';
import { TandemServer } from './server';

/**
 * Crash at every step of the Ceph failovers, on the real two-site lab, through a real server.
 * Two images of pool `rbd`, one mirrored by snapshots and one by journal, are failed over as a
 * pool. For each step, the server runs with TANDEM_FAULT set to kill it (SIGKILL) right after
 * that step's work and before its completion is stored; it is started again — with the next
 * step's fault, so that one task goes through all its fault points — and the task resumed (or,
 * where offered, rolled back). After every crash: no image is primary on both clusters and the
 * primary's data is the expected one. After every task: each image is primary on exactly one
 * cluster, with the expected data on both, the protective copies a failback kept hold the
 * discarded writes, and a write on the new primary arrives on the other side and is not undone.
 * One line per fault point.
 */
const PORT = 3216;
const PASSWORD = 'ceph-fault-matrix-admin-password';
const POOL = 'rbd';
const SUFFIX = crypto.randomBytes(3).toString('hex');
const SNAP = `cfm-snap-${SUFFIX}`;
const JRNL = `cfm-jrnl-${SUFFIX}`;
const IMAGES = [SNAP, JRNL];
const MiB = 1024 * 1024;
const SIZE = 16 * MiB;

let lab: CephLab;
let server: TandemServer;
let dataDir: string;
let a: CephCliAdapter;
let b: CephCliAdapter;
const id: Record<string, number> = {};
const table: string[] = [];
/** What each image holds (md5 of its whole content), as Tandem must keep it. */
const expected: Record<string, string> = {};
/** The content of each image, kept to compute `expected` after a write. */
const content: Record<string, Buffer> = {};

interface Task {
  id: number;
  state: string;
  error: string | null;
  params: Record<string, unknown> | null;
}

const adapter = (site: string) => (site === 'site-a' ? a : b);
const other = (site: string) => (site === 'site-a' ? 'site-b' : 'site-a');
const md5 = (buf: Buffer) => crypto.createHash('md5').update(buf).digest('hex');

async function write(site: string, image: string, offset: number) {
  const data = crypto.randomBytes(MiB);
  await adapter(site).writeImage(POOL, '', image, offset, data);
  data.copy(content[image]!, offset);
  expected[image] = md5(content[image]!);
}

/** Whether each cluster has the image as primary (null while a resync recreates it there). */
async function roles(image: string): Promise<Record<string, boolean | null>> {
  const role = (ad: CephCliAdapter) =>
    ad.getImageInfo(POOL, '', image).then(
      (i) => i.mirroring.primary,
      () => null,
    );
  const [ra, rb] = await Promise.all([role(a), role(b)]);
  return { 'site-a': ra, 'site-b': rb };
}

/** Never primary on both; where primary, the expected data. Returns where each image is primary. */
async function safeNow(label: string): Promise<string> {
  const out: string[] = [];
  for (const img of IMAGES) {
    const r = await roles(img);
    expect(r['site-a'] && r['site-b'], `${img} primary on both clusters ${label}`).toBeFalsy();
    const primary = Object.keys(r).find((s) => r[s]);
    if (primary)
      expect(await adapter(primary).imageChecksum(POOL, '', img), `${img} on ${primary} ${label}`).toBe(
        expected[img],
      );
    out.push(
      `${img.startsWith('cfm-snap') ? 'snapshot' : 'journal'} image primary on ${primary ?? 'neither'}`,
    );
  }
  return out.join(', ');
}

/** Each image primary on `site` only, with the expected data there and, once copied, on the other side. */
async function settledOn(site: string) {
  for (const img of IMAGES) expect(await roles(img), img).toEqual({ [site]: true, [other(site)]: false });
  for (const img of IMAGES) expect(await adapter(site).imageChecksum(POOL, '', img)).toBe(expected[img]);
  await replicated(site);
}

/** Waits until the non-primary side holds the primary's data (a mirror snapshot is taken for the snapshot image). */
async function replicated(primary: string) {
  await adapter(primary).createMirrorSnapshot(POOL, '', SNAP);
  for (const img of IMAGES) {
    await pollUntil(
      `${img} on ${other(primary)} has ${primary}'s data`,
      () => adapter(other(primary)).imageChecksum(POOL, '', img),
      (s) => s === expected[img],
      180_000,
      2_000,
    );
  }
}

/** A write on the primary arrives on the other side, and the primary still has it afterwards (nothing replicated back). */
async function noWrongDirection(primary: string) {
  await write(primary, SNAP, 6 * MiB);
  await write(primary, JRNL, 6 * MiB);
  await replicated(primary);
  for (const img of IMAGES)
    expect(
      await adapter(primary).imageChecksum(POOL, '', img),
      `${img} on ${primary} after replication`,
    ).toBe(expected[img]);
}

async function waitTask(taskId: number, timeoutMs = 600_000): Promise<Task> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const t = (await server.query<{ task: Task }>('tasks.get', { id: taskId })).task;
    if (!['waiting', 'running', 'question'].includes(t.state)) return t;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`task #${taskId} still running after ${timeoutMs / 1000} s`);
}

async function ended(taskId: number, want: string): Promise<Task> {
  const t = await waitTask(taskId);
  if (t.state !== want) {
    const { logs } = await server.query<{ logs: { message: string }[] }>('tasks.get', { id: taskId });
    throw new Error(
      `task #${taskId} is ${t.state} (wanted ${want}): ${t.error}\n${logs.map((l) => l.message).join('\n')}\n${server.log.slice(-2000)}`,
    );
  }
  return t;
}

/**
 * Waits until the server has been killed by its fault; a task that ends first (it failed before
 * reaching the fault) fails the test at once with the task's error and log.
 */
async function killedOrEnded(taskId: number): Promise<number | string | null> {
  const deadline = Date.now() + 600_000;
  const exit = server.exited(600_000);
  let gone: number | string | null | undefined;
  void exit.then(
    (x) => (gone = x),
    () => undefined,
  );
  while (Date.now() < deadline) {
    if (gone !== undefined) return gone;
    const t = await server.query<{ task: Task }>('tasks.get', { id: taskId }).catch(() => null);
    if (t && !['waiting', 'running', 'question'].includes(t.task.state)) {
      if (gone !== undefined) return gone;
      const { logs } = await server.query<{ logs: { message: string }[] }>('tasks.get', { id: taskId });
      throw new Error(
        `task #${taskId} ended (${t.task.state}: ${t.task.error}) instead of reaching its fault\n${logs.map((l) => l.message).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  return exit;
}

/**
 * Runs a task through its fault points: the server is started with the first fault, the task
 * started, and after each kill the server starts again with the next fault and the task is
 * resumed. `check` runs after each kill. Ends with the server running without faults.
 */
async function throughFaults(
  kind: string,
  steps: string[],
  start: () => Promise<number>,
  confirm: string,
  check: (step: string) => Promise<string>,
): Promise<number> {
  let taskId = 0;
  for (const [i, step] of steps.entries()) {
    const t0 = Date.now();
    await server.stop();
    await server.start(`${kind}:${step}:crash-after`);
    if (i === 0) taskId = await start();
    else {
      const offer = await server.query<{ resume: { ok: boolean; reason: string | null } }>('tasks.recovery', {
        id: taskId,
      });
      expect(offer.resume.ok, offer.resume.reason ?? '').toBe(true);
      await server.call('tasks.resume', { id: taskId, confirm });
    }
    expect(await killedOrEnded(taskId), `the server should have been killed after "${step}"`).toBe('SIGKILL');
    await server.start();
    expect((await server.query<{ task: Task }>('tasks.get', { id: taskId })).task.state).toBe('interrupted');
    const state = await check(step);
    table.push(
      `${kind}:${step}:crash-after → interrupted; ${state} (${Math.round((Date.now() - t0) / 1000)} s)`,
    );
  }
  await server.call('tasks.resume', { id: taskId, confirm });
  await ended(taskId, 'finished');
  return taskId;
}

beforeAll(async () => {
  lab = await openCephLab();
  a = lab.adapter('site-a');
  b = lab.adapter('site-b');
  for (const [name, ad] of [
    ['site-a', a],
    ['site-b', b],
  ] as const) {
    if ((await ad.getPoolMirrorInfo(POOL)).peers.length)
      throw new Error(
        `pool ${POOL} on ${name} is still paired: run \`bash scripts/lab/ceph-sites.sh unpair\``,
      );
    const mirrored = (await ad.listImages(POOL)).filter((i) => i.mirroring).map((i) => i.name);
    if (mirrored.length)
      throw new Error(
        `pool ${POOL} on ${name} has mirrored images left by another run (${mirrored.join(', ')}); a pool failover would take them along`,
      );
  }
  await cephLabScript('pair');
  await a.createImage(POOL, '', SNAP, SIZE);
  await a.createImage(POOL, '', JRNL, SIZE, ['layering', 'exclusive-lock', 'journaling']);
  for (const img of IMAGES) {
    content[img] = Buffer.alloc(SIZE);
    await write('site-a', img, 0);
    await write('site-a', img, 9 * MiB);
  }
  await a.enableImageMirroring(POOL, '', SNAP, 'snapshot');
  await a.enableImageMirroring(POOL, '', JRNL, 'journal');
  await replicated('site-a');

  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-cfm-'));
  server = new TandemServer(PORT, dataDir, PASSWORD);
  await server.start();
  await server.login();
  const { registerLab } = await import(path.resolve(__dirname, '../../scripts/lab/register.mjs'));
  await registerLab(server.base, 'admin', PASSWORD, { nodes: false, ceph: true });
  for (const s of await server.query<{ id: number; name: string }[]>('sites.list')) id[s.name] = s.id;
  expect(id['site-a'] && id['site-b']).toBeTruthy();
}, 600_000);

afterAll(async () => {
  console.log(`[ceph-fault] ${table.length} fault points:\n${table.join('\n')}`);
  await server?.stop();
  if (!a || !b) return;
  for (const ad of [a, b]) {
    for (const img of IMAGES)
      await ad.disableImageMirroring(POOL, '', img, { force: true }).catch(() => undefined);
  }
  for (const ad of [a, b]) {
    const mine = (await ad.listImages(POOL).catch(() => []))
      .map((i) => i.name)
      .filter((n) => n.startsWith(`cfm-`) && n.includes(SUFFIX));
    for (const n of mine) {
      for (let i = 0; i < 15; i++) {
        try {
          await ad.removeImage(POOL, '', n);
          break;
        } catch (e) {
          if (/does not exist/.test((e as Error).message)) break;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    }
  }
  await cephLabScript('unpair');
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
}, 300_000);

describe('crash at every step of the Ceph failovers, on the real two-site lab', () => {
  it('planned failover of the pool site-a → site-b, killed after each step and resumed', async () => {
    const plan = await pollUntil(
      'the planned failover can proceed',
      () =>
        server.query<{ mode: string; canProceed: boolean }>('ceph.failoverPlan', {
          fromSiteId: id['site-a'],
          toSiteId: id['site-b'],
          pool: POOL,
        }),
      (p) => p.canProceed,
      180_000,
      2_000,
    );
    expect(plan.mode).toBe('planned');
    const start = async () =>
      (
        await server.call<{ taskId: number }>('ceph.failover', {
          fromSiteId: id['site-a'],
          toSiteId: id['site-b'],
          pool: POOL,
          confirm: POOL,
          expectMode: 'planned',
        })
      ).taskId;
    await throughFaults('ceph.failover', [...PLANNED_STEPS], start, POOL, (step) =>
      safeNow(`after a crash after "${step}"`),
    );
    await settledOn('site-b');
    await noWrongDirection('site-b');
    table.push(
      'ceph.failover (planned, pool): resumed to the end → every image primary on site-b only, data equal on both, a write on site-b replicated to site-a and kept',
    );
  }, 1_200_000);

  it('planned failover back site-b → site-a, killed after its demote and rolled back', async () => {
    const t0 = Date.now();
    await pollUntil(
      'the planned failover back can proceed',
      () =>
        server.query<{ canProceed: boolean }>('ceph.failoverPlan', {
          fromSiteId: id['site-b'],
          toSiteId: id['site-a'],
          pool: POOL,
        }),
      (p) => p.canProceed,
      180_000,
      2_000,
    );
    await server.stop();
    await server.start(`ceph.failover:${PLANNED_STEPS[0]}:crash-after`);
    const taskId = (
      await server.call<{ taskId: number }>('ceph.failover', {
        fromSiteId: id['site-b'],
        toSiteId: id['site-a'],
        pool: POOL,
        confirm: POOL,
      })
    ).taskId;
    expect(await killedOrEnded(taskId)).toBe('SIGKILL');
    await server.start();
    const state = await safeNow('after the crash after the demote');
    const offer = await server.query<{ rollback: { ok: boolean; reason: string | null; steps: string[] } }>(
      'tasks.recovery',
      { id: taskId },
    );
    expect(offer.rollback).toMatchObject({ ok: true, steps: ['Promote again on site-b'] });
    await server.call('tasks.rollback', { id: taskId, confirm: POOL });
    await ended(taskId, 'rolled-back');
    await settledOn('site-b');
    table.push(
      `ceph.failover:${PLANNED_STEPS[0]}:crash-after → interrupted (${state}); rolled back → every image primary on site-b again, data as before (${Math.round((Date.now() - t0) / 1000)} s)`,
    );
  }, 900_000);

  it('unplanned failover to site-a while site-b answers (split-brain confirmed), killed after the force-promote and resumed; then the failback killed after each step and resumed', async () => {
    // Split-brain on purpose: site-a force-promoted while site-b stays primary.
    const start = async () =>
      (
        await server.call<{ taskId: number }>('ceph.failover', {
          fromSiteId: id['site-b'],
          toSiteId: id['site-a'],
          pool: POOL,
          confirm: POOL,
          unplanned: true,
          confirmSplitBrain: true,
          expectMode: 'unplanned',
        })
      ).taskId;
    await throughFaults('ceph.failover', [UNPLANNED_STEP], start, POOL, async () => {
      for (const img of IMAGES) expect(await roles(img)).toEqual({ 'site-a': true, 'site-b': true });
      return 'each image primary on both (the split-brain the operator confirmed)';
    });
    // site-a's writes after the split: the failback discards them from the image and must keep them in a copy.
    const good = { ...expected };
    const goodContent = Object.fromEntries(IMAGES.map((i) => [i, Buffer.from(content[i]!)]));
    for (const img of IMAGES) await write('site-a', img, 12 * MiB);
    const staleData = { ...expected };
    Object.assign(expected, good);
    Object.assign(content, goodContent);

    const steps = resyncSteps('site-a', 'site-b', true);
    const failback = async () =>
      (
        await server.call<{ taskId: number }>('ceph.resync', {
          staleSiteId: id['site-a'],
          goodSiteId: id['site-b'],
          pool: POOL,
          confirm: POOL,
          failBack: true,
        })
      ).taskId;
    const taskId = await throughFaults('ceph.failback', steps, failback, POOL, async (step) => {
      // Before its demote site-a may still be primary (the split-brain); after it, never both.
      if (step === steps[0]) {
        for (const img of IMAGES)
          expect((await roles(img))['site-a'], `${img} demoted on site-a`).toBe(false);
      }
      const state = await safeNow(`after a crash after "${step}"`);
      return state;
    });
    const t = (await server.query<{ task: Task }>('tasks.get', { id: taskId })).task;
    const copies = t.params!.keptCopies as string[];
    const copyOf = Object.fromEntries(copies.map((c) => [keptCopyOf(c)?.image, c]));
    expect(Object.keys(copyOf).sort()).toEqual([...IMAGES].sort());
    // The copies hold site-a's writes from the split; the images are site-b's data, primary on site-a.
    for (const img of IMAGES)
      expect(await a.imageChecksum(POOL, '', copyOf[img]!), `kept copy of ${img}`).toBe(staleData[img]);
    for (const c of copies) expect((await a.getImageInfo(POOL, '', c)).mirroring.state).not.toBe('enabled');
    await settledOn('site-a');
    await noWrongDirection('site-a');
    table.push(
      `ceph.failback: resumed to the end → every image primary on site-a only with site-b's data, site-a's split-brain writes kept in ${copies.join(', ')}, a write on site-a replicated and kept`,
    );
  }, 2_400_000);
});
