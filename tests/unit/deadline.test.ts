import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { sleep } from '@/server/domain/deadline';

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
