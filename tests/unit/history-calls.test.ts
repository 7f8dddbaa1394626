import { TRPCError } from '@trpc/server';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '@/server/app';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, testApp } from './helpers';

/**
 * What the history of calls records: only calls that passed authentication and validation,
 * attributed to the session user, with the parsed input; and a change it cannot record is not made.
 */
const apps: App[] = [];
function fresh() {
  const t = testApp();
  apps.push(t.app);
  return t;
}
afterEach(async () => {
  for (const a of apps.splice(0)) await a.tasks.shutdown();
});

function rows(app: App) {
  return app.history.list({}, { limit: 500, offset: 0 }).rows;
}

async function codeOf(p: Promise<unknown>): Promise<string | null> {
  try {
    await p;
    return null;
  } catch (e) {
    return e instanceof TRPCError ? e.code : `non-trpc: ${String(e)}`;
  }
}

/** Makes every insert (or update) of a history row fail, as a full disk would. */
function breakHistory(app: App, on: 'INSERT' | 'UPDATE') {
  app.db.run(
    sql.raw(
      `CREATE TRIGGER history_broken_${on} BEFORE ${on} ON history BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
    ),
  );
}

const KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----';

describe('history of calls', () => {
  it('writes nothing for a call without a session, whatever its input says', async () => {
    const { app } = fresh();
    const anon = createCaller(ctxFor(app, null));
    const junk = { id: 1, username: 'admin', blob: 'x'.repeat(100_000) };
    expect(await codeOf(anon.users.remove(junk as never))).toBe('UNAUTHORIZED');
    expect(
      await codeOf(anon.sites.create({ name: 'n', kind: 'node', config: {}, username: 'admin' } as never)),
    ).toBe('UNAUTHORIZED');
    expect(rows(app)).toEqual([]);
  });

  it('writes nothing for a call whose input fails validation', async () => {
    const { app } = fresh();
    const caller = createCaller(ctxFor(app, admin));
    expect(await codeOf(caller.users.remove({ id: -1 }))).toBe('BAD_REQUEST');
    expect(await codeOf(caller.sites.create({ name: '', kind: 'node', config: {} }))).toBe('BAD_REQUEST');
    expect(rows(app)).toEqual([]);
  });

  it('attributes a call to the session user and records the parsed input, not the raw one', async () => {
    const { app } = fresh();
    const caller = createCaller(ctxFor(app, admin));
    await caller.sites.create({
      name: ' node-a ',
      kind: 'node',
      config: { host: 'a.example', zpools: [] },
      secret: { privateKey: KEY },
      username: 'mallory',
      blob: 'y'.repeat(100_000),
    } as never);
    const [row] = rows(app);
    expect(row).toMatchObject({
      username: admin.username,
      action: 'sites.create',
      target: 'sites:node-a',
      outcome: 'success',
    });
    expect(row!.params).toMatchObject({
      name: 'node-a',
      kind: 'node',
      config: { host: 'a.example', zpools: [] },
    });
    expect(JSON.stringify(row!.params)).not.toContain('PRIVATE KEY');
    expect(JSON.stringify(row!.params)).not.toContain('mallory');
    expect(JSON.stringify(row!.params)).not.toContain('yyyy');
  });

  it('refuses an input that cannot be recorded (a BigInt) before changing anything', async () => {
    const { app } = fresh();
    const caller = createCaller(ctxFor(app, admin));
    const code = await codeOf(
      caller.sites.create({
        name: 'big',
        kind: 'node',
        config: { host: 'a.example', port: 22n, zpools: [] } as never,
        secret: { privateKey: KEY },
      }),
    );
    expect(code).toBe('BAD_REQUEST');
    expect(app.sites.list()).toEqual([]);
  });

  it('records a sign-in as the account only once it succeeded; a failed one is never attributed to the name tried', async () => {
    const { app } = fresh();
    await app.auth.createUser({ username: 'alice', password: 'correct horse battery', role: 'operator' });
    const anon = createCaller(ctxFor(app, null));
    expect(await codeOf(anon.auth.login({ username: 'alice', password: 'wrong password!' }))).toBe(
      'UNAUTHORIZED',
    );
    await anon.auth.login({ username: 'alice', password: 'correct horse battery' });
    const [ok, failed] = rows(app);
    expect(ok).toMatchObject({ action: 'auth.login', username: 'alice', outcome: 'success' });
    expect(failed).toMatchObject({ action: 'auth.login', outcome: 'failure', target: 'auth:alice' });
    expect(failed!.username).not.toBe('alice');
    expect(JSON.stringify(rows(app))).not.toContain('wrong password!');
    expect(JSON.stringify(rows(app))).not.toContain('correct horse');
  });

  it('links the row of a call that starts a task to the task', async () => {
    const { app } = fresh();
    app.demo.create();
    const caller = createCaller(ctxFor(app, admin));
    const site = app.sites.byName('demo-site-a')!;
    const { taskId } = await caller.ceph.setPoolMode({
      siteId: site.id,
      pool: 'rbd',
      namespace: '',
      mode: 'image',
    });
    const row = rows(app).find((r) => r.action === 'ceph.setPoolMode')!;
    expect(row).toMatchObject({ username: admin.username, outcome: 'success', taskId });
    await app.tasks.wait(taskId);
  });

  describe('a change that cannot be recorded is not made', () => {
    for (const on of ['INSERT', 'UPDATE'] as const) {
      it(`database changes (history ${on} failing)`, async () => {
        const { app } = fresh();
        const caller = createCaller(ctxFor(app, admin));
        const before = await caller.sites.create({
          name: 'keep',
          kind: 'node',
          config: { host: 'a.example', zpools: [] },
          secret: { privateKey: KEY },
        });
        const other = await app.auth.createUser({
          username: 'bob',
          password: 'correct horse battery',
          role: 'viewer',
        });
        breakHistory(app, on);
        expect(
          await codeOf(
            caller.sites.create({
              name: 'new',
              kind: 'node',
              config: { host: 'b.example', zpools: [] },
              secret: { privateKey: KEY },
            }),
          ),
        ).toBe('INTERNAL_SERVER_ERROR');
        expect(await codeOf(caller.sites.remove({ id: before.id }))).toBe('INTERNAL_SERVER_ERROR');
        expect(await codeOf(caller.users.update({ id: other.id, role: 'admin' }))).toBe(
          'INTERNAL_SERVER_ERROR',
        );
        expect(await codeOf(caller.demo.create())).toBe('INTERNAL_SERVER_ERROR');
        await expect(caller.sites.remove({ id: before.id })).rejects.toThrow(
          /could not be recorded in history, so (nothing was changed|it was not made)/,
        );
        expect(app.sites.list().map((s) => s.name)).toEqual(['keep']);
        expect(app.auth.listUsers().find((u) => u.username === 'bob')!.role).toBe('viewer');
      });

      it(`task starts (history ${on} failing)`, async () => {
        const { app } = fresh();
        app.demo.create();
        const caller = createCaller(ctxFor(app, admin));
        const site = app.sites.byName('demo-site-a')!;
        breakHistory(app, on);
        expect(
          await codeOf(
            caller.ceph.setPoolMode({ siteId: site.id, pool: 'rbd', namespace: '', mode: 'image' }),
          ),
        ).toBe('INTERNAL_SERVER_ERROR');
        expect(await codeOf(caller.sites.check({ id: site.id }))).toBe('INTERNAL_SERVER_ERROR');
        expect(app.tasks.list({ limit: 10 })).toEqual([]);
      });
    }
  });
});
