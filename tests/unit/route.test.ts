import { beforeAll, describe, expect, it } from 'vitest';
import { setProcessApp } from '@/server/app';
import { testApp } from './helpers';

/** The tRPC route handler itself (app/api/trpc/[trpc]/route.ts), on a test app. */
let handler: (req: Request) => Promise<Response>;
let cookie = '';
beforeAll(async () => {
  const { app } = testApp();
  setProcessApp(app);
  handler = (await import('@/app/api/trpc/[trpc]/route')).POST;
  await app.auth.createUser({ username: 'admin', password: 'route-test-password', role: 'admin' });
  cookie = `tandem_session=${(await app.auth.login('admin', 'route-test-password', 'test')).token}`;
});

const BASE = 'http://127.0.0.1/api/trpc/';
/** A request as the server gets it: with the Host header the console answers to. */
const mkReq = (url: string, init: RequestInit = {}) =>
  new Request(url, {
    ...init,
    headers: { host: '127.0.0.1', ...(init.headers as Record<string, string> | undefined) },
  });

describe('tRPC route', () => {
  it('tells caches not to keep any answer: a result, an error, a refused request', async () => {
    const answers = [
      await handler(mkReq(`${BASE}auth.status`)),
      await handler(mkReq(`${BASE}overview.get`)),
      await handler(mkReq(`${BASE}no.such`)),
      await handler(
        mkReq(`${BASE}users.remove`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: 'http://127.0.0.1' },
          body: 'x'.repeat(2 * 1024 * 1024),
        }),
      ),
      await handler(mkReq(`${BASE}${Array(11).fill('auth.status').join(',')}?batch=1`)),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 401, 404, 413, 400]);
    for (const r of answers) expect(r.headers.get('cache-control'), r.url).toBe('no-store');
  });

  it('answers an input it cannot read with 400 and a message, never 500', async () => {
    const post = (path: string, body: string) =>
      handler(
        mkReq(BASE + path, {
          method: 'POST',
          headers: { 'content-type': 'application/json', origin: 'http://127.0.0.1', cookie },
          body,
        }),
      );
    const get = (path: string) => handler(mkReq(BASE + path, { headers: { cookie } }));
    const answers: [string, Response][] = [
      ['truncated JSON', await post('sites.create', '{"json":')],
      ['null', await post('sites.create', 'null')],
      [
        'superjson meta at __proto__',
        await post(
          'sites.create',
          JSON.stringify({ json: { name: 'x' }, meta: { values: { '__proto__.polluted': ['undefined'] } } }),
        ),
      ],
      [
        'superjson meta of an unknown type',
        await post(
          'sites.create',
          JSON.stringify({ json: { name: 'x' }, meta: { values: { name: ['nonsense'] } } }),
        ),
      ],
      ['query input not JSON', await get('sites.get?input=%7B')],
      ['query input null', await get('sites.get?input=null')],
      [
        'superjson meta not an object',
        await get(
          `sites.get?input=${encodeURIComponent(JSON.stringify({ json: 1, meta: { values: [1] } }))}`,
        ),
      ],
    ];
    for (const [what, res] of answers) {
      const body = (await res.json()) as { error: { json: { message: string; data: { appCode: string } } } };
      expect(res.status, what).toBe(400);
      expect(body.error.json.data.appCode, what).toBe('INVALID_INPUT');
      expect(body.error.json.message, what).toMatch(/input could not be read/);
    }
    // In a batch, the call whose input cannot be read gets its 400; the other one is answered.
    const batch = await get(
      `sites.get,sites.list?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: { json: 1, meta: { values: [1] } } }))}`,
    );
    expect(batch.status).toBe(207);
    const [bad, ok] = (await batch.json()) as [
      { error: { json: { data: { httpStatus: number } } } },
      { result: unknown },
    ];
    expect(bad.error.json.data.httpStatus).toBe(400);
    expect(ok.result).toBeDefined();
  });
});
