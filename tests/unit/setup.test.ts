import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, testApp } from './helpers';

const PW = 'first admin password';

describe('first-admin setup', () => {
  it('issues a one-time setup code, kept in data/setup-code with mode 0600 until an admin exists', async () => {
    const { app, dir } = testApp();
    const code = app.auth.issueSetupCode();
    expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const file = path.join(dir, 'setup-code');
    expect(fs.readFileSync(file, 'utf8').trim()).toBe(code);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(app.auth.issueSetupCode()).toBe(code);
    await app.auth.setup({ username: 'admin', password: PW, setupCode: code! }, 'c1');
    expect(fs.existsSync(file)).toBe(false);
    expect(app.auth.issueSetupCode()).toBeNull();
  });

  it('refuses a setup without the right code, and counts wrong codes like failed sign-ins', async () => {
    const { app } = testApp();
    const code = app.auth.issueSetupCode()!;
    const caller = createCaller(ctxFor(app, null));
    await expect(caller.auth.setup({ username: 'admin', password: PW } as never)).rejects.toMatchObject({
      code: 'BAD_REQUEST',
    });
    await expect(
      caller.auth.setup({ username: 'admin', password: PW, setupCode: 'AAAA-BBBB-CCCC' }),
    ).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    for (let i = 0; i < 4; i++)
      await expect(
        app.auth.setup({ username: 'admin', password: PW, setupCode: 'nope' }, 'test'),
      ).rejects.toThrow(/wrong setup code/);
    await expect(
      app.auth.setup({ username: 'admin', password: PW, setupCode: code }, 'test'),
    ).rejects.toThrow(/too many/);
    expect(app.auth.userCount()).toBe(0);
    // The code is accepted in lower case and without dashes, from another client.
    await expect(
      app.auth.setup(
        { username: 'admin', password: PW, setupCode: code.toLowerCase().replace(/-/g, '') },
        'other',
      ),
    ).resolves.toBeTruthy();
  });

  it('creates exactly one admin when two setups race', async () => {
    const { app } = testApp();
    const code = app.auth.issueSetupCode()!;
    const results = await Promise.allSettled([
      app.auth.setup({ username: 'admin', password: PW, setupCode: code }, 'c1'),
      app.auth.setup({ username: 'admin2', password: PW, setupCode: code }, 'c2'),
      app.auth.setup({ username: 'admin', password: PW, setupCode: code }, 'c3'),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected')
        expect(r.reason).toMatchObject({
          code: 'CONFLICT',
          message: expect.stringMatching(/already set up/),
        });
    expect(app.auth.userCount()).toBe(1);
  });

  it('signs the new admin in through the API', async () => {
    const { app } = testApp();
    const code = app.auth.issueSetupCode()!;
    const ctx = ctxFor(app, null);
    const user = await createCaller(ctx).auth.setup({ username: 'admin', password: PW, setupCode: code });
    expect(user).toMatchObject({ username: 'admin', role: 'admin' });
    expect(ctx.resHeaders.get('set-cookie')).toMatch(/^tandem_session=[\w-]{20,};/);
  });
});
