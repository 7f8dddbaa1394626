'use client';

import { keepPreviousData, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Fragment, useState } from 'react';
import { useToast } from '@/components/toast';
import type { AlertRule } from '@/server/domain/alerts/rules';
import { errorText, useTRPC, invalidateAfterChange } from '@/components/trpc';
import { Badge, Button, Card, Empty, ErrorBox, Select, formatTime } from '@/components/ui';
import { DeliveryLog } from './deliveries';
import { RULE_LABELS, SeverityBadge, since } from './common';
import { SilenceDialog, type SilenceTarget } from './silence-dialog';

const PAGE = 25;

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

/** Firing alerts, critical first: severity, summary, since when, who acknowledged; acknowledge and silence. */
export function FiringAlerts({ canAct }: { canAct: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const [page, setPage] = useState(1);
  const [open, setOpen] = useState<number | null>(null);
  const [silencing, setSilencing] = useState<SilenceTarget | null>(null);
  const q = useQuery({
    ...trpc.alerts.list.queryOptions({ state: 'firing', page, pageSize: PAGE }),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  const ack = useMutation(
    trpc.alerts.ack.mutationOptions({
      onSuccess: (a) => {
        toast.success(`Acknowledged: ${a.summary}`);
        void invalidateAfterChange(qc, { queryKey: trpc.alerts.pathKey() });
      },
    }),
  );
  return (
    <Card title="Firing" className="mb-4">
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.data?.rows.length === 0 && <Empty>No alert is firing.</Empty>}
      {!!q.data?.rows.length && (
        <table className="w-full text-left text-sm" data-testid="firing-alerts">
          <caption className="sr-only">Firing alerts, critical first</caption>
          <thead className="text-xs text-zinc-500 uppercase [&_th]:px-2">
            <tr>
              <th className="py-1">Severity</th>
              <th>Alert</th>
              <th>Since</th>
              <th>Acknowledged</th>
              <th>
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {q.data.rows.map((a) => (
              <Fragment key={a.id}>
                <tr
                  className="border-t border-zinc-100 align-top dark:border-zinc-800 [&>td]:px-2"
                  data-testid="alert-row"
                >
                  <td className="py-2">
                    <SeverityBadge severity={a.severity} />
                  </td>
                  <td className="max-w-xl py-2">
                    <p className="font-medium">{a.summary}</p>
                    <p className="text-xs text-zinc-500">
                      {RULE_LABELS[a.rule] ?? a.rule} · <span className="font-mono">{a.key}</span>
                      {a.silencedUntil && (
                        <>
                          {' '}
                          · <Badge tone="muted">silenced until {formatTime(a.silencedUntil)}</Badge>
                        </>
                      )}
                    </p>
                  </td>
                  <td className="py-2 whitespace-nowrap" title={formatTime(a.firedAt)}>
                    {since(a.firedAt)}
                  </td>
                  <td className="py-2 text-xs">
                    {a.ackedBy ? `${a.ackedBy}, ${formatTime(a.ackedAt)}` : '—'}
                  </td>
                  <td className="py-2">
                    <div className="flex flex-wrap justify-end gap-1">
                      {canAct && !a.ackedBy && (
                        <Button
                          variant="primary"
                          busy={ack.isPending && ack.variables?.id === a.id}
                          onClick={() => ack.mutate({ id: a.id })}
                        >
                          Acknowledge
                        </Button>
                      )}
                      {canAct && (
                        <Button
                          onClick={() => setSilencing({ key: a.key, rule: a.rule, summary: a.summary })}
                        >
                          Silence
                        </Button>
                      )}
                      <Button
                        variant="ghost"
                        aria-expanded={open === a.id}
                        onClick={() => setOpen(open === a.id ? null : a.id)}
                      >
                        Deliveries
                      </Button>
                    </div>
                  </td>
                </tr>
                {open === a.id && (
                  <tr>
                    <td colSpan={5} className="pb-3">
                      <DeliveryLog alertId={a.id} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
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
  const trpc = useTRPC();
  const [page, setPage] = useState(1);
  const [rule, setRule] = useState<AlertRule | ''>('');
  const [open, setOpen] = useState<number | null>(null);
  const q = useQuery({
    ...trpc.alerts.list.queryOptions({ state: 'resolved', rule: rule || undefined, page, pageSize: PAGE }),
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
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
      {q.data?.rows.length === 0 && <Empty>No resolved alert{rule ? ' of this rule' : ''}.</Empty>}
      {!!q.data?.rows.length && (
        <table className="w-full text-left text-sm" data-testid="past-alerts">
          <caption className="sr-only">Resolved alerts, newest first</caption>
          <thead className="text-xs text-zinc-500 uppercase [&_th]:px-2">
            <tr>
              <th className="py-1">Severity</th>
              <th>Alert</th>
              <th>Fired</th>
              <th>Resolved</th>
              <th>Acknowledged</th>
              <th>
                <span className="sr-only">Details</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {q.data.rows.map((a) => (
              <Fragment key={a.id}>
                <tr
                  className="border-t border-zinc-100 align-top dark:border-zinc-800 [&>td]:px-2"
                  data-testid="past-alert-row"
                >
                  <td className="py-1.5">
                    <SeverityBadge severity={a.severity} />
                  </td>
                  <td className="max-w-xl py-1.5">
                    {a.summary}
                    <span className="block text-xs text-zinc-500">{RULE_LABELS[a.rule] ?? a.rule}</span>
                  </td>
                  <td className="py-1.5 whitespace-nowrap">{formatTime(a.firedAt)}</td>
                  <td className="py-1.5 whitespace-nowrap">{formatTime(a.resolvedAt)}</td>
                  <td className="py-1.5 text-xs">{a.ackedBy ?? '—'}</td>
                  <td className="py-1.5 text-right">
                    <Button
                      variant="ghost"
                      aria-expanded={open === a.id}
                      onClick={() => setOpen(open === a.id ? null : a.id)}
                    >
                      Deliveries
                    </Button>
                  </td>
                </tr>
                {open === a.id && (
                  <tr>
                    <td colSpan={6} className="pb-3">
                      <DeliveryLog alertId={a.id} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {!!q.data && <Pager page={page} total={q.data.total} onPage={setPage} label="Past alerts pages" />}
    </Card>
  );
}
