'use client';

import { keepPreviousData, useMutation, useQueries, useQueryClient } from '@tanstack/react-query';
import { invalidateAfterChange } from '@/components/trpc';
import { useEffect, useRef, useState } from 'react';
import { DataTable, tableColumns } from '../data-table';
import { useTRPC, type RouterInputs } from '../trpc';
import {
  Badge,
  Button,
  Card,
  ConfirmDialog,
  Select,
  TextInput,
  formatBytes,
  formatDuration,
  formatTime,
} from '../ui';
import { imageModeLabel } from './image-mode';
import { ImageDetails } from './snapshots-panel';
import { scopeName, type ImageEntry, type PoolEntry, type Scope, type TrackTask } from './types';

/** `optional` groups are shown only when they have images. */
const GROUPS = [
  { id: 'issues', title: 'Issues', tone: 'error', optional: false },
  { id: 'idle', title: 'Not replicating (no peer)', tone: 'warn', optional: true },
  { id: 'syncing', title: 'Syncing', tone: 'info', optional: false },
  { id: 'ready', title: 'Ready', tone: 'ok', optional: false },
] as const;

type GroupId = (typeof GROUPS)[number]['id'];

/** Rows per group and page: the table stays a few hundred elements whatever the number of images. */
export const IMAGE_PAGE = 25;

const SORTS = [
  { id: 'name', label: 'name' },
  { id: 'lag', label: 'lag' },
  { id: 'size', label: 'size' },
  { id: 'state', label: 'state' },
] as const;
type SortId = (typeof SORTS)[number]['id'];

/** What can be done to one image (the procedure's own list). */
export type ImageOp = RouterInputs['ceph']['image']['op'];

interface Confirm {
  op: ImageOp;
  image: string;
  force?: boolean;
  title: string;
  body: string;
  typed?: string;
}

/** What the actions of an image that need a confirmation ask. */
const ask = {
  forcePromote: (image: string): Confirm => ({
    op: 'promote',
    image,
    force: true,
    title: `Force-promote ${image}?`,
    body: 'Forcing the promotion while the other site may still be primary causes split-brain: both sides accept writes and one side’s newer writes must later be discarded by a resync.',
    typed: image,
  }),
  resync: (spec: string, image: string): Confirm => ({
    op: 'resync',
    image,
    title: `Resync ${image} on this cluster?`,
    body: `This cluster’s copy of ${spec}/${image} is thrown away and copied again from the primary. Any writes that exist only here are discarded.`,
  }),
  disable: (image: string, primary: boolean): Confirm => ({
    op: 'disable',
    image,
    title: `Disable mirroring of ${image}?`,
    body: primary
      ? 'The peer’s copy stops being updated and is removed by rbd-mirror.'
      : 'This copy is non-primary: Ceph refuses to disable mirroring here; disable it on the primary’s cluster, which also removes the copies.',
  }),
};

type Description = NonNullable<ImageEntry['mirroring']>['description'];

/** The parsed replay details: state, sync percent, throughput, snapshot times, journal entries behind. */
export function replayDetails(d: Description | undefined): string | null {
  if (!d) return null;
  const parts: string[] = [];
  if (d.replayState) parts.push(d.replayState);
  if (d.syncPercent !== null) parts.push(`${d.syncPercent} % synced`);
  if (d.bytesPerSecond !== null) parts.push(`${formatBytes(d.bytesPerSecond)}/s`);
  if (d.localSnapshotTimestamp) parts.push(`local snapshot ${formatTime(d.localSnapshotTimestamp * 1000)}`);
  if (d.remoteSnapshotTimestamp)
    parts.push(`remote snapshot ${formatTime(d.remoteSnapshotTimestamp * 1000)}`);
  if (d.entriesBehindPrimary !== null) parts.push(`${d.entriesBehindPrimary} journal entries behind`);
  return parts.length ? parts.join(' · ') : null;
}

const col = tableColumns<ImageEntry>();

/** A column the server sorts the images by (lag starts with the largest). */
const sortedBy = (id: SortId, header: string) =>
  col.accessor(() => null, { id, header, enableSorting: true, sortDescFirst: id === 'lag' || id === 'size' });

/** The columns of an image group: what an image is, how it replicates, and its actions. */
function imageColumns(h: {
  mode: string;
  open: Set<string>;
  toggle: (image: string) => void;
  act: (op: ImageOp, image: string, extra?: { mode?: 'journal' | 'snapshot' }) => void;
  confirm: (c: Confirm) => void;
  spec: string;
  onResolveSplitBrain?: (image: string, otherSiteId: number) => void;
}) {
  return [
    {
      ...sortedBy('name', 'Image'),
      meta: { className: 'font-medium' },
      cell: ({ row: { original: i } }: { row: { original: ImageEntry } }) => {
        const expanded = h.open.has(i.name);
        return (
          <>
            <button
              type="button"
              className="text-left hover:underline"
              aria-expanded={expanded}
              aria-controls={`image-details-${i.name}`}
              title="Snapshots and journaling of this image"
              onClick={() => h.toggle(i.name)}
            >
              <span aria-hidden className="mr-1 inline-block w-3 text-zinc-500">
                {expanded ? '▾' : '▸'}
              </span>
              {i.name}
            </button>
            {i.sizeBytes !== null && (
              <div className="pl-4 text-xs font-normal text-zinc-500">{formatBytes(i.sizeBytes)}</div>
            )}
          </>
        );
      },
    },
    col.display({
      id: 'mode',
      header: 'Mode',
      cell: ({ row: { original: i } }) => {
        const label = imageModeLabel(i.mirroring, h.mode);
        return (
          <span title={label.title} data-testid="image-mode">
            {label.text}
          </span>
        );
      },
    }),
    col.display({
      id: 'role',
      header: 'Role',
      cell: ({ row: { original: i } }) => {
        const m = i.mirroring;
        return (
          <>
            {m ? (
              m.primary ? (
                <Badge tone="info">primary</Badge>
              ) : m.primary === false ? (
                <Badge>non-primary</Badge>
              ) : (
                <Badge title="the mirror status does not say">unknown</Badge>
              )
            ) : (
              '—'
            )}
            {i.splitBrainWith && (
              <div className="mt-1" data-testid="split-brain">
                <Badge tone="error">split-brain</Badge>
              </div>
            )}
          </>
        );
      },
    }),
    {
      ...sortedBy('state', 'State'),
      meta: { className: 'text-xs' },
      cell: ({ row: { original: i } }: { row: { original: ImageEntry } }) => {
        const m = i.mirroring;
        // A primary shows what its peer reports; a non-primary its own replay.
        const peerDetails = m?.primary && m.peerSites[0] ? replayDetails(m.peerSites[0].description) : null;
        const details = m?.primary
          ? peerDetails && `${m.peerSites[0]!.siteName}: ${peerDetails}`
          : replayDetails(m?.description);
        return (
          <>
            {m?.rawState ?? '—'}
            <div className="text-zinc-500">{i.reason}</div>
            {details && (
              <div className="text-zinc-500" data-testid="replay-details">
                {details}
              </div>
            )}
          </>
        );
      },
    },
    {
      ...sortedBy('lag', 'Lag'),
      cell: ({ row: { original: i } }: { row: { original: ImageEntry } }) =>
        i.lagSec !== null ? formatDuration(i.lagSec * 1000) : '—',
    },
    col.display({
      id: 'next',
      header: 'Next snapshot',
      meta: { className: 'text-xs' },
      cell: ({ row: { original: i } }) => <span data-testid="next-snapshot">{i.nextSnapshotAt ?? '—'}</span>,
    }),
    col.display({
      id: 'peers',
      header: 'Peers',
      meta: { className: 'text-xs' },
      cell: ({ row: { original: i } }) =>
        i.mirroring?.peerSites.map((ps) => `${ps.siteName}: ${ps.rawState}`).join(', ') || '—',
    }),
    col.display({
      id: 'actions',
      header: 'Actions',
      meta: { className: 'flex flex-wrap gap-1 py-1' },
      cell: ({ row: { original: i } }) => <ImageActions i={i} h={h} />,
    }),
  ];
}

/** What can be done to an image: enable, snapshot, demote, promote, resync, disable, resolve split-brain. */
function ImageActions({ i, h }: { i: ImageEntry; h: Parameters<typeof imageColumns>[0] }) {
  const m = i.mirroring;
  return (
    <>
      {!m && (
        <>
          <Button className="text-xs" onClick={() => h.act('enable', i.name, { mode: 'snapshot' })}>
            Enable (snapshot)
          </Button>
          <Button className="text-xs" onClick={() => h.act('enable', i.name, { mode: 'journal' })}>
            Enable (journal)
          </Button>
        </>
      )}
      {i.splitBrainWith && h.onResolveSplitBrain && (
        <Button
          className="text-xs"
          variant="danger"
          onClick={() => h.onResolveSplitBrain!(i.name, i.splitBrainWith!.siteId)}
        >
          Resolve split-brain…
        </Button>
      )}
      {m?.primary && (
        <>
          {m.mode !== 'journal' && (
            <Button className="text-xs" onClick={() => h.act('snapshot', i.name)}>
              Snapshot
            </Button>
          )}
          <Button className="text-xs" onClick={() => h.act('demote', i.name)}>
            Demote
          </Button>
        </>
      )}
      {m && m.primary === false && (
        <>
          <Button className="text-xs" onClick={() => h.act('promote', i.name)}>
            Promote
          </Button>
          <Button className="text-xs" variant="danger" onClick={() => h.confirm(ask.forcePromote(i.name))}>
            Force promote…
          </Button>
          <Button className="text-xs" onClick={() => h.confirm(ask.resync(h.spec, i.name))}>
            Resync…
          </Button>
        </>
      )}
      {m && (
        <Button
          className="text-xs"
          variant="ghost"
          onClick={() => h.confirm(ask.disable(i.name, !!m.primary))}
        >
          Disable
        </Button>
      )}
    </>
  );
}

/**
 * The images of one pool or namespace, grouped into Issues / Not replicating / Syncing / Ready,
 * with their actions. Each group is a paged section: its rows come a page at a time from
 * `ceph.images` (filtered by name and sorted on the server), so that a pool of 10,000 images puts a
 * few dozen rows on the page.
 */
export function ImageTable({
  siteId,
  scope,
  mode,
  counts,
  statusAt,
  track,
  onResolveSplitBrain,
  onShown,
  focusImage,
  onFocusImage,
}: {
  siteId: number;
  scope: Scope;
  mode: string;
  /** The images per group, as the status counts them (shown until the first page arrives). */
  counts: PoolEntry['counts'];
  /** When the status shown was answered: a newer answer refetches the pages. */
  statusAt: number | null;
  track: TrackTask;
  /** Opens the failback / split-brain resolution of this image against the cluster it is also primary on. */
  onResolveSplitBrain?: (image: string, otherSiteId: number) => void;
  /** Called once every group's first page is shown. */
  onShown?: () => void;
  /** An image to show at first: found by its name, its details open. */
  focusImage?: string | null;
  /** Called with the image whose details were opened last (null once they are closed). */
  onFocusImage?: (image: string | null) => void;
}) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [confirm, setConfirm] = useState<Confirm | null>(null);
  const [open, setOpen] = useState<Set<string>>(() => new Set(focusImage ? [focusImage] : []));
  // The mirror snapshot last created per image (kept here: a row moves between groups as it syncs).
  const [created, setCreated] = useState<Record<string, string>>({});
  const [search, setSearch] = useState(focusImage ?? '');
  const [sort, setSort] = useState<{ by: SortId; dir: 'asc' | 'desc' }>({ by: 'name', dir: 'asc' });
  const [pages, setPages] = useState<Record<GroupId, number>>({ issues: 0, idle: 0, syncing: 0, ready: 0 });
  const image = useMutation(trpc.ceph.image.mutationOptions());
  const spec = scopeName(scope);
  const needle = search.trim();
  const results = useQueries({
    queries: GROUPS.map((g) => ({
      ...trpc.ceph.images.queryOptions({
        siteId,
        pool: scope.pool,
        namespace: scope.namespace,
        group: g.id,
        search: needle || undefined,
        sort: sort.by,
        dir: sort.dir,
        offset: pages[g.id] * IMAGE_PAGE,
        limit: IMAGE_PAGE,
      }),
      placeholderData: keepPreviousData,
    })),
  });
  const shown = results.every((r) => r.data || r.error);
  useEffect(() => {
    if (shown) onShown?.();
  }, [shown, onShown]);
  // A newer status answer (the page's refresh, a task's end) refetches the pages shown.
  const seen = useRef(statusAt);
  useEffect(() => {
    if (seen.current === statusAt) return;
    seen.current = statusAt;
    void invalidateAfterChange(qc, {
      queryKey: trpc.ceph.images.queryKey({ siteId, pool: scope.pool, namespace: scope.namespace }),
    });
  }, [qc, trpc, statusAt, siteId, scope.pool, scope.namespace]);
  const act = (op: ImageOp, img: string, extra: { force?: boolean; mode?: 'journal' | 'snapshot' } = {}) =>
    image.mutate(
      {
        siteId,
        pool: scope.pool,
        namespace: scope.namespace,
        image: img,
        op,
        ...extra,
        confirmSplitBrain: extra.force ? true : undefined,
      },
      { onSuccess: ({ taskId }) => (track(taskId), setConfirm(null)) },
    );
  const toggle = (name: string) => {
    const n = new Set(open);
    if (n.has(name)) n.delete(name);
    else n.add(name);
    setOpen(n);
    onFocusImage?.(n.has(name) ? name : ([...n].at(-1) ?? null));
  };
  const firstPages = () => setPages({ issues: 0, idle: 0, syncing: 0, ready: 0 });
  const columns = imageColumns({
    mode,
    open,
    toggle,
    act,
    confirm: (c) => setConfirm(c),
    spec,
    onResolveSplitBrain,
  });
  const serverSort = {
    sorting: [{ id: sort.by, desc: sort.dir === 'desc' }],
    onSortingChange: ([next]: { id: string; desc: boolean }[]) => {
      if (!next) return;
      setSort({ by: next.id as SortId, dir: next.desc ? 'desc' : 'asc' });
      firstPages();
    },
  };

  return (
    <>
      <div className="flex flex-wrap items-end gap-3" data-testid="image-filters">
        <TextInput
          label="Find images"
          type="search"
          value={search}
          placeholder="part of a name"
          autoComplete="off"
          onChange={(e) => (setSearch(e.target.value), firstPages())}
        />
        <Select
          label="Sort by"
          value={`${sort.by}/${sort.dir}`}
          onChange={(e) => (
            setSort({
              by: e.target.value.split('/')[0] as SortId,
              dir: e.target.value.split('/')[1] as 'asc' | 'desc',
            }),
            firstPages()
          )}
        >
          {SORTS.flatMap((s) => [
            <option key={`${s.id}/asc`} value={`${s.id}/asc`}>
              {s.label} ↑
            </option>,
            <option key={`${s.id}/desc`} value={`${s.id}/desc`}>
              {s.label} ↓
            </option>,
          ])}
        </Select>
      </div>
      {GROUPS.map((g, gi) => {
        const q = results[gi]!;
        const page = q.data;
        const rows = page?.rows ?? [];
        const total = page ? page.total : needle ? null : counts[g.id];
        if (g.optional && !needle && (total ?? 0) === 0) return null;
        const offset = pages[g.id] * IMAGE_PAGE;
        const last = total !== null && offset + IMAGE_PAGE >= total;
        return (
          <Card
            key={g.id}
            title={
              <span className="flex items-center gap-2">
                {g.title} <Badge tone={g.tone}>{total ?? '…'}</Badge>
              </span>
            }
          >
            {total === 0 && (
              <p className="text-sm text-zinc-500">{needle ? `No image matching “${needle}”.` : 'None.'}</p>
            )}
            {!page && total !== 0 && (
              <p role="status" className="text-sm text-zinc-500">
                Loading…
              </p>
            )}
            {rows.length > 0 && (
              <DataTable
                data-testid={`images-${g.id}`}
                aria-busy={q.isFetching || undefined}
                columns={columns}
                data={rows}
                rowKey={(i) => i.name}
                rowProps={(i) => ({
                  'data-testid': 'image-row',
                  'data-image': i.name,
                  className: 'align-top',
                })}
                sortable={false}
                serverSort={serverSort}
                detail={(i) =>
                  open.has(i.name)
                    ? {
                        id: `image-details-${i.name}`,
                        props: {
                          'data-testid': 'image-details',
                          'data-image': i.name,
                          className: 'bg-zinc-50 dark:bg-zinc-800/40',
                        },
                        cellClassName: 'p-3',
                        content: (
                          <ImageDetails
                            siteId={siteId}
                            scope={scope}
                            scopeMode={mode}
                            image={i.name}
                            track={track}
                            created={created[i.name] ?? null}
                            onCreated={(id) => setCreated((c) => ({ ...c, [i.name]: id }))}
                          />
                        ),
                      }
                    : null
                }
              />
            )}
            {total !== null && total > IMAGE_PAGE && (
              <nav
                className="mt-2 flex items-center justify-end gap-2 text-xs text-zinc-500"
                aria-label={`Pages of ${g.title}`}
                data-testid={`images-${g.id}-pager`}
              >
                <span>
                  {(offset + 1).toLocaleString('en')}–
                  {Math.min(offset + IMAGE_PAGE, total).toLocaleString('en')} of {total.toLocaleString('en')}
                </span>
                <Button
                  variant="secondary"
                  className="px-2 py-0.5 text-xs"
                  disabled={offset === 0}
                  onClick={() => setPages((p) => ({ ...p, [g.id]: 0 }))}
                >
                  First
                </Button>
                <Button
                  variant="secondary"
                  className="px-2 py-0.5 text-xs"
                  disabled={offset === 0}
                  onClick={() => setPages((p) => ({ ...p, [g.id]: p[g.id] - 1 }))}
                >
                  Previous
                </Button>
                <Button
                  variant="secondary"
                  className="px-2 py-0.5 text-xs"
                  disabled={last}
                  onClick={() => setPages((p) => ({ ...p, [g.id]: p[g.id] + 1 }))}
                >
                  Next
                </Button>
              </nav>
            )}
          </Card>
        );
      })}
      <p className="-mt-2 text-xs text-zinc-500">
        Select an image’s name to see its mirror snapshots and journaling.
      </p>
      {confirm && (
        <ConfirmDialog
          open
          title={confirm.title}
          confirmLabel="Proceed"
          danger
          typeToConfirm={confirm.typed}
          busy={image.isPending}
          onConfirm={() => act(confirm.op, confirm.image, { force: confirm.force })}
          onCancel={() => setConfirm(null)}
        >
          <p>{confirm.body}</p>
        </ConfirmDialog>
      )}
    </>
  );
}
