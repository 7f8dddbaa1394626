'use client';

import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { StateBadge } from './task-state';
import { useTRPC } from './trpc';
import { Progress } from './ui';

/** Active tasks with live progress, fed by the task event stream. */
export function TasksPanel() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const active = useQuery(trpc.tasks.list.queryOptions({ active: true, limit: 20 }));
  useSubscription(
    trpc.tasks.watch.subscriptionOptions(undefined, {
      onData: () => {
        void qc.invalidateQueries({ queryKey: trpc.tasks.pathKey() });
      },
    }),
  );
  const rows = active.data ?? [];
  return (
    <div className="border-t border-zinc-200 p-3 dark:border-zinc-700" aria-label="Active tasks">
      <h2 className="mb-2 text-xs font-semibold tracking-wide text-zinc-500 uppercase">Active tasks</h2>
      {rows.length === 0 && <p className="text-xs text-zinc-500">None running</p>}
      <ul className="space-y-2">
        {rows.map((t) => (
          <li key={t.id} data-testid="active-task">
            <Link href={`/tasks/${t.id}`} className="block rounded p-1 text-xs hover:bg-zinc-100 dark:hover:bg-zinc-800">
              <div className="mb-1 flex items-center justify-between gap-1">
                <span className="truncate font-medium">{t.name}</span>
                <StateBadge state={t.state} />
              </div>
              <Progress value={t.progressComplete} max={t.progressTotal} label={`${t.name} progress`} />
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
