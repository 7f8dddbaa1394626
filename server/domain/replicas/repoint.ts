import { and, eq, ne } from 'drizzle-orm';
import type { SnapshotInfo, SourceSpec } from '../../adapters/node/types';
import type { Db } from '../../db/client';
import {
  replicas,
  type ReplicaDataset,
  type ReplicaRow,
  type TaskRow,
  type TaskStepRow,
} from '../../db/schema';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../../core/clock';
import { withTimeout } from '../deadline';
import { AppError, errorMessage } from '../../core/errors';
import { parseSnapshotName, receiveRefusal, repointBase, repointBlocked, snapshotName } from './rules';
import { holdTag, replicaLock, vmLock, type ReplicaService } from './service';

/** A node's answer within this time, or the plan says it does not answer. */
const CALL_MS = 8_000;

const BRIDGE = 'Bring the common snapshot to the replica';
const SWITCH = 'Switch to the new master';
const ROLLBACK = 'Roll back: leave the replica on the old master';

/** Where a replica whose VM's master moved would pull from, or why it cannot be re-pointed now. */
export interface MovedMaster {
  blocked: string[];
  fromSiteId: number;
  toSiteId: number;
  /** The replica's disks with their datasets on the new master as sources (null when blocked). */
  datasets: ReplicaDataset[] | null;
}

export interface RepointDisk {
  device: string;
  /** The disk's dataset on the old master (the replica's source until now). */
  oldSource: string;
  /** The disk's dataset on the new master. */
  source: string;
  /** The replica's dataset on its target node (unchanged). */
  target: string;
  /** The snapshot the new master and the replica share after the re-point: the next sync's base. */
  common: string | null;
  /** `direct`: the replica has it; `old-master`: an incremental stream from the old master brings it (from `from`). */
  via: 'direct' | 'old-master' | null;
  from: string | null;
  /** Why this disk cannot be re-pointed. */
  problem: string | null;
}

export interface RepointPlan {
  replicaId: number;
  vmName: string;
  replica: string;
  oldMaster: string;
  newMaster: string;
  targetSite: string;
  /** Reasons that concern the replica as a whole (an operation in progress, the VM moved again…). */
  blocked: string[];
  disks: RepointDisk[];
  canProceed: boolean;
  steps: string[];
}

/** What a re-point task stores: enough to resume it after a crash. */
export interface RepointParams extends Record<string, unknown> {
  replicaId: number;
  vmName: string;
  replicaName: string;
  fromSiteId: number;
  toSiteId: number;
  targetSiteId: number;
  /** The replica's datasets with the new master's as sources. */
  datasets: ReplicaDataset[];
  disks: {
    device: string;
    oldSource: string;
    source: string;
    target: string;
    common: string;
    from: string | null;
  }[];
  /** The first snapshot taken on the new master (chosen up front, so that a resumed sync finds it). */
  snapshot: string;
}

/**
 * Where the VM of a replica flagged `master-moved` runs now, and the replica's disks there (from
 * the VM's definition on the new master), or why the replica cannot follow it now.
 */
export async function movedMaster(db: Db, service: ReplicaService, r: ReplicaRow): Promise<MovedMaster> {
  const toSiteId = r.conflict?.kind === 'master-moved' ? r.conflict.siteId : r.sourceSiteId;
  const out: MovedMaster = { blocked: [], fromSiteId: r.sourceSiteId, toSiteId, datasets: null };
  const by =
    r.conflict?.kind === 'master-moved'
      ? (db.select().from(replicas).where(eq(replicas.id, r.conflict.byReplicaId)).get() ?? null)
      : null;
  const newMaster = service.siteName(toSiteId);
  out.blocked = repointBlocked({ replica: r, by, newMaster });
  if (out.blocked.length) return out;
  if (toSiteId === r.targetSiteId)
    out.blocked.push(`the VM now runs on ${newMaster}, this replica's own target; delete the replica`);
  const others = db
    .select()
    .from(replicas)
    .where(and(eq(replicas.vmName, r.vmName), eq(replicas.sourceSiteId, toSiteId), ne(replicas.id, r.id)))
    .all();
  const same = others.find((o) => o.targetSiteId === r.targetSiteId || o.name === r.name);
  if (same)
    out.blocked.push(
      `replica ${same.name} of ${r.vmName} already pulls from ${newMaster}${same.targetSiteId === r.targetSiteId ? ` to ${service.siteName(r.targetSiteId)}` : ' under the same name'}; delete one of the two`,
    );
  if (out.blocked.length) return out;
  let vm;
  try {
    vm = await withTimeout(service.node(toSiteId).getVm(r.vmName), CALL_MS, newMaster);
  } catch (e) {
    out.blocked.push(`the new master ${newMaster} does not answer: ${errorMessage(e)}`);
    return out;
  }
  if (!vm) {
    out.blocked.push(`VM ${r.vmName} is not defined on the new master ${newMaster}`);
    return out;
  }
  const datasets: ReplicaDataset[] = [];
  for (const d of r.datasets) {
    const disk = vm.disks.find((x) => x.device === d.device);
    if (!disk?.dataset)
      out.blocked.push(`VM ${r.vmName} on ${newMaster} has no disk ${d.device} on a ZFS dataset`);
    else datasets.push({ ...d, source: disk.dataset });
  }
  if (!out.blocked.length) out.datasets = datasets;
  return out;
}

/**
 * The switch itself: the replica's row pulls from the new master from now on. On the old master
 * only this replica's holds are released; its snapshots stay (that node is the stale copy of
 * the VM, which the failed-over replica's reinit shows and keeps).
 */
export async function switchSource(
  db: Db,
  service: ReplicaService,
  clock: Clock,
  ctx: TaskContext,
  p: {
    replicaId: number;
    replicaName: string;
    fromSiteId: number;
    toSiteId: number;
    datasets: ReplicaDataset[];
    oldSources: string[];
  },
): Promise<void> {
  const tag = holdTag(p.replicaName);
  try {
    const old = service.node(p.fromSiteId);
    for (const ds of p.oldSources) {
      const released = await withTimeout(
        old.zfs.releaseHolds(ds, tag),
        60_000,
        service.siteName(p.fromSiteId),
      ).catch((e) => (AppError.is(e, 'NOT_FOUND') ? [] : Promise.reject(e)));
      if (released.length)
        ctx.log(
          `${ds} on ${service.siteName(p.fromSiteId)}: released ${tag} from ${released.join(', ')} (the snapshots stay)`,
        );
    }
  } catch (e) {
    ctx.log(
      `the holds ${tag} on the old master ${service.siteName(p.fromSiteId)} could not be released (${errorMessage(e)}); release them there by hand`,
      'warn',
    );
  }
  db.update(replicas)
    .set({
      sourceSiteId: p.toSiteId,
      datasets: p.datasets,
      conflict: null,
      lastError: null,
      updatedAt: new Date(clock.now()),
    })
    .where(eq(replicas.id, p.replicaId))
    .run();
  ctx.log(`replica ${p.replicaName} now pulls from ${service.siteName(p.toSiteId)}`);
}

/**
 * Re-point: a replica whose VM was failed over by a sibling replica pulls from the VM's new
 * master, incrementally from a snapshot both have (brought from the old master when needed),
 * as a durable task that resumes from its first unfinished step and can be rolled back until the
 * switch.
 */
export class ReplicaRepoint {
  constructor(
    private readonly db: Db,
    private readonly replicas: ReplicaService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
  ) {
    tasks.define<RepointParams>('replica.repoint', {
      run: (ctx, p) => this.#run(ctx, p),
      confirmText: (p) => p.vmName,
      resumeBlocked: (task, _steps, p) => this.replicas.notInOperation(task, p.replicaId),
      rollback: {
        steps: () => [ROLLBACK],
        blocked: (task, steps, p) => this.replicas.notInOperation(task, p.replicaId) ?? switchStarted(steps),
        run: (ctx, p) => this.#rollback(ctx, p),
      },
    });
  }

  async plan(id: number): Promise<RepointPlan> {
    return (await this.#plan(id)).plan;
  }

  async #plan(id: number): Promise<{ plan: RepointPlan; moved: MovedMaster }> {
    const r = this.replicas.row(id);
    const moved = await movedMaster(this.db, this.replicas, r);
    const names = {
      master: this.replicas.siteName(moved.toSiteId),
      target: this.replicas.siteName(r.targetSiteId),
      old: this.replicas.siteName(r.sourceSiteId),
    };
    const head = {
      replicaId: id,
      vmName: r.vmName,
      replica: r.name,
      oldMaster: names.old,
      newMaster: names.master,
      targetSite: names.target,
    };
    if (!moved.datasets)
      return { plan: { ...head, blocked: moved.blocked, disks: [], canProceed: false, steps: [] }, moved };
    const master = this.replicas.node(moved.toSiteId);
    const target = this.replicas.node(r.targetSiteId);
    const old = this.replicas.node(r.sourceSiteId);
    const snaps = (p: Promise<Record<string, SnapshotInfo[]>>, ds: string, what: string) =>
      withTimeout(p, CALL_MS, what).then((m) => m[ds] ?? []);
    const disks = await Promise.all(
      moved.datasets.map(async (d, i): Promise<RepointDisk> => {
        const oldSource = r.datasets[i]!.source;
        const [m, t] = await Promise.all([
          snaps(master.zfs.listSnapshots(d.source), d.source, names.master),
          snaps(target.zfs.listSnapshots(d.target), d.target, names.target).catch((e) =>
            AppError.is(e, 'NOT_FOUND') ? null : Promise.reject(e),
          ),
        ]);
        let base = repointBase({ dataset: d.target, master: m, replica: t, old: [], names });
        if (base.via !== 'direct' && t) {
          // Only now is the old master asked: it may be the node that went away.
          const o = await snaps(old.zfs.listSnapshots(oldSource), oldSource, names.old).then(
            (list) => ({ list, error: undefined }),
            (e) => ({ list: null, error: errorMessage(e) }),
          );
          base = repointBase({
            dataset: d.target,
            master: m,
            replica: t,
            old: o.list,
            oldError: o.error,
            names,
          });
        }
        const row = { device: d.device, oldSource, source: d.source, target: d.target };
        if (base.via === null) return { ...row, common: null, via: null, from: null, problem: base.problem };
        return {
          ...row,
          common: base.common.name,
          via: base.via,
          from: base.via === 'old-master' ? base.from.name : null,
          problem: null,
        };
      }),
    );
    const canProceed = disks.every((d) => d.via);
    const steps = [
      ...(disks.some((d) => d.via === 'old-master') ? [BRIDGE] : []),
      SWITCH,
      'Snapshot on the master',
      'Transfer to the replica',
      'Protect and prune',
      'Resume replication',
    ];
    return { plan: { ...head, blocked: [], disks, canProceed, steps: canProceed ? steps : [] }, moved };
  }

  /** Starts the re-point the operator confirmed by typing the VM name. */
  async repoint(id: number, opts: { confirm: string }, user: SessionUser): Promise<TaskRow> {
    const r = this.replicas.row(id);
    if (opts.confirm !== r.vmName)
      throw AppError.invalid('confirm', `type the VM name ${r.vmName} to confirm`);
    const { plan, moved } = await this.#plan(id);
    if (plan.blocked.length)
      throw new AppError(
        'PRECONDITION_FAILED',
        `replica ${r.name} cannot be re-pointed now: ${plan.blocked.join('; ')}`,
      );
    if (!plan.canProceed)
      throw new AppError(
        'PRECONDITION_FAILED',
        `replica ${r.name} cannot be re-pointed to ${plan.newMaster}: ${plan.disks
          .filter((d) => d.problem)
          .map((d) => d.problem)
          .join(
            '; ',
          )}. Run a full resync (it re-points the replica to ${plan.newMaster} and sends every disk in full, keeping its current data on ${plan.targetSite} aside as -diverged- datasets), or delete the replica`,
      );
    const now = this.clock.now();
    const params: RepointParams = {
      replicaId: id,
      vmName: r.vmName,
      replicaName: r.name,
      fromSiteId: r.sourceSiteId,
      toSiteId: moved.toSiteId,
      targetSiteId: r.targetSiteId,
      datasets: moved.datasets!,
      disks: plan.disks.map((d) => ({
        device: d.device,
        oldSource: d.oldSource,
        source: d.source,
        target: d.target,
        common: d.common!,
        from: d.from,
      })),
      snapshot: snapshotName(r.name, now),
    };
    const task = this.tasks.startDurable({
      name: `Re-point ${r.name} of ${r.vmName} to ${plan.newMaster}`,
      kind: 'replica.repoint',
      target: replicaLock(id),
      locks: [
        vmLock(r.sourceSiteId, r.vmName),
        vmLock(moved.toSiteId, r.vmName),
        vmLock(r.targetSiteId, r.vmName),
      ],
      params,
      steps: plan.steps,
      username: user.username,
    });
    // The intent, before the first step runs: no sync touches the replica until the task ends.
    this.db
      .update(replicas)
      .set({
        state: 'reinit-running',
        operation: { kind: 'repoint', taskId: task.id, startedAt: now },
        nextSyncAt: null,
        updatedAt: new Date(now),
      })
      .where(eq(replicas.id, id))
      .run();
    return task;
  }

  async #run(ctx: TaskContext, p: RepointParams) {
    const tag = holdTag(p.replicaName);
    const master = this.replicas.node(p.toSiteId);
    const target = this.replicas.node(p.targetSiteId);
    const names = {
      master: this.replicas.siteName(p.toSiteId),
      target: this.replicas.siteName(p.targetSiteId),
      old: this.replicas.siteName(p.fromSiteId),
    };
    const bridged = p.disks.filter((d) => d.from);
    if (bridged.length) {
      await ctx.step(BRIDGE, async () => {
        const vms = await target.listVms();
        let source: SourceSpec | null = null;
        for (const d of bridged) {
          const want = ((await master.zfs.listSnapshots(d.source))[d.source] ?? []).find(
            (s) => s.name === d.common,
          );
          if (!want)
            throw new AppError(
              'PRECONDITION_FAILED',
              `${d.source} on ${names.master} no longer has ${d.common}`,
            );
          if (
            ((await target.zfs.listSnapshots(d.target))[d.target] ?? []).some((s) => s.guid === want.guid)
          ) {
            ctx.log(`${d.target} on ${names.target} already has ${d.common}`);
            continue;
          }
          const refusal = receiveRefusal({
            dataset: d.target,
            node: names.target,
            exists: true,
            readonly: await target.zfs.getReadonly(d.target),
            usedBy: vms
              .filter((v) => v.disks.some((k) => k.dataset === d.target))
              .map((v) => ({ vm: v.name, state: v.state })),
          });
          if (refusal) throw new AppError('PRECONDITION_FAILED', refusal);
          ctx.log(
            `${d.oldSource} on ${names.old} → ${d.target}: incremental from ${d.from} to ${d.common}, the snapshot ${names.master} started from (nothing changes on ${names.old})`,
          );
          source ??= await this.replicas.pullSource(p.fromSiteId, p.targetSiteId);
          await target.pull({
            source,
            sourceDataset: d.oldSource,
            fromSnapshot: d.from,
            toSnapshot: d.common,
            targetDataset: d.target,
            recursive: false,
            intermediates: false,
            bandwidthLimitBytesPerSec: this.replicas.row(p.replicaId).bandwidthLimit,
            signal: ctx.signal,
          });
        }
      });
    }
    await ctx.step(SWITCH, async () => {
      // The shared snapshot is the replication base until the first sync from the new master.
      for (const d of p.disks) {
        await Promise.all([
          master.zfs.holdSnapshot(d.source, d.common, tag),
          target.zfs.holdSnapshot(d.target, d.common, tag),
        ]);
        await target.zfs.releaseHolds(d.target, tag, d.common);
      }
      await switchSource(this.db, this.replicas, this.clock, ctx, {
        ...p,
        oldSources: p.disks.map((d) => d.oldSource),
      });
    });
    const sync = await this.replicas.runSync(ctx, p.replicaId, { keepState: true, snapshot: p.snapshot });
    await ctx.step('Resume replication', async () => {
      // A snapshot the re-point brought over is not the replica's own: it goes once the new base is held.
      for (const d of p.disks) {
        if (parseSnapshotName(p.replicaName, d.common) !== null || d.common === sync.snapshot) continue;
        await target.zfs.destroySnapshots(d.target, [d.common]).then(
          () =>
            ctx.log(
              `${d.target} on ${names.target}: removed ${d.common}, the base of the re-point (the replica continues from ${sync.snapshot})`,
            ),
          (e) =>
            ctx.log(
              `${d.target} on ${names.target}: ${d.common} could not be removed (${errorMessage(e)})`,
              'warn',
            ),
        );
      }
      const fresh = this.replicas.row(p.replicaId);
      this.db
        .update(replicas)
        .set({
          state: fresh.enabled ? 'idle' : 'paused',
          operation: null,
          updatedAt: new Date(this.clock.now()),
        })
        .where(eq(replicas.id, p.replicaId))
        .run();
    });
    return { from: names.old, to: names.master, snapshot: sync.snapshot, bytes: sync.bytes };
  }

  /** Before the switch nothing but a snapshot on the replica changed: the replica stays as it was. */
  async #rollback(ctx: TaskContext, p: RepointParams) {
    await ctx.step(ROLLBACK, () => {
      const r = this.replicas.row(p.replicaId);
      this.db
        .update(replicas)
        .set({
          state: r.enabled ? (r.lastSyncAt ? 'idle' : 'new') : 'paused',
          operation: null,
          updatedAt: new Date(this.clock.now()),
        })
        .where(eq(replicas.id, p.replicaId))
        .run();
      ctx.log(
        `replica ${p.replicaName} still pulls from the old master and stays paused until it is re-pointed, resynced or deleted`,
      );
    });
    return { rolledBack: true };
  }
}

/** Why a re-point can no longer be rolled back: its switch ran (or may have). */
function switchStarted(steps: TaskStepRow[]): string | null {
  const s = steps.find(
    (x) =>
      x.name === SWITCH &&
      (x.state === 'done' || (!!x.startedAt && ['running', 'failed', 'cancelled'].includes(x.state))),
  );
  if (!s) return null;
  return `the replica was switched to the new master ("${SWITCH}" ${s.state === 'done' ? 'done' : 'started'}); resume the re-point instead`;
}
