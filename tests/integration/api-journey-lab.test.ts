import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { registerLab } from '../../scripts/lab/register.mjs';
import { cephLabScript, openCephLab, removeTestImage, type CephLab } from './ceph-lab';
import { cleanVm, openLab, labScript, type Lab } from './lab';
import { TandemServer } from './server';

/**
 * The REST API on the real labs, as a runbook calls it: scripts/lab/api-journey.sh (curl and a
 * token, nothing else) does Danube's replica journey on the node lab and croit's mirroring journey
 * on the Ceph lab against a production server, checking every status and answer.
 */
const RUN = crypto.randomBytes(3).toString('hex');
const VM = `api${RUN}`;
const IMG = `api-${RUN}`;
const POOL = 'rbd';
const PASSWORD = `api-journey-${RUN}`;
const SCRIPT = path.resolve(__dirname, '../../scripts/lab/api-journey.sh');

let lab: Lab;
let ceph: CephLab;
let a: CephCliAdapter;
let b: CephCliAdapter;
let server: TandemServer;
let dir = '';
let token = '';
let paired = false;

function journey(...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [SCRIPT, ...args],
      {
        env: { ...process.env, TANDEM_URL: server.base, TANDEM_TOKEN: token },
        timeout: 900_000,
        maxBuffer: 8 * 1024 * 1024,
      },
      (e, stdout, stderr) => {
        const out = `${stdout}${stderr}`;
        console.log(out.trim());
        resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out });
      },
    );
  });
}

beforeAll(async () => {
  lab = await openLab(2);
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
  await labScript('mkvm', 'node1', VM, '2', '16');
  await a.createImage(POOL, '', IMG, 16 * 1024 * 1024);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-api-journey-'));
  server = new TandemServer(Number(process.env.API_JOURNEY_PORT ?? 3226), dir, PASSWORD);
  await server.start();
  await server.login();
  await registerLab(server.base, 'admin', PASSWORD);
  token = (
    await server.call<{ token: string }>('apiTokens.create', {
      name: 'runbook',
      scope: 'api',
      role: 'operator',
      expiresInDays: 7,
    })
  ).token;
}, 600_000);

afterAll(async () => {
  await server?.stop();
  await removeTestImage([a, b], POOL, IMG);
  if (paired) await cephLabScript('unpair').catch((e: unknown) => console.warn(`[api-journey] ${String(e)}`));
  for (const n of lab ? ['node1', 'node2'] : []) {
    const left = await cleanVm(lab.runner(n), VM, ['tandem-dr'], ['zones']).catch((e: unknown) => [
      String(e),
    ]);
    if (left.length) console.warn(`[api-journey] could not remove ${left.join(', ')} on ${n}`);
  }
  await lab?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}, 600_000);

describe('the REST API on the real labs, with curl and a token', () => {
  it("Danube's journey: create a replica, wait, update bwlimit, fail over, reinit, delete", async () => {
    const r = await journey('danube', VM, 'node1', 'node2');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/journey done: \d+ calls checked/);
    // The VM runs on node2; node1 keeps nothing of it (its copy went with the replica).
    expect((await lab.runner('node2').run({ argv: ['virsh', 'domstate', VM] })).stdout.trim()).toMatch(
      /running|paused/,
    );
    expect(
      (await lab.runner('node1').run({ argv: ['virsh', 'domstate', VM], allowFailure: true })).exitCode,
    ).not.toBe(0);
    expect(
      (await lab.runner('node1').run({ argv: ['zfs', 'list', '-H', '-o', 'name', '-r', 'zones'] })).stdout,
    ).not.toContain(`${VM}-disk`);
    // Every change is in the history, as the token's user, with the token's name.
    const h = await server.query<{ rows: { action: string; via: string | null; username: string }[] }>(
      'history.list',
      { filter: { action: 'replicas.failover' } },
    );
    expect(h.rows).toEqual([expect.objectContaining({ username: 'admin', via: 'api token "runbook"' })]);
  });

  it("croit's journey: token on site-a imported on site-b, image mirroring, a schedule added and deleted, a mirror snapshot, the resync flag", async () => {
    paired = true;
    const r = await journey('croit', IMG, POOL, 'site-a', 'site-b');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/journey done: \d+ calls checked/);
    // Checked on the clusters themselves: paired both ways, the image primary on site-a and mirrored on site-b.
    expect((await a.getPoolMirrorInfo(POOL)).peers.map((p) => p.siteName)).toEqual(['site-b']);
    expect((await b.getPoolMirrorInfo(POOL)).peers.map((p) => p.siteName)).toEqual(['site-a']);
    expect((await a.getImageInfo(POOL, '', IMG)).mirroring).toMatchObject({
      state: 'enabled',
      mode: 'snapshot',
      primary: true,
    });
    // The bootstrap token is in no history row.
    const all = await server.query<{ rows: unknown[] }>('history.list', { filter: {}, pageSize: 200 });
    expect(JSON.stringify(all.rows)).not.toMatch(/eyJ[A-Za-z0-9+/=]{40,}/);
  });
});
