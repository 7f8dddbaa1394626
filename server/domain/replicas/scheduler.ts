import { and, asc, eq, inArray, isNull, lte, notInArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { replicas, tasks as taskTable } from '../../db/schema';
import { ACTIVE_STATES, type TaskEngine } from '../../tasks/engine';
import type { Clock } from '../../core/clock';
import { errorMessage } from '../../core/errors';
import type { HistoryLog } from '../history';
import type { VmState } from '../../adapters/node/types';
import { withTimeout } from '../deadline';
import { dualRunning, pruneList } from './rules';
import {
  BUSY_STATES,
  holdTag,
  pendingCleanups,
  replicaLock,
  setPendingCleanups,
  type ReplicaService,
} from './service';

/** A node's answer within this time, or it counts as unreachable for this tick. */
const TICK_CALL_MS = 8_000;

/** How many syncs may run at once: touching one node (as master or replica), and in all. */
export interface SyncLimits {
  perNode: number;
  total: number;
}
export const DEFAULT_SYNC_LIMITS: SyncLimits = { perNode: 2, total: 8 };

/** `TANDEM_SYNCS_PER_NODE` and `TANDEM_SYNCS_TOTAL`, positive whole numbers; the defaults when unset. */
export function syncLimits(env: Record<string, string | undefined> = process.env): SyncLimits {
  const read = (name: string, dflt: number) => {
    const v = env[name]?.trim();
    if (!v) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > 1000)
      throw new Error(`${name}: "${v}" is not a whole number from 1 to 1000`);
    return Number(v);
  };
  return {
    perNode: read('TANDEM_SYNCS_PER_NODE', DEFAULT_SYNC_LIMITS.perNode),
    total: read('TANDEM_SYNCS_TOTAL', DEFAULT_SYNC_LIMITS.total),
  };
}

/**
 * Starts due syncs (sleep time after the end of the last one, backoff after failures), stops an
 * old master whose node answers again after a forced failover, and finishes cleanups that were
 * waiting for a node. One tick every few seconds; each piece of work is its own task or call.
 * Due syncs start longest-waiting first, within `limits`: syncs already running (scheduled or
 * started by hand) count, and a sync counts on both its nodes.
 */
export class ReplicationScheduler {
  #timer: NodeJS.Timeout | null = null;
  #ticking = false;

  constructor(
    private readonly db: Db,
    private readonly replicas: ReplicaService,
    private readonly tasks: TaskEngine,
    private readonly history: HistoryLog,
    private readonly clock: Clock,
    readonly limits: SyncLimits = syncLimits(),
  ) {}

  start(intervalMs = 5000): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => void this.tick(), intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  async tick(): Promise<{ started: number[] }> {
    if (this.#ticking) return { started: [] };
    this.#ticking = true;
    const started: number[] = [];
    try {
      const now = new Date(this.clock.now());
      const due = this.db
        .select()
        .from(replicas)
        .where(
          and(
            eq(replicas.enabled, true),
            notInArray(replicas.state, BUSY_STATES),
            isNull(replicas.operation),
            isNull(replicas.conflict),
            lte(replicas.nextSyncAt, now),
          ),
        )
        .orderBy(asc(replicas.nextSyncAt), asc(replicas.id))
        .all();
      await this.#watchVms();
      const load = this.#running();
      for (const r of due) {
        if (load.total >= this.limits.total) break;
        const nodes = [...new Set([r.sourceSiteId, r.targetSiteId])];
        if (nodes.some((n) => (load.perNode.get(n) ?? 0) >= this.limits.perNode)) continue;
        if (this.tasks.holder(replicaLock(r.id))) continue;
        if (this.replicas.syncBlocked(this.replicas.row(r.id))) continue;
        try {
          started.push(this.replicas.startSync(r.id, 'scheduler').id);
          load.total++;
          for (const n of nodes) load.perNode.set(n, (load.perNode.get(n) ?? 0) + 1);
        } catch {
          /* a task on the VM holds it; next tick */
        }
      }
      await this.#stopOldMasters();
      await this.#cleanups();
    } finally {
      this.#ticking = false;
    }
    return { started };
  }

  /** Syncs running now (their tasks are active), per node and in all. */
  #running(): { total: number; perNode: Map<number, number> } {
    const active = this.db
      .select({ params: taskTable.params })
      .from(taskTable)
      .where(and(eq(taskTable.kind, 'replica.sync'), inArray(taskTable.state, ACTIVE_STATES)))
      .all();
    const ids = active
      .map((t) => Number((t.params as { replicaId?: unknown } | null)?.replicaId))
      .filter(Number.isInteger);
    const rows = ids.length
      ? this.db
          .select({ s: replicas.sourceSiteId, t: replicas.targetSiteId })
          .from(replicas)
          .where(inArray(replicas.id, ids))
          .all()
      : [];
    const perNode = new Map<number, number>();
    for (const r of rows) for (const n of new Set([r.s, r.t])) perNode.set(n, (perNode.get(n) ?? 0) + 1);
    return { total: active.length, perNode };
  }

  /**
   * At every tick, where each replicated VM actually runs: a VM live on two nodes is flagged (no
   * sync runs until an operator stops the stale copy), and a VM left paused by an interrupted
   * snapshot is resumed. One VM list per node, each with a deadline.
   */
  async #watchVms() {
    const rows = this.db
      .select()
      .from(replicas)
      .all()
      .filter((r) => r.state !== 'new');
    if (!rows.length) return;
    const siteIds = [...new Set(rows.flatMap((r) => [r.sourceSiteId, r.targetSiteId]))];
    const lists = new Map<number, Map<string, VmState>>();
    await Promise.all(
      siteIds.map(async (id) => {
        try {
          const vms = await withTimeout(this.replicas.node(id).listVms(), TICK_CALL_MS);
          lists.set(id, new Map(vms.map((v) => [v.name, v.state])));
          this.replicas.markSeen(id);
        } catch {
          /* unreachable this tick */
        }
      }),
    );
    const now = this.clock.now();
    for (const r of rows) {
      const src = lists.get(r.sourceSiteId);
      const dst = lists.get(r.targetSiteId);
      // During a failover the VM legitimately moves; its own steps check the nodes.
      if (r.state === 'failing-over' || this.tasks.holder(replicaLock(r.id))) continue;
      // Until the reinit, the old master is fenced: its copy is stopped whenever it shows up live.
      if (
        r.state === 'reinit-required' &&
        r.fenceSiteId === r.targetSiteId &&
        dst &&
        ['running', 'paused'].includes(dst.get(r.vmName) ?? '')
      ) {
        try {
          await withTimeout(
            this.replicas.node(r.targetSiteId).stopVm(r.vmName, { graceMs: 0 }),
            TICK_CALL_MS * 4,
          );
          this.history.record({
            username: 'scheduler',
            action: 'replica.fenceOldMaster',
            target: replicaLock(r.id),
            params: { vm: r.vmName, siteId: r.targetSiteId, was: dst.get(r.vmName) },
            outcome: 'success',
          });
          dst.set(r.vmName, 'stopped');
        } catch (e) {
          this.history.record({
            username: 'scheduler',
            action: 'replica.fenceOldMaster',
            target: replicaLock(r.id),
            params: { vm: r.vmName, siteId: r.targetSiteId },
            outcome: 'failure',
            error: errorMessage(e),
          });
        }
      }
      if (src && dst) {
        const both = dualRunning([
          { siteId: r.sourceSiteId, state: src.get(r.vmName) ?? null },
          { siteId: r.targetSiteId, state: dst.get(r.vmName) ?? null },
        ]);
        if (both && r.conflict?.kind !== 'dual-running') {
          this.db
            .update(replicas)
            .set({
              conflict: { kind: 'dual-running', siteIds: both, at: now },
              lastError: `VM ${r.vmName} is running on two nodes; syncing stopped until the stale copy is stopped`,
            })
            .where(eq(replicas.id, r.id))
            .run();
          this.history.record({
            username: 'scheduler',
            action: 'replica.dualRunning',
            target: replicaLock(r.id),
            params: { vm: r.vmName, siteIds: both },
            outcome: 'failure',
            error: `VM ${r.vmName} is running on two nodes`,
          });
        } else if (!both && r.conflict?.kind === 'dual-running') {
          this.db
            .update(replicas)
            .set({ conflict: null, lastError: null })
            .where(eq(replicas.id, r.id))
            .run();
          this.history.record({
            username: 'scheduler',
            action: 'replica.dualRunningResolved',
            target: replicaLock(r.id),
            params: { vm: r.vmName },
            outcome: 'success',
          });
        }
      }
      if (r.pausedByTandem && src) {
        try {
          await withTimeout(this.replicas.healPause(r), TICK_CALL_MS);
          this.history.record({
            username: 'scheduler',
            action: 'replica.resumePaused',
            target: replicaLock(r.id),
            params: { vm: r.vmName },
            outcome: 'success',
          });
        } catch {
          /* next tick */
        }
      }
    }
  }

  async #stopOldMasters() {
    const pending = this.db.select().from(replicas).where(eq(replicas.stopOldMasterPending, true)).all();
    for (const r of pending) {
      try {
        // The node the failover recorded as the old master (before the switch it is the source).
        const node = this.replicas.node(r.fenceSiteId ?? r.targetSiteId);
        const state = await withTimeout(node.getVmState(r.vmName), TICK_CALL_MS);
        if (state && state !== 'stopped') await node.stopVm(r.vmName, { graceMs: 0 });
        this.db.update(replicas).set({ stopOldMasterPending: false }).where(eq(replicas.id, r.id)).run();
        this.history.record({
          username: 'scheduler',
          action: 'replica.stopOldMaster',
          target: `replica:${r.id}`,
          params: { vm: r.vmName, wasState: state },
          outcome: 'success',
        });
      } catch {
        /* still unreachable */
      }
    }
  }

  async #cleanups() {
    const list = pendingCleanups(this.db);
    if (!list.length) return;
    const left = [];
    for (const c of list) {
      try {
        const node = this.replicas.node(c.siteId);
        for (const ds of c.datasets) {
          await node.zfs.releaseHolds(ds, holdTag(c.replica));
          const snaps = (await node.zfs.listSnapshots(ds))[ds] ?? [];
          await node.zfs.destroySnapshots(ds, pruneList(c.replica, snaps, 0, null));
        }
        this.history.record({
          username: 'scheduler',
          action: 'replica.cleanup',
          target: `site:${c.siteId}`,
          params: { ...c },
          outcome: 'success',
        });
      } catch (e) {
        if (/does not exist/.test(errorMessage(e))) continue;
        left.push(c);
      }
    }
    setPendingCleanups(this.db, left);
  }
}
