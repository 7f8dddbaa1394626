import { and, eq } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { planRunItems, planRuns, type TaskRow, type TaskStepRow } from '../../db/schema';
import type { TaskEngine } from '../../tasks/engine';
import type { Clock } from '../../core/clock';
import { measuredLoss, runFigures } from './rules';

/** What a report says when a failover was started without a reason (through the API). */
export const NO_REASON = '(no reason given)';

/** One object's failover started on its own (its wizard, or the API), for its run report. */
export interface ObjectRunInput {
  objectKey: string;
  objectKind: 'replica' | 'rbd';
  label: string;
  /** planned, or disaster (a forced or unplanned failover). */
  kind: 'planned' | 'disaster';
  reason?: string;
  username: string;
  /** The checks the failover passed when it was started. */
  prechecks?: unknown;
}

/** The recovery point a finished failover task used, from its params and steps. */
export function recoveryPointOf(
  t: TaskRow,
  steps: readonly TaskStepRow[],
): { at: number | null; planned: boolean } {
  const p = (t.params ?? {}) as Record<string, unknown>;
  if (t.kind === 'replica.failover') {
    if (p.mode === 'planned') {
      const snap = steps.find((s) => s.name === 'Snapshot on the master' && s.state === 'done');
      return { at: snap?.finishedAt?.getTime() ?? null, planned: true };
    }
    return { at: typeof p.recoveryPointAt === 'number' ? p.recoveryPointAt : null, planned: false };
  }
  if (t.kind === 'ceph.failover') {
    if (p.mode === 'planned') {
      const demote = steps.find((s) => s.state === 'done' && s.name.startsWith('Demote'));
      return { at: demote?.finishedAt?.getTime() ?? null, planned: true };
    }
    const synced = ((p.images ?? []) as { lastSyncedAt: number | null }[]).map((i) => i.lastSyncedAt);
    return {
      at: synced.length && synced.every((x) => x !== null) ? Math.min(...(synced as number[])) : null,
      planned: false,
    };
  }
  return { at: null, planned: false };
}

const FAILED = ['failed', 'cancelled', 'interrupted', 'rolled-back'];

/**
 * Run reports of single-object failovers: a `plan_runs` row without a plan (its one item is the
 * failover task itself), filled in from the task's steps as it ends — the recovery point used,
 * the data lost, and for a VM the recovery time to its start.
 */
export class ObjectRuns {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly tasks: TaskEngine,
  ) {
    tasks.onState((t) => {
      if (t.kind === 'replica.failover' || t.kind === 'ceph.failover') this.#update(t);
    });
  }

  /** Records the report of a failover task just started on its own. Returns the run id. */
  record(task: TaskRow, o: ObjectRunInput): number {
    const startedAt = new Date(this.clock.now());
    const run = this.db.transaction((tx) => {
      const r = tx
        .insert(planRuns)
        .values({
          planId: null,
          planName: o.label,
          kind: o.kind,
          direction: 'forward',
          taskId: task.id,
          reason: o.reason?.trim() || NO_REASON,
          plan: { object: { key: o.objectKey, kind: o.objectKind, label: o.label } },
          prechecks: o.prechecks ?? null,
          startedBy: o.username,
          startedAt,
        })
        .returning()
        .get();
      tx.insert(planRunItems)
        .values({
          runId: r.id,
          objectKey: o.objectKey,
          label: o.label,
          groupNo: 1,
          state: 'running',
          childTaskId: task.id,
          startedAt,
        })
        .run();
      return r;
    });
    const now = this.tasks.get(task.id);
    if (now) this.#update(now);
    return run.id;
  }

  #update(t: Readonly<TaskRow>) {
    const row = this.db
      .select({ run: planRuns, item: planRunItems })
      .from(planRunItems)
      .innerJoin(planRuns, eq(planRuns.id, planRunItems.runId))
      .where(and(eq(planRunItems.childTaskId, t.id), eq(planRuns.taskId, t.id)))
      .get();
    if (!row) return;
    const { run, item } = row;
    const objectKind = (run.plan as { object?: { kind: 'replica' | 'rbd' } }).object?.kind ?? 'rbd';
    if (t.state === 'finished') {
      const steps = this.tasks.steps(t.id);
      const point = recoveryPointOf(t as TaskRow, steps);
      const started =
        objectKind === 'replica'
          ? (steps.find((s) => s.name === 'Start the VM' && s.state === 'done')?.finishedAt ?? null)
          : null;
      const finishedAt = t.finishedAt ?? new Date(this.clock.now());
      const dataLossSec = point.planned ? 0 : measuredLoss(run.startedAt.getTime(), point.at);
      this.db
        .update(planRunItems)
        .set({
          state: 'done',
          error: null,
          finishedAt,
          readyAt: started,
          recoveryPointAt: point.at !== null ? new Date(point.at) : null,
          dataLossSec,
        })
        .where(eq(planRunItems.id, item.id))
        .run();
      const f = runFigures(run.startedAt.getTime(), [
        {
          kind: objectKind,
          state: 'done',
          finishedAt: finishedAt.getTime(),
          readyAt: started?.getTime() ?? null,
          dataLossSec,
        },
      ]);
      this.db
        .update(planRuns)
        .set({ dataLossSec: f.dataLossSec, recoveryTimeMs: f.recoveryTimeMs })
        .where(eq(planRuns.id, run.id))
        .run();
    } else if (FAILED.includes(t.state)) {
      this.db
        .update(planRunItems)
        .set({
          state: 'failed',
          error: t.error ?? t.state,
          finishedAt: t.finishedAt ?? new Date(this.clock.now()),
        })
        .where(eq(planRunItems.id, item.id))
        .run();
    } else if (item.state !== 'running') {
      this.db
        .update(planRunItems)
        .set({ state: 'running', error: null, finishedAt: null })
        .where(eq(planRunItems.id, item.id))
        .run();
    }
  }
}
