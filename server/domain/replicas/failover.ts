import { and, eq, ne } from 'drizzle-orm';
import type { NodeAdapter, VmState } from '../../adapters/node/types';
import type { Db } from '../../db/client';
import { replicas, sites, type ReplicaDataset, type ReplicaRow, type TaskStepRow } from '../../db/schema';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../../core/clock';
import { withTimeout } from '../deadline';
import { startVmOnWritableDisks } from './start-vm';
import { AppError, errorMessage } from '../../core/errors';
import {
  dataLossWindow,
  diskPath,
  FAILOVER_STEPS,
  failoverRollbackBlocked,
  failoverRollbackSteps,
  latestCommon,
} from './rules';
import { movedMaster, switchSource } from './repoint';
import { holdTag, replicaLock, vmLock, type ReplicaLeg, type ReplicaService } from './service';
import type { ObjectRuns } from '../plans/object-runs';

export interface Precheck {
  id: string;
  label: string;
  status: 'pass' | 'warn' | 'block';
  message: string;
  /** A block the operator may override with force. */
  overridable?: boolean;
}

/** Refuses a plan whose pre-checks block it, naming every blocking check. */
export function assertCanProceed(plan: { canProceed: boolean; checks: readonly Precheck[] }): void {
  if (!plan.canProceed)
    throw new AppError(
      'PRECONDITION_FAILED',
      plan.checks
        .filter((c) => c.status === 'block')
        .map((c) => `${c.label}: ${c.message}`)
        .join('; '),
    );
}

export type FailoverMode = 'planned' | 'forced';

export interface FailoverPlan {
  replicaId: number;
  vmName: string;
  mode: FailoverMode;
  /** Why the mode is what it is (asked for, or the master cannot be reached). */
  modeReason: string;
  masterReachable: boolean;
  checks: Precheck[];
  canProceed: boolean;
  /** Time of the recovery point the VM would start from (planned: now, after a final sync). */
  recoveryPointAt: number | null;
  /** Writes that would be lost, in seconds (0 for planned). */
  dataLossWindowSec: number | null;
  /** The lost writes are those from `dataLossFrom` (last recovery point) to `dataLossTo` (master last seen, or now). */
  dataLossFrom: number | null;
  dataLossTo: number | null;
  /** True while the master still answers: the window grows until it is stopped. */
  dataLossGrowing: boolean;
  /** Other replicas of the VM that this failover pauses (they pull from the old master). */
  siblings: { id: number; name: string; targetSite: string }[];
  steps: string[];
}

export interface ReinitParams extends Record<string, unknown> {
  replicaId: number;
  vmName: string;
  oldSiteId: number;
  /** UTC stamp of the start: names the kept diverged datasets and the first snapshot. */
  stamp: string;
  divergence: {
    dataset: string;
    commonSnapshot: string;
    snapshotsAfter: string[];
    writtenBytes: number;
    writtenMaxBytes: number;
  }[];
}

export interface ResyncParams extends Record<string, unknown> {
  replicaId: number;
  vmName: string;
  stamp: string;
  /** Where the replica's current data is kept aside (target dataset → kept name). */
  keep: { dataset: string; keepAs: string }[];
  /** For a replica whose VM's master moved: the switch to the new master before the full send. */
  repoint?: { fromSiteId: number; toSiteId: number; datasets: ReplicaDataset[]; oldSources: string[] } | null;
}

/** What a failover task stores: enough to resume or roll it back after a crash. */
export interface FailoverParams extends Record<string, unknown> {
  replicaId: number;
  vmName: string;
  replicaName: string;
  mode: FailoverMode;
  fromSiteId: number;
  toSiteId: number;
  datasets: ReplicaDataset[];
  /** Planned: the final snapshot's name (chosen up front); forced: the last synced snapshot. */
  snapshot: string;
  /** The VM's state on the master when the failover started (null: unknown, master unreachable). */
  masterState: VmState | null;
  masterReachable: boolean;
  siblings: number[];
  dataLossWindowSec: number | null;
  recoveryPointAt: number | null;
  bandwidthLimit: number | null;
  keepSnapshots: number;
}

async function reach<T>(
  p: Promise<T>,
  ms = 8_000,
): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await withTimeout(p, ms) };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';

/**
 * Failover and reinit of VM replicas as durable tasks: the intent is stored before the first side
 * effect (the replica goes to `failing-over`, which no sync touches), every step checks the real
 * state first so that running it twice is harmless, and an interrupted or failed failover can be
 * resumed from its first unfinished step or, before the replica was promoted, rolled back.
 */
export class ReplicaFailover {
  constructor(
    private readonly db: Db,
    private readonly replicas: ReplicaService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
  ) {
    tasks.define<FailoverParams>('replica.failover', {
      run: (ctx, p) => this.#run(ctx, p),
      confirmText: (p) => p.vmName,
      resumeBlocked: (task, _steps, p) => this.replicas.notInOperation(task, p.replicaId),
      rollback: {
        steps: (p) => failoverRollbackSteps(p.masterState === 'running' || p.masterState === 'paused'),
        blocked: (task, steps, p) =>
          this.replicas.notInOperation(task, p.replicaId) ??
          failoverRollbackBlocked(
            p.mode,
            steps.filter((s) => s.state === 'done').map((s) => s.name),
            steps
              .filter((s: TaskStepRow) => s.state === 'running' || (s.state === 'failed' && !!s.startedAt))
              .map((s) => s.name),
          ),
        run: (ctx, p) => this.#rollback(ctx, p),
      },
    });
    tasks.define<ResyncParams>('replica.resync', {
      run: (ctx, p) => this.#resync(ctx, p),
      confirmText: (p) => p.vmName,
      resumeBlocked: (task, _steps, p) => this.replicas.notInOperation(task, p.replicaId),
    });
    tasks.define<ReinitParams>('replica.reinit', {
      run: (ctx, p) => this.#reinit(ctx, p),
      confirmText: (p) => p.vmName,
      resumeBlocked: (task, _steps, p) => this.replicas.notInOperation(task, p.replicaId),
    });
  }

  /** Other replicas of the same VM that pull from the same master. */
  #siblings(r: ReplicaRow): ReplicaRow[] {
    return this.db
      .select()
      .from(replicas)
      .where(
        and(eq(replicas.vmName, r.vmName), eq(replicas.sourceSiteId, r.sourceSiteId), ne(replicas.id, r.id)),
      )
      .all();
  }

  async plan(id: number, opts: { mode?: FailoverMode; force?: boolean } = {}): Promise<FailoverPlan> {
    const r = this.replicas.row(id);
    const checks: Precheck[] = [];
    const add = (c: Precheck) => checks.push(c);
    if (r.state === 'reinit-required')
      add({
        id: 'state',
        label: 'Replica state',
        status: 'block',
        message: 'this replica already took over; reinitialise the old master first',
      });
    if (r.operation)
      add({
        id: 'state',
        label: 'Replica state',
        status: 'block',
        message: `a ${r.operation.kind} of this replica is unfinished (task #${r.operation.taskId}); resume or roll it back from its task page`,
      });
    if (r.conflict?.kind === 'master-moved')
      add({
        id: 'master-moved',
        label: 'Master of the VM',
        status: 'block',
        message: `the VM was failed over to ${this.replicas.siteName(r.conflict.siteId)} by replica #${r.conflict.byReplicaId}; this replica still pulls from the old master ${this.replicas.siteName(r.sourceSiteId)}`,
      });
    const target = this.replicas.node(r.targetSiteId);
    const t = await reach(target.probe());
    add(
      t.ok
        ? {
            id: 'replica-node',
            label: 'Replica node reachable',
            status: 'pass',
            message: `${t.value.hostname} answers`,
          }
        : { id: 'replica-node', label: 'Replica node reachable', status: 'block', message: t.error },
    );
    const source = this.replicas.node(r.sourceSiteId);
    const s = await reach(source.getVmState(r.vmName));
    const masterUp = s.ok;
    if (masterUp) this.replicas.markSeen(r.sourceSiteId);
    const mode: FailoverMode = !masterUp ? 'forced' : (opts.mode ?? 'planned');
    const modeReason = !masterUp
      ? `the master node does not answer (${s.error}): only a forced failover from the last synced snapshot is possible`
      : mode === 'forced'
        ? 'forced failover asked for: the master VM is stopped first, then the replica starts from the last synced snapshot'
        : 'the master answers: stop, final sync, switch (no data loss)';
    add(
      masterUp
        ? {
            id: 'master-node',
            label: 'Master node reachable',
            status: mode === 'forced' ? 'warn' : 'pass',
            message: `VM ${r.vmName} is ${s.value ?? 'not defined'} there${mode === 'forced' ? '; a forced failover stops it first (fencing), then loses the writes after the last sync' : ''}`,
          }
        : {
            id: 'master-node',
            label: 'Master node reachable',
            status: 'warn',
            message: `unreachable (${s.error}): the VM there will be stopped as soon as its node answers`,
          },
    );
    if (!r.lastSyncAt || !r.lastSnapshot) {
      add({
        id: 'last-sync',
        label: 'Last sync',
        status: 'block',
        message: 'the replica has never completed a sync; there is nothing to fail over to',
      });
    } else {
      const age = Math.round((this.clock.now() - r.lastSyncAt.getTime()) / 1000);
      const late = age > 2 * r.sleepTimeSec + 300;
      add({
        id: 'last-sync',
        label: 'Last sync',
        status: late ? 'warn' : 'pass',
        message: `${new Date(r.lastSyncAt).toISOString()} (${age} s ago)${late ? ' — older than expected' : ''}`,
      });
    }
    if (!r.vmDefinition && mode === 'forced')
      add({
        id: 'definition',
        label: 'VM definition',
        status: 'block',
        message: 'no stored definition of the VM (it is saved at each sync)',
      });
    const busy = [replicaLock(id), vmLock(r.sourceSiteId, r.vmName), vmLock(r.targetSiteId, r.vmName)]
      .map((l) => this.tasks.holder(l))
      .find(Boolean);
    if (busy) {
      add({
        id: 'tasks',
        label: 'Pending tasks',
        status: opts.force ? 'warn' : 'block',
        message: `task #${busy.id} "${busy.name}" is ${busy.state}${opts.force ? '; force cancels it first' : '; tick "Override pending tasks" to cancel it first'}`,
        overridable: true,
      });
    } else add({ id: 'tasks', label: 'Pending tasks', status: 'pass', message: 'none' });
    const siblings = this.#siblings(r).map((x) => ({
      id: x.id,
      name: x.name,
      targetSite: this.replicas.siteName(x.targetSiteId),
    }));
    if (siblings.length)
      add({
        id: 'siblings',
        label: 'Other replicas of the VM',
        status: 'warn',
        message: `${siblings.map((x) => `${x.name} (on ${x.targetSite})`).join(', ')} pull from the old master and will be paused; once this failover has finished, re-point them to ${this.replicas.siteName(r.targetSiteId)} (best before the old master's reinit, while it still has their snapshots) or delete them`,
      });
    if (t.ok) {
      const cap = await reach(target.capacity());
      const vms = await reach(target.listVms());
      if (cap.ok && vms.ok) {
        const used = vms.value.filter((v) => v.state !== 'stopped' && v.name !== r.vmName);
        const freeCpu = cap.value.cpus - used.reduce((a, v) => a + v.vcpus, 0);
        const freeMem = cap.value.memoryMiB - used.reduce((a, v) => a + v.memoryMiB, 0);
        const ok = freeCpu >= r.vcpus && freeMem >= r.memoryMiB;
        add({
          id: 'resources',
          label: 'Resources on the replica node',
          status: ok ? 'pass' : 'warn',
          message: `${freeCpu} vCPUs and ${freeMem} MiB free; the VM needs ${r.vcpus} and ${r.memoryMiB} MiB`,
        });
      }
      const defined = await reach(target.getVmState(r.vmName));
      if (defined.ok && defined.value && defined.value !== 'stopped')
        add({
          id: 'target-vm',
          label: 'VM on the replica node',
          status: 'block',
          message: `a VM named ${r.vmName} is already ${defined.value} on the replica node`,
        });
    }
    const seen =
      this.db
        .select({ at: sites.lastSeenAt })
        .from(sites)
        .where(eq(sites.id, r.sourceSiteId))
        .get()
        ?.at?.getTime() ?? null;
    const w =
      mode === 'planned'
        ? null
        : dataLossWindow({
            lastSyncAt: r.lastSyncAt?.getTime() ?? null,
            masterReachable: masterUp,
            masterLastSeenAt: seen,
            now: this.clock.now(),
          });
    const canProceed = !checks.some((c) => c.status === 'block');
    return {
      replicaId: id,
      vmName: r.vmName,
      mode,
      modeReason,
      masterReachable: masterUp,
      checks,
      canProceed,
      recoveryPointAt: mode === 'planned' ? this.clock.now() : (r.lastSyncAt?.getTime() ?? null),
      dataLossWindowSec: mode === 'planned' ? 0 : (w?.seconds ?? null),
      dataLossFrom: w?.from ?? null,
      dataLossTo: w?.to ?? null,
      dataLossGrowing: w?.growing ?? false,
      siblings,
      steps: [...FAILOVER_STEPS[mode]],
    };
  }

  /**
   * Runs the failover the operator confirmed by typing the VM name. `mode` is what the wizard
   * showed; if the facts changed since (the master stopped answering), it is refused so that a
   * forced failover is never run on a planned confirmation. `force` cancels pending tasks first.
   */
  /** Records the run reports of failovers started on their own (set by the app). */
  objectRuns?: ObjectRuns;

  /** `report`: a failover started on its own (not by a plan's run) gets a run report, with the operator's reason. */
  async failover(
    id: number,
    opts: { confirm: string; mode: FailoverMode; force?: boolean; report?: { reason?: string } },
    user: SessionUser,
  ) {
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName)
      throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    const plan = await this.plan(id, { mode: opts.mode, force: opts.force });
    if (plan.mode !== opts.mode)
      throw new AppError(
        'PRECONDITION_FAILED',
        `the failover would now be ${plan.mode}, not ${opts.mode}: ${plan.modeReason}. Review the plan again.`,
      );
    assertCanProceed(plan);
    const fresh = this.replicas.row(id);
    const now = this.clock.now();
    const masterState = plan.masterReachable
      ? await reach(this.replicas.node(fresh.sourceSiteId).getVmState(fresh.vmName))
      : null;
    const params: FailoverParams = {
      replicaId: id,
      vmName: fresh.vmName,
      replicaName: fresh.name,
      mode: plan.mode,
      fromSiteId: fresh.sourceSiteId,
      toSiteId: fresh.targetSiteId,
      datasets: fresh.datasets,
      snapshot: plan.mode === 'planned' ? `tandem-${fresh.name}-${stamp(now)}` : fresh.lastSnapshot!,
      masterState: masterState
        ? masterState.ok
          ? masterState.value
          : null
        : ((fresh.vmDefinition?.state as VmState | undefined) ?? null),
      masterReachable: plan.masterReachable,
      siblings: plan.siblings.map((x) => x.id),
      dataLossWindowSec: plan.dataLossWindowSec,
      recoveryPointAt: plan.recoveryPointAt,
      bandwidthLimit: fresh.bandwidthLimit,
      keepSnapshots: fresh.keepSnapshots,
    };
    const def = {
      name: `${plan.mode === 'planned' ? 'Planned' : 'Forced'} failover of ${fresh.vmName} to ${this.replicas.siteName(fresh.targetSiteId)}`,
      kind: 'replica.failover',
      target: replicaLock(id),
      locks: [vmLock(fresh.sourceSiteId, fresh.vmName), vmLock(fresh.targetSiteId, fresh.vmName)],
      params,
      steps: plan.steps,
      username: user.username,
    };
    let task;
    for (let attempt = 0; ; attempt++) {
      if (opts.force) {
        // Cancel what holds the replica or the VM; the scheduler may start a new sync meanwhile,
        // so the start is retried right after the holders are gone.
        for (const l of [def.target, ...def.locks]) {
          const busy = this.tasks.holder(l);
          if (busy) {
            this.tasks.cancel(busy.id, user.username);
            await this.tasks.wait(busy.id);
          }
        }
      }
      try {
        task = this.tasks.startDurable(def);
        break;
      } catch (e) {
        if (!opts.force || !AppError.is(e, 'CONFLICT') || attempt >= 5) throw e;
      }
    }
    // The intent, before the first step runs (the task starts on the next turn of the event loop):
    // from here on no sync touches this replica or its siblings, and an unreachable old master is
    // fenced as soon as it answers.
    this.db.transaction((tx) => {
      tx.update(replicas)
        .set({
          state: 'failing-over',
          operation: { kind: 'failover', taskId: task.id, mode: plan.mode, startedAt: now },
          nextSyncAt: null,
          ...(plan.mode === 'forced' && !plan.masterReachable
            ? { stopOldMasterPending: true, fenceSiteId: fresh.sourceSiteId }
            : {}),
          updatedAt: new Date(now),
        })
        .where(eq(replicas.id, id))
        .run();
      for (const sid of params.siblings) {
        tx.update(replicas)
          .set({
            conflict: { kind: 'master-moved', siteId: fresh.targetSiteId, byReplicaId: id, at: now },
            updatedAt: new Date(now),
          })
          .where(eq(replicas.id, sid))
          .run();
      }
    });
    if (opts.report) {
      this.objectRuns?.record(task, {
        objectKey: `replica:${id}`,
        objectKind: 'replica',
        label: `VM ${fresh.vmName}`,
        kind: plan.mode === 'planned' ? 'planned' : 'disaster',
        reason: opts.report.reason,
        username: user.username,
        prechecks: { mode: plan.mode, checks: plan.checks, dataLossWindowSec: plan.dataLossWindowSec },
      });
    }
    return task;
  }

  #leg(p: FailoverParams): ReplicaLeg {
    return {
      id: p.replicaId,
      name: p.replicaName,
      vmName: p.vmName,
      sourceSiteId: p.fromSiteId,
      targetSiteId: p.toSiteId,
      datasets: p.datasets,
      bandwidthLimit: p.bandwidthLimit,
      keepSnapshots: p.keepSnapshots,
    };
  }

  async #run(ctx: TaskContext, p: FailoverParams) {
    const source = this.replicas.node(p.fromSiteId);
    const target = this.replicas.node(p.toSiteId);
    const leg = this.#leg(p);
    if (p.mode === 'planned') {
      await ctx.step('Stop the master VM', async () => {
        await source.stopVm(p.vmName);
        const st = await source.getVmState(p.vmName);
        if (st !== 'stopped' && st !== null)
          throw new AppError(
            'COMMAND_FAILED',
            `VM ${p.vmName} is still ${st} on ${this.replicas.siteName(p.fromSiteId)}`,
          );
      });
      // The final incremental sync while the VM is stopped: nothing is lost.
      await ctx.step('Snapshot on the master', () => this.replicas.snapshotMaster(ctx, leg, p.snapshot));
      await ctx.step('Transfer to the replica', () => this.replicas.transfer(ctx, leg, p.snapshot));
    } else {
      await ctx.step('Fence the old master', async () => {
        if (!p.masterReachable) {
          ctx.log(
            `the old master ${this.replicas.siteName(p.fromSiteId)} was unreachable when the failover started; its VM will be stopped as soon as its node answers`,
            'warn',
          );
          return;
        }
        // Fencing first: the old VM is off before the new one can start.
        await source.stopVm(p.vmName, { graceMs: 0 });
        const st = await source.getVmState(p.vmName);
        if (st !== 'stopped' && st !== null)
          throw new AppError(
            'COMMAND_FAILED',
            `VM ${p.vmName} is still ${st} on ${this.replicas.siteName(p.fromSiteId)}; it must be off before the replica starts`,
          );
        ctx.log(`VM ${p.vmName} on ${this.replicas.siteName(p.fromSiteId)} is off`);
      });
      ctx.log(
        `forced failover from ${p.snapshot}; writes after it on the old master are not on the replica (${p.dataLossWindowSec ?? '?'} s)`,
        'warn',
      );
    }
    const paths = await ctx.step(
      p.mode === 'planned' ? 'Promote the replica' : 'Promote from the last synced snapshot',
      async () => {
        const vm = await target.getVmState(p.vmName);
        if (vm === 'running' || vm === 'paused')
          throw new AppError(
            'PRECONDITION_FAILED',
            `VM ${p.vmName} is already ${vm} on ${this.replicas.siteName(p.toSiteId)}; Tandem will not roll back a live VM's disks`,
          );
        const r = this.replicas.row(p.replicaId);
        const out: { from: string; to: string }[] = [];
        for (const d of p.datasets) {
          if (p.mode === 'forced') await target.zfs.rollback(d.target, p.snapshot);
          await target.zfs.setReadonly(d.target, false);
          const [info] = await target.zfs.listDatasets(d.target);
          const from = r.vmDefinition?.disks.find((x) => x.device === d.device)?.path;
          if (!from)
            throw new AppError('PRECONDITION_FAILED', `the stored VM definition has no disk ${d.device}`);
          out.push({ from, to: diskPath(d, d.target, info?.mountpoint ?? null) });
        }
        // The switch is recorded as soon as the replica is writable: the replica node is the master now.
        if (r.sourceSiteId === p.fromSiteId) {
          this.db
            .update(replicas)
            .set({
              sourceSiteId: p.toSiteId,
              targetSiteId: p.fromSiteId,
              datasets: p.datasets.map((d) => ({ ...d, source: d.target, target: d.source })),
              fenceSiteId: p.fromSiteId,
              updatedAt: new Date(this.clock.now()),
            })
            .where(eq(replicas.id, p.replicaId))
            .run();
        }
        return out;
      },
    );
    await ctx.step('Define the VM on the replica node', async () => {
      const def = this.replicas.definitionToDefine(p.replicaId);
      if (!def) throw new AppError('PRECONDITION_FAILED', 'no stored VM definition');
      const rewritten = target.rewriteVm(def, { disks: paths });
      await target.defineVm(rewritten);
    });
    await ctx.step('Start the VM', async () => {
      const paused = (p.masterState ?? this.replicas.row(p.replicaId).vmDefinition?.state) === 'paused';
      await startVmOnWritableDisks(target, p.vmName, { paused });
      ctx.log(
        `started ${p.vmName} on ${this.replicas.siteName(p.toSiteId)}${paused ? ' (paused, as the master was)' : ''}`,
      );
    });
    await ctx.step('Mark the old master for reinit', () => {
      this.db
        .update(replicas)
        .set({
          state: 'reinit-required',
          enabled: false,
          operation: null,
          nextSyncAt: null,
          updatedAt: new Date(this.clock.now()),
        })
        .where(eq(replicas.id, p.replicaId))
        .run();
    });
    return {
      mode: p.mode,
      recoveryPoint: p.snapshot,
      dataLossWindowSec: p.mode === 'planned' ? 0 : p.dataLossWindowSec,
      siblingsPaused: p.siblings,
    };
  }

  /** Undoes a failover that stopped before the replica was promoted: the master runs again. */
  async #rollback(ctx: TaskContext, p: FailoverParams) {
    const target = this.replicas.node(p.toSiteId);
    await ctx.step('Roll back: protect the replica', async () => {
      for (const d of p.datasets) await target.zfs.setReadonly(d.target, true);
    });
    if (
      failoverRollbackSteps(p.masterState === 'running' || p.masterState === 'paused').includes(
        'Roll back: start the master VM again',
      )
    ) {
      await ctx.step('Roll back: start the master VM again', async () => {
        await startVmOnWritableDisks(this.replicas.node(p.fromSiteId), p.vmName, {
          paused: p.masterState === 'paused',
        });
        ctx.log(`started ${p.vmName} again on ${this.replicas.siteName(p.fromSiteId)}`);
      });
    }
    await ctx.step('Roll back: resume replication', () => {
      const now = new Date(this.clock.now());
      this.db.transaction((tx) => {
        const r = tx.select().from(replicas).where(eq(replicas.id, p.replicaId)).get()!;
        tx.update(replicas)
          .set({
            state: r.enabled ? (r.lastSyncAt ? 'idle' : 'new') : 'paused',
            operation: null,
            stopOldMasterPending: false,
            fenceSiteId: null,
            nextSyncAt: now,
            updatedAt: now,
          })
          .where(eq(replicas.id, p.replicaId))
          .run();
        for (const sid of p.siblings) {
          const sib = tx.select().from(replicas).where(eq(replicas.id, sid)).get();
          if (sib?.conflict?.kind === 'master-moved' && sib.conflict.byReplicaId === p.replicaId)
            tx.update(replicas).set({ conflict: null, updatedAt: now }).where(eq(replicas.id, sid)).run();
        }
      });
    });
    return { rolledBack: true };
  }

  /**
   * Stops the copy of a VM that runs where Tandem's records say it must not: on the replica's
   * target node (the old master after a failover, or a replica started by hand). The copy on the
   * master keeps running.
   */
  stopStale(id: number, opts: { confirm: string }, user: SessionUser) {
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName)
      throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    if (r.conflict?.kind !== 'dual-running')
      throw new AppError('PRECONDITION_FAILED', `VM ${r.vmName} is not flagged as running on two nodes`);
    const stale = this.replicas.siteName(r.targetSiteId);
    return this.tasks.start({
      name: `Stop the stale copy of ${r.vmName} on ${stale}`,
      kind: 'replica.stopStale',
      target: replicaLock(id),
      locks: [vmLock(r.targetSiteId, r.vmName)],
      params: { replicaId: id, vm: r.vmName, siteId: r.targetSiteId },
      steps: ['Stop the stale copy'],
      username: user.username,
      run: async (ctx) => {
        await ctx.step('Stop the stale copy', async () => {
          const node = this.replicas.node(r.targetSiteId);
          await node.stopVm(r.vmName, { graceMs: 30_000 });
          ctx.log(
            `VM ${r.vmName} on ${stale} is off; the copy on ${this.replicas.siteName(r.sourceSiteId)} keeps running`,
          );
        });
        this.db.update(replicas).set({ conflict: null, lastError: null }).where(eq(replicas.id, id)).run();
      },
    });
  }

  /**
   * What a full resync would do: the replica's datasets that exist are kept aside as
   * `<dataset>-diverged-<time>`, then a full stream from the master replaces them. The way back
   * when no common snapshot remains (pruned or destroyed by hand), and a repair for a damaged replica.
   * A replica whose VM's master moved (a sibling failed over) is re-pointed to the new master first.
   */
  async resyncPlan(id: number) {
    const r = this.replicas.row(id);
    if (r.operation)
      throw new AppError(
        'PRECONDITION_FAILED',
        `a ${r.operation.kind} of this replica is unfinished (task #${r.operation.taskId}); resume it from its task page`,
      );
    if (r.state === 'new')
      throw new AppError('PRECONDITION_FAILED', 'the initial sync has not completed yet; nothing to resync');
    let repoint: ResyncParams['repoint'] = null;
    if (r.conflict?.kind === 'master-moved') {
      const moved = await movedMaster(this.db, this.replicas, r);
      if (!moved.datasets)
        throw new AppError(
          'PRECONDITION_FAILED',
          `replica ${r.name} cannot be resynced from the VM's new master now: ${moved.blocked.join('; ')}`,
        );
      repoint = {
        fromSiteId: r.sourceSiteId,
        toSiteId: moved.toSiteId,
        datasets: moved.datasets,
        oldSources: r.datasets.map((d) => d.source),
      };
    }
    const sourceSiteId = repoint?.toSiteId ?? r.sourceSiteId;
    const master = this.replicas.node(sourceSiteId);
    const target = this.replicas.node(r.targetSiteId);
    const at = stamp(this.clock.now());
    const datasets = await Promise.all(
      (repoint?.datasets ?? r.datasets).map(async (d) => {
        const [m, t] = await Promise.all([
          master.zfs.listSnapshots(d.source),
          target.zfs.listSnapshots(d.target).then(
            (x) => x,
            (e) => (AppError.is(e, 'NOT_FOUND') ? null : Promise.reject(e)),
          ),
        ]);
        const common = t ? latestCommon(m[d.source] ?? [], t[d.target] ?? []) : null;
        return {
          dataset: d.target,
          exists: t !== null,
          commonSnapshot: common?.name ?? null,
          keepAs: t ? `${d.target}-diverged-${at}` : null,
        };
      }),
    );
    const vmOnTarget = await target.getVmState(r.vmName);
    return {
      replicaId: id,
      vmName: r.vmName,
      targetSite: this.replicas.siteName(r.targetSiteId),
      masterSite: this.replicas.siteName(sourceSiteId),
      oldMasterSite: repoint ? this.replicas.siteName(repoint.fromSiteId) : null,
      stamp: at,
      datasets,
      vmOnTarget,
      repoint,
    };
  }

  async fullResync(id: number, opts: { confirm: string }, user: SessionUser) {
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName)
      throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    const plan = await this.resyncPlan(id);
    const params: ResyncParams = {
      replicaId: id,
      vmName: r.vmName,
      stamp: plan.stamp,
      keep: plan.datasets.filter((d) => d.keepAs).map((d) => ({ dataset: d.dataset, keepAs: d.keepAs! })),
      repoint: plan.repoint,
    };
    const task = this.tasks.startDurable({
      name: `Full resync of ${r.vmName} to ${plan.targetSite}${plan.repoint ? ` from ${plan.masterSite}` : ''}`,
      kind: 'replica.resync',
      target: replicaLock(id),
      locks: [
        vmLock(r.targetSiteId, r.vmName),
        vmLock(r.sourceSiteId, r.vmName),
        ...(plan.repoint ? [vmLock(plan.repoint.toSiteId, r.vmName)] : []),
      ],
      params,
      steps: [
        'Stop the VM on the replica node',
        'Keep the replica data aside',
        ...(plan.repoint ? ['Re-point to the new master'] : []),
        'Snapshot on the master',
        'Transfer to the replica',
        'Protect and prune',
        'Resume replication',
      ],
      username: user.username,
    });
    this.#begin(id, 'resync', task.id, this.clock.now());
    return task;
  }

  /** Stores a reinit's or resync's intent on the replica: no sync touches it until the task ends. */
  #begin(id: number, kind: 'reinit' | 'resync', taskId: number, now: number) {
    this.db
      .update(replicas)
      .set({
        state: 'reinit-running',
        operation: { kind, taskId, startedAt: now },
        nextSyncAt: null,
        updatedAt: new Date(now),
      })
      .where(eq(replicas.id, id))
      .run();
  }

  /** The last step of a reinit or resync: replication runs again, in the replica's current direction. */
  #resumeReplication(ctx: TaskContext, id: number) {
    return ctx.step('Resume replication', () => {
      this.db
        .update(replicas)
        .set({
          enabled: true,
          state: 'idle',
          operation: null,
          stopOldMasterPending: false,
          fenceSiteId: null,
          updatedAt: new Date(this.clock.now()),
        })
        .where(eq(replicas.id, id))
        .run();
    });
  }

  async #resync(ctx: TaskContext, p: ResyncParams) {
    const r = this.replicas.row(p.replicaId);
    const target = this.replicas.node(r.targetSiteId);
    await ctx.step('Stop the VM on the replica node', async () => {
      const st = await target.getVmState(p.vmName);
      if (st && st !== 'stopped') await target.stopVm(p.vmName, { graceMs: 10_000 });
    });
    await ctx.step('Keep the replica data aside', async () => {
      const exists = (ds: string) =>
        target.zfs.listDatasets(ds).then(
          () => true,
          (e) => (AppError.is(e, 'NOT_FOUND') ? false : Promise.reject(e)),
        );
      for (const k of p.keep) {
        if (!(await exists(k.keepAs)) && (await exists(k.dataset)))
          await target.zfs.renameDataset(k.dataset, k.keepAs);
        await target.zfs.releaseHolds(k.keepAs, holdTag(r.name));
        ctx.log(`${k.dataset}: kept aside as ${k.keepAs}; delete it when no longer needed`, 'warn');
      }
    });
    const repoint = p.repoint;
    if (repoint)
      await ctx.step('Re-point to the new master', () =>
        switchSource(this.db, this.replicas, this.clock, ctx, {
          replicaId: p.replicaId,
          replicaName: r.name,
          ...repoint,
        }),
      );
    const sync = await this.replicas.runSync(ctx, p.replicaId, {
      keepState: true,
      snapshot: `tandem-${r.name}-${p.stamp}`,
    });
    await this.#resumeReplication(ctx, p.replicaId);
    return { kept: p.keep.map((k) => k.keepAs), snapshot: sync.snapshot };
  }

  /** What the old master wrote after the last common snapshot: shown before reinit discards it. */
  async divergence(id: number) {
    const r = this.replicas.row(id);
    if (r.state !== 'reinit-required')
      throw new AppError('PRECONDITION_FAILED', 'only a replica that was failed over needs a reinit');
    const master = this.replicas.node(r.sourceSiteId);
    const old = this.replicas.node(r.targetSiteId);
    return Promise.all(
      r.datasets.map(async (d) => {
        const [m, o] = await Promise.all([
          master.zfs.listSnapshots(d.source),
          old.zfs.listSnapshots(d.target),
        ]);
        const oldSnaps = o[d.target] ?? [];
        const shared = latestCommon(m[d.source] ?? [], oldSnaps);
        if (!shared)
          throw new AppError(
            'PRECONDITION_FAILED',
            `${d.target} has no snapshot in common with ${d.source}; a full resync is needed`,
          );
        // Transaction groups are per pool: order the old master's snapshots by its own list, found by guid.
        const at = oldSnaps.findIndex((s) => s.guid === shared.guid);
        const common = oldSnaps[at]!;
        const after = oldSnaps.slice(at + 1).map((s) => s.name);
        const written = await old.zfs.changedSince(d.target, common.name);
        return {
          dataset: d.target,
          commonSnapshot: common.name,
          commonAt: common.creation * 1000,
          snapshotsAfter: after,
          writtenBytes: written.bytes,
          writtenMaxBytes: written.bytes,
          exact: true,
        };
      }),
    );
  }

  /** Turns the old master into the new replica, keeping its diverged state for inspection. */
  async reinit(id: number, opts: { confirm: string }, user: SessionUser) {
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName)
      throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    if (r.operation)
      throw new AppError(
        'PRECONDITION_FAILED',
        `a ${r.operation.kind} of this replica is unfinished (task #${r.operation.taskId}); resume it from its task page`,
      );
    const div = await this.divergence(id);
    const now = this.clock.now();
    const params: ReinitParams = {
      replicaId: id,
      vmName: r.vmName,
      oldSiteId: r.targetSiteId,
      stamp: stamp(now),
      divergence: div,
    };
    const task = this.tasks.startDurable({
      name: `Reinit ${r.vmName} on ${this.replicas.get(id).targetSite} as the new replica`,
      kind: 'replica.reinit',
      target: replicaLock(id),
      locks: [vmLock(r.targetSiteId, r.vmName), vmLock(r.sourceSiteId, r.vmName)],
      params,
      steps: [
        'Stop the old master VM',
        'Keep the diverged state',
        'Snapshot on the master',
        'Transfer to the replica',
        'Protect and prune',
        'Resume replication',
      ],
      username: user.username,
    });
    this.#begin(id, 'reinit', task.id, now);
    return task;
  }

  async #reinit(ctx: TaskContext, p: ReinitParams) {
    const r = this.replicas.row(p.replicaId);
    const old = this.replicas.node(p.oldSiteId);
    await ctx.step('Stop the old master VM', () => old.stopVm(p.vmName, { graceMs: 10_000 }));
    const kept = await ctx.step('Keep the diverged state', async () => {
      const out: string[] = [];
      for (const d of p.divergence) {
        const ds = r.datasets.find((x) => x.target === d.dataset)!;
        if (d.snapshotsAfter.length === 0 && d.writtenMaxBytes === 0) {
          await old.zfs.rollback(ds.target, d.commonSnapshot);
          await old.zfs.setReadonly(ds.target, true);
          ctx.log(`${ds.target}: nothing written after ${d.commonSnapshot}`);
          continue;
        }
        const keep = `${ds.target}-diverged-${p.stamp}`;
        await keepDiverged(old, ds, d.commonSnapshot, keep, holdTag(r.name));
        out.push(keep);
        ctx.log(
          `${ds.target}: diverged state kept as ${keep} (about ${d.writtenBytes} bytes written after ${d.commonSnapshot}); delete it when no longer needed`,
          'warn',
        );
      }
      return out;
    });
    const sync = await this.replicas.runSync(ctx, p.replicaId, {
      keepState: true,
      snapshot: `tandem-${r.name}-${p.stamp}`,
    });
    await this.#resumeReplication(ctx, p.replicaId);
    return { kept, snapshot: sync.snapshot };
  }
}

/**
 * Keeps the diverged data of `d.target` as `keep` and leaves `d.target` at `common`, ready for an
 * incremental receive: the dataset is renamed out of the replication tree with all its history,
 * and `common` is copied back under the old name by a local full send (its guid is kept). No clone
 * ties the two, so the kept data never blocks a later `recv -F` or the pruning of `common`.
 */
async function keepDiverged(node: NodeAdapter, d: ReplicaDataset, common: string, keep: string, tag: string) {
  // Each part checks what is already done, so that a resumed reinit repeats none of it.
  const exists = (ds: string) =>
    node.zfs.listDatasets(ds).then(
      (l) => l[0] ?? null,
      (e) => (AppError.is(e, 'NOT_FOUND') ? null : Promise.reject(e)),
    );
  if (!(await exists(keep))) await node.zfs.renameDataset(d.target, keep);
  // The kept copy is the operator's to delete: no replication hold stays on it.
  await node.zfs.releaseHolds(keep, tag);
  if (!(await exists(d.target))) await node.zfs.copySnapshot(keep, common, d.target);
  await node.zfs.setReadonly(d.target, true);
}
