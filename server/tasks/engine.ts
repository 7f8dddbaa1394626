import { EventEmitter } from 'node:events';
import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { taskLogs, tasks, taskSteps, type TaskRow, type TaskStepRow } from '../db/schema';
import type { Clock } from '../domain/clock';
import { AppError, errorMessage } from '../domain/errors';
import type { HistoryLog } from '../domain/history';

export type TaskState = TaskRow['state'];
export const ACTIVE_STATES: TaskState[] = ['waiting', 'running', 'question'];

export interface QuestionOption {
  value: string;
  label: string;
}

export interface TaskQuestion {
  id: string;
  message: string;
  options: QuestionOption[];
  defaultValue: string;
  /** Epoch ms after which the default answer is taken. */
  deadline: number;
}

export interface TaskContext {
  readonly taskId: number;
  readonly signal: AbortSignal;
  /** Runs one named step, recording its state and timings. */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  progress(complete: number, total?: number): void;
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
  ask(q: { message: string; options: QuestionOption[]; defaultValue: string; timeoutMs: number }): Promise<string>;
  throwIfCancelled(): void;
}

export interface TaskDefinition<T> {
  name: string;
  kind: string;
  /** The resource the task works on; one mutating task per resource at a time. */
  target: string;
  /** Further resources to lock besides `target`. */
  locks?: string[];
  params?: Record<string, unknown>;
  /** Step names, known in advance so the UI can show what is coming. */
  steps?: string[];
  username: string;
  run: (ctx: TaskContext) => Promise<T>;
}

export interface TaskEvent {
  taskId: number;
  state: TaskState;
}

interface Live {
  controller: AbortController;
  locks: string[];
  question?: { q: TaskQuestion; resolve: (v: string) => void; timer: NodeJS.Timeout };
  done: Promise<void>;
}

/**
 * Stored, observable long-running work. Tasks live in SQLite (survive restarts as `interrupted`),
 * run in this process, hold per-resource locks, report steps/progress/logs, can ask the operator
 * a question and can be cancelled. Finished tasks are written to history.
 */
export class TaskEngine {
  readonly events = new EventEmitter();
  readonly #live = new Map<number, Live>();
  readonly #locks = new Map<string, number>();

  constructor(
    private readonly db: Db,
    private readonly history: HistoryLog,
    private readonly clock: Clock,
  ) {
    this.events.setMaxListeners(0);
  }

  /** Marks tasks a previous process left active as interrupted. Returns their ids. */
  recoverAtBoot(): number[] {
    const stale = this.db.select().from(tasks).where(inArray(tasks.state, ACTIVE_STATES)).all();
    const now = new Date(this.clock.now());
    for (const t of stale) {
      this.db.transaction((tx) => {
        tx.update(tasks)
          .set({ state: 'interrupted', finishedAt: now, question: null, error: 'Tandem stopped while this task was running' })
          .where(eq(tasks.id, t.id))
          .run();
        tx.update(taskSteps)
          .set({ state: 'failed', finishedAt: now, detail: 'interrupted' })
          .where(and(eq(taskSteps.taskId, t.id), eq(taskSteps.state, 'running')))
          .run();
        tx.insert(taskLogs)
          .values({ taskId: t.id, at: now, level: 'warn', message: `interrupted; last completed step: ${t.lastCompletedStep ?? 'none'}` })
          .run();
      });
      this.history.record({
        username: t.createdBy,
        action: t.kind,
        target: t.target,
        params: { ...(t.params ?? {}), lastCompletedStep: t.lastCompletedStep },
        outcome: 'failure',
        error: `interrupted (last completed step: ${t.lastCompletedStep ?? 'none'})`,
        durationMs: t.startedAt ? now.getTime() - t.startedAt.getTime() : null,
        taskId: t.id,
      });
    }
    return stale.map((t) => t.id);
  }

  /** The task holding `resource`, if any. */
  holder(resource: string): TaskRow | undefined {
    const id = this.#locks.get(resource);
    return id === undefined ? undefined : this.get(id);
  }

  start<T>(def: TaskDefinition<T>): TaskRow {
    const locks = [...new Set([def.target, ...(def.locks ?? [])])];
    for (const r of locks) {
      const holder = this.holder(r);
      if (holder) {
        throw new AppError(
          'CONFLICT',
          `${r} is busy: task #${holder.id} "${holder.name}" (${holder.state}, started by ${holder.createdBy}) must finish or be cancelled first`,
          { details: { taskId: holder.id, resource: r } },
        );
      }
    }
    const now = new Date(this.clock.now());
    const row = this.db.transaction((tx) => {
      const t = tx
        .insert(tasks)
        .values({
          name: def.name,
          kind: def.kind,
          target: def.target,
          state: 'waiting',
          params: def.params ?? null,
          progressTotal: 0,
          progressComplete: 0,
          createdBy: def.username,
          createdAt: now,
        })
        .returning()
        .get();
      (def.steps ?? []).forEach((name, idx) => {
        tx.insert(taskSteps).values({ taskId: t.id, idx, name, state: 'pending' }).run();
      });
      return t;
    });
    for (const r of locks) this.#locks.set(r, row.id);
    const controller = new AbortController();
    const live: Live = { controller, locks, done: Promise.resolve() };
    this.#live.set(row.id, live);
    live.done = this.#execute(row.id, def, live);
    this.#emit(row.id, 'waiting');
    return row;
  }

  async #execute<T>(id: number, def: TaskDefinition<T>, live: Live): Promise<void> {
    await Promise.resolve();
    const startedAt = this.clock.now();
    this.db.update(tasks).set({ state: 'running', startedAt: new Date(startedAt) }).where(eq(tasks.id, id)).run();
    this.#emit(id, 'running');
    const ctx = this.#context(id, live);
    let state: TaskState = 'finished';
    let result: unknown = null;
    let error: string | null = null;
    try {
      result = (await def.run(ctx)) ?? null;
      if (live.controller.signal.aborted) state = 'cancelled';
    } catch (e) {
      if (live.controller.signal.aborted || AppError.is(e, 'CANCELLED')) {
        state = 'cancelled';
        error = 'cancelled by the operator';
      } else {
        state = 'failed';
        error = errorMessage(e);
      }
    }
    const finishedAt = this.clock.now();
    this.db
      .update(tasks)
      .set({ state, result: result as never, error, finishedAt: new Date(finishedAt), question: null })
      .where(eq(tasks.id, id))
      .run();
    if (state === 'finished') {
      // Estimates (bytes to send, say) may have been off; a finished task is complete.
      this.db.update(tasks).set({ progressComplete: sql`max(${tasks.progressTotal}, 1)`, progressTotal: sql`max(${tasks.progressTotal}, 1)` }).where(eq(tasks.id, id)).run();
    }
    if (state !== 'finished') {
      this.db
        .update(taskSteps)
        .set({ state: state === 'cancelled' ? 'cancelled' : 'failed', finishedAt: new Date(finishedAt) })
        .where(and(eq(taskSteps.taskId, id), eq(taskSteps.state, 'running')))
        .run();
      this.db
        .update(taskSteps)
        .set({ state: 'skipped' })
        .where(and(eq(taskSteps.taskId, id), eq(taskSteps.state, 'pending')))
        .run();
    }
    this.#log(id, state === 'finished' ? 'info' : 'error', state === 'finished' ? 'finished' : `${state}: ${error}`);
    const steps = this.steps(id).map((s) => ({
      name: s.name,
      state: s.state,
      ms: s.startedAt && s.finishedAt ? s.finishedAt.getTime() - s.startedAt.getTime() : null,
    }));
    this.history.record({
      username: def.username,
      action: def.kind,
      target: def.target,
      params: { ...(def.params ?? {}), steps },
      outcome: state === 'finished' ? 'success' : state === 'cancelled' ? 'cancelled' : 'failure',
      error,
      durationMs: finishedAt - startedAt,
      taskId: id,
    });
    for (const r of live.locks) if (this.#locks.get(r) === id) this.#locks.delete(r);
    this.#live.delete(id);
    this.#emit(id, state);
  }

  #context(id: number, live: Live): TaskContext {
    const signal = live.controller.signal;
    const throwIfCancelled = () => {
      if (signal.aborted) throw new AppError('CANCELLED', 'cancelled by the operator');
    };
    return {
      taskId: id,
      signal,
      throwIfCancelled,
      step: async <R>(name: string, fn: () => Promise<R> | R): Promise<R> => {
        throwIfCancelled();
        let step = this.db.select().from(taskSteps).where(and(eq(taskSteps.taskId, id), eq(taskSteps.name, name), eq(taskSteps.state, 'pending'))).orderBy(asc(taskSteps.idx)).get();
        if (!step) {
          const max = this.db.select({ m: sql<number>`coalesce(max(${taskSteps.idx}), -1)` }).from(taskSteps).where(eq(taskSteps.taskId, id)).get()?.m ?? -1;
          step = this.db.insert(taskSteps).values({ taskId: id, idx: max + 1, name, state: 'pending' }).returning().get();
        }
        const stepId = step.id;
        this.db.update(taskSteps).set({ state: 'running', startedAt: new Date(this.clock.now()) }).where(eq(taskSteps.id, stepId)).run();
        this.#log(id, 'info', `step: ${name}`);
        this.#emit(id, 'running');
        try {
          const r = await fn();
          throwIfCancelled();
          this.db.update(taskSteps).set({ state: 'done', finishedAt: new Date(this.clock.now()) }).where(eq(taskSteps.id, stepId)).run();
          this.db.update(tasks).set({ lastCompletedStep: name }).where(eq(tasks.id, id)).run();
          this.#emit(id, 'running');
          return r;
        } catch (e) {
          const cancelled = signal.aborted || AppError.is(e, 'CANCELLED');
          this.db
            .update(taskSteps)
            .set({ state: cancelled ? 'cancelled' : 'failed', finishedAt: new Date(this.clock.now()), detail: errorMessage(e).slice(0, 2000) })
            .where(eq(taskSteps.id, stepId))
            .run();
          throw e;
        }
      },
      progress: (complete, total) => {
        const set: Partial<TaskRow> = { progressComplete: Math.max(0, Math.round(complete)) };
        if (total !== undefined) set.progressTotal = Math.max(0, Math.round(total));
        this.db.update(tasks).set(set).where(eq(tasks.id, id)).run();
        this.#emit(id, 'running');
      },
      log: (message, level = 'info') => {
        this.#log(id, level, message);
        this.#emit(id, 'running');
      },
      ask: (q) =>
        new Promise<string>((resolve, reject) => {
          throwIfCancelled();
          if (!q.options.some((o) => o.value === q.defaultValue)) {
            return reject(new Error('question default must be one of its options'));
          }
          const question: TaskQuestion = {
            id: `${id}-${this.clock.now()}`,
            message: q.message,
            options: q.options,
            defaultValue: q.defaultValue,
            deadline: this.clock.now() + q.timeoutMs,
          };
          const settle = (value: string, how: string) => {
            if (!live.question) return;
            clearTimeout(live.question.timer);
            live.question = undefined;
            signal.removeEventListener('abort', onAbort);
            this.db.update(tasks).set({ state: 'running', question: null }).where(eq(tasks.id, id)).run();
            this.#log(id, 'info', `answer: ${value} (${how})`);
            this.#emit(id, 'running');
            resolve(value);
          };
          const onAbort = () => {
            if (!live.question) return;
            clearTimeout(live.question.timer);
            live.question = undefined;
            reject(new AppError('CANCELLED', 'cancelled while waiting for an answer'));
          };
          signal.addEventListener('abort', onAbort, { once: true });
          const timer = setTimeout(() => settle(q.defaultValue, 'timeout, default taken'), q.timeoutMs);
          live.question = { q: question, resolve: (v) => settle(v, 'operator'), timer };
          this.db.update(tasks).set({ state: 'question', question }).where(eq(tasks.id, id)).run();
          this.#log(id, 'info', `question: ${q.message}`);
          this.#emit(id, 'question');
        }),
    };
  }

  answer(id: number, questionId: string, value: string, username: string): void {
    const live = this.#live.get(id);
    if (!live?.question || live.question.q.id !== questionId) {
      throw new AppError('CONFLICT', `task #${id} is not waiting for that answer (it may have timed out or been answered)`);
    }
    if (!live.question.q.options.some((o) => o.value === value)) {
      throw AppError.invalid('value', `must be one of ${live.question.q.options.map((o) => o.value).join(', ')}`);
    }
    this.#log(id, 'info', `${username} answered`);
    live.question.resolve(value);
  }

  cancel(id: number, username: string): void {
    const t = this.get(id);
    if (!t) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
    const live = this.#live.get(id);
    if (!live || !ACTIVE_STATES.includes(t.state)) {
      throw new AppError('CONFLICT', `task #${id} is ${t.state}; only waiting or running tasks can be cancelled`);
    }
    this.db.update(tasks).set({ cancelRequested: true }).where(eq(tasks.id, id)).run();
    this.#log(id, 'warn', `cancel requested by ${username}`);
    live.controller.abort();
    this.#emit(id, t.state);
  }

  /** Resolves when the task has ended (for tests and scripts). */
  async wait(id: number): Promise<TaskRow> {
    await this.#live.get(id)?.done;
    const t = this.get(id);
    if (!t) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
    return t;
  }

  get(id: number): TaskRow | undefined {
    return this.db.select().from(tasks).where(eq(tasks.id, id)).get();
  }

  steps(id: number): TaskStepRow[] {
    return this.db.select().from(taskSteps).where(eq(taskSteps.taskId, id)).orderBy(asc(taskSteps.idx)).all();
  }

  logs(id: number, afterId = 0, limit = 500) {
    return this.db
      .select()
      .from(taskLogs)
      .where(and(eq(taskLogs.taskId, id), sql`${taskLogs.id} > ${afterId}`))
      .orderBy(asc(taskLogs.id))
      .limit(limit)
      .all();
  }

  list(opts: { active?: boolean; limit: number; before?: number }): TaskRow[] {
    const conds = [];
    if (opts.active) conds.push(inArray(tasks.state, ACTIVE_STATES));
    if (opts.before) conds.push(lt(tasks.id, opts.before));
    return this.db
      .select()
      .from(tasks)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(desc(tasks.id))
      .limit(opts.limit)
      .all();
  }

  activeCount(): number {
    return this.#live.size;
  }

  /** Cancels everything and waits (shutdown, tests). */
  async shutdown(): Promise<void> {
    const all = [...this.#live.values()];
    for (const l of all) l.controller.abort();
    await Promise.allSettled(all.map((l) => l.done));
  }

  #log(id: number, level: 'info' | 'warn' | 'error', message: string) {
    this.db.insert(taskLogs).values({ taskId: id, at: new Date(this.clock.now()), level, message: message.slice(0, 4000) }).run();
  }

  #emit(taskId: number, state: TaskState) {
    this.events.emit('change', { taskId, state } satisfies TaskEvent);
  }
}
