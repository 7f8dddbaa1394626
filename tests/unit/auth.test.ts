import { describe, expect, it } from 'vitest';
import { hasRole } from '@/server/domain/auth';
import { testApp } from './helpers';

describe('sign-in and sessions', () => {
  it('creates the first admin once, then signs in', async () => {
    const { app } = testApp();
    expect(app.auth.userCount()).toBe(0);
    await app.auth.setupFirstAdmin('admin', 'correct horse battery');
    await expect(app.auth.setupFirstAdmin('admin2', 'correct horse battery')).rejects.toThrow(
      /already set up/,
    );
    const s = await app.auth.login('admin', 'correct horse battery', 'c1');
    expect(s.user.role).toBe('admin');
    expect(app.auth.sessionUser(s.token)).toEqual(s.user);
    expect(app.auth.sessionUser('forged-token')).toBeNull();
    app.auth.logout(s.token);
    expect(app.auth.sessionUser(s.token)).toBeNull();
  });

  it('stores argon2id hashes, never passwords', async () => {
    const { app } = testApp();
    const u = await app.auth.createUser({ username: 'alice', password: 'a long password', role: 'viewer' });
    expect(u.passwordHash).toMatch(/^\$argon2id\$/);
    expect(u.passwordHash).not.toContain('a long password');
  });

  it('says "wrong username or password" and rate-limits repeated failures', async () => {
    const { app, clock } = testApp();
    await app.auth.createUser({ username: 'bob', password: 'bob password 1', role: 'operator' });
    for (let i = 0; i < 5; i++)
      await expect(app.auth.login('bob', 'nope', 'ip1')).rejects.toThrow('wrong username or password');
    await expect(app.auth.login('bob', 'bob password 1', 'ip1')).rejects.toThrow(/too many failed sign-ins/);
    clock.advance(16 * 60_000);
    await expect(app.auth.login('bob', 'bob password 1', 'ip1')).resolves.toBeTruthy();
  });

  it('expires sessions with their own message', async () => {
    const { app, clock } = testApp();
    await app.auth.createUser({ username: 'carol', password: 'carol password', role: 'viewer' });
    const s = await app.auth.login('carol', 'carol password', 'x');
    clock.advance(13 * 3600_000);
    expect(() => app.auth.sessionUser(s.token)).toThrow(/session has expired/);
    expect(app.auth.sessionUser(s.token)).toBeNull();
  });

  it('protects the last admin and ends sessions of disabled users', async () => {
    const { app } = testApp();
    const a = await app.auth.setupFirstAdmin('admin', 'admin password');
    const me = { id: a.id, username: 'admin', role: 'admin' as const };
    expect(() => app.auth.updateUser({ id: a.id, role: 'viewer' }, me)).toThrow(/last active admin/);
    expect(() => app.auth.deleteUser({ id: a.id }, me)).toThrow(/your own account/);
    const v = await app.auth.createUser({ username: 'dave', password: 'dave password', role: 'viewer' });
    const s = await app.auth.login('dave', 'dave password', 'y');
    app.auth.updateUser({ id: v.id, disabled: true }, me);
    expect(app.auth.sessionUser(s.token)).toBeNull();
    await expect(app.auth.login('dave', 'dave password', 'y')).rejects.toThrow(/disabled/);
  });

  it('orders roles viewer < operator < admin', () => {
    expect(hasRole('admin', 'operator')).toBe(true);
    expect(hasRole('operator', 'admin')).toBe(false);
    expect(hasRole('viewer', 'viewer')).toBe(true);
    expect(hasRole('viewer', 'operator')).toBe(false);
  });
});
