'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { RUN_KIND_LABEL, RunStateBadge, runTitle } from '@/components/plans/run-state';
import { useTaskEvents } from '@/components/task-events';
import { errorText, useTRPC } from '@/components/trpc';
import { Card, Empty, ErrorBox, PageTitle, Select, formatDuration, formatTime } from '@/components/ui';
import { formatSeconds } from '@/server/domain/protection/format';

type Kind = 'planned' | 'disaster' | 'reprotect' | 'test' | 'test-cleanup';

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
      {q.error && <ErrorBox error={errorText(q.error)} />}
      <Card>
        {q.data && q.data.length === 0 ? (
          <Empty>No run yet.</Empty>
        ) : (
          <table className="w-full text-sm">
            <thead>
              <tr className="text-left text-xs text-zinc-500">
                <th className="px-2 py-1">Run</th>
                <th className="px-2 py-1">Plan</th>
                <th className="px-2 py-1">Started</th>
                <th className="px-2 py-1">Outcome</th>
                <th className="px-2 py-1">Data lost</th>
                <th className="px-2 py-1">Recovery time</th>
              </tr>
            </thead>
            <tbody>
              {(q.data ?? []).map((r) => (
                <tr
                  key={r.id}
                  data-testid="report-row"
                  className="border-t border-zinc-100 dark:border-zinc-800"
                >
                  <td className="px-2 py-1.5">
                    <Link href={`/reports/${r.id}`} className="font-medium text-brand-600 hover:underline">
                      #{r.id} {runTitle(r.kind, r.direction, r.objectRun)}
                    </Link>
                    <p className="max-w-md truncate text-xs text-zinc-500" title={r.reason}>
                      {r.reason}
                    </p>
                  </td>
                  <td className="px-2 py-1.5">{r.planName}</td>
                  <td className="px-2 py-1.5">
                    {formatTime(r.startedAt)} <span className="text-xs text-zinc-500">by {r.startedBy}</span>
                  </td>
                  <td className="px-2 py-1.5">
                    <RunStateBadge state={r.state} />
                  </td>
                  <td className="px-2 py-1.5 tabular-nums">
                    {r.dataLossSec === null
                      ? '—'
                      : r.dataLossSec === 0
                        ? 'none'
                        : formatSeconds(r.dataLossSec)}
                  </td>
                  <td className="px-2 py-1.5 tabular-nums">
                    {r.recoveryTimeMs === null ? '—' : formatDuration(r.recoveryTimeMs)}
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
