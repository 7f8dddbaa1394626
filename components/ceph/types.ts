import type { inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@/server/trpc/root';

type Out = inferRouterOutputs<AppRouter>;

export type CephStatus = Out['ceph']['status'];
/** One (pool, namespace) of the status; `namespace: ''` is the pool's default namespace. */
export type PoolEntry = CephStatus['pools'][number];
/** One image row of a page of `ceph.images`. */
export type ImageEntry = Out['ceph']['images']['rows'][number];
export type Peer = PoolEntry['peers'][number];
/** A task as the live stream gives it (without its params). */
export type Task = Omit<Out['tasks']['get']['task'], 'params'>;

export interface Scope {
  pool: string;
  namespace: string;
}

/** `rbd` or `rbd/tenant1`, as Ceph writes a pool spec. */
export function scopeName(s: Scope): string {
  return s.namespace ? `${s.pool}/${s.namespace}` : s.pool;
}

/** Starts following a task: a toast now, another when it ends, and the handlers. */
export type TrackTask = (taskId: number, handlers?: TaskHandlers) => void;

export interface TaskHandlers {
  /**
   * As soon as the task's end is known, before the page's Ceph queries are refreshed (they go out
   * together and come back with the slowest): for what the task's own result shows at once.
   */
  onEnded?: (t: Task) => void;
  onFinished?: (t: Task) => void;
  onFailed?: (t: Task) => void;
  /** Text of the success toast; the task's name when omitted. */
  successText?: (t: Task) => string;
}
