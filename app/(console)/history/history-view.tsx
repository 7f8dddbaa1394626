'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useMemo, useState } from 'react';
import { DataTable, tableColumns } from '@/components/data-table';
import { errorText, useTRPC, type RouterInputs, type RouterOutputs } from '@/components/trpc';
import {
  Badge,
  Button,
  Card,
  Empty,
  ErrorBox,
  PageTitle,
  Select,
  TextInput,
  formatDuration,
  formatTime,
} from '@/components/ui';

type Outcome = NonNullable<NonNullable<RouterInputs['history']['list']['filter']>['outcome']>;

type HistoryRow = RouterOutputs['history']['list']['rows'][number];
const col = tableColumns<HistoryRow>();
const columns = [
  col.accessor('at', {
    header: 'Time',
    meta: { className: 'whitespace-nowrap' },
    cell: (c) => formatTime(c.getValue()),
  }),
  col.accessor('username', {
    header: 'User',
    cell: ({ row: { original: r } }) => (
      <>
        {r.username}
        {r.via && <div className="text-xs text-zinc-500">via {r.via}</div>}
      </>
    ),
  }),
  col.accessor('action', { header: 'Action', meta: { className: 'font-mono text-xs' } }),
  col.accessor('target', { header: 'Target' }),
  col.accessor('outcome', {
    header: 'Outcome',
    cell: (c) => (
      <Badge tone={c.getValue() === 'success' ? 'ok' : c.getValue() === 'failure' ? 'error' : 'muted'}>
        {c.getValue()}
      </Badge>
    ),
  }),
  col.accessor('durationMs', {
    header: 'Duration',
    meta: { className: 'tabular-nums' },
    cell: (c) => {
      const ms = c.getValue();
      return ms !== null ? formatDuration(ms) : '—';
    },
  }),
  col.display({
    id: 'details',
    header: 'Details',
    meta: { className: 'max-w-md text-xs text-zinc-600 dark:text-zinc-400' },
    cell: ({ row: { original: r } }) => (
      <>
        {r.taskId && (
          <Link className="text-brand-600 hover:underline" href={`/tasks/${r.taskId}`}>
            task #{r.taskId}{' '}
          </Link>
        )}
        {r.error && <span className="text-red-600 dark:text-red-400">{r.error}</span>}
      </>
    ),
  }),
];

/** `pageSize`: entries per page (the page prefetches the first with the same size). */
export function HistoryView({ pageSize }: { pageSize: number }) {
  const trpc = useTRPC();
  const [target, setTarget] = useState('');
  const [action, setAction] = useState('');
  const [username, setUsername] = useState('');
  const [outcome, setOutcome] = useState<'' | Outcome>('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [page, setPage] = useState(1);
  const filter = useMemo(
    () => ({
      target: target || undefined,
      action: action || undefined,
      username: username || undefined,
      outcome: outcome || undefined,
      from: from ? new Date(from).getTime() : undefined,
      to: to ? new Date(to).getTime() : undefined,
    }),
    [target, action, username, outcome, from, to],
  );
  const actions = useQuery(trpc.history.actions.queryOptions());
  const q = useQuery({
    ...trpc.history.list.queryOptions({ filter, page, pageSize }),
    placeholderData: keepPreviousData,
  });
  const pages = q.data ? Math.max(1, Math.ceil(q.data.total / q.data.pageSize)) : 1;
  const csvHref = `/api/history/export?${new URLSearchParams(
    Object.entries(filter)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, String(v)]),
  ).toString()}`;
  const reset = (fn: () => void) => {
    fn();
    setPage(1);
  };
  return (
    <>
      <PageTitle
        actions={
          <a
            href={csvHref}
            className="rounded-md border border-zinc-300 px-3 py-1.5 text-sm font-medium hover:bg-zinc-50 dark:border-zinc-600 dark:hover:bg-zinc-800"
            download
          >
            Export CSV
          </a>
        }
      >
        History
      </PageTitle>
      <Card className="mb-4">
        <div className="grid gap-3 sm:grid-cols-3 lg:grid-cols-6">
          <TextInput
            label="Target"
            value={target}
            onChange={(e) => reset(() => setTarget(e.target.value))}
            placeholder="e.g. site:demo-node1"
          />
          <Select label="Action" value={action} onChange={(e) => reset(() => setAction(e.target.value))}>
            <option value="">Any</option>
            {actions.data?.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </Select>
          <TextInput
            label="User"
            value={username}
            onChange={(e) => reset(() => setUsername(e.target.value))}
          />
          <Select
            label="Outcome"
            value={outcome}
            onChange={(e) => reset(() => setOutcome(e.target.value as '' | Outcome))}
          >
            <option value="">Any</option>
            <option value="success">success</option>
            <option value="failure">failure</option>
            <option value="cancelled">cancelled</option>
          </Select>
          <TextInput
            label="From"
            type="datetime-local"
            value={from}
            onChange={(e) => reset(() => setFrom(e.target.value))}
          />
          <TextInput
            label="To"
            type="datetime-local"
            value={to}
            onChange={(e) => reset(() => setTo(e.target.value))}
          />
        </div>
      </Card>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      <Card>
        {q.data && (
          <DataTable
            columns={columns}
            data={q.data.rows}
            rowKey={(r) => r.id}
            rowProps={() => ({ className: 'align-top', 'data-testid': 'history-row' })}
            sortable={false}
            empty={<Empty>Nothing matches these filters.</Empty>}
            data-testid="history-table"
          />
        )}
        <div className="mt-3 flex items-center justify-between text-sm">
          <span className="text-zinc-500">
            {q.data ? `${q.data.total} entr${q.data.total === 1 ? 'y' : 'ies'}` : ''}
          </span>
          <span className="flex items-center gap-2">
            <Button disabled={page <= 1} onClick={() => setPage((p) => p - 1)}>
              Previous
            </Button>
            <span>
              Page {page} of {pages}
            </span>
            <Button disabled={page >= pages} onClick={() => setPage((p) => p + 1)}>
              Next
            </Button>
          </span>
        </div>
      </Card>
    </>
  );
}
