import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Counts the CLI commands one piece of work starts, however many other callers share the adapter
 * at the same time (an adapter is built once per site and shared).
 */
const counters = new AsyncLocalStorage<{ n: number }>();

/** Runs `fn` and returns how many CLI commands it started (also counted in any enclosing count). */
export async function countCliCalls<T>(fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
  const outer = counters.getStore();
  const mine = { n: 0 };
  try {
    const value = await counters.run(mine, fn);
    return { value, calls: mine.n };
  } finally {
    if (outer) outer.n += mine.n;
  }
}

/** Adapters call this for each CLI command they start. */
export function noteCliCalls(n = 1): void {
  const c = counters.getStore();
  if (c) c.n += n;
}
