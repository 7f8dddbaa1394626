import { expect } from 'vitest';
import type { CephAdapter } from '@/server/adapters/ceph/types';
import { DemoCephAdapter } from '@/server/adapters/demo/ceph';
import type { App } from '@/server/app';
import { DemoWorld } from '@/server/adapters/demo/world';
import { ManualClock } from '@/server/core/clock';
import { AppError } from '@/server/core/errors';

export const DEMO_START = Date.UTC(2026, 10, 23, 12, 0, 0);

/** The two demo clusters over one simulated world, on a manual clock. */
export function demoCephPair() {
  const clock = new ManualClock(DEMO_START);
  const world = new DemoWorld(clock, 0);
  return {
    clock,
    world,
    a: new DemoCephAdapter(world, 'demo-site-a'),
    b: new DemoCephAdapter(world, 'demo-site-b'),
  };
}

/** The AppError `p` rejects with (fails when it resolves or rejects with anything else). */
export async function rejection(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected a rejection');
}

/**
 * Makes `app.ceph.adapter(siteId)` answer with `patch`'s methods in place of its own (a cluster
 * that behaves as the real one sometimes does); every other method is the adapter's, bound to it.
 * Returns the unpatched lookup.
 */
export function patchCephAdapter(
  app: App,
  siteId: number,
  patch: (real: CephAdapter) => Partial<CephAdapter>,
): (id: number) => CephAdapter {
  const adapter = app.ceph.adapter.bind(app.ceph);
  app.ceph.adapter = (id) => {
    const real = adapter(id);
    if (id !== siteId) return real;
    const over = patch(real) as Record<string | symbol, unknown>;
    return new Proxy(real, {
      get: (t, k) => {
        if (k in over) return over[k];
        const v = (t as unknown as Record<string | symbol, unknown>)[k];
        return typeof v === 'function' ? (v as (...x: unknown[]) => unknown).bind(t) : v;
      },
    });
  };
  return adapter;
}
