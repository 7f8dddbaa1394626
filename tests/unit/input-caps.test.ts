import { TRPCError } from '@trpc/server';
import { describe, expect, it } from 'vitest';
import { keyringSchema, privateKeySchema } from '@/server/core/site-config';
import { appRouter, createCaller } from '@/server/trpc/root';
import { admin, ctxFor, testApp } from './helpers';

/** Every free-text input is capped, with a message that says so; the keyring check is linear. */
type Proc = { _def: { type: string; inputs: unknown[] } };
const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, Proc>);

type Def = {
  type: string;
  innerType?: unknown;
  in?: unknown;
  shape?: Record<string, unknown>;
  options?: unknown[];
  element?: unknown;
  keyType?: unknown;
  valueType?: unknown;
  checks?: { _zod: { def: { check: string } } }[];
};
const defOf = (s: unknown) => (s as { _zod: { def: Def } })._zod.def;

/** Strings without a maximum length and arrays without a maximum size, by path. */
function uncapped(schema: unknown, path: string, out: string[]): string[] {
  const def = defOf(schema);
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'readonly':
      return uncapped(def.innerType, path, out);
    case 'pipe':
      return uncapped(def.in, path, out);
    case 'object':
      for (const [k, v] of Object.entries(def.shape ?? {})) uncapped(v, path ? `${path}.${k}` : k, out);
      return out;
    case 'union':
      for (const o of def.options ?? []) uncapped(o, path, out);
      return out;
    case 'array':
      if (!def.checks?.some((c) => c._zod.def.check === 'max_length')) out.push(`${path}[]`);
      return uncapped(def.element, `${path}[]`, out);
    case 'record':
      uncapped(def.keyType, `${path}{key}`, out);
      return uncapped(def.valueType, `${path}{}`, out);
    case 'string':
      if ((schema as { maxLength: number | null }).maxLength === null) out.push(path || '(input)');
      return out;
    default:
      return out;
  }
}

describe('input caps', () => {
  it('gives every string and every list in every procedure input a maximum', () => {
    const found = procedures.flatMap(([path, p]) =>
      p._def.inputs.flatMap((i) => uncapped(i, '', []).map((f) => `${path}:${f}`)),
    );
    expect(found).toEqual([]);
  });

  it('refuses an over-long value with a message naming the limit', async () => {
    const { app } = testApp();
    app.demo.create();
    const caller = createCaller(ctxFor(app, admin));
    const siteId = app.sites.byName('demo-site-a')!.id;
    const long = 'x'.repeat(5000);
    const calls: [string, () => Promise<unknown>][] = [
      ['interval', () => caller.ceph.addSchedule({ siteId, level: { pool: 'rbd' }, interval: long })],
      ['startTime', () => caller.ceph.previewSchedule({ interval: '1h', startTime: long })],
      ['value', () => caller.tasks.answer({ id: 1, questionId: 'q', value: long })],
      ['confirm', () => caller.replicas.failover({ id: 1, confirm: long, mode: 'planned' })],
      ['config.host', () => caller.sites.create({ name: 'n', kind: 'node', config: { host: long } })],
    ];
    for (const [field, call] of calls) {
      const e = await call().then(
        () => null,
        (err: unknown) => err,
      );
      expect(e, field).toBeInstanceOf(TRPCError);
      expect((e as TRPCError).code, field).toBe('BAD_REQUEST');
      expect((e as TRPCError).message, field).toMatch(
        new RegExp(`${field.replace('.', '\\.')}: at most \\d+ characters`),
      );
    }
  });
});

/**
 * The checks run in linear time: a regular expression that backtracks (quadratic or worse) takes
 * seconds to minutes on 64 KiB, a linear one about a millisecond; the bound of 1 s leaves room for
 * a loaded machine and still catches backtracking.
 */
const LINEAR_MS = 1000;

describe('keyring check', () => {
  const KIB64 = 64 * 1024 - 16;
  const hostile: Record<string, string> = {
    'newlines after the header': '[client.a]' + '\n'.repeat(KIB64) + 'x',
    'blank lines after the header': '[client.a]' + ' \n'.repeat(KIB64 / 2) + 'x',
    'headers without a closing bracket': '[client.\n'.repeat(KIB64 / 9) + 'x',
    'spaces before the key': '[client.a]\n' + ' '.repeat(KIB64) + 'x',
    'key without a value': '[client.a]\nkey' + ' '.repeat(KIB64) + '=',
  };
  it('checks a private key in linear time too', () => {
    const t = performance.now();
    const r = privateKeySchema.safeParse(
      '-----BEGIN RSA PRIVATE KEY-----' + '-----END RSA PRIVATE KEY-----x\n'.repeat(KIB64 / 32),
    );
    expect(r.success).toBe(false);
    expect(performance.now() - t).toBeLessThan(LINEAR_MS);
  });
  for (const [what, text] of Object.entries(hostile)) {
    it(`rejects 64 KiB of ${what} in linear time`, () => {
      const t = performance.now();
      const r = keyringSchema.safeParse(text);
      const ms = performance.now() - t;
      expect(r.success).toBe(false);
      expect(ms).toBeLessThan(LINEAR_MS);
    });
  }

  it('accepts keyrings as Ceph writes them, and refuses what is not one', () => {
    for (const ok of [
      '[client.admin]\n\tkey = AQBxYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo=\n\tcaps mon = "allow *"\n',
      '[client.rbd-mirror-peer]\nkey=AQB\n',
      '  [client.x]  \n\n   key   =   abc',
      '# comment\n[client.a]\n\n\tkey = k\n',
    ]) {
      expect(keyringSchema.safeParse(ok).success, JSON.stringify(ok)).toBe(true);
      expect(keyringSchema.parse(ok).endsWith('\n')).toBe(true);
    }
    for (const bad of [
      '',
      'key = abc',
      '[client.]\nkey = abc',
      '[client.a]\nkey =',
      '[client.a] key = abc',
      '[mon.]\nkey = abc',
      '[client.a]\ncaps mon = "allow *"',
    ]) {
      expect(keyringSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
