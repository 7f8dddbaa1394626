'use client';

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo, useState, type ReactNode } from 'react';
import { DataTable, tableColumns, type TableColumn } from '@/components/data-table';
import { useToast } from '@/components/toast';
import {
  errorText,
  invalidateAfterChange,
  useTRPC,
  type RouterInputs,
  type RouterOutputs,
} from '@/components/trpc';
import { Badge, Button, Card, Empty, ErrorBox, Select, formatTime } from '@/components/ui';
import { DeliveryLog } from './deliveries';
import { RULE_LABELS, SeverityBadge, ruleLabel, since } from './common';
import { SilenceDialog, type SilenceTarget } from './silence-dialog';

const PAGE = 25;

type AlertRow = RouterOutputs['alerts']['list']['rows'][number];
type AlertRule = NonNullable<RouterInputs['alerts']['list']['rule']>;

function Pager({
  page,
  total,
  onPage,
  label,
}: {
  page: number;
  total: number;
  onPage: (p: number) => void;
  label: string;
}) {
  const pages = Math.max(1, Math.ceil(total / PAGE));
  return (
    <nav aria-label={label} className="mt-3 flex items-center justify-between text-sm">
      <span className="text-zinc-500">
        {total} alert{total === 1 ? '' : 's'}
      </span>
      <span className="flex items-center gap-2">
        <Button disabled={page <= 1} onClick={() => onPage(page - 1)}>
          Previous
        </Button>
        <span>
          Page {page} of {pages}
        </span>
        <Button disabled={page >= pages} onClick={() => onPage(page + 1)}>
          Next
        </Button>
      </span>
    </nav>
  );
}

/** One page of alerts in a state (of a rule), refreshed, the previous page kept on screen while the next loads. */
function useAlertPage(state: 'firing' | 'resolved', refetchInterval: number, rule?: AlertRule) {
  const trpc = useTRPC();
  const [page, setPage] = useState(1);
  const q = useQuery({
    ...trpc.alerts.list.queryOptions({ state, rule, page, pageSize: PAGE }),
    placeholderData: keepPreviousData,
    refetchInterval,
  });
  return { q, page, setPage };
}

const col = tableColumns<AlertRow>();
const severityColumn = col.accessor('severity', {
  header: 'Severity',
  cell: (c) => <SeverityBadge severity={c.getValue()} />,
});

/** The column of the alert itself: its summary and rule, as `cell` shows them. */
const alertColumn = (cell: (a: AlertRow) => ReactNode) =>
  col.display({
    id: 'alert',
    header: 'Alert',
    meta: { className: 'max-w-xl' },
    cell: ({ row }) => cell(row.original),
  });

const firingColumns = [
  severityColumn,
  alertColumn((a) => (
    <>
      <p className="font-medium">{a.summary}</p>
      <p className="text-xs text-zinc-500">
        {ruleLabel(a.rule)} · <span className="font-mono">{a.key}</span>
        {a.silencedUntil && (
          <>
            {' '}
            · <Badge tone="muted">silenced until {formatTime(a.silencedUntil)}</Badge>
          </>
        )}
      </p>
    </>
  )),
  col.accessor('firedAt', {
    header: 'Since',
    meta: { className: 'whitespace-nowrap' },
    cell: (c) => <span title={formatTime(c.getValue())}>{since(c.getValue())}</span>,
  }),
  col.display({
    id: 'acked',
    header: 'Acknowledged',
    meta: { className: 'text-xs' },
    cell: ({ row: { original: a } }) => (a.ackedBy ? `${a.ackedBy}, ${formatTime(a.ackedAt)}` : '—'),
  }),
];

const pastColumns = [
  severityColumn,
  alertColumn((a) => (
    <>
      {a.summary}
      <span className="block text-xs text-zinc-500">{ruleLabel(a.rule)}</span>
    </>
  )),
  col.accessor('firedAt', {
    header: 'Fired',
    meta: { className: 'whitespace-nowrap' },
    cell: (c) => formatTime(c.getValue()),
  }),
  col.accessor('resolvedAt', {
    header: 'Resolved',
    meta: { className: 'whitespace-nowrap' },
    cell: (c) => formatTime(c.getValue()),
  }),
  col.accessor('ackedBy', {
    header: 'Acknowledged',
    meta: { className: 'text-xs' },
    cell: (c) => c.getValue() ?? '—',
  }),
];

/** A row's "Deliveries" toggle: one alert's delivery log is open at a time. */
function DeliveriesToggle({
  id,
  open,
  setOpen,
}: {
  id: number;
  open: number | null;
  setOpen: (id: number | null) => void;
}) {
  return (
    <Button
      variant="ghost"
      aria-expanded={open === id}
      aria-controls={open === id ? `deliveries-${id}` : undefined}
      onClick={() => setOpen(open === id ? null : id)}
    >
      Deliveries
    </Button>
  );
}

/** A page of alerts; under the alert whose "Deliveries" is pressed, its delivery log. */
function AlertTable({
  rows,
  columns,
  open,
  label,
  testid,
  rowTestid,
  rowClassName,
  empty,
}: {
  rows: AlertRow[];
  columns: TableColumn<AlertRow>[];
  open: number | null;
  label: string;
  testid: string;
  rowTestid: string;
  rowClassName: string;
  empty: ReactNode;
}) {
  return (
    <DataTable
      className="w-full text-left text-sm [&_th]:px-2"
      data-testid={testid}
      aria-label={label}
      columns={columns}
      data={rows}
      rowKey={(a) => a.id}
      rowProps={() => ({ 'data-testid': rowTestid, className: rowClassName })}
      sortable={false}
      empty={empty}
      detail={(a) =>
        a.id === open ? { id: `deliveries-${a.id}`, content: <DeliveryLog alertId={a.id} /> } : null
      }
    />
  );
}

/** Firing alerts, critical first: severity, summary, since when, who acknowledged; acknowledge and silence. */
export function FiringAlerts({ canAct }: { canAct: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const { q, page, setPage } = useAlertPage('firing', 10_000);
  const [open, setOpen] = useState<number | null>(null);
  const [silencing, setSilencing] = useState<SilenceTarget | null>(null);
  const ack = useMutation(
    trpc.alerts.ack.mutationOptions({
      onSuccess: (a) => {
        toast.success(`Acknowledged: ${a.summary}`);
        void invalidateAfterChange(qc, { queryKey: trpc.alerts.pathKey() });
      },
    }),
  );
  const acking = ack.isPending ? ack.variables?.id : undefined;
  const { mutate: acknowledge } = ack;
  const columns = useMemo(
    () => [
      ...firingColumns,
      col.display({
        id: 'actions',
        header: () => <span className="sr-only">Actions</span>,
        cell: ({ row: { original: a } }) => (
          <div className="flex flex-wrap justify-end gap-1">
            {canAct && !a.ackedBy && (
              <Button variant="primary" busy={acking === a.id} onClick={() => acknowledge({ id: a.id })}>
                Acknowledge
              </Button>
            )}
            {canAct && (
              <Button onClick={() => setSilencing({ key: a.key, rule: a.rule, summary: a.summary })}>
                Silence
              </Button>
            )}
            <DeliveriesToggle id={a.id} open={open} setOpen={setOpen} />
          </div>
        ),
      }),
    ],
    [canAct, acking, acknowledge, open],
  );
  return (
    <Card title="Firing" className="mb-4">
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.data && (
        <AlertTable
          rows={q.data.rows}
          empty={<Empty>No alert is firing.</Empty>}
          columns={columns}
          open={open}
          label="Firing alerts, critical first"
          testid="firing-alerts"
          rowTestid="alert-row"
          rowClassName="align-top [&>td]:px-2 [&>td]:py-2"
        />
      )}
      {!!q.data && q.data.total > PAGE && (
        <Pager page={page} total={q.data.total} onPage={setPage} label="Firing alerts pages" />
      )}
      <SilenceDialog target={silencing} onClose={() => setSilencing(null)} />
    </Card>
  );
}

/** Active silences, each with its reason and an early end. */
export function Silences({ canAct }: { canAct: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery({ ...trpc.alerts.silences.queryOptions(), refetchInterval: 30_000 });
  const end = useMutation(
    trpc.alerts.unsilence.mutationOptions({
      onSuccess: (s) => {
        toast.success(`Silence of ${s.matcher} ended`);
        void invalidateAfterChange(qc, { queryKey: trpc.alerts.pathKey() });
      },
    }),
  );
  if (!q.data?.length) return null;
  return (
    <Card title="Silences" className="mb-4">
      <ul className="divide-y divide-zinc-100 text-sm dark:divide-zinc-800" aria-label="Active silences">
        {q.data.map((s) => (
          <li key={s.id} className="flex items-center justify-between gap-3 py-2" data-testid="silence-row">
            <span>
              <span className="font-mono">{s.matcher}</span> until {formatTime(s.until)} · by {s.createdBy}
              {s.reason && <span className="text-zinc-500"> — {s.reason}</span>}
            </span>
            {canAct && (
              <Button
                busy={end.isPending && end.variables?.id === s.id}
                onClick={() => end.mutate({ id: s.id })}
              >
                End silence
              </Button>
            )}
          </li>
        ))}
      </ul>
    </Card>
  );
}

/** Resolved alerts, newest first, filtered by rule. */
export function PastAlerts() {
  const [rule, setRule] = useState<AlertRule | ''>('');
  const { q, page, setPage } = useAlertPage('resolved', 30_000, rule || undefined);
  const [open, setOpen] = useState<number | null>(null);
  const columns = useMemo(
    () => [
      ...pastColumns,
      col.display({
        id: 'details',
        header: () => <span className="sr-only">Details</span>,
        meta: { className: 'text-right' },
        cell: ({ row: { original: a } }) => <DeliveriesToggle id={a.id} open={open} setOpen={setOpen} />,
      }),
    ],
    [open],
  );
  return (
    <Card
      title="Past alerts"
      actions={
        <div className="w-64">
          <Select
            label="Rule"
            value={rule}
            onChange={(e) => {
              setRule(e.target.value as AlertRule | '');
              setPage(1);
            }}
          >
            <option value="">Any</option>
            {Object.entries(RULE_LABELS).map(([k, label]) => (
              <option key={k} value={k}>
                {label}
              </option>
            ))}
          </Select>
        </div>
      }
    >
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.data && (
        <AlertTable
          rows={q.data.rows}
          empty={<Empty>No resolved alert{rule ? ' of this rule' : ''}.</Empty>}
          columns={columns}
          open={open}
          label="Resolved alerts, newest first"
          testid="past-alerts"
          rowTestid="past-alert-row"
          rowClassName="align-top [&>td]:px-2 [&>td]:py-1.5"
        />
      )}
      {!!q.data && <Pager page={page} total={q.data.total} onPage={setPage} label="Past alerts pages" />}
    </Card>
  );
}
