import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { apiTokens, history } from '@/server/db/schema';
import { bearerToken, hashToken, LAST_USED_EVERY_MS } from '@/server/domain/api-tokens';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, operator, testApp } from './helpers';

function setup() {
  const env = testApp();
  return { ...env, caller: createCaller(ctxFor(env.app, admin)) };
}

describe('API tokens', () => {
  it('returns the token once and stores only its SHA-256 and a short prefix', async () => {
    const { app, caller } = setup();
    const { token, info } = await caller.apiTokens.create({ name: 'prometheus', scope: 'metrics' });
    expect(token).toMatch(/^tdm_[A-Za-z0-9_-]{43}$/);
    expect(info).toMatchObject({
      name: 'prometheus',
      scope: 'metrics',
      createdBy: admin.username,
      prefix: token.slice(0, 10),
      revokedAt: null,
      lastUsedAt: null,
    });
    const rows = app.db.select().from(apiTokens).all();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.hash).toBe(crypto.createHash('sha256').update(token).digest('hex'));
    // Nothing in the database holds the token: only its first 10 characters, as the prefix.
    const dump = JSON.stringify(app.db.$client.prepare('select * from api_tokens').all());
    expect(dump).not.toContain(token);
    expect(dump).not.toContain(token.slice(10));
    // The list never carries a token or its hash.
    const listed = await caller.apiTokens.list();
    expect(Object.keys(listed[0]!).sort()).toEqual([
      'createdAt',
      'createdBy',
      'expired',
      'expiresAt',
      'id',
      'lastUsedAt',
      'name',
      'owner',
      'prefix',
      'revokedAt',
      'role',
      'scope',
    ]);
    expect(JSON.stringify(listed)).not.toContain(rows[0]!.hash);
  });

  it('never writes the token (or its hash) to history; the create and the revoke are recorded', async () => {
    const { app, caller } = setup();
    const { token, info } = await caller.apiTokens.create({ name: 'scraper', scope: 'metrics' });
    await caller.apiTokens.revoke({ id: info.id });
    const rows = app.db.select().from(history).all();
    expect(rows.map((r) => [r.action, r.outcome, r.username])).toEqual([
      ['apiTokens.create', 'success', admin.username],
      ['apiTokens.revoke', 'success', admin.username],
    ]);
    expect(rows[0]!.params).toEqual({ name: 'scraper', scope: 'metrics' });
    const all = JSON.stringify(app.db.$client.prepare('select * from history').all());
    expect(all).not.toContain(token.slice(4));
    expect(all).not.toContain(hashToken(token));
  });

  it('verifies a token by its hash, notes its use at most once a minute, and refuses others', async () => {
    const { app, clock, caller } = setup();
    const { token, info } = await caller.apiTokens.create({ name: 'prom', scope: 'metrics' });
    const lastUsed = () => app.db.select().from(apiTokens).get()!.lastUsedAt?.getTime() ?? null;
    const t0 = clock.now();
    expect(app.apiTokens.verify(token, 'metrics')).toMatchObject({
      ok: true,
      token: { id: info.id, name: 'prom' },
    });
    expect(lastUsed()).toBe(t0);
    clock.advance(LAST_USED_EVERY_MS - 1);
    expect(app.apiTokens.verify(token, 'metrics').ok).toBe(true);
    expect(lastUsed()).toBe(t0);
    clock.advance(1);
    expect(app.apiTokens.verify(token, 'metrics').ok).toBe(true);
    expect(lastUsed()).toBe(t0 + LAST_USED_EVERY_MS);

    // One character changed, a prefix, the hash itself, junk, nothing: refused.
    const last = token.at(-1) === 'A' ? 'B' : 'A';
    for (const bad of [
      token.slice(0, -1) + last,
      token.slice(0, 20),
      hashToken(token),
      'tdm_' + 'x'.repeat(43),
      '',
      null,
      undefined,
    ]) {
      const r = app.apiTokens.verify(bad, 'metrics');
      expect(r.ok, String(bad)).toBe(false);
    }
    expect(app.apiTokens.verify(null, 'metrics')).toEqual({
      ok: false,
      reason: expect.stringMatching(/Authorization: Bearer/),
    });

    await caller.apiTokens.revoke({ id: info.id });
    expect(app.apiTokens.verify(token, 'metrics')).toEqual({ ok: false, reason: 'this token was revoked' });
    expect((await caller.apiTokens.list())[0]!.revokedAt?.getTime()).toBe(clock.now());
  });

  it('gives clear errors: a revoked token again, an unknown one, a name in use, a bad name, a lower role', async () => {
    const { app, caller } = setup();
    const { info } = await caller.apiTokens.create({ name: 'prom', scope: 'metrics' });
    await expect(caller.apiTokens.create({ name: 'prom', scope: 'metrics' })).rejects.toThrow(
      /a token named "prom" exists/,
    );
    await expect(caller.apiTokens.create({ name: 'a\nb', scope: 'metrics' })).rejects.toThrow(
      /letters, digits/,
    );
    await expect(caller.apiTokens.create({ name: '  ', scope: 'metrics' })).rejects.toThrow(
      /give the token a name/,
    );
    await caller.apiTokens.revoke({ id: info.id });
    await expect(caller.apiTokens.revoke({ id: info.id })).rejects.toThrow(/was already revoked/);
    await expect(caller.apiTokens.revoke({ id: 999 })).rejects.toThrow(/no API token #999/);
    // The name of a revoked token may be used again; the two tokens differ.
    const again = await caller.apiTokens.create({ name: 'prom', scope: 'metrics' });
    expect(again.info.id).not.toBe(info.id);
    const op = createCaller(ctxFor(app, operator));
    await expect(op.apiTokens.create({ name: 'x', scope: 'metrics' })).rejects.toThrow(
      /metrics tokens are made by an admin/,
    );
    // An operator sees only their own tokens: none.
    expect(await op.apiTokens.list()).toEqual([]);
  });

  it('reads the token of an Authorization header', () => {
    expect(bearerToken('Bearer tdm_abc')).toBe('tdm_abc');
    expect(bearerToken('bearer  tdm_abc ')).toBe('tdm_abc');
    expect(bearerToken('Basic dXNlcjpwdw==')).toBeNull();
    expect(bearerToken('Bearer a b')).toBeNull();
    expect(bearerToken('Bearer')).toBeNull();
    expect(bearerToken(null)).toBeNull();
  });
});
