import { AppError } from '../domain/errors';
import { toAppError, toTRPCError } from './errors';
import type { Context } from './init';

/** How often a live stream checks that its session still exists, between events. */
export const SESSION_RECHECK_MS = 5_000;

/**
 * Streams `source` while the session the stream was opened with lasts: checked before each value
 * and every `recheckMs`, so that sign-out, expiry or a disabled account ends the stream (with
 * UNAUTHORIZED) even when nothing happens. The client going away ends it quietly.
 */
export async function* whileSignedIn<T>(
  ctx: Context,
  signal: AbortSignal | undefined,
  source: (signal: AbortSignal) => AsyncIterable<T>,
  recheckMs = SESSION_RECHECK_MS,
): AsyncGenerator<T> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal?.reason);
  if (signal?.aborted) return;
  signal?.addEventListener('abort', onAbort, { once: true });
  let ended: AppError | null = null;
  const check = (): boolean => {
    if (ended) return false;
    try {
      if (!ctx.app.auth.sessionUser(ctx.token))
        ended = new AppError('UNAUTHENTICATED', 'you have been signed out; sign in again');
    } catch (e) {
      ended = toAppError(e);
    }
    if (ended) ac.abort(ended);
    return !ended;
  };
  const timer = setInterval(check, recheckMs);
  timer.unref?.();
  try {
    for await (const value of source(ac.signal)) {
      if (!check()) break;
      yield value;
    }
  } catch (e) {
    if (!ended && !signal?.aborted) throw e;
  } finally {
    clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
  }
  if (ended) throw toTRPCError(ended);
}
