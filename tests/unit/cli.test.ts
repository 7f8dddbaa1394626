import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setProcessApp } from '@/server/app';
import { boot, type Env } from './demo-env';

/** scripts/tandem.mjs, the runbook's command line, against /api/v1 (its real route) on the demo sites. */
let env: Env;
let server: http.Server;
let url = '';
let token = '';

beforeAll(async () => {
  env = boot();
  setProcessApp(env.app);
  const route = await import('@/app/api/v1/[...path]/route');
  server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? Buffer.concat(chunks) : undefined;
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
    headers.set('host', '127.0.0.1');
    const answer = await route.GET(
      new Request(`http://127.0.0.1${req.url}`, {
        method: req.method,
        headers,
        body: req.method === 'GET' ? undefined : body,
      }),
    );
    res.writeHead(answer.status, Object.fromEntries(answer.headers));
    res.end(Buffer.from(await answer.arrayBuffer()));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const u = await env.app.auth.createUser({
    username: 'runbook',
    password: 'runbook-password-1',
    role: 'operator',
  });
  token = env.app.apiTokens.create(
    { name: 'cli', scope: 'api' },
    { id: u.id, username: u.username, role: 'operator' },
  ).token;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.resolve('scripts/tandem.mjs'), ...args],
      { env: { ...process.env, TANDEM_URL: url, TANDEM_TOKEN: token } },
      (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
    );
  });
}

describe('tandem CLI', () => {
  it('creates a replica, changes its bandwidth limit, fails over, reinitialises and deletes it, waiting for each task', async () => {
    const created = await cli(
      'replica-create',
      'web01',
      'dr',
      '--node',
      'demo-node2',
      '--disk-zpool',
      'vdb=data',
      '--sleep-time',
      '30',
    );
    expect(created.code, created.err).toBe(0);
    expect(JSON.parse(created.out)).toMatchObject({ state: 'FINISHED', kind: 'replica.sync' });
    expect(JSON.parse((await cli('replicas', 'web01')).out)).toEqual(['dr']);
    const upd = await cli('replica-update', 'web01', 'dr', '--bwlimit', '1048576');
    expect(JSON.parse(upd.out)).toMatchObject({ bwlimit: 1048576 });
    const fo = await cli('failover', 'web01', 'dr', '--reason', 'runbook drill');
    expect(fo.code, fo.err).toBe(0);
    expect(JSON.parse(fo.out)).toMatchObject({ state: 'FINISHED', kind: 'replica.failover' });
    expect(JSON.parse((await cli('replica', 'web01', 'dr')).out)).toMatchObject({
      master_node: 'demo-node2',
      reinit_required: true,
    });
    expect((await cli('reinit', 'web01', 'dr')).code).toBe(0);
    const del = await cli('replica-delete', 'web01', 'dr');
    expect(del.code, del.err).toBe(0);
    expect(JSON.parse((await cli('replicas', 'web01')).out)).toEqual([]);
    // The task command and the document.
    const id = JSON.parse(del.out).id;
    expect(JSON.parse((await cli('wait', String(id))).out)).toMatchObject({ id, done: true });
    expect(JSON.parse((await cli('openapi')).out).openapi).toBe('3.1.0');
  });

  it('pairs two clusters by token, adds and deletes a schedule, takes a mirror snapshot', async () => {
    for (const [side, other] of [
      ['demo-site-a', 'demo-site-b'],
      ['demo-site-b', 'demo-site-a'],
    ] as const) {
      const pools = JSON.parse((await cli('pools', side)).out) as {
        pool: string;
        namespace: string | null;
        peers: { id: string; siteName: string }[];
      }[];
      const peers = pools.find((p) => p.pool === 'rbd' && !p.namespace)!.peers;
      expect(peers.map((p) => p.siteName)).toEqual([other]);
      // Unpaired through the API itself (DELETE of each peer), so that the token pairs them again.
      for (const p of peers) {
        const res = await fetch(`${url}/api/v1/ceph/${side}/pools/rbd/rbd-mirror/peers/${p.id}?wait=30`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${token}` },
        });
        expect(res.status).toBe(200);
      }
    }
    const tok = await cli('token-create', 'demo-site-a', 'rbd');
    expect(tok.code, tok.err).toBe(0);
    const secret = tok.out.trim();
    expect(secret).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
    const imported = await new Promise<{ code: number; out: string; err: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [path.resolve('scripts/tandem.mjs'), 'token-import', 'demo-site-b', 'rbd', '-'],
        { env: { ...process.env, TANDEM_URL: url, TANDEM_TOKEN: token } },
        (e, out, err) => resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out, err }),
      );
      child.stdin!.end(secret);
    });
    expect(imported.code, imported.err).toBe(0);
    expect(JSON.parse(imported.out)).toMatchObject({ state: 'FINISHED' });
    expect((await cli('schedule-add', 'demo-site-a', '--pool', 'rbd', '--interval', '5m')).code).toBe(0);
    expect(JSON.parse((await cli('schedules', 'demo-site-a')).out)).toContainEqual(
      expect.objectContaining({ pool: 'rbd', interval: '5m' }),
    );
    expect((await cli('schedule-delete', 'demo-site-a', '--pool', 'rbd', '--interval', '5m')).code).toBe(0);
    expect(JSON.parse((await cli('schedules', 'demo-site-a')).out)).not.toContainEqual(
      expect.objectContaining({ pool: 'rbd', interval: '5m', rbd: null }),
    );
    const snap = await cli('mirror-snapshot', 'demo-site-a', 'rbd', 'vm-web01-root');
    expect(snap.code, snap.err).toBe(0);
  });

  it('exits 3 with the server’s message and fields when refused, 2 on a usage error', async () => {
    const missing = await cli('replica', 'web01', 'nope');
    expect(missing.code).toBe(3);
    expect(missing.err).toMatch(/404 NOT_FOUND: the VM web01 has no replica named "nope"/);
    const bad = await cli('replica-create', 'web01', 'x', '--node', 'nowhere');
    expect(bad.code).toBe(3);
    expect(bad.err).toMatch(/node: no node named "nowhere"/);
    expect((await cli('replica-create', 'web01', 'x')).code).toBe(2);
    expect((await cli('frobnicate')).code).toBe(2);
  });
});
