'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useMemo } from 'react';
import { DataTable, tableColumns } from '@/components/data-table';
import { RunStateBadge, dataLoss, isoTime, runTitle } from '@/components/plans/run-state';
import { TestCard } from '@/components/plans/test-card';
import { StateBadge, isActiveState } from '@/components/task-state';
import { useTaskEvents } from '@/components/task-events';
import { errorText, useTRPC, type RouterOutputs } from '@/components/trpc';
import { Button, Card, ErrorBox, PageTitle, formatDuration } from '@/components/ui';

type RunReport = RouterOutputs['plans']['report'];
type RunReportItem = RunReport['items'][number];

const objectCol = tableColumns<RunReportItem>();
/** A column's padding, and the classes of its cells. */
const pad = (className = '') => ({
  className: `px-2 py-1.5 ${className}`.trim(),
  headClassName: 'px-2 py-1',
});

/** The report's objects: the data lost is measured against a run's start (a reprotect loses none). */
function objectColumns(kind: string, startedAt: number) {
  return [
    objectCol.accessor('group', { header: 'Group', meta: pad() }),
    objectCol.accessor('label', {
      header: 'Object',
      meta: pad(),
      cell: ({ row: { original: i } }) => (
        <>
          {i.label}
          {i.taskId && (
            <p className="text-xs text-zinc-500">
              task #{i.taskId} {i.taskName}
            </p>
          )}
          {i.error && <p className="text-xs text-red-700 dark:text-red-400">{i.error}</p>}
          {i.steps.length > 0 && (
            <ol className="mt-1 text-xs text-zinc-600 dark:text-zinc-400">
              {i.steps.map((s, k) => (
                <li key={k}>
                  {s.name}: {s.state}
                  {s.ms !== null && ` (${formatDuration(s.ms)})`}
                </li>
              ))}
            </ol>
          )}
        </>
      ),
    }),
    objectCol.accessor('state', {
      header: 'Outcome',
      meta: pad(),
      cell: (c) => <StateBadge state={c.getValue()} />,
    }),
    objectCol.accessor('recoveryPointAt', {
      header: 'Recovery point',
      meta: pad('text-xs'),
      cell: (c) => isoTime(c.getValue()),
    }),
    objectCol.accessor('dataLossSec', {
      header: 'Data lost',
      meta: pad('tabular-nums'),
      cell: ({ row: { original: i } }) => (
        <span data-testid="report-object-loss">
          {kind === 'reprotect' ? 'n/a' : i.state === 'done' ? dataLoss(i.dataLossSec) : '—'}
        </span>
      ),
    }),
    objectCol.display({
      id: 'took',
      header: 'Took',
      meta: pad('tabular-nums'),
      cell: ({ row: { original: i } }) =>
        i.startedAt && i.finishedAt ? formatDuration(i.finishedAt - i.startedAt) : '—',
    }),
    objectCol.accessor('readyAt', {
      header: 'Ready',
      meta: pad('text-xs'),
      cell: (c) => {
        const readyAt = c.getValue();
        return readyAt ? `${formatDuration(readyAt - startedAt)} after the start` : '—';
      },
    }),
  ];
}

/** Every object of the run, in the plan's order, with its outcome, recovery point and timings. */
function ReportObjects({ r }: { r: RunReport }) {
  const columns = useMemo(() => objectColumns(r.kind, r.startedAt), [r.kind, r.startedAt]);
  return (
    <DataTable
      columns={columns}
      data={r.items}
      rowKey={(i) => i.objectKey}
      rowProps={(i) => ({ 'data-testid': 'report-object', 'data-label': i.label, className: 'align-top' })}
      sortable={false}
      empty={<p className="text-sm text-zinc-500">None.</p>}
      className="w-full text-left text-sm"
      data-testid="report-objects"
    />
  );
}

/**
 * One run's report, for the operator and the auditor: who ran it and why, the measured data loss
 * and recovery time, every object with its recovery point and timings, the pre-checks, the
 * questions and answers, and the errors. Exported as JSON, and printable (the console's frame is
 * left out of the print).
 */
export function RunReportView({ id }: { id: number }) {
  const trpc = useTRPC();
  useTaskEvents();
  // Read again on every visit, and every 2 s while the run or a cleanup of it is under way (a
  // cleanup's task is another task than the report's).
  const q = useQuery(
    trpc.plans.report.queryOptions(
      { id },
      {
        enabled: Number.isInteger(id) && id > 0,
        refetchOnMount: 'always',
        refetchInterval: (query) => {
          const d = query.state.data;
          return d && (isActiveState(d.state) || d.cleanups.some((c) => isActiveState(c.state)))
            ? 2000
            : false;
        },
      },
    ),
  );
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  const r = q.data;
  if (!r) return <p className="text-sm text-zinc-500">Loading…</p>;
  const download = () => {
    const blob = new Blob([JSON.stringify(r, null, 2)], { type: 'application/json' });
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = `tandem-run-${r.id}-${r.planName.replace(/[^A-Za-z0-9._-]+/g, '_')}.json`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };
  const pre = r.prechecks as {
    items?: {
      objectKey: string;
      label: string;
      action: string;
      dataLossWindowSec: number | null;
      checks: { id: string; label: string; status: string; message: string }[];
    }[];
  } | null;
  return (
    <article data-testid="run-report" className="print:text-black">
      <PageTitle
        actions={
          <span className="flex gap-2 print:hidden">
            <Button onClick={download}>Export JSON</Button>
            <Button onClick={() => window.print()}>Print</Button>
          </span>
        }
      >
        <span className="flex items-center gap-3">
          Run report #{r.id}: {runTitle(r.kind, r.direction, r.objectRun)} of {r.planName}{' '}
          <RunStateBadge state={r.state} />
        </span>
      </PageTitle>
      <div className="grid gap-4 lg:grid-cols-3 print:block">
        <Card title="Summary" className="lg:col-span-2 print:mb-4 print:border-0 print:shadow-none">
          <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm" data-testid="report-summary">
            <dt className="text-zinc-500">{r.objectRun ? 'Object' : 'Plan'}</dt>
            <dd>
              {r.objectRun ? (
                r.planName
              ) : r.planId ? (
                <Link href={`/plans/${r.planId}`}>{r.planName}</Link>
              ) : (
                `${r.planName} (deleted)`
              )}
            </dd>
            <dt className="text-zinc-500">Run by</dt>
            <dd>{r.startedBy}</dd>
            <dt className="text-zinc-500">Reason</dt>
            <dd data-testid="report-reason">{r.reason}</dd>
            <dt className="text-zinc-500">Started</dt>
            <dd>{isoTime(r.startedAt)}</dd>
            <dt className="text-zinc-500">Ended</dt>
            <dd>{isoTime(r.finishedAt)}</dd>
            {r.attempts > 1 && (
              <>
                <dt className="text-zinc-500">Attempts</dt>
                <dd>{r.attempts} (resumed)</dd>
              </>
            )}
            <dt className="text-zinc-500">
              {r.kind === 'test' ? 'Age of the recovery points used' : 'Measured data loss'}
            </dt>
            <dd data-testid="report-data-loss">
              {r.kind === 'reprotect' || r.kind === 'test-cleanup' ? 'n/a' : dataLoss(r.dataLossSec)}
            </dd>
            <dt className="text-zinc-500">Measured recovery time</dt>
            <dd data-testid="report-recovery-time">
              {r.recoveryTimeMs === null ? '—' : formatDuration(r.recoveryTimeMs)}
            </dd>
            {r.taskId && (
              <>
                <dt className="text-zinc-500">Task</dt>
                <dd>
                  <Link
                    href={`/tasks/${r.taskId}`}
                    className="text-brand-600 hover:underline print:text-black"
                  >
                    #{r.taskId}
                  </Link>
                </dd>
              </>
            )}
          </dl>
          <p className="mt-2 text-xs text-zinc-500">
            Data loss: per object, the run&apos;s start minus the recovery point it was recovered from (0 for
            a planned switch). Recovery time: the run&apos;s start to the last VM running and ready.
          </p>
        </Card>
        <Card title="Errors" className="print:mb-4 print:border-0 print:shadow-none">
          {r.errors.length ? (
            <ul className="space-y-1 text-sm text-red-700 dark:text-red-400" data-testid="report-errors">
              {r.errors.map((e) => (
                <li key={e}>{e}</li>
              ))}
            </ul>
          ) : (
            <p className="text-sm text-zinc-500">None.</p>
          )}
        </Card>
      </div>
      <TestCard r={r} />
      <Card title="Objects" className="mt-4 print:border-0 print:shadow-none">
        <ReportObjects r={r} />
      </Card>
      {pre?.items && (
        <Card title="Pre-checks at the start" className="mt-4 print:border-0 print:shadow-none">
          <ul className="space-y-2 text-sm">
            {pre.items.map((i) => (
              <li key={i.objectKey}>
                <b>{i.label}</b>: {i.action}
                {r.kind !== 'reprotect' && `, window ${dataLoss(i.dataLossWindowSec)}`}
                <ul className="ml-4 text-xs text-zinc-600 dark:text-zinc-400">
                  {i.checks.map((c) => (
                    <li key={c.id}>
                      {c.status === 'pass' ? '✓' : c.status === 'warn' ? '!' : '✗'} {c.label}: {c.message}
                    </li>
                  ))}
                </ul>
              </li>
            ))}
          </ul>
        </Card>
      )}
      <Card title="Questions and answers" className="mt-4 print:border-0 print:shadow-none">
        {r.questions.length ? (
          <ul className="space-y-1 text-sm" data-testid="report-questions">
            {r.questions.map((x, k) => (
              <li key={k}>
                <span className="text-xs text-zinc-500">{isoTime(x.at)}</span> {x.message}
              </li>
            ))}
          </ul>
        ) : (
          <p className="text-sm text-zinc-500">None asked.</p>
        )}
      </Card>
      <Card title="Steps of the run" className="mt-4 print:border-0 print:shadow-none">
        <ol className="space-y-1 text-sm">
          {r.steps.map((s, k) => (
            <li key={k} className="flex justify-between gap-2">
              <span>{s.name}</span>
              <span className="text-xs text-zinc-500 tabular-nums">
                {s.state}
                {s.ms !== null && ` · ${formatDuration(s.ms)}`}
              </span>
            </li>
          ))}
        </ol>
      </Card>
    </article>
  );
}
