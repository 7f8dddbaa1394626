'use client';

import { useQuery } from '@tanstack/react-query';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, ErrorBox, formatTime } from '@/components/ui';

/** Where an alert's notifications went, and how each attempt ended. */
export function DeliveryLog({ alertId }: { alertId: number }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.alerts.deliveries.queryOptions({ alertId }));
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  if (!q.data) return <p className="text-xs text-zinc-500">Loading…</p>;
  if (!q.data.length)
    return (
      <p className="text-xs text-zinc-500">
        No notification was sent for this alert (no channel, silenced, or acknowledged).
      </p>
    );
  return (
    <table className="w-full text-left text-xs" data-testid="delivery-log">
      <caption className="sr-only">Deliveries of alert #{alertId}</caption>
      <thead className="text-zinc-500">
        <tr>
          <th className="py-1">Queued</th>
          <th>Channel</th>
          <th>Event</th>
          <th>State</th>
          <th>Attempts</th>
          <th>Last error / next attempt</th>
        </tr>
      </thead>
      <tbody>
        {q.data.map((d) => (
          <tr key={d.id} className="border-t border-zinc-100 dark:border-zinc-800">
            <td className="py-1">{formatTime(d.createdAt)}</td>
            <td>
              {d.channel} ({d.kind})
            </td>
            <td>{d.event}</td>
            <td>
              <Badge tone={d.state === 'sent' ? 'ok' : d.state === 'failed' ? 'error' : 'info'}>
                {d.state}
              </Badge>
            </td>
            <td className="tabular-nums">{d.attempts}</td>
            <td className="text-zinc-600 dark:text-zinc-300">
              {d.lastError}
              {d.state === 'pending' && d.nextAttemptAt && ` (next attempt ${formatTime(d.nextAttemptAt)})`}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
