import { and, desc, eq, gte, like, lte, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../db/client';
import { history, type HistoryRow } from '../db/schema';
import type { Clock } from './clock';
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
        target: e.target,
        params: e.params ? redact(e.params) : null,
        outcome: e.outcome,
        error: e.error ?? null,
        durationMs: e.durationMs ?? null,
        taskId: e.taskId ?? null,
      })
      .returning({ id: history.id })
      .get();
    return row.id;
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
    const rows = this.db.select().from(history).where(where).orderBy(desc(history.at), desc(history.id)).limit(page.limit).offset(page.offset).all();
    const total = this.db.select({ n: sql<number>`count(*)` }).from(history).where(where).get()?.n ?? 0;
    return { rows, total };
  }

  actions(): string[] {
    return this.db.selectDistinct({ a: history.action }).from(history).orderBy(history.action).all().map((r) => r.a);
  }

  *csv(f: HistoryFilter, batch = 500): Generator<string> {
    yield 'id,time,user,action,target,outcome,duration_ms,task_id,error,params\n';
    for (let offset = 0; ; offset += batch) {
      const { rows } = this.list(f, { limit: batch, offset });
      for (const r of rows) {
        yield [
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
        ]
          .map(csvCell)
          .join(',') + '\n';
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
