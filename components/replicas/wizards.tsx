'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { ReasonField, reasonGiven } from '../plans/run-state';
import { TestNetworkField, testNetwork, type TestNetworkChoice } from '../plans/test-network';
import { PrecheckList } from '../prechecks';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Badge, Button, Card, ErrorBox, TextInput, formatBytes, formatDuration, formatTime } from '../ui';

/** Pre-checks → the exact data-loss window → typed confirmation → live task. */
export function FailoverWizard({
  replicaId,
  vmName,
  onClose,
}: {
  replicaId: number;
  vmName: string;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const [asked, setAsked] = useState<'planned' | 'forced'>('planned');
  const [force, setForce] = useState(false);
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const plan = useQuery({
    ...trpc.replicas.failoverPlan.queryOptions({ id: replicaId, mode: asked, force }),
    staleTime: 0,
  });
  const run = useMutation(
    trpc.replicas.failover.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => router.push(`/tasks/${r.taskId}`),
    }),
  );
  const p = plan.data;
  return (
    <Card
      title={`Fail over ${vmName}`}
      actions={<Button onClick={onClose}>Close</Button>}
      className="border-amber-400"
    >
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
      <label className="mb-3 flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          checked={force}
          onChange={(e) => setForce(e.target.checked)}
          data-testid="override-tasks"
        />
        Override pending tasks: cancel tasks running on this VM or replica first
      </label>
      {p && (
        <>
          <h3 className="mb-2 text-sm font-semibold">2. What will happen</h3>
          <div
            className="mb-3 rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700"
            data-testid="data-loss"
          >
            <p>
              <Badge tone={p.mode === 'planned' ? 'ok' : 'warn'}>
                {p.mode === 'planned' ? 'Planned failover' : 'Forced failover'}
              </Badge>
            </p>
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
                are lost:{' '}
                <b>
                  data-loss window{' '}
                  {p.dataLossWindowSec !== null ? formatDuration(p.dataLossWindowSec * 1000) : 'unknown'}
                </b>
                .
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
          </div>
          <h3 className="mb-2 text-sm font-semibold">3. Confirm</h3>
          <div className="mb-2 max-w-xl">
            <ReasonField value={reason} onChange={setReason} />
          </div>
          <div className="flex flex-wrap items-end gap-2">
            <TextInput
              label={`Type ${vmName} to confirm`}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              autoComplete="off"
            />
            <Button
              variant="danger"
              disabled={!p.canProceed || typed !== vmName || !reasonGiven(reason)}
              busy={run.isPending}
              onClick={() => run.mutate({ id: replicaId, confirm: typed, mode: p.mode, force, reason })}
            >
              {p.mode === 'planned' ? 'Fail over now' : 'Force failover now'}
            </Button>
          </div>
          {!p.canProceed && (
            <p className="mt-2 text-sm text-red-700 dark:text-red-400">Blocked by the pre-checks above.</p>
          )}
          {run.error && (
            <div className="mt-2">
              <ErrorBox error={errorText(run.error)} />
            </div>
          )}
        </>
      )}
    </Card>
  );
}

/** Shows what the old master wrote after the common snapshot before anything is discarded. */
export function ReinitWizard({
  replicaId,
  vmName,
  onClose,
}: {
  replicaId: number;
  vmName: string;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const [typed, setTyped] = useState('');
  const div = useQuery({ ...trpc.replicas.divergence.queryOptions({ id: replicaId }), staleTime: 0 });
  const run = useMutation(
    trpc.replicas.reinit.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => router.push(`/tasks/${r.taskId}`),
    }),
  );
  const diverged = (div.data ?? []).filter((d) => d.snapshotsAfter.length || d.writtenMaxBytes > 0);
  return (
    <Card
      title={`Reinitialise the old master of ${vmName} as the new replica`}
      actions={<Button onClick={onClose}>Close</Button>}
      className="border-amber-400"
    >
      {div.isLoading && <p className="text-sm text-zinc-500">Comparing both sides…</p>}
      {div.error && <ErrorBox error={errorText(div.error)} />}
      {div.data && (
        <>
          <table className="mb-3 w-full text-left text-sm" data-testid="divergence">
            <thead className="text-xs text-zinc-500 uppercase">
              <tr>
                <th className="py-1">Dataset on the old master</th>
                <th>Last common snapshot</th>
                <th>Snapshots after it</th>
                <th>Written after it</th>
              </tr>
            </thead>
            <tbody>
              {div.data.map((d) => (
                <tr key={d.dataset} className="border-t border-zinc-100 dark:border-zinc-800">
                  <td className="py-1 font-mono text-xs">{d.dataset}</td>
                  <td className="font-mono text-xs">
                    {d.commonSnapshot} ({formatTime(d.commonAt)})
                  </td>
                  <td>{d.snapshotsAfter.length ? d.snapshotsAfter.join(', ') : 'none'}</td>
                  <td>
                    {d.exact
                      ? formatBytes(d.writtenBytes)
                      : `≈ ${formatBytes(d.writtenBytes)} (at most ${formatBytes(d.writtenMaxBytes)})`}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="mb-3 text-sm">
            {diverged.length
              ? `The old master has data the new master does not have. Before rolling back, Tandem keeps it as <dataset>-diverged-<time> (a clone you can inspect and delete later); then it syncs from the new master and resumes replication in the new direction.`
              : 'Nothing was written on the old master after the last common snapshot. Tandem rolls back to it, syncs from the new master and resumes replication in the new direction.'}
          </p>
          <div className="flex flex-wrap items-end gap-2">
            <TextInput
              label={`Type ${vmName} to confirm`}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              autoComplete="off"
            />
            <Button
              variant="danger"
              disabled={typed !== vmName}
              busy={run.isPending}
              onClick={() => run.mutate({ id: replicaId, confirm: typed })}
            >
              Reinitialise
            </Button>
          </div>
          {run.error && (
            <div className="mt-2">
              <ErrorBox error={errorText(run.error)} />
            </div>
          )}
        </>
      )}
    </Card>
  );
}

/**
 * A test failover of this VM on its own: its disks cloned on the replica node from the latest
 * recovery point, a test VM started there with a new name and UUID and no network (or an isolated
 * one); the VM and its replication are not touched. Cleaned up from its report.
 */
export function TestWizard({
  replicaId,
  vmName,
  targetSite,
  onClose,
}: {
  replicaId: number;
  vmName: string;
  targetSite: string;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const [network, setNetwork] = useState<TestNetworkChoice>({ kind: 'none', network: '' });
  const run = useMutation(
    trpc.plans.testObject.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => router.push(`/tasks/${r.taskId}`),
    }),
  );
  const net = testNetwork(network);
  const errors = fieldErrors(run.error);
  return (
    <Card
      title={`Test failover of ${vmName}`}
      actions={<Button onClick={onClose}>Close</Button>}
      className="border-sky-400"
    >
      <p className="mb-3 text-sm">
        On {targetSite}, the latest recovery point of each disk is cloned and <b>{vmName}-test-&lt;run&gt;</b>{' '}
        starts from the clones with a new UUID. {vmName} keeps running and replicating. Its report lists what
        the test created; clean it up there.
      </p>
      <div className="mb-3 max-w-xl space-y-3">
        <TestNetworkField value={network} onChange={setNetwork} error={errors['network.network']} />
        <ReasonField value={reason} onChange={setReason} error={errors.reason} />
      </div>
      <div className="flex flex-wrap items-end gap-2">
        <TextInput
          label={`Type ${vmName} to confirm the test`}
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          autoComplete="off"
        />
        <Button
          variant="primary"
          disabled={typed !== vmName || !reasonGiven(reason) || !net}
          busy={run.isPending}
          onClick={() =>
            run.mutate({
              object: { kind: 'replica', replicaId },
              reason,
              confirm: typed,
              network: net ?? undefined,
            })
          }
        >
          Start test failover
        </Button>
      </div>
      {run.error && (
        <div className="mt-2">
          <ErrorBox error={errorText(run.error)} />
        </div>
      )}
    </Card>
  );
}
