import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { restHandler } from '@/server/rest/handle';
import { ROUTES } from '@/server/rest/routes';
import { DEMO_WORDS, hostileAny, hostileString } from '../fuzz-values';
import { boot } from './demo-env';

/**
 * Every route of /api/v1 with hostile path parameters, query strings and bodies (and plausible
 * ones, so that calls also reach the work behind the checks), on the demo sites: every answer is
 * below 500, an error names its code and says what is wrong, and the API still answers afterwards.
 */
const SEED = Number(process.env.FUZZ_SEED) || 20261204;
const RUNS = Number(process.env.FUZZ_RUNS) || 25;
const handle = restHandler(ROUTES);

const segment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...DEMO_WORDS, '1', '2', '99999', 'dr') },
  { weight: 2, arbitrary: hostileString(true) },
);
const queryValue = fc.oneof(
  fc.constantFrom('true', 'false', '0', '1', '-1', '1e309', 'NaN', '', '2026-01-01T00:00:00Z'),
  hostileString(true),
);
const body = fc.oneof(
  {
    weight: 2,
    arbitrary: fc.dictionary(
      fc.constantFrom(
        'node',
        'sleep_time',
        'bwlimit',
        'force',
        'reason',
        'poolMirrorMode',
        'peerToken',
        'direction',
        'interval',
        'startTime',
        'pool',
        'rbd',
        'primary',
        'journaling',
        'imageMirrorMode',
        'enableJournaling',
        'siteName',
        'token',
        'response',
        'disk_zpools',
        'root_zpool',
        '__proto__',
      ),
      hostileAny(false),
      { maxKeys: 4 },
    ),
  },
  { weight: 1, arbitrary: hostileAny(false) },
);

describe('/api/v1 under hostile input', () => {
  it('answers every route below 500, with a coded error for each refusal', async () => {
    const env = boot();
    const u = await env.app.auth.createUser({
      username: 'fuzzer',
      password: 'fuzzer-password-1',
      role: 'admin',
    });
    const token = env.app.apiTokens.create(
      { name: 'fuzz', scope: 'api' },
      { id: u.id, username: 'fuzzer', role: 'admin' },
    ).token;
    const statuses = new Map<number, number>();
    let calls = 0;
    for (const r of ROUTES) {
      await fc.assert(
        fc.asyncProperty(
          fc.array(segment, { minLength: 4, maxLength: 4 }),
          fc.dictionary(
            fc.constantFrom(
              'full',
              'namespace',
              'destroy_data',
              'limit',
              'after',
              'from',
              'to',
              'active',
              'wait',
              'x',
            ),
            queryValue,
            { maxKeys: 3 },
          ),
          body,
          async (segs, query, b) => {
            let i = 0;
            const path = r.path.replace(/\{\w+\}/g, () => encodeURIComponent(segs[i++ % segs.length]!));
            const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, k === 'wait' ? '0' : v]));
            let text: string | undefined;
            try {
              // BigInts as bare digits: a body JSON cannot hold, as a careless client would send it.
              text =
                r.method === 'GET'
                  ? undefined
                  : JSON.stringify(b, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
            } catch {
              text = '{"unserialisable": true';
            }
            const res = await handle(
              env.app,
              new Request(`http://127.0.0.1/api/v1${path}?${q}`, {
                method: r.method,
                headers: {
                  host: '127.0.0.1',
                  authorization: `Bearer ${token}`,
                  'content-type': 'application/json',
                },
                body: text,
              }),
            );
            calls++;
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            expect(res.status, `${r.method} ${path}`).toBeLessThan(500);
            if (res.status >= 400) {
              const e = (await res.json()) as { error: { code: string; message: string } };
              expect(e.error.code, `${r.method} ${path}`).toMatch(/^[A-Z_]+$/);
              expect(e.error.message.length, `${r.method} ${path}`).toBeGreaterThan(3);
            }
          },
        ),
        { seed: SEED, numRuns: RUNS },
      );
    }
    const after = await handle(
      env.app,
      new Request('http://127.0.0.1/api/v1/sites', {
        headers: { host: '127.0.0.1', authorization: `Bearer ${token}` },
      }),
    );
    expect(after.status).toBe(200);
    console.log(
      `rest fuzz: ${calls} calls to ${ROUTES.length} routes (seed ${SEED}); statuses ${[...statuses]
        .sort((x, y) => x[0] - y[0])
        .map(([s, n]) => `${s}×${n}`)
        .join(' ')}`,
    );
  }, 300_000);
});
