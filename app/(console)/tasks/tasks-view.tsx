'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { QueryTable, tableColumns } from '@/components/data-table';
import { StateBadge } from '@/components/task-state';
import { useTRPC, type RouterOutputs } from '@/components/trpc';
import { Empty, PageTitle, Progress, formatDuration, formatTime } from '@/components/ui';

type TaskRow = RouterOutputs['tasks']['list'][number];
const col = tableColumns<TaskRow>();
const columns = [
  col.accessor('id', { header: '#', meta: { className: 'tabular-nums' } }),
  col.accessor('name', {
    header: 'Task',
    cell: (c) => (
      <Link
        className="text-brand-600 hover:underline dark:text-brand-50"
        href={`/tasks/${c.row.original.id}`}
      >
        {c.getValue()}
      </Link>
    ),
  }),
  col.accessor('target', { header: 'Target', meta: { className: 'text-zinc-600 dark:text-zinc-400' } }),
  col.accessor('state', { header: 'State', cell: (c) => <StateBadge state={c.getValue()} /> }),
  col.display({
    id: 'progress',
    header: 'Progress',
    meta: { headClassName: 'w-48' },
    cell: ({ row: { original: t } }) => <Progress value={t.progressComplete} max={t.progressTotal} />,
  }),
  col.accessor('createdBy', { header: 'By' }),
  col.accessor((t) => t.startedAt ?? t.createdAt, {
    id: 'started',
    header: 'Started',
    sortFn: 'datetime',
    cell: (c) => formatTime(c.getValue()),
  }),
  col.display({
    id: 'took',
    header: 'Took',
    cell: ({ row: { original: t } }) =>
      t.finishedAt && t.startedAt ? formatDuration(t.finishedAt.getTime() - t.startedAt.getTime()) : '—',
  }),
];

/** `limit`: how many of the latest tasks the list shows (as the page prefetched them). */
export function TasksView({ limit }: { limit: number }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.tasks.list.queryOptions({ limit }));
  return (
    <>
      <PageTitle>Tasks</PageTitle>
      <QueryTable
        query={q}
        columns={columns}
        rowKey={(t) => t.id}
        empty={<Empty>No tasks yet. Start one from a site (Sites → Check).</Empty>}
      />
    </>
  );
}
