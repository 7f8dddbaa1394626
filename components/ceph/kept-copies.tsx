'use client';

import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { errorText, useTRPC } from '../trpc';
import { Button, Card, ConfirmDialog, ErrorBox, formatBytes } from '../ui';
import type { PoolEntry, Scope, TrackTask } from './types';

/** `20261203T142233Z` as `2026-12-03 14:22:33 UTC`. */
const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

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
  // The server finds the kept copies among the pool's images (see poolOverview).
  const kept = copies.map((c) => {
    const m = STAMP.exec(c.stamp);
    return {
      name: c.name,
      of: c.of,
      at: m ? `${m[1]}-${m[2]}-${m[3]} ${m[4]}:${m[5]}:${m[6]} UTC` : c.stamp,
      size: c.sizeBytes,
    };
  });
  if (!kept.length) return null;
  return (
    <Card title={`Kept copies on ${clusterName} (${kept.length})`}>
      <p className="mb-2 text-sm text-zinc-600 dark:text-zinc-400">
        A resync discards the writes of the stale side; before it did, Tandem copied each image as it was.
        Delete a copy once you no longer need what it holds.
      </p>
      <table className="w-full text-left text-sm" data-testid="kept-copies">
        <thead className="text-xs text-zinc-500 uppercase">
          <tr>
            <th>Copy</th>
            <th>Of image</th>
            <th>Taken before the resync at</th>
            <th>Size</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {kept.map((k) => (
            <tr key={k.name}>
              <td className="font-mono text-xs">{k.name}</td>
              <td>{k.of}</td>
              <td>{k.at}</td>
              <td>{k.size !== null ? formatBytes(k.size) : '—'}</td>
              <td className="text-right">
                <Button variant="secondary" onClick={() => setDeleting(k.name)}>
                  Delete…
                </Button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
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
