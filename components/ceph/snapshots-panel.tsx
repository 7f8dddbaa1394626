'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { DataTable, tableColumns } from '../data-table';
import { errorText, useTRPC, type RouterOutputs } from '../trpc';
import { Badge, Button, ErrorBox, formatBytes } from '../ui';
import { scopeName, type Scope, type TrackTask } from './types';

/** Snapshot ids are 64-bit: compared as BigInt, never turned into a JS number. */
function byIdDesc(a: { id: string }, b: { id: string }): number {
  const x = BigInt(a.id);
  const y = BigInt(b.id);
  return x < y ? 1 : x > y ? -1 : 0;
}

function copiedPercent(
  lastCopied: number | null,
  sizeBytes: number,
  objectSize: number | undefined,
): number | null {
  if (lastCopied === null || !objectSize) return null;
  const objects = Math.max(1, Math.ceil(sizeBytes / objectSize));
  return Math.min(100, Math.floor((lastCopied / objects) * 100));
}

type Snapshot = RouterOutputs['ceph']['snapshots'][number];
/** A snapshot as the table shows it: how much of it was copied here, and whether it was just created. */
type SnapshotRow = Snapshot & { copied: number | null; isNew: boolean };

const col = tableColumns<SnapshotRow>();
const snapshotColumns = [
  col.accessor('id', {
    header: 'Id',
    sortFn: (a, b) => byIdDesc(b.original, a.original),
    meta: { className: 'font-mono' },
    cell: ({ row: { original: s } }) => (
      <>
        {s.id}
        {s.isNew && (
          <span className="ml-1">
            <Badge tone="ok">new</Badge>
          </span>
        )}
      </>
    ),
  }),
  col.accessor('name', {
    header: 'Name',
    meta: { className: 'max-w-xs truncate font-mono' },
    cell: (c) => <span title={c.getValue()}>{c.getValue()}</span>,
  }),
  col.accessor('namespaceType', { header: 'Kind' }),
  col.accessor((s) => s.mirror?.state ?? null, {
    id: 'state',
    header: 'Mirror state',
    sortFn: 'basic',
    cell: (c) => {
      const state = c.getValue();
      return state !== null ? (
        <Badge tone={state === 'primary' ? 'info' : state === 'demoted' ? 'warn' : 'muted'}>{state}</Badge>
      ) : (
        '—'
      );
    },
  }),
  col.accessor((s) => (s.mirror ? (s.mirror.complete ? 'yes' : 'no') : '—'), {
    id: 'complete',
    header: 'Complete',
  }),
  col.accessor('copied', {
    header: 'Copied',
    sortFn: 'basic',
    cell: (c) => {
      const pct = c.getValue();
      return pct !== null ? `${pct} %` : '—';
    },
  }),
  col.accessor((s) => s.timestamp ?? '—', {
    id: 'time',
    header: 'Time',
    meta: { className: 'whitespace-nowrap' },
  }),
];

/** One image: its features and journaling, and its snapshots (mirror snapshots with their state). */
export function ImageDetails({
  siteId,
  scope,
  scopeMode,
  image,
  track,
  created,
  onCreated,
}: {
  siteId: number;
  scope: Scope;
  scopeMode: string;
  image: string;
  track: TrackTask;
  created: string | null;
  onCreated: (snapshotId: string) => void;
}) {
  const trpc = useTRPC();
  const ref = { siteId, pool: scope.pool, namespace: scope.namespace, image };
  const info = useQuery({ ...trpc.ceph.imageInfo.queryOptions(ref), refetchInterval: 15_000 });
  const snaps = useQuery({ ...trpc.ceph.snapshots.queryOptions(ref), refetchInterval: 10_000 });
  const op = useMutation(trpc.ceph.image.mutationOptions());
  const spec = `${scopeName(scope)}/${image}`;

  const i = info.data;
  const journaling = i?.features.includes('journaling') ?? false;
  const nonPrimary = !!i && (i.mirroring.primary === false || i.features.includes('non-primary'));
  const canSnapshot = !!i && i.mirroring.primary === true && i.mirroring.mode === 'snapshot';
  const journalOff = i?.mirroring.mode === 'journal';
  const list: SnapshotRow[] = [...(snaps.data ?? [])].sort(byIdDesc).map((s) => {
    const m = s.mirror;
    const copied =
      m && !m.primary
        ? m.complete
          ? 100
          : copiedPercent(m.lastCopiedObjectNumber, s.sizeBytes, i?.objectSizeBytes)
        : null;
    return { ...s, copied, isNew: s.id === created };
  });

  const createSnapshot = () =>
    op.mutate(
      { ...ref, op: 'snapshot' },
      {
        onSuccess: ({ taskId }) =>
          track(taskId, {
            successText: (t) =>
              `Mirror snapshot ${(t.result as { snapshotId?: string } | null)?.snapshotId ?? ''} of ${spec} created`,
            onFinished: (t) => {
              const id = (t.result as { snapshotId?: string } | null)?.snapshotId;
              if (id) onCreated(id);
            },
          }),
      },
    );
  const setJournaling = (on: boolean) =>
    op.mutate(
      { ...ref, op: on ? 'journaling-on' : 'journaling-off' },
      {
        onSuccess: ({ taskId }) =>
          track(taskId, { successText: () => `Journaling of ${spec} is ${on ? 'on' : 'off'}` }),
      },
    );

  return (
    <div className="space-y-3 text-sm" aria-label={`Details of ${spec}`} role="region">
      {info.error && <ErrorBox error={errorText(info.error)} />}
      {i && (
        <div className="flex flex-wrap items-center gap-x-6 gap-y-2">
          <span>
            <span className="text-zinc-500">Size</span> {formatBytes(i.sizeBytes)}{' '}
            <span className="text-zinc-500">in {formatBytes(i.objectSizeBytes)} objects</span>
          </span>
          <span>
            <span className="text-zinc-500">Mirroring</span> {i.mirroring.mode ?? 'off'}
            {i.mirroring.primary !== null && <> · {i.mirroring.primary ? 'primary' : 'non-primary'}</>}
          </span>
          <span className="text-xs text-zinc-500">features: {i.features.join(', ') || 'none'}</span>
        </div>
      )}
      {i && (
        <div
          className="flex flex-wrap items-center gap-2"
          data-testid="image-journaling"
          data-on={journaling ? 'true' : 'false'}
        >
          <span>
            Journaling: <b>{journaling ? 'on' : 'off'}</b>
          </span>
          {!journaling && (
            <Button
              className="px-2 py-0.5 text-xs"
              disabled={nonPrimary}
              busy={op.isPending && op.variables?.op === 'journaling-on'}
              onClick={() => setJournaling(true)}
            >
              Journaling on
            </Button>
          )}
          {journaling && (
            <Button
              className="px-2 py-0.5 text-xs"
              disabled={nonPrimary || journalOff}
              busy={op.isPending && op.variables?.op === 'journaling-off'}
              onClick={() => setJournaling(false)}
            >
              Journaling off
            </Button>
          )}
          <span className="text-xs text-zinc-500">
            {nonPrimary
              ? 'A non-primary image is read-only here: change journaling on the primary’s cluster.'
              : journaling && journalOff
                ? 'Journal-based mirroring needs it: disable the image’s mirroring first.'
                : journaling
                  ? 'Every write is recorded in the journal first (needed for journal-based mirroring).'
                  : scopeMode === 'pool' && !i.mirroring.mode
                    ? `${scopeName(scope)} is in pool mode: turning journaling on also starts mirroring this image (journal-based).`
                    : 'Needed for journal-based mirroring; costs write latency.'}
          </span>
        </div>
      )}

      <div>
        <div className="mb-1 flex flex-wrap items-center justify-between gap-2">
          <h3 className="font-semibold">Snapshots of {spec}</h3>
          {canSnapshot && (
            <Button
              className="px-2 py-0.5 text-xs"
              variant="primary"
              busy={op.isPending && op.variables?.op === 'snapshot'}
              onClick={createSnapshot}
            >
              Create mirror snapshot
            </Button>
          )}
        </div>
        {snaps.error && <ErrorBox error={errorText(snaps.error)} />}
        {snaps.data && (
          <DataTable
            columns={snapshotColumns}
            data={list}
            rowKey={(s) => s.id}
            rowProps={(s) => ({
              className: 'align-top',
              'data-testid': 'snapshot-row',
              'data-snap-id': s.id,
              'data-new': s.isNew ? 'true' : undefined,
            })}
            empty={<p className="text-zinc-500">No snapshots.</p>}
            className="w-full text-left text-xs"
            data-testid="snapshots"
            data-count={String(list.length)}
          />
        )}
      </div>
    </div>
  );
}
