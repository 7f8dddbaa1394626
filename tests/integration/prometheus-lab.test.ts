import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { cephLabScript, openCephLab } from './ceph-lab';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import { Prometheus, until as untilSeen } from './prometheus';
import { TandemServer } from './server';

/**
 * A real Prometheus scrapes a production Tandem server registered with the real labs (through the
 * API, like an administrator): its query API returns the data-loss window of a VM replica between
 * two lab nodes and of an RBD image mirrored (snapshot mode) from site-a to site-b.
 */
const PORT = 3261;
const PROM_PORT = 9092;
const PASSWORD = 'prom-lab-admin-password';
const VM = `pm${process.pid % 10000}`;
const REPLICA = 'prom';
const POOL = 'rbd';
const IMG = `prom-${crypto.randomBytes(3).toString('hex')}`;
const MiB = 1024 * 1024;

let lab: Lab;
let a: CephCliAdapter;
let b: CephCliAdapter;
let dir: string;
let server: TandemServer;
let prom: Prometheus;
const id: Record<string, number> = {};
let replicaId = 0;
let createdAt = 0;

const until = <T>(what: string, fn: () => Promise<T | undefined>, timeoutMs?: number) =>
  untilSeen(what, fn, timeoutMs, () => prom?.log ?? '');

beforeAll(async () => {
  lab = await openLab(3);
  const ceph = await openCephLab();
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
  await cephLabScript('pair');
  await a.createImage(POOL, '', IMG, 16 * MiB);
  await a.writeImage(POOL, '', IMG, 0, crypto.randomBytes(MiB));
  await a.enableImageMirroring(POOL, '', IMG, 'snapshot');
  await labScript('mkvm', 'node1', VM, '1', '16');

  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-prom-lab-'));
  server = new TandemServer(PORT, path.join(dir, 'data'), PASSWORD);
  prom = new Prometheus(PROM_PORT, dir, `127.0.0.1:${PORT}`);
  await server.start();
  await server.login();
  const { registerLab } = await import(path.resolve(__dirname, '../../scripts/lab/register.mjs'));
  await registerLab(server.base, 'admin', PASSWORD, { nodes: true, ceph: true });
  for (const s of await server.query<{ id: number; name: string }[]>('sites.list')) id[s.name] = s.id;
}, 600_000);

afterAll(async () => {
  await prom?.stop();
  await server?.stop();
  if (lab) {
    const left: string[] = [];
    for (const n of ['node1', 'node2'])
      left.push(...(await cleanVm(lab.runner(n), VM, [`tandem-${REPLICA}`], ['zones'])));
    if (left.length) console.warn(`[prom-lab] could not remove ${left.join(', ')}`);
    await lab.close();
  }
  if (a && b) {
    await a.disableImageMirroring(POOL, '', IMG, { force: true }).catch(() => undefined);
    for (const ad of [b, a]) {
      for (let i = 0; i < 15; i++) {
        try {
          await ad.removeImage(POOL, '', IMG);
          break;
        } catch (e) {
          if (/does not exist|No such file/.test((e as Error).message)) break;
          await new Promise((r) => setTimeout(r, 2000));
        }
      }
    }
    await cephLabScript('unpair');
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 300_000);

describe('Prometheus scraping /api/metrics of a console on the real labs', () => {
  it('returns the data-loss window of a lab replica and of a lab image', async () => {
    createdAt = Date.now();
    const c = await server.call<{ id: number; taskId: number }>('replicas.create', {
      name: REPLICA,
      vmName: VM,
      sourceSiteId: id.node1,
      targetSiteId: id.node2,
      rootZpool: 'zones',
      sleepTimeSec: 30,
    });
    replicaId = c.id;
    const ended = await until(
      'the initial sync has ended',
      async () => {
        const t = await server.query<{ task: { state: string; error: string | null } }>('tasks.get', {
          id: c.taskId,
        });
        return ['waiting', 'running', 'question'].includes(t.task.state) ? undefined : t.task;
      },
      300_000,
    );
    expect(ended).toMatchObject({ state: 'finished', error: null });

    const { token } = await server.call<{ token: string }>('apiTokens.create', {
      name: 'prometheus',
      scope: 'metrics',
    });
    prom.start(token);
    const up = await until('the target is up', async () => {
      const t = await prom.scraped();
      return t?.health === 'up' ? t : undefined;
    });
    console.log(`[prom-lab] first scrape seen up took ${(up.lastScrapeDuration * 1000).toFixed(1)} ms`);

    const rep = await until(
      'the replica window',
      async () => (await prom.query(`tandem_data_loss_window_seconds{subject="replica:${replicaId}"}`))[0],
    );
    expect(rep.metric).toMatchObject({ kind: 'vm-replica', source: 'node1', target: 'node2' });
    expect(Number(rep.value[1])).toBeGreaterThanOrEqual(0);
    expect(Number(rep.value[1])).toBeLessThanOrEqual((Date.now() - createdAt) / 1000 + 1);

    // The image's window is known once site-b has a mirror snapshot completely copied.
    const img = await until(
      "the lab image's window",
      async () =>
        (await prom.query(`tandem_data_loss_window_seconds{kind="rbd-image",name="${POOL}/${IMG}"}`))[0],
      240_000,
    );
    expect(img.metric).toMatchObject({
      source: 'site-a',
      target: 'site-b',
      subject: `rbd:${[id['site-a']!, id['site-b']!].sort((x, y) => x - y).join('-')}/${POOL}//${IMG}`,
    });
    expect(Number(img.value[1])).toBeGreaterThanOrEqual(0);
    expect(Number(img.value[1])).toBeLessThan(3_600);
    const later = await prom.scraped();
    expect(later?.health).toBe('up');
    console.log(`[prom-lab] a later scrape took ${(later!.lastScrapeDuration * 1000).toFixed(1)} ms`);
    // The lab sites are known to be up.
    const sitesUp = await until('the lab sites up', async () => {
      const r = await prom.query('tandem_site_up == 1');
      return ['node1', 'node2', 'site-a', 'site-b'].every((n) => r.some((s) => s.metric.site === n))
        ? r
        : undefined;
    });
    expect(sitesUp.length).toBeGreaterThanOrEqual(4);
  }, 900_000);
});
