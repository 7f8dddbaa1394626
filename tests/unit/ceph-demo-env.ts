import { expect } from 'vitest';
import { DemoCephAdapter } from '@/server/adapters/demo/ceph';
import { DemoWorld } from '@/server/adapters/demo/world';
import { ManualClock } from '@/server/domain/clock';
import { AppError } from '@/server/domain/errors';

export const DEMO_START = Date.UTC(2026, 10, 23, 12, 0, 0);

/** The two demo clusters over one simulated world, on a manual clock. */
export function demoCephPair() {
  const clock = new ManualClock(DEMO_START);
  const world = new DemoWorld(clock, 0);
  return { clock, world, a: new DemoCephAdapter(world, 'demo-site-a'), b: new DemoCephAdapter(world, 'demo-site-b') };
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
