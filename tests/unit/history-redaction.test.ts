import { describe, expect, it } from 'vitest';
import { isSecret, redactInput } from '@/server/domain/redact';
import { appRouter, createCaller } from '@/server/trpc/root';
import { admin, ctxFor, testApp } from './helpers';

/**
 * History redacts secrets by the procedures' schemas: every input field that is a password, a
 * token, a key or a keyring is marked `secret()`, and the history writer replaces marked fields.
 */
type Proc = { _def: { type: string; inputs: unknown[]; meta?: { history?: boolean } } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, Proc>);

/** Names of fields that hold a secret: passwords (also the current and next one), tokens, keys, keyrings. */
const SECRET_NAME = /pass|token|secret|key|keyring|credential|^current$|^next$/i;
/** Fields whose names look secret but are not: a path on disk, a public fingerprint. */
const NOT_SECRET = new Set(['keyringPath', 'hostKeySha256']);

type Def = {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  options?: unknown[];
  element?: unknown;
  valueType?: unknown;
  values?: unknown[];
  entries?: Record<string, unknown>;
};
const defOf = (s: unknown) => (s as { _zod: { def: Def } })._zod.def;

/** Every object field reachable in a schema, with its path and its own schema. */
function fields(schema: unknown, path: string[] = [], out: { path: string[]; schema: unknown }[] = []) {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return fields(def.innerType, path, out);
    case 'pipe':
      return fields(def.in, path, out);
    case 'object':
      for (const [k, v] of Object.entries(def.shape ?? {})) {
        out.push({ path: [...path, k], schema: v });
        fields(v, [...path, k], out);
      }
      return out;
    case 'union':
      for (const o of def.options ?? []) fields(o, path, out);
      return out;
    case 'array':
      return fields(def.element, [...path, '0'], out);
    case 'record':
      return fields(def.valueType, [...path, 'k'], out);
    default:
      return out;
  }
}

/** A value shaped like the schema, every string a canary naming its path. */
function sample(schema: unknown, path: string[] = []): unknown {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return sample(def.innerType, path);
    case 'pipe':
      return sample(def.in, path);
    case 'object':
      return Object.fromEntries(
        Object.entries(def.shape ?? {}).map(([k, v]) => [k, sample(v, [...path, k])]),
      );
    case 'union':
      return sample(def.options![0], path);
    case 'array':
      return [sample(def.element, [...path, '0'])];
    case 'record':
      return { k: sample(def.valueType, [...path, 'k']) };
    case 'string':
      return `canary:${path.join('.')}`;
    case 'number':
      return 1;
    case 'boolean':
      return true;
    case 'enum':
      return Object.values(def.entries ?? {})[0];
    case 'literal':
      return def.values?.[0];
    default:
      return null;
  }
}

/** An object of fields (like sites' `secret: { privateKey, keyring }`): its fields are checked, not itself. */
function isGroup(schema: unknown): boolean {
  const def = defOf(schema);
  if (['optional', 'nullable', 'default', 'prefault', 'readonly'].includes(def.type))
    return isGroup(def.innerType);
  return def.type === 'object';
}

describe('history redaction by schema', () => {
  const secretFields = procedures.flatMap(([path, p]) =>
    p._def.inputs.flatMap((input) =>
      fields(input)
        .filter(
          (f) => SECRET_NAME.test(f.path.at(-1)!) && !NOT_SECRET.has(f.path.at(-1)!) && !isGroup(f.schema),
        )
        .map((f) => ({ proc: path, ...f, input })),
    ),
  );

  it('finds the secret fields of the router (sanity)', () => {
    const names = secretFields.map((f) => `${f.proc}:${f.path.join('.')}`);
    for (const expected of [
      'auth.login:password',
      'auth.setup:password',
      'auth.changePassword:current',
      'auth.changePassword:next',
      'users.create:password',
      'users.setPassword:password',
      'sites.create:secret.privateKey',
      'sites.update:secret.keyring',
      'ceph.importToken:token',
      'ceph.previewToken:token',
    ]) {
      expect(names).toContain(expected);
    }
  });

  it('marks every password, token, key and keyring field as secret in its schema', () => {
    const unmarked = secretFields
      .filter((f) => !isSecret(f.schema))
      .map((f) => `${f.proc}:${f.path.join('.')}`);
    expect(unmarked).toEqual([]);
  });

  it('redacts each of them, nested too, in what history stores of every procedure input', () => {
    for (const [path, p] of procedures) {
      for (const input of p._def.inputs) {
        const value = sample(input);
        const stored = JSON.stringify(redactInput(p._def.inputs, value));
        for (const f of secretFields.filter((s) => s.proc === path && s.input === input)) {
          expect(JSON.stringify(value), `${path}: the sample has ${f.path.join('.')}`).toContain(
            `canary:${f.path.join('.')}`,
          );
          expect(stored, `${path}:${f.path.join('.')}`).not.toContain(`canary:${f.path.join('.')}`);
        }
        // What is not secret is kept.
        if (path === 'sites.create') expect(stored).toContain('canary:name');
      }
    }
  });

  it('keeps a password change out of history: neither the current nor the next password is stored', async () => {
    const { app } = testApp();
    const alice = await app.auth.createUser({
      username: 'alice',
      password: 'the current one!',
      role: 'viewer',
    });
    const caller = createCaller(ctxFor(app, { id: alice.id, username: 'alice', role: 'viewer' }));
    await caller.auth.changePassword({ current: 'the current one!', next: 'the next one, long' });
    const rows = app.history.list({}, { limit: 10, offset: 0 }).rows;
    expect(rows.map((r) => r.action)).toContain('auth.changePassword');
    expect(JSON.stringify(rows)).not.toContain('the current one!');
    expect(JSON.stringify(rows)).not.toContain('the next one, long');
  });
});

describe('bootstrap token preview', () => {
  it('is a mutation (the token never travels in a URL) and writes no history row', async () => {
    const p = (appRouter._def.procedures as unknown as Record<string, Proc>)['ceph.previewToken']!;
    expect(p._def.type).toBe('mutation');
    expect(p._def.meta?.history).toBe(false);
    const { app } = testApp();
    app.demo.create();
    const caller = createCaller(ctxFor(app, admin));
    const site = app.sites.byName('demo-site-a')!;
    const { token } = await caller.ceph.createToken({ siteId: site.id, pool: 'rbd' });
    const before = app.history.list({}, { limit: 100, offset: 0 }).total;
    const preview = caller.ceph.previewToken as unknown as (i: {
      token: string;
    }) => Promise<{ fsid: string }>;
    expect((await preview({ token })).fsid).toBeTruthy();
    expect(app.history.list({}, { limit: 100, offset: 0 }).total).toBe(before);
  });
});
