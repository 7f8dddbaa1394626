import type { createCaller } from '@/server/trpc/root';

type Caller = ReturnType<typeof createCaller>;

/**
 * A pool (or namespace) as the Ceph page reads it: a fresh `ceph.status` (counts, peers), then
 * every image through `ceph.images`, page after page.
 */
export async function cephPool(caller: Caller, siteId: number, pool = 'rbd', namespace = '') {
  const status = await caller.ceph.status({ siteId });
  const entry = status.pools.find((p) => p.pool === pool && p.namespace === namespace);
  if (!entry) return undefined;
  const images = [];
  for (let offset = 0; ; offset += 200) {
    const page = await caller.ceph.images({ siteId, pool, namespace, offset, limit: 200 });
    images.push(...page.rows);
    if (offset + 200 >= page.total) break;
  }
  return { ...entry, images, status };
}
