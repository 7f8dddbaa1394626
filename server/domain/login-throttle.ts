import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';

/**
 * Sign-in throttling. An attempt is counted (reserved) synchronously, before its password is
 * checked, so that concurrent attempts cannot all pass the check. Failures are counted per
 * (account, client) and per client, never per account alone: a flood of wrong passwords delays
 * the clients that sent them, not the account's owner signing in from another address.
 *
 * - (account, client): `pairFree` failures are free; then each attempt waits
 *   `baseDelayMs · 2^(failures − pairFree)` after the last failure (2 s, 4 s, 8 s, … at most
 *   `maxDelayMs`); while over the free count, one attempt at a time. A success clears the pair.
 * - client: the same over all accounts with `clientFree` failures free (stops a client from
 *   trying one password on many names). A success does not clear it.
 * - A record with no failure for `forgetAfterMs` is forgotten.
 * - Both maps keep at most `maxEntries` records, dropping the least recently used.
 */
export interface ThrottleOptions {
  pairFree?: number;
  clientFree?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  forgetAfterMs?: number;
  maxEntries?: number;
}

interface Rec {
  failures: number;
  lastFailure: number;
  pending: number;
}

/** A Map that keeps at most `cap` entries, dropping the least recently used. */
class CappedMap<V> {
  readonly #m = new Map<string, V>();
  constructor(private readonly cap: number) {}
  get size(): number {
    return this.#m.size;
  }
  /** Returns the entry (made most recently used), or creates it. */
  use(key: string, create: () => V): V {
    let v = this.#m.get(key);
    if (v !== undefined) this.#m.delete(key);
    else v = create();
    this.#m.set(key, v);
    while (this.#m.size > this.cap) this.#m.delete(this.#m.keys().next().value as string);
    return v;
  }
  delete(key: string): void {
    this.#m.delete(key);
  }
}

/** One reserved attempt: settle it exactly once. */
export interface Attempt {
  /** Whether this client had no failure and no other attempt pending for this account. */
  readonly clean: boolean;
  succeed(): void;
  fail(): void;
}

function waitText(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return s <= 120 ? `${s} s` : `${Math.ceil(s / 60)} min`;
}

export class LoginThrottle {
  readonly #pairs: CappedMap<Rec>;
  readonly #clients: CappedMap<Rec>;
  readonly #o: Required<ThrottleOptions>;

  constructor(
    private readonly clock: Clock,
    opts: ThrottleOptions = {},
  ) {
    this.#o = {
      pairFree: 5,
      clientFree: 20,
      baseDelayMs: 2_000,
      maxDelayMs: 15 * 60_000,
      forgetAfterMs: 60 * 60_000,
      maxEntries: 10_000,
      ...opts,
    };
    this.#pairs = new CappedMap(this.#o.maxEntries);
    this.#clients = new CappedMap(this.#o.maxEntries);
  }

  size(): { pairs: number; clients: number } {
    return { pairs: this.#pairs.size, clients: this.#clients.size };
  }

  #rec(map: CappedMap<Rec>, key: string, now: number): Rec {
    const r = map.use(key, () => ({ failures: 0, lastFailure: 0, pending: 0 }));
    if (r.failures > 0 && r.pending === 0 && now - r.lastFailure >= this.#o.forgetAfterMs) r.failures = 0;
    return r;
  }

  #check(r: Rec, free: number, now: number, what: string): void {
    if (r.failures + r.pending < free) return;
    if (r.pending > 0) {
      throw new AppError('RATE_LIMITED', `too many sign-ins ${what} at once; try again in a moment`, {
        details: { retryAfterSeconds: 1 },
      });
    }
    const delay = Math.min(this.#o.baseDelayMs * 2 ** Math.max(0, r.failures - free), this.#o.maxDelayMs);
    const wait = r.lastFailure + delay - now;
    if (wait > 0) {
      throw new AppError('RATE_LIMITED', `too many failed sign-ins ${what}; try again in ${waitText(wait)}`, {
        details: { retryAfterSeconds: Math.ceil(wait / 1000) },
      });
    }
  }

  /** Counts an attempt of `client` on `account` before anything is verified; throws RATE_LIMITED. */
  reserve(account: string, client: string): Attempt {
    const now = this.clock.now();
    const pairKey = `${account}\u0000${client}`;
    const pair = this.#rec(this.#pairs, pairKey, now);
    const cl = this.#rec(this.#clients, client, now);
    this.#check(pair, this.#o.pairFree, now, 'for this account from your address');
    this.#check(cl, this.#o.clientFree, now, 'from your address');
    const clean = pair.failures === 0 && pair.pending === 0;
    pair.pending++;
    cl.pending++;
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      const t = this.clock.now();
      pair.pending--;
      cl.pending--;
      if (ok) {
        pair.failures = 0;
        if (pair.pending === 0) this.#pairs.delete(pairKey);
        return;
      }
      for (const r of [pair, cl]) {
        r.failures++;
        r.lastFailure = t;
      }
    };
    return { clean, succeed: () => settle(true), fail: () => settle(false) };
  }
}

/**
 * At most one task per key at a time (one password check per account), in arrival order, except
 * that tasks marked `first` (a client that has not failed) go before the others waiting.
 */
export class KeyedGate {
  readonly #q = new Map<string, { first: (() => void)[]; rest: (() => void)[] }>();

  async run<T>(key: string, first: boolean, fn: () => Promise<T>): Promise<T> {
    const q = this.#q.get(key);
    if (q) await new Promise<void>((resolve) => (first ? q.first : q.rest).push(resolve));
    else this.#q.set(key, { first: [], rest: [] });
    try {
      return await fn();
    } finally {
      const cur = this.#q.get(key)!;
      const next = cur.first.shift() ?? cur.rest.shift();
      if (next) next();
      else this.#q.delete(key);
    }
  }

  get busyKeys(): number {
    return this.#q.size;
  }
}
