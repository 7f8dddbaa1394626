import type { EventEmitter } from 'node:events';
import type { TaskRow } from '../db/schema';
import type { TaskEvent } from './engine';

/** A task's row as live streams carry it: without its params (set at the start, never shown by a stream's reader). */
export type TaskStreamRow = Omit<TaskRow, 'params'>;

/**
 * Per task, a run of changes in the same state kept as its last row only (a burst of progress
 * ticks is one row); every change of state is kept, in order.
 */
export function coalesce<R extends Pick<TaskRow, 'id' | 'state'>>(rows: readonly R[]): R[] {
  const out: (R | null)[] = [];
  const last = new Map<number, number>();
  for (const r of rows) {
    const i = last.get(r.id);
    if (i !== undefined && out[i]!.state === r.state) out[i] = null;
    last.set(r.id, out.length);
    out.push(r);
  }
  return out.filter((r): r is R => r !== null);
}

/**
 * The engine's changes for live streams, shared: the changes of one turn of the event loop make
 * one batch (the engine's rows, `coalesce`d), handed as the same frozen array to every stream
 * (so serialized once for all of them, see server/trpc/transformer.ts). The cost per stream is one
 * message per batch, not one per change.
 */
export class TaskFeed {
  readonly #subs = new Set<(batch: readonly TaskStreamRow[]) => void>();
  #pending: TaskStreamRow[] = [];
  #scheduled: NodeJS.Immediate | null = null;
  readonly #onChange = (e: TaskEvent) => {
    const { params: _params, ...row } = e.task;
    this.#pending.push(Object.freeze(row));
    this.#scheduled ??= setImmediate(() => this.#flush());
  };

  constructor(private readonly events: EventEmitter) {}

  /** Number of streams listening (tests, benchmarks). */
  get listeners(): number {
    return this.#subs.size;
  }

  /** Batches of changed rows until `signal` aborts; listening from the call. */
  watch(signal: AbortSignal): AsyncGenerator<readonly TaskStreamRow[]> {
    const queue: (readonly TaskStreamRow[])[] = [];
    let wake: (() => void) | null = null;
    const sub = (batch: readonly TaskStreamRow[]) => {
      queue.push(batch);
      wake?.();
    };
    const onAbort = () => wake?.();
    this.#subs.add(sub);
    if (this.#subs.size === 1) this.events.on('change', this.#onChange);
    signal.addEventListener('abort', onAbort);
    const stop = () => {
      signal.removeEventListener('abort', onAbort);
      if (this.#subs.delete(sub) && this.#subs.size === 0) this.events.off('change', this.#onChange);
    };
    return (async function* () {
      try {
        while (!signal.aborted) {
          if (!queue.length) {
            await new Promise<void>((r) => (wake = r));
            wake = null;
            continue;
          }
          // One by one, as shared: each batch is serialized once for every stream.
          yield queue.shift()!;
        }
      } finally {
        stop();
      }
    })();
  }

  #flush() {
    this.#scheduled = null;
    const batch = Object.freeze(coalesce(this.#pending));
    this.#pending = [];
    for (const s of this.#subs) s(batch);
  }
}
