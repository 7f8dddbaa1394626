'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { invalidateAfterChange } from '@/components/trpc';
import Link from 'next/link';
import { useState } from 'react';
import { zodResolver } from '@hookform/resolvers/zod';
import { useForm } from 'react-hook-form';
import type { z } from 'zod';
import { replicaSettingsFormSchema, replicaSettingsFormValues } from '@/server/domain/replicas/rules';
import { formErrors } from '../form';
import { HistoryChart } from '../protection/history-chart';
import { useTaskTracker } from '../task-tracker';
import { useToast } from '../toast';
import { RpoRiskOverride } from '../protection/rpo-risk';
import { errorText, fieldErrors, useTRPC, type RouterOutputs } from '../trpc';
import {
  Checkbox,
  Button,
  Card,
  ConfirmDialog,
  ErrorBox,
  Progress,
  TextInput,
  formatBytes,
  formatDuration,
  formatTime,
} from '../ui';
import { ReplicaStateBadge } from './state';
import { FailoverWizard, ReinitWizard, TestWizard } from './wizards';

type ReplicaView = RouterOutputs['replicas']['get'];
type SettingsIn = z.input<typeof replicaSettingsFormSchema>;
type SettingsOut = z.output<typeof replicaSettingsFormSchema>;

const OPERATION_LABEL: Record<NonNullable<ReplicaView['operation']>['kind'], string> = {
  failover: 'Failover',
  reinit: 'Reinit',
  resync: 'Full resync',
  repoint: 'Re-point',
};

export function ReplicaCard({ r }: { r: ReplicaView }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  // Tasks started here: toasted when they start and end; the stream refreshes what they touch.
  const track = useTaskTracker();
  // A mutation's onSuccess: the task it started is tracked (toasted as `what`), its dialog closed.
  const started =
    (what: string, close?: (open: boolean) => void) =>
    ({ taskId }: { taskId: number }) => {
      close?.(false);
      track(taskId, { startedText: `${what} (task #${taskId})` });
    };
  const [wizard, setWizard] = useState<null | 'failover' | 'reinit' | 'test'>(null);
  const [editing, setEditing] = useState(false);
  const [acceptRpoRisk, setAcceptRpoRisk] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [destroyData, setDestroyData] = useState(false);
  // The settings form checks a field with the server's rules before the round trip.
  const settings = useForm<SettingsIn, unknown, SettingsOut>({
    resolver: zodResolver(replicaSettingsFormSchema),
    defaultValues: replicaSettingsFormValues(r),
    mode: 'onTouched',
  });
  const refresh = () => void invalidateAfterChange(qc, { queryKey: trpc.replicas.pathKey() });
  const update = useMutation(
    trpc.replicas.update.mutationOptions({
      meta: { errorToast: false },
      onSuccess: () => (toast.success('Saved; applies from the next sync'), setEditing(false), refresh()),
    }),
  );
  const sync = useMutation(trpc.replicas.syncNow.mutationOptions({ onSuccess: started('Sync started') }));
  const [stopping, setStopping] = useState(false);
  const [resyncing, setResyncing] = useState(false);
  // A dialog's plan is asked while the dialog is open.
  const resyncPlan = useQuery(
    trpc.replicas.resyncPlan.queryOptions({ id: r.id }, { enabled: resyncing, staleTime: 0 }),
  );
  const resync = useMutation(
    trpc.replicas.fullResync.mutationOptions({ onSuccess: started('Full resync started', setResyncing) }),
  );
  const [repointing, setRepointing] = useState(false);
  const repointPlan = useQuery(
    trpc.replicas.repointPlan.queryOptions({ id: r.id }, { enabled: repointing, staleTime: 0 }),
  );
  const repoint = useMutation(
    trpc.replicas.repoint.mutationOptions({ onSuccess: started('Re-point started', setRepointing) }),
  );
  const stopStale = useMutation(
    trpc.replicas.stopStale.mutationOptions({ onSuccess: started('Stopping the stale copy', setStopping) }),
  );
  const remove = useMutation(
    trpc.replicas.remove.mutationOptions({ onSuccess: started('Deleting', setDeleting) }),
  );
  // The browser's findings first; the server's (the RPO) where it has none.
  const fe: Record<string, string> = {
    ...fieldErrors(update.error),
    ...formErrors(settings.formState.errors),
  };
  const busyOp = r.operation ?? null;
  // Relative to the server's view of now (the lag it computed), so rendering stays pure.
  const nextIn =
    r.nextSyncAt && r.lastSyncAt && r.lagSec !== null
      ? Math.round((r.nextSyncAt.getTime() - r.lastSyncAt.getTime()) / 1000 - r.lagSec)
      : null;
  return (
    <div
      className="space-y-3 scroll-mt-4"
      id={`replica-${r.id}`}
      data-testid="replica-card"
      data-replica={r.name}
    >
      <Card
        title={
          <span className="flex items-center gap-2">
            {r.name}{' '}
            <span className="text-sm font-normal text-zinc-500">
              {r.sourceSite} → {r.targetSite}
            </span>{' '}
            <ReplicaStateBadge state={r.state} />
          </span>
        }
        actions={
          <>
            {busyOp && (
              <Link
                href={`/tasks/${busyOp.taskId}`}
                className="rounded-md border border-amber-400 px-3 py-1.5 text-sm text-amber-800 hover:bg-amber-50 dark:text-amber-300"
              >
                {OPERATION_LABEL[busyOp.kind]} task #{busyOp.taskId}
              </Link>
            )}
            {r.conflict?.kind === 'dual-running' && (
              <Button variant="danger" onClick={() => setStopping(true)}>
                Stop the copy on {r.targetSite}…
              </Button>
            )}
            {!busyOp && r.state !== 'reinit-required' && (
              <>
                <Button
                  busy={sync.isPending}
                  disabled={!!r.activeTaskId}
                  onClick={() => sync.mutate({ id: r.id })}
                >
                  Sync now
                </Button>
                <Button onClick={() => update.mutate({ id: r.id, enabled: !r.enabled })}>
                  {r.enabled ? 'Pause' : 'Resume'}
                </Button>
                <Button
                  onClick={() => {
                    if (!editing) settings.reset(replicaSettingsFormValues(r));
                    setEditing(!editing);
                  }}
                >
                  Edit
                </Button>
                {r.lastSyncAt && <Button onClick={() => setWizard('test')}>Test failover…</Button>}
                <Button variant="danger" onClick={() => setWizard('failover')}>
                  Fail over…
                </Button>
              </>
            )}
            {!busyOp && r.state === 'reinit-required' && (
              <Button variant="primary" onClick={() => setWizard('reinit')}>
                Reinit…
              </Button>
            )}
            {!busyOp && r.state !== 'new' && (
              <Button variant="ghost" onClick={() => setResyncing(true)}>
                Full resync…
              </Button>
            )}
            <Button variant="ghost" onClick={() => setDeleting(true)}>
              Delete
            </Button>
          </>
        }
      >
        {r.activeTaskId && r.progress && (
          <div className="mb-3" data-testid="replica-progress">
            <Link href={`/tasks/${r.activeTaskId}`} className="text-xs text-brand-600 hover:underline">
              Task #{r.activeTaskId} running
            </Link>
            <Progress value={r.progress.complete} max={r.progress.total} label={`${r.name} sync progress`} />
            <p className="text-xs text-zinc-500">
              {formatBytes(r.progress.complete)} of ≈ {formatBytes(r.progress.total)}
            </p>
          </div>
        )}
        <dl className="grid grid-cols-2 gap-x-4 gap-y-1 text-sm md:grid-cols-4">
          <dt className="text-zinc-500">Last sync</dt>
          <dd data-testid="last-sync">{formatTime(r.lastSyncAt)}</dd>
          <dt className="text-zinc-500">Lag</dt>
          <dd>{r.lagSec !== null ? formatDuration(r.lagSec * 1000) : '—'}</dd>
          <dt className="text-zinc-500">Next sync</dt>
          <dd>
            {!r.enabled
              ? 'paused'
              : nextIn === null
                ? '—'
                : nextIn <= 0
                  ? 'due'
                  : `in ${formatDuration(nextIn * 1000)}`}
          </dd>
          <dt className="text-zinc-500">Last sync size</dt>
          <dd>{r.lastSyncBytes !== null ? formatBytes(r.lastSyncBytes) : '—'}</dd>
          <dt className="text-zinc-500">Sleep time</dt>
          <dd>{r.sleepTimeSec} s</dd>
          <dt className="text-zinc-500">Bandwidth limit</dt>
          <dd>{r.bandwidthLimit ? `${formatBytes(r.bandwidthLimit)}/s` : 'none'}</dd>
          <dt className="text-zinc-500">Failures</dt>
          <dd>{r.failureCount}</dd>
          <dt className="text-zinc-500">Disks</dt>
          <dd className="font-mono text-xs">{r.datasets.map((d) => d.target).join(', ')}</dd>
        </dl>
        {r.lastError && (
          <div className="mt-2">
            <ErrorBox error={`Last error: ${r.lastError}`} />
          </div>
        )}
        {busyOp && !r.activeTaskId && (
          <div
            className="mt-2 rounded-md border border-amber-300 bg-amber-50 p-2 text-sm dark:border-amber-700 dark:bg-amber-950"
            data-testid="replica-operation"
          >
            The {busyOp.kind} started {formatTime(busyOp.startedAt)} did not finish. Nothing syncs this
            replica until it is{' '}
            <Link href={`/tasks/${busyOp.taskId}`} className="font-medium underline">
              resumed or rolled back on task #{busyOp.taskId}
            </Link>
            .
          </div>
        )}
        {r.conflict?.kind === 'dual-running' && (
          <div
            className="mt-2 rounded-md border border-red-300 bg-red-50 p-2 text-sm text-red-800 dark:border-red-700 dark:bg-red-950 dark:text-red-300"
            data-testid="replica-dual-running"
          >
            <b>{r.vmName} is running on two nodes</b> ({r.sourceSite} and {r.targetSite}) since{' '}
            {formatTime(r.conflict.at)}. Syncing is stopped: the two copies are writing different data. Stop
            the stale copy on {r.targetSite} (the master is {r.sourceSite}).
          </div>
        )}
        {r.conflict?.kind === 'master-moved' && (
          <div
            className="mt-2 rounded-md border border-amber-300 bg-amber-50 p-2 text-sm dark:border-amber-700 dark:bg-amber-950"
            data-testid="replica-master-moved"
          >
            <p>
              The VM was failed over to {r.movedTo} by replica #{r.conflict.byReplicaId} on{' '}
              {formatTime(r.conflict.at)}: this replica still pulls from the old master {r.sourceSite}, so it
              is paused. Re-point it to {r.movedTo} (incrementally, from a snapshot both have), resync it in
              full from there, or delete it.
            </p>
            {!busyOp && (
              <div className="mt-2">
                <Button variant="primary" onClick={() => setRepointing(true)} data-testid="repoint">
                  Re-point to {r.movedTo}…
                </Button>
              </div>
            )}
          </div>
        )}
        {r.stopOldMasterPending && (
          <p className="mt-2 text-sm text-amber-700 dark:text-amber-400">
            The old master’s node has not answered yet; its VM will be stopped as soon as it does.
          </p>
        )}
        {editing && (
          <form
            className="mt-3 grid items-end gap-3 md:grid-cols-4"
            noValidate
            onSubmit={settings.handleSubmit((v) =>
              update.mutate({ id: r.id, ...v, acceptRpoRisk: acceptRpoRisk || undefined }),
            )}
          >
            <div className="flex flex-col gap-1">
              <TextInput
                label="Sleep time (s)"
                type="number"
                {...settings.register('sleepTimeSec')}
                error={fe.sleepTimeSec}
              />
              <RpoRiskOverride error={update.error} checked={acceptRpoRisk} onChange={setAcceptRpoRisk} />
            </div>
            <TextInput
              label="Bandwidth limit (bytes/s)"
              inputMode="numeric"
              {...settings.register('bandwidthLimit')}
              error={fe.bandwidthLimit}
              hint="e.g. 8M; empty for no limit"
            />
            <TextInput
              label="Recovery points to keep"
              type="number"
              {...settings.register('keepSnapshots')}
              error={fe.keepSnapshots}
            />
            <Button type="submit" variant="primary" busy={update.isPending}>
              Save
            </Button>
          </form>
        )}
        <div className="mt-3">
          <HistoryChart subject={`replica:${r.id}`} />
          <Link
            href={`/protection/${encodeURIComponent(`replica:${r.id}`)}`}
            className="mt-1 inline-block text-xs text-brand-600 hover:underline"
          >
            History of {r.name}
          </Link>
        </div>
      </Card>
      {wizard === 'failover' && (
        <FailoverWizard replicaId={r.id} vmName={r.vmName} onClose={() => setWizard(null)} />
      )}
      {wizard === 'reinit' && (
        <ReinitWizard replicaId={r.id} vmName={r.vmName} onClose={() => setWizard(null)} />
      )}
      {wizard === 'test' && (
        <TestWizard
          replicaId={r.id}
          vmName={r.vmName}
          targetSite={r.targetSite}
          onClose={() => setWizard(null)}
        />
      )}
      <ConfirmDialog
        open={stopping}
        title={`Stop ${r.vmName} on ${r.targetSite}?`}
        confirmLabel="Stop the stale copy"
        danger
        typeToConfirm={r.vmName}
        busy={stopStale.isPending}
        onConfirm={() => stopStale.mutate({ id: r.id, confirm: r.vmName })}
        onCancel={() => setStopping(false)}
      >
        <p>
          The copy of {r.vmName} on {r.targetSite} is shut down (forced off after 30 s). The copy on{' '}
          {r.sourceSite}, the master in Tandem&apos;s records, keeps running. What the stale copy wrote stays
          on its disks until a reinit keeps it aside.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={repointing}
        title={`Re-point ${r.name} to ${r.movedTo}?`}
        confirmLabel={`Re-point to ${r.movedTo}`}
        typeToConfirm={r.vmName}
        busy={repoint.isPending}
        disabled={!repointPlan.data?.canProceed}
        onConfirm={() => repoint.mutate({ id: r.id, confirm: r.vmName })}
        onCancel={() => setRepointing(false)}
      >
        <p>
          Replica {r.name} stops pulling {r.vmName} from the old master {r.sourceSite} and pulls it from{' '}
          {r.movedTo}, where the VM runs now. Its data on {r.targetSite} is kept: it continues incrementally
          from a snapshot it shares with {r.movedTo}.
        </p>
        {repointPlan.isLoading && (
          <p className="text-zinc-500">
            Comparing the snapshots on {r.movedTo}, {r.targetSite} and {r.sourceSite}…
          </p>
        )}
        {repointPlan.error && <ErrorBox error={errorText(repointPlan.error)} />}
        {repointPlan.data && repointPlan.data.blocked.length > 0 && (
          <ErrorBox error={`Not now: ${repointPlan.data.blocked.join('; ')}`} />
        )}
        {repointPlan.data && repointPlan.data.disks.length > 0 && (
          <ul className="list-disc pl-5" data-testid="repoint-plan">
            {repointPlan.data.disks.map((d) => (
              <li key={d.device}>
                <span className="font-mono text-xs">{d.source}</span> on {repointPlan.data.newMaster} →{' '}
                <span className="font-mono text-xs">{d.target}</span>:{' '}
                {d.via === 'direct' && (
                  <>
                    continues from <span className="font-mono text-xs">{d.common}</span>, which {r.targetSite}{' '}
                    already has
                  </>
                )}
                {d.via === 'old-master' && (
                  <>
                    continues from <span className="font-mono text-xs">{d.common}</span>, brought to{' '}
                    {r.targetSite} first by an incremental stream from{' '}
                    <span className="font-mono text-xs">{d.from}</span> read on {r.sourceSite} (nothing
                    changes there)
                  </>
                )}
                {d.problem && <span className="text-red-700 dark:text-red-400">{d.problem}</span>}
              </li>
            ))}
          </ul>
        )}
        {repointPlan.data?.canProceed && (
          <p>
            Then a first incremental sync from {r.movedTo} to {r.targetSite} runs and replication resumes on
            its schedule. The replica&apos;s holds on {r.sourceSite} are released; its snapshots there are
            left as they are.
          </p>
        )}
        {repointPlan.data && !repointPlan.data.canProceed && repointPlan.data.blocked.length === 0 && (
          <p>
            Without such a snapshot, use Full resync (it re-points the replica and sends every disk in full,
            keeping its data on {r.targetSite} aside), or delete the replica.
          </p>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        open={resyncing}
        title={`Full resync of ${r.vmName} to ${r.targetSite}?`}
        confirmLabel="Resync in full"
        danger
        typeToConfirm={r.vmName}
        busy={resync.isPending}
        onConfirm={() => resync.mutate({ id: r.id, confirm: r.vmName })}
        onCancel={() => setResyncing(false)}
      >
        <p className="mb-2">
          The replica&apos;s data on {r.targetSite} is kept aside, then every disk is sent in full from{' '}
          {r.movedTo ?? r.sourceSite}. Use it when no snapshot is left in common (a reinit is then impossible)
          or to repair a damaged replica.
        </p>
        {resyncPlan.error && <ErrorBox error={errorText(resyncPlan.error)} />}
        {resyncPlan.data?.repoint && (
          <p data-testid="resync-repoint">
            The VM now runs on {resyncPlan.data.masterSite}: the replica is re-pointed from the old master{' '}
            {resyncPlan.data.oldMasterSite} to it, and the full send comes from there.
          </p>
        )}
        {resyncPlan.data && (
          <ul className="list-disc pl-5 text-sm" data-testid="resync-plan">
            {resyncPlan.data.vmOnTarget && resyncPlan.data.vmOnTarget !== 'stopped' && (
              <li>
                VM {r.vmName} on {r.targetSite} is {resyncPlan.data.vmOnTarget}: it is stopped first.
              </li>
            )}
            {resyncPlan.data.datasets.map((d) => (
              <li key={d.dataset}>
                <span className="font-mono text-xs">{d.dataset}</span>:{' '}
                {d.keepAs ? (
                  <>
                    kept as <span className="font-mono text-xs">{d.keepAs}</span>
                  </>
                ) : (
                  'does not exist yet'
                )}
                {d.exists &&
                  (d.commonSnapshot
                    ? ` (it still has ${d.commonSnapshot} in common)`
                    : ' (no snapshot in common with the master)')}
              </li>
            ))}
          </ul>
        )}
      </ConfirmDialog>
      <ConfirmDialog
        open={deleting}
        title={`Delete replica ${r.name}?`}
        confirmLabel="Delete replica"
        danger
        busy={remove.isPending}
        onConfirm={() => remove.mutate({ id: r.id, destroyData })}
        onCancel={() => setDeleting(false)}
      >
        <p>
          Replication of {r.vmName} to {r.targetSite} stops and Tandem forgets this replica. The master VM is
          not touched.
        </p>
        <Checkbox checked={destroyData} onChange={(e) => setDestroyData(e.target.checked)}>
          Also destroy the replica’s datasets on {r.targetSite} ({r.datasets.map((d) => d.target).join(', ')})
        </Checkbox>
        <p className="text-xs text-zinc-500">
          If the master’s node is unreachable, its replica snapshots are removed when it answers again.
        </p>
      </ConfirmDialog>
    </div>
  );
}
