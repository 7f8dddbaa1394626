'use client';

import { formatTime } from '../ui';
import type { CephStatus } from './types';

/** How long the Ceph page waits for a cluster's status before it shows what it knows. */
export const STATUS_WAIT_MS = 1_500;

/** Refetch soon while the first answer is awaited, else at the page's usual pace. */
export function statusRefetchMs(status: Pick<CephStatus, 'state'> | undefined): number {
  return status?.state === 'waiting' ? 1_000 : 10_000;
}

/** The cluster's pools can be shown: it answered, now or before it became slow. */
export function hasPools(status: Pick<CephStatus, 'state'> | undefined): boolean {
  return status?.state === 'answered' || status?.state === 'slow';
}

/** Says when a cluster cannot be asked, has not answered yet, or is slow (its last answer is shown). */
export function ClusterState({
  name,
  status,
}: {
  name: string;
  status: Pick<CephStatus, 'state' | 'error' | 'at' | 'askedAt'>;
}) {
  switch (status.state) {
    case 'answered':
      return null;
    case 'unreachable':
      return (
        <div
          role="alert"
          data-testid="ceph-cluster-state"
          className="mb-4 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-800 dark:bg-red-950 dark:text-red-200"
        >
          <p className="font-medium">{name} is unreachable</p>
          <p>{status.error}</p>
          <p className="mt-1 text-xs">
            Found at {formatTime(status.at)}
            {status.askedAt !== null ? '; asking again' : ''}. Tandem asks again every 10 s; its pools, images
            and daemons show once it answers.
          </p>
        </div>
      );
    case 'waiting':
      return (
        <p
          role="status"
          data-testid="ceph-cluster-state"
          className="mb-4 rounded-md border border-zinc-200 px-3 py-2 text-sm text-zinc-600 dark:border-zinc-700 dark:text-zinc-300"
        >
          Asking {name}… {status.error}
        </p>
      );
    case 'slow':
      return (
        <p
          role="status"
          data-testid="ceph-cluster-state"
          className="mb-4 rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-800 dark:border-amber-800 dark:bg-amber-950 dark:text-amber-200"
        >
          {name} has not answered since {formatTime(status.askedAt)}: shown as of {formatTime(status.at)}.
        </p>
      );
  }
}
