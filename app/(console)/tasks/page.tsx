'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { StateBadge } from '@/components/task-state';
import { errorText, useTRPC } from '@/components/trpc';
import { Card, Empty, ErrorBox, PageTitle, Progress, formatDuration, formatTime } from '@/components/ui';

export default function TasksPage() {
  const trpc = useTRPC();
  const q = useQuery(trpc.tasks.list.queryOptions({ limit: 100 }));
  return (
    <>
      <PageTitle>Tasks</PageTitle>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      <Card>
        {q.data?.length === 0 && <Empty>No tasks yet. Start one from a site (Sites → Check).</Empty>}
        {!!q.data?.length && (
          <table className="w-full text-left text-sm">
            <thead className="text-xs text-zinc-500 uppercase">
              <tr>
                <th className="py-1">#</th>
                <th>Task</th>
                <th>Target</th>
                <th>State</th>
                <th className="w-48">Progress</th>
                <th>By</th>
                <th>Started</th>
                <th>Took</th>
              </tr>
            </thead>
            <tbody>
              {q.data.map((t) => (
                <tr key={t.id} className="border-t border-zinc-100 dark:border-zinc-800">
                  <td className="py-1.5 tabular-nums">{t.id}</td>
                  <td>
                    <Link
                      className="text-brand-600 hover:underline dark:text-brand-50"
                      href={`/tasks/${t.id}`}
                    >
                      {t.name}
                    </Link>
                  </td>
                  <td className="text-zinc-600 dark:text-zinc-400">{t.target}</td>
                  <td>
                    <StateBadge state={t.state} />
                  </td>
                  <td>
                    <Progress value={t.progressComplete} max={t.progressTotal} />
                  </td>
                  <td>{t.createdBy}</td>
                  <td>{formatTime(t.startedAt ?? t.createdAt)}</td>
                  <td>
                    {t.finishedAt && t.startedAt
                      ? formatDuration(t.finishedAt.getTime() - t.startedAt.getTime())
                      : '—'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
    </>
  );
}
