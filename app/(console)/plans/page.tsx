'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useRole } from '@/components/alerts/common';
import { QueryTable, tableColumns } from '@/components/data-table';
import { RunStateBadge } from '@/components/plans/run-state';
import { useTaskEvents } from '@/components/task-events';
import { useTRPC, type RouterOutputs } from '@/components/trpc';
import { Empty, PageTitle, formatTime } from '@/components/ui';

type PlanRow = RouterOutputs['plans']['list'][number];
const col = tableColumns<PlanRow>();
const columns = [
  col.accessor('name', {
    header: 'Plan',
    cell: ({ row: { original: p } }) => (
      <>
        <Link href={`/plans/${p.id}`} className="font-medium text-brand-600 hover:underline">
          {p.name}
        </Link>
        {p.description && <p className="text-xs text-zinc-500">{p.description}</p>}
      </>
    ),
  }),
  col.display({
    id: 'objects',
    header: 'Objects',
    cell: ({ row: { original: p } }) => (
      <>
        {p.items.filter((i) => i.kind === 'rbd').length} RBD,{' '}
        {p.items.filter((i) => i.kind === 'replica').length} VM
      </>
    ),
  }),
  col.accessor((p) => new Set(p.items.map((i) => i.group)).size, { id: 'groups', header: 'Groups' }),
  col.display({
    id: 'lastRun',
    header: 'Last run',
    cell: ({ row: { original: p } }) =>
      p.lastRun ? (
        <Link href={`/reports/${p.lastRun.id}`} className="inline-flex items-center gap-2 hover:underline">
          <RunStateBadge state={p.lastRun.state} /> {p.lastRun.kind}{' '}
          {p.lastRun.direction === 'back' ? '(back)' : ''} · {formatTime(p.lastRun.startedAt)}
        </Link>
      ) : (
        <span className="text-zinc-500">never run</span>
      ),
  }),
];

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
      <QueryTable
        query={q}
        columns={columns}
        rowKey={(p) => p.id}
        rowProps={(p) => ({ 'data-testid': 'plan-row', 'data-plan': p.name })}
        empty={
          <Empty>
            No recovery plan yet. A plan fails over RBD pools and VMs together, in priority groups: storage
            first, then the database, then the web servers.
          </Empty>
        }
      />
    </>
  );
}
