'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '../trpc';
import { formatTime } from '../ui';

/**
 * Replicas that need an operator before anything else happens to them: a failover or reinit that
 * stopped (a crash, a restart, a failed step), a VM running on two nodes, a master that moved.
 */
export function ReplicasNeedingAttention() {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.replicas.list.queryOptions(), refetchInterval: 10_000 });
  const items = (q.data ?? []).flatMap((r) => {
    const out: { key: string; tone: 'warn' | 'error'; text: string; href: string }[] = [];
    const vmHref = `/replicas/${r.sourceSiteId}/${encodeURIComponent(r.vmName)}`;
    if (r.operation && !r.activeTaskId)
      out.push({
        key: `op${r.id}`,
        tone: 'warn',
        text: `The ${r.operation.kind} of ${r.vmName} (replica ${r.name}) started ${formatTime(r.operation.startedAt)} did not finish: resume or roll it back`,
        href: `/tasks/${r.operation.taskId}`,
      });
    if (r.conflict?.kind === 'dual-running')
      out.push({
        key: `dual${r.id}`,
        tone: 'error',
        text: `${r.vmName} is running on two nodes (${r.sourceSite} and ${r.targetSite}); syncing of ${r.name} is stopped`,
        href: vmHref,
      });
    if (r.conflict?.kind === 'master-moved')
      out.push({
        key: `moved${r.id}`,
        tone: 'warn',
        text: `Replica ${r.name} of ${r.vmName} still pulls from the old master ${r.sourceSite}; it is paused until it is re-pointed to ${r.movedTo}`,
        href: vmHref,
      });
    return out;
  });
  if (!items.length) return null;
  return (
    <div role="alert" className="mb-4 space-y-1" data-testid="replicas-attention">
      {items.map((i) => (
        <p
          key={i.key}
          className={
            i.tone === 'error'
              ? 'rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-700 dark:bg-red-950 dark:text-red-200'
              : 'rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-200'
          }
        >
          <Link href={i.href} className="underline">
            {i.text}
          </Link>
        </p>
      ))}
    </div>
  );
}
