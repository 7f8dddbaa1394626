'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { QueryTable, tableColumns } from '@/components/data-table';
import { RUN_KIND_LABEL, RunStateBadge, runTitle } from '@/components/plans/run-state';
import { useTaskEvents } from '@/components/task-events';
import { useTRPC, type RouterInputs, type RouterOutputs } from '@/components/trpc';
import { Empty, PageTitle, Select, formatDuration, formatTime } from '@/components/ui';
import { formatSeconds } from '@/server/domain/protection/format';

type Kind = NonNullable<RouterInputs['plans']['reports']['kind']>;

type ReportRow = RouterOutputs['plans']['reports'][number];
const col = tableColumns<ReportRow>();

/** A measure a run may lack (shown as —, sorted after the rest). */
function optionalNumber(
  id: string,
  header: string,
  get: (r: ReportRow) => number | null,
  show: (n: number) => string,
) {
  return col.accessor((r) => get(r) ?? undefined, {
    id,
    header,
    meta: { className: 'tabular-nums' },
    cell: (c) => {
      const n = c.getValue();
      return n === undefined ? '—' : show(n);
    },
  });
}

const columns = [
  col.accessor('id', {
    header: 'Run',
    cell: ({ row: { original: r } }) => (
      <>
        <Link href={`/reports/${r.id}`} className="font-medium text-brand-600 hover:underline">
          #{r.id} {runTitle(r.kind, r.direction, r.objectRun)}
        </Link>
        <p className="max-w-md truncate text-xs text-zinc-500" title={r.reason}>
          {r.reason}
        </p>
      </>
    ),
  }),
  col.accessor('planName', { header: 'Plan' }),
  col.accessor('startedAt', {
    header: 'Started',
    sortFn: 'datetime',
    cell: ({ row: { original: r } }) => (
      <>
        {formatTime(r.startedAt)} <span className="text-xs text-zinc-500">by {r.startedBy}</span>
      </>
    ),
  }),
  col.accessor('state', { header: 'Outcome', cell: (c) => <RunStateBadge state={c.getValue()} /> }),
  optionalNumber(
    'dataLoss',
    'Data lost',
    (r) => r.dataLossSec,
    (s) => (s === 0 ? 'none' : formatSeconds(s)),
  ),
  optionalNumber('recoveryTime', 'Recovery time', (r) => r.recoveryTimeMs, formatDuration),
];

/** Every run of every plan, newest first, filtered by plan and kind. */
export default function ReportsPage() {
  const trpc = useTRPC();
  useTaskEvents();
  const [planId, setPlanId] = useState(0);
  const [kind, setKind] = useState<Kind | ''>('');
  const plans = useQuery(trpc.plans.list.queryOptions());
  const q = useQuery(
    trpc.plans.reports.queryOptions({ planId: planId || undefined, kind: kind || undefined, limit: 100 }),
  );
  return (
    <>
      <PageTitle>Run reports</PageTitle>
      <div className="mb-3 flex flex-wrap gap-3">
        <Select label="Plan" value={planId} onChange={(e) => setPlanId(Number(e.target.value))}>
          <option value={0}>All plans</option>
          {(plans.data ?? []).map((p) => (
            <option key={p.id} value={p.id}>
              {p.name}
            </option>
          ))}
        </Select>
        <Select label="Kind" value={kind} onChange={(e) => setKind(e.target.value as Kind | '')}>
          <option value="">All kinds</option>
          {Object.entries(RUN_KIND_LABEL).map(([k, l]) => (
            <option key={k} value={k}>
              {l}
            </option>
          ))}
        </Select>
      </div>
      <QueryTable
        query={q}
        columns={columns}
        rowKey={(r) => r.id}
        rowProps={() => ({ 'data-testid': 'report-row' })}
        empty={<Empty>No run yet.</Empty>}
      />
    </>
  );
}
