import { beforeAll, describe, expect, it } from 'vitest';
import { testApp } from './helpers';

/** The tRPC route handler itself (app/api/trpc/[trpc]/route.ts), on a test app. */
let handler: (req: Request) => Promise<Response>;
beforeAll(async () => {
  const { app } = testApp();
  (globalThis as unknown as { __tandem?: unknown }).__tandem = { app, ready: Promise.resolve() };
  handler = (await import('@/app/api/trpc/[trpc]/route')).POST;
});

const BASE = 'http://tandem.test/api/trpc/';

describe('tRPC route', () => {
  it('tells caches not to keep any answer: a result, an error, a refused request', async () => {
    const answers = [
      await handler(new Request(`${BASE}auth.status`)),
      await handler(new Request(`${BASE}overview.get`)),
      await handler(new Request(`${BASE}no.such`)),
      await handler(new Request(`${BASE}users.remove`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://tandem.test' }, body: 'x'.repeat(2 * 1024 * 1024) })),
      await handler(new Request(`${BASE}${Array(11).fill('auth.status').join(',')}?batch=1`)),
    ];
    expect(answers.map((r) => r.status)).toEqual([200, 401, 404, 413, 400]);
    for (const r of answers) expect(r.headers.get('cache-control'), r.url).toBe('no-store');
  });
});
