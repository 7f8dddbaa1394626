import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DemoWorld } from '@/server/adapters/demo/world';
import { createApp, type App } from '@/server/app';
import { ManualClock } from '@/server/core/clock';
import {
  CephFailover,
  journalDemotionReplayed,
  keptCopyName,
  keptCopyOf,
  utcStamp,
} from '@/server/domain/ceph/failover';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator } from './helpers';
import { cephPool } from './ceph-pool';
import { labImages } from '@/server/adapters/ceph/lab-images';

/*
 * Ceph failover, failback and resync on the bad day (demo clusters): durable tasks that resume
 * after a failure from their first unfinished step, a planned failover rolled back before its
 * promote, the protective copy a resync keeps of the stale side, a failed promote that leaves no
 * image without a primary, and a confirmation that no longer matches the mode refused.
 */
interface Env {
  app: App;
  clock: ManualClock;
  world: DemoWorld;
  dir: string;
  caller: ReturnType<typeof createCaller>;
  a: number;
  b: number;
}
const envs: Env[] = [];
afterEach(async () => {
  for (const e of envs.splice(0)) {
    await e.app.tasks.shutdown();
  }
});

function boot(opts: { faults?: string; from?: Env } = {}): Env {
  const dir = opts.from?.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-ceph-badday-'));
  const clock = opts.from?.clock ?? new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const world = opts.from?.world ?? new DemoWorld(clock, 0);
  const app = createApp({
    dbFile: path.join(dir, 'tandem.db'),
    dataDir: dir,
    clock,
    demoLatencyMs: 0,
    demoWorld: world,
    faults: opts.faults ?? '',
  });
  if (!opts.from) app.demo.create();
  else app.tasks.recoverAtBoot();
  const env: Env = {
    app,
    clock,
    world,
    dir,
    caller: createCaller(ctxFor(app, operator)),
    a: app.sites.byName('demo-site-a')!.id,
    b: app.sites.byName('demo-site-b')!.id,
  };
  envs.push(env);
  return env;
}

async function ended(app: App, id: number, want: string) {
  const t = await app.tasks.wait(id);
  if (t.state !== want)
    throw new Error(
      `task #${id} ${t.name}: ${t.state} (wanted ${want}) ${t.error}\n${app.tasks
        .logs(id)
        .map((l) => l.message)
        .join('\n')}`,
    );
  return t;
}

const primaryOn = async (env: Env, siteId: number, img: string) =>
  (await env.app.ceph.adapter(siteId).getImageInfo('rbd', '', img)).mirroring.primary;

/** The smallest image primary on site-a, once it has a copied snapshot on site-b. */
async function anImage(env: Env): Promise<string> {
  const imgs = (await cephPool(env.caller, env.a))!.images.filter((i) => i.mirroring?.primary);
  const img = imgs.sort((x, y) => (x.sizeBytes ?? 0) - (y.sizeBytes ?? 0))[0]!.name;
  await env.clock.sleep(20_000); // its first mirror snapshot is copied
  return img;
}

describe('Ceph failover as a durable task', () => {
  it('an interrupted planned failover is resumed from its promote; one cut off after its demote can be rolled back instead', async () => {
    const env = boot({ faults: 'ceph.failover:Demote on the primary cluster:error-after' });
    const img = await anImage(env);
    const input = { fromSiteId: env.a, toSiteId: env.b, pool: 'rbd', image: img, confirm: img };

    // First: fails after the demote; the image is primary nowhere, and a rollback is offered.
    const t1 = await ended(env.app, (await env.caller.ceph.failover(input)).taskId, 'failed');
    expect(await primaryOn(env, env.a, img)).toBe(false);
    expect(await primaryOn(env, env.b, img)).toBe(false);
    // Recovery in a server without the fault (the data and the clusters are the same).
    const fixed = boot({ from: env });
    expect((await fixed.caller.ceph.unfinished()).map((t) => t.id)).toEqual([t1.id]);
    const offer = await fixed.caller.tasks.recovery({ id: t1.id });
    expect(offer).toMatchObject({
      resume: { ok: true },
      rollback: { ok: true, steps: ['Promote again on demo-site-a'] },
      confirmText: img,
    });
    await expect(fixed.caller.tasks.rollback({ id: t1.id, confirm: 'nope' })).rejects.toThrow(`type ${img}`);
    await ended(
      fixed.app,
      (await fixed.caller.tasks.rollback({ id: t1.id, confirm: img })).taskId,
      'rolled-back',
    );
    expect(await primaryOn(env, env.a, img)).toBe(true);
    expect(await primaryOn(env, env.b, img)).toBe(false);
    expect(await fixed.caller.ceph.unfinished()).toEqual([]);

    // Again: fails after the demote, then resumed: the demote is not repeated, the promote runs.
    await env.clock.sleep(60_000);
    const t2 = await ended(env.app, (await env.caller.ceph.failover(input)).taskId, 'failed');
    const resumed = await fixed.caller.tasks.resume({ id: t2.id, confirm: img });
    expect(resumed.taskId).toBe(t2.id);
    await ended(fixed.app, t2.id, 'finished');
    expect(await primaryOn(env, env.a, img)).toBe(false);
    expect(await primaryOn(env, env.b, img)).toBe(true);
    expect(fixed.app.tasks.logs(t2.id).map((l) => l.message)).toContain(
      `${img} is already non-primary on demo-site-a: not demoted again`,
    );
    // Once the promote has run, a rollback is no longer offered.
    expect((await fixed.caller.tasks.recovery({ id: t2.id }))?.rollback.ok).toBe(false);
    expect(await fixed.caller.ceph.unfinished()).toEqual([]);

    // A failover that stopped, then done by another task: the old one is no longer offered.
    await env.clock.sleep(60_000);
    const back = { fromSiteId: env.b, toSiteId: env.a, pool: 'rbd', image: img, confirm: img };
    const t3 = await ended(env.app, (await env.caller.ceph.failover(back)).taskId, 'failed');
    const t4 = await ended(fixed.app, (await fixed.caller.ceph.failover(back)).taskId, 'finished');
    const stale = await fixed.caller.tasks.recovery({ id: t3.id });
    expect(stale?.resume).toMatchObject({ ok: false, reason: expect.stringContaining(`task #${t4.id}`) });
    expect(stale?.rollback.ok).toBe(false);
    expect(await fixed.caller.ceph.unfinished()).toEqual([]);
  }, 60_000);

  it('a promote that fails makes the image primary on the old side again (no image without a primary), and a resume runs the switch again', async () => {
    const env = boot();
    const img = await anImage(env);
    // A failover whose promote gives up at once.
    const impatient = new CephFailover(env.app.ceph, env.app.sites, env.app.tasks, env.clock, 1);
    const t = await impatient.failover(
      { fromSiteId: env.a, toSiteId: env.b, pool: 'rbd', image: img },
      { confirm: img },
      operator,
    );
    const failed = await ended(env.app, t.id, 'failed');
    expect(failed.error).toMatch(/could not be promoted within/);
    expect(await primaryOn(env, env.a, img)).toBe(true);
    expect(await primaryOn(env, env.b, img)).toBe(false);
    expect(env.app.tasks.logs(t.id).map((l) => l.message)).toContain(
      `the promote failed: ${img} is primary on demo-site-a again`,
    );
    // Resumed with the patient failover: demoted again (it was restored), then promoted on site-b.
    new CephFailover(env.app.ceph, env.app.sites, env.app.tasks, env.clock);
    env.app.tasks.resume(t.id, img, operator.username);
    await ended(env.app, t.id, 'finished');
    expect(await primaryOn(env, env.a, img)).toBe(false);
    expect(await primaryOn(env, env.b, img)).toBe(true);
  }, 60_000);

  it('refuses a confirmation given for a planned failover when the failover would now be unplanned', async () => {
    const env = boot();
    const img = await anImage(env);
    env.world.down.add('demo-site-a');
    await expect(
      env.caller.ceph.failover({
        fromSiteId: env.a,
        toSiteId: env.b,
        pool: 'rbd',
        image: img,
        confirm: img,
        expectMode: 'planned',
      }),
    ).rejects.toThrow(/stopped answering since the plan was shown: the failover would now be unplanned/);
    expect(await primaryOn(env, env.b, img)).toBe(false);
  }, 60_000);
});

describe('Ceph resync keeps a protective copy', () => {
  it('copies the stale image before the resync, names it in the plan, history and task; the copy holds the discarded writes and is deleted only on request', async () => {
    const env = boot();
    const img = await anImage(env);
    const sa = labImages(env.app.ceph.adapter(env.a));
    // Split-brain: site-b force-promoted while site-a stays primary and takes a write of its own.
    await env.caller.ceph
      .image({ siteId: env.b, pool: 'rbd', image: img, op: 'promote', force: true, confirmSplitBrain: true })
      .then((r) => ended(env.app, r.taskId, 'finished'));
    await sa.writeImage('rbd', '', img, 0, new Uint8Array([1, 2, 3, 4]));
    // Demoted by hand first: while primary, the demo's workload keeps writing to it.
    await sa.demoteImage('rbd', '', img);
    const staleSum = await sa.imageChecksum('rbd', '', img);

    const plan = await env.caller.ceph.resyncPlan({
      staleSiteId: env.a,
      goodSiteId: env.b,
      pool: 'rbd',
      image: img,
      failBack: true,
    });
    expect(plan.images).toEqual([
      expect.objectContaining({ name: img, keepAs: keptCopyName(img, utcStamp(env.clock.now())) }),
    ]);
    expect(plan.steps).toContain('Keep a protective copy');

    const { taskId } = await env.caller.ceph.resync({
      staleSiteId: env.a,
      goodSiteId: env.b,
      pool: 'rbd',
      image: img,
      confirm: img,
      failBack: true,
    });
    const t = await ended(env.app, taskId, 'finished');
    const copy = (t.params as { keptCopies: string[] }).keptCopies[0]!;
    expect(keptCopyOf(copy)).toMatchObject({ image: img });
    expect(
      env.app.tasks
        .steps(taskId)
        .map((s) => s.name)
        .slice(0, 3),
    ).toEqual(['Demote the stale side', 'Keep a protective copy', 'Request resync']);
    // The copy on site-a holds site-a's data from before the resync; the image itself is site-b's now.
    expect(await sa.imageChecksum('rbd', '', copy)).toBe(staleSum);
    expect(await sa.imageChecksum('rbd', '', img)).not.toBe(staleSum);
    expect((await sa.getImageInfo('rbd', '', copy)).mirroring.state).not.toBe('enabled');
    const h = env.app.history
      .list({ action: 'ceph.failback' }, { limit: 5, offset: 0 })
      .rows.find((r) => r.taskId === taskId)!;
    expect(JSON.stringify(h.params)).toContain(copy);
    expect(
      env.app.tasks
        .logs(taskId)
        .some((l) => l.message.includes(`kept a copy of ${img}`) && l.message.includes(copy)),
    ).toBe(true);

    // Deleting: only kept copies, only with the name typed.
    await expect(
      env.caller.ceph.removeKeptCopy({ siteId: env.a, pool: 'rbd', image: img, confirm: img }),
    ).rejects.toThrow(/is not a protective copy/);
    await expect(
      env.caller.ceph.removeKeptCopy({ siteId: env.a, pool: 'rbd', image: copy, confirm: img }),
    ).rejects.toThrow(`type ${copy} to confirm`);
    await ended(
      env.app,
      (await env.caller.ceph.removeKeptCopy({ siteId: env.a, pool: 'rbd', image: copy, confirm: copy }))
        .taskId,
      'finished',
    );
    await expect(sa.getImageInfo('rbd', '', copy)).rejects.toThrow(/does not exist/);
  }, 90_000);

  it('a resync interrupted after its copy is resumed without copying again; a partial copy left by a crash is made again', async () => {
    const env = boot({ faults: 'ceph.resync:Keep a protective copy:error-after' });
    const img = await anImage(env);
    const sa = labImages(env.app.ceph.adapter(env.a));
    await env.caller.ceph
      .failover({ fromSiteId: env.a, toSiteId: env.b, pool: 'rbd', image: img, confirm: img })
      .then((r) => ended(env.app, r.taskId, 'finished'));
    const { taskId } = await env.caller.ceph.resync({
      staleSiteId: env.a,
      goodSiteId: env.b,
      pool: 'rbd',
      image: img,
      confirm: img,
    });
    await ended(env.app, taskId, 'failed');
    const copy = (env.app.tasks.get(taskId)!.params as { keptCopies: string[] }).keptCopies[0]!;
    const sum = await sa.imageChecksum('rbd', '', copy);
    // A crash in the middle of a copy leaves a partial image: it is replaced, the kept one is not touched.
    await sa.copyImage('rbd', '', img, `${copy}-partial`);
    await sa.removeImage('rbd', '', copy);
    const fixed = boot({ from: env });
    fixed.app.tasks.resume(taskId, img, operator.username);
    await ended(fixed.app, taskId, 'finished');
    expect(fixed.app.tasks.logs(taskId).map((l) => l.message)).toContain(
      `removing the incomplete copy ${copy}-partial left by an interrupted attempt`,
    );
    expect(await sa.imageChecksum('rbd', '', copy)).toBe(sum);
    await expect(sa.getImageInfo('rbd', '', `${copy}-partial`)).rejects.toThrow(/does not exist/);
  }, 90_000);
});

describe('journal-mode promote waits for the demotion to be replayed', () => {
  // As `rbd mirror image status` printed them on the lab during a planned failover of a journal image.
  const replaying = {
    daemonUp: true,
    state: 'replaying',
    rawState: 'up+replaying',
    rawDescription:
      'replaying, {"bytes_per_second":0.0,"entries_behind_primary":3,"non_primary_position":{},"primary_position":{"entry_tid":3,"object_number":3,"tag_tid":1}}',
  };
  it.each([
    ['replaying (entries not yet replayed, or the demotion not reached)', replaying, false],
    [
      'stopped after replaying the demotion',
      { daemonUp: true, state: 'stopped', rawState: 'up+stopped', rawDescription: 'stopped' },
      true,
    ],
    [
      'started again and found the remote demoted',
      {
        daemonUp: true,
        state: 'unknown',
        rawState: 'up+unknown',
        rawDescription: 'remote image is not primary',
      },
      true,
    ],
    [
      'no rbd-mirror reporting',
      { daemonUp: false, state: 'stopped', rawState: 'down+stopped', rawDescription: 'stopped' },
      false,
    ],
    [
      'split-brain',
      { daemonUp: true, state: 'error', rawState: 'up+error', rawDescription: 'split-brain detected' },
      false,
    ],
  ])('%s', (_what, status, ready) => {
    expect(journalDemotionReplayed(status).ready).toBe(ready);
  });
});
