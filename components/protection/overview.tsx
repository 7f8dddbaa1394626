'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useEffect, useState } from 'react';
import { formatSeconds } from '@/server/domain/protection/format';
import type {
  ProtectedKind,
  ProtectedObject,
  ProtectionHealth,
  ProtectionSort,
} from '@/server/domain/protection/types';
import { errorText, useTRPC } from '../trpc';
import { Badge, Button, cx, ErrorBox, formatBytes, formatTime, type Tone } from '../ui';
import { RpoDialog } from './rpo-dialog';
import { Sparkline } from './sparkline';

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

function SortHeader({
  label,
  col,
  sort,
  dir,
  onSort,
}: {
  label: string;
  col: ProtectionSort;
  sort: ProtectionSort;
  dir: 'asc' | 'desc';
  onSort: (c: ProtectionSort) => void;
}) {
  const active = sort === col;
  return (
    <th
      scope="col"
      aria-sort={active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none'}
      className="px-2 py-1.5 text-left font-medium"
    >
      <button type="button" className="hover:underline" onClick={() => onSort(col)}>
        {label}
        {active ? (dir === 'asc' ? ' ▲' : ' ▼') : ''}
      </button>
    </th>
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
  const [sort, setSort] = useState<ProtectionSort>('health');
  const [dir, setDir] = useState<'asc' | 'desc'>('asc');
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
  const onSort = (c: ProtectionSort) => {
    if (c === sort) setDir(dir === 'asc' ? 'desc' : 'asc');
    else {
      setSort(c);
      setDir(c === 'window' ? 'desc' : 'asc');
    }
    setOffset(0);
  };
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
          {(['breach', 'warning', 'unknown', 'ok', 'unprotected'] as const).map((h) => (
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
        <label className="flex flex-col gap-1">
          <span className="font-medium">Site</span>
          <select
            className="rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            value={siteId ?? ''}
            onChange={(e) => filter(setSiteId)(e.target.value ? Number(e.target.value) : undefined)}
          >
            <option value="">all sites</option>
            {(sites.data ?? []).map((s) => (
              <option key={s.id} value={s.id}>
                {s.name}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-1">
          <span className="font-medium">Kind</span>
          <select
            className="rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            value={kind ?? ''}
            onChange={(e) => filter(setKind)((e.target.value || undefined) as ProtectedKind | undefined)}
          >
            <option value="">all kinds</option>
            <option value="vm-replica">VM replicas</option>
            <option value="rbd-image">RBD images</option>
            <option value="vm">VMs without a replica</option>
          </select>
        </label>
        <label className="flex flex-col gap-1">
          <span className="font-medium">Health</span>
          <select
            className="rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            value={health ?? ''}
            onChange={(e) => filter(setHealth)((e.target.value || undefined) as ProtectionHealth | undefined)}
          >
            <option value="">any health</option>
            {(['breach', 'warning', 'unknown', 'ok', 'unprotected'] as const).map((h) => (
              <option key={h} value={h}>
                {HEALTH_LABEL[h]}
              </option>
            ))}
          </select>
        </label>
        <label className="flex flex-col gap-1">
          <span className="font-medium">Search</span>
          <input
            type="search"
            className="rounded-md border border-zinc-300 bg-white px-2 py-1 dark:border-zinc-600 dark:bg-zinc-800"
            placeholder="name or site"
            value={typed}
            onChange={(e) => setTyped(e.target.value)}
          />
        </label>
      </div>
      <div className="overflow-x-auto">
        <table className="w-full text-sm" data-testid="protection-table">
          <caption className="sr-only">Protected and unprotected objects</caption>
          <thead className="border-b border-zinc-200 dark:border-zinc-700">
            <tr>
              <SortHeader label="Health" col="health" sort={sort} dir={dir} onSort={onSort} />
              <SortHeader label="Kind" col="kind" sort={sort} dir={dir} onSort={onSort} />
              <SortHeader label="Name" col="name" sort={sort} dir={dir} onSort={onSort} />
              <SortHeader label="Source → target" col="source" sort={sort} dir={dir} onSort={onSort} />
              <SortHeader label="RPO" col="rpo" sort={sort} dir={dir} onSort={onSort} />
              <SortHeader label="Data-loss window" col="window" sort={sort} dir={dir} onSort={onSort} />
              <th scope="col" className="px-2 py-1.5 text-left font-medium">
                Trend (1 h)
              </th>
              <th scope="col" className="px-2 py-1.5 text-left font-medium">
                Last error
              </th>
              <th scope="col" className="px-2 py-1.5 text-left font-medium">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {page?.rows.map((o) => (
              <tr
                key={o.subject}
                className="border-b border-zinc-100 align-top dark:border-zinc-800"
                data-subject={o.subject}
                data-health={o.health}
              >
                <td className="px-2 py-1.5">
                  <HealthBadge o={o} />
                  {o.reason && o.health !== 'ok' && (
                    <span className="block max-w-56 text-xs text-zinc-500">{o.reason}</span>
                  )}
                </td>
                <td className="px-2 py-1.5 whitespace-nowrap">
                  {KIND_LABEL[o.kind]}
                  {o.mode && <span className="block text-xs text-zinc-500">{o.mode} mode</span>}
                </td>
                <td className="px-2 py-1.5">
                  <Link className="text-brand-700 underline dark:text-brand-300" href={o.href}>
                    {o.name}
                  </Link>
                </td>
                <td className="px-2 py-1.5 whitespace-nowrap">
                  {o.source?.name ?? '?'} → {o.target?.name ?? '—'}
                  <span className="block text-xs text-zinc-500">{o.state}</span>
                </td>
                <td className="px-2 py-1.5 whitespace-nowrap">
                  {o.health === 'unprotected' ? (
                    <span className="text-zinc-500">—</span>
                  ) : (
                    <>
                      <button
                        type="button"
                        className="tabular-nums underline decoration-dotted"
                        onClick={() => setEditing(o)}
                        aria-label={`RPO of ${o.name}: ${formatSeconds(o.rpoSec)}, from ${o.rpoFrom.label}; change`}
                      >
                        {formatSeconds(o.rpoSec)}
                      </button>
                      <span className="block text-xs text-zinc-500">{o.rpoFrom.label}</span>
                    </>
                  )}
                </td>
                <td className="px-2 py-1.5">
                  <Window o={o} />
                </td>
                <td className="px-2 py-1.5">
                  {o.health !== 'unprotected' && (
                    <Sparkline values={trends.data?.[o.subject]} rpoSec={o.rpoSec} />
                  )}
                </td>
                <td className="max-w-64 px-2 py-1.5 text-xs text-red-700 dark:text-red-400">
                  {o.lastError}
                  {o.failures > 1 && <span className="block">{o.failures} failed syncs in a row</span>}
                </td>
                <td className="px-2 py-1.5 whitespace-nowrap">
                  {o.health !== 'unprotected' && (
                    <Link
                      className="mr-2 text-brand-700 underline dark:text-brand-300"
                      href={`/protection/${encodeURIComponent(o.subject)}`}
                    >
                      History
                    </Link>
                  )}
                  {o.failoverHref && (
                    <Link className="text-brand-700 underline dark:text-brand-300" href={o.failoverHref}>
                      Fail over…
                    </Link>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {page && page.rows.length === 0 && (
          <p className="py-4 text-center text-sm text-zinc-500">
            {page.counts && Object.values(page.counts).some((n) => n > 0)
              ? 'Nothing matches the filter.'
              : 'Nothing protected yet: create a VM replica or mirror a Ceph pool.'}
          </p>
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
