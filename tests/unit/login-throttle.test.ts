import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { describe, expect, it } from 'vitest';
import { createApp } from '@/server/app';
import type { PasswordHasher } from '@/server/domain/auth';
import { ManualClock } from '@/server/core/clock';
import { LoginThrottle } from '@/server/domain/login-throttle';
import { contextFor } from '@/server/trpc/init';
import { appRouter } from '@/server/trpc/root';

/** A hasher that counts verifies and how many run at once per stored hash (one per account here). */
class CountingHasher implements PasswordHasher {
  verifies = 0;
  inFlight = new Map<string, number>();
  maxInFlight = 0;
  constructor(private readonly delayMs = 5) {}
  async hash(pw: string): Promise<string> {
    return `plain:${pw}`;
  }
  async verify(hash: string, pw: string): Promise<boolean> {
    this.verifies++;
    const n = (this.inFlight.get(hash) ?? 0) + 1;
    this.inFlight.set(hash, n);
    this.maxInFlight = Math.max(this.maxInFlight, n);
    await (this.delayMs ? new Promise((r) => setTimeout(r, this.delayMs)) : null);
    this.inFlight.set(hash, (this.inFlight.get(hash) ?? 1) - 1);
    return hash === `plain:${pw}`;
  }
}

function setup(verifyMs = 5) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-test-'));
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const hasher = new CountingHasher(verifyMs);
  const app = createApp({
    dbFile: ':memory:',
    dataDir: dir,
    clock,
    demoLatencyMs: 0,
    passwordHasher: hasher,
  });
  return { app, clock, hasher };
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? String(e),
  );

describe('sign-in throttling', () => {
  it('lets at most five of 100 parallel wrong passwords reach the hash check, one at a time', async () => {
    const { app, hasher } = setup();
    await app.auth.createUser({ username: 'admin', password: 'the right password', role: 'admin' });
    const codes = await Promise.all(
      Array.from({ length: 100 }, (_, i) => codeOf(app.auth.login('admin', `wrong ${i}`, 'attacker'))),
    );
    expect(hasher.verifies).toBe(5);
    expect(hasher.maxInFlight).toBe(1);
    expect(codes.filter((c) => c === 'WRONG_CREDENTIALS')).toHaveLength(5);
    expect(codes.filter((c) => c === 'RATE_LIMITED')).toHaveLength(95);
  });

  it('signs in a client that has not failed while another client hammers the account', async () => {
    const { app, hasher } = setup();
    await app.auth.createUser({ username: 'admin', password: 'the right password', role: 'admin' });
    const attack = Promise.all(
      Array.from({ length: 100 }, (_, i) => codeOf(app.auth.login('admin', `wrong ${i}`, 'attacker'))),
    );
    const user = app.auth.login('admin', 'the right password', 'browser');
    await expect(user).resolves.toMatchObject({ user: { username: 'admin' } });
    // The clean client went first: only the attacker's attempt already being verified ran before
    // it (and the next one may have started as it returned).
    expect(hasher.verifies).toBeLessThanOrEqual(3);
    await attack;
    await expect(app.auth.login('admin', 'the right password', 'browser')).resolves.toBeTruthy();
    expect(hasher.maxInFlight).toBe(1);
  });

  it('delays a client that failed, growing with its failures, never for 15 minutes at first; forgets after an hour', async () => {
    const { app, clock } = setup();
    await app.auth.createUser({ username: 'bob', password: 'bob password 1', role: 'operator' });
    for (let i = 0; i < 5; i++)
      await expect(app.auth.login('bob', 'nope', 'ip1')).rejects.toThrow('wrong username or password');
    await expect(app.auth.login('bob', 'bob password 1', 'ip1')).rejects.toThrow(/try again in 2 s/);
    clock.advance(2_000);
    await expect(app.auth.login('bob', 'nope', 'ip1')).rejects.toThrow('wrong username or password');
    await expect(app.auth.login('bob', 'bob password 1', 'ip1')).rejects.toThrow(/try again in 4 s/);
    clock.advance(4_000);
    await expect(app.auth.login('bob', 'nope', 'ip1')).rejects.toThrow('wrong username or password');
    await expect(app.auth.login('bob', 'bob password 1', 'ip1')).rejects.toThrow(/try again in 8 s/);
    // Another client is not delayed at all.
    await expect(app.auth.login('bob', 'bob password 1', 'ip2')).resolves.toBeTruthy();
    clock.advance(8_000);
    await expect(app.auth.login('bob', 'bob password 1', 'ip1')).resolves.toBeTruthy();
    // The delay is capped at 15 minutes.
    for (let i = 0; i < 5; i++)
      await expect(app.auth.login('bob', 'nope', 'ip3')).rejects.toThrow('wrong username or password');
    for (let i = 0; i < 12; i++) {
      clock.advance(15 * 60_000);
      await expect(app.auth.login('bob', 'nope', 'ip3')).rejects.toThrow('wrong username or password');
    }
    await expect(app.auth.login('bob', 'bob password 1', 'ip3')).rejects.toThrow(/try again in 15 min/);
    clock.advance(60 * 60_000);
    await expect(app.auth.login('bob', 'bob password 1', 'ip3')).resolves.toBeTruthy();
  });

  it('limits one client across accounts (unknown names included)', async () => {
    const { app, hasher } = setup();
    await app.auth.createUser({ username: 'carol', password: 'carol password', role: 'viewer' });
    for (let i = 0; i < 20; i++)
      await expect(app.auth.login(`user${i}`, 'guess', 'sprayer')).rejects.toThrow(
        'wrong username or password',
      );
    await expect(app.auth.login('carol', 'carol password', 'sprayer')).rejects.toThrow(
      /too many failed sign-ins/,
    );
    expect(hasher.verifies).toBe(20);
    await expect(app.auth.login('carol', 'carol password', 'someone else')).resolves.toBeTruthy();
  });

  it('keeps its memory bounded under many client addresses', async () => {
    const clock = new ManualClock();
    const t = new LoginThrottle(clock, { maxEntries: 100 });
    for (let i = 0; i < 5_000; i++) t.reserve(`user${i % 7}`, `10.0.${i >> 8}.${i & 255}`).fail();
    expect(t.size().pairs).toBeLessThanOrEqual(100);
    expect(t.size().clients).toBeLessThanOrEqual(100);
    const { app } = setup(0);
    for (let i = 0; i < 12_000; i++)
      await app.auth.login('nobody', 'guess', `client-${i}`).catch(() => undefined);
    expect(app.auth.throttle.size().pairs).toBeLessThanOrEqual(10_000);
    expect(app.auth.throttle.size().clients).toBeLessThanOrEqual(10_000);
  });

  it('refuses a tRPC batch that carries more than one sign-in call, before any password is checked', async () => {
    const { app, hasher } = setup();
    await app.auth.createUser({ username: 'admin', password: 'the right password', role: 'admin' });
    const n = 30;
    const req = new Request(
      `http://127.0.0.1:3000/api/trpc/${Array(n).fill('auth.login').join(',')}?batch=1`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          origin: 'http://127.0.0.1:3000',
          host: '127.0.0.1:3000',
          'x-tandem-peer': '127.0.0.1',
        },
        body: JSON.stringify(
          Object.fromEntries(
            Array.from({ length: n }, (_, i) => [i, { json: { username: 'admin', password: `wrong ${i}` } }]),
          ),
        ),
      },
    );
    const res = await fetchRequestHandler({
      endpoint: '/api/trpc',
      req,
      router: appRouter,
      createContext: (o) => contextFor(app, o),
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toMatch(/one sign-in call per request/);
    expect(hasher.verifies).toBe(0);
  });
});
