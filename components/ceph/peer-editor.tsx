'use client';

import { useMutation } from '@tanstack/react-query';
import { useState, type ChangeEvent } from 'react';
import { errorText, fieldErrors, useTRPC, type RouterInputs } from '../trpc';
import { ConfirmDialog, ErrorBox, Select, TextInput } from '../ui';
import { FormDialog, Notice } from './form-dialog';
import type { Peer, TrackTask } from './types';

type Direction = NonNullable<RouterInputs['ceph']['editPeer']['direction']>;
const DIRECTIONS: { value: Direction; label: string }[] = [
  { value: 'rx-tx', label: 'rx-tx — both ways' },
  { value: 'rx-only', label: 'rx-only — this cluster receives from the peer' },
  { value: 'tx-only', label: 'tx-only — this cluster only sends to the peer' },
];

export interface PeerChange {
  pool: string;
  peer: string;
  changes: string[];
}

/** What differs from the peer as it is; only these fields are sent. */
function diff(peer: Peer, v: { clientName: string; monHost: string; siteName: string; direction: string }) {
  const patch: { clientName?: string; monHost?: string; siteName?: string; direction?: Direction } = {};
  const changes: string[] = [];
  if (v.clientName.trim() !== peer.clientName) {
    patch.clientName = v.clientName.trim();
    changes.push(`client ${peer.clientName} → ${patch.clientName || '(empty)'}`);
  }
  if (v.monHost.trim() !== (peer.monHost ?? '')) {
    patch.monHost = v.monHost.trim();
    changes.push(`monitors → ${patch.monHost || '(empty)'}`);
  }
  if (v.siteName.trim() !== peer.siteName) {
    patch.siteName = v.siteName.trim();
    changes.push(`site name ${peer.siteName} → ${patch.siteName || '(empty)'}`);
  }
  if (v.direction !== peer.direction) {
    patch.direction = v.direction as Direction;
    changes.push(`direction ${peer.direction} → ${v.direction}`);
  }
  return { patch, changes };
}

/**
 * Edits one peer of a pool: client name, monitor hosts, site name and direction. Only changed
 * fields are sent; the dialog stays open with its values until the change is done, so a refused
 * value is corrected in place.
 */
export function PeerEditDialog({
  siteId,
  clusterName,
  daemons,
  pool,
  peer,
  track,
  onClose,
  onChanged,
}: {
  siteId: number;
  clusterName: string;
  daemons: string;
  pool: string;
  peer: Peer;
  track: TrackTask;
  onClose: () => void;
  onChanged: (c: PeerChange) => void;
}) {
  const trpc = useTRPC();
  const [v, setV] = useState({
    clientName: peer.clientName,
    monHost: peer.monHost ?? '',
    siteName: peer.siteName,
    direction: peer.direction,
  });
  const [unchanged, setUnchanged] = useState(false);
  const [running, setRunning] = useState(false);
  const [taskError, setTaskError] = useState<string | null>(null);
  const edit = useMutation(trpc.ceph.editPeer.mutationOptions({ meta: { errorToast: false } }));
  const fe = fieldErrors(edit.error);
  const fieldsShown = ['clientName', 'monHost', 'siteName', 'direction'].some((f) => fe[f]);
  const set = (k: keyof typeof v, value: string) => (
    setV({ ...v, [k]: value }),
    setUnchanged(false),
    setTaskError(null),
    fe[k] && edit.reset()
  );
  /** A field's value, its change and its error. */
  const field = (k: keyof typeof v) => ({
    value: v[k],
    onChange: (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) => set(k, e.target.value),
    error: fe[k],
  });

  const submit = () => {
    const { patch, changes } = diff(peer, v);
    if (changes.length === 0) return setUnchanged(true);
    setTaskError(null);
    edit.mutate(
      { siteId, pool, peerUuid: peer.uuid, ...patch },
      {
        onSuccess: ({ taskId }) => {
          setRunning(true);
          track(taskId, {
            successText: () =>
              `Peer ${patch.siteName ?? peer.siteName} of ${pool} changed: restart rbd-mirror on ${clusterName}`,
            onFinished: () => {
              onChanged({ pool, peer: patch.siteName ?? peer.siteName, changes });
              onClose();
            },
            onFailed: (t) => (setRunning(false), setTaskError(t.error ?? `task #${taskId} ${t.state}`)),
          });
        },
      },
    );
  };

  return (
    <FormDialog
      title={`Edit peer ${peer.siteName} of pool ${pool}`}
      submitLabel="Save peer"
      busy={edit.isPending || running}
      onSubmit={submit}
      onClose={onClose}
      testId="peer-editor"
    >
      <Notice testId="peer-restart-hint">
        rbd-mirror reads its peers when it starts: after saving,{' '}
        <b>restart the rbd-mirror daemon(s) of {clusterName}</b>
        {daemons ? ` (${daemons})` : ''} for the change to take effect. Until then it keeps using the old
        settings.
      </Notice>
      <p className="text-xs text-zinc-500" data-testid="peer-ping-hint">
        While {peer.siteName}&apos;s rbd-mirror runs with this pool paired, it re-asserts its own entry here:
        an rx-only direction turns back into rx-tx, and after a rename it adds itself again under its old site
        name. Change those on {peer.siteName} instead.
      </p>
      <TextInput
        label="Client name"
        {...field('clientName')}
        hint="The cephx user rbd-mirror uses on the peer, e.g. client.rbd-mirror-peer"
        autoComplete="off"
      />
      <TextInput
        label="Monitor hosts"
        {...field('monHost')}
        hint={
          peer.monHost
            ? 'Monitor addresses of the peer cluster, e.g. [v2:10.0.0.1:3300,v1:10.0.0.1:6789]'
            : 'The cluster stores none for this peer (it reads them from its own ceph.conf); leave empty to keep it so'
        }
        autoComplete="off"
      />
      <TextInput
        label="Peer site name"
        {...field('siteName')}
        hint="The mirroring site name of the other cluster"
        autoComplete="off"
      />
      <Select label="Direction" {...field('direction')}>
        {DIRECTIONS.map((d) => (
          <option key={d.value} value={d.value}>
            {d.label}
          </option>
        ))}
      </Select>
      {unchanged && (
        <p role="alert" className="text-sm text-red-600 dark:text-red-400">
          Nothing changed: edit a field first.
        </p>
      )}
      {edit.error && !fieldsShown && <ErrorBox error={errorText(edit.error)} />}
      {taskError && <ErrorBox error={`The change failed: ${taskError}`} />}
    </FormDialog>
  );
}

/** Asks before removing a peer, saying what stops. */
export function RemovePeerDialog({
  siteId,
  clusterName,
  pool,
  peer,
  mirroredImages,
  namespaces,
  track,
  onClose,
}: {
  siteId: number;
  clusterName: string;
  pool: string;
  peer: Peer;
  mirroredImages: number;
  namespaces: string[];
  track: TrackTask;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const remove = useMutation(trpc.ceph.removePeer.mutationOptions({ meta: { errorToast: false } }));
  return (
    <ConfirmDialog
      open
      danger
      title={`Remove peer ${peer.siteName} from pool ${pool}?`}
      confirmLabel="Remove peer"
      busy={remove.isPending}
      onCancel={onClose}
      onConfirm={() =>
        remove.mutate(
          { siteId, pool, peerUuid: peer.uuid },
          {
            onSuccess: ({ taskId }) => (
              track(taskId, { successText: () => `Peer ${peer.siteName} removed from ${pool}` }),
              onClose()
            ),
          },
        )
      }
    >
      <p data-testid="remove-peer-effect">
        Mirroring of pool <b>{pool}</b>
        {namespaces.length > 0
          ? ` and its namespace${namespaces.length > 1 ? 's' : ''} ${namespaces.join(', ')}`
          : ''}{' '}
        with <b>{peer.siteName}</b> stops: the rbd-mirror daemon of {clusterName} no longer copies images from
        or to {peer.siteName}
        {mirroredImages > 0 ? ` (${mirroredImages} mirrored image${mirroredImages > 1 ? 's' : ''} here)` : ''}
        .
      </p>
      <p>
        Images keep the data they have on both clusters; non-primary copies stop being updated.{' '}
        {peer.siteName} keeps its own peer entry for {clusterName}: remove it there as well, or pair again
        later — while {peer.siteName}&apos;s rbd-mirror still has {clusterName} as a peer, it registers itself
        here again (as a tx-only peer) within seconds.
      </p>
      {remove.error && <ErrorBox error={errorText(remove.error)} />}
    </ConfirmDialog>
  );
}
