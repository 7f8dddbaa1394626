import { AppError, errorMessage, type AppErrorCode } from '../../core/errors';

/**
 * Whether a Ceph cluster can be asked at all, and answers that are allowed to arrive late.
 *
 * A cluster whose monitors are gone answers every CLI call with UNREACHABLE only after the
 * adapter's connect timeout (5 s). Pages must not wait that long: the status procedure waits
 * at most a bound and shows the cluster's last answer meanwhile, and previews (failover plans)
 * do not ask again a cluster that was just found unreachable.
 */

/** Failures that say the cluster cannot be asked (as opposed to a question it refused). */
const UNREACHABLE_CODES: ReadonlySet<AppErrorCode> = new Set([
  'UNREACHABLE',
  'TIMEOUT',
  'AUTH_FAILED',
  'HOST_KEY_MISMATCH',
  'HOST_KEY_UNKNOWN',
]);

export function isUnreachable(e: unknown): boolean {
  return e instanceof AppError && UNREACHABLE_CODES.has(e.code);
}

/** A settled question: its value or its error, when it was asked and when it was answered. */
export type Settled<T> =
  | { ok: true; value: T; askedAt: number; at: number; seq: number }
  | { ok: false; error: unknown; askedAt: number; at: number; seq: number };

export type Asked<T> =
  /** The question asked by this call was answered within the wait. */
  | { kind: 'answered'; settled: Settled<T> }
  /** Not answered within the wait; `last` is the newest answer known (null: none yet). The question goes on (open for `openMs`). */
  | { kind: 'late'; last: Settled<T> | null; askedAt: number; openMs: number };

/**
 * The last answer of each cluster to one question (e.g. its mirroring status). A call with a
 * wait asks anew unless an open question has already outlasted a caller's wait (the cluster is
 * slow or gone: callers join that question instead of piling up new ones), and returns after at
 * most the wait. The answer is remembered whenever it comes. Once the cluster is `changed` (a task
 * on it started or ended), a question asked before is not joined any more and its answer, however
 * late, does not replace a newer one: a read after a change sees the change.
 */
export class LastAnswers<T> {
  #last = new Map<number, Settled<T>>();
  #open = new Map<
    number,
    { promise: Promise<Settled<T>>; askedAt: number; startedMs: number; late: boolean; seq: number }
  >();
  /** Orders questions and changes (the domain clock may stand still in tests). */
  #seq = 0;
  readonly #changed = new Map<number, number>();

  /** The cluster changed: what was asked before now no longer says how it is. */
  changed(key: number): void {
    this.#changed.set(key, ++this.#seq);
  }

  /** Whether an answer (or open question) was asked after the cluster's last change. */
  current(key: number, asked: { seq: number }): boolean {
    return asked.seq > (this.#changed.get(key) ?? 0);
  }

  /** `now` stamps the answers (the domain clock); waiting uses real time. */
  constructor(private readonly now: () => number) {}

  last(key: number): Settled<T> | null {
    return this.#last.get(key) ?? null;
  }

  async ask(key: number, fn: () => Promise<T>, waitMs?: number): Promise<Asked<T>> {
    const open = this.#open.get(key);
    const q = waitMs !== undefined && open?.late && this.current(key, open) ? open : this.#start(key, fn);
    if (waitMs === undefined) return { kind: 'answered', settled: await q.promise };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), waitMs);
    });
    const settled = await Promise.race([q.promise, late]);
    clearTimeout(timer);
    if (settled) return { kind: 'answered', settled };
    q.late = true;
    return {
      kind: 'late',
      last: this.last(key),
      askedAt: q.askedAt,
      openMs: performance.now() - q.startedMs,
    };
  }

  #start(key: number, fn: () => Promise<T>) {
    const askedAt = this.now();
    const startedMs = performance.now();
    const seq = ++this.#seq;
    const entry = { askedAt, startedMs, late: false, seq, promise: null as unknown as Promise<Settled<T>> };
    entry.promise = Promise.resolve()
      .then(fn)
      .then(
        (value): Settled<T> => ({ ok: true, value, askedAt, at: this.now(), seq }),
        (error: unknown): Settled<T> => ({ ok: false, error, askedAt, at: this.now(), seq }),
      )
      .then((s) => {
        const prev = this.#last.get(key);
        // An older question that ends after a newer one does not overwrite its answer.
        if (!prev || prev.seq <= s.seq) this.#last.set(key, s);
        if (this.#open.get(key) === entry) this.#open.delete(key);
        return s;
      });
    this.#open.set(key, entry);
    return entry;
  }
}

export interface Unreachable {
  error: string;
  /** When the cluster was last found unreachable (domain clock, epoch ms). */
  at: number;
}

/**
 * Clusters recently found unreachable. A preview that would otherwise wait the connect timeout
 * on such a cluster uses what was found, and asks again in the background (one question per
 * cluster at a time), so that the next preview knows when the cluster is back.
 */
export class Reachability {
  #down = new Map<number, Unreachable>();
  #rechecking = new Set<number>();

  constructor(
    private readonly now: () => number,
    /** How long a finding holds without a new one. */
    readonly holdMs = 60_000,
  ) {}

  /** Records how a question to the cluster ended: any answer, a refusal included, means it can be asked. */
  note(siteId: number, outcome: { ok: true } | { ok: false; error: unknown }): void {
    if (!outcome.ok && isUnreachable(outcome.error))
      this.#down.set(siteId, { error: errorMessage(outcome.error), at: this.now() });
    else this.#down.delete(siteId);
  }

  /** Runs `fn` and records whether the cluster answered. */
  async watch<T>(siteId: number, fn: () => Promise<T>): Promise<T> {
    try {
      const v = await fn();
      this.note(siteId, { ok: true });
      return v;
    } catch (e) {
      this.note(siteId, { ok: false, error: e });
      throw e;
    }
  }

  down(siteId: number): Unreachable | null {
    const d = this.#down.get(siteId);
    if (!d) return null;
    if (this.now() - d.at > this.holdMs && !this.#rechecking.has(siteId)) return null;
    return d;
  }

  /** Asks `probe` in the background unless a recheck of this cluster is still running. */
  recheck(siteId: number, probe: () => Promise<unknown>): void {
    if (this.#rechecking.has(siteId)) return;
    this.#rechecking.add(siteId);
    void this.watch(siteId, probe)
      .catch(() => {})
      .finally(() => this.#rechecking.delete(siteId));
  }
}
