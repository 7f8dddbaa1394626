import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import superjson from 'superjson';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '@/server/trpc/root';
import { TandemServer } from '../integration/server';
import { DEMO_WORDS, NUMBERS, hostileAny, hostileString, protoObject } from '../fuzz-values';

/**
 * Every tRPC procedure called over HTTP, as the browser calls it (GET for queries, POST for
 * mutations, superjson bodies, the admin's session cookie, the console's Origin), with inputs
 * generated from its zod schema mixed with hostile values: shell metacharacters, leading dashes,
 * 1 MB strings, unicode, NaN and infinities, negative and huge numbers, BigInts, dates, nested
 * junk and prototype keys. A production server on the demo sites (a throwaway data directory)
 * must answer every call below 500, every 4xx with a message, and still answer afterwards.
 */
const PORT = Number(process.env.FUZZ_HTTP_PORT) || 3250;
/** Fixed, so that a run is repeatable; FUZZ_SEED and FUZZ_RUNS explore further. */
const SEED = Number(process.env.FUZZ_SEED) || 20261123;
const RUNS = Number(process.env.FUZZ_RUNS) || 80;
const PASSWORD = 'fuzz-admin-password';

type Proc = { _def: { type: 'query' | 'mutation' | 'subscription'; inputs: unknown[] } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, Proc>);

// ---- arbitraries from zod schemas ---------------------------------------------------------

type Def = {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  options?: unknown[];
  element?: unknown;
  keyType?: unknown;
  valueType?: unknown;
  entries?: Record<string, string>;
  values?: unknown[];
  checks?: { _zod: { def: { check: string; format?: string; pattern?: RegExp } } }[];
};
const defOf = (s: unknown) => (s as { _zod: { def: Def } })._zod.def;

function stringArb(schema: unknown): fc.Arbitrary<string> {
  const s = schema as { minLength: number | null; maxLength: number | null };
  const max = Math.min(s.maxLength ?? 64, 64);
  const min = Math.min(s.minLength ?? 0, max);
  const formats = (defOf(schema).checks ?? [])
    .map((c) => c._zod.def)
    .filter((d) => d.check === 'string_format');
  if (formats.some((f) => f.format === 'uuid')) return fc.uuid();
  const pattern = formats.find((f) => f.format === 'regex')?.pattern;
  const plain = fc.string({ minLength: min, maxLength: max });
  const known = fc.constantFrom(...DEMO_WORDS);
  if (!pattern) return fc.oneof({ weight: 2, arbitrary: plain }, { weight: 2, arbitrary: known });
  return fc.oneof(
    { weight: 3, arbitrary: fc.stringMatching(pattern).filter((x) => x.length <= (s.maxLength ?? Infinity)) },
    { weight: 1, arbitrary: plain },
    { weight: 3, arbitrary: known },
  );
}

function numberArb(schema: unknown): fc.Arbitrary<number> {
  const n = schema as { minValue: number | null; maxValue: number | null; isInt: boolean };
  const min = Number.isFinite(n.minValue) ? n.minValue! : -1e6;
  const max = Number.isFinite(n.maxValue) ? n.maxValue! : 1e6;
  if (n.isInt) {
    const lo = Math.ceil(Math.max(min, Number.MIN_SAFE_INTEGER));
    const hi = Math.floor(Math.min(max, Number.MAX_SAFE_INTEGER));
    // Mostly small values, so that ids meet the demo sites and the tasks that exist.
    return fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: lo, max: Math.min(hi, lo + 12) }) },
      { weight: 1, arbitrary: fc.integer({ min: lo, max: hi }) },
    );
  }
  return fc.double({ min, max, noNaN: true });
}

/** Values shaped by the schema, a leaf in ten hostile. */
function fromSchema(schema: unknown, get: boolean, depth = 0): fc.Arbitrary<unknown> {
  const def = defOf(schema);
  const leaf = (valid: fc.Arbitrary<unknown>) =>
    fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: hostileAny(get) });
  if (depth > 8) return fc.constant(undefined);
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'prefault':
      return fc.option(fromSchema(def.innerType, get, depth + 1), { nil: undefined, freq: 3 });
    case 'nullable':
      return fc.option(fromSchema(def.innerType, get, depth + 1), { nil: null, freq: 3 });
    case 'readonly':
    case 'nonoptional':
    case 'catch':
      return fromSchema(def.innerType, get, depth + 1);
    case 'pipe':
      return fromSchema(def.in, get, depth + 1);
    case 'object': {
      const shape = Object.fromEntries(
        Object.entries(def.shape ?? {}).map(([k, v]) => [k, fromSchema(v, get, depth + 1)]),
      );
      return fc.oneof(
        { weight: 9, arbitrary: fc.record(shape) },
        // Extra keys: prototype keys and junk next to the real fields.
        {
          weight: 1,
          arbitrary: fc
            .tuple(fc.record(shape), hostileAny(get))
            .map(([o, junk]) => Object.assign(protoObject() as object, o, { junk })),
        },
      );
    }
    case 'union':
      return fc.oneof(...(def.options ?? []).map((o) => fromSchema(o, get, depth + 1)));
    case 'array':
      return leaf(fc.array(fromSchema(def.element, get, depth + 1), { maxLength: 4 }));
    case 'record':
      return leaf(
        fc.dictionary(
          fc.oneof(
            stringArb(def.keyType),
            fc.constantFrom('host', 'port', 'user', 'zpools', 'access', 'siteName', 'confPath', '__proto__'),
          ),
          fromSchema(def.valueType, get, depth + 1),
          { maxKeys: 5 },
        ),
      );
    case 'string':
      return leaf(
        fc.oneof({ weight: 3, arbitrary: stringArb(schema) }, { weight: 1, arbitrary: hostileString(get) }),
      );
    case 'number':
      return leaf(
        fc.oneof(
          { weight: 3, arbitrary: numberArb(schema) },
          { weight: 1, arbitrary: fc.constantFrom(...NUMBERS) },
        ),
      );
    case 'boolean':
      return leaf(fc.boolean());
    case 'enum':
      return leaf(fc.constantFrom(...Object.values(def.entries ?? {})));
    case 'literal':
      return leaf(fc.constantFrom(...(def.values ?? [null])));
    default:
      return hostileAny(get);
  }
}

/** A procedure's inputs: mostly shaped by its schema, one in eight wholly hostile. */
function inputsOf(p: Proc, seed: number): unknown[] {
  const get = p._def.type !== 'mutation';
  const schema = p._def.inputs[0];
  const shaped = schema ? fromSchema(schema, get) : fc.constant(undefined);
  return fc.sample(fc.oneof({ weight: 7, arbitrary: shaped }, { weight: 1, arbitrary: hostileAny(get) }), {
    seed,
    numRuns: RUNS,
  });
}

// ---- HTTP ---------------------------------------------------------------------------------

let server: TandemServer;
let cookie = '';

interface Answer {
  /** The HTTP status; for a batch (207), the worst status of its calls. */
  status: number;
  /** Whether every error in the answer carries a message. */
  message: string | null;
  body: string;
  ms: number;
}

type ErrorBody = { error?: { json?: { message?: unknown; data?: { httpStatus?: number } } } };

/** Status and message of an answer: a single call's, or the worst of a batch's calls. */
function read(status: number, body: string): Pick<Answer, 'status' | 'message'> {
  let parsed: ErrorBody | ErrorBody[];
  try {
    parsed = JSON.parse(body) as ErrorBody | ErrorBody[];
  } catch {
    return { status, message: null };
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  let worst = Array.isArray(parsed) ? 200 : status;
  let message: string | null = status < 400 ? 'ok' : null;
  for (const item of items) {
    if (!item?.error) continue;
    const m = item.error.json?.message;
    const s = item.error.json?.data?.httpStatus ?? status;
    worst = Math.max(worst, s);
    message = typeof m === 'string' && m.trim() ? m : null;
    if (!message) break;
  }
  return { status: worst, message };
}

async function send(url: string, init: RequestInit, timeoutMs = 30_000): Promise<Answer> {
  const t = Date.now();
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  const body = await res.text();
  return { ...read(res.status, body), body, ms: Date.now() - t };
}

/** Opens a live stream, reads what it says within `ms`, and drops it; an error event counts like an answer's. */
async function stream(path: string, input: unknown, ms = 400): Promise<Answer> {
  const t = Date.now();
  const ac = new AbortController();
  const q = input === undefined ? '' : `?input=${encodeURIComponent(encode(input))}`;
  const res = await fetch(`${server.base}/api/trpc/${path}${q}`, {
    headers: { accept: 'text/event-stream', cookie },
    signal: ac.signal,
  });
  const timer = setTimeout(() => ac.abort(), ms);
  let text = '';
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
  } catch {
    /* dropped */
  } finally {
    clearTimeout(timer);
  }
  const error = /event: serialized-error\ndata: (.*)/.exec(text)?.[1];
  if (res.status >= 400 || !error) return { ...read(res.status, text), body: text, ms: Date.now() - t };
  const e = JSON.parse(error) as NonNullable<ErrorBody['error']>;
  const m = e.json?.message;
  return {
    status: e.json?.data?.httpStatus ?? 500,
    message: typeof m === 'string' && m ? m : null,
    body: text,
    ms: Date.now() - t,
  };
}

/**
 * The request body for an input: superjson's, as the browser sends it; for what superjson refuses
 * to send (own `__proto__` keys), plain JSON with BigInts as strings, as a hand-made request would.
 */
function encode(input: unknown): string {
  try {
    return JSON.stringify(superjson.serialize(input));
  } catch {
    return JSON.stringify({ json: input }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

function call(path: string, type: Proc['_def']['type'], input: unknown): Promise<Answer> {
  const headers = { 'content-type': 'application/json', origin: server.base, cookie };
  const payload = input === undefined ? undefined : encode(input);
  if (type === 'mutation')
    return send(`${server.base}/api/trpc/${path}`, { method: 'POST', headers, body: payload ?? '' });
  const q = payload === undefined ? '' : `?input=${encodeURIComponent(payload)}`;
  return send(`${server.base}/api/trpc/${path}${q}`, { method: 'GET', headers });
}

async function login(password = PASSWORD): Promise<boolean> {
  const res = await fetch(`${server.base}/api/trpc/auth.login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: server.base },
    body: JSON.stringify(superjson.serialize({ username: 'admin', password })),
  });
  const set = res.headers.get('set-cookie');
  if (res.ok && set) cookie = set.split(';')[0]!;
  return res.ok;
}

async function signedIn(): Promise<boolean> {
  const a = await call('auth.status', 'query', undefined);
  return a.status === 200 && a.body.includes('"username"');
}

/** Summary of an input for a failure message. */
function show(v: unknown): string {
  const s = encode(v);
  return s.length > 300 ? `${s.slice(0, 300)}… (${s.length} characters)` : s;
}

// Queries first, then changes, then removals, then what ends the session.
const LAST = [
  'users.update',
  'users.setPassword',
  'auth.changePassword',
  'auth.setup',
  'auth.login',
  'auth.logout',
];
function rank([path, p]: [string, Proc]): number {
  if (LAST.includes(path)) return 4 + LAST.indexOf(path);
  if (path === 'demo.remove') return 3;
  if (/remove|unpair/i.test(path)) return 2;
  return p._def.type === 'mutation' ? 1 : 0;
}

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-fuzz-'));
  server = new TandemServer(PORT, dir, PASSWORD, { TANDEM_DEMO: '1', TANDEM_DEMO_LATENCY_MS: '0' });
  await server.start();
  expect(await login()).toBe(true);
});

afterAll(async () => {
  await server?.stop();
});

describe('fuzz over HTTP', () => {
  it('answers every procedure, whatever the input, below 500, every 4xx with a message, and keeps answering', async () => {
    const started = Date.now();
    const ordered = [...procedures].sort((a, b) => rank(a) - rank(b));
    const problems: string[] = [];
    const statuses = new Map<number, number>();
    let calls = 0;
    let fivexx = 0;
    let relogins = 0;
    let password = PASSWORD;
    const check = (what: string, input: unknown, a: Answer) => {
      calls++;
      statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
      if (a.status >= 500) {
        fivexx++;
        problems.push(
          `${what} → ${a.status} ${a.message ?? a.body.slice(0, 200)}\n    input: ${show(input)}`,
        );
      } else if (a.status >= 400 && !a.message) {
        problems.push(
          `${what} → ${a.status} without a message: ${a.body.slice(0, 200)}\n    input: ${show(input)}`,
        );
      }
    };

    const fuzz = async (procPath: string, p: Proc, seed: number) => {
      if (p._def.type === 'subscription') {
        // A few live streams, each opened and dropped after a moment.
        for (const input of [undefined, { id: 1 }, ...inputsOf(p, seed).slice(0, 3)]) {
          try {
            check(procPath, input, await stream(procPath, input));
          } catch (e) {
            calls++;
            problems.push(`${procPath}: no answer (${String(e)})\n    input: ${show(input)}`);
          }
        }
        return;
      }
      for (const input of inputsOf(p, seed)) {
        let a: Answer;
        try {
          a = await call(procPath, p._def.type, input);
        } catch (e) {
          problems.push(`${procPath}: no answer (${String(e)})\n    input: ${show(input)}`);
          calls++;
          continue;
        }
        check(procPath, input, a);
        // A password the fuzz itself set for the admin (user #1) is the one to sign in with.
        if (a.status === 200 && procPath === 'users.setPassword' && (input as { id?: unknown }).id === 1)
          password = (input as { password: string }).password;
      }
    };

    for (const [i, [procPath, p]] of ordered.entries()) {
      if (rank([procPath, p]) >= 4) continue;
      if (!(await signedIn())) {
        relogins++;
        expect(await login(password), `signing in again before ${procPath}`).toBe(true);
      }
      await fuzz(procPath, p, SEED + i);
    }

    // Requests no client would send, while the session is still there.
    const unreadable = encodeURIComponent(
      JSON.stringify({ 0: { json: 1, meta: { values: [1] } }, 1: { json: { id: 1 } } }),
    );
    const raw: [string, string, RequestInit][] = [
      [
        '2 MiB body',
        'users.remove',
        { method: 'POST', body: JSON.stringify({ json: { id: 1, x: 'x'.repeat(2 * 1024 * 1024) } }) },
      ],
      ['invalid JSON', 'sites.create', { method: 'POST', body: '{"json":' }],
      ['JSON null', 'sites.create', { method: 'POST', body: 'null' }],
      [
        'superjson meta pointing at __proto__',
        'sites.create',
        {
          method: 'POST',
          body: JSON.stringify({
            json: { name: 'x' },
            meta: { values: { '__proto__.polluted': ['undefined'] } },
          }),
        },
      ],
      [
        'superjson meta of an unknown type',
        'sites.create',
        {
          method: 'POST',
          body: JSON.stringify({ json: { name: 'x' }, meta: { values: { name: ['nonsense'] } } }),
        },
      ],
      [
        'superjson meta on a missing path',
        'sites.create',
        {
          method: 'POST',
          body: JSON.stringify({ json: { name: 'x' }, meta: { values: { 'a.b.c': ['bigint'] } } }),
        },
      ],
      ['query input not JSON', 'sites.get?input=%7B', { method: 'GET' }],
      ['batch of 11', `${Array(11).fill('auth.status').join(',')}?batch=1`, { method: 'GET' }],
      [
        'batch with an array of inputs',
        'auth.status,overview.get?batch=1&input=%5B1%2C2%5D',
        { method: 'GET' },
      ],
      [
        'batch with an unreadable input',
        `sites.get,sites.get?batch=1&input=${unreadable}`,
        { method: 'GET' },
      ],
      [
        'batch of mutations, one unreadable',
        'users.remove,sites.remove?batch=1',
        {
          method: 'POST',
          body: JSON.stringify({
            0: { json: 1, meta: { values: { '': ['bigint'] } } },
            1: { json: { id: 99 } },
          }),
        },
      ],
      ['unknown procedure', 'nope.nothing', { method: 'GET' }],
      ['mutation by GET', 'demo.remove', { method: 'GET' }],
      ['query by POST', 'overview.get', { method: 'POST', body: '{}' }],
      [
        'text body',
        'users.remove',
        { method: 'POST', body: 'id=1', headers: { 'content-type': 'text/plain' } },
      ],
      ['path with ..', '..%2F..%2Fetc%2Fpasswd', { method: 'GET' }],
    ];
    for (const [what, p, init] of raw) {
      const a = await send(`${server.base}/api/trpc/${p}`, {
        ...init,
        headers: {
          'content-type': 'application/json',
          origin: server.base,
          cookie,
          ...(init.headers as Record<string, string>),
        },
      });
      check(`raw: ${what}`, undefined, a);
    }
    // A URL longer than the HTTP server takes is refused by it (431), before tRPC.
    const longUrl = await fetch(`${server.base}/api/trpc/sites.get?input=${'x'.repeat(1_000_000)}`, {
      headers: { cookie },
    });
    calls++;
    expect(longUrl.status, 'a 1 MB query string').toBeGreaterThanOrEqual(400);
    expect(longUrl.status, 'a 1 MB query string').toBeLessThan(500);

    // Last, what may end the session (new passwords, sign-ins that end rate-limited, sign-out).
    for (const [i, [procPath, p]] of ordered.entries())
      if (rank([procPath, p]) >= 4) await fuzz(procPath, p, SEED + i);

    // Still answering, and signing in still works (rate-limited sign-ins may refuse, with 429).
    const status = await call('auth.status', 'query', undefined);
    expect(status.status).toBe(200);
    // No prototype was polluted by the `__proto__` keys sent.
    expect(status.body).not.toMatch(/polluted|isAdmin/);
    const seconds = (Date.now() - started) / 1000;
    const byStatus = [...statuses.entries()]
      .sort(([a], [b]) => a - b)
      .map(([s, n]) => `${s}×${n}`)
      .join(' ');
    console.log(
      `fuzz: ${calls} calls to ${procedures.length} procedures (${RUNS} inputs each, seed ${SEED}, ${raw.length} raw requests), ${fivexx} answers 5xx, ${problems.length - fivexx} other problems, ${relogins} sign-ins again, ${seconds.toFixed(1)} s; statuses ${byStatus}`,
    );
    if (problems.length) {
      // The first three of each kind (procedure and status).
      const seen = new Map<string, number>();
      const shown = problems.filter((p) => {
        const kind = p.split(' ', 3).slice(0, 3).join(' ');
        seen.set(kind, (seen.get(kind) ?? 0) + 1);
        return seen.get(kind)! <= 3;
      });
      console.log(shown.join('\n') + `\n--- server log (tail) ---\n${server.log.slice(-6000)}`);
    }
    if (process.env.FUZZ_LOG) console.log(server.log);
    // Nothing went wrong where no answer shows it (a task that threw, a promise nobody awaited).
    const crashes = server.log.split('\n').filter((l) => /unhandled|uncaught|internal error/i.test(l));
    expect(crashes).toEqual([]);
    expect(fivexx).toBe(0);
    expect(problems).toEqual([]);
  });
});
