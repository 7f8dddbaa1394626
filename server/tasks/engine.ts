import { EventEmitter } from 'node:events';
import { and, asc, desc, eq, inArray, lt, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { taskLogs, tasks, taskSteps, type TaskRow, type TaskStepRow } from '../db/schema';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import { TaskFeed, type TaskStreamRow } from './feed';

/** How many log lines a task page shows at first, and how many each "earlier lines" page adds. */
export const TASK_LOG_PAGE = 500;

export type TaskState = TaskRow['state'];

/**
 * What the engine needs of the history (the domain's HistoryLog has it): a row per task start and
 * end, the start linked to the call that made it, and runs kept outside that call.
 */
export interface TaskHistory {
  record(e: {
    username: string;
    action: string;
    target: string;
    params?: Record<string, unknown>;
    outcome: 'success' | 'failure' | 'cancelled' | 'started';
    error?: string | null;
    durationMs?: number | null;
    taskId?: number | null;
  }): number;
  linkTask(taskId: number): void;
  outside<T>(fn: () => T): T;
}
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
  /** How long the question waits in all (ms); absent in questions stored before it was kept. */
  timeoutMs?: number;
}

export interface TaskContext {
  readonly taskId: number;
  readonly signal: AbortSignal;
  /** Runs one named step, recording its state and timings. */
  step<T>(name: string, fn: () => Promise<T> | T): Promise<T>;
  progress(complete: number, total?: number): void;
  log(message: string, level?: 'info' | 'warn' | 'error'): void;
  ask(q: {
    message: string;
    options: QuestionOption[];
    defaultValue: string;
    timeoutMs: number;
  }): Promise<string>;
  /** Marks a step that will not run as skipped, with the reason (a step already done stays done). */
  skip(name: string, reason: string): void;
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

/**
 * A kind of task that survives a crash: its run is rebuilt from the stored params, so that an
 * interrupted or failed task can be resumed (steps already done are skipped and return their
 * stored result) or, where the kind allows it, rolled back.
 */
export interface DurableKind<P = Record<string, unknown>> {
  run(ctx: TaskContext, params: P): Promise<unknown>;
  /** What the operator types to confirm a resume or a rollback (e.g. the VM name). */
  confirmText(params: P): string;
  /** Why this task cannot be resumed now, or null when it can. */
  resumeBlocked?(task: TaskRow, steps: TaskStepRow[], params: P): string | null;
  rollback?: {
    steps(params: P, done: string[]): string[];
    /** Why this task cannot be rolled back now, or null when it can. */
    blocked(task: TaskRow, steps: TaskStepRow[], params: P): string | null;
    run(ctx: TaskContext, params: P, done: string[]): Promise<unknown>;
  };
}

export interface RecoveryOffer {
  resume: { ok: boolean; reason: string | null };
  rollback: { ok: boolean; reason: string | null; steps: string[] };
  confirmText: string;
}

/**
 * `TANDEM_FAULT=<task kind>:<step>:<action>[,…]`, a test switch read once at start. At that step
 * the process exits at once (`crash`), the step throws (`error`) or never returns (`hang`); the
 * `-after` forms do so after the step's work, before its completion is stored.
 */
export interface FaultPoint {
  kind: string;
  step: string;
  action: 'crash' | 'error' | 'hang';
  after: boolean;
}
const FAULT_ACTIONS = ['crash', 'error', 'hang', 'crash-after', 'error-after', 'hang-after'];

export function parseFaults(spec: string | undefined): FaultPoint[] {
  if (!spec) return [];
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.indexOf(':');
      const j = s.lastIndexOf(':');
      const action = s.slice(j + 1);
      if (i < 0 || j <= i || !FAULT_ACTIONS.includes(action))
        throw new Error(`TANDEM_FAULT: "${s}" is not <kind>:<step>:${FAULT_ACTIONS.join('|')}`);
      return {
        kind: s.slice(0, i),
        step: s.slice(i + 1, j),
        action: action.replace('-after', '') as FaultPoint['action'],
        after: action.endsWith('-after'),
      };
    });
}

/**
 * Locks are names; a name made of `/`-separated segments is hierarchical (`site/3/vm/web01`
 * contains `site/3/vm/web01/replica/7`): two locks conflict when they are equal or one is an
 * ancestor of the other.
 */
export function locksConflict(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length < b.length ? [a, b] : [b, a];
  return short.includes('/') && long.startsWith(short + '/');
}

/**
 * One change of a task, as it was when it happened: the row is read once, right after the write
 * that caused the event, and shared by every listener (treat it as read-only). `change` says what
 * changed: the task's state (`state`), a step started or ended (`step`), its progress, or a log line.
 */
export interface TaskEvent {
  taskId: number;
  state: TaskState;
  change: TaskChange;
  task: Readonly<TaskRow>;
}
export type TaskChange = 'state' | 'step' | 'progress' | 'log';

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
  readonly #stateHooks: ((task: Readonly<TaskRow>) => void)[] = [];

  /**
   * Calls `hook` with the task's row after each change of a task's state (in-process bookkeeping,
   * e.g. run reports; the `events` stream is for watchers, and costs nothing without them).
   */
  onState(hook: (task: Readonly<TaskRow>) => void): void {
    this.#stateHooks.push(hook);
  }
  /** The changes batched for live streams (`tasks.watch`). */
  readonly feed = new TaskFeed(this.events);

  /**
   * Batches of changed task rows (without their params) until `signal` aborts. Watching one task
   * starts with its row as it is once the feed listens, so that a change made while the stream was
   * opening is not missed; its batches hold only that task's rows (and may then be empty).
   */
  async *watch(signal: AbortSignal, id?: number): AsyncGenerator<readonly TaskStreamRow[]> {
    // A stopping process ends its streams: the browser opens them again on the next process.
    const batches = this.feed.watch(AbortSignal.any([signal, this.#stopping.signal])); // listening from here
    if (id) {
      const now = this.get(id);
      if (now) {
        const { params: _params, ...row } = now;
        yield [row];
      }
    }
    for await (const batch of batches) yield id ? batch.filter((t) => t.id === id) : batch;
  }
  readonly #live = new Map<number, Live>();
  /** Aborted when the process stops: no task starts any more, and the streams end. */
  readonly #stopping = new AbortController();
  /** The rows of live tasks as stored, kept in step with every write: events need no read. */
  readonly #rows = new Map<number, TaskRow>();
  readonly #locks = new Map<string, number>();
  readonly #kinds = new Map<string, DurableKind<never>>();
  readonly #faults: FaultPoint[];

  constructor(
    private readonly db: Db,
    private readonly history: TaskHistory,
    private readonly clock: Clock,
    opts: { faults?: string } = {},
  ) {
    this.events.setMaxListeners(0);
    this.#faults = parseFaults(opts.faults ?? process.env.TANDEM_FAULT);
  }

  /** Registers a kind whose tasks can be resumed (and maybe rolled back) after a crash or failure. */
  define<P>(kind: string, handler: DurableKind<P>): void {
    this.#kinds.set(kind, handler as DurableKind<never>);
  }

  /** Starts a task of a durable kind: its run is the kind's, fed with `params`. */
  startDurable<P extends Record<string, unknown>>(
    def: Omit<TaskDefinition<unknown>, 'run' | 'params'> & { params: P },
  ): TaskRow {
    const handler = this.#kinds.get(def.kind) as DurableKind<P> | undefined;
    if (!handler) throw new Error(`task kind ${def.kind} is not defined`);
    return this.start({ ...def, run: (ctx) => handler.run(ctx, def.params) });
  }

  /** Marks tasks a previous process left active as interrupted. Returns their ids. */
  recoverAtBoot(): number[] {
    const stale = this.db.select().from(tasks).where(inArray(tasks.state, ACTIVE_STATES)).all();
    const now = new Date(this.clock.now());
    for (const t of stale) {
      this.db.transaction((tx) => {
        tx.update(tasks)
          .set({
            state: 'interrupted',
            finishedAt: now,
            question: null,
            error: 'Tandem stopped while this task was running',
          })
          .where(eq(tasks.id, t.id))
          .run();
        tx.update(taskSteps)
          .set({ state: 'failed', finishedAt: now, detail: 'interrupted' })
          .where(and(eq(taskSteps.taskId, t.id), eq(taskSteps.state, 'running')))
          .run();
        tx.insert(taskLogs)
          .values({
            taskId: t.id,
            at: now,
            level: 'warn',
            message: `interrupted; last completed step: ${t.lastCompletedStep ?? 'none'}`,
          })
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
    const exact = this.#locks.get(resource);
    if (exact !== undefined) return this.get(exact);
    for (const [held, id] of this.#locks) if (locksConflict(held, resource)) return this.get(id);
    return undefined;
  }

  #holderOf(resource: string): { task: TaskRow; lock: string } | undefined {
    for (const [held, id] of this.#locks) {
      if (!locksConflict(held, resource)) continue;
      const task = this.get(id);
      if (task) return { task, lock: held };
    }
    return undefined;
  }

  #checkLocks(locks: string[]): void {
    for (const r of locks) {
      const h = this.#holderOf(r);
      if (h) {
        const holder = h.task;
        throw new AppError(
          'CONFLICT',
          `${r} is busy: task #${holder.id} "${holder.name}" (${holder.state}, started by ${holder.createdBy}) holds ${h.lock === r ? 'it' : h.lock} and must finish or be cancelled first`,
          { details: { taskId: holder.id, resource: r, heldLock: h.lock } },
        );
      }
    }
  }

  /**
   * The process is stopping: no task starts, resumes or rolls back here any more (its locks die
   * with it, and the next process may already be waiting), and the streams end. Tasks still running
   * are left to the stop; the next start marks them interrupted and offers to resume them.
   */
  drain(): void {
    this.#stopping.abort();
  }

  get draining(): boolean {
    return this.#stopping.signal.aborted;
  }

  #refuseWhileStopping(what: string): void {
    if (this.draining)
      throw new AppError(
        'UNAVAILABLE',
        `Tandem is stopping: ${what} was not started. Try again once the console is back.`,
      );
  }

  start<T>(def: TaskDefinition<T>): TaskRow {
    this.#refuseWhileStopping(`"${def.name}"`);
    const locks = [...new Set([def.target, ...(def.locks ?? [])])];
    this.#checkLocks(locks);
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
          locks,
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
      // The call that starts the task is recorded with it: no task starts unrecorded.
      this.history.linkTask(t.id);
      return t;
    });
    for (const r of locks) this.#locks.set(r, row.id);
    this.#rows.set(row.id, { ...row });
    const controller = new AbortController();
    const live: Live = { controller, locks, done: Promise.resolve() };
    this.#live.set(row.id, live);
    live.done = this.history.outside(() => this.#execute(row.id, def, live));
    this.#emit(row.id, 'state');
    return row;
  }

  async #execute<T>(
    id: number,
    def: TaskDefinition<T> & { rolledBack?: boolean },
    live: Live,
  ): Promise<void> {
    await Promise.resolve();
    const startedAt = this.clock.now();
    this.#set(id, { state: 'running', startedAt: new Date(startedAt) });
    this.#emit(id, 'state');
    const ctx = this.#context(id, live, def.kind);
    let state: TaskState = 'finished';
    let result: unknown = null;
    let error: string | null = null;
    try {
      result = (await def.run(ctx)) ?? null;
      if (live.controller.signal.aborted) state = 'cancelled';
      else if (def.rolledBack) state = 'rolled-back';
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
    this.#set(id, {
      state,
      result: result as never,
      error,
      finishedAt: new Date(finishedAt),
      question: null,
    });
    if (state === 'finished' || state === 'rolled-back') {
      // Estimates (bytes to send, say) may have been off; a finished task is complete.
      const total = Math.max(this.#rows.get(id)?.progressTotal ?? 0, 1);
      this.#set(id, { progressComplete: total, progressTotal: total });
    }
    if (state !== 'finished' && state !== 'rolled-back') {
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
    const ok = state === 'finished' || state === 'rolled-back';
    this.#log(id, ok ? 'info' : 'error', ok ? state : `${state}: ${error}`);
    const steps = this.steps(id).map((s) => ({
      name: s.name,
      state: s.state,
      ms: s.startedAt && s.finishedAt ? s.finishedAt.getTime() - s.startedAt.getTime() : null,
    }));
    this.history.record({
      username: def.username,
      action: def.kind,
      target: def.target,
      params: { ...(def.params ?? {}), steps, ...(def.rolledBack ? { rolledBack: true } : {}) },
      outcome: ok ? 'success' : state === 'cancelled' ? 'cancelled' : 'failure',
      error,
      durationMs: finishedAt - startedAt,
      taskId: id,
    });
    for (const r of live.locks) if (this.#locks.get(r) === id) this.#locks.delete(r);
    this.#live.delete(id);
    this.#emit(id, 'state');
    this.#rows.delete(id);
  }

  #context(id: number, live: Live, kind: string): TaskContext {
    const signal = live.controller.signal;
    /** Done steps of an earlier attempt that this attempt has already passed. */
    const passed = new Set<number>();
    const throwIfCancelled = () => {
      if (signal.aborted) throw new AppError('CANCELLED', 'cancelled by the operator');
    };
    return {
      taskId: id,
      signal,
      throwIfCancelled,
      step: async <R>(name: string, fn: () => Promise<R> | R): Promise<R> => {
        throwIfCancelled();
        // A resumed task skips what an earlier attempt finished, with that attempt's result.
        const done = this.db
          .select()
          .from(taskSteps)
          .where(and(eq(taskSteps.taskId, id), eq(taskSteps.name, name), eq(taskSteps.state, 'done')))
          .orderBy(asc(taskSteps.idx))
          .all()
          .find((x) => !passed.has(x.id));
        if (done) {
          passed.add(done.id);
          return (done.result ?? undefined) as R;
        }
        let step = this.db
          .select()
          .from(taskSteps)
          .where(and(eq(taskSteps.taskId, id), eq(taskSteps.name, name), eq(taskSteps.state, 'pending')))
          .orderBy(asc(taskSteps.idx))
          .get();
        if (!step) {
          const max =
            this.db
              .select({ m: sql<number>`coalesce(max(${taskSteps.idx}), -1)` })
              .from(taskSteps)
              .where(eq(taskSteps.taskId, id))
              .get()?.m ?? -1;
          step = this.db
            .insert(taskSteps)
            .values({ taskId: id, idx: max + 1, name, state: 'pending' })
            .returning()
            .get();
        }
        const stepId = step.id;
        this.db
          .update(taskSteps)
          .set({ state: 'running', startedAt: new Date(this.clock.now()) })
          .where(eq(taskSteps.id, stepId))
          .run();
        this.#log(id, 'info', `step: ${name}`);
        this.#emit(id, 'step');
        try {
          await this.#fault(id, kind, name, signal, false);
          const r = await fn();
          await this.#fault(id, kind, name, signal, true);
          throwIfCancelled();
          passed.add(stepId);
          this.db
            .update(taskSteps)
            .set({
              state: 'done',
              finishedAt: new Date(this.clock.now()),
              result: (r === undefined ? null : JSON.parse(JSON.stringify(r))) as never,
            })
            .where(eq(taskSteps.id, stepId))
            .run();
          this.#set(id, { lastCompletedStep: name });
          this.#emit(id, 'step');
          return r;
        } catch (e) {
          const cancelled = signal.aborted || AppError.is(e, 'CANCELLED');
          this.db
            .update(taskSteps)
            .set({
              state: cancelled ? 'cancelled' : 'failed',
              finishedAt: new Date(this.clock.now()),
              detail: errorMessage(e).slice(0, 2000),
            })
            .where(eq(taskSteps.id, stepId))
            .run();
          throw e;
        }
      },
      progress: (complete, total) => {
        const set: Partial<TaskRow> = { progressComplete: Math.max(0, Math.round(complete)) };
        if (total !== undefined) set.progressTotal = Math.max(0, Math.round(total));
        this.#set(id, set);
        this.#emit(id, 'progress');
      },
      log: (message, level = 'info') => {
        this.#log(id, level, message);
        this.#emit(id, 'log');
      },
      skip: (name, reason) => {
        const step = this.db
          .select()
          .from(taskSteps)
          .where(and(eq(taskSteps.taskId, id), eq(taskSteps.name, name), eq(taskSteps.state, 'pending')))
          .orderBy(asc(taskSteps.idx))
          .get();
        if (step)
          this.db
            .update(taskSteps)
            .set({ state: 'skipped', detail: reason.slice(0, 2000) })
            .where(eq(taskSteps.id, step.id))
            .run();
        this.#log(id, 'warn', `skipped: ${name}: ${reason}`);
        this.#emit(id, 'step');
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
            timeoutMs: q.timeoutMs,
          };
          const settle = (value: string, how: string) => {
            if (!live.question) return;
            clearTimeout(live.question.timer);
            live.question = undefined;
            signal.removeEventListener('abort', onAbort);
            this.#set(id, { state: 'running', question: null });
            this.#log(id, 'info', `answer: ${value} (${how})`);
            this.#emit(id, 'state');
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
          this.#set(id, { state: 'question', question });
          this.#log(id, 'info', `question: ${q.message}`);
          this.#emit(id, 'state');
        }),
    };
  }

  async #fault(id: number, kind: string, step: string, signal: AbortSignal, after: boolean): Promise<void> {
    const f = this.#faults.find((x) => x.kind === kind && x.step === step && x.after === after);
    if (!f) return;
    const what = `TANDEM_FAULT: ${f.action}${after ? ' after' : ' at'} ${kind}:${step}`;
    console.warn(`[tandem] ${what}`);
    this.#log(id, 'warn', what);
    if (f.action === 'crash') process.kill(process.pid, 'SIGKILL');
    if (f.action === 'error') throw new AppError('INTERNAL', `injected fault at ${kind}:${step}`);
    await new Promise<never>((_, reject) =>
      signal.addEventListener('abort', () => reject(new AppError('CANCELLED', 'cancelled by the operator')), {
        once: true,
      }),
    );
  }

  /** What can be done with an ended task of a durable kind: resume it, roll it back, neither. */
  recovery(id: number): RecoveryOffer | null {
    const t = this.get(id);
    if (!t) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
    const handler = this.#kinds.get(t.kind) as DurableKind<Record<string, unknown>> | undefined;
    if (!handler) return null;
    const steps = this.steps(id);
    const params = t.params ?? {};
    const ended = t.state === 'interrupted' || t.state === 'failed' || t.state === 'cancelled';
    const notEnded = ended
      ? null
      : t.state === 'finished' || t.state === 'rolled-back'
        ? `the task is ${t.state}`
        : 'the task is still running';
    const busy = ended ? this.#busyReason(t) : null;
    const resumeWhy = notEnded ?? busy ?? handler.resumeBlocked?.(t, steps, params) ?? null;
    const done = steps.filter((x) => x.state === 'done').map((x) => x.name);
    const rollbackWhy = !handler.rollback
      ? 'this kind of task cannot be rolled back'
      : (notEnded ?? busy ?? handler.rollback.blocked(t, steps, params));
    return {
      resume: { ok: resumeWhy === null, reason: resumeWhy },
      rollback: {
        ok: rollbackWhy === null,
        reason: rollbackWhy,
        steps: handler.rollback && !rollbackWhy ? handler.rollback.steps(params, done) : [],
      },
      confirmText: handler.confirmText(params),
    };
  }

  /**
   * A later task of one of `kinds` whose locks meet this task's and that finished (or was rolled
   * back): the operation this task was part of has been done (or undone) since.
   */
  supersededBy(t: TaskRow, kinds: string[]): TaskRow | undefined {
    const mine = t.locks ?? [t.target];
    return this.db
      .select()
      .from(tasks)
      .where(
        and(
          sql`${tasks.id} > ${t.id}`,
          inArray(tasks.kind, kinds),
          inArray(tasks.state, ['finished', 'rolled-back']),
        ),
      )
      .orderBy(asc(tasks.id))
      .all()
      .find((n) => (n.locks ?? [n.target]).some((l) => mine.some((m) => locksConflict(l, m))));
  }

  /** Ended tasks of durable `kinds` (among the newest 500 tasks) that can still be resumed: work an operator must finish or undo. */
  unfinished(kinds: string[]): TaskRow[] {
    return this.db
      .select()
      .from(tasks)
      .where(and(inArray(tasks.kind, kinds), inArray(tasks.state, ['interrupted', 'failed', 'cancelled'])))
      .orderBy(desc(tasks.id))
      .limit(500)
      .all()
      .filter((t) => this.recovery(t.id)?.resume.ok);
  }

  #busyReason(t: TaskRow): string | null {
    for (const r of t.locks ?? [t.target]) {
      const h = this.#holderOf(r);
      if (h) return `task #${h.task.id} "${h.task.name}" holds ${h.lock}`;
    }
    return null;
  }

  /** Runs an interrupted, failed or cancelled durable task again from its first unfinished step. */
  resume(id: number, confirm: string, username: string): TaskRow {
    return this.#again(id, confirm, username, 'resume');
  }

  /** Undoes what an interrupted or failed durable task did, where its kind says that is safe. */
  rollback(id: number, confirm: string, username: string): TaskRow {
    return this.#again(id, confirm, username, 'rollback');
  }

  #again(id: number, confirm: string, username: string, how: 'resume' | 'rollback'): TaskRow {
    this.#refuseWhileStopping(`the ${how} of task #${id}`);
    const offer = this.recovery(id);
    const t = this.get(id)!;
    if (!offer)
      throw new AppError('PRECONDITION_FAILED', `task #${id} (${t.kind}) cannot be resumed or rolled back`);
    const o = how === 'resume' ? offer.resume : offer.rollback;
    if (!o.ok)
      throw new AppError(
        'PRECONDITION_FAILED',
        `task #${id} cannot be ${how === 'resume' ? 'resumed' : 'rolled back'}: ${o.reason}`,
      );
    if (confirm !== offer.confirmText)
      throw AppError.invalid('confirm', `type ${offer.confirmText} to confirm`);
    const handler = this.#kinds.get(t.kind) as DurableKind<Record<string, unknown>>;
    const params = t.params ?? {};
    const locks = t.locks ?? [t.target];
    this.#checkLocks(locks);
    const done = this.steps(id)
      .filter((x) => x.state === 'done')
      .map((x) => x.name);
    this.db.transaction((tx) => {
      tx.update(tasks)
        .set({
          state: 'waiting',
          attempts: t.attempts + 1,
          error: null,
          finishedAt: null,
          cancelRequested: false,
          question: null,
        })
        .where(eq(tasks.id, id))
        .run();
      tx.update(taskSteps)
        .set({ state: 'pending', startedAt: null, finishedAt: null })
        .where(
          and(
            eq(taskSteps.taskId, id),
            inArray(taskSteps.state, ['failed', 'cancelled', 'skipped', 'running']),
          ),
        )
        .run();
      if (how === 'rollback') {
        tx.update(taskSteps)
          .set({ state: 'skipped' })
          .where(and(eq(taskSteps.taskId, id), eq(taskSteps.state, 'pending')))
          .run();
        const max =
          tx
            .select({ m: sql<number>`coalesce(max(${taskSteps.idx}), -1)` })
            .from(taskSteps)
            .where(eq(taskSteps.taskId, id))
            .get()?.m ?? -1;
        offer.rollback.steps.forEach((name, i) =>
          tx
            .insert(taskSteps)
            .values({ taskId: id, idx: max + 1 + i, name, state: 'pending' })
            .run(),
        );
      }
      this.history.record({
        username,
        action: `${t.kind}.${how}`,
        target: t.target,
        params: { taskId: id, doneSteps: done },
        outcome: 'started',
        taskId: id,
      });
      this.history.linkTask(id);
    });
    this.#log(
      id,
      'warn',
      `${how === 'resume' ? 'resumed' : 'roll back started'} by ${username} (attempt ${t.attempts + 1})`,
    );
    for (const r of locks) this.#locks.set(r, id);
    this.#rows.set(id, this.get(id)!);
    const controller = new AbortController();
    const live: Live = { controller, locks, done: Promise.resolve() };
    this.#live.set(id, live);
    const run =
      how === 'resume'
        ? (ctx: TaskContext) => handler.run(ctx, params)
        : (ctx: TaskContext) => handler.rollback!.run(ctx, params, done);
    live.done = this.history.outside(() =>
      this.#execute(
        id,
        {
          name: t.name,
          kind: t.kind,
          target: t.target,
          params,
          username,
          run,
          rolledBack: how === 'rollback',
        },
        live,
      ),
    );
    this.#emit(id, 'state');
    return this.get(id)!;
  }

  answer(id: number, questionId: string, value: string, username: string): void {
    const live = this.#live.get(id);
    if (!live?.question || live.question.q.id !== questionId) {
      throw new AppError(
        'CONFLICT',
        `task #${id} is not waiting for that answer (it may have timed out or been answered)`,
      );
    }
    if (!live.question.q.options.some((o) => o.value === value)) {
      throw AppError.invalid(
        'value',
        `must be one of ${live.question.q.options.map((o) => o.value).join(', ')}`,
      );
    }
    this.#log(id, 'info', `${username} answered`);
    live.question.resolve(value);
  }

  cancel(id: number, username: string): void {
    const t = this.get(id);
    if (!t) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
    const live = this.#live.get(id);
    if (!live || !ACTIVE_STATES.includes(t.state)) {
      throw new AppError(
        'CONFLICT',
        `task #${id} is ${t.state}; only waiting or running tasks can be cancelled`,
      );
    }
    this.#set(id, { cancelRequested: true });
    this.#log(id, 'warn', `cancel requested by ${username}`);
    live.controller.abort();
    this.#emit(id, 'log');
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

  /**
   * A task as its page shows it: the row, its steps and its last `logLimit` log lines (a long
   * task's tail is what matters while it runs), with how many lines come before them
   * (`logsBefore` pages back through those).
   */
  detail(id: number, logLimit = TASK_LOG_PAGE) {
    const task = this.get(id);
    if (!task) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
    const logs = this.lastLogs(id, logLimit);
    return {
      // The question is stored as the engine asked it (ask()).
      task: { ...task, question: task.question as TaskQuestion | null },
      steps: this.steps(id),
      logs,
      earlierLogs: logs.length ? this.#countLogsBefore(id, logs[0]!.id) : 0,
    };
  }

  /** The `limit` log lines of a task just before line `beforeId`, oldest first, and how many lines come before them. */
  logsBefore(id: number, beforeId: number, limit = TASK_LOG_PAGE) {
    if (!this.get(id)) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
    const logs = this.db
      .select()
      .from(taskLogs)
      .where(and(eq(taskLogs.taskId, id), lt(taskLogs.id, beforeId)))
      .orderBy(desc(taskLogs.id))
      .limit(limit)
      .all()
      .reverse();
    return { logs, earlierLogs: logs.length ? this.#countLogsBefore(id, logs[0]!.id) : 0 };
  }

  #countLogsBefore(id: number, beforeId: number): number {
    return this.db
      .select({ n: sql<number>`count(*)` })
      .from(taskLogs)
      .where(and(eq(taskLogs.taskId, id), lt(taskLogs.id, beforeId)))
      .get()!.n;
  }

  /** A task's last `limit` log lines, oldest first. */
  lastLogs(id: number, limit: number) {
    return this.db
      .select()
      .from(taskLogs)
      .where(eq(taskLogs.taskId, id))
      .orderBy(desc(taskLogs.id))
      .limit(limit)
      .all()
      .reverse();
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

  /** Cancels everything and waits (shutdown, tests). */
  async shutdown(): Promise<void> {
    const all = [...this.#live.values()];
    for (const l of all) l.controller.abort();
    await Promise.allSettled(all.map((l) => l.done));
  }

  #log(id: number, level: 'info' | 'warn' | 'error', message: string) {
    this.db
      .insert(taskLogs)
      .values({ taskId: id, at: new Date(this.clock.now()), level, message: message.slice(0, 4000) })
      .run();
  }

  /** Writes a live task's columns and keeps its row in memory in step (JSON values as stored). */
  #set(id: number, patch: Partial<TaskRow>) {
    this.db.update(tasks).set(patch).where(eq(tasks.id, id)).run();
    const row = this.#rows.get(id);
    if (!row) return;
    const stored = { ...patch };
    for (const k of ['result', 'question', 'params', 'locks'] as const)
      if (k in stored) stored[k] = stored[k] == null ? null : JSON.parse(JSON.stringify(stored[k]));
    Object.assign(row, stored);
  }

  /**
   * Tells every listener of `change` what just happened, with the task's row as it is now (the
   * write that caused the event has just been made): a copy of the row the engine keeps for a
   * live task (no database read), or read once for any number of listeners; none at all without
   * listeners. Each event carries the state it happened in.
   */
  #emit(taskId: number, change: TaskChange) {
    if (change === 'state' && this.#stateHooks.length) {
      const row = this.#rows.get(taskId) ?? this.get(taskId);
      if (row) for (const hook of this.#stateHooks) hook(Object.freeze({ ...row }));
    }
    if (this.events.listenerCount('change') === 0) return;
    const kept = this.#rows.get(taskId);
    const task = kept ? { ...kept } : this.get(taskId);
    if (!task) return;
    this.events.emit('change', {
      taskId,
      state: task.state,
      change,
      task: Object.freeze(task),
    } satisfies TaskEvent);
  }
}
