import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { hasRole, type Role } from '@/server/domain/auth';
import { appRouter, createCaller } from '@/server/trpc/root';
import { admin, ctxFor, operator, testApp, viewer } from './helpers';

type Proc = { _def: { type: 'query' | 'mutation' | 'subscription'; meta?: { minRole?: Role } } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, Proc>);
const PUBLIC = new Set(['auth.status', 'auth.login', 'auth.setup']);

async function call(caller: ReturnType<typeof createCaller>, path: string): Promise<unknown> {
  let fn: unknown = caller;
  for (const part of path.split('.')) fn = (fn as Record<string, unknown>)[part];
  const res = await (fn as (i: unknown) => Promise<unknown>)({});
  // Subscriptions return an iterable; pull once to run the resolver.
  if (res && typeof res === 'object' && Symbol.asyncIterator in res)
    await (res as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
  return res;
}

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return e instanceof TRPCError ? e.code : `non-trpc: ${String(e)}`;
  }
}

describe('every tRPC procedure', () => {
  it('is enumerated (sanity)', () => {
    expect(procedures.length).toBeGreaterThan(20);
    for (const [path, p] of procedures) {
      if (!PUBLIC.has(path)) expect(p._def.meta?.minRole, `${path} declares a role`).toBeDefined();
    }
  });

  it('rejects a call without a session', async () => {
    const { app } = testApp();
    const caller = createCaller(ctxFor(app, null));
    for (const [path] of procedures) {
      if (PUBLIC.has(path)) continue;
      expect(await codeOf(call(caller, path)), path).toBe('UNAUTHORIZED');
    }
  });

  it('rejects mutations from a role below the one required', async () => {
    const { app } = testApp();
    let checked = 0;
    for (const [path, p] of procedures) {
      const min = p._def.meta?.minRole;
      if (p._def.type !== 'mutation' || !min) continue;
      for (const user of [viewer, operator, admin]) {
        if (hasRole(user.role, min)) continue;
        checked++;
        expect(await codeOf(call(createCaller(ctxFor(app, user)), path)), `${path} as ${user.role}`).toBe(
          'FORBIDDEN',
        );
      }
    }
    expect(checked).toBeGreaterThan(10);
  });

  it('rejects mutations whose Origin is not this console, even with a session', async () => {
    const { app } = testApp();
    for (const origin of [null, 'http://evil.example', 'not a url']) {
      const caller = createCaller(ctxFor(app, admin, origin));
      for (const [path, p] of procedures) {
        if (p._def.type !== 'mutation') continue;
        expect(await codeOf(call(caller, path)), `${path} from ${origin}`).toBe('FORBIDDEN');
      }
    }
  });

  it('with TANDEM_URL set, accepts mutations only from that origin', async () => {
    const { app } = testApp();
    process.env.TANDEM_URL = 'https://tandem.example.com';
    try {
      // ctxFor's origin is its own host (tandem.test): not the configured console.
      expect(
        await codeOf(
          createCaller(ctxFor(app, admin)).users.create({
            username: 'eve',
            password: 'a long password',
            role: 'admin',
          }),
        ),
      ).toBe('FORBIDDEN');
      const ok = createCaller({
        ...ctxFor(app, admin, 'https://tandem.example.com'),
        host: 'tandem.example.com',
      });
      await expect(
        ok.users.create({ username: 'eve', password: 'a long password', role: 'viewer' }),
      ).resolves.toMatchObject({ username: 'eve' });
    } finally {
      delete process.env.TANDEM_URL;
    }
  });

  it('writes no history row for any refused call: no session, a role too low, a foreign Origin', async () => {
    const { app } = testApp();
    // An input naming an account, as a forged call would.
    const forged = { id: 1, username: 'admin', name: 'x', siteId: 1, blob: 'z'.repeat(10_000) };
    const refused: string[] = [];
    const attempt = async (caller: ReturnType<typeof createCaller>, path: string, expected: string) => {
      let fn: unknown = caller;
      for (const part of path.split('.')) fn = (fn as Record<string, unknown>)[part];
      const code = await codeOf(
        (async () => {
          const res = await (fn as (i: unknown) => Promise<unknown>)(forged);
          if (res && typeof res === 'object' && Symbol.asyncIterator in res)
            await (res as AsyncIterable<unknown>)[Symbol.asyncIterator]().return?.();
        })(),
      );
      expect(code, path).toBe(expected);
      refused.push(path);
    };
    for (const [path, p] of procedures) {
      if (!PUBLIC.has(path)) await attempt(createCaller(ctxFor(app, null)), path, 'UNAUTHORIZED');
      if (p._def.type !== 'mutation') continue;
      const min = p._def.meta?.minRole;
      for (const user of [viewer, operator])
        if (min && !hasRole(user.role, min))
          await attempt(createCaller(ctxFor(app, user)), path, 'FORBIDDEN');
      for (const origin of [null, 'http://evil.example'])
        await attempt(createCaller(ctxFor(app, admin, origin)), path, 'FORBIDDEN');
    }
    expect(refused.length).toBeGreaterThan(100);
    expect(app.history.list({}, { limit: 10, offset: 0 }).rows).toEqual([]);
  });

  it('puts the history middleware right before the resolver of every mutation', () => {
    for (const [path, p] of procedures) {
      if (p._def.type !== 'mutation') continue;
      const mws = (p._def as unknown as { middlewares: { history?: boolean }[] }).middlewares;
      expect(mws.at(-2)?.history, path).toBe(true);
    }
  });

  it('answers malformed input with a field-specific validation error, never a 500', async () => {
    const { app } = testApp();
    const caller = createCaller(ctxFor(app, admin));
    await app.auth.createUser({ username: 'bob', password: 'correct horse battery', role: 'viewer' }); // user #1
    const bad: [string, unknown, string][] = [
      ['sites.create', { name: '', kind: 'node', config: {} }, 'name'],
      ['sites.create', { name: 'x', kind: 'toaster', config: {} }, 'kind'],
      [
        'sites.create',
        { name: 'n1', kind: 'node', config: { host: 'h', port: 99999 }, secret: { privateKey: '' } },
        'port',
      ],
      ['sites.get', { id: -1 }, 'id'],
      ['users.create', { username: 'a', password: 'short', role: 'admin' }, 'username'],
      ['users.create', { username: 'alice', password: 'short', role: 'admin' }, 'password'],
      ['tasks.get', { id: 'seven' }, 'id'],
      ['history.list', { filter: { from: 10, to: 5 } }, 'filter.from'],
      // Found by the HTTP fuzz: an update that changes nothing was a 500 ("No values to set").
      ['users.update', { id: 1 }, 'role'],
    ];
    for (const [path, input, field] of bad) {
      let fn: unknown = caller;
      for (const part of path.split('.')) fn = (fn as Record<string, unknown>)[part];
      try {
        await (fn as (i: unknown) => Promise<unknown>)(input);
        expect.fail(`${path} accepted ${JSON.stringify(input)}`);
      } catch (e) {
        expect(e, path).toBeInstanceOf(TRPCError);
        expect((e as TRPCError).code, path).toBe('BAD_REQUEST');
        const fields = ((e as TRPCError).cause as { fields?: { field: string }[] }).fields ?? [];
        expect(fields.map((f) => f.field).join(','), `${path} ${JSON.stringify(input)}`).toContain(field);
      }
    }
  });
});
