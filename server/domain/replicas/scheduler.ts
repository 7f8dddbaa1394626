import { and, eq, lte, ne } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { replicas } from '../../db/schema';
import type { TaskEngine } from '../../tasks/engine';
import type { Clock } from '../clock';
import { errorMessage } from '../errors';
import type { HistoryLog } from '../history';
import { pruneList } from './rules';
import { pendingCleanups, replicaLock, setPendingCleanups, type ReplicaService } from './service';

/**
 * Starts due syncs (sleep time after the end of the last one, backoff after failures), stops an
 * old master whose node answers again after a forced failover, and finishes cleanups that were
 * waiting for a node. One tick every few seconds; each piece of work is its own task or call.
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
        .where(and(eq(replicas.enabled, true), ne(replicas.state, 'reinit-required'), lte(replicas.nextSyncAt, now)))
        .all();
      for (const r of due) {
        if (this.tasks.holder(replicaLock(r.id))) continue;
        try {
          started.push(this.replicas.startSync(r.id, 'scheduler').id);
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

  async #stopOldMasters() {
    const pending = this.db.select().from(replicas).where(eq(replicas.stopOldMasterPending, true)).all();
    for (const r of pending) {
      try {
        // After the failover the old master is the replica's target.
        const node = this.replicas.node(r.targetSiteId);
        const state = await node.getVmState(r.vmName);
        if (state && state !== 'stopped') await node.stopVm(r.vmName, { graceMs: 10_000 });
        this.db.update(replicas).set({ stopOldMasterPending: false }).where(eq(replicas.id, r.id)).run();
        this.history.record({ username: 'scheduler', action: 'replica.stopOldMaster', target: `replica:${r.id}`, params: { vm: r.vmName, wasState: state }, outcome: 'success' });
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
          const snaps = (await node.listSnapshots(ds))[ds] ?? [];
          await node.destroySnapshots(ds, pruneList(c.replica, snaps, 0, null));
        }
        this.history.record({ username: 'scheduler', action: 'replica.cleanup', target: `site:${c.siteId}`, params: { ...c }, outcome: 'success' });
      } catch (e) {
        if (/does not exist/.test(errorMessage(e))) continue;
        left.push(c);
      }
    }
    setPendingCleanups(this.db, left);
  }
}
