'use client';

import { useMutation } from '@tanstack/react-query';
import { useState } from 'react';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Button, ErrorBox, TextInput } from '../ui';
import { FormDialog, Notice } from './form-dialog';
import type { PoolEntry, TrackTask } from './types';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** The cluster's mirroring site name (cluster-wide; Ceph reads and writes it through a mirrored pool). */
export function SiteName({
  siteId,
  clusterName,
  pools,
  track,
}: {
  siteId: number;
  clusterName: string;
  pools: PoolEntry[];
  track: TrackTask;
}) {
  const via = pools.find((p) => p.namespace === '' && p.mode !== 'disabled');
  const current = via?.siteName ?? null;
  const [open, setOpen] = useState(false);
  return (
    <div className="mb-3 flex flex-wrap items-center gap-2 text-sm" data-testid="site-name">
      <span className="text-zinc-500">Site name of {clusterName}:</span>
      <b data-testid="site-name-value">{current ?? '—'}</b>
      {via ? (
        <Button className="px-2 py-0.5 text-xs" onClick={() => setOpen(true)}>
          Change site name…
        </Button>
      ) : (
        <span className="text-xs text-zinc-500">
          Ceph keeps a site name only once a pool mirrors: set a pool’s mirror mode first.
        </span>
      )}
      {open && via && (
        <SiteNameDialog
          siteId={siteId}
          clusterName={clusterName}
          pool={via.pool}
          current={current}
          peers={via.peers.map((p) => p.siteName)}
          track={track}
          onClose={() => setOpen(false)}
        />
      )}
    </div>
  );
}

function SiteNameDialog({
  siteId,
  clusterName,
  pool,
  current,
  peers,
  track,
  onClose,
}: {
  siteId: number;
  clusterName: string;
  pool: string;
  current: string | null;
  peers: string[];
  track: TrackTask;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const [value, setValue] = useState(current ?? '');
  const [local, setLocal] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [taskError, setTaskError] = useState<string | null>(null);
  const save = useMutation(trpc.ceph.setSiteName.mutationOptions({ meta: { errorToast: false } }));
  const fe = fieldErrors(save.error);
  const submit = () => {
    const v = value.trim();
    // The server checks all of this too; saying it at once saves a round trip.
    if (!v) return setLocal('required');
    if (!NAME.test(v)) return setLocal('letters, digits and . _ - only, starting with a letter or digit');
    if (v === current) return setLocal(`${v} is already the site name`);
    if (peers.includes(v))
      return setLocal(`${v} is the site name of a peer: each cluster needs a site name of its own`);
    setLocal(null);
    setTaskError(null);
    save.mutate(
      { siteId, pool, siteName: v },
      {
        onSuccess: ({ taskId }) => {
          setRunning(true);
          track(taskId, {
            successText: () => `Site name of ${clusterName} is now ${v}`,
            onFinished: onClose,
            onFailed: (t) => (setRunning(false), setTaskError(t.error)),
          });
        },
      },
    );
  };
  return (
    <FormDialog
      title={`Change the site name of ${clusterName}`}
      submitLabel="Save site name"
      busy={save.isPending || running}
      onSubmit={submit}
      onClose={onClose}
      testId="site-name-editor"
    >
      <p>
        The site name identifies this cluster to its peers: they list it in their Peers column and in each
        image’s status. It is cluster-wide (set here through pool {pool}).
      </p>
      <Notice tone="info">
        The peers’ rbd-mirror daemons learn the new name; until they do, the other cluster may still show{' '}
        {current ?? 'the old name'}.
      </Notice>
      <TextInput
        label="New site name"
        value={value}
        onChange={(e) => (setValue(e.target.value), setLocal(null), setTaskError(null))}
        error={local ?? fe.siteName}
        hint="letters, digits and . _ -, starting with a letter or digit"
        autoComplete="off"
        autoFocus
      />
      {save.error && !fe.siteName && <ErrorBox error={errorText(save.error)} />}
      {taskError && <ErrorBox error={`The change failed: ${taskError}`} />}
    </FormDialog>
  );
}
