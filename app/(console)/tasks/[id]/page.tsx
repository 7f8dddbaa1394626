'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import Link from 'next/link';
import { use, useState } from 'react';
import { useTaskEvents } from '@/components/task-events';
import { StateBadge, isActiveState } from '@/components/task-state';
import { useToast } from '@/components/toast';
import { errorText, useTRPC, invalidateAfterChange, type RouterOutputs } from '@/components/trpc';
import {
  Button,
  Card,
  ConfirmDialog,
  ErrorBox,
  PageTitle,
  Progress,
  formatDuration,
  formatTime,
} from '@/components/ui';

/** A plan run's task, and a failover's started on its own, link to their run report. */
function RunReportLink({ taskId }: { taskId: number }) {
  const trpc = useTRPC();
  const run = useQuery(trpc.plans.runOfTask.queryOptions({ taskId })).data?.runId;
  if (!run) return null;
  return (
    <>
      <dt className="text-zinc-500">Report</dt>
      <dd>
        <Link href={`/reports/${run}`} className="text-brand-600 hover:underline">
          Run report #{run}
        </Link>
      </dd>
    </>
  );
}

/** How often an active task is asked for besides the task stream. */
const ACTIVE_POLL_MS = 5_000;

export default function TaskPage({ params }: { params: Promise<{ id: string }> }) {
  const id = Number(use(params).id);
  const trpc = useTRPC();
  const toast = useToast();
  // The tab's task stream refetches this task (and its recovery offer) when it changes. While the
  // task is active it is also asked every few seconds: a stream that stalls (a proxy holding the
  // events back, a suspended tab) must not leave the page showing "running" for a finished task.
  const q = useQuery(
    trpc.tasks.get.queryOptions(
      { id },
      {
        enabled: Number.isInteger(id) && id > 0,
        refetchInterval: (query) =>
          query.state.data && isActiveState(query.state.data.task.state) ? ACTIVE_POLL_MS : false,
      },
    ),
  );
  useTaskEvents();
  const [confirmCancel, setConfirmCancel] = useState(false);
  const cancel = useMutation(
    trpc.tasks.cancel.mutationOptions({
      onSuccess: () => toast.info(`Cancelling task #${id}…`),
      onSettled: () => setConfirmCancel(false),
    }),
  );
  const answer = useMutation(trpc.tasks.answer.mutationOptions());
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  if (!q.data) return <p className="text-sm text-zinc-500">Loading…</p>;
  const { task, steps, logs } = q.data;
  const active = isActiveState(task.state);
  const question = task.question;
  return (
    <>
      <PageTitle
        actions={
          active && (
            <Button variant="danger" onClick={() => setConfirmCancel(true)}>
              Cancel task
            </Button>
          )
        }
      >
        <span className="flex items-center gap-3">
          Task #{task.id}: {task.name} <StateBadge state={task.state} />
        </span>
      </PageTitle>
      <div className="grid gap-4 lg:grid-cols-3">
        <Card title="Progress" className="lg:col-span-2">
          <div data-testid="task-progress">
            <Progress value={task.progressComplete} max={task.progressTotal} label="task progress" />
          </div>
          {question && (
            <div
              role="alertdialog"
              aria-label="Question"
              className="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 dark:border-amber-700 dark:bg-amber-950"
            >
              <p className="mb-2 text-sm font-medium">{question.message}</p>
              <p className="mb-2 text-xs text-zinc-600 dark:text-zinc-400">
                Without an answer by {formatTime(question.deadline)}, “
                {question.options.find((o) => o.value === question.defaultValue)?.label}” is taken.
              </p>
              <div className="flex gap-2">
                {question.options.map((o) => (
                  <Button
                    key={o.value}
                    variant={o.value === question.defaultValue ? 'primary' : 'secondary'}
                    busy={answer.isPending}
                    onClick={() => answer.mutate({ id, questionId: question.id, value: o.value })}
                  >
                    {o.label}
                  </Button>
                ))}
              </div>
            </div>
          )}
          <ol className="mt-4 space-y-1.5" aria-label="Steps">
            {steps.map((s) => (
              <li
                key={s.id}
                className="flex items-center justify-between gap-2 text-sm"
                data-testid="task-step"
              >
                <span className="flex items-center gap-2">
                  <span className="w-5 text-right text-zinc-400 tabular-nums">{s.idx + 1}.</span>
                  {s.name}
                  {s.detail && <span className="text-xs text-red-600 dark:text-red-400">— {s.detail}</span>}
                </span>
                <span className="flex items-center gap-2">
                  {s.startedAt && s.finishedAt && (
                    <span className="text-xs text-zinc-500 tabular-nums">
                      {formatDuration(s.finishedAt.getTime() - s.startedAt.getTime())}
                    </span>
                  )}
                  <StateBadge state={s.state} />
                </span>
              </li>
            ))}
          </ol>
          {task.error && (
            <div className="mt-4">
              <ErrorBox error={task.error} />
            </div>
          )}
          {!active && <Recovery id={id} state={task.state} lastStep={task.lastCompletedStep} />}
        </Card>
        <Card title="Details">
          <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-sm">
            <dt className="text-zinc-500">Target</dt>
            <dd>{task.target}</dd>
            <dt className="text-zinc-500">Kind</dt>
            <dd>{task.kind}</dd>
            {['plan.run', 'replica.failover', 'ceph.failover'].includes(task.kind) && (
              <RunReportLink taskId={task.id} />
            )}
            <dt className="text-zinc-500">Started by</dt>
            <dd>{task.createdBy}</dd>
            {task.attempts > 1 && (
              <>
                <dt className="text-zinc-500">Attempts</dt>
                <dd>{task.attempts}</dd>
              </>
            )}
            <dt className="text-zinc-500">Created</dt>
            <dd>{formatTime(task.createdAt)}</dd>
            <dt className="text-zinc-500">Finished</dt>
            <dd>{formatTime(task.finishedAt)}</dd>
            {task.lastCompletedStep && (
              <>
                <dt className="text-zinc-500">Last step done</dt>
                <dd>{task.lastCompletedStep}</dd>
              </>
            )}
          </dl>
        </Card>
      </div>
      <TaskLog id={task.id} logs={logs} earlierLogs={q.data.earlierLogs} />
      <ConfirmDialog
        open={confirmCancel}
        title={`Cancel task #${task.id}?`}
        confirmLabel="Cancel task"
        danger
        busy={cancel.isPending}
        onConfirm={() => cancel.mutate({ id })}
        onCancel={() => setConfirmCancel(false)}
      >
        <p>
          “{task.name}” stops at its next safe point. Steps already done are not undone
          {task.lastCompletedStep ? ` (last done: ${task.lastCompletedStep})` : ''}.
        </p>
      </ConfirmDialog>
    </>
  );
}

type LogLine = RouterOutputs['tasks']['get']['logs'][number];

const logText = (l: LogLine) =>
  `${new Date(l.at).toISOString().slice(11, 23)} ${l.level.toUpperCase().padEnd(5)} ${l.message}`;

/**
 * The task's log: its last lines (kept live by the task stream), and the lines before them a page
 * at a time on request, so that a long task's log is readable from its first line to its last.
 */
function TaskLog({ id, logs, earlierLogs }: { id: number; logs: LogLine[]; earlierLogs: number }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [older, setOlder] = useState<{ lines: LogLine[]; earlier: number } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const first = older?.lines[0] ?? logs[0];
  const hidden = older ? older.earlier : earlierLogs;
  const loadEarlier = async () => {
    if (!first) return;
    setLoading(true);
    setError(null);
    try {
      const page = await qc.fetchQuery(trpc.tasks.logs.queryOptions({ id, before: first.id }));
      setOlder({ lines: [...page.logs, ...(older?.lines ?? [])], earlier: page.earlierLogs });
    } catch (e) {
      setError(errorText(e));
    } finally {
      setLoading(false);
    }
  };
  // Lines the tail also has (it moved on while earlier pages were read) are shown once.
  const tailFrom = older?.lines.length ? older.lines[older.lines.length - 1]!.id : 0;
  const lines = [...(older?.lines ?? []), ...logs.filter((l) => l.id > tailFrom)];
  return (
    <Card title="Log" className="mt-4">
      {hidden > 0 && (
        <div className="mb-2 flex items-center gap-3 text-sm text-zinc-600 dark:text-zinc-400">
          <span data-testid="task-log-earlier">
            {hidden} earlier line{hidden === 1 ? '' : 's'} not shown
          </span>
          <Button busy={loading} onClick={() => void loadEarlier()}>
            Show earlier lines
          </Button>
        </div>
      )}
      {error && <ErrorBox error={error} />}
      <pre className="max-h-96 overflow-auto text-xs leading-relaxed" data-testid="task-log">
        {lines.map(logText).join('\n')}
      </pre>
    </Card>
  );
}

/**
 * An interrupted or failed failover or reinit: where it stopped, and Resume (from the first
 * unfinished step) or Roll back (where that is safe), each confirmed by typing the VM name.
 */
function Recovery({ id, state, lastStep }: { id: number; state: string; lastStep: string | null }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const offer = useQuery({ ...trpc.tasks.recovery.queryOptions({ id }), staleTime: 0 });
  const [how, setHow] = useState<'resume' | 'rollback' | null>(null);
  const done = {
    onSuccess: () => {
      toast.info(how === 'resume' ? `Task #${id} resumed` : `Rolling back task #${id}`);
      setHow(null);
      void invalidateAfterChange(qc, { queryKey: trpc.tasks.get.queryKey({ id }) });
      void invalidateAfterChange(qc, { queryKey: trpc.tasks.recovery.queryKey({ id }) });
    },
  };
  const resume = useMutation(trpc.tasks.resume.mutationOptions(done));
  const rollback = useMutation(trpc.tasks.rollback.mutationOptions(done));
  const o = offer.data;
  if (!o || (!o.resume.ok && !o.rollback.ok)) {
    if (o && (state === 'interrupted' || state === 'failed') && o.resume.reason)
      return (
        <p className="mt-4 text-sm text-zinc-600 dark:text-zinc-400" data-testid="recovery-none">
          Nothing to resume: {o.resume.reason}.
        </p>
      );
    return null;
  }
  return (
    <div
      className="mt-4 rounded-md border border-amber-300 bg-amber-50 p-3 text-sm dark:border-amber-700 dark:bg-amber-950"
      data-testid="recovery"
    >
      <p className="mb-2 font-medium">
        This task stopped {lastStep ? `after “${lastStep}”` : 'before its first step was done'}. Until it is
        resumed or rolled back, nothing syncs the replica.
      </p>
      <ul className="mb-2 list-disc pl-5">
        <li>
          <b>Resume</b> runs it again from the first unfinished step; each step first checks what is already
          done.
          {!o.resume.ok && (
            <span className="text-zinc-600 dark:text-zinc-400"> Not possible: {o.resume.reason}.</span>
          )}
        </li>
        <li>
          <b>Roll back</b>{' '}
          {o.rollback.ok ? (
            <>undoes it: {o.rollback.steps.map((s) => s.replace('Roll back: ', '')).join(', then ')}.</>
          ) : (
            <span className="text-zinc-600 dark:text-zinc-400">is not possible: {o.rollback.reason}.</span>
          )}
        </li>
      </ul>
      <div className="flex flex-wrap items-end gap-2">
        <Button disabled={!o.resume.ok} onClick={() => setHow('resume')}>
          Resume…
        </Button>
        <Button variant="danger" disabled={!o.rollback.ok} onClick={() => setHow('rollback')}>
          Roll back…
        </Button>
      </div>
      <ConfirmDialog
        open={how !== null}
        title={how === 'resume' ? `Resume task #${id}?` : `Roll back task #${id}?`}
        confirmLabel={how === 'resume' ? 'Resume' : 'Roll back'}
        danger={how === 'rollback'}
        busy={resume.isPending || rollback.isPending}
        typeToConfirm={o.confirmText}
        onConfirm={() =>
          how === 'resume'
            ? resume.mutate({ id, confirm: o.confirmText })
            : rollback.mutate({ id, confirm: o.confirmText })
        }
        onCancel={() => setHow(null)}
      >
        <p className="mb-2">
          {how === 'resume'
            ? 'The task continues from its first unfinished step.'
            : `The rollback will: ${o.rollback.steps.map((s) => s.replace('Roll back: ', '')).join('; ')}.`}
        </p>
      </ConfirmDialog>
    </div>
  );
}
