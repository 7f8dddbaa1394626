'use client';

import { useQuery } from '@tanstack/react-query';
import { DataTable, tableColumns } from '@/components/data-table';
import { errorText, useTRPC, type RouterOutputs } from '@/components/trpc';
import { ErrorBox, formatTime } from '@/components/ui';
import { DeliveryStateBadge } from './common';

type Delivery = RouterOutputs['alerts']['deliveries'][number];
const col = tableColumns<Delivery>();
const columns = [
  col.accessor('createdAt', { header: 'Queued', cell: (c) => formatTime(c.getValue()) }),
  col.display({
    id: 'channel',
    header: 'Channel',
    cell: ({ row: { original: d } }) => `${d.channel} (${d.kind})`,
  }),
  col.accessor('event', { header: 'Event' }),
  col.accessor('state', { header: 'State', cell: (c) => <DeliveryStateBadge state={c.getValue()} /> }),
  col.accessor('attempts', { header: 'Attempts', meta: { className: 'tabular-nums' } }),
  col.display({
    id: 'error',
    header: 'Last error / next attempt',
    meta: { className: 'text-zinc-600 dark:text-zinc-300' },
    cell: ({ row: { original: d } }) => (
      <>
        {d.lastError}
        {d.state === 'pending' && d.nextAttemptAt && ` (next attempt ${formatTime(d.nextAttemptAt)})`}
      </>
    ),
  }),
];

/** Where an alert's notifications went, and how each attempt ended. */
export function DeliveryLog({ alertId }: { alertId: number }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.alerts.deliveries.queryOptions({ alertId }));
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  if (!q.data) return <p className="text-xs text-zinc-500">Loading…</p>;
  return (
    <DataTable
      className="w-full text-left text-xs"
      data-testid="delivery-log"
      aria-label={`Deliveries of alert #${alertId}`}
      columns={columns}
      data={q.data}
      rowKey={(d) => d.id}
      sortable={false}
      empty={
        <p className="text-xs text-zinc-500">
          No notification was sent for this alert (no channel, silenced, or acknowledged).
        </p>
      }
    />
  );
}
