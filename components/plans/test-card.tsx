'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { useRole } from '@/components/alerts/common';
import { RunStateBadge, isoTime } from '@/components/plans/run-state';
import { isActiveState } from '@/components/task-state';
import { useToast } from '@/components/toast';
import { invalidateAfterChange, useTRPC, type RouterOutputs } from '@/components/trpc';
import { Button, Card, ConfirmDialog } from '@/components/ui';

type RunReport = RouterOutputs['plans']['report'];
type TestCreated = NonNullable<RunReport['items'][number]['created']>;

/** What a test created for one object, as the operator reads it. */
function createdLines(c: TestCreated): string[] {
  if (c.kind === 'rbd')
    return c.copies.map((x) => `image copy ${c.pool}/${c.namespace ? c.namespace + '/' : ''}${x}`);
  return [
    `test VM ${c.vm}`,
    ...c.clones.map((x) => `clone ${x}${c.snapshot ? ` of @${c.snapshot}` : ''}`),
    `holds ${c.tag} on the replica's and the master's snapshot`,
  ];
}

/**
 * A test failover's part of its report: the network its VMs got, what it created per object, and
 * its cleanup (the button, or when and by which run it was done). A cleanup's report links its test.
 */
export function TestCard({ r }: { r: RunReport }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const router = useRouter();
  const role = useRole();
  const [asking, setAsking] = useState(false);
  const cleanup = useMutation(
    trpc.plans.cleanupTest.mutationOptions({
      onSuccess: (x) => {
        toast.success(`Cleanup of test run #${r.id} started (task #${x.taskId})`);
        void invalidateAfterChange(qc, { queryKey: trpc.plans.pathKey() });
        router.push(`/tasks/${x.taskId}`);
      },
      onSettled: () => setAsking(false),
    }),
  );
  if (r.kind === 'test-cleanup')
    return (
      <Card title="Test cleanup" className="mt-4 print:border-0 print:shadow-none">
        <p className="text-sm">
          Destroys what{' '}
          <Link href={`/reports/${r.ofRunId}`} className="text-brand-600 hover:underline">
            test run #{r.ofRunId}
          </Link>{' '}
          created, and nothing else.
        </p>
      </Card>
    );
  if (r.kind !== 'test') return null;
  const lines = r.items.flatMap((i) =>
    i.created
      ? createdLines(i.created).map((l) => ({ key: `${i.objectKey}/${l}`, label: i.label, line: l }))
      : [],
  );
  const running = isActiveState(r.state);
  const cleaning = r.cleanups.some((c) => isActiveState(c.state));
  const canAct = role === 'operator' || role === 'admin';
  return (
    <Card
      title="Test failover"
      className="mt-4 print:border-0 print:shadow-none"
      actions={
        canAct &&
        !r.cleanedAt && (
          <Button
            variant="danger"
            disabled={running || cleaning}
            title={running ? 'the test is still running' : undefined}
            onClick={() => setAsking(true)}
          >
            Clean up test…
          </Button>
        )
      }
    >
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm" data-testid="test-summary">
        <dt className="text-zinc-500">Network of the test VMs</dt>
        <dd>
          {r.options?.network.kind === 'isolated'
            ? `isolated network ${r.options.network.network}`
            : 'none (interfaces removed)'}
        </dd>
        <dt className="text-zinc-500">Cleanup</dt>
        <dd data-testid="test-cleanup-state">
          {r.cleanedAt
            ? `done ${isoTime(r.cleanedAt)}`
            : cleaning
              ? 'running'
              : 'not yet: the test VMs and clones are still there'}
        </dd>
        {r.cleanups.length > 0 && (
          <>
            <dt className="text-zinc-500">Cleanup runs</dt>
            <dd className="flex flex-wrap gap-3">
              {r.cleanups.map((c) => (
                <Link
                  key={c.id}
                  href={`/reports/${c.id}`}
                  className="flex items-center gap-1 text-brand-600 hover:underline"
                >
                  #{c.id} <RunStateBadge state={c.state} />
                </Link>
              ))}
            </dd>
          </>
        )}
      </dl>
      <h3 className="mt-3 mb-1 text-sm font-semibold">Created by the test</h3>
      {lines.length ? (
        <ul className="space-y-0.5 font-mono text-xs" data-testid="test-created">
          {lines.map((l) => (
            <li key={l.key}>{l.line}</li>
          ))}
        </ul>
      ) : (
        <p className="text-sm text-zinc-500">Nothing yet.</p>
      )}
      <ConfirmDialog
        open={asking}
        title={`Clean up test run #${r.id}?`}
        confirmLabel="Destroy the test's resources"
        danger
        busy={cleanup.isPending}
        onConfirm={() => cleanup.mutate({ runId: r.id })}
        onCancel={() => setAsking(false)}
      >
        <p className="mb-2">
          The test VMs are stopped and undefined, the clones and image copies destroyed, the holds released.
          Production and its replicas are not touched. Destroyed:
        </p>
        <ul className="max-h-60 overflow-auto font-mono text-xs">
          {lines.map((l) => (
            <li key={l.key}>{l.line}</li>
          ))}
        </ul>
      </ConfirmDialog>
    </Card>
  );
}
