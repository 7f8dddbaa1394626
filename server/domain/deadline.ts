import { AppError } from '../core/errors';

/**
 * `p`, or a rejection once `ms` have passed without an answer ("<what>: no answer within N s").
 * The one deadline for calls to machines that may be gone; the timer never outlives the race.
 */
export async function withTimeout<T>(p: Promise<T>, ms: number, what?: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, rej) =>
          (timer = setTimeout(
            () => rej(new Error(`${what ? `${what}: ` : ''}no answer within ${ms / 1000} s`)),
            ms,
          )),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits `ms`, or rejects with CANCELLED as soon as `signal` aborts. Its abort listener is removed
 * when the wait ends, so a task that waits in a loop does not pile listeners up on its signal.
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
