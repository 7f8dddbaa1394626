'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRole } from '@/components/alerts/common';
import { RunStateBadge } from '@/components/plans/run-state';
import { useTaskEvents } from '@/components/task-events';
import { errorText, useTRPC } from '@/components/trpc';
import { Card, Empty, ErrorBox, PageTitle, formatTime } from '@/components/ui';

/** Recovery plans: what fails over together, in which order. */
export default function PlansPage() {
  const trpc = useTRPC();
  const role = useRole();
  useTaskEvents();
  const q = useQuery(trpc.plans.list.queryOptions());
  return (
    <>
      <PageTitle
        actions={
          <>
            <Link
              href="/reports"
              className="rounded-md border border-zinc-300 px-3 py-1.5 text-sm font-medium hover:bg-zinc-50 dark:border-zinc-600 dark:hover:bg-zinc-800"
            >
              Run reports
            </Link>
            {(role === 'operator' || role === 'admin') && (
              <Link
                href="/plans/new"
                className="rounded-md bg-brand-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-brand-700"
              >
                New plan
              </Link>
            )}
          </>
        }
      >
        Recovery plans
      </PageTitle>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      <Card>
        {q.data && q.data.length === 0 ? (
          <Empty>
            No recovery plan yet. A plan fails over RBD pools and VMs together, in priority groups: storage
            first, then the database, then the web servers.
          </Empty>
        ) : (
          <table className="w-full text-sm">
            <thead>
              <tr className="text-left text-xs text-zinc-500">
                <th className="px-2 py-1">Plan</th>
                <th className="px-2 py-1">Objects</th>
                <th className="px-2 py-1">Groups</th>
                <th className="px-2 py-1">Last run</th>
              </tr>
            </thead>
            <tbody>
              {(q.data ?? []).map((p) => (
                <tr
                  key={p.id}
                  data-testid="plan-row"
                  data-plan={p.name}
                  className="border-t border-zinc-100 dark:border-zinc-800"
                >
                  <td className="px-2 py-1.5">
                    <Link href={`/plans/${p.id}`} className="font-medium text-brand-600 hover:underline">
                      {p.name}
                    </Link>
                    {p.description && <p className="text-xs text-zinc-500">{p.description}</p>}
                  </td>
                  <td className="px-2 py-1.5">
                    {p.items.filter((i) => i.kind === 'rbd').length} RBD,{' '}
                    {p.items.filter((i) => i.kind === 'replica').length} VM
                  </td>
                  <td className="px-2 py-1.5">{new Set(p.items.map((i) => i.group)).size}</td>
                  <td className="px-2 py-1.5">
                    {p.lastRun ? (
                      <Link
                        href={`/reports/${p.lastRun.id}`}
                        className="inline-flex items-center gap-2 hover:underline"
                      >
                        <RunStateBadge state={p.lastRun.state} /> {p.lastRun.kind}{' '}
                        {p.lastRun.direction === 'back' ? '(back)' : ''} · {formatTime(p.lastRun.startedAt)}
                      </Link>
                    ) : (
                      <span className="text-zinc-500">never run</span>
                    )}
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
