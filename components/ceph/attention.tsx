'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTRPC } from '../trpc';
import { formatTime } from '../ui';

/**
 * Ceph failovers, resyncs and failbacks that stopped half-way (a crash of Tandem, a restart, a
 * failed step): their images may be primary nowhere, or the stale side demoted but not resynced.
 * Each links to its task page, which offers Resume (and Roll back where it is safe).
 */
export function CephNeedingAttention() {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.ceph.unfinished.queryOptions(), refetchInterval: 10_000 });
  if (!q.data?.length) return null;
  return (
    <div role="alert" className="mb-4 space-y-1" data-testid="ceph-attention">
      {q.data.map((t) => (
        <p
          key={t.id}
          className="rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-200"
        >
          <Link href={`/tasks/${t.id}`} className="underline">
            {t.name}{' '}
            {t.state === 'interrupted'
              ? 'was interrupted'
              : t.state === 'cancelled'
                ? 'was cancelled'
                : 'failed'}{' '}
            {t.finishedAt ? formatTime(t.finishedAt) : ''}
            {t.lastCompletedStep ? ` after "${t.lastCompletedStep}"` : ' before its first step finished'}:
            resume it{t.kind === 'ceph.failover' ? ' or roll it back' : ''} on its task page
          </Link>
        </p>
      ))}
    </div>
  );
}
