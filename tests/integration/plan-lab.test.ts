import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { promoteReadiness } from '@/server/domain/ceph/failover';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import { createApp, type App } from '@/server/app';
import { objectKey, testNames } from '@/server/domain/plans/rules';
import type { RunReport } from '@/server/domain/plans/reports';
import { holdTag } from '@/server/domain/replicas/service';
import type { createCaller } from '@/server/trpc/root';
import { cephLabScript, openCephLab, pollUntil, type CephLab } from './ceph-lab';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import { adminCaller, finishedTask, labApp } from './lab-app';
import { TandemServer } from './server';

/*
 * Recovery plans on the real labs: one plan with a snapshot-mirrored RBD image (site-a → site-b)
 * in group 1 and a two-disk VM replica (node1 → node2) in group 2 that depends on it.
 *
 *  0. test failover: the image copied on site-b and the VM's disks cloned on node2 from their
 *     latest recovery points (checksums equal to what was replicated), the test VM running there
 *     without its network interface while the VM runs on node1 and goes on replicating; the
 *     cleanup leaves nothing (`zfs list`, `rbd ls`, `virsh list --all`);
 *  1. planned migration: the VM runs on node2 only, its disks and the image hold what they held
 *     on the production side, no data lost; reprotect (node2 → node1, the image replays on
 *     site-a) and fail back;
 *  2. the planned migration again on a production server (`next start`) killed while the VM's
 *     failover transfers its disks, restarted, and the run resumed through the API: the same
 *     failover task goes on (attempts 2), none is started twice; reprotect and fail back there;
 *  3. disaster: node1 and site-a lose power (`nodes.sh crash node1`, `ceph-sites.sh crash
 *     site-a`), a planned migration is refused, the disaster recovery runs and measures the data
 *     lost per object from the recovery point it used; node1 and site-a come back (the VM started
 *     there again, as an autostart would), reprotect fences it, resyncs the image with a
 *     protective copy, and the plan fails back.
 *
 * Beside the planned migration and the disaster recovery, the same work is timed as raw CLI
 * steps on objects of its own (a second VM and image), for the RTO comparison printed as
 * `[plan-lab] planned: …` and `[plan-lab] disaster: …`.
 *
 * Crashing node1 and site-a is only allowed while this file holds both lab locks:
 *   flock /tmp/tandem-node-lab.lock flock /tmp/tandem-ceph-lab.lock npx vitest run -c vitest.integration.config.ts tests/integration/plan-lab.test.ts
 * (CI owns its labs and runs it in the lane that uses both). Whatever happens, afterAll starts
 * node1 and site-a again and removes everything the test made.
 */

const ID = process.pid % 10000;
const SUFFIX = crypto.randomBytes(3).toString('hex');
const VM = `pn${ID}`;
const REPLICA = `pn${ID}`;
const TAG = holdTag(REPLICA);
/** The raw CLI baselines' own VMs (planned, disaster) and images. */
const RAWP = `prp${ID}`;
const RAWD = `prd${ID}`;
const POOL = 'rbd';
const IMG = `plan-${SUFFIX}`;
const RAWP_IMG = `plan-rawp-${SUFFIX}`;
const RAWD_IMG = `plan-rawd-${SUFFIX}`;
const PLAN = `plan-lab-${SUFFIX}`;
const MiB = 1024 * 1024;
const IMG_SIZE = 32 * MiB;
const PORT = Number(process.env.TANDEM_PLAN_LAB_PORT ?? 3236);
const PASSWORD = 'plan-lab-admin-password';
const FAULT = 'replica.failover:Transfer to the replica:crash';
const LOCKS = ['/tmp/tandem-node-lab.lock', '/tmp/tandem-ceph-lab.lock'];

let lab: Lab;
let ceph: CephLab;
let a: CephCliAdapter;
let b: CephCliAdapter;
let dir = '';
let app: App | null = null;
let caller: ReturnType<typeof createCaller>;
let site: Record<string, number> = {};
let server: TandemServer | null = null;
let replicaId = 0;
let planId = 0;
let node1Crashed = false;
let siteACrashed = false;
const made = { vms: [] as string[], images: [] as string[], paired: false, testTags: [] as string[] };
const figures: string[] = [];

const runner = (node: string): SshRunner => lab.runner(node);
const disksOf = (vm: string) => [0, 1].map((i) => `/zones/${vm}-disk${i}/disk.img`);
const secs = (ms: number) => (ms / 1000).toFixed(1);

function say(line: string) {
  figures.push(line);
  console.log(`[plan-lab] ${line}`);
}

async function md5s(node: string, vm = VM): Promise<string[]> {
  const out = await runner(node).run({ argv: ['md5sum', ...disksOf(vm)] });
  return out.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[0]!);
}

/** Writes 2 MiB of random data into each of the VM's disks at `seekMiB`, flushed. */
async function writeDisks(node: string, vm: string, seekMiB: number) {
  await runner(node).run({
    argv: [
      'bash',
      '-c',
      'for f in "$@"; do dd if=/dev/urandom of="$f" bs=1M count=2 seek=$0 conv=notrunc status=none; done; sync',
      String(seekMiB),
      ...disksOf(vm),
    ],
  });
}

/** Nodes on which `vm` is live (running or paused); a node that does not answer counts as not. */
async function liveOn(vm = VM): Promise<string[]> {
  const out: string[] = [];
  for (const n of ['node1', 'node2', 'node3']) {
    try {
      const r = await runner(n).run({
        argv: ['virsh', 'domstate', vm],
        allowFailure: true,
        timeoutMs: 15_000,
      });
      if (r.exitCode === 0 && /running|paused/.test(r.stdout)) out.push(n);
    } catch {
      /* down */
    }
  }
  return out;
}

/** Sites on which the image is primary; a site that does not answer counts as not. */
async function primaryOn(image = IMG): Promise<string[]> {
  const out: string[] = [];
  for (const [name, ad] of [
    ['site-a', a],
    ['site-b', b],
  ] as const) {
    if (name === 'site-a' && siteACrashed) continue;
    if ((await ad.getImageInfo(POOL, '', image)).mirroring.primary) out.push(name);
  }
  return out;
}

const replaying = (ad: CephCliAdapter, image: string, timeoutMs = 180_000) =>
  pollUntil(
    `${image} replays`,
    () => ad.getImageMirrorStatus(POOL, '', image),
    (s) => s.state === 'replaying' && s.description.replayState !== 'syncing',
    timeoutMs,
    1_000,
  );

/** Writes 1 MiB of random data into an image on `ad`; returns the image's md5 afterwards. */
async function writeImage(ad: CephCliAdapter, image: string, offsetMiB: number): Promise<string> {
  await ad.writeImage(POOL, '', image, offsetMiB * MiB, crypto.randomBytes(MiB));
  return ad.imageChecksum(POOL, '', image);
}

/** Whether this process runs under `flock FILE`: a second lock on the file is then refused. */
function lockHeld(file: string): Promise<boolean> {
  return new Promise((resolve) => execFile('flock', ['-n', file, 'true'], (err) => resolve(err !== null)));
}

function openApp() {
  app = createApp({ dbFile: path.join(dir, 'tandem.db'), dataDir: dir });
  caller = adminCaller(app);
}

/** The in-process app lets go of the data directory (a production server takes it over). */
async function closeApp() {
  if (!app) return;
  await app.tasks.shutdown();
  await app.ssh.closeAll();
  app.db.$client.close();
  app = null;
}

interface Run {
  runId: number;
  taskId: number;
  wallMs: number;
  report: RunReport;
}

/** One run of the plan through the API, waited for; fails with the run's log unless it finished. */
async function run(
  kind: 'planned' | 'disaster' | 'reprotect',
  direction: 'forward' | 'back',
  reason: string,
): Promise<Run> {
  const t0 = performance.now();
  const { runId, taskId } = await caller.plans.run({ id: planId, kind, direction, reason, confirm: PLAN });
  await finishedTask(app!, taskId);
  const wallMs = performance.now() - t0;
  return { runId, taskId, wallMs, report: await caller.plans.report({ id: runId }) };
}

/** The report's timings: each object's task steps and how long each took. */
function stepTimes(report: RunReport): string {
  return report.items
    .map((i) => {
      const first = i.steps[0]?.startedAt ?? null;
      const last = i.steps.at(-1)?.finishedAt ?? null;
      const end = i.readyAt ?? i.finishedAt;
      const parts = [
        `${secs((end ?? 0) - (i.startedAt ?? 0))} s`,
        first !== null && i.startedAt !== null
          ? `until its task's first step ${secs(first - i.startedAt)}`
          : null,
        i.steps.map((s) => `${s.name} ${s.ms === null ? '?' : secs(s.ms)}`).join(', '),
        last !== null && end !== null
          ? `then until ${i.readyAt ? 'ready' : 'done'} ${secs(end - last)}`
          : null,
      ];
      return `${i.label} (task #${i.taskId}): ${parts.filter(Boolean).join('; ')}`;
    })
    .join('\n    ');
}

interface RawStep {
  what: string;
  ms: number;
}

async function timed<T>(steps: RawStep[], what: string, fn: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  const v = await fn();
  steps.push({ what, ms: performance.now() - t0 });
  return v;
}

const total = (steps: RawStep[]) => steps.reduce((s, x) => s + x.ms, 0);

/**
 * A VM and an image protected by hand, for the raw CLI baseline: the VM's two disks sent in full
 * to node2 (read-only there), its definition kept; the image mirrored in snapshot mode, replaying
 * on site-b. Returns the VM's domain XML.
 */
async function rawObjects(vm: string, image: string): Promise<string> {
  made.vms.push(vm);
  await labScript('mkvm', 'node1', vm, '2', '32');
  for (const i of [0, 1]) {
    const ds = `zones/${vm}-disk${i}`;
    await runner('node1').run({ argv: ['zfs', 'snapshot', `${ds}@raw1`] });
    await runner('node1').run({
      argv: ['bash', '-c', 'zfs send "$0" | ssh node2 zfs recv "$1"', `${ds}@raw1`, ds],
      timeoutMs: 120_000,
    });
    await runner('node2').run({ argv: ['zfs', 'set', 'readonly=on', ds] });
  }
  const xml = (await runner('node1').run({ argv: ['virsh', 'dumpxml', vm] })).stdout;
  made.images.push(image);
  await a.createImage(POOL, '', image, IMG_SIZE);
  await a.enableImageMirroring(POOL, '', image, 'snapshot');
  await writeImage(a, image, 0);
  await a.createMirrorSnapshot(POOL, '', image);
  return xml;
}

/**
 * The planned migration by hand, timed step by step in the plan's order: the image (demote on
 * site-a, wait until the demotion snapshot is copied on site-b, promote there), then the VM
 * (stop on node1, a final snapshot and incremental send per disk, writable on node2, define and
 * start there).
 */
async function rawPlanned(vm: string, image: string, xml: string): Promise<RawStep[]> {
  const steps: RawStep[] = [];
  await timed(steps, 'rbd mirror image demote (site-a)', () => a.demoteImage(POOL, '', image));
  await timed(steps, 'wait for the demotion snapshot on site-b', () =>
    pollUntil(
      'the demotion snapshot copied on site-b',
      () => b.listImageSnapshots(POOL, '', image),
      (s) => promoteReadiness(s).ready,
      120_000,
      250,
    ),
  );
  await timed(steps, 'rbd mirror image promote (site-b)', () => b.promoteImage(POOL, '', image));
  await timed(steps, 'virsh destroy (node1, paused)', () =>
    runner('node1').run({ argv: ['virsh', 'destroy', vm] }),
  );
  for (const i of [0, 1])
    await timed(steps, `zfs snapshot disk${i}`, () =>
      runner('node1').run({ argv: ['zfs', 'snapshot', `zones/${vm}-disk${i}@raw2`] }),
    );
  for (const i of [0, 1]) {
    const ds = `zones/${vm}-disk${i}`;
    await timed(steps, `zfs send -i | ssh node2 zfs recv disk${i}`, () =>
      runner('node1').run({
        argv: [
          'bash',
          '-c',
          'zfs send -i "$0" "$1" | ssh node2 zfs recv -F "$2"',
          `${ds}@raw1`,
          `${ds}@raw2`,
          ds,
        ],
        timeoutMs: 120_000,
      }),
    );
  }
  for (const i of [0, 1])
    await timed(steps, `zfs set readonly=off disk${i}`, () =>
      runner('node2').run({ argv: ['zfs', 'set', 'readonly=off', `zones/${vm}-disk${i}`] }),
    );
  await timed(steps, 'virsh define (node2)', () =>
    runner('node2').run({ argv: ['virsh', 'define', '/dev/stdin'], stdin: xml }),
  );
  await timed(steps, 'virsh start --paused (node2)', () =>
    runner('node2').run({ argv: ['virsh', 'start', '--paused', vm] }),
  );
  return steps;
}

/** The disaster recovery by hand with node1 and site-a gone: force-promote on site-b; roll back, make writable, define and start on node2. */
async function rawDisaster(vm: string, image: string, xml: string): Promise<RawStep[]> {
  const steps: RawStep[] = [];
  await timed(steps, 'rbd mirror image promote --force (site-b)', () =>
    b.promoteImage(POOL, '', image, { force: true }),
  );
  for (const i of [0, 1])
    await timed(steps, `zfs rollback -r disk${i}`, () =>
      runner('node2').run({ argv: ['zfs', 'rollback', '-r', `zones/${vm}-disk${i}@raw1`] }),
    );
  for (const i of [0, 1])
    await timed(steps, `zfs set readonly=off disk${i}`, () =>
      runner('node2').run({ argv: ['zfs', 'set', 'readonly=off', `zones/${vm}-disk${i}`] }),
    );
  await timed(steps, 'virsh define (node2)', () =>
    runner('node2').run({ argv: ['virsh', 'define', '/dev/stdin'], stdin: xml }),
  );
  await timed(steps, 'virsh start --paused (node2)', () =>
    runner('node2').run({ argv: ['virsh', 'start', '--paused', vm] }),
  );
  return steps;
}

function compare(label: string, r: Run, raw: RawStep[]) {
  const rawMs = total(raw);
  const rto = r.report.recoveryTimeMs ?? NaN;
  // What the call spent before the run's start (its pre-checks), from the run's own times.
  const before = r.wallMs - ((r.report.finishedAt ?? r.report.startedAt) - r.report.startedAt);
  say(
    `${label}: run ${secs(r.wallMs)} s, raw CLI ${secs(rawMs)} s, ratio ${(r.wallMs / rawMs).toFixed(2)} (recovery time in the report ${secs(rto)} s, ratio ${(rto / rawMs).toFixed(2)}; pre-checks before the run's start about ${secs(before)} s)`,
  );
  say(`${label} run steps:\n    ${stepTimes(r.report)}`);
  say(`${label} raw CLI steps: ${raw.map((s) => `${s.what} ${secs(s.ms)}`).join(', ')}`);
}

/** The checks every finished failover run shares: both objects done, in their groups' order. */
function itemsDone(report: RunReport) {
  expect(report.state).toBe('finished');
  expect(report.items.map((i) => [i.group, i.state])).toEqual([
    [1, 'done'],
    [2, 'done'],
  ]);
  const [img, vm] = report.items;
  expect(vm!.startedAt!).toBeGreaterThanOrEqual(img!.finishedAt!);
}

beforeAll(async () => {
  // scripts/test-all.sh owns the labs it booted (TANDEM_LABS_OWNED); elsewhere the locks say who may crash them.
  if (!process.env.CI && !process.env.TANDEM_LABS_OWNED) {
    for (const f of LOCKS)
      if (!(await lockHeld(f)))
        throw new Error(
          `this test crashes node1 and site-a: run it under both lab locks (flock ${LOCKS.join(' flock ')} npx vitest …)`,
        );
  }
  lab = await openLab(3);
  ceph = await openCephLab();
  a = ceph.adapter('site-a');
  b = ceph.adapter('site-b');
  for (const [name, ad] of [
    ['site-a', a],
    ['site-b', b],
  ] as const) {
    if ((await ad.getPoolMirrorInfo(POOL)).peers.length)
      throw new Error(
        `pool ${POOL} on ${name} is still paired: run \`bash scripts/lab/ceph-sites.sh unpair\``,
      );
  }
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-plan-lab-'));
  ({ app, caller, site } = await labApp(lab, { dataDir: dir }));
  for (const s of ceph.sites) {
    site[s.name] = (
      await caller.sites.create({
        name: s.name,
        kind: 'ceph',
        config: {
          access: 'local',
          siteName: s.name,
          cluster: s.cluster,
          confPath: s.conf,
          clientId: s.clientId,
          keyringPath: s.keyring,
        },
      })
    ).id;
  }
  made.vms.push(VM);
  await labScript('mkvm', 'node1', VM, '2', '32');
  made.paired = true;
  await cephLabScript('pair');
  made.images.push(IMG);
  await a.createImage(POOL, '', IMG, IMG_SIZE);
  await a.enableImageMirroring(POOL, '', IMG, 'snapshot');
  await writeImage(a, IMG, 0);
  await a.createMirrorSnapshot(POOL, '', IMG);
  const c = await caller.replicas.create({
    name: REPLICA,
    vmName: VM,
    sourceSiteId: site.node1!,
    targetSiteId: site.node2!,
    rootZpool: 'zones',
    sleepTimeSec: 3600,
    acceptRpoRisk: true,
  });
  replicaId = c.id;
  await finishedTask(app!, c.taskId);
  await replaying(b, IMG);
}, 600_000);

afterAll(async () => {
  // Power back first: everything below needs node1 and site-a.
  if (node1Crashed)
    await labScript('start', 'node1').catch((e: unknown) => console.warn(`[plan-lab] ${String(e)}`));
  if (siteACrashed)
    await cephLabScript('start', 'site-a').catch((e: unknown) => console.warn(`[plan-lab] ${String(e)}`));
  await server?.stop();
  await closeApp().catch(() => undefined);
  const kept = async (ad: CephCliAdapter) =>
    (await ad.listImages(POOL).catch(() => []))
      .map((i) => i.name)
      .filter((n) => made.images.some((m) => n.startsWith(`${m}-diverged-`)));
  for (const ad of [a, b])
    for (const img of made.images)
      await ad?.disableImageMirroring(POOL, '', img, { force: true }).catch(() => undefined);
  for (const ad of [a, b]) {
    if (!ad) continue;
    for (const img of [...made.images, ...(await kept(ad))]) {
      for (let i = 0; i < 15; i++) {
        try {
          await ad.removeImage(POOL, '', img);
          break;
        } catch (e) {
          if (/does not exist|not found/i.test((e as Error).message)) break;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    }
  }
  if (made.paired)
    await cephLabScript('unpair').catch((e: unknown) => console.warn(`[plan-lab] ${String(e)}`));
  for (const n of lab ? ['node1', 'node2', 'node3'] : []) {
    for (const vm of made.vms) {
      const left = await cleanVm(runner(n), vm, [TAG, ...made.testTags], ['zones']).catch((e: unknown) => [
        String(e),
      ]);
      if (left.length) console.warn(`[plan-lab] could not remove ${left.join(', ')} on ${n}`);
    }
  }
  await lab?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (figures.length) console.log(`[plan-lab] figures:\n${figures.join('\n')}`);
}, 600_000);

describe('recovery plans on the real labs', () => {
  let imgKey = '';

  it('a plan of the image (group 1) and the VM depending on it (group 2) is saved through the API', async () => {
    imgKey = objectKey({
      kind: 'rbd',
      protectedSiteId: site['site-a']!,
      recoverySiteId: site['site-b']!,
      pool: POOL,
      namespace: '',
      image: IMG,
      group: 1,
      dependsOn: [],
    });
    const plan = await caller.plans.create({
      name: PLAN,
      questionTimeoutSec: 10,
      items: [
        {
          kind: 'rbd',
          protectedSiteId: site['site-a']!,
          recoverySiteId: site['site-b']!,
          pool: POOL,
          namespace: '',
          image: IMG,
          group: 1,
          dependsOn: [],
        },
        // Readiness: a TCP port the VM's node must reach (node3's sshd; node3 never goes down here).
        {
          kind: 'replica',
          replicaId,
          group: 2,
          dependsOn: [imgKey],
          waitAfterStartSec: 0,
          readiness: { tcp: { host: '127.0.0.1', port: lab.node('node3').port }, timeoutSec: 30 },
        },
      ],
    });
    planId = plan.id;
    expect(plan.items.map((i) => [i.group, i.label])).toEqual([
      [1, `RBD image ${POOL}/${IMG} (site-a → site-b)`],
      [2, `VM ${VM}`],
    ]);
    const pre = await caller.plans.precheck({ id: planId, kind: 'planned' });
    expect(
      pre.canProceed,
      JSON.stringify(pre.items.map((i) => i.checks.filter((c) => c.status === 'block'))),
    ).toBe(true);
    expect(pre.maxDataLossSec).toBe(0);
  });

  it('test failover: copies and clones of the latest recovery points, the test VM without network beside production, which goes on replicating; the cleanup leaves nothing', async () => {
    // The VM gets a network interface, as a real one has; its definition is stored at the sync.
    const xml = (await runner('node1').run({ argv: ['virsh', 'dumpxml', '--inactive', VM] })).stdout;
    await runner('node1').run({ argv: ['virsh', 'destroy', VM] });
    await runner('node1').run({
      argv: ['virsh', 'define', '/dev/stdin'],
      stdin: xml.replace(
        '</devices>',
        "  <interface type='user'>\n      <model type='virtio'/>\n    </interface>\n  </devices>",
      ),
    });
    await runner('node1').run({ argv: ['virsh', 'start', '--paused', VM] });
    expect((await runner('node1').run({ argv: ['virsh', 'domiflist', VM] })).stdout).toMatch(/virtio/);
    await writeDisks('node1', VM, 2);
    await finishedTask(app!, (await caller.replicas.syncNow({ id: replicaId })).taskId);
    const synced = await md5s('node1');
    const { snapshotId } = await a.createMirrorSnapshot(POOL, '', IMG);
    await pollUntil(
      'the mirror snapshot copied on site-b',
      () => b.listImageSnapshots(POOL, '', IMG),
      (sn) =>
        sn.some(
          (x) => x.mirror && !x.mirror.primary && x.mirror.complete && x.mirror.primarySnapId === snapshotId,
        ),
      120_000,
      500,
    );
    const image = await a.imageChecksum(POOL, '', IMG);

    const pre = await caller.plans.precheck({ id: planId, kind: 'test' });
    expect(
      pre.canProceed,
      JSON.stringify(pre.items.map((i) => i.checks.filter((c) => c.status === 'block'))),
    ).toBe(true);
    const t0 = performance.now();
    const { runId, taskId } = await caller.plans.run({
      id: planId,
      kind: 'test',
      reason: 'quarterly DR test',
      confirm: PLAN,
    });
    const names = testNames(runId);
    made.testTags.push(names.tag);
    made.vms.push(names.vm(VM));
    await finishedTask(app!, taskId);
    const wallMs = performance.now() - t0;
    const report = await caller.plans.report({ id: runId });
    expect(report.items.map((i) => i.state)).toEqual(['done', 'done']);

    // The clones and the copy hold exactly what was replicated.
    const clones = [0, 1].map((i) => names.clone(`zones/${VM}-disk${i}`));
    const zfs2 = (
      await runner('node2').run({ argv: ['zfs', 'list', '-H', '-o', 'name,origin', '-r', 'zones'] })
    ).stdout;
    for (const c of clones)
      expect(zfs2).toMatch(new RegExp(`^${c}\\tzones/${VM}-disk[01]@tandem-${REPLICA}-`, 'm'));
    const cloneSums = (
      await runner('node2').run({ argv: ['md5sum', ...clones.map((c) => `/${c}/disk.img`)] })
    ).stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(/\s+/)[0]);
    expect(cloneSums).toEqual(synced);
    expect(await b.imageChecksum(POOL, '', names.rbdCopy(IMG))).toBe(image);
    // The test VM: on node2, on the clones, without an interface; production runs on node1 only.
    const testVm = names.vm(VM);
    expect((await runner('node2').run({ argv: ['virsh', 'domstate', testVm] })).stdout.trim()).toBe('paused');
    expect((await runner('node2').run({ argv: ['virsh', 'domiflist', testVm] })).stdout).not.toMatch(
      /virtio|user/,
    );
    expect((await runner('node2').run({ argv: ['virsh', 'domblklist', testVm] })).stdout).toContain(
      `/${clones[0]}/disk.img`,
    );
    expect(await liveOn()).toEqual(['node1']);
    expect(await primaryOn()).toEqual(['site-a']);
    expect(report.recoveryTimeMs).toBe(report.items[1]!.readyAt! - report.startedAt);
    expect(report.items.every((i) => i.recoveryPointAt !== null && i.dataLossSec !== null)).toBe(true);
    say(
      `test failover: run ${secs(wallMs)} s, test VM ready ${secs(report.recoveryTimeMs!)} s after the start; recovery points ${report.items.map((i) => `${i.dataLossSec} s`).join(' and ')} old`,
    );

    // Replication goes on during the test: new data reaches node2 and site-b.
    await writeDisks('node1', VM, 6);
    await finishedTask(app!, (await caller.replicas.syncNow({ id: replicaId })).taskId);
    const after = await md5s('node1');
    expect(await md5s('node2')).toEqual(after);
    expect(after).not.toEqual(synced);
    const image2 = await writeImage(a, IMG, 6);
    const snap2 = await a.createMirrorSnapshot(POOL, '', IMG);
    await pollUntil(
      'the next mirror snapshot copied on site-b',
      () => b.listImageSnapshots(POOL, '', IMG),
      (sn) =>
        sn.some(
          (x) =>
            x.mirror && !x.mirror.primary && x.mirror.complete && x.mirror.primarySnapId === snap2.snapshotId,
        ),
      120_000,
      500,
    );
    expect(image2).not.toBe(image);

    const t1 = performance.now();
    const clean = await caller.plans.cleanupTest({ runId });
    await finishedTask(app!, clean.taskId);
    say(`test cleanup: ${secs(performance.now() - t1)} s`);
    expect(
      (await runner('node2').run({ argv: ['zfs', 'list', '-H', '-o', 'name', '-r', 'zones'] })).stdout,
    ).not.toContain(names.tag);
    expect((await runner('node2').run({ argv: ['virsh', 'list', '--all', '--name'] })).stdout).not.toContain(
      testVm,
    );
    expect((await b.listImages(POOL)).map((i) => i.name)).not.toContain(names.rbdCopy(IMG));
    // The holds are gone on both nodes (`zfs holds` needs pyzfs on zfs-fuse: a release says it).
    const snap = (report.items[1]!.created as { snapshot: string }).snapshot;
    for (const n of ['node1', 'node2']) {
      for (const i of [0, 1]) {
        const r = await runner(n).run({
          argv: ['zfs', 'release', names.tag, `zones/${VM}-disk${i}@${snap}`],
          allowFailure: true,
        });
        expect(r.exitCode).not.toBe(0);
        expect(r.stderr).toMatch(/no such tag|could not find|does not exist/i);
      }
    }
    expect((await caller.plans.report({ id: runId })).cleanedAt).not.toBeNull();
    // Still replicating after the cleanup.
    await finishedTask(app!, (await caller.replicas.syncNow({ id: replicaId })).taskId);
    expect(await liveOn()).toEqual(['node1']);
  }, 600_000);

  it('planned migration: the VM on node2 only, disks and image as they were, no data lost; reprotect; fail back', async () => {
    // Writes since the last sync and the last mirror snapshot: the run's final sync and demotion carry them.
    await writeDisks('node1', VM, 4);
    const disks = await md5s('node1');
    const image = await writeImage(a, IMG, 4);
    expect(await liveOn()).toEqual(['node1']);

    // The same work by hand on objects of its own, with as much new data, for the RTO comparison.
    const rawXml = await rawObjects(RAWP, RAWP_IMG);
    await replaying(b, RAWP_IMG);
    await writeDisks('node1', RAWP, 4);
    const rawDisks = await md5s('node1', RAWP);
    const rawImage = await writeImage(a, RAWP_IMG, 4);
    const raw = await rawPlanned(RAWP, RAWP_IMG, rawXml);
    expect(await liveOn(RAWP)).toEqual(['node2']);
    expect(await md5s('node2', RAWP)).toEqual(rawDisks);
    expect(await primaryOn(RAWP_IMG)).toEqual(['site-b']);
    expect(await b.imageChecksum(POOL, '', RAWP_IMG)).toBe(rawImage);

    const r = await run('planned', 'forward', 'maintenance of node1 and site-a');
    itemsDone(r.report);
    expect(await liveOn()).toEqual(['node2']);
    expect(await primaryOn()).toEqual(['site-b']);
    expect(await md5s('node2')).toEqual(disks);
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(image);
    expect(r.report).toMatchObject({ kind: 'planned', direction: 'forward', dataLossSec: 0 });
    expect(r.report.items.map((i) => i.dataLossSec)).toEqual([0, 0]);
    expect(r.report.recoveryTimeMs).toBeGreaterThan(0);
    expect(r.report.recoveryTimeMs).toBe(r.report.items[1]!.readyAt! - r.report.startedAt);
    compare('planned', r, raw);

    // Reprotect: node1 becomes the VM's replica; the image already replicates back (nothing to do).
    const re = await run('reprotect', 'forward', 'protect the recovery side');
    expect(re.report.items.map((i) => i.state)).toEqual(['done', 'done']);
    expect(app!.replicas.row(replicaId)).toMatchObject({
      state: 'idle',
      sourceSiteId: site.node2,
      targetSiteId: site.node1,
    });
    expect(await md5s('node1')).toEqual(disks);
    await replaying(a, IMG);
    say(`reprotect: run ${secs(re.wallMs)} s`);

    // Fail back: new data on the recovery side goes home.
    await writeDisks('node2', VM, 8);
    const disks2 = await md5s('node2');
    const image2 = await writeImage(b, IMG, 8);
    const back = await run('planned', 'back', 'node1 and site-a are back');
    itemsDone(back.report);
    expect(back.report.dataLossSec).toBe(0);
    expect(await liveOn()).toEqual(['node1']);
    expect(await primaryOn()).toEqual(['site-a']);
    expect(await md5s('node1')).toEqual(disks2);
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(image2);
    say(`fail back: run ${secs(back.wallMs)} s (recovery time ${secs(back.report.recoveryTimeMs ?? NaN)} s)`);
    // Production again: protected node1 → node2 and site-a → site-b.
    const again = await run('reprotect', 'back', 'protect production again');
    expect(again.report.items.map((i) => i.state)).toEqual(['done', 'done']);
    expect(app!.replicas.row(replicaId)).toMatchObject({
      state: 'idle',
      sourceSiteId: site.node1,
      targetSiteId: site.node2,
    });
    await replaying(b, IMG);
  }, 900_000);

  it('a run cut off by a crash while the VM fails over resumes on a restarted server: the same failover task goes on, none is started twice', async () => {
    await closeApp();
    server = new TandemServer(PORT, dir, PASSWORD, {
      TANDEM_SCHEDULER: '0',
      TANDEM_COLLECT: '0',
      TANDEM_ALERTS: '0',
    });
    await server.start(FAULT);
    await server.login();
    const db = new Database(path.join(dir, 'tandem.db'), { readonly: true, fileMustExist: true });
    try {
      await writeDisks('node1', VM, 12);
      const disks = await md5s('node1');
      const image = await writeImage(a, IMG, 12);
      const { runId, taskId } = await server.call<{ runId: number; taskId: number }>('plans.run', {
        id: planId,
        kind: 'planned',
        reason: 'crash drill',
        confirm: PLAN,
      });
      expect(await server.exited(300_000), server.log.slice(-3000)).toBe('SIGKILL');
      // Cut off: the image switched, the VM stopped on node1 and not yet started on node2.
      const children = () =>
        db
          .prepare(
            "select id, state, attempts from tasks where kind = 'replica.failover' and id > ? order by id",
          )
          .all(taskId) as { id: number; state: string; attempts: number }[];
      expect(children()).toHaveLength(1);
      const child = children()[0]!.id;
      expect(await liveOn()).toEqual([]);
      expect(await primaryOn()).toEqual(['site-b']);

      await server.start();
      await server.login();
      type Task = { id: number; state: string; attempts: number; error: string | null };
      const get = async (id: number) =>
        await server!.query<{ task: Task; logs: { message: string }[] }>('tasks.get', { id });
      expect((await get(taskId)).task.state).toBe('interrupted');
      expect((await get(child)).task.state).toBe('interrupted');
      await server.call('tasks.resume', { id: taskId, confirm: PLAN });
      const ended = await pollUntil(
        'the resumed run ends',
        () => get(taskId),
        (t) => !['waiting', 'running', 'question'].includes(t.task.state),
        300_000,
        500,
      );
      expect(ended.task.state, `${ended.task.error}\n${ended.logs.map((l) => l.message).join('\n')}`).toBe(
        'finished',
      );
      expect(ended.task.attempts).toBe(2);
      expect(children()).toEqual([{ id: child, state: 'finished', attempts: 2 }]);
      const report = await server.query<RunReport>('plans.report', { id: runId });
      itemsDone(report);
      expect(report.items[1]!.taskId).toBe(child);
      expect(report.dataLossSec).toBe(0);
      expect(await liveOn()).toEqual(['node2']);
      expect(await primaryOn()).toEqual(['site-b']);
      expect(await md5s('node2')).toEqual(disks);
      expect(await b.imageChecksum(POOL, '', IMG)).toBe(image);
      say(
        `crash drill: resumed run finished, VM failover task #${child} resumed (attempts 2), recovery time ${secs(report.recoveryTimeMs ?? NaN)} s`,
      );
    } finally {
      db.close();
      await server.stop();
      server = null;
      openApp();
    }
    // Back to production from the in-process app over the same data.
    const re = await run('reprotect', 'forward', 'protect the recovery side');
    expect(re.report.items.map((i) => i.state)).toEqual(['done', 'done']);
    await replaying(a, IMG);
    const disks = await md5s('node2');
    const back = await run('planned', 'back', 'back to production');
    itemsDone(back.report);
    expect(await liveOn()).toEqual(['node1']);
    expect(await primaryOn()).toEqual(['site-a']);
    expect(await md5s('node1')).toEqual(disks);
    await run('reprotect', 'back', 'protect production again');
    expect(app!.replicas.row(replicaId)).toMatchObject({
      state: 'idle',
      sourceSiteId: site.node1,
      targetSiteId: site.node2,
    });
    await replaying(b, IMG);
  }, 900_000);

  it('disaster: node1 and site-a lose power; planned is refused, the disaster recovery runs and measures the loss; reprotect fences and resyncs; fail back', async () => {
    // The recovery points: a sync of the VM and a mirror snapshot of the image, both copied.
    await finishedTask(app!, (await caller.replicas.syncNow({ id: replicaId })).taskId);
    const synced = await md5s('node1');
    const lastSyncAt = app!.replicas.row(replicaId).lastSyncAt!.getTime();
    const { snapshotId } = await a.createMirrorSnapshot(POOL, '', IMG);
    await pollUntil(
      'the mirror snapshot copied on site-b',
      () => b.listImageSnapshots(POOL, '', IMG),
      (s) =>
        s.some(
          (x) => x.mirror && !x.mirror.primary && x.mirror.complete && x.mirror.primarySnapId === snapshotId,
        ),
      120_000,
      500,
    );
    const copiedImage = await a.imageChecksum(POOL, '', IMG);
    // The raw baseline's objects, protected the same way.
    const rawXml = await rawObjects(RAWD, RAWD_IMG);
    await replaying(b, RAWD_IMG);
    const rawDisks = await md5s('node1', RAWD);
    const rawImage = await a.imageChecksum(POOL, '', RAWD_IMG);
    // Writes that the disaster loses. zfs-fuse keeps written blocks in memory until its
    // transaction group syncs, and a kill -9 loses them: a snapshot (destroyed at once) syncs it,
    // as the seconds before a real power loss would.
    await writeDisks('node1', VM, 16);
    for (const i of [0, 1]) {
      await runner('node1').run({ argv: ['zfs', 'snapshot', `zones/${VM}-disk${i}@flush`] });
      await runner('node1').run({ argv: ['zfs', 'destroy', `zones/${VM}-disk${i}@flush`] });
    }
    const lostDisks = await md5s('node1');
    const lostImage = await writeImage(a, IMG, 16);
    const lostAt = Date.now();

    node1Crashed = true;
    await labScript('crash', 'node1');
    siteACrashed = true;
    await cephLabScript('crash', 'site-a');

    const planned = await caller.plans.precheck({ id: planId, kind: 'planned' });
    expect(planned.canProceed).toBe(false);
    expect(planned.items.map((i) => i.checks.find((c) => c.id === 'mode')?.message)).toEqual([
      expect.stringMatching(/site-a does not answer: run a disaster recovery instead/),
      expect.stringMatching(/run a disaster recovery instead/),
    ]);
    await expect(
      caller.plans.run({ id: planId, kind: 'planned', reason: 'not possible', confirm: PLAN }),
    ).rejects.toThrow(/pre-checks do not pass/);
    const dr = await caller.plans.precheck({ id: planId, kind: 'disaster' });
    expect(
      dr.canProceed,
      JSON.stringify(dr.items.map((i) => i.checks.filter((c) => c.status === 'block'))),
    ).toBe(true);
    expect(dr.splitBrainRisk).toBe(0);

    const raw = await rawDisaster(RAWD, RAWD_IMG, rawXml);
    expect(await liveOn(RAWD)).toEqual(['node2']);
    expect(await md5s('node2', RAWD)).toEqual(rawDisks);
    expect(await b.imageChecksum(POOL, '', RAWD_IMG)).toBe(rawImage);

    const r = await run('disaster', 'forward', 'node1 and site-a lost power');
    itemsDone(r.report);
    expect(await liveOn()).toEqual(['node2']);
    expect(await primaryOn()).toEqual(['site-b']);
    // The data of the recovery points, not the writes after them.
    expect(await md5s('node2')).toEqual(synced);
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(copiedImage);
    // The data lost, per object: the run's start minus the recovery point it used.
    const [img, vm] = r.report.items;
    expect(vm!.recoveryPointAt).toBe(lastSyncAt);
    expect(img!.recoveryPointAt).not.toBeNull();
    expect(img!.recoveryPointAt!).toBeLessThanOrEqual(lostAt);
    for (const it of [img!, vm!])
      expect(it.dataLossSec).toBe(Math.max(0, Math.round((r.report.startedAt - it.recoveryPointAt!) / 1000)));
    expect(r.report.dataLossSec).toBe(Math.max(img!.dataLossSec!, vm!.dataLossSec!));
    expect(r.report.dataLossSec).toBeGreaterThan(0);
    compare('disaster', r, raw);
    say(
      `disaster: data lost ${r.report.dataLossSec} s (image ${img!.dataLossSec} s, VM ${vm!.dataLossSec} s)`,
    );

    // Power back. node1's libvirt starts the VM again, as an autostart would: two copies live.
    await labScript('start', 'node1');
    node1Crashed = false;
    await cephLabScript('start', 'site-a');
    siteACrashed = false;
    await runner('node1').run({ argv: ['virsh', 'start', '--paused', VM] });
    expect(await liveOn()).toEqual(['node1', 'node2']);
    expect(await md5s('node1')).toEqual(lostDisks);
    await pollUntil(
      'the image is primary on both sites',
      () => primaryOn(),
      (p) => p.length === 2,
      60_000,
    );
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(lostImage);

    // Reprotect: the old master is fenced and becomes the replica (its writes kept aside); the
    // image on site-a is resynced from site-b after a protective copy.
    const re = await run('reprotect', 'forward', 'protect the recovery side after the disaster');
    expect(re.report.items.map((i) => [i.state, i.taskName])).toEqual([
      ['done', expect.stringMatching(/^Resync image /)],
      ['done', expect.stringMatching(/^Reinit /)],
    ]);
    expect(await liveOn()).toEqual(['node2']);
    expect(app!.replicas.row(replicaId)).toMatchObject({
      state: 'idle',
      sourceSiteId: site.node2,
      targetSiteId: site.node1,
    });
    expect(await md5s('node1')).toEqual(await md5s('node2'));
    await replaying(a, IMG);
    expect(await primaryOn()).toEqual(['site-b']);
    const copies = (await a.listImages(POOL))
      .map((i) => i.name)
      .filter((n) => n.startsWith(`${IMG}-diverged-`));
    expect(copies).toHaveLength(1);
    expect(await a.imageChecksum(POOL, '', copies[0]!)).toBe(lostImage);
    // node1's writes after the recovery point are kept aside there.
    const diverged = (
      await runner('node1').run({ argv: ['zfs', 'list', '-H', '-o', 'name,mountpoint', '-r', 'zones'] })
    ).stdout
      .split('\n')
      .map((l) => l.split('\t'))
      .filter(([name]) => name!.startsWith(`zones/${VM}-disk`) && name!.includes('-diverged-'))
      .sort();
    expect(diverged).toHaveLength(2);
    expect(
      await Promise.all(
        diverged.map(([, mp]) =>
          runner('node1')
            .run({ argv: ['md5sum', `${mp}/disk.img`] })
            .then((o) => o.stdout.split(/\s+/)[0]),
        ),
      ),
    ).toEqual(lostDisks);
    say(`reprotect after the disaster: run ${secs(re.wallMs)} s (${stepTimes(re.report)})`);

    // Fail back.
    const disks = await md5s('node2');
    const image = await b.imageChecksum(POOL, '', IMG);
    const back = await run('planned', 'back', 'home again after the disaster');
    itemsDone(back.report);
    expect(back.report.dataLossSec).toBe(0);
    expect(await liveOn()).toEqual(['node1']);
    expect(await primaryOn()).toEqual(['site-a']);
    expect(await md5s('node1')).toEqual(disks);
    expect(await a.imageChecksum(POOL, '', IMG)).toBe(image);
    expect((await caller.plans.reports({ planId })).map((x) => [x.kind, x.direction, x.state])).toEqual([
      ['planned', 'back', 'finished'],
      ['reprotect', 'forward', 'finished'],
      ['disaster', 'forward', 'finished'],
      ['reprotect', 'back', 'finished'],
      ['planned', 'back', 'finished'],
      ['reprotect', 'forward', 'finished'],
      ['planned', 'forward', 'finished'],
      ['reprotect', 'back', 'finished'],
      ['planned', 'back', 'finished'],
      ['reprotect', 'forward', 'finished'],
      ['planned', 'forward', 'finished'],
      ['test-cleanup', 'forward', 'finished'],
      ['test', 'forward', 'finished'],
    ]);
  }, 1_200_000);
});
