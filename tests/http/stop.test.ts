import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TandemServer } from '../integration/server';
import { request, trpcHeaders, type Answer } from './request';

/*
 * A server that is told to stop (SIGTERM, as a service manager stops it) and a second server on
 * the same data directory, through real production servers (`npx next build` first):
 *   npx vitest run -c vitest.http.config.ts tests/http/stop.test.ts
 * Two processes on one data directory would each hold their own task locks and run their own
 * schedulers: the same replica synced twice, a failover started in a process about to exit.
 */
const PASSWORD = 'http-stop-admin-password';
const PORT_A = Number(process.env.HTTP_STOP_PORT ?? 3247);
const PORT_B = PORT_A + 1;
const tmp = (name: string) => path.join(os.tmpdir(), `tandem-http-stop-${name}`);

/** One request through `agent` (kept-alive connections, as a browser keeps them). */
function send(
  agent: http.Agent,
  port: number,
  opts: { path: string; method?: string; cookie?: string; body?: unknown },
): Promise<Answer> {
  return request(port, {
    ...opts,
    agent,
    headers: trpcHeaders(port, opts.cookie ? { cookie: opts.cookie } : {}),
    body: opts.body === undefined ? undefined : JSON.stringify({ json: opts.body }),
  });
}

const query = (input: unknown) => `?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;
const json = (a: Answer) =>
  JSON.parse(a.body) as {
    result?: { data: { json: unknown } };
    error?: { json: { message: string; data: { code: string } } };
  };

async function signIn(agent: http.Agent, port: number): Promise<string> {
  const a = await send(agent, port, {
    path: '/api/trpc/auth.login',
    method: 'POST',
    body: { username: 'admin', password: PASSWORD },
  });
  expect(a.status).toBe(200);
  return String(a.headers['set-cookie']).split(';')[0]!;
}

/** Does the server answer a page within `ms`? */
async function answers(port: number, ms: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/login`, { signal: AbortSignal.timeout(ms) });
    return res.status < 500;
  } catch {
    return false;
  }
}

async function waitFor(what: string, ok: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  for (const deadline = Date.now() + ms; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200)))
    if (await ok()) return;
  throw new Error(`not within ${ms / 1000} s: ${what}`);
}

const servers: TandemServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.stop();
});

describe('a server told to stop', () => {
  it('starts no work on a connection it kept open, ends its live streams and exits; the next server finds no task left running', async () => {
    const dir = tmp('drain');
    fs.rmSync(dir, { recursive: true, force: true });
    // Demo sites that answer slowly: a request to one is still being answered when the stop comes.
    const env = { TANDEM_DEMO: '1', TANDEM_DEMO_LATENCY_MS: '1500' };
    const a = new TandemServer(PORT_A, dir, PASSWORD, env);
    servers.push(a);
    await a.start();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const cookie = await signIn(agent, PORT_A);
    const sites = json(await send(agent, PORT_A, { path: `/api/trpc/sites.list${query(null)}`, cookie }))
      .result!.data.json as { id: number; name: string }[];
    const cluster = sites.find((s) => s.name === 'demo-site-a')!;
    const node = sites.find((s) => s.name === 'demo-node1')!;

    // A live task stream, on a connection of its own, that the client never closes.
    const stream = new Promise<{ ended: boolean }>((resolve) => {
      const req = http.get(
        {
          host: '127.0.0.1',
          port: PORT_A,
          path: `/api/trpc/tasks.watch${query({})}`,
          headers: { cookie, accept: 'text/event-stream' },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ ended: true }));
          res.on('error', () => resolve({ ended: true }));
        },
      );
      req.on('error', () => resolve({ ended: true }));
      setTimeout(() => {
        resolve({ ended: false });
        req.destroy();
      }, 60_000);
    });
    await new Promise((r) => setTimeout(r, 500));

    // A slow question is on its way when the stop comes; it is still answered.
    const slow = send(agent, PORT_A, {
      path: `/api/trpc/ceph.status${query({ siteId: cluster.id, waitMs: 30_000 })}`,
      cookie,
    });
    await new Promise((r) => setTimeout(r, 300));
    const stoppedAt = Date.now();
    a.signal('SIGTERM');
    const slowAnswer = await slow;
    expect(slowAnswer.status).toBe(200);
    // It was answered after the stop (its connection was busy then, so the stop left it open).
    expect(Date.now()).toBeGreaterThan(stoppedAt + 200);

    // The browser would send its next click on the connection it holds. A stopping server starts
    // nothing: the connection is closed (the answer said so), or the start is refused.
    const check = await send(agent, PORT_A, {
      path: '/api/trpc/sites.check',
      method: 'POST',
      cookie,
      body: { id: node.id },
    }).catch((e: NodeJS.ErrnoException) => e);
    if (check instanceof Error) {
      expect(slowAnswer.headers.connection).toBe('close');
      expect(check.code).toBe('ECONNREFUSED');
    } else {
      expect(check.status, check.body).toBe(503);
      expect(json(check).error!.json.message).toMatch(/stopping/);
    }

    expect((await stream).ended).toBe(true);
    await a.exited(20_000);
    const exitMs = Date.now() - stoppedAt;
    console.log(`[stop] the stopped server exited ${exitMs} ms after SIGTERM`);
    agent.destroy();

    // The next server on the data directory: no task was started, none is left "running".
    const b = new TandemServer(PORT_B, dir, PASSWORD, env);
    servers.push(b);
    await b.start();
    await b.login();
    const tasks = await b.query<{ id: number; kind: string; state: string }[]>('tasks.list', { limit: 50 });
    expect(tasks.filter((t) => t.kind === 'site.check')).toEqual([]);
    expect(tasks.filter((t) => ['running', 'waiting', 'question'].includes(t.state))).toEqual([]);
  }, 120_000);
});

describe('two servers on one data directory', () => {
  it('the second waits until the first has stopped, then starts; it gives up with a clear message when told to wait less', async () => {
    const dir = tmp('two');
    fs.rmSync(dir, { recursive: true, force: true });
    const a = new TandemServer(PORT_A, dir, PASSWORD);
    servers.push(a);
    await a.start();

    // One that waits only 2 s exits and names the process that holds the directory.
    const impatient = new TandemServer(PORT_B, dir, PASSWORD, { TANDEM_INSTANCE_WAIT_MS: '2000' });
    servers.push(impatient);
    impatient.spawn();
    expect(await impatient.exited(30_000)).not.toBe(0);
    expect(impatient.log).toMatch(new RegExp(`another Tandem process \\(pid ${a.pid}\\) is using ${dir}`));

    // One that waits: it does not answer while the first runs, and starts once it has stopped.
    const b = new TandemServer(PORT_B, dir, PASSWORD);
    servers.push(b);
    b.spawn();
    await waitFor('the second says it waits', () => /waiting for it to stop/.test(b.log), 30_000);
    expect(await answers(PORT_B, 3_000)).toBe(false);
    expect(await answers(PORT_A, 3_000)).toBe(true);
    await a.stop();
    await waitFor('the second answers', () => answers(PORT_B, 3_000), 30_000);
    await b.login();
    expect(await b.query<{ id: number }[]>('sites.list')).toEqual([]);
  }, 120_000);
});
