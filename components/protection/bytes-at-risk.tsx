'use client';

import { useQuery } from '@tanstack/react-query';
import { errorText, useTRPC } from '../trpc';
import { Button, formatBytes, formatTime } from '../ui';

/**
 * What a failover now would lose in bytes: measured on demand (it asks the source machine), so
 * it is kept for a minute and measured again on request.
 */
export function BytesAtRiskLine({ subject }: { subject: string }) {
  const trpc = useTRPC();
  const q = useQuery({
    ...trpc.protection.bytesAtRisk.queryOptions({ subject }),
    staleTime: 60_000,
    refetchOnWindowFocus: false,
  });
  const m = q.data;
  return (
    <p
      className="mb-3 flex flex-wrap items-center gap-2 text-sm"
      data-testid="bytes-at-risk"
      data-bytes={m?.bytes ?? ''}
    >
      <span className="font-medium">Bytes at risk:</span>
      {q.isPending ? (
        <span className="text-zinc-500">measuring…</span>
      ) : q.error ? (
        <span className="text-red-700 dark:text-red-400">{errorText(q.error)}</span>
      ) : m && m.bytes !== null ? (
        <span>
          <b className="tabular-nums">
            {m.exact ? '' : '≈ '}
            {formatBytes(m.bytes)}
          </b>{' '}
          <span className="text-zinc-600 dark:text-zinc-400">
            — {m.note}; measured {formatTime(m.measuredAt)}
          </span>
        </span>
      ) : (
        <span className="text-zinc-600 dark:text-zinc-400">unknown — {m?.note}</span>
      )}
      <Button busy={q.isFetching} onClick={() => void q.refetch()}>
        Measure again
      </Button>
    </p>
  );
}
