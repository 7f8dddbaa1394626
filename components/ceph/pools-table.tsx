'use client';

import { useMutation } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { DataTable, tableColumns } from '../data-table';
import { errorText, useTRPC, type RouterInputs } from '../trpc';
import { Badge, Button, Card, ConfirmDialog, cx, type Tone } from '../ui';
import { Notice } from './form-dialog';
import { PeerEditDialog, RemovePeerDialog, type PeerChange } from './peer-editor';
import { SiteName } from './site-name';
import { scopeName, type Peer, type PoolEntry, type Scope, type TrackTask } from './types';

type Mode = RouterInputs['ceph']['setPoolMode']['mode'];

const MODE_EFFECT: Record<Mode, (scope: string) => string> = {
  image: (s) =>
    `Images of ${s} are mirrored one by one: enable mirroring on each image that should be copied.`,
  pool: (s) =>
    `Every image of ${s} with the journaling feature is mirrored (journal-based) at once, and so is every such image created later.`,
  disabled: (s) =>
    `Mirroring of ${s} stops. Ceph refuses while images of ${s} still mirror, and for a pool while it has peers or mirroring namespaces.`,
};

const key = (s: Scope) => `${s.pool}/${s.namespace}`;

function healthTone(h: string | undefined): Tone {
  return h === 'OK' ? 'ok' : h === 'WARNING' ? 'warn' : 'error';
}

const col = tableColumns<PoolEntry>();

/** Pools with their namespaces as rows of their own: mirror mode, site name, peers, health. */
export function PoolsTable({
  siteId,
  clusterName,
  daemons,
  pools,
  cliCalls,
  selected,
  onSelect,
  others,
  takeoverSources,
  onTakeOver,
  track,
}: {
  siteId: number;
  clusterName: string;
  daemons: string;
  pools: PoolEntry[];
  cliCalls: number;
  selected: Scope | null;
  onSelect: (s: Scope) => void;
  others: { id: number; name: string }[];
  /** The registered peers this cluster can take a row over from (its "Fail over from <peer>" actions). */
  takeoverSources?: (entry: PoolEntry) => { id: number; name: string }[];
  onTakeOver?: (scope: Scope, fromSiteId: number) => void;
  track: TrackTask;
}) {
  const trpc = useTRPC();
  const [pending, setPending] = useState<Record<string, Mode>>({});
  const [rowError, setRowError] = useState<Record<string, string>>({});
  const [modeChange, setModeChange] = useState<(Scope & { from: Mode; to: Mode; peers: string[] }) | null>(
    null,
  );
  const [editing, setEditing] = useState<{ pool: string; peer: Peer } | null>(null);
  const [removing, setRemoving] = useState<{ pool: string; peer: Peer } | null>(null);
  const [notices, setNotices] = useState<PeerChange[]>([]);
  const mode = useMutation(trpc.ceph.setPoolMode.mutationOptions({ meta: { errorToast: false } }));
  const pair = useMutation(trpc.ceph.pair.mutationOptions({ onSuccess: (r) => track(r.taskId) }));
  const [unpairing, setUnpairing] = useState<{ pool: string; other: { id: number; name: string } } | null>(
    null,
  );
  const unpair = useMutation(
    trpc.ceph.unpair.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => (
        track(r.taskId, { successText: () => `${unpairing?.pool ?? 'The pool'} is unpaired` }),
        setUnpairing(null)
      ),
    }),
  );

  // A pool's default namespace first, then its other namespaces.
  const names = [...new Set(pools.map((p) => p.pool))];
  const rows = names.flatMap((n) =>
    pools.filter((p) => p.pool === n).sort((a, b) => a.namespace.localeCompare(b.namespace)),
  );
  const namespacesOf = (pool: string) =>
    pools.filter((p) => p.pool === pool && p.namespace).map((p) => p.namespace);
  const mirroredIn = (pool: string) =>
    pools.filter((p) => p.pool === pool).reduce((n, p) => n + p.counts.mirrored, 0);

  const clear = (k: string) => setPending(({ [k]: _gone, ...rest }) => rest);
  const applyMode = (c: Scope & { to: Mode }) => {
    const k = key(c);
    setModeChange(null);
    setPending((p) => ({ ...p, [k]: c.to }));
    setRowError(({ [k]: _gone, ...rest }) => rest);
    mode.mutate(
      { siteId, pool: c.pool, namespace: c.namespace, mode: c.to },
      {
        onSuccess: ({ taskId }) =>
          track(taskId, {
            successText: () => `Mirror mode of ${scopeName(c)} is now ${c.to}`,
            onFinished: () => clear(k),
            onFailed: (t) => (clear(k), setRowError((e) => ({ ...e, [k]: t.error ?? 'the change failed' }))),
          }),
        onError: (e) => (clear(k), setRowError((r) => ({ ...r, [k]: errorText(e) }))),
      },
    );
  };

  const { isPending: pairing, mutate: pairWith } = pair;
  const columns = useMemo(
    () => [
      col.display({
        id: 'pool',
        header: 'Pool',
        cell: ({ row: { original: p } }) => {
          const isNs = p.namespace !== '';
          const isSelected = selected?.pool === p.pool && selected.namespace === p.namespace;
          return (
            <>
              <button
                type="button"
                className="font-medium text-brand-600 hover:underline"
                onClick={() => onSelect({ pool: p.pool, namespace: p.namespace })}
                aria-pressed={isSelected}
              >
                {isNs ? `${p.pool} / ${p.namespace}` : p.pool}
              </button>
              {isNs && <div className="text-xs text-zinc-500">namespace</div>}
              {onTakeOver &&
                takeoverSources?.(p).map((src) => (
                  <div key={src.id} className="mt-1">
                    <Button
                      variant="danger"
                      className="px-2 py-0.5 text-xs"
                      title={`Fail over ${scopeName(p)} from ${src.name} to ${clusterName}: planned when ${src.name} answers, unplanned (force-promote here) when it does not`}
                      onClick={() => onTakeOver({ pool: p.pool, namespace: p.namespace }, src.id)}
                    >
                      Fail over from {src.name}…
                    </Button>
                  </div>
                ))}
            </>
          );
        },
      }),
      col.display({
        id: 'mode',
        header: 'Mirror mode',
        cell: ({ row: { original: p } }) => {
          const k = key(p);
          const isNs = p.namespace !== '';
          const id = `mode-${p.pool}${isNs ? `-${p.namespace}` : ''}`;
          return (
            <>
              <label className="sr-only" htmlFor={id}>
                Mirror mode of {scopeName(p)}
              </label>
              <select
                id={id}
                className="rounded border border-zinc-300 bg-transparent px-1 dark:border-zinc-600"
                value={pending[k] ?? p.mode}
                disabled={!!pending[k]}
                aria-busy={!!pending[k] || undefined}
                onChange={(e) =>
                  setModeChange({
                    pool: p.pool,
                    namespace: p.namespace,
                    from: p.mode,
                    to: e.target.value as Mode,
                    peers: isNs ? [] : p.peers.map((x) => x.siteName),
                  })
                }
              >
                <option value="disabled">disabled</option>
                <option value="image">image</option>
                <option value="pool">pool</option>
              </select>
              {pending[k] && <div className="text-xs text-zinc-500">applying…</div>}
              {rowError[k] && (
                <p
                  role="alert"
                  className="mt-1 max-w-xs text-xs text-red-600 dark:text-red-400"
                  data-testid="mode-error"
                >
                  {rowError[k]}
                </p>
              )}
            </>
          );
        },
      }),
      col.display({ id: 'siteName', header: 'Site name', cell: ({ row }) => row.original.siteName ?? '—' }),
      col.display({
        id: 'peers',
        header: 'Peers',
        cell: ({ row: { original: p } }) =>
          p.namespace !== '' ? (
            <span className="text-xs text-zinc-500">the peers of pool {p.pool}</span>
          ) : (
            <>
              {p.peers.length === 0 && <span className="text-zinc-500">none</span>}
              {p.peers.map((peer) => (
                <div
                  key={peer.uuid}
                  className="flex flex-wrap items-center gap-1"
                  data-testid="peer"
                  data-peer={peer.siteName}
                >
                  <span className="font-medium">{peer.siteName}</span> <Badge>{peer.direction}</Badge>
                  <span className="text-xs text-zinc-500">{peer.clientName}</span>
                  <span className="font-mono text-xs text-zinc-400" title={`peer id ${peer.uuid}`}>
                    {peer.uuid.slice(0, 8)}
                  </span>
                  <Button
                    variant="ghost"
                    className="px-1 py-0 text-xs"
                    aria-label={`Edit peer ${peer.siteName}`}
                    onClick={() => setEditing({ pool: p.pool, peer })}
                  >
                    Edit
                  </Button>
                  <Button
                    variant="ghost"
                    className="px-1 py-0 text-xs text-red-700 dark:text-red-400"
                    aria-label={`Remove peer ${peer.siteName}`}
                    onClick={() => setRemoving({ pool: p.pool, peer })}
                  >
                    Remove
                  </Button>
                </div>
              ))}
              {p.mode !== 'disabled' &&
                others.map((o) => (
                  <Button
                    key={o.id}
                    className="mt-1 text-xs"
                    busy={pairing}
                    onClick={() =>
                      pairWith({ fromSiteId: o.id, toSiteId: siteId, pool: p.pool, direction: 'rx-tx' })
                    }
                  >
                    Pair with {o.name}
                  </Button>
                ))}
              {p.peers.length > 0 &&
                others.map((o) => (
                  <Button
                    key={`un-${o.id}`}
                    variant="ghost"
                    className="mt-1 text-xs text-red-700 dark:text-red-400"
                    onClick={() => setUnpairing({ pool: p.pool, other: o })}
                  >
                    Unpair from {o.name}…
                  </Button>
                ))}
            </>
          ),
      }),
      col.display({
        id: 'health',
        header: 'Health',
        cell: ({ row: { original: p } }) => (
          <>
            {p.mode === 'disabled' ? (
              '—'
            ) : (
              <Badge tone={healthTone(p.summary?.health)}>{p.summary?.health ?? 'unknown'}</Badge>
            )}
            {p.splitBrain > 0 && (
              <div
                className="text-xs font-medium text-red-700 dark:text-red-400"
                data-testid="split-brain-count"
              >
                split-brain: {p.splitBrain} image(s)
              </div>
            )}
            {p.summary && Object.keys(p.summary.states).length > 0 && (
              <div className="text-xs text-zinc-500" data-testid="state-counts">
                {Object.entries(p.summary.states)
                  .map(([state, n]) => `${state} ${n}`)
                  .join(' · ')}
              </div>
            )}
          </>
        ),
      }),
      col.display({
        id: 'images',
        header: 'Images',
        cell: ({ row: { original: p } }) => (
          <>
            {p.counts.total}
            {p.counts.mirrored > 0 && (
              <span className="text-xs text-zinc-500"> ({p.counts.mirrored} mirrored)</span>
            )}
          </>
        ),
      }),
    ],
    [
      selected,
      onSelect,
      onTakeOver,
      takeoverSources,
      clusterName,
      pending,
      rowError,
      others,
      pairing,
      pairWith,
      siteId,
    ],
  );

  return (
    <Card title="Pools">
      <SiteName siteId={siteId} clusterName={clusterName} pools={pools} track={track} />
      {notices.map((n, i) => (
        <div key={i} className="mb-3" data-testid="restart-notice">
          <Notice>
            <div className="flex items-start justify-between gap-2">
              <span>
                Peer <b>{n.peer}</b> of pool {n.pool} changed ({n.changes.join('; ')}).{' '}
                <b>Restart the rbd-mirror daemon(s) of {clusterName}</b>
                {daemons ? ` (${daemons})` : ''} for the change to take effect.
              </span>
              <Button
                variant="ghost"
                className="px-1 py-0 text-xs"
                onClick={() => setNotices((all) => all.filter((x) => x !== n))}
              >
                Dismiss
              </Button>
            </div>
          </Notice>
        </div>
      ))}
      <DataTable
        columns={columns}
        data={rows}
        rowKey={key}
        rowProps={(p) => ({
          className: cx(
            'align-top',
            p.namespace && 'bg-zinc-50/60 dark:bg-zinc-800/30 [&>td:first-child]:pl-5',
          ),
          'data-testid': p.namespace ? 'namespace-row' : 'pool-row',
          'data-pool': p.pool,
          'data-namespace': p.namespace,
        })}
        sortable={false}
      />
      <p className="mt-2 text-xs text-zinc-500">
        Status of {names.length} pool(s) and {rows.length - names.length} namespace(s) read in {cliCalls} CLI
        call(s). A namespace has its own mirror mode and images; peers belong to the pool.
      </p>

      {modeChange && (
        <ConfirmDialog
          open
          danger={modeChange.to === 'disabled'}
          title={`Set the mirror mode of ${scopeName(modeChange)} to ${modeChange.to}?`}
          confirmLabel={`Set to ${modeChange.to}`}
          onCancel={() => setModeChange(null)}
          onConfirm={() => applyMode(modeChange)}
        >
          <p>
            It is {modeChange.from} now. {MODE_EFFECT[modeChange.to](scopeName(modeChange))}
          </p>
          {modeChange.to === 'disabled' && modeChange.peers.length > 0 && (
            <p className="font-medium text-amber-800 dark:text-amber-300">
              {modeChange.pool} still has {modeChange.peers.length} peer(s) ({modeChange.peers.join(', ')}):
              Ceph will refuse until they are removed.
            </p>
          )}
        </ConfirmDialog>
      )}
      {editing && (
        <PeerEditDialog
          siteId={siteId}
          clusterName={clusterName}
          daemons={daemons}
          pool={editing.pool}
          peer={editing.peer}
          track={track}
          onClose={() => setEditing(null)}
          onChanged={(c) =>
            setNotices((n) => [...n.filter((x) => !(x.pool === c.pool && x.peer === c.peer)), c])
          }
        />
      )}
      {unpairing && (
        <ConfirmDialog
          open
          danger
          title={`Unpair pool ${unpairing.pool} of ${clusterName} and ${unpairing.other.name}?`}
          confirmLabel="Unpair both sides"
          busy={unpair.isPending}
          onCancel={() => (setUnpairing(null), unpair.reset())}
          onConfirm={() => unpair.mutate({ siteId, otherSiteId: unpairing.other.id, pool: unpairing.pool })}
        >
          <p data-testid="unpair-effect">
            Removes the peer entry of each cluster for the other on pool <b>{unpairing.pool}</b>, then checks
            for about 40 seconds that a still-running rbd-mirror does not register itself again (and removes
            it if it does). Mirroring of {unpairing.pool} between {clusterName} and {unpairing.other.name}{' '}
            stops; images keep their data on both clusters and non-primary copies stop being updated.
          </p>
          {unpair.error && (
            <p className="text-sm text-red-600 dark:text-red-400">{errorText(unpair.error)}</p>
          )}
        </ConfirmDialog>
      )}
      {removing && (
        <RemovePeerDialog
          siteId={siteId}
          clusterName={clusterName}
          pool={removing.pool}
          peer={removing.peer}
          mirroredImages={mirroredIn(removing.pool)}
          namespaces={namespacesOf(removing.pool)}
          track={track}
          onClose={() => setRemoving(null)}
        />
      )}
    </Card>
  );
}
