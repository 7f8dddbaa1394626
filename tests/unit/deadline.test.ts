import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ManualClock, sleep } from '@/server/core/clock';

describe('sleep', () => {
  it('leaves no abort listener on the signal after its waits (a task waiting in a loop)', async () => {
    const ac = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, ac.signal);
    expect(EventEmitter.getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with CANCELLED when the signal aborts, also when it already has', async () => {
    const ac = new AbortController();
    const waiting = sleep(60_000, ac.signal);
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'CANCELLED' });
    await expect(sleep(1, ac.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
  });
});

describe('ManualClock.sleep', () => {
  it('moves the clock by the time waited instead of waiting, and honours the signal', async () => {
    const clock = new ManualClock(0);
    const started = Date.now();
    for (let i = 0; i < 100; i++) await clock.sleep(60_000);
    expect(clock.now()).toBe(6_000_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    const ac = new AbortController();
    ac.abort();
    await expect(clock.sleep(1, ac.signal)).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(clock.now()).toBe(6_000_000);
  });
});
