import { z } from 'zod';
import { AsyncLocalStorage } from 'node:async_hooks';
import { and, desc, eq, gte, isNull, like, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { history, type HistoryRow } from '../db/schema';
import type { Clock } from '../core/clock';
import { AppError, errorMessage } from '../core/errors';
import { redact } from './redact';

export type Outcome = HistoryRow['outcome'];

export interface HistoryEntry {
  username: string;
  action: string;
  target: string;
  params?: Record<string, unknown>;
  outcome: Outcome;
  error?: string | null;
  durationMs?: number | null;
  taskId?: number | null;
  at?: number;
  /** How the call came in when not through the console (`api token "<name>"`). */
  via?: string | null;
}

/**
 * A call being recorded. Its row is written (outcome `started`) before the call runs, so that
 * nothing is changed that history does not show; the change completes the row in its own
 * transaction (`change`, or a task start), and the call's end completes it otherwise.
 */
export interface RecordedCall {
  readonly id: number;
  /** The call has ended: later work (a task it started, say) is not part of it. */
  closed: boolean;
}

const MAX_STRING = 2000;
const MAX_ITEMS = 100;
const MAX_DEPTH = 8;

/**
 * A JSON-safe, bounded copy of a value for history: BigInts and non-finite numbers become
 * strings, long strings and lists are cut (saying how much was left out), deep nesting is cut.
 */
export function historyValue(v: unknown, depth = 0): unknown {
  switch (typeof v) {
    case 'string':
      return v.length > MAX_STRING ? `${v.slice(0, MAX_STRING)}… (${v.length} characters)` : v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return String(v);
    case 'boolean':
      return v;
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
  }
  if (v === null) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (depth >= MAX_DEPTH) return '[…]';
  const list = (items: unknown[]) => {
    const out = items.slice(0, MAX_ITEMS).map((x) => historyValue(x, depth + 1) ?? null);
    if (items.length > MAX_ITEMS) out.push(`… ${items.length - MAX_ITEMS} more`);
    return out;
  };
  if (Array.isArray(v)) return list(v);
  if (v instanceof Set) return list([...v]);
  const entries =
    v instanceof Map
      ? [...v.entries()].map(([k, x]) => [String(k), x] as const)
      : Object.entries(v as object);
  const kept = entries
    .slice(0, MAX_ITEMS)
    .map(([k, x]) => [k.length > 200 ? `${k.slice(0, 200)}…` : k, historyValue(x, depth + 1)] as const)
    .filter(([, x]) => x !== undefined);
  if (entries.length > MAX_ITEMS) kept.push(['…', `${entries.length - MAX_ITEMS} more keys`]);
  // fromEntries, not assignment: a key named __proto__ stays a key.
  return Object.fromEntries(kept);
}

export interface HistoryFilter {
  target?: string;
  action?: string;
  username?: string;
  outcome?: Outcome;
  from?: number;
  to?: number;
}

export class HistoryLog {
  readonly #calls = new AsyncLocalStorage<RecordedCall>();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  record(e: HistoryEntry): number {
    const row = this.db
      .insert(history)
      .values({
        at: new Date(e.at ?? this.clock.now()),
        username: e.username,
        action: e.action,
        target: e.target.length > 300 ? `${e.target.slice(0, 300)}…` : e.target,
        params: e.params ? (historyValue(redact(e.params)) as Record<string, unknown>) : null,
        outcome: e.outcome,
        error: e.error ? e.error.slice(0, 4000) : null,
        durationMs: e.durationMs ?? null,
        taskId: e.taskId ?? null,
        via: e.via ?? null,
      })
      .returning({ id: history.id })
      .get();
    return row.id;
  }

  /** Writes the row of a call about to run (outcome `started`); throws, before anything is changed, if it cannot. */
  begin(e: Omit<HistoryEntry, 'outcome' | 'taskId'>): RecordedCall {
    try {
      return { id: this.record({ ...e, outcome: 'started' }), closed: false };
    } catch (err) {
      throw new AppError(
        'INTERNAL',
        `${e.action} could not be recorded in history, so nothing was changed: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /** Runs `fn` as the recorded call `call`: changes and task starts within it complete its row. */
  within<T>(call: RecordedCall, fn: () => T): T {
    return this.#calls.run(call, fn);
  }

  /** Runs `fn` outside any recorded call (a task's run outlives the call that started it). */
  outside<T>(fn: () => T): T {
    return this.#calls.exit(fn);
  }

  #current(): RecordedCall | undefined {
    const c = this.#calls.getStore();
    return c && !c.closed ? c : undefined;
  }

  /**
   * Makes a database change and completes the current call's row in one transaction: if the row
   * cannot be written, the change is rolled back. Outside a recorded call it is just a transaction.
   */
  change<T>(fn: () => T): T {
    return this.db.transaction(() => {
      const result = fn();
      if (result instanceof Promise) throw new Error('history.change takes a synchronous change');
      const call = this.#current();
      if (call) this.#complete(call.id, { outcome: 'success' }, 'the change');
      return result;
    });
  }

  /** Links the current call's row to the task it starts; called inside the task-start transaction. */
  linkTask(taskId: number): void {
    const call = this.#current();
    if (!call) return;
    this.#complete(call.id, { outcome: 'success', taskId }, `task #${taskId}`, true);
  }

  #complete(
    id: number,
    set: { outcome: HistoryRow['outcome']; taskId?: number },
    what: string,
    onlyUnlinked = false,
  ): void {
    try {
      this.db
        .update(history)
        .set(set)
        .where(onlyUnlinked ? and(eq(history.id, id), isNull(history.taskId)) : eq(history.id, id))
        .run();
    } catch (err) {
      throw new AppError(
        'INTERNAL',
        `${what} could not be recorded in history, so it was not made: ${errorMessage(err)}`,
        { cause: err },
      );
    }
  }

  /** Completes a call's row when the call has ended. */
  finish(
    call: RecordedCall,
    end: { outcome: HistoryRow['outcome']; error?: string | null; durationMs: number; username?: string },
  ): void {
    call.closed = true;
    this.db
      .update(history)
      .set({
        outcome: end.outcome,
        error: end.error ? end.error.slice(0, 4000) : null,
        durationMs: end.durationMs,
        ...(end.username ? { username: end.username } : {}),
      })
      .where(eq(history.id, call.id))
      .run();
  }

  #where(f: HistoryFilter): SQL | undefined {
    const conds: SQL[] = [];
    if (f.target) conds.push(like(history.target, `%${f.target}%`));
    if (f.action) conds.push(eq(history.action, f.action));
    if (f.username) conds.push(eq(history.username, f.username));
    if (f.outcome) conds.push(eq(history.outcome, f.outcome));
    if (f.from !== undefined) conds.push(gte(history.at, new Date(f.from)));
    if (f.to !== undefined) conds.push(lte(history.at, new Date(f.to)));
    return conds.length ? and(...conds) : undefined;
  }

  list(f: HistoryFilter, page: { limit: number; offset: number }): { rows: HistoryRow[]; total: number } {
    const where = this.#where(f);
    const rows = this.db
      .select()
      .from(history)
      .where(where)
      .orderBy(desc(history.at), desc(history.id))
      .limit(page.limit)
      .offset(page.offset)
      .all();
    const total =
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(history)
        .where(where)
        .get()?.n ?? 0;
    return { rows, total };
  }

  /** Page `page` (from 1) of the rows that match, newest first. */
  page(f: HistoryFilter, page: number, pageSize: number) {
    const { rows, total } = this.list(f, { limit: pageSize, offset: (page - 1) * pageSize });
    return { rows, total, page, pageSize };
  }

  actions(): string[] {
    return this.db
      .selectDistinct({ a: history.action })
      .from(history)
      .orderBy(history.action)
      .all()
      .map((r) => r.a);
  }

  *csv(f: HistoryFilter, batch = 500): Generator<string> {
    yield 'id,time,user,action,target,outcome,duration_ms,task_id,error,params,via\n';
    for (let offset = 0; ; offset += batch) {
      const { rows } = this.list(f, { limit: batch, offset });
      for (const r of rows) {
        yield (
          [
            r.id,
            r.at.toISOString(),
            r.username,
            r.action,
            r.target,
            r.outcome,
            r.durationMs ?? '',
            r.taskId ?? '',
            r.error ?? '',
            r.params ? JSON.stringify(r.params) : '',
            r.via ?? '',
          ]
            .map(csvCell)
            .join(',') + '\n'
        );
      }
      if (rows.length < batch) return;
    }
  }
}

export function csvCell(v: unknown): string {
  let s = String(v);
  // Neutralise spreadsheet formulas.
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The History page's filters (also the CSV export's and the API's). */
export const historyFilterSchema = z
  .object({
    target: z.string().trim().max(200).optional(),
    action: z.string().trim().max(100).optional(),
    username: z.string().trim().max(64).optional(),
    outcome: z.enum(['success', 'failure', 'cancelled', 'started']).optional(),
    from: z.number().int().nonnegative().optional(),
    to: z.number().int().nonnegative().optional(),
  })
  .refine((f) => f.from === undefined || f.to === undefined || f.from <= f.to, {
    message: '"from" must be before "to"',
    path: ['from'],
  });
