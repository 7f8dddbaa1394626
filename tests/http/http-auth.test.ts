import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TandemServer } from '../integration/server';
import { request, trpcHeaders } from './request';

/*
 * Sign-in, setup and request checks through a real production server (`next start`, after
 * `npx next build`). No lab is needed:
 *   npx vitest run -c vitest.http.config.ts
 * Other clients are other loopback addresses (127.0.0.2, 127.0.0.3): the server sees them as
 * different socket peers.
 */
const PASSWORD = 'http-auth-admin-password';
const PORT_A = Number(process.env.HTTP_AUTH_PORT ?? 3243);
const PORT_B = PORT_A + 1;
const PORT_C = PORT_A + 2;
const tmp = (name: string) => path.join(os.tmpdir(), `tandem-http-auth-${name}`);

/** One tRPC mutation; returns the status and the error code or data. */
async function mutate(
  port: number,
  proc: string,
  input: unknown,
  opts: { from?: string; headers?: Record<string, string> } = {},
) {
  const res = await request(port, {
    path: `/api/trpc/${proc}`,
    method: 'POST',
    headers: trpcHeaders(port, opts.headers),
    body: JSON.stringify({ json: input }),
    from: opts.from,
  });
  let json: {
    error?: { json?: { message?: string; data?: { code?: string } } };
    result?: { data?: { json?: unknown } };
  } = {};
  try {
    json = JSON.parse(res.body);
  } catch {
    /* not JSON */
  }
  return {
    status: res.status,
    code: json.error?.json?.data?.code ?? null,
    message: json.error?.json?.message ?? null,
    data: json.result?.data?.json,
    headers: res.headers,
    body: res.body,
  };
}

const login = (
  port: number,
  password: string,
  opts: { from?: string; headers?: Record<string, string> } = {},
) => mutate(port, 'auth.login', { username: 'admin', password }, opts);

describe('a production server with an admin from TANDEM_ADMIN_PASSWORD', () => {
  const server = new TandemServer(PORT_A, tmp('a'), PASSWORD);

  beforeAll(async () => {
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    await server.start();
  }, 90_000);
  afterAll(() => server.stop());

  it('refuses a batch with more than one sign-in call, and verifies none of its passwords', async () => {
    // 10 calls: within the batch cap, refused for its sign-ins; 30: over the cap, refused before tRPC reads it.
    for (const [n, why] of [
      [10, /one sign-in/],
      [30, /a batch may hold at most 10 calls/],
    ] as const) {
      const paths = Array.from({ length: n }, () => 'auth.login').join(',');
      const body = JSON.stringify(
        Object.fromEntries(
          Array.from({ length: n }, (_, i) => [i, { json: { username: 'admin', password: `wrong-${i}` } }]),
        ),
      );
      const res = await request(PORT_A, {
        path: `/api/trpc/${paths}?batch=1`,
        method: 'POST',
        headers: trpcHeaders(PORT_A),
        body,
        from: '127.0.0.4',
      });
      expect([400, 429]).toContain(res.status);
      expect(res.body).toMatch(why);
      expect(res.body).not.toContain('wrong username or password');
    }
    // None of them counted: the right password from the same client signs in at once.
    expect((await login(PORT_A, PASSWORD, { from: '127.0.0.4' })).status).toBe(200);
  });

  it('lets at most five of 100 parallel wrong passwords reach the hash check, and a correct one from another client still signs in', async () => {
    const answers = await Promise.all(
      Array.from({ length: 100 }, (_, i) => login(PORT_A, `wrong-${i}`, { from: '127.0.0.3' })),
    );
    const verified = answers.filter((a) => a.code === 'UNAUTHORIZED').length;
    const limited = answers.filter((a) => a.code === 'TOO_MANY_REQUESTS').length;
    expect(verified, 'wrong passwords that reached the hash check').toBeGreaterThan(0);
    expect(verified).toBeLessThanOrEqual(5);
    expect(verified + limited).toBe(100);
    const other = await login(PORT_A, PASSWORD, { from: '127.0.0.2' });
    expect(other.status, other.body).toBe(200);
    // The client that failed waits; it is not refused for 15 minutes.
    const same = await login(PORT_A, PASSWORD, { from: '127.0.0.3' });
    expect(same.code).toBe('TOO_MANY_REQUESTS');
    expect(same.message).toMatch(/try again in \d+ s/);
  });

  it('takes the client address from the socket: a forged X-Forwarded-For neither adds attempts nor blocks the address it names', async () => {
    let verified = 0;
    for (let i = 0; i < 12; i++) {
      const a = await login(PORT_A, `forged-${i}`, {
        from: '127.0.0.5',
        headers: { 'x-forwarded-for': `203.0.113.${i}, 127.0.0.6` },
      });
      if (a.code === 'UNAUTHORIZED') verified++;
    }
    expect(verified).toBeLessThanOrEqual(5);
    // 127.0.0.6, named in every forged header, has not failed.
    expect((await login(PORT_A, PASSWORD, { from: '127.0.0.6' })).status).toBe(200);
  });

  it('answers a malformed session cookie like no cookie, not with a 500', async () => {
    const res = await login(PORT_A, PASSWORD, { from: '127.0.0.7', headers: { cookie: 'tandem_session=%' } });
    expect(res.status).toBe(200);
    const page = await request(PORT_A, {
      path: '/',
      headers: { host: `127.0.0.1:${PORT_A}`, cookie: 'tandem_session=%' },
    });
    expect(page.status).toBeLessThan(500);
  });

  it('never sends a sign-in to another site', async () => {
    // The sign-in form's `next` prop, as serialized in the page's RSC payload.
    const nextProp = (body: string) => /next\\+":\\+"(.*?)\\+",\\+"expired/.exec(body)?.[1];
    for (const next of [
      '/%5Cevil.example',
      '//evil.example',
      '/%09/evil.example',
      'https://evil.example',
      '/%2F%2Fevil.example',
    ]) {
      const res = await request(PORT_A, {
        path: `/login?next=${next}`,
        headers: { host: `127.0.0.1:${PORT_A}` },
      });
      expect(res.status).toBe(200);
      expect(nextProp(res.body), next).toBe('/');
    }
    const ok = await request(PORT_A, {
      path: `/login?next=${encodeURIComponent('/history?x=1')}`,
      headers: { host: `127.0.0.1:${PORT_A}` },
    });
    expect(nextProp(ok.body)).toBe('/history?x=1');
  });

  it('refuses a Host that is not an IP address, localhost or this machine (DNS rebinding)', async () => {
    for (const host of ['evil.example', `evil.example:${PORT_A}`]) {
      const page = await request(PORT_A, { path: '/login', headers: { host } });
      expect([400, 421], host).toContain(page.status);
      expect(page.body).toMatch(/TANDEM_URL/);
      const res = await mutate(
        PORT_A,
        'auth.login',
        { username: 'admin', password: PASSWORD },
        { from: '127.0.0.8', headers: { host, origin: `http://${host}` } },
      );
      expect([400, 421], host).toContain(res.status);
    }
    for (const host of [
      `localhost:${PORT_A}`,
      `127.0.0.1:${PORT_A}`,
      `[::1]:${PORT_A}`,
      `${os.hostname()}:${PORT_A}`,
    ]) {
      expect((await request(PORT_A, { path: '/login', headers: { host } })).status, host).toBe(200);
    }
  });

  it('ignores X-Forwarded-Host from a client that is not a trusted proxy', async () => {
    const res = await mutate(
      PORT_A,
      'auth.login',
      { username: 'admin', password: PASSWORD },
      { from: '127.0.0.8', headers: { 'x-forwarded-host': 'evil.example', origin: 'http://evil.example' } },
    );
    expect(res.code).toBe('FORBIDDEN');
  });

  it('ends a live task stream once its session is signed out', async () => {
    const signIn = await login(PORT_A, PASSWORD, { from: '127.0.0.9' });
    const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
    const ended = new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: PORT_A,
          path: `/api/trpc/tasks.watch?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`,
          headers: { host: `127.0.0.1:${PORT_A}`, cookie, accept: 'text/event-stream' },
          agent: false,
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
            if (/event: serialized-error\ndata: .*\n/.test(body)) resolve(body);
          });
          res.on('end', () => resolve(body));
        },
      );
      req.on('error', reject);
      req.end();
      setTimeout(() => {
        req.destroy();
        reject(new Error('the stream was still open 20 s after sign-out'));
      }, 20_000);
    });
    await new Promise((r) => setTimeout(r, 1000));
    const out = await mutate(PORT_A, 'auth.logout', null, { headers: { cookie } });
    expect(out.status).toBe(200);
    expect(await ended).toMatch(/sign in/);
  }, 40_000);
});

describe('a production server reached as https://tandem.test (TANDEM_URL)', () => {
  const server = new TandemServer(PORT_B, tmp('b'), PASSWORD, {
    TANDEM_URL: 'https://tandem.test',
    TANDEM_TRUSTED_PROXIES: '127.0.0.10',
  });
  const headers = { host: 'tandem.test', origin: 'https://tandem.test' };

  beforeAll(async () => {
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    await server.start();
  }, 90_000);
  afterAll(() => server.stop());

  it('sets a Secure __Host- session cookie', async () => {
    const res = await login(PORT_B, PASSWORD, { headers });
    expect(res.status).toBe(200);
    const cookie = String(res.headers['set-cookie']);
    expect(cookie).toMatch(/^__Host-tandem_session=/);
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/Path=\//);
    expect(cookie).not.toMatch(/Domain=/i);
  });

  it('accepts changes only from its own origin and refuses other host names', async () => {
    expect(
      (await login(PORT_B, PASSWORD, { headers: { host: 'tandem.test', origin: 'http://tandem.test' } }))
        .code,
    ).toBe('FORBIDDEN');
    const other = await request(PORT_B, { path: '/login', headers: { host: 'other.test' } });
    expect([400, 421]).toContain(other.status);
  });

  it('believes X-Forwarded-For and X-Forwarded-Host from the trusted proxy (TANDEM_TRUSTED_PROXIES) only', async () => {
    const via = (client: string, from = '127.0.0.10') => ({
      from,
      headers: {
        host: 'upstream.internal:3000',
        'x-forwarded-host': 'tandem.test',
        'x-forwarded-for': `6.6.6.6, ${client}`,
        origin: 'https://tandem.test',
      },
    });
    for (let i = 0; i < 5; i++)
      expect((await login(PORT_B, `wrong-${i}`, via('198.51.100.1'))).code).toBe('UNAUTHORIZED');
    expect((await login(PORT_B, PASSWORD, via('198.51.100.1'))).code).toBe('TOO_MANY_REQUESTS');
    expect((await login(PORT_B, PASSWORD, via('198.51.100.2'))).status).toBe(200);
    // The same headers from an address that is not the proxy: its Host is its own (refused) …
    expect((await login(PORT_B, PASSWORD, via('198.51.100.2', '127.0.0.11'))).status).toBe(421);
    // … and its failures count for its own address, not for the one it names.
    const forged = {
      from: '127.0.0.11',
      headers: { host: 'tandem.test', origin: 'https://tandem.test', 'x-forwarded-for': '198.51.100.3' },
    };
    for (let i = 0; i < 5; i++) expect((await login(PORT_B, `wrong-${i}`, forged)).code).toBe('UNAUTHORIZED');
    expect((await login(PORT_B, PASSWORD, forged)).code).toBe('TOO_MANY_REQUESTS');
    expect((await login(PORT_B, PASSWORD, via('198.51.100.3'))).status).toBe(200);
  });
});

describe('a first start without TANDEM_ADMIN_PASSWORD', () => {
  const server = new TandemServer(PORT_C, tmp('c'), '');

  beforeAll(async () => {
    fs.rmSync(server.dataDir, { recursive: true, force: true });
    await server.start();
  }, 90_000);
  afterAll(() => server.stop());

  it('needs the setup code from the log and data/setup-code (mode 0600), and creates exactly one admin when two setups race', async () => {
    const file = path.join(server.dataDir, 'setup-code');
    expect(fs.existsSync(file), 'data/setup-code').toBe(true);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const code = fs.readFileSync(file, 'utf8').trim();
    expect(server.log).toContain(code);

    const noCode = await mutate(PORT_C, 'auth.setup', { username: 'admin', password: PASSWORD });
    expect(noCode.status).toBe(400);
    const wrong = await mutate(PORT_C, 'auth.setup', {
      username: 'admin',
      password: PASSWORD,
      setupCode: 'AAAA-BBBB-CCCC',
    });
    expect(wrong.code).toBe('UNAUTHORIZED');

    const [a, b] = await Promise.all([
      mutate(PORT_C, 'auth.setup', { username: 'admin', password: PASSWORD, setupCode: code }),
      mutate(
        PORT_C,
        'auth.setup',
        { username: 'admin2', password: PASSWORD, setupCode: code },
        { from: '127.0.0.2' },
      ),
    ]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect(fs.existsSync(file), 'the used code is removed').toBe(false);
    const signedIn = a.status === 200 ? a : b;
    const cookie = String(signedIn.headers['set-cookie']).split(';')[0]!;
    const users = await request(PORT_C, {
      path: `/api/trpc/users.list?input=${encodeURIComponent(JSON.stringify({ json: null }))}`,
      headers: { host: `127.0.0.1:${PORT_C}`, cookie },
    });
    expect(users.status, users.body).toBe(200);
    expect(JSON.parse(users.body).result.data.json).toHaveLength(1);
  });
});
