import { AppError } from './errors';

/**
 * Time as Tandem's rules see it: `now` for timestamps and deadlines, `sleep` for the waits of a
 * task (promote waiting for a copy, a plan waiting after a start). Tests give a ManualClock, whose
 * waits move its time instead of passing real time.
 */
export interface Clock {
  now(): number;
  /** Waits `ms`, or rejects with CANCELLED as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/**
 * Waits `ms` of real time, or rejects with CANCELLED as soon as `signal` aborts. Its abort listener
 * is removed when the wait ends, so a task that waits in a loop does not pile listeners up on its
 * signal.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(new AppError('CANCELLED', 'cancelled'));
    const onAbort = () => {
      clearTimeout(timer);
      reject(new AppError('CANCELLED', 'cancelled'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export const systemClock: Clock = { now: () => Date.now(), sleep };

/**
 * A clock tests move by hand. A wait on it moves it forward by the time waited, after letting
 * whatever is ready run first (one real turn of the event loop): a task that waits for something
 * timed on this clock gets there without real time passing and without a test moving the clock.
 */
export class ManualClock implements Clock {
  constructor(private t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
  set(t: number): void {
    this.t = t;
  }
  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new AppError('CANCELLED', 'cancelled');
    await new Promise((r) => setImmediate(r));
    if (signal?.aborted) throw new AppError('CANCELLED', 'cancelled');
    this.t += ms;
  }
}
