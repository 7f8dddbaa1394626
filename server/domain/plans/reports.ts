import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { planRunItems, planRuns, taskLogs, tasks, taskSteps, type PlanRunOptions } from '../../db/schema';
import type { TestCreated } from './rules';
import { AppError } from '../../core/errors';

export interface ReportStep {
  name: string;
  state: string;
  startedAt: number | null;
  finishedAt: number | null;
  ms: number | null;
  detail: string | null;
}

export interface RunReportItem {
  objectKey: string;
  label: string;
  group: number;
  state: string;
  taskId: number | null;
  taskName: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  readyAt: number | null;
  recoveryPointAt: number | null;
  dataLossSec: number | null;
  error: string | null;
  steps: ReportStep[];
  /** A test's: what it created for this object (the cleanup destroys exactly this). */
  created: TestCreated | null;
}

export interface RunReport {
  id: number;
  planId: number | null;
  planName: string;
  kind: string;
  direction: string;
  reason: string;
  startedBy: string;
  startedAt: number;
  /** The run's task: its state is the run's outcome. */
  taskId: number | null;
  state: string;
  finishedAt: number | null;
  attempts: number;
  error: string | null;
  dataLossSec: number | null;
  recoveryTimeMs: number | null;
  plan: unknown;
  prechecks: unknown;
  /** A test's options (the network of its VMs). */
  options: PlanRunOptions | null;
  /** A test: when its cleanup finished, and its cleanup runs. A cleanup: the test it cleans up. */
  cleanedAt: number | null;
  cleanups: { id: number; taskId: number | null; state: string }[];
  ofRunId: number | null;
  /** A single object's failover started on its own (its wizard, or the API), not a plan's run. */
  objectRun: boolean;
  items: RunReportItem[];
  steps: ReportStep[];
  questions: { at: number; message: string }[];
  errors: string[];
  log: { at: number; level: string; message: string }[];
}

const step = (s: typeof taskSteps.$inferSelect): ReportStep => ({
  name: s.name,
  state: s.state,
  startedAt: s.startedAt?.getTime() ?? null,
  finishedAt: s.finishedAt?.getTime() ?? null,
  ms: s.startedAt && s.finishedAt ? s.finishedAt.getTime() - s.startedAt.getTime() : null,
  detail: s.detail,
});

/** Run reports: every plan run with who, why, the plan as it was, per-object timings, the measured data loss and recovery time. */
export class PlanReports {
  constructor(private readonly db: Db) {}

  list(filter: { planId?: number; kind?: string; limit: number; before?: number }) {
    const where: SQL[] = [];
    if (filter.planId) where.push(eq(planRuns.planId, filter.planId));
    if (filter.kind) where.push(eq(planRuns.kind, filter.kind as 'planned'));
    if (filter.before) where.push(lt(planRuns.id, filter.before));
    return this.db
      .select({
        id: planRuns.id,
        planId: planRuns.planId,
        planName: planRuns.planName,
        kind: planRuns.kind,
        direction: planRuns.direction,
        reason: planRuns.reason,
        startedBy: planRuns.startedBy,
        startedAt: planRuns.startedAt,
        taskId: planRuns.taskId,
        state: tasks.state,
        finishedAt: tasks.finishedAt,
        dataLossSec: planRuns.dataLossSec,
        recoveryTimeMs: planRuns.recoveryTimeMs,
        objectRun: sql<number>`json_extract(${planRuns.plan}, '$.object') is not null`,
      })
      .from(planRuns)
      .leftJoin(tasks, eq(tasks.id, planRuns.taskId))
      .where(where.length ? and(...where) : undefined)
      .orderBy(desc(planRuns.id))
      .limit(filter.limit)
      .all()
      .map((r) => ({
        ...r,
        objectRun: !!r.objectRun,
        startedAt: r.startedAt.getTime(),
        finishedAt: r.finishedAt?.getTime() ?? null,
        state: r.state ?? 'unknown',
      }));
  }

  get(runId: number): RunReport {
    const run = this.db.select().from(planRuns).where(eq(planRuns.id, runId)).get();
    if (!run) throw new AppError('NOT_FOUND', `run report #${runId} does not exist`);
    const task = run.taskId ? this.db.select().from(tasks).where(eq(tasks.id, run.taskId)).get() : undefined;
    const stepsOf = (taskId: number) =>
      this.db
        .select()
        .from(taskSteps)
        .where(eq(taskSteps.taskId, taskId))
        .orderBy(taskSteps.idx)
        .all()
        .map(step);
    const runSteps = task ? stepsOf(task.id) : [];
    const logs = task
      ? this.db
          .select()
          .from(taskLogs)
          .where(eq(taskLogs.taskId, task.id))
          .orderBy(taskLogs.id)
          .limit(2000)
          .all()
      : [];
    const items = this.db
      .select()
      .from(planRunItems)
      .where(eq(planRunItems.runId, runId))
      .orderBy(planRunItems.groupNo, planRunItems.id)
      .all()
      .map((i): RunReportItem => {
        const child = i.childTaskId
          ? this.db.select({ name: tasks.name }).from(tasks).where(eq(tasks.id, i.childTaskId)).get()
          : undefined;
        return {
          objectKey: i.objectKey,
          label: i.label,
          group: i.groupNo,
          state: i.state,
          taskId: i.childTaskId,
          taskName: child?.name ?? null,
          startedAt: i.startedAt?.getTime() ?? null,
          finishedAt: i.finishedAt?.getTime() ?? null,
          readyAt: i.readyAt?.getTime() ?? null,
          recoveryPointAt: i.recoveryPointAt?.getTime() ?? null,
          dataLossSec: i.dataLossSec,
          error: i.error,
          // A test's (or cleanup's) own steps for the object, else its failover task's.
          steps: i.childTaskId
            ? stepsOf(i.childTaskId)
            : runSteps.filter(
                (s) => s.name.startsWith(`Test ${i.label}:`) || s.name === `Clean up ${i.label}`,
              ),
          created: (i.created as TestCreated | null) ?? null,
        };
      });
    const errors = [
      ...(task?.error ? [task.error] : []),
      ...items.filter((i) => i.error).map((i) => `${i.label}: ${i.error}`),
      ...logs.filter((l) => l.level === 'error').map((l) => l.message),
    ];
    return {
      id: run.id,
      planId: run.planId,
      planName: run.planName,
      kind: run.kind,
      direction: run.direction,
      reason: run.reason,
      startedBy: run.startedBy,
      startedAt: run.startedAt.getTime(),
      taskId: run.taskId,
      state: task?.state ?? 'unknown',
      finishedAt: task?.finishedAt?.getTime() ?? null,
      attempts: task?.attempts ?? 1,
      error: task?.error ?? null,
      dataLossSec: run.dataLossSec,
      recoveryTimeMs: run.recoveryTimeMs,
      plan: run.plan,
      prechecks: run.prechecks,
      options: run.options ?? null,
      cleanedAt: run.cleanedAt?.getTime() ?? null,
      cleanups:
        run.kind === 'test'
          ? this.db
              .select({ id: planRuns.id, taskId: planRuns.taskId, state: tasks.state })
              .from(planRuns)
              .leftJoin(tasks, eq(tasks.id, planRuns.taskId))
              .where(and(eq(planRuns.kind, 'test-cleanup'), eq(planRuns.ofRunId, run.id)))
              .orderBy(planRuns.id)
              .all()
              .map((c) => ({ ...c, state: c.state ?? 'unknown' }))
          : [],
      ofRunId: run.ofRunId,
      objectRun: !!(run.plan as { object?: unknown } | null)?.object,
      items,
      steps: runSteps,
      questions: logs
        .filter((l) => /^(question|answer): /.test(l.message) || / answered$/.test(l.message))
        .map((l) => ({ at: l.at.getTime(), message: l.message })),
      errors: [...new Set(errors)],
      log: logs.map((l) => ({ at: l.at.getTime(), level: l.level, message: l.message })),
    };
  }
}
