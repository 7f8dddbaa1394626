'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { DataTable, tableColumns } from '../data-table';
import { ReasonField, reasonGiven } from '../plans/run-state';
import { TestNetworkField, testNetwork, type TestNetworkChoice } from '../plans/test-network';
import { PrecheckList } from '../prechecks';
import { errorText, fieldErrors, useTRPC, type RouterOutputs } from '../trpc';
import { Checkbox, Button, Card, ErrorBox, formatBytes, formatTime } from '../ui';
import { DataLossBox, TypedConfirm, lossWindow, useOpenTask } from '../wizard';

interface WizardProps {
  replicaId: number;
  vmName: string;
  onClose: () => void;
}

/** A replica's wizard: a card with its Close button, framed in `className`'s colour. */
function WizardCard({
  title,
  onClose,
  className,
  children,
}: {
  title: string;
  onClose: () => void;
  className: string;
  children: ReactNode;
}) {
  return (
    <Card title={title} actions={<Button onClick={onClose}>Close</Button>} className={className}>
      {children}
    </Card>
  );
}

/** Pre-checks → the exact data-loss window → typed confirmation → live task. */
export function FailoverWizard({ replicaId, vmName, onClose }: WizardProps) {
  const trpc = useTRPC();
  const openTask = useOpenTask();
  const [asked, setAsked] = useState<'planned' | 'forced'>('planned');
  const [force, setForce] = useState(false);
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const plan = useQuery({
    ...trpc.replicas.failoverPlan.queryOptions({ id: replicaId, mode: asked, force }),
    staleTime: 0,
  });
  const run = useMutation(trpc.replicas.failover.mutationOptions(openTask));
  const p = plan.data;
  return (
    <WizardCard title={`Fail over ${vmName}`} onClose={onClose} className="border-amber-400">
      <h3 className="mb-2 text-sm font-semibold">1. Pre-checks</h3>
      {plan.isLoading && <p className="text-sm text-zinc-500">Checking both nodes…</p>}
      {plan.error && <ErrorBox error={errorText(plan.error)} />}
      {p && <PrecheckList checks={p.checks} testId="precheck" />}
      <fieldset className="mb-3 text-sm" data-testid="failover-mode">
        <legend className="mb-1 font-medium">Mode</legend>
        <label className="mr-4 inline-flex items-center gap-2">
          <input
            type="radio"
            name="mode"
            checked={(p?.mode ?? asked) === 'planned'}
            disabled={p ? !p.masterReachable : false}
            onChange={() => setAsked('planned')}
          />
          Planned: stop the master, final sync, switch (no data loss)
        </label>
        <label className="inline-flex items-center gap-2">
          <input
            type="radio"
            name="mode"
            checked={(p?.mode ?? asked) === 'forced'}
            onChange={() => setAsked('forced')}
          />
          Forced: from the last synced snapshot (the master VM is stopped first if its node answers)
        </label>
        {p && (
          <p className="mt-1 text-zinc-600 dark:text-zinc-400" data-testid="mode-reason">
            {p.modeReason}
          </p>
        )}
      </fieldset>
      <Checkbox
        className="mb-3"
        checked={force}
        onChange={(e) => setForce(e.target.checked)}
        data-testid="override-tasks"
      >
        Override pending tasks: cancel tasks running on this VM or replica first
      </Checkbox>
      {p && (
        <>
          <h3 className="mb-2 text-sm font-semibold">2. What will happen</h3>
          <DataLossBox planned={p.mode === 'planned'} unplannedLabel="Forced failover" testId="data-loss">
            {p.mode === 'planned' ? (
              <p className="mt-2">
                The master VM is stopped and a final incremental sync runs before the replica takes over.{' '}
                <b>Data-loss window: none.</b>
              </p>
            ) : (
              <p className="mt-2">
                The replica starts from the last synced snapshot of <b>{formatTime(p.recoveryPointAt)}</b>.
                The master&apos;s writes from <b>{formatTime(p.dataLossFrom)}</b> to{' '}
                <b>{formatTime(p.dataLossTo)}</b>{' '}
                {p.masterReachable
                  ? '(now: the master still answers, so the window grows until it is stopped)'
                  : '(when the master was last seen)'}{' '}
                are lost: <b>data-loss window {lossWindow(p.dataLossWindowSec)}</b>.
              </p>
            )}
            {p.siblings.length > 0 && (
              <p className="mt-2" data-testid="siblings">
                Paused by this failover (they pull from the old master):{' '}
                {p.siblings.map((x) => `${x.name} on ${x.targetSite}`).join(', ')}.
              </p>
            )}
            <ol className="mt-2 list-decimal pl-5 text-zinc-600 dark:text-zinc-400">
              {p.steps.map((s) => (
                <li key={s}>{s}</li>
              ))}
            </ol>
          </DataLossBox>
          <h3 className="mb-2 text-sm font-semibold">3. Confirm</h3>
          <TypedConfirm
            word={vmName}
            typed={typed}
            onTyped={setTyped}
            reason={{ value: reason, onChange: setReason }}
            disabled={!p.canProceed}
            busy={run.isPending}
            onConfirm={() => run.mutate({ id: replicaId, confirm: typed, mode: p.mode, force, reason })}
            note={
              !p.canProceed && (
                <p className="mt-2 text-sm text-red-700 dark:text-red-400">
                  Blocked by the pre-checks above.
                </p>
              )
            }
            error={run.error}
          >
            {p.mode === 'planned' ? 'Fail over now' : 'Force failover now'}
          </TypedConfirm>
        </>
      )}
    </WizardCard>
  );
}

type Divergence = RouterOutputs['replicas']['divergence'][number];
const divCol = tableColumns<Divergence>();
const divergenceColumns = [
  divCol.accessor('dataset', {
    header: 'Dataset on the old master',
    meta: { className: 'font-mono text-xs' },
  }),
  divCol.display({
    id: 'common',
    header: 'Last common snapshot',
    meta: { className: 'font-mono text-xs' },
    cell: ({ row: { original: d } }) => `${d.commonSnapshot} (${formatTime(d.commonAt)})`,
  }),
  divCol.accessor('snapshotsAfter', {
    header: 'Snapshots after it',
    cell: (c) => (c.getValue().length ? c.getValue().join(', ') : 'none'),
  }),
  divCol.display({
    id: 'written',
    header: 'Written after it',
    cell: ({ row: { original: d } }) =>
      d.exact
        ? formatBytes(d.writtenBytes)
        : `≈ ${formatBytes(d.writtenBytes)} (at most ${formatBytes(d.writtenMaxBytes)})`,
  }),
];

/** Shows what the old master wrote after the common snapshot before anything is discarded. */
export function ReinitWizard({ replicaId, vmName, onClose }: WizardProps) {
  const trpc = useTRPC();
  const openTask = useOpenTask();
  const [typed, setTyped] = useState('');
  const divergence = useQuery({ ...trpc.replicas.divergence.queryOptions({ id: replicaId }), staleTime: 0 });
  const run = useMutation(trpc.replicas.reinit.mutationOptions(openTask));
  const diverged = (divergence.data ?? []).filter((d) => d.snapshotsAfter.length || d.writtenMaxBytes > 0);
  return (
    <WizardCard
      title={`Reinitialise the old master of ${vmName} as the new replica`}
      onClose={onClose}
      className="border-amber-400"
    >
      {divergence.isLoading && <p className="text-sm text-zinc-500">Comparing both sides…</p>}
      {divergence.error && <ErrorBox error={errorText(divergence.error)} />}
      {divergence.data && (
        <>
          <DataTable
            columns={divergenceColumns}
            data={divergence.data}
            rowKey={(d) => d.dataset}
            sortable={false}
            className="mb-3 w-full text-left text-sm"
            data-testid="divergence"
          />
          <p className="mb-3 text-sm">
            {diverged.length
              ? `The old master has data the new master does not have. Before rolling back, Tandem keeps it as <dataset>-diverged-<time> (a clone you can inspect and delete later); then it syncs from the new master and resumes replication in the new direction.`
              : 'Nothing was written on the old master after the last common snapshot. Tandem rolls back to it, syncs from the new master and resumes replication in the new direction.'}
          </p>
          <TypedConfirm
            word={vmName}
            typed={typed}
            onTyped={setTyped}
            busy={run.isPending}
            onConfirm={() => run.mutate({ id: replicaId, confirm: typed })}
            error={run.error}
          >
            Reinitialise
          </TypedConfirm>
        </>
      )}
    </WizardCard>
  );
}

/**
 * A test failover of this VM on its own: its disks cloned on the replica node from the latest
 * recovery point, a test VM started there with a new name and UUID and no network (or an isolated
 * one); the VM and its replication are not touched. Cleaned up from its report.
 */
export function TestWizard({ replicaId, vmName, targetSite, onClose }: WizardProps & { targetSite: string }) {
  const trpc = useTRPC();
  const openTask = useOpenTask();
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const [network, setNetwork] = useState<TestNetworkChoice>({ kind: 'none', network: '' });
  const run = useMutation(trpc.plans.testObject.mutationOptions(openTask));
  const net = testNetwork(network);
  const errors = fieldErrors(run.error);
  return (
    <WizardCard title={`Test failover of ${vmName}`} onClose={onClose} className="border-sky-400">
      <p className="mb-3 text-sm">
        On {targetSite}, the latest recovery point of each disk is cloned and <b>{vmName}-test-&lt;run&gt;</b>{' '}
        starts from the clones with a new UUID. {vmName} keeps running and replicating. Its report lists what
        the test created; clean it up there.
      </p>
      <div className="mb-3 max-w-xl space-y-3">
        <TestNetworkField value={network} onChange={setNetwork} error={errors['network.network']} />
        <ReasonField value={reason} onChange={setReason} error={errors.reason} />
      </div>
      <TypedConfirm
        word={vmName}
        label={`Type ${vmName} to confirm the test`}
        typed={typed}
        onTyped={setTyped}
        variant="primary"
        disabled={!reasonGiven(reason) || !net}
        busy={run.isPending}
        onConfirm={() =>
          run.mutate({
            object: { kind: 'replica', replicaId },
            reason,
            confirm: typed,
            network: net ?? undefined,
          })
        }
        error={run.error}
      >
        Start test failover
      </TypedConfirm>
    </WizardCard>
  );
}
