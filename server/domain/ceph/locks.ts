/**
 * Task locks of Ceph actions, hierarchical and keyed by site id (see `locksConflict` in the task
 * engine): `site/<id>` ⊃ `site/<id>/pool/<pool>` ⊃ `site/<id>/pool/<pool>/ns/<ns>` ⊃
 * `…/image/<image>`. The default namespace has no `ns/` segment, so an image of the default
 * namespace is `site/<id>/pool/<pool>/image/<image>`; a pool lock contains every namespace and
 * image of the pool. Ceph names never contain `/`.
 */
export interface CephLockScope {
  pool?: string;
  namespace?: string;
  image?: string;
}

export function cephLock(siteId: number, scope: CephLockScope = {}): string {
  let lock = `site/${siteId}`;
  if (!scope.pool) return lock;
  lock += `/pool/${scope.pool}`;
  if (scope.namespace) lock += `/ns/${scope.namespace}`;
  if (scope.image) lock += `/image/${scope.image}`;
  return lock;
}
