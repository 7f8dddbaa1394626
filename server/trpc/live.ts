import { AppError } from '../core/errors';
import { toAppError, toTRPCError } from './errors';
import type { Context } from './init';

/** How often a live stream checks that its session still exists, between events. */
export const SESSION_RECHECK_MS = 5_000;

/**
 * Streams `source` while the session the stream was opened with lasts: checked before each value
 * and every `recheckMs`, so that sign-out, expiry or a disabled account ends the stream (with
 * UNAUTHORIZED) even when nothing happens. Before a value the session is read again only when this
 * process has ended a session since the last read, the session has expired, or the last read is
 * older than `recheckMs` (a change made by another process is seen within that time). The client
 * going away ends it quietly.
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
  /** The last read of the session: still good while unexpired, unrevoked and younger than `recheckMs`. */
  let known: { revocations: number; expiresAt: number; at: number } | null = null;
  const check = (full: boolean): boolean => {
    if (ended) return false;
    const auth = ctx.app.auth;
    const now = ctx.app.clock.now();
    // Between full reads, a value goes out unless this process has ended a session since (sign-out,
    // disabled account…) or the session has expired: many streams, no session read per event.
    if (
      !full &&
      known &&
      known.revocations === auth.revocations &&
      now < known.expiresAt &&
      now - known.at < recheckMs
    )
      return true;
    try {
      const revocations = auth.revocations;
      const s = auth.session(ctx.token);
      if (!s) ended = new AppError('UNAUTHENTICATED', 'you have been signed out; sign in again');
      else known = { revocations, expiresAt: s.expiresAt, at: now };
    } catch (e) {
      ended = toAppError(e);
    }
    if (ended) ac.abort(ended);
    return !ended;
  };
  check(true);
  const timer = setInterval(() => check(true), recheckMs);
  timer.unref?.();
  try {
    for await (const value of source(ac.signal)) {
      if (!check(false)) break;
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
