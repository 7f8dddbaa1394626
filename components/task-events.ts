'use client';

import { useQueryClient, type QueryClient } from '@tanstack/react-query';
import { TRPCClientError, type TRPCClient } from '@trpc/client';
import { useEffect, useRef } from 'react';
import { patchTaskList, reapplyNewer, splitQueryKey, taskTouchesQuery, type TaskChange } from './task-scope';
import { useTRPCClient, type AppRouter, type RouterOutputs } from './trpc';

type Batch = RouterOutputs['tasks']['watch'] extends AsyncIterable<infer T> ? T : never;
export type TaskRowOut = Batch[number];
export type TaskListener = (task: TaskRowOut, change: TaskChange) => void;

const ACTIVE = new Set(['waiting', 'running', 'question']);

/** How long a burst of events is gathered before the queries it touched are refetched, and how often at most. */
export const FLUSH_DELAY_MS = 250;
export const FLUSH_EVERY_MS = 1_000;
/** The stream stays open this long after its last listener leaves (a page change re-subscribes). */
const LINGER_MS = 2_000;

/**
 * The tab's one stream of task changes (`tasks.watch`, all tasks), shared by every component that
 * listens: the Tasks panel, task pages, the Ceph and VM pages. Each change
 * - is applied to the cached task lists (no refetch),
 * - marks stale the cached queries whose resources the task locks (`taskTouchesQuery`), refetched
 *   together once per burst (at most once every FLUSH_EVERY_MS) and never twice in one request,
 * - is handed to the listeners.
 * When the stream (re)opens, the task queries are refetched (a change made while it was closed is
 * not lost).
 */
export class TaskEventBus {
  readonly #listeners = new Set<TaskListener>();
  #sub: { unsubscribe(): void } | null = null;
  #linger: ReturnType<typeof setTimeout> | null = null;
  #retry: ReturnType<typeof setTimeout> | null = null;
  /** Query hashes to refetch at the next flush. */
  readonly #stale = new Map<string, readonly unknown[]>();
  #flushTimer: ReturnType<typeof setTimeout> | null = null;
  #lastFlush = 0;

  /** The newest row the stream delivered per task (the last 500 tasks). */
  readonly #latest = new Map<number, TaskRowOut>();

  constructor(
    private readonly client: TRPCClient<AppRouter>,
    private readonly qc: QueryClient,
    private readonly onAuthError: (err: unknown) => void = () => undefined,
  ) {
    // A task list fetched before an event may arrive after it: put the newer rows back.
    qc.getQueryCache().subscribe((e) => {
      if (e.type !== 'updated' || e.action.type !== 'success' || e.action.manual) return;
      const k = splitQueryKey(e.query.queryKey);
      if (!k || k.path.join('.') !== 'tasks.list') return;
      const old = e.query.state.data as TaskRowOut[] | undefined;
      const next = reapplyNewer(
        old,
        this.#latest,
        k.input as { active?: boolean; limit?: number; before?: number } | undefined,
      );
      if (next !== old) qc.setQueryData(e.query.queryKey, next);
    });
  }

  subscribe(fn: TaskListener): () => void {
    this.#listeners.add(fn);
    if (this.#linger) clearTimeout(this.#linger);
    this.#linger = null;
    this.#open();
    return () => {
      this.#listeners.delete(fn);
      if (this.#listeners.size === 0 && !this.#linger)
        this.#linger = setTimeout(() => this.#close(), LINGER_MS);
    };
  }

  /** Refetches now what `task` touches (a page that waits for the data its own task changed). */
  refresh(task: TaskRowOut): Promise<void> {
    const keys = this.#touched(task, 'state');
    for (const k of keys)
      this.#stale.delete(this.qc.getQueryCache().find({ queryKey: k, exact: true })?.queryHash ?? '');
    return Promise.all(keys.map((queryKey) => this.qc.invalidateQueries({ queryKey, exact: true }))).then(
      () => undefined,
    );
  }

  #open() {
    if (this.#sub || this.#retry) return;
    this.#sub = this.client.tasks.watch.subscribe(undefined, {
      // Changes made before the stream listened are not lost: the task queries are asked again.
      onStarted: () =>
        void this.qc.invalidateQueries({ predicate: (q) => splitQueryKey(q.queryKey)?.path[0] === 'tasks' }),
      onData: (batch) => {
        for (const task of batch) this.#event(task);
      },
      onError: (err) => {
        this.#sub = null;
        if (err instanceof TRPCClientError && err.data?.code === 'UNAUTHORIZED') return this.onAuthError(err);
        // Another error (the stream's own retries are over): open it again a little later.
        this.#reopen(5_000);
      },
      onComplete: () => {
        this.#sub = null;
        this.#reopen(1_000);
      },
    });
  }

  #reopen(ms: number) {
    if (this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (this.#listeners.size) this.#open();
    }, ms);
  }

  #close() {
    this.#linger = null;
    if (this.#listeners.size) return;
    this.#sub?.unsubscribe();
    this.#sub = null;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
  }

  #event(task: TaskRowOut) {
    // The stream sends rows: a new state or a completed step is told from progress and log lines
    // by comparing with the task's last row.
    const change: TaskChange =
      this.#lastState.get(task.id) === task.state && !this.#stepMoved(task) ? 'progress' : 'state';
    this.#remember(task);
    this.#latest.delete(task.id);
    this.#latest.set(task.id, task);
    if (this.#latest.size > 500) this.#latest.delete(this.#latest.keys().next().value!);
    for (const q of this.qc.getQueryCache().findAll({ queryKey: [['tasks', 'list']] })) {
      const input = splitQueryKey(q.queryKey)?.input as
        { active?: boolean; limit?: number; before?: number } | undefined;
      const old = q.state.data as TaskRowOut[] | undefined;
      const next = patchTaskList(old, task, input);
      if (next !== old) this.qc.setQueryData(q.queryKey, next);
    }
    for (const k of this.#touched(task, change)) {
      const q = this.qc.getQueryCache().find({ queryKey: k, exact: true });
      if (q) this.#stale.set(q.queryHash, k);
    }
    if (this.#stale.size && !this.#flushTimer) {
      const wait = Math.max(FLUSH_DELAY_MS, this.#lastFlush + FLUSH_EVERY_MS - Date.now());
      this.#flushTimer = setTimeout(() => this.#flush(), wait);
    }
    for (const fn of [...this.#listeners]) fn(task, change);
  }

  readonly #lastState = new Map<number, string>();
  readonly #lastStep = new Map<number, string | null>();
  #stepMoved(task: TaskRowOut): boolean {
    return this.#lastStep.get(task.id) !== task.lastCompletedStep;
  }
  #remember(task: TaskRowOut) {
    if (ACTIVE.has(task.state)) {
      this.#lastState.set(task.id, task.state);
      this.#lastStep.set(task.id, task.lastCompletedStep);
    } else {
      this.#lastState.delete(task.id);
      this.#lastStep.delete(task.id);
    }
  }

  #touched(task: TaskRowOut, change: TaskChange): (readonly unknown[])[] {
    const out: (readonly unknown[])[] = [];
    for (const q of this.qc.getQueryCache().getAll()) {
      const k = splitQueryKey(q.queryKey);
      if (k && taskTouchesQuery(task, change, k.path, k.input)) out.push(q.queryKey);
    }
    return out;
  }

  #flush() {
    this.#flushTimer = null;
    this.#lastFlush = Date.now();
    const keys = [...this.#stale.values()];
    this.#stale.clear();
    for (const queryKey of keys) void this.qc.invalidateQueries({ queryKey, exact: true });
  }
}

const buses = new WeakMap<object, TaskEventBus>();

/** The tab's bus (one per tRPC client, i.e. per tab). */
export function taskEventBus(
  client: TRPCClient<AppRouter>,
  qc: QueryClient,
  onAuthError?: (err: unknown) => void,
): TaskEventBus {
  let bus = buses.get(client);
  if (!bus) buses.set(client, (bus = new TaskEventBus(client, qc, onAuthError)));
  return bus;
}

function toLogin(err: unknown) {
  if (typeof window === 'undefined' || window.location.pathname === '/login') return;
  const expired = err instanceof TRPCClientError && err.data?.appCode === 'SESSION_EXPIRED';
  window.location.assign(
    new URL(
      `/login?next=${encodeURIComponent(window.location.pathname)}${expired ? '&expired=1' : ''}`,
      window.location.origin,
    ).href,
  );
}

export function useTaskEventBus(): TaskEventBus {
  return taskEventBus(useTRPCClient(), useQueryClient(), toLogin);
}

/**
 * Listens to the tab's task changes (opening its one stream while anything listens). The queries
 * a change touches are refetched by the bus; `onTask` is for anything else (a toast, say).
 */
export function useTaskEvents(onTask?: TaskListener): TaskEventBus {
  const bus = useTaskEventBus();
  const latest = useRef(onTask);
  useEffect(() => {
    latest.current = onTask;
  });
  useEffect(() => bus.subscribe((t, c) => latest.current?.(t, c)), [bus]);
  return bus;
}
