'use client';

import { useMutation } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { DataTable, tableColumns } from '../data-table';
import { errorText, useTRPC } from '../trpc';
import { Button, Card, ConfirmDialog, ErrorBox, formatBytes } from '../ui';
import type { PoolEntry, Scope, TrackTask } from './types';

/** `20261203T142233Z` as `2026-12-03 14:22:33 UTC`. */
const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

/** A kept copy as the table shows it. */
function keptRow(c: PoolEntry['kept'][number]) {
  const m = STAMP.exec(c.stamp);
  return {
    name: c.name,
    of: c.of,
    at: m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]} UTC` : c.stamp,
    size: c.sizeBytes,
  };
}
type Kept = ReturnType<typeof keptRow>;

const col = tableColumns<Kept>();
const keptColumns = (onDelete: (name: string) => void) => [
  col.accessor('name', { header: 'Copy', meta: { className: 'font-mono text-xs' } }),
  col.accessor('of', { header: 'Of image' }),
  col.accessor('at', { header: 'Taken before the resync at' }),
  col.accessor('size', {
    header: 'Size',
    sortFn: 'basic',
    cell: (c) => {
      const size = c.getValue();
      return size !== null ? formatBytes(size) : '—';
    },
  }),
  col.display({
    id: 'delete',
    header: '',
    meta: { className: 'text-right' },
    cell: ({ row: { original: k } }) => (
      <Button variant="secondary" onClick={() => onDelete(k.name)}>
        Delete…
      </Button>
    ),
  }),
];

/**
 * The protective copies a resync or failback kept of the images whose writes it discarded, with
 * the image and time each was taken from, until the operator deletes them.
 */
export function KeptCopies({
  siteId,
  clusterName,
  scope,
  copies,
  track,
}: {
  siteId: number;
  clusterName: string;
  scope: Scope;
  copies: PoolEntry['kept'];
  track: TrackTask;
}) {
  const trpc = useTRPC();
  const [deleting, setDeleting] = useState<string | null>(null);
  const remove = useMutation(
    trpc.ceph.removeKeptCopy.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => (track(r.taskId), setDeleting(null)),
    }),
  );
  const columns = useMemo(() => keptColumns(setDeleting), []);
  // The server finds the kept copies among the pool's images (see poolOverview).
  const kept = copies.map(keptRow);
  if (!kept.length) return null;
  return (
    <Card title={`Kept copies on ${clusterName} (${kept.length})`}>
      <p className="mb-2 text-sm text-zinc-600 dark:text-zinc-400">
        A resync discards the writes of the stale side; before it did, Tandem copied each image as it was.
        Delete a copy once you no longer need what it holds.
      </p>
      <DataTable columns={columns} data={kept} rowKey={(k) => k.name} data-testid="kept-copies" />
      {remove.error && <ErrorBox error={errorText(remove.error)} />}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete the kept copy ${deleting ?? ''}?`}
        confirmLabel="Delete the copy"
        typeToConfirm={deleting ?? ''}
        danger
        busy={remove.isPending}
        onConfirm={() =>
          deleting &&
          remove.mutate({
            siteId,
            pool: scope.pool,
            namespace: scope.namespace,
            image: deleting,
            confirm: deleting,
          })
        }
        onCancel={() => setDeleting(null)}
      >
        It holds {clusterName}&apos;s data as it was before the resync; once deleted, writes that only it has
        are gone for good.
      </ConfirmDialog>
    </Card>
  );
}
