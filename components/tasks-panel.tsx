'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useTaskEvents } from './task-events';
import { StateBadge } from './task-state';
import { useTRPC } from './trpc';
import { Progress } from './ui';

/** Active tasks with live progress, fed by the tab's task event stream (which updates the list in place). */
export function TasksPanel() {
  const trpc = useTRPC();
  const active = useQuery(trpc.tasks.list.queryOptions({ active: true, limit: 20 }));
  useTaskEvents();
  const rows = active.data ?? [];
  return (
    <div className="border-t border-zinc-200 p-3 dark:border-zinc-700" aria-label="Active tasks">
      <h2 className="mb-2 text-xs font-semibold tracking-wide text-zinc-500 uppercase">Active tasks</h2>
      {rows.length === 0 && <p className="text-xs text-zinc-500">None running</p>}
      <ul className="space-y-2">
        {rows.map((t) => (
          <li key={t.id} data-testid="active-task">
            <Link
              href={`/tasks/${t.id}`}
              className="block rounded p-1 text-xs hover:bg-zinc-100 dark:hover:bg-zinc-800"
            >
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
