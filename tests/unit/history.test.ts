import { describe, expect, it } from 'vitest';
import { csvCell } from '@/server/domain/history';
import { redact } from '@/server/domain/redact';
import { testApp } from './helpers';

describe('history', () => {
  it('redacts secrets deeply', () => {
    expect(
      redact({
        a: 1,
        password: 'x',
        nested: { privateKey: 'k', keyring: 'r', token: 't', ok: 'y' },
        list: [{ secret: 's' }],
      }),
    ).toEqual({
      a: 1,
      password: '[redacted]',
      nested: { privateKey: '[redacted]', keyring: '[redacted]', token: '[redacted]', ok: 'y' },
      list: [{ secret: '[redacted]' }],
    });
  });

  it('filters by target, action, user, outcome and time, and paginates', () => {
    const { app, clock } = testApp();
    for (let i = 0; i < 30; i++) {
      clock.advance(60_000);
      app.history.record({
        username: i % 2 ? 'alice' : 'bob',
        action: i % 3 ? 'replica.sync' : 'failover',
        target: `vm:web${i % 5}`,
        outcome: i % 7 ? 'success' : 'failure',
      });
    }
    const all = app.history.list({}, { limit: 10, offset: 0 });
    expect(all.total).toBe(30);
    expect(all.rows).toHaveLength(10);
    expect(all.rows[0]!.at.getTime()).toBeGreaterThan(all.rows[9]!.at.getTime());
    expect(app.history.list({ username: 'alice' }, { limit: 100, offset: 0 }).total).toBe(15);
    expect(app.history.list({ action: 'failover' }, { limit: 100, offset: 0 }).total).toBe(10);
    expect(app.history.list({ outcome: 'failure' }, { limit: 100, offset: 0 }).total).toBe(5);
    expect(app.history.list({ target: 'web3' }, { limit: 100, offset: 0 }).total).toBe(6);
    const start = Date.UTC(2026, 10, 23, 12, 0, 0);
    expect(
      app.history.list({ from: start + 10 * 60_000, to: start + 19 * 60_000 }, { limit: 100, offset: 0 })
        .total,
    ).toBe(10);
    expect(app.history.list({}, { limit: 10, offset: 25 }).rows).toHaveLength(5);
  });

  it('exports CSV with escaping and formula neutralisation', () => {
    const { app } = testApp();
    app.history.record({
      username: 'eve',
      action: 'sites.create',
      target: 'site:"x",y',
      outcome: 'failure',
      error: '=HYPERLINK("evil")',
      params: { privateKey: 'KEY' },
    });
    const csv = [...app.history.csv({})].join('');
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe('id,time,user,action,target,outcome,duration_ms,task_id,error,params,via');
    expect(lines[1]).toContain('"site:""x"",y"');
    expect(lines[1]).toContain(`"'=HYPERLINK(""evil"")"`);
    expect(csv).not.toContain('KEY"');
    expect(csvCell('+1')).toBe("'+1");
  });
});

describe('AppError across bundle copies', () => {
  it('is recognised by instanceof even from another copy of the class', async () => {
    const { AppError } = await import('@/server/core/errors');
    const { CommandError } = await import('@/server/adapters/runner');
    // A structurally separate copy, as a second bundle would have.
    const copy = await import('@/server/domain/errors?copy' as string).catch(() => null);
    const foreign = Object.assign(new Error('x'), {
      [Symbol.for('tandem.AppError')]: true,
      code: 'NOT_FOUND',
    });
    expect(foreign instanceof AppError).toBe(true);
    expect(new Error('plain') instanceof AppError).toBe(false);
    const ce = new CommandError({ argv: ['zfs', 'list'], exitCode: 1, stderr: 'boom', target: 'local' });
    expect(ce instanceof AppError).toBe(true);
    expect(ce instanceof CommandError).toBe(true);
    expect(new AppError('INTERNAL', 'x') instanceof CommandError).toBe(false);
    if (copy) expect(new copy.AppError('INTERNAL', 'y') instanceof AppError).toBe(true);
  });
});
