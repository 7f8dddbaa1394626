import { eq } from 'drizzle-orm';
import type { NodeAdapter } from '../../adapters/node/types';
import type { Db } from '../../db/client';
import { replicas, type ReplicaDataset, type ReplicaRow } from '../../db/schema';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../clock';
import { AppError, errorMessage } from '../errors';
import { diskPath, latestCommon } from './rules';
import { replicaLock, vmLock, type ReplicaService } from './service';

export interface Precheck {
  id: string;
  label: string;
  status: 'pass' | 'warn' | 'block';
  message: string;
  /** A block the operator may override with force. */
  overridable?: boolean;
}

export interface FailoverPlan {
  replicaId: number;
  vmName: string;
  mode: 'planned' | 'forced';
  checks: Precheck[];
  canProceed: boolean;
  /** Time of the recovery point the VM would start from (planned: now, after a final sync). */
  recoveryPointAt: number | null;
  /** Writes that would be lost, in seconds (0 for planned). */
  dataLossWindowSec: number | null;
  steps: string[];
}

const PLANNED_STEPS = ['Stop the master VM', 'Snapshot on the master', 'Transfer to the replica', 'Protect and prune', 'Promote the replica', 'Define the VM on the replica node', 'Start the VM', 'Mark the old master for reinit'];
const FORCED_STEPS = ['Promote from the last synced snapshot', 'Define the VM on the replica node', 'Start the VM', 'Mark the old master for reinit'];

async function reach<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: string }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

/** Failover and reinit of VM replicas, as tasks the wizards start and watch. */
export class ReplicaFailover {
  constructor(
    private readonly db: Db,
    private readonly replicas: ReplicaService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
  ) {}

  async plan(id: number, opts: { force?: boolean } = {}): Promise<FailoverPlan> {
    const r = this.replicas.row(id);
    const checks: Precheck[] = [];
    const add = (c: Precheck) => checks.push(c);
    if (r.state === 'reinit-required') add({ id: 'state', label: 'Replica state', status: 'block', message: 'this replica already took over; reinitialise the old master first' });
    const target = this.replicas.node(r.targetSiteId);
    const t = await reach(target.probe());
    add(t.ok ? { id: 'replica-node', label: 'Replica node reachable', status: 'pass', message: `${t.value.hostname} answers` } : { id: 'replica-node', label: 'Replica node reachable', status: 'block', message: t.error });
    const source = this.replicas.node(r.sourceSiteId);
    const s = await reach(source.getVmState(r.vmName));
    const masterUp = s.ok;
    add(
      masterUp
        ? { id: 'master-node', label: 'Master node reachable', status: 'pass', message: `VM ${r.vmName} is ${s.value ?? 'not defined'} there: planned failover (stop, final sync, switch)` }
        : { id: 'master-node', label: 'Master node reachable', status: 'warn', message: `unreachable (${s.error}): forced failover from the last synced snapshot` },
    );
    const mode = masterUp && !opts.force ? 'planned' : 'forced';
    if (!r.lastSyncAt || !r.lastSnapshot) {
      add({ id: 'last-sync', label: 'Last sync', status: 'block', message: 'the replica has never completed a sync; there is nothing to fail over to' });
    } else {
      const age = Math.round((this.clock.now() - r.lastSyncAt.getTime()) / 1000);
      const late = age > 2 * r.sleepTimeSec + 300;
      add({ id: 'last-sync', label: 'Last sync', status: late ? 'warn' : 'pass', message: `${new Date(r.lastSyncAt).toISOString()} (${age} s ago)${late ? ' — older than expected' : ''}` });
    }
    if (!r.vmDefinition && mode === 'forced') add({ id: 'definition', label: 'VM definition', status: 'block', message: 'no stored definition of the VM (it is saved at each sync)' });
    const busy = [replicaLock(id), vmLock(r.sourceSiteId, r.vmName)].map((l) => this.tasks.holder(l)).find(Boolean);
    if (busy) {
      add({ id: 'tasks', label: 'Pending tasks', status: opts.force ? 'warn' : 'block', message: `task #${busy.id} "${busy.name}" is ${busy.state}${opts.force ? '; force cancels it first' : ''}`, overridable: true });
    } else add({ id: 'tasks', label: 'Pending tasks', status: 'pass', message: 'none' });
    if (t.ok) {
      const cap = await reach(target.capacity());
      const vms = await reach(target.listVms());
      if (cap.ok && vms.ok) {
        const used = vms.value.filter((v) => v.state !== 'stopped' && v.name !== r.vmName);
        const freeCpu = cap.value.cpus - used.reduce((a, v) => a + v.vcpus, 0);
        const freeMem = cap.value.memoryMiB - used.reduce((a, v) => a + v.memoryMiB, 0);
        const ok = freeCpu >= r.vcpus && freeMem >= r.memoryMiB;
        add({ id: 'resources', label: 'Resources on the replica node', status: ok ? 'pass' : 'warn', message: `${freeCpu} vCPUs and ${freeMem} MiB free; the VM needs ${r.vcpus} and ${r.memoryMiB} MiB` });
      }
      const defined = await reach(target.getVmState(r.vmName));
      if (defined.ok && defined.value && defined.value !== 'stopped') add({ id: 'target-vm', label: 'VM on the replica node', status: 'block', message: `a VM named ${r.vmName} is already ${defined.value} on the replica node` });
    }
    const canProceed = !checks.some((c) => c.status === 'block');
    return {
      replicaId: id,
      vmName: r.vmName,
      mode,
      checks,
      canProceed,
      recoveryPointAt: mode === 'planned' ? this.clock.now() : (r.lastSyncAt?.getTime() ?? null),
      dataLossWindowSec: mode === 'planned' ? 0 : r.lastSyncAt ? Math.round((this.clock.now() - r.lastSyncAt.getTime()) / 1000) : null,
      steps: mode === 'planned' ? PLANNED_STEPS : FORCED_STEPS,
    };
  }

  /** Runs the failover the operator confirmed by typing the VM name. */
  async failover(id: number, opts: { confirm: string; force?: boolean }, user: SessionUser) {
    const plan = await this.plan(id, { force: opts.force });
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName) throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    if (!plan.canProceed) throw new AppError('PRECONDITION_FAILED', plan.checks.filter((c) => c.status === 'block').map((c) => `${c.label}: ${c.message}`).join('; '));
    if (opts.force) {
      const busy = this.tasks.holder(replicaLock(id));
      if (busy) {
        this.tasks.cancel(busy.id, user.username);
        await this.tasks.wait(busy.id);
      }
    }
    return this.tasks.start({
      name: `${plan.mode === 'planned' ? 'Planned' : 'Forced'} failover of ${r.vmName} to ${this.replicas.get(id).targetSite}`,
      kind: 'replica.failover',
      target: replicaLock(id),
      locks: [vmLock(r.sourceSiteId, r.vmName), vmLock(r.targetSiteId, r.vmName)],
      params: { replicaId: id, mode: plan.mode, dataLossWindowSec: plan.dataLossWindowSec, recoveryPointAt: plan.recoveryPointAt },
      steps: plan.steps,
      username: user.username,
      run: (ctx) => (plan.mode === 'planned' ? this.#planned(ctx, id) : this.#forced(ctx, id)),
    });
  }

  async #planned(ctx: TaskContext, id: number) {
    const r = this.replicas.row(id);
    const source = this.replicas.node(r.sourceSiteId);
    await ctx.step('Stop the master VM', () => source.stopVm(r.vmName));
    // The final incremental sync while the VM is stopped: nothing is lost.
    const sync = await this.replicas.runSync(ctx, id);
    await this.#switch(ctx, this.replicas.row(id), sync.snapshot, 'Promote the replica', false);
    return { mode: 'planned', recoveryPoint: sync.snapshot, dataLossWindowSec: 0 };
  }

  async #forced(ctx: TaskContext, id: number) {
    const r = this.replicas.row(id);
    const lost = r.lastSyncAt ? Math.round((this.clock.now() - r.lastSyncAt.getTime()) / 1000) : null;
    ctx.log(`forced failover from ${r.lastSnapshot} taken ${r.lastSyncAt?.toISOString()}; writes after it on the master are not on the replica (${lost} s)`, 'warn');
    await this.#switch(ctx, r, r.lastSnapshot!, 'Promote from the last synced snapshot', true);
    return { mode: 'forced', recoveryPoint: r.lastSnapshot, dataLossWindowSec: lost };
  }

  async #switch(ctx: TaskContext, r: ReplicaRow, snapshot: string, promoteStep: string, forced: boolean) {
    const target = this.replicas.node(r.targetSiteId);
    const paths: { from: string; to: string }[] = [];
    await ctx.step(promoteStep, async () => {
      for (const d of r.datasets) {
        if (forced) await target.rollback(d.target, snapshot);
        await target.setReadonly(d.target, false);
        const [info] = await target.listDatasets(d.target);
        const from = r.vmDefinition?.disks.find((x) => x.device === d.device)?.path;
        if (!from) throw new AppError('PRECONDITION_FAILED', `the stored VM definition has no disk ${d.device}`);
        paths.push({ from, to: diskPath(d, d.target, info?.mountpoint ?? null) });
      }
    });
    await ctx.step('Define the VM on the replica node', async () => {
      const def = r.vmDefinition;
      if (!def) throw new AppError('PRECONDITION_FAILED', 'no stored VM definition');
      const rewritten = target.rewriteVm({ format: def.format, name: def.name, text: def.text }, { disks: paths });
      await target.defineVm(rewritten);
    });
    await ctx.step('Start the VM', async () => {
      const paused = r.vmDefinition?.state === 'paused';
      await target.startVm(r.vmName, { paused });
      ctx.log(`started ${r.vmName} on the replica node${paused ? ' (paused, as the master was)' : ''}`);
    });
    await ctx.step('Mark the old master for reinit', async () => {
      let stopPending = false;
      if (forced) {
        try {
          await this.replicas.node(r.sourceSiteId).stopVm(r.vmName, { graceMs: 10_000 });
          ctx.log('the old master answered and its VM is stopped');
        } catch (e) {
          stopPending = true;
          ctx.log(`the old master is unreachable (${errorMessage(e)}); its VM will be stopped as soon as its node answers`, 'warn');
        }
      }
      this.db
        .update(replicas)
        .set({
          sourceSiteId: r.targetSiteId,
          targetSiteId: r.sourceSiteId,
          datasets: r.datasets.map((d) => ({ ...d, source: d.target, target: d.source })),
          state: 'reinit-required',
          enabled: false,
          stopOldMasterPending: stopPending,
          nextSyncAt: null,
          updatedAt: new Date(this.clock.now()),
        })
        .where(eq(replicas.id, r.id))
        .run();
    });
  }

  /** What the old master wrote after the last common snapshot: shown before reinit discards it. */
  async divergence(id: number) {
    const r = this.replicas.row(id);
    if (r.state !== 'reinit-required') throw new AppError('PRECONDITION_FAILED', 'only a replica that was failed over needs a reinit');
    const master = this.replicas.node(r.sourceSiteId);
    const old = this.replicas.node(r.targetSiteId);
    return Promise.all(
      r.datasets.map(async (d) => {
        const [m, o] = await Promise.all([master.listSnapshots(d.source), old.listSnapshots(d.target)]);
        const oldSnaps = o[d.target] ?? [];
        const common = latestCommon(m[d.source] ?? [], oldSnaps);
        if (!common) throw new AppError('PRECONDITION_FAILED', `${d.target} has no snapshot in common with ${d.source}; a full resync is needed`);
        const after = oldSnaps.filter((s) => BigInt(s.createTxg) > BigInt(common.createTxg)).map((s) => s.name);
        const written = await old.estimateWritten(d.target, common.name);
        return { dataset: d.target, commonSnapshot: common.name, commonAt: common.creation * 1000, snapshotsAfter: after, writtenBytes: written.bytes, writtenMaxBytes: written.maxBytes, exact: written.exact };
      }),
    );
  }

  /** Turns the old master into the new replica, keeping its diverged state for inspection. */
  async reinit(id: number, opts: { confirm: string }, user: SessionUser) {
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName) throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    const div = await this.divergence(id);
    return this.tasks.start({
      name: `Reinit ${r.vmName} on ${this.replicas.get(id).targetSite} as the new replica`,
      kind: 'replica.reinit',
      target: replicaLock(id),
      locks: [vmLock(r.targetSiteId, r.vmName)],
      params: { replicaId: id, divergence: div },
      steps: ['Stop the old master VM', 'Keep the diverged state', 'Snapshot on the master', 'Transfer to the replica', 'Protect and prune', 'Resume replication'],
      username: user.username,
      run: async (ctx) => {
        const old = this.replicas.node(r.targetSiteId);
        await ctx.step('Stop the old master VM', () => old.stopVm(r.vmName, { graceMs: 10_000 }));
        const stamp = new Date(this.clock.now()).toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
        const kept: string[] = [];
        await ctx.step('Keep the diverged state', async () => {
          for (const d of div) {
            const ds = r.datasets.find((x) => x.target === d.dataset)!;
            if (d.snapshotsAfter.length === 0 && d.writtenMaxBytes === 0) {
              await old.rollback(ds.target, d.commonSnapshot);
              ctx.log(`${ds.target}: nothing written after ${d.commonSnapshot}`);
              continue;
            }
            const keep = `${ds.target}-diverged-${stamp}`;
            await keepDiverged(old, ds, d.commonSnapshot, keep);
            kept.push(keep);
            ctx.log(`${ds.target}: diverged state kept as ${keep} (about ${d.writtenBytes} bytes written after ${d.commonSnapshot}); delete it when no longer needed`, 'warn');
          }
        });
        this.db.update(replicas).set({ state: 'idle', stopOldMasterPending: false }).where(eq(replicas.id, id)).run();
        const sync = await this.replicas.runSync(ctx, id);
        await ctx.step('Resume replication', () => {
          this.db.update(replicas).set({ enabled: true, state: 'idle', updatedAt: new Date(this.clock.now()) }).where(eq(replicas.id, id)).run();
        });
        return { kept, snapshot: sync.snapshot };
      },
    });
  }
}

/**
 * Keeps the diverged data of `d.target` as `keep` and leaves `d.target` at `common`, ready for an
 * incremental receive: rename the dataset, clone its common snapshot back under the old name and
 * promote the clone (which takes the snapshots up to `common` with their guids). The kept dataset
 * becomes a clone of `d.target@common` holding everything written after it.
 */
async function keepDiverged(node: NodeAdapter, d: ReplicaDataset, common: string, keep: string) {
  await node.renameDataset(d.target, keep);
  await node.cloneSnapshot(keep, common, d.target);
  await node.promoteDataset(d.target);
  await node.setReadonly(d.target, true);
}
