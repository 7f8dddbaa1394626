import crypto, { createHmac } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import type { App } from '@/server/app';
import type { ProtectedObject } from '@/server/domain/protection/types';
import type { createCaller } from '@/server/trpc/root';
import { cephLabScript, openCephLab, removeTestImage, pollUntil, type CephLab } from './ceph-lab';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import { finishedTask, labApp, writeDisk } from './lab-app';

/**
 * Protection on the real labs: a VM replica between two zfs-fuse nodes and a snapshot-mirrored
 * RBD image between the two Ceph clusters, each with an RPO of 15 s. Replication is stopped
 * (the replica paused; site-b's rbd-mirror daemon stopped) until the data-loss window passes
 * twice the RPO: the overview shows a breach, with the reason, the `rpo-breach` alert fires and a
 * webhook receiver in the test gets it, signed. Replication resumed: ok again, the alert resolved.
 */
const VM = `pl${process.pid % 10000}`;
const TAG = 'tandem-pl';
const POOL = 'rbd';
const IMG = `prot-${crypto.randomBytes(3).toString('hex')}`;
const MiB = 1024 * 1024;
const RPO = 15;

let lab: Lab;
let ceph: CephLab;
let app: App;
let caller: ReturnType<typeof createCaller>;
let site: Record<string, number>;
let a: CephCliAdapter;
let b: CephCliAdapter;
let mirrorStopped = false;

/** A webhook receiver: every POST, with its headers and body. */
const HOOK_PORT = Number(process.env.PROTECTION_LAB_HOOK_PORT ?? 3229);
const received: { event: string; payload: { rule?: string; subject?: string }; signed: boolean }[] = [];
let hookSecret = '';
const hook = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c: Buffer) => (body += c.toString()));
  req.on('end', () => {
    const ts = String(req.headers['x-tandem-timestamp']);
    const signed =
      req.headers['x-tandem-signature'] ===
      `sha256=${createHmac('sha256', hookSecret).update(`${ts}.${body}`).digest('hex')}`;
    received.push({
      event: String(req.headers['x-tandem-event']),
      payload: (JSON.parse(body) as { alert: { rule?: string; subject?: string } | null }).alert ?? {},
      signed,
    });
    res.writeHead(200).end('ok');
  });
});

/** Evaluates the alert rules now and waits for their deliveries; the alerts of `subject`. */
async function alertsOf(subject: string) {
  await app.alerts.evaluate();
  // The evaluation starts the deliveries in the background: wait for them, then for any still due.
  await app.alerts.delivery.settled();
  await app.alerts.delivery.process();
  return app.alerts.list({ limit: 50, offset: 0 }).rows.filter((r) => r.subject === subject);
}

/** The object of `kind` whose name matches, as the overview shows it now (the Ceph clusters asked first, as the collector does). */
async function row(kind: ProtectedObject['kind'], name: string): Promise<ProtectedObject | undefined> {
  if (kind === 'rbd-image') {
    await caller.ceph.status({ siteId: site['site-a']! });
    await caller.ceph.status({ siteId: site['site-b']! });
  } else app.replicas.markSeen(site.node1!); // what the scheduler does at every tick: the master still answers
  app.protection.invalidate();
  return (await caller.protection.list({ kind, q: name, limit: 10 })).rows.find((r) => r.name === name);
}

/** The image's row, after a new mirror snapshot on site-a when the last is 8 s old (so that a copy within the RPO can be seen). */
let lastSnapAt = 0;
async function imageRow(name: string) {
  if (Date.now() - lastSnapAt > 8_000) {
    await a.createMirrorSnapshot(POOL, '', IMG);
    lastSnapAt = Date.now();
  }
  return row('rbd-image', name);
}

beforeAll(async () => {
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
  await labScript('mkvm', 'node1', VM, '1', '16');
  ({ app, caller, site } = await labApp(lab));
  await new Promise<void>((r) => hook.listen(HOOK_PORT, '127.0.0.1', () => r()));
  hookSecret = (
    await caller.alerts.createChannel({
      kind: 'webhook',
      name: 'lab-hook',
      url: `http://127.0.0.1:${HOOK_PORT}/tandem`,
    })
  ).secret!;
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
  await cephLabScript('pair');
  await a.createImage(POOL, '', IMG, 16 * MiB);
  await a.enableImageMirroring(POOL, '', IMG, 'snapshot');
}, 600_000);

afterAll(async () => {
  hook.close();
  hook.closeAllConnections();
  await app?.tasks.shutdown();
  if (mirrorStopped)
    await cephLabScript('restart-mirror', 'site-b').catch((e: unknown) =>
      console.warn(`[protection-lab] ${String(e)}`),
    );
  await removeTestImage([a, b], POOL, IMG);
  if (ceph) await cephLabScript('unpair');
  for (const runner of lab ? [lab.runner('node1'), lab.runner('node2')] : []) {
    const left = await cleanVm(runner, VM, [TAG]);
    if (left.length) console.warn(`[protection-lab] could not remove ${left.join(', ')}`);
  }
  await app?.ssh.closeAll();
  await lab?.close();
}, 600_000);

describe('protection at a glance on the real labs', () => {
  it('a paused lab replica goes from ok to breach past twice its RPO, and back to ok once it syncs', async () => {
    const res = await caller.replicas.create({
      name: 'pl',
      vmName: VM,
      sourceSiteId: site.node1!,
      targetSiteId: site.node2!,
      rootZpool: 'zones',
      sleepTimeSec: 3600,
      acceptRpoRisk: true,
    });
    await finishedTask(app, res.taskId);
    await caller.protection.setRpo({ scope: { kind: 'object', subject: `replica:${res.id}` }, seconds: RPO });
    const name = `${VM} (pl)`;
    const ok = await row('vm-replica', name);
    expect(ok).toMatchObject({
      health: 'ok',
      source: { name: 'node1' },
      target: { name: 'node2' },
      rpoSec: RPO,
      rpoFrom: { label: 'this object' },
    });
    expect(ok!.windowSec).toBeLessThanOrEqual(RPO);

    await caller.replicas.update({ id: res.id, enabled: false });
    const warn = await pollUntil(
      'the paused replica is beyond its RPO',
      () => row('vm-replica', name),
      (r) => r?.health === 'warning' || r?.health === 'breach',
      60_000,
    );
    expect(warn!.windowSec).toBeGreaterThan(RPO);
    // Written on the master since the recovery point: measured on demand, then shown on the row.
    await writeDisk(lab.runner('node1'), `/zones/${VM}-disk0/disk.img`, 6, 4);
    const risk = await caller.protection.bytesAtRisk({ subject: `replica:${res.id}` });
    expect(risk.snapshot).toBe(app.replicas.get(res.id).lastSnapshot);
    expect(risk.bytes).toBeGreaterThanOrEqual(6 * MiB * 0.95);
    expect(risk.bytes).toBeLessThanOrEqual(risk.maxBytes!);
    expect(risk.maxBytes).toBeLessThan(16 * MiB);
    expect(risk.note).toMatch(/since .* on node1|on node1 since/);
    expect((await row('vm-replica', name))!.bytesAtRisk).toBe(risk.bytes);
    const breach = await pollUntil(
      'the paused replica breaches its RPO',
      () => row('vm-replica', name),
      (r) => r?.health === 'breach',
      60_000,
    );
    expect(breach).toMatchObject({ state: 'paused', reason: 'replication is paused' });
    expect(breach!.windowSec).toBeGreaterThan(2 * RPO);
    const page = await caller.protection.list({ health: 'breach' });
    expect(page.rows.map((r) => r.subject)).toContain(`replica:${res.id}`);
    expect((await caller.protection.exposure()).find((e) => e.site.name === 'node1')).toMatchObject({
      protectedObjects: 1,
      beyondRpo: 1,
    });
    // The breach alert fires and the webhook receives it, signed with the channel's secret.
    const subject = `replica:${res.id}`;
    expect((await alertsOf(subject)).filter((x) => x.state === 'firing').map((x) => x.rule)).toEqual([
      'rpo-breach',
    ]);
    const sent = received.find(
      (r) => r.payload.subject === subject && r.payload.rule === 'rpo-breach' && r.event === 'firing',
    );
    expect(sent, JSON.stringify(received)).toBeTruthy();
    expect(sent!.signed).toBe(true);

    await caller.replicas.update({ id: res.id, enabled: true });
    await finishedTask(app, (await caller.replicas.syncNow({ id: res.id })).taskId);
    const again = await row('vm-replica', name);
    expect(again!.health).toBe('ok');
    expect(again!.windowSec).toBeLessThanOrEqual(RPO);
    // Resolved, and the receiver is told. An hour between syncs cannot keep a 15 s RPO: the
    // predicted breach fires instead (the next sync is due after the window passes the RPO).
    expect((await alertsOf(subject)).filter((x) => x.state === 'firing').map((x) => x.rule)).toEqual([
      'rpo-predicted',
    ]);
    expect(again!.predictedReason).toMatch(/a sync cycle takes 60 min .* against an RPO of 15 s/);
    expect(
      received.some(
        (r) =>
          r.payload.subject === subject &&
          r.payload.rule === 'rpo-breach' &&
          r.event === 'resolved' &&
          r.signed,
      ),
    ).toBe(true);
  });

  it('a mirrored lab image breaches its RPO while site-b’s rbd-mirror is stopped, and recovers when it runs again', async () => {
    const name = `${POOL}/${IMG}`;
    // The first mirror snapshot copied: the window is measured from site-b's status.
    await a.createMirrorSnapshot(POOL, '', IMG);
    const first = await pollUntil(
      'site-b reports a copied snapshot of the image',
      () => row('rbd-image', name),
      (r) => r?.windowSec !== null && r?.windowSec !== undefined,
      180_000,
      2_000,
    );
    expect(first).toMatchObject({
      source: { name: 'site-a' },
      target: { name: 'site-b' },
      mode: 'snapshot',
      pool: POOL,
      namespace: '',
    });
    await caller.protection.setRpo({ scope: { kind: 'object', subject: first!.subject }, seconds: RPO });
    const ok = await pollUntil(
      'the image is within its RPO',
      () => imageRow(name),
      (r) => r?.health === 'ok',
      120_000,
      2_000,
    );
    expect(ok!.rpoFrom.label).toBe('this object');

    await cephLabScript('stop-mirror', 'site-b');
    mirrorStopped = true;
    await a.writeImage(POOL, '', IMG, 0, crypto.randomBytes(MiB));
    const breach = await pollUntil(
      'the image breaches its RPO while nothing copies it',
      () => imageRow(name),
      (r) => r?.health === 'breach',
      180_000,
      2_000,
    );
    expect(breach!.windowSec).toBeGreaterThan(2 * RPO);
    expect(
      (await caller.protection.list({ health: 'breach', kind: 'rbd-image' })).rows.map((r) => r.subject),
    ).toContain(first!.subject);
    expect((await alertsOf(first!.subject)).filter((x) => x.state === 'firing').map((x) => x.rule)).toContain(
      'rpo-breach',
    );
    expect(
      received.some(
        (r) =>
          r.payload.subject === first!.subject &&
          r.payload.rule === 'rpo-breach' &&
          r.event === 'firing' &&
          r.signed,
      ),
    ).toBe(true);

    await cephLabScript('restart-mirror', 'site-b');
    mirrorStopped = false;
    const back = await pollUntil(
      'the image is within its RPO again',
      () => imageRow(name),
      (r) => r?.health === 'ok',
      180_000,
      2_000,
    );
    expect(back!.windowSec).toBeLessThanOrEqual(RPO);
    // No schedule takes mirror snapshots of the image (the test takes them): a breach is predicted, not firing.
    expect(
      (await alertsOf(first!.subject))
        .filter((x) => x.state === 'firing' && x.rule.startsWith('rpo-'))
        .map((x) => x.rule),
    ).toEqual(['rpo-predicted']);
    expect(back!.predictedReason).toMatch(/no mirror-snapshot schedule applies to this image/);
    expect(
      received.some(
        (r) =>
          r.payload.subject === first!.subject && r.payload.rule === 'rpo-breach' && r.event === 'resolved',
      ),
    ).toBe(true);
  });
});
