'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { errorText, useTRPC } from '../trpc';
import { Button, Card, ErrorBox } from '../ui';
import { FormDialog } from './form-dialog';
import { scopeName, type PoolEntry, type TrackTask } from './types';

const list = (names: string[]) => (names.length ? names.join(', ') : 'none');

/** The selected pool or namespace: what it holds, and journaling for all its images not in snapshot mode. */
export function ScopeCard({ siteId, entry, track }: { siteId: number; entry: PoolEntry; track: TrackTask }) {
  const [asking, setAsking] = useState<boolean | null>(null);
  const name = scopeName(entry);
  const mirrored = entry.counts.mirrored;
  return (
    <Card
      title={`Images of ${entry.namespace ? `namespace ${name}` : `pool ${name}`}`}
      actions={
        <>
          <Button className="text-xs" onClick={() => setAsking(true)} disabled={entry.counts.total === 0}>
            Journaling on for {name}…
          </Button>
          <Button className="text-xs" onClick={() => setAsking(false)} disabled={entry.counts.total === 0}>
            Journaling off for {name}…
          </Button>
        </>
      }
    >
      <p className="text-sm text-zinc-600 dark:text-zinc-300" data-testid="scope-summary">
        {entry.counts.total} image(s), {mirrored} mirrored · mirror mode {entry.mode}
        {entry.namespace ? ' (its own; the pool’s peers carry it)' : ''}. Journaling on/off applies to every
        image here that is not in snapshot mirroring mode.
      </p>
      {asking !== null && (
        <JournalingDialog
          siteId={siteId}
          entry={entry}
          on={asking}
          track={track}
          onClose={() => setAsking(null)}
        />
      )}
    </Card>
  );
}

function JournalingDialog({
  siteId,
  entry,
  on,
  track,
  onClose,
}: {
  siteId: number;
  entry: PoolEntry;
  on: boolean;
  track: TrackTask;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const name = scopeName(entry);
  const plan = useQuery({
    ...trpc.ceph.journalingPlan.queryOptions({ siteId, pool: entry.pool, namespace: entry.namespace, on }),
    staleTime: 0,
  });
  const run = useMutation(trpc.ceph.setPoolJournaling.mutationOptions({ meta: { errorToast: false } }));
  const p = plan.data;
  const word = on ? 'on' : 'off';
  return (
    <FormDialog
      title={`Turn journaling ${word} for ${name}?`}
      submitLabel={`Turn journaling ${word}`}
      busy={run.isPending || plan.isLoading}
      submitDisabled={!p || p.change.length === 0}
      onClose={onClose}
      onSubmit={() =>
        run.mutate(
          { siteId, pool: entry.pool, namespace: entry.namespace, on },
          {
            onSuccess: ({ taskId }) => {
              track(taskId, {
                successText: (t) => {
                  const r = t.result as { changed: string[]; skipped: unknown[] } | null;
                  return `Journaling ${word} for ${name}: changed ${list(r?.changed ?? [])}; ${r?.skipped.length ?? 0} left as they were`;
                },
              });
              onClose();
            },
          },
        )
      }
      testId="journaling-dialog"
    >
      {plan.isLoading && <p className="text-zinc-500">Reading the images of {name}…</p>}
      {plan.error && <ErrorBox error={errorText(plan.error)} />}
      {p && (
        <div
          className="space-y-2"
          data-testid="journaling-plan"
          data-affected={p.notSnapshotMode.length}
          data-change={p.change.length}
        >
          <p>
            Journaling is turned {word} for the images of {name} that are not in snapshot mirroring mode:{' '}
            <b>{p.notSnapshotMode.length}</b> of {p.images} image(s) ({list(p.notSnapshotMode)}).
          </p>
          <p>
            Will change:{' '}
            <b>
              {p.change.length
                ? p.change.join(', ')
                : 'nothing — every one of them is already as asked or cannot change'}
            </b>
          </p>
          {p.skipped.length > 0 && (
            <div>
              Left as they are:
              <ul className="ml-5 list-disc">
                {p.skipped.map((s) => (
                  <li key={s.image}>
                    {s.image}: {s.reason}
                  </li>
                ))}
              </ul>
            </div>
          )}
          {on && entry.mode === 'pool' && p.change.length > 0 && (
            <p className="font-medium text-amber-800 dark:text-amber-300">
              {name} is in pool mode: Ceph starts mirroring (journal-based) every image that gets journaling —{' '}
              {p.change.join(', ')} here.
            </p>
          )}
          <p className="text-xs text-zinc-500">
            {on
              ? 'With journaling, every write is recorded in the image’s journal first: it allows journal-based mirroring and costs write latency and journal space.'
              : 'Without journaling these images can no longer be mirrored journal-based until it is turned on again.'}
          </p>
        </div>
      )}
      {run.error && <ErrorBox error={errorText(run.error)} />}
    </FormDialog>
  );
}
