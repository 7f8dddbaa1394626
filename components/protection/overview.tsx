'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect, useMemo, useState, type ReactNode } from 'react';
import { formatSeconds } from '@/server/domain/protection/format';
import { DataTable, tableColumns } from '../data-table';
import { errorText, useTRPC } from '../trpc';
import { Badge, Button, cx, ErrorBox, formatBytes, formatTime, type Tone } from '../ui';
import { RpoDialog } from './rpo-dialog';
import { Sparkline } from './sparkline';
import type { ProtectedKind, ProtectedObject, ProtectionHealth, ProtectionSort } from './types';

const PAGE = 50;

export const HEALTH_LABEL: Record<ProtectionHealth, string> = {
  breach: 'Breach',
  warning: 'Warning',
  unknown: 'Unknown',
  ok: 'OK',
  unprotected: 'Not protected',
};
export const HEALTH_TONE: Record<ProtectionHealth, Tone> = {
  breach: 'error',
  warning: 'warn',
  unknown: 'muted',
  ok: 'ok',
  unprotected: 'info',
};
const HEALTHS = Object.keys(HEALTH_LABEL) as ProtectionHealth[];
const KIND_LABEL: Record<ProtectedKind, string> = {
  'vm-replica': 'VM replica',
  'rbd-image': 'RBD image',
  vm: 'VM',
};

export function HealthBadge({ o }: { o: Pick<ProtectedObject, 'health' | 'reason'> }) {
  return (
    <Badge tone={HEALTH_TONE[o.health]} title={o.reason ?? undefined}>
      {HEALTH_LABEL[o.health]}
    </Badge>
  );
}

function Window({ o }: { o: ProtectedObject }) {
  if (o.health === 'unprotected') return <span className="text-zinc-500">no copy</span>;
  if (o.windowSec === null)
    return (
      <span className="text-zinc-500" title={o.reason ?? undefined}>
        unknown
      </span>
    );
  return (
    <span title={o.recoveryPointAt ? `recovery point ${formatTime(o.recoveryPointAt)}` : undefined}>
      <b className="tabular-nums">{formatSeconds(o.windowSec)}</b>
      {o.bytesAtRisk !== null && (
        <span className="block text-xs text-zinc-600 dark:text-zinc-400">
          {formatBytes(o.bytesAtRisk)} written since
        </span>
      )}
      {o.predictedBreachAt && (
        <span
          className="block text-xs text-amber-700 dark:text-amber-400"
          title={o.predictedReason ?? undefined}
        >
          beyond RPO at {formatTime(o.predictedBreachAt)} (predicted)
        </span>
      )}
    </span>
  );
}

type Row = ProtectedObject & { trend?: number[] };
type Order = { sort: ProtectionSort; dir: 'asc' | 'desc' };
const col = tableColumns<Row>();
const LINK = 'text-brand-700 underline dark:text-brand-300';

/**
 * The table's columns. The server sorts (the table shows one page of its order); a click on the
 * header of a column it sorts by asks for that order (DataTable's `serverSort`). The data-loss
 * window starts with the largest.
 */
function protectionColumns(onEditRpo: (o: Row) => void) {
  const sortable = (id: ProtectionSort, header: string, cell: (o: Row) => ReactNode, className?: string) =>
    col.accessor(() => null, {
      id,
      header,
      enableSorting: true,
      sortDescFirst: id === 'window',
      meta: { className },
      cell: ({ row }) => cell(row.original),
    });
  return [
    sortable('health', 'Health', (o) => (
      <>
        <HealthBadge o={o} />
        {o.reason && o.health !== 'ok' && (
          <span className="block max-w-56 text-xs text-zinc-500">{o.reason}</span>
        )}
      </>
    )),
    sortable(
      'kind',
      'Kind',
      (o) => (
        <>
          {KIND_LABEL[o.kind]}
          {o.mode && <span className="block text-xs text-zinc-500">{o.mode} mode</span>}
        </>
      ),
      'whitespace-nowrap',
    ),
    sortable('name', 'Name', (o) => (
      <Link className={LINK} href={o.href}>
        {o.name}
      </Link>
    )),
    sortable(
      'source',
      'Source → target',
      (o) => (
        <>
          {o.source?.name ?? '?'} → {o.target?.name ?? '—'}
          <span className="block text-xs text-zinc-500">{o.state}</span>
        </>
      ),
      'whitespace-nowrap',
    ),
    sortable(
      'rpo',
      'RPO',
      (o) =>
        o.health === 'unprotected' ? (
          <span className="text-zinc-500">—</span>
        ) : (
          <>
            <button
              type="button"
              className="tabular-nums underline decoration-dotted"
              onClick={() => onEditRpo(o)}
              aria-label={`RPO of ${o.name}: ${formatSeconds(o.rpoSec)}, from ${o.rpoFrom.label}; change`}
            >
              {formatSeconds(o.rpoSec)}
            </button>
            <span className="block text-xs text-zinc-500">{o.rpoFrom.label}</span>
          </>
        ),
      'whitespace-nowrap',
    ),
    sortable('window', 'Data-loss window', (o) => <Window o={o} />),
    col.display({
      id: 'trend',
      header: 'Trend (1 h)',
      cell: ({ row: { original: o } }) =>
        o.health !== 'unprotected' && <Sparkline values={o.trend} rpoSec={o.rpoSec} />,
    }),
    col.display({
      id: 'error',
      header: 'Last error',
      meta: { className: 'max-w-64 text-xs text-red-700 dark:text-red-400' },
      cell: ({ row: { original: o } }) => (
        <>
          {o.lastError}
          {o.failures > 1 && <span className="block">{o.failures} failed syncs in a row</span>}
        </>
      ),
    }),
    col.display({
      id: 'actions',
      header: () => <span className="sr-only">Actions</span>,
      meta: { className: 'whitespace-nowrap' },
      cell: ({ row: { original: o } }) => (
        <>
          {o.health !== 'unprotected' && (
            <Link className={`mr-2 ${LINK}`} href={`/protection/${encodeURIComponent(o.subject)}`}>
              History
            </Link>
          )}
          {o.failoverHref && (
            <Link className={LINK} href={o.failoverHref}>
              Fail over…
            </Link>
          )}
        </>
      ),
    }),
  ];
}

const FIELD = 'rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800';

/** One of the table's filters: a labelled choice of `options` ([value, label]) or of all (`all`). */
function Filter<T extends string | number>({
  label,
  all,
  value,
  options,
  onChange,
}: {
  label: string;
  all: string;
  value: T | undefined;
  options: readonly (readonly [T, string])[];
  onChange: (v: T | undefined) => void;
}) {
  return (
    <label className="flex flex-col gap-1">
      <span className="font-medium">{label}</span>
      <select
        className={FIELD}
        value={value ?? ''}
        onChange={(e) => onChange(options.find(([v]) => String(v) === e.target.value)?.[0])}
      >
        <option value="">{all}</option>
        {options.map(([v, text]) => (
          <option key={v} value={v}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

const KIND_FILTER = [
  ['vm-replica', 'VM replicas'],
  ['rbd-image', 'RBD images'],
  ['vm', 'VMs without a replica'],
] as const;
const HEALTH_FILTER = HEALTHS.map((h) => [h, HEALTH_LABEL[h]] as const);

/**
 * Every protected object of every site in one table — VM replicas and RBD images side by side —
 * and what is not protected, with RPO, data-loss window and health; filtered, sorted and paged
 * on the server. Above it: what each site's loss would cost now.
 */
export function ProtectionOverview() {
  const trpc = useTRPC();
  const [siteId, setSiteId] = useState<number | undefined>();
  const [kind, setKind] = useState<ProtectedKind | undefined>();
  const [health, setHealth] = useState<ProtectionHealth | undefined>();
  const [typed, setTyped] = useState('');
  const [q, setQ] = useState('');
  const [{ sort, dir }, setOrder] = useState<Order>({ sort: 'health', dir: 'asc' });
  const [offset, setOffset] = useState(0);
  const [editing, setEditing] = useState<ProtectedObject | null>(null);
  useEffect(() => {
    const t = setTimeout(() => (setQ(typed.trim()), setOffset(0)), 250);
    return () => clearTimeout(t);
  }, [typed]);
  const list = useQuery({
    ...trpc.protection.list.queryOptions({
      siteId,
      kind,
      health,
      q: q || undefined,
      sort,
      dir,
      offset,
      limit: PAGE,
    }),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  const subjects = (list.data?.rows ?? []).filter((o) => o.health !== 'unprotected').map((o) => o.subject);
  const trends = useQuery({
    ...trpc.protectionHistory.trends.queryOptions({ subjects }),
    enabled: subjects.length > 0,
    placeholderData: keepPreviousData,
    refetchInterval: 60_000,
  });
  const exposure = useQuery({ ...trpc.protection.exposure.queryOptions(), refetchInterval: 10_000 });
  const sites = useQuery(trpc.sites.list.queryOptions());
  const page = list.data;
  const columns = useMemo(() => protectionColumns(setEditing), []);
  const rows = useMemo(
    () => page?.rows.map((o): Row => ({ ...o, trend: trends.data?.[o.subject] })),
    [page, trends.data],
  );
  const filter =
    <T,>(set: (v: T) => void) =>
    (v: T) => (set(v), setOffset(0));
  const exposed = (exposure.data ?? []).filter((e) => e.protectedObjects + e.unprotected > 0);
  return (
    <section aria-labelledby="protection-title" className="mb-8">
      <h2 id="protection-title" className="mb-3 text-lg font-semibold">
        Protection
      </h2>
      {list.error && <ErrorBox error={errorText(list.error)} />}
      {page && (
        <div
          className="mb-3 flex flex-wrap gap-2"
          role="group"
          aria-label="Objects per health (click to filter)"
          data-testid="protection-counts"
        >
          {HEALTHS.map((h) => (
            <button
              key={h}
              type="button"
              aria-pressed={health === h}
              onClick={() => filter(setHealth)(health === h ? undefined : h)}
              className={cx('rounded', health === h && 'ring-2 ring-brand-500')}
            >
              <Badge tone={HEALTH_TONE[h]}>
                {page.counts[h]} {HEALTH_LABEL[h].toLowerCase()}
              </Badge>
            </button>
          ))}
        </div>
      )}
      {exposed.length > 0 && (
        <div
          className="mb-4 rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700"
          data-testid="protection-exposure"
        >
          <h3 className="mb-1 font-medium">If a site were lost now</h3>
          <ul className="space-y-0.5">
            {exposed.map((e) => (
              <li key={e.site.id}>
                <b>{e.site.name}</b>:{' '}
                {e.protectedObjects > 0 ? (
                  <>
                    {e.protectedObjects} {e.kind === 'node' ? 'VM(s)' : 'image(s)'} fail over losing up to{' '}
                    <b>{e.worstWindowSec !== null ? formatSeconds(e.worstWindowSec) : 'an unknown time'}</b>{' '}
                    of writes
                    {e.beyondRpo > 0 && (
                      <span className="text-red-700 dark:text-red-400">
                        {' '}
                        · {e.beyondRpo} beyond their RPO
                      </span>
                    )}
                    {e.unknown > 0 && <span> · {e.unknown} not measured</span>}
                  </>
                ) : (
                  'nothing replicated from here'
                )}
                {e.unprotected > 0 && (
                  <span className="text-sky-800 dark:text-sky-300">
                    {' '}
                    · {e.unprotected} with no copy at all (lost)
                  </span>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
      {page && page.stale.length > 0 && (
        <p className="mb-2 text-sm text-amber-700 dark:text-amber-400" role="status">
          {page.stale.map((s) => `${s.site.name}: ${s.reason}`).join(' · ')}
        </p>
      )}
      <div className="mb-2 flex flex-wrap items-end gap-3 text-sm">
        <Filter
          label="Site"
          all="all sites"
          value={siteId}
          options={(sites.data ?? []).map((s) => [s.id, s.name] as const)}
          onChange={filter(setSiteId)}
        />
        <Filter label="Kind" all="all kinds" value={kind} options={KIND_FILTER} onChange={filter(setKind)} />
        <Filter
          label="Health"
          all="any health"
          value={health}
          options={HEALTH_FILTER}
          onChange={filter(setHealth)}
        />
        <label className="flex flex-col gap-1">
          <span className="font-medium">Search</span>
          <input
            type="search"
            className={FIELD}
            placeholder="name or site"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
          />
        </label>
      </div>
      <div className="overflow-x-auto">
        {page && rows && (
          <DataTable
            data-testid="protection-table"
            aria-label="Protected and unprotected objects"
            columns={columns}
            data={rows}
            rowKey={(o) => o.subject}
            rowProps={(o) => ({ 'data-subject': o.subject, 'data-health': o.health, className: 'align-top' })}
            sortable={false}
            serverSort={{
              sorting: [{ id: sort, desc: dir === 'desc' }],
              onSortingChange: ([next]) => {
                if (!next) return;
                setOrder({ sort: next.id as ProtectionSort, dir: next.desc ? 'desc' : 'asc' });
                setOffset(0);
              },
            }}
            empty={
              <p className="py-4 text-center text-sm text-zinc-500">
                {Object.values(page.counts).some((n) => n > 0)
                  ? 'Nothing matches the filter.'
                  : 'Nothing protected yet: create a VM replica or mirror a Ceph pool.'}
              </p>
            }
          />
        )}
      </div>
      {page && page.total > PAGE && (
        <nav className="mt-2 flex items-center gap-3 text-sm" aria-label="Pages of the protection table">
          <Button onClick={() => setOffset(Math.max(0, offset - PAGE))} disabled={offset === 0}>
            Previous
          </Button>
          <span>
            {offset + 1}–{Math.min(offset + PAGE, page.total)} of {page.total}
          </span>
          <Button onClick={() => setOffset(offset + PAGE)} disabled={offset + PAGE >= page.total}>
            Next
          </Button>
        </nav>
      )}
      <RpoDialog object={editing} onClose={() => setEditing(null)} />
    </section>
  );
}
