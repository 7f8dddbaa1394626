import type { ProtectedObject } from '@/server/domain/protection/types';

/** A protected object as the protection service computes it, healthy unless told otherwise. */
export function protectedObject(over: Partial<ProtectedObject> = {}): ProtectedObject {
  return {
    subject: 'replica:1',
    kind: 'vm-replica',
    name: 'web01',
    source: { id: 1, name: 'node1' },
    target: { id: 2, name: 'node2' },
    rpoSec: 900,
    rpoFrom: { scope: 'default', label: 'installation default' },
    windowSec: 60,
    recoveryPointAt: null,
    bytesAtRisk: null,
    health: 'ok',
    reason: null,
    predictedBreachAt: null,
    predictedReason: null,
    state: 'idle',
    lastError: null,
    failures: 0,
    syncSeconds: null,
    bytesPerSecond: null,
    href: '/replicas/1/web01',
    failoverHref: null,
    ...over,
  };
}
