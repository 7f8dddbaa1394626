/**
 * Which cached queries a task's change touches, from the resources the task locks (its target and
 * further locks): an open page refetches what the task works on, never everything. Pure, so that
 * the rules are tested without a browser.
 *
 * Lock names (see server/domain/ceph/locks.ts and server/domain/replicas/service.ts):
 * `site/<id>[/pool/<pool>[/ns/<ns>][/image/<image>]]` (Ceph), `site/<id>/vm/<vm>[/replica/<rid>]`,
 * `replica:<id>`, `site:<name>` (a site check), `plan/<id>` (a recovery plan's run).
 */

/**
 * What a row of the task stream changed, as the client tells it from the task's previous row (see
 * TaskEventBus): `state` when its state or its last completed step moved, `progress` for a progress
 * tick or a log line only.
 */
export type TaskChange = 'state' | 'progress';

export interface TaskLike {
  id: number;
  kind: string;
  target: string;
  locks: string[] | null;
}

export type Resource =
  | { type: 'ceph'; siteId: number; pool?: string; namespace?: string; image?: string }
  | { type: 'vm'; siteId: number; vm: string; replicaId?: number }
  | { type: 'replica'; replicaId: number }
  | { type: 'other'; name: string };

/** What one lock name stands for. */
export function parseLock(lock: string): Resource {
  const replica = /^replica:(\d+)$/.exec(lock);
  if (replica) return { type: 'replica', replicaId: Number(replica[1]) };
  const seg = lock.split('/');
  if (seg[0] !== 'site' || !/^\d+$/.test(seg[1] ?? '')) return { type: 'other', name: lock };
  const siteId = Number(seg[1]);
  if (seg.length === 2) return { type: 'ceph', siteId };
  if (seg[2] === 'vm' && seg[3]) {
    const rid = seg[4] === 'replica' && /^\d+$/.test(seg[5] ?? '') ? Number(seg[5]) : undefined;
    return rid === undefined
      ? { type: 'vm', siteId, vm: seg[3] }
      : { type: 'vm', siteId, vm: seg[3], replicaId: rid };
  }
  if (seg[2] === 'pool' && seg[3]) {
    const r: Resource = { type: 'ceph', siteId, pool: seg[3] };
    let i = 4;
    if (seg[i] === 'ns' && seg[i + 1]) {
      r.namespace = seg[i + 1];
      i += 2;
    }
    if (seg[i] === 'image' && seg[i + 1]) r.image = seg[i + 1];
    return r;
  }
  return { type: 'other', name: lock };
}

/** Every resource a task holds. */
export function taskResources(t: Pick<TaskLike, 'target' | 'locks'>): Resource[] {
  return [...new Set([t.target, ...(t.locks ?? [])])].map(parseLock);
}

/**
 * Whether a Ceph resource meets a query's scope: same cluster and, when the query names a pool
 * (namespace, image), the same pool (a lock without a namespace is the pool's default namespace;
 * a pool lock holds all its namespaces).
 */
function cephMeets(
  r: Extract<Resource, { type: 'ceph' }>,
  siteId: unknown,
  input: Record<string, unknown>,
): boolean {
  if (r.siteId !== siteId) return false;
  if (!r.pool || typeof input.pool !== 'string') return true;
  if (r.pool !== input.pool) return false;
  const ns = typeof input.namespace === 'string' ? input.namespace : undefined;
  // A lock on the pool itself (no ns, no image) holds every namespace.
  if (ns !== undefined && (r.namespace !== undefined || r.image !== undefined) && (r.namespace ?? '') !== ns)
    return false;
  if (r.image && typeof input.image === 'string' && r.image !== input.image) return false;
  return true;
}

const ENDED = new Set(['finished', 'failed', 'cancelled', 'interrupted', 'rolled-back']);

/**
 * Whether a change of `task` makes the query `path(input)` stale. Task pages (`tasks.get`,
 * `tasks.recovery`) follow every change of their own task; the data of machines (Ceph status,
 * replicas) follows its tasks' state and step changes only (not each progress tick or log line),
 * and only when the task's locks name what the query shows. `tasks.list` is kept current from the
 * events themselves (see `patchTaskList`), so it is never refetched here.
 */
export function taskTouchesQuery(
  task: TaskLike & { state: string },
  change: TaskChange,
  path: readonly string[],
  input: unknown,
): boolean {
  const [router, proc] = path;
  const inp = (input && typeof input === 'object' ? input : {}) as Record<string, unknown>;
  if (router === 'tasks') return (proc === 'get' || proc === 'recovery') && inp.id === task.id;
  if (change !== 'state') return false;
  const res = taskResources(task);
  if (router === 'ceph') {
    const ceph = res.filter((r): r is Extract<Resource, { type: 'ceph' }> => r.type === 'ceph');
    switch (proc) {
      case 'previewSchedule':
        return false;
      case 'unfinished':
        return task.kind.startsWith('ceph.') && change === 'state' && ENDED.has(task.state);
      case 'failoverPlan':
        return ceph.some((r) => cephMeets(r, inp.fromSiteId, inp) || cephMeets(r, inp.toSiteId, inp));
      case 'resyncPlan':
        return ceph.some((r) => cephMeets(r, inp.staleSiteId, inp) || cephMeets(r, inp.goodSiteId, inp));
      default:
        return ceph.some((r) => cephMeets(r, inp.siteId, inp));
    }
  }
  if (router === 'plans') {
    const plan = [task.target, ...(task.locks ?? [])].map((l) => /^plan\/(\d+)$/.exec(l)).find(Boolean);
    if (!plan) return false;
    const planId = Number(plan[1]);
    // A run's report follows its run's every step; the plan pages and the lists its state.
    if (proc === 'report' || proc === 'reports' || proc === 'list') return true;
    return (proc === 'get' || proc === 'precheck') && inp.id === planId;
  }
  if (router === 'replicas') {
    const replicaIds = new Set(
      res.flatMap((r) =>
        r.type === 'replica'
          ? [r.replicaId]
          : r.type === 'vm' && r.replicaId !== undefined
            ? [r.replicaId]
            : [],
      ),
    );
    const vms = res.filter((r): r is Extract<Resource, { type: 'vm' }> => r.type === 'vm');
    if (proc === 'list') {
      if (!replicaIds.size && !vms.length) return false;
      if (typeof inp.vmName === 'string' && !vms.some((v) => v.vm === inp.vmName)) return false;
      if (typeof inp.siteId === 'number' && !vms.some((v) => v.siteId === inp.siteId)) return false;
      return true;
    }
    return typeof inp.id === 'number' && replicaIds.has(inp.id);
  }
  return false;
}

/** A tRPC query key (`[path, { input, type }]`) taken apart; null for keys of other shapes. */
export function splitQueryKey(key: readonly unknown[]): { path: string[]; input: unknown } | null {
  const [path, rest] = key;
  if (!Array.isArray(path) || !path.every((p) => typeof p === 'string')) return null;
  return { path, input: rest && typeof rest === 'object' ? (rest as { input?: unknown }).input : undefined };
}

export interface TaskListRow {
  id: number;
  state: string;
}

const ACTIVE = new Set(['waiting', 'running', 'question']);

/**
 * A cached `tasks.list` result with one task's new row applied: replaced where it is listed; a new
 * task (newer than every listed one) put first on the newest page; on the active list, added while
 * active and removed when it ends. `limit` is kept.
 */
export function patchTaskList<T extends TaskListRow>(
  list: T[] | undefined,
  row: T,
  input: { active?: boolean; limit?: number; before?: number } | undefined,
): T[] | undefined {
  if (!list) return list;
  const i = list.findIndex((t) => t.id === row.id);
  if (input?.active && !ACTIVE.has(row.state)) return i < 0 ? list : list.filter((t) => t.id !== row.id);
  // Fields the stream leaves out (a task's params) stay as they were.
  if (i >= 0) return list.map((t) => (t.id === row.id ? { ...t, ...row } : t));
  if (input?.before !== undefined) return list;
  const newest = list[0]?.id ?? 0;
  // An older task not on an active list that is complete: it will be there at the next fetch.
  if (row.id < newest && !input?.active) return list;
  const next = [row, ...list].sort((a, b) => b.id - a.id);
  return next.slice(0, input?.limit ?? 50);
}

/**
 * Whether a row a stream delivered is newer than a row a fetch returned for the same task: a fetch
 * started before the event may answer after it, and must not put the older row back. A later
 * attempt (a resume) is newer; then an ended task is newer than an active one; then, both active,
 * more progress is newer.
 */
export function rowIsNewer(
  ev: Pick<TaskListRow, 'state'> & { attempts: number; progressComplete: number },
  row: Pick<TaskListRow, 'state'> & { attempts: number; progressComplete: number },
): boolean {
  if (ev.attempts !== row.attempts) return ev.attempts > row.attempts;
  const evEnded = !ACTIVE.has(ev.state);
  if (evEnded !== !ACTIVE.has(row.state)) return evEnded;
  return !evEnded && ev.progressComplete > row.progressComplete;
}

/** A fetched task list with the newer rows the stream delivered put back (see rowIsNewer). */
export function reapplyNewer<T extends TaskListRow & { attempts: number; progressComplete: number }>(
  list: T[] | undefined,
  latest: ReadonlyMap<number, T>,
  input: { active?: boolean; limit?: number; before?: number } | undefined,
): T[] | undefined {
  let out = list;
  for (const t of list ?? []) {
    const ev = latest.get(t.id);
    if (ev && rowIsNewer(ev, t)) out = patchTaskList(out, ev, input);
  }
  return out;
}
