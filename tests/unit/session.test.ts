import { describe, expect, it } from 'vitest';
import { SESSION_TTL_MS } from '@/server/domain/auth';
import { readCookie, contextFor } from '@/server/trpc/init';
import { whileSignedIn } from '@/server/trpc/live';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, testApp } from './helpers';

const PW = 'a long enough password';

function req(cookie: string): Request {
  return new Request('http://127.0.0.1:3000/api/trpc/auth.status', {
    headers: { cookie, host: '127.0.0.1:3000', 'x-tandem-peer': '127.0.0.1' },
  });
}

describe('session cookie', () => {
  it('treats a malformed cookie as no cookie', () => {
    const { app } = testApp();
    expect(readCookie('tandem_session=%', 'tandem_session')).toBeUndefined();
    expect(readCookie('a=%E0%A4%A; tandem_session=abc', 'tandem_session')).toBe('abc');
    const ctx = contextFor(app, { req: req('tandem_session=%'), resHeaders: new Headers() });
    expect(ctx.user).toBeNull();
  });

  it('is Secure when the request came over https, and Secure with the __Host- prefix when TANDEM_URL is https', async () => {
    const { app } = testApp();
    await app.auth.setupFirstAdmin('admin', PW);
    const plain = ctxFor(app, null);
    await createCaller(plain).auth.login({ username: 'admin', password: PW });
    expect(plain.resHeaders.get('set-cookie')).toMatch(
      /^tandem_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );

    const proxied = { ...ctxFor(app, null), secure: true };
    await createCaller(proxied).auth.login({ username: 'admin', password: PW });
    expect(proxied.resHeaders.get('set-cookie')).toMatch(/^tandem_session=.*; Secure$/);

    process.env.TANDEM_URL = 'https://tandem.example.com';
    try {
      const ctx = { ...ctxFor(app, null, 'https://tandem.example.com'), host: 'tandem.example.com' };
      await createCaller(ctx).auth.login({ username: 'admin', password: PW });
      const cookie = ctx.resHeaders.get('set-cookie')!;
      expect(cookie).toMatch(
        /^__Host-tandem_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/,
      );
      // That cookie is the one read back.
      const token = cookie.split(';')[0]!.split('=')[1]!;
      expect(
        contextFor(app, { req: req(`__Host-tandem_session=${token}`), resHeaders: new Headers() }).user
          ?.username,
      ).toBe('admin');
      expect(
        contextFor(app, { req: req(`tandem_session=${token}`), resHeaders: new Headers() }).user,
      ).toBeNull();
    } finally {
      delete process.env.TANDEM_URL;
    }
  });
});

describe('live task stream', () => {
  async function signedIn() {
    const t = testApp();
    await t.app.auth.setupFirstAdmin('admin', PW);
    const s = await t.app.auth.login('admin', PW, 'c');
    const ctx = { ...ctxFor(t.app, s.user), token: s.token };
    return { ...t, ctx, token: s.token };
  }

  it('ends with UNAUTHORIZED at the next event after sign-out', async () => {
    const { app, ctx, token } = await signedIn();
    const stream = await createCaller(ctx).tasks.watch();
    const it = stream[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 10));
    app.auth.logout(token);
    app.tasks.start({
      name: 'after sign-out',
      kind: 'test',
      target: 'x',
      username: 'admin',
      run: async () => undefined,
    });
    await expect(first).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('ends at the next event after the account is disabled, though it read the session just before', async () => {
    const { app, ctx } = await signedIn();
    const other = await app.auth.createUser({ username: 'op2', password: PW, role: 'operator' });
    const s = await app.auth.login('op2', PW, 'd');
    const opCtx = { ...ctxFor(app, s.user), token: s.token };
    const it = (await createCaller(opCtx).tasks.watch())[Symbol.asyncIterator]();
    const first = it.next();
    await new Promise((r) => setTimeout(r, 10));
    app.tasks.start({
      name: 'one',
      kind: 'test',
      target: 'x',
      username: 'admin',
      run: async () => undefined,
    });
    await expect(first).resolves.toMatchObject({
      value: expect.arrayContaining([expect.objectContaining({ name: 'one' })]),
    });
    app.auth.updateUser({ id: other.id, disabled: true }, ctx.user!);
    const second = it.next();
    app.tasks.start({
      name: 'two',
      kind: 'test',
      target: 'y',
      username: 'admin',
      run: async () => undefined,
    });
    await expect(second).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
  });

  it('watching one task starts with its current row, so that a change just before the stream opened is not missed', async () => {
    const { app, ctx } = await signedIn();
    const task = app.tasks.start({
      name: 'quick',
      kind: 'test',
      target: 'x',
      username: 'admin',
      run: async () => undefined,
    });
    await app.tasks.wait(task.id);
    const it = (await createCaller(ctx).tasks.watch({ id: task.id }))[Symbol.asyncIterator]();
    const first = await Promise.race([it.next(), new Promise((r) => setTimeout(() => r('nothing'), 500))]);
    expect(first).toMatchObject({ value: [{ id: task.id, state: 'finished' }] });
    await it.return?.(undefined);
  });

  it('ends when the session expires, without any event', async () => {
    const { clock, ctx } = await signedIn();
    const gen = whileSignedIn(ctx, undefined, (signal) => waitForever(signal), 20);
    const next = gen.next();
    clock.advance(SESSION_TTL_MS + 1);
    await expect(next).rejects.toMatchObject({
      code: 'UNAUTHORIZED',
      message: expect.stringMatching(/session has expired/),
    });
  });

  it('stops quietly when the client goes away', async () => {
    const { app, ctx } = await signedIn();
    const ac = new AbortController();
    const gen = whileSignedIn(ctx, ac.signal, (signal) => waitForever(signal), 20);
    const next = gen.next();
    ac.abort();
    await expect(next).resolves.toMatchObject({ done: true });
    expect(app.auth.sessionUser(ctx.token)).not.toBeNull();
  });
});

async function* waitForever(signal: AbortSignal): AsyncGenerator<never> {
  await new Promise<void>((_, reject) =>
    signal.addEventListener('abort', () => reject(signal.reason), { once: true }),
  );
}
