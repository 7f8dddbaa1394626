'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { PrecheckList } from '@/components/prechecks';
import { ReasonField, dataLoss, reasonGiven, runTitle } from '@/components/plans/run-state';
import { TestNetworkField, testNetwork, type TestNetworkChoice } from '@/components/plans/test-network';
import { useToast } from '@/components/toast';
import { errorText, fieldErrors, useTRPC } from '@/components/trpc';
import { Checkbox, Badge, Button, ErrorBox, TextInput, cx, dialogCls, useModalDialog } from '@/components/ui';
import { formatSeconds } from '@/server/domain/protection/format';

export type RunChoice = {
  kind: 'planned' | 'disaster' | 'reprotect' | 'test';
  direction: 'forward' | 'back';
};

const WHAT: Record<string, string> = {
  'planned/forward':
    'Each object is switched without data loss: the VMs are stopped and synced a last time, the images demoted and promoted once their last snapshot has arrived.',
  'planned/back':
    'The plan runs back to the production sites, without data loss. Reprotect after the failover first, so that the production sites are replicas again.',
  'disaster/forward':
    'Each object starts on its recovery site from its last recovery point; writes after it are lost (the window per object is below). Old masters are fenced as soon as they answer.',
  'disaster/back':
    'Each object starts on its production site from its last recovery point; writes after it are lost.',
  'reprotect/forward':
    'The production sites become the replicas: each old master is reinitialised, each image that is primary on both sides is resynced from the recovery site (a protective copy is kept).',
  'reprotect/back': 'The recovery sites become the replicas again, after a fail back.',
  'test/forward':
    'Production is not touched and replication goes on. On each recovery site the latest recovery point is cloned (VM disks) or copied (images) under a test name, and each VM starts from its clones with a new name and UUID, without its network or on an isolated network. Clean up the test afterwards: exactly what it created is destroyed.',
};

/** The age of a recovery point a test starts from. */
const age = (sec: number | null) => `${sec === null ? 'unknown' : formatSeconds(sec)} old`;

/** An object's recovery point as the wizard states it: its age in a test, else the data it loses. */
function objectLoss(sec: number | null, test: boolean): string {
  if (test) return `recovery point ${sec === null ? 'of unknown age' : age(sec)}`;
  return `loses ${sec === null ? 'an unknown window' : sec === 0 ? 'nothing' : formatSeconds(sec)}`;
}

/**
 * Runs a plan: every object's pre-checks and data-loss window before anything happens, the reason
 * (it goes into the report) and the plan's name typed to confirm. Opens the run's task, which shows
 * its steps live and asks when an object fails.
 */
export function RunWizard({
  planId,
  planName,
  choice,
  onClose,
}: {
  planId: number;
  planName: string;
  choice: RunChoice;
  onClose: () => void;
}) {
  const trpc = useTRPC();
  const toast = useToast();
  const router = useRouter();
  const ref = useModalDialog(true);
  const [reason, setReason] = useState('');
  const [typed, setTyped] = useState('');
  const [splitBrain, setSplitBrain] = useState(false);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [network, setNetwork] = useState<TestNetworkChoice>({ kind: 'none', network: '' });
  const test = choice.kind === 'test';
  const pre = useQuery(
    trpc.plans.precheck.queryOptions({ id: planId, ...choice }, { staleTime: 0, gcTime: 0 }),
  );
  const run = useMutation(
    trpc.plans.run.mutationOptions({
      onSuccess: (r) => {
        toast.success(
          `${runTitle(choice.kind, choice.direction)} of ${planName} started (task #${r.taskId})`,
        );
        router.push(`/tasks/${r.taskId}`);
      },
      onError: (e) => setErrors(fieldErrors(e)),
    }),
  );
  const p = pre.data;
  // What the recovery points cost: a test states their age, a failover the data it loses (a reprotect neither).
  const showLoss = test || choice.kind !== 'reprotect';
  const title = `${runTitle(choice.kind, choice.direction)}: ${planName}`;
  const ok =
    !!p?.canProceed &&
    reasonGiven(reason) &&
    typed === planName &&
    (!p.splitBrainRisk || splitBrain) &&
    (!test || testNetwork(network) !== null);
  return (
    <dialog
      ref={ref}
      onCancel={(e) => (e.preventDefault(), onClose())}
      className={cx(dialogCls, 'max-w-3xl')}
      aria-label={title}
    >
      <h2 className="mb-2 text-lg font-semibold">{title}</h2>
      <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-300">
        {WHAT[`${choice.kind}/${choice.direction}`]}
      </p>
      {pre.error && <ErrorBox error={errorText(pre.error)} />}
      {!p && !pre.error && (
        <p className="text-sm text-zinc-500" data-testid="run-prechecks-pending">
          Running the pre-checks on every site…
        </p>
      )}
      {p && (
        <>
          <div className="mb-3 flex flex-wrap gap-3 text-sm" data-testid="run-summary">
            <span>
              {p.items.length} object(s) in {new Set(p.items.map((i) => i.group)).size} group(s)
            </span>
            {showLoss && (
              <span data-testid="run-max-loss">
                {test ? 'Oldest recovery point' : 'Data lost at most'}:{' '}
                <b>{test ? age(p.maxDataLossSec) : dataLoss(p.maxDataLossSec)}</b>
                {!test && p.unknownWindows > 0 && ` (${p.unknownWindows} unknown)`}
              </span>
            )}
            <Badge tone={p.canProceed ? 'ok' : 'error'}>{p.canProceed ? 'pre-checks pass' : 'blocked'}</Badge>
          </div>
          <ol className="mb-3 max-h-80 space-y-2 overflow-auto text-sm" aria-label="Objects">
            {p.items.map((i) => (
              <li
                key={i.objectKey}
                data-testid="run-object"
                data-label={i.label}
                className="rounded border border-zinc-200 p-2 dark:border-zinc-700"
              >
                <div className="flex flex-wrap items-center gap-2">
                  <span className="text-xs text-zinc-500">Group {i.group}</span>
                  <span className="font-medium">{i.label}</span>
                  <span className="text-xs text-zinc-500">
                    {i.from} → {i.to}: {i.action}
                  </span>
                  {showLoss && (
                    <span className="ml-auto text-xs" data-testid="run-object-loss">
                      {objectLoss(i.dataLossWindowSec, test)}
                    </span>
                  )}
                </div>
                <PrecheckList
                  checks={i.checks.filter((c) => c.status !== 'pass' || !i.canProceed)}
                  testId="run-check"
                />
              </li>
            ))}
          </ol>
          {p.splitBrainRisk > 0 && (
            <Checkbox
              tone="danger"
              align="start"
              className="mb-3"
              checked={splitBrain}
              onChange={(e) => setSplitBrain(e.target.checked)}
            >
              {p.splitBrainRisk} image(s) are still primary on a cluster that answers: a forced promote makes
              them primary on both sides (split-brain), and the writes made there since are discarded at the
              reprotect. I confirm.
            </Checkbox>
          )}
        </>
      )}
      <div className="space-y-3">
        {test && (
          <TestNetworkField
            value={network}
            onChange={setNetwork}
            error={errors['network.network'] ?? errors.network}
          />
        )}
        <ReasonField value={reason} onChange={setReason} error={errors.reason} />
        <TextInput
          label={`Type ${planName} to confirm`}
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          autoComplete="off"
          error={errors.confirm}
        />
      </div>
      <div className="mt-4 flex justify-end gap-2">
        <Button onClick={onClose}>Cancel</Button>
        <Button
          variant={choice.kind === 'disaster' ? 'danger' : 'primary'}
          disabled={!ok}
          busy={run.isPending}
          onClick={() =>
            run.mutate({
              id: planId,
              ...choice,
              reason,
              confirm: typed,
              confirmSplitBrain: splitBrain || undefined,
              network: test ? (testNetwork(network) ?? undefined) : undefined,
            })
          }
        >
          Start {runTitle(choice.kind, choice.direction).toLowerCase()}
        </Button>
      </div>
    </dialog>
  );
}
