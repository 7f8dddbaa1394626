'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { use, useState } from 'react';
import { useRole } from '@/components/alerts/common';
import { RunStateBadge, runTitle } from '@/components/plans/run-state';
import { RunWizard, type RunChoice } from '@/components/plans/run-wizard';
import { useTaskEvents } from '@/components/task-events';
import { useToast } from '@/components/toast';
import { errorText, useTRPC, invalidateAfterChange } from '@/components/trpc';
import {
  Badge,
  Button,
  Card,
  ConfirmDialog,
  ErrorBox,
  PageTitle,
  formatDuration,
  formatTime,
} from '@/components/ui';
import { formatSeconds } from '@/server/domain/protection/format';
import { PLAN_GROUPS } from '@/server/domain/plans/rules';

/** One recovery plan: its groups, its runs, and the actions (run, reprotect, fail back, edit, delete). */
export default function PlanPage({ params }: { params: Promise<{ id: string }> }) {
  const id = Number(use(params).id);
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const router = useRouter();
  const role = useRole();
  const canAct = role === 'operator' || role === 'admin';
  useTaskEvents();
  const q = useQuery(trpc.plans.get.queryOptions({ id }, { enabled: Number.isInteger(id) && id > 0 }));
  const runs = useQuery(
    trpc.plans.reports.queryOptions({ planId: id, limit: 20 }, { enabled: Number.isInteger(id) && id > 0 }),
  );
  const [choice, setChoice] = useState<RunChoice | null>(null);
  const [removing, setRemoving] = useState(false);
  const remove = useMutation(
    trpc.plans.remove.mutationOptions({
      onSuccess: (p) => {
        toast.success(`Plan ${p.name} deleted; its run reports are kept`);
        void invalidateAfterChange(qc, { queryKey: trpc.plans.pathKey() });
        router.push('/plans');
      },
      onSettled: () => setRemoving(false),
    }),
  );
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  const p = q.data;
  if (!p) return <p className="text-sm text-zinc-500">Loading…</p>;
  const busy = p.lastRun && ['waiting', 'running', 'question'].includes(p.lastRun.state ?? '');
  return (
    <>
      <PageTitle
        actions={
          canAct && (
            <>
              <Button
                disabled={!!busy || !!p.openTest}
                title={p.openTest ? 'clean up the open test first' : undefined}
                onClick={() => setChoice({ kind: 'test', direction: 'forward' })}
              >
                Test failover…
              </Button>
              <Button
                variant="primary"
                disabled={!!busy}
                onClick={() => setChoice({ kind: 'planned', direction: 'forward' })}
              >
                Planned migration…
              </Button>
              <Button
                variant="danger"
                disabled={!!busy}
                onClick={() => setChoice({ kind: 'disaster', direction: 'forward' })}
              >
                Disaster recovery…
              </Button>
              <Button
                disabled={!!busy}
                onClick={() =>
                  setChoice({
                    kind: 'reprotect',
                    direction: p.lastRun?.direction === 'back' ? 'back' : 'forward',
                  })
                }
              >
                Reprotect…
              </Button>
              <Button disabled={!!busy} onClick={() => setChoice({ kind: 'planned', direction: 'back' })}>
                Fail back…
              </Button>
            </>
          )
        }
      >
        Plan {p.name}
      </PageTitle>
      {busy && p.lastRun?.taskId && (
        <p className="mb-3 text-sm">
          A run is in progress:{' '}
          <Link href={`/tasks/${p.lastRun.taskId}`} className="text-brand-600 hover:underline">
            task #{p.lastRun.taskId}
          </Link>
        </p>
      )}
      {p.openTest && (
        <p className="mb-3 text-sm" data-testid="open-test">
          A test failover is up since {formatTime(p.openTest.startedAt)}: its test VMs and clones run on the
          recovery sites.{' '}
          <Link href={`/reports/${p.openTest.runId}`} className="text-brand-600 hover:underline">
            Report and cleanup (run #{p.openTest.runId})
          </Link>
        </p>
      )}
      <div className="grid gap-4 lg:grid-cols-3">
        <Card
          title="Groups"
          className="lg:col-span-2"
          actions={
            canAct && (
              <>
                <Button onClick={() => router.push(`/plans/${p.id}/edit`)} disabled={!!busy}>
                  Edit
                </Button>
                <Button variant="danger" onClick={() => setRemoving(true)} disabled={!!busy}>
                  Delete
                </Button>
              </>
            )
          }
        >
          {p.description && <p className="mb-3 text-sm text-zinc-600 dark:text-zinc-300">{p.description}</p>}
          <ol className="space-y-3">
            {PLAN_GROUPS.filter((g) => p.items.some((i) => i.group === g)).map((g) => (
              <li key={g} data-testid="plan-group" data-group={g}>
                <h3 className="mb-1 text-sm font-semibold">
                  Group {g}{' '}
                  <span className="font-normal text-zinc-500">
                    — in parallel, at most {p.maxParallel} at once
                  </span>
                </h3>
                <ul className="space-y-1 text-sm">
                  {p.items
                    .filter((i) => i.group === g)
                    .map((i) => (
                      <li key={i.id} className="flex flex-wrap items-center gap-2">
                        <Badge tone={i.kind === 'rbd' ? 'info' : 'muted'}>
                          {i.kind === 'rbd' ? 'RBD' : 'VM'}
                        </Badge>
                        {i.label}
                        <span className="text-xs text-zinc-500">
                          {i.protectedSite} → {i.recoverySite}
                        </span>
                        {i.kind === 'replica' && (
                          <span className="text-xs text-zinc-500">
                            {i.waitAfterStartSec ? `waits ${i.waitAfterStartSec} s, ` : ''}ready when running
                            {i.readiness?.tcp
                              ? ` and ${i.readiness.tcp.host}:${i.readiness.tcp.port} answers`
                              : ''}
                          </span>
                        )}
                        {i.dependsOn.length > 0 && (
                          <span className="text-xs text-zinc-500">
                            after{' '}
                            {i.dependsOn
                              .map((d) => p.items.find((x) => x.objectKey === d)?.label ?? d)
                              .join(', ')}
                          </span>
                        )}
                      </li>
                    ))}
                </ul>
              </li>
            ))}
          </ol>
          <p className="mt-3 text-xs text-zinc-500">
            When an object fails, the run asks: retry, skip or abort (without an answer within{' '}
            {formatSeconds(p.questionTimeoutSec)}: {p.questionDefault}).
          </p>
        </Card>
        <Card title="Runs">
          {runs.data?.length ? (
            <ul className="space-y-2 text-sm">
              {runs.data.map((r) => (
                <li key={r.id} data-testid="plan-run" className="flex flex-col">
                  <Link
                    href={`/reports/${r.id}`}
                    className="flex items-center gap-2 text-brand-600 hover:underline"
                  >
                    {runTitle(r.kind, r.direction)} <RunStateBadge state={r.state} />
                  </Link>
                  <span className="text-xs text-zinc-500">
                    {formatTime(r.startedAt)} by {r.startedBy}
                    {r.recoveryTimeMs !== null && ` · recovered in ${formatDuration(r.recoveryTimeMs)}`}
                    {r.dataLossSec !== null &&
                      ` · lost ${r.dataLossSec ? formatSeconds(r.dataLossSec) : 'nothing'}`}
                  </span>
                </li>
              ))}
            </ul>
          ) : (
            <p className="text-sm text-zinc-500">Never run.</p>
          )}
        </Card>
      </div>
      {choice && (
        <RunWizard planId={p.id} planName={p.name} choice={choice} onClose={() => setChoice(null)} />
      )}
      <ConfirmDialog
        open={removing}
        title={`Delete plan ${p.name}?`}
        confirmLabel="Delete plan"
        danger
        typeToConfirm={p.name}
        busy={remove.isPending}
        onConfirm={() => remove.mutate({ id: p.id, confirm: p.name })}
        onCancel={() => setRemoving(false)}
      >
        <p>
          The plan and its groups are deleted. Nothing fails over; the objects stay protected as they are. Its
          run reports are kept.
        </p>
      </ConfirmDialog>
    </>
  );
}
