import crypto from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { newestRecoveryPoint } from '../../adapters/ceph/parse';
import type { NodeAdapter } from '../../adapters/node/types';
import type { Db } from '../../db/client';
import { planRunItems, planRuns, type PlanRunOptions } from '../../db/schema';
import type { TaskContext } from '../../tasks/engine';
import type { CephMirroring } from '../ceph/mirroring';
import type { Clock } from '../../core/clock';
import { startVmOnWritableDisks } from '../replicas/start-vm';
import { AppError, errorMessage } from '../../core/errors';
import type { Precheck } from '../replicas/failover';
import { diskPath, parseSnapshotName } from '../replicas/rules';
import type { ReplicaService } from '../replicas/service';
import type { SiteService } from '../sites';
import { cephCtime } from '../protection/format';
import { isTestCopy, testNames, type TestCreated } from './rules';

/** The part of a plan item a test needs. */
export interface TestItem {
  objectKey: string;
  kind: 'replica' | 'rbd';
  label: string;
  replicaId: number | null;
  protectedSiteId: number;
  recoverySiteId: number;
  pool: string | null;
  namespace: string | null;
  image: string | null;
}

export interface TestPrecheck {
  to: string;
  action: string;
  checks: Precheck[];
  /** Now − the recovery point the test would start from, seconds (null unknown). */
  ageSec: number | null;
}

/** The sub-steps of one object's test, in order. */
export function testSteps(item: { kind: 'replica' | 'rbd'; label: string }): string[] {
  return item.kind === 'replica'
    ? [`Test ${item.label}: clone the recovery point`, `Test ${item.label}: start the test VM`]
    : [`Test ${item.label}: copy the recovery points`];
}

export function cleanupStep(item: { label: string }): string {
  return `Clean up ${item.label}`;
}

/**
 * Test failover, non-disruptive: on the recovery side, the latest recovery point of each object
 * is cloned (ZFS: `zfs clone` of the last received snapshot, held on both nodes so that neither
 * the sync's pruning nor a receive removes it; RBD: a copy of the newest complete mirror
 * snapshot) under names unique to the run, and the VMs start from the clones with a new name and
 * UUID and their network removed or on an isolated network. Replication goes on. What a test
 * creates is recorded before it is created, so that its cleanup — also after a crash — destroys
 * exactly that and nothing else.
 */
export class PlanTests {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly replicas: ReplicaService,
    private readonly ceph: CephMirroring,
    private readonly sites: SiteService,
  ) {
    replicas.testHolds = (replicaId) => this.heldSnapshots(replicaId);
  }

  /** Snapshots of a replica that a test not yet cleaned up has cloned: its sync must keep them. */
  heldSnapshots(replicaId: number): string[] {
    const rows = this.db
      .select({ created: planRunItems.created })
      .from(planRunItems)
      .innerJoin(planRuns, eq(planRuns.id, planRunItems.runId))
      .where(and(eq(planRuns.kind, 'test'), isNull(planRuns.cleanedAt)))
      .all();
    return rows.flatMap((r) => {
      const c = r.created as TestCreated | null;
      return c?.kind === 'replica' && c.replicaId === replicaId && c.snapshot ? [c.snapshot] : [];
    });
  }

  /** The newest test run of an object (in a plan's test or on its own) whose cleanup has not finished. */
  uncleanedObject(objectKey: string): number | null {
    return (
      this.db
        .select({ id: planRuns.id })
        .from(planRunItems)
        .innerJoin(planRuns, eq(planRuns.id, planRunItems.runId))
        .where(
          and(eq(planRunItems.objectKey, objectKey), eq(planRuns.kind, 'test'), isNull(planRuns.cleanedAt)),
        )
        .orderBy(desc(planRuns.id))
        .get()?.id ?? null
    );
  }

  /** Test runs of a plan whose cleanup has not finished. */
  uncleaned(planId: number): number[] {
    return this.db
      .select({ id: planRuns.id })
      .from(planRuns)
      .where(and(eq(planRuns.planId, planId), eq(planRuns.kind, 'test'), isNull(planRuns.cleanedAt)))
      .all()
      .map((r) => r.id);
  }

  // ---------------------------------------------------------------- pre-checks

  async precheck(item: TestItem): Promise<TestPrecheck> {
    if (item.kind === 'replica') {
      const r = this.replicas.row(item.replicaId!);
      const to = this.sites.nameOf(r.targetSiteId);
      const checks: Precheck[] = [];
      if (r.state === 'reinit-required') {
        checks.push({
          id: 'state',
          label: 'Replica',
          status: 'block',
          message: `the VM was failed over to ${this.sites.nameOf(r.sourceSiteId)}; reprotect it first, then test`,
        });
        return { to, action: 'none', checks, ageSec: null };
      }
      if (!r.vmDefinition)
        checks.push({
          id: 'definition',
          label: 'VM definition',
          status: 'block',
          message: 'no stored definition of the VM yet (it is saved at each sync)',
        });
      let ageSec: number | null = null;
      try {
        const snap = await this.#recoveryPoint(
          this.replicas.node(r.targetSiteId),
          r.name,
          r.datasets.map((d) => d.target),
        );
        ageSec = Math.max(0, Math.round((this.clock.now() - snap.at) / 1000));
        checks.push({
          id: 'recovery-point',
          label: 'Recovery point',
          status: 'pass',
          message: `${snap.name} on ${to}`,
        });
      } catch (e) {
        checks.push({
          id: 'recovery-point',
          label: 'Recovery point',
          status: 'block',
          message: errorMessage(e),
        });
      }
      return {
        to,
        action: `clone ${r.datasets.length} disk(s) on ${to} and start ${r.vmName}-test-<run> there`,
        checks,
        ageSec,
      };
    }
    const to = this.sites.nameOf(item.recoverySiteId);
    try {
      const images = await this.#images(item);
      const points = await Promise.all(images.map((i) => this.#imagePoint(item, i)));
      const ages = points.map((p) =>
        p.at === null ? null : Math.max(0, Math.round((this.clock.now() - p.at) / 1000)),
      );
      return {
        to,
        action: `copy ${images.length} image(s) on ${to}`,
        checks: [
          {
            id: 'images',
            label: 'Recovery points',
            status: 'pass',
            message: `${images.length} non-primary image(s) with a complete mirror snapshot on ${to}`,
          },
        ],
        ageSec: ages.some((a) => a === null) ? null : Math.max(0, ...(ages as number[])),
      };
    } catch (e) {
      return {
        to,
        action: 'none',
        checks: [{ id: 'images', label: 'Recovery points', status: 'block', message: errorMessage(e) }],
        ageSec: null,
      };
    }
  }

  /** The newest snapshot of the replica that every one of its datasets on the node has. */
  async #recoveryPoint(
    node: NodeAdapter,
    replica: string,
    datasets: string[],
  ): Promise<{ name: string; at: number }> {
    const lists = await Promise.all(
      datasets.map(async (d) => ((await node.zfs.listSnapshots(d))[d] ?? []).map((s) => s.name)),
    );
    const common = (lists[0] ?? []).filter(
      (n) => parseSnapshotName(replica, n) !== null && lists.every((l) => l.includes(n)),
    );
    const name = common.sort((a, b) => parseSnapshotName(replica, a)! - parseSnapshotName(replica, b)!).pop();
    if (!name)
      throw new AppError(
        'PRECONDITION_FAILED',
        `no recovery point on the replica node yet: wait for the first sync`,
      );
    return { name, at: parseSnapshotName(replica, name)! };
  }

  /** The non-primary images of an RBD item on its recovery cluster (test copies left out). */
  async #images(item: TestItem): Promise<string[]> {
    const a = this.ceph.adapter(item.recoverySiteId);
    const list = (await a.listImages(item.pool!, item.namespace || undefined)).filter(
      (i) => i.id !== null && i.mirroring && !isTestCopy(i.name) && (!item.image || i.name === item.image),
    );
    if (item.image && !list.length)
      throw new AppError(
        'NOT_FOUND',
        `image ${item.image} is not mirrored on ${this.sites.nameOf(item.recoverySiteId)}`,
      );
    const primary = list.filter((i) => i.mirroring?.primary !== false).map((i) => i.name);
    if (primary.length)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${primary.slice(0, 3).join(', ')}${primary.length > 3 ? ` and ${primary.length - 3} more` : ''} ${primary.length === 1 ? 'is' : 'are'} primary on ${this.sites.nameOf(item.recoverySiteId)}: a test copies the non-primary side`,
      );
    if (!list.length)
      throw new AppError(
        'PRECONDITION_FAILED',
        `no mirrored image in ${item.pool}${item.namespace ? '/' + item.namespace : ''} on ${this.sites.nameOf(item.recoverySiteId)}`,
      );
    return list.map((i) => i.name);
  }

  async #imagePoint(item: TestItem, image: string): Promise<{ id: string; at: number | null }> {
    const snaps = await this.ceph
      .adapter(item.recoverySiteId)
      .listImageSnapshots(item.pool!, item.namespace ?? '', image);
    const p = newestRecoveryPoint(snaps);
    if (!p)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${image} has no complete mirror snapshot on ${this.sites.nameOf(item.recoverySiteId)} (journal-based mirroring, or the first copy is not done)`,
      );
    return { id: p.id, at: cephCtime(p.timestamp) };
  }

  // ---------------------------------------------------------------- the test

  /**
   * Tests one object in `runId`. `record` stores what will be created before it is; `current` is
   * what an interrupted attempt recorded. Returns the recovery point used and when the VM was up.
   */
  async test(
    ctx: TaskContext,
    runId: number,
    item: TestItem,
    options: PlanRunOptions,
    current: TestCreated | null,
    record: (c: TestCreated) => void,
  ): Promise<{ recoveryPointAt: number | null; startedAt: number | null }> {
    const names = testNames(runId);
    if (item.kind === 'rbd') {
      const [step] = testSteps(item);
      return ctx.step(step!, async () => {
        const a = this.ceph.adapter(item.recoverySiteId);
        const images = await this.#images(item);
        const ns = item.namespace ?? '';
        record({
          kind: 'rbd',
          siteId: item.recoverySiteId,
          pool: item.pool!,
          namespace: ns,
          copies: [
            ...new Set([...(current?.kind === 'rbd' ? current.copies : []), ...images.map(names.rbdCopy)]),
          ],
        });
        let oldest: number | null = null;
        let unknown = false;
        for (const image of images) {
          const p = await this.#imagePoint(item, image);
          const dest = names.rbdCopy(image);
          // A copy cut off by a crash is removed and made again.
          await a.removeTestCopy(item.pool!, ns, dest);
          const res = await a.createTestCopy(item.pool!, ns, image, p.id, dest);
          ctx.log(
            `${image}: copied mirror snapshot ${res.snapshotId} to ${dest} on ${this.sites.nameOf(item.recoverySiteId)} (${res.sizeBytes} bytes)`,
          );
          if (p.at === null) unknown = true;
          else oldest = oldest === null ? p.at : Math.min(oldest, p.at);
        }
        return { recoveryPointAt: unknown ? null : oldest, startedAt: null };
      });
    }
    const [cloneStep, startStep] = testSteps(item);
    const r = this.replicas.row(item.replicaId!);
    const node = this.replicas.node(r.targetSiteId);
    const master = this.replicas.node(r.sourceSiteId);
    const vm = names.vm(r.vmName);
    const point = await ctx.step(cloneStep!, async () => {
      const replicaDatasets = r.datasets.map((d) => d.target);
      const masterDatasets = r.datasets.map((d) => d.source);
      const created: TestCreated = {
        kind: 'replica',
        replicaId: r.id,
        siteId: r.targetSiteId,
        masterSiteId: r.sourceSiteId,
        tag: names.tag,
        snapshot: current?.kind === 'replica' ? current.snapshot : null,
        replicaDatasets,
        masterDatasets,
        clones: replicaDatasets.map(names.clone),
        vm,
      };
      record(created);
      // Held on the replica node first, then on the master: a receive never meets a clone whose
      // origin the master no longer has, and the sync's pruning keeps it (heldSnapshots).
      let snap = created.snapshot
        ? { name: created.snapshot, at: parseSnapshotName(r.name, created.snapshot)! }
        : null;
      for (let attempt = 0; ; attempt++) {
        if (!snap) {
          snap = await this.#recoveryPoint(node, r.name, replicaDatasets);
          created.snapshot = snap.name;
          record(created);
        }
        try {
          for (const d of replicaDatasets) await node.zfs.holdSnapshot(d, snap.name, names.tag);
          break;
        } catch (e) {
          // Pruned between the listing and the hold: the newest is taken again.
          if (attempt >= 2) throw e;
          ctx.log(
            `${snap.name} went before it was held (${errorMessage(e)}); taking the newest again`,
            'warn',
          );
          snap = null;
        }
      }
      try {
        for (const d of masterDatasets) await master.zfs.holdSnapshot(d, snap.name, names.tag);
      } catch (e) {
        ctx.log(
          `the master's copy of ${snap.name} could not be held on ${this.sites.nameOf(r.sourceSiteId)} (${errorMessage(e)}); the test goes on`,
          'warn',
        );
      }
      for (const [i, d] of replicaDatasets.entries()) {
        const clone = created.clones[i]!;
        const [existing] = await node.zfs
          .listDatasets(clone)
          .catch((e) => (AppError.is(e, 'NOT_FOUND') ? [] : Promise.reject(e)));
        if (existing && existing.origin !== `${d}@${snap.name}`)
          throw new AppError(
            'CONFLICT',
            `${clone} exists on ${this.sites.nameOf(r.targetSiteId)} and is not a clone of ${d}@${snap.name}; Tandem does not touch it`,
          );
        if (!existing) await node.zfs.cloneSnapshot(d, snap.name, clone);
      }
      ctx.log(
        `cloned ${snap.name} of ${replicaDatasets.length} disk(s) on ${this.sites.nameOf(r.targetSiteId)}: ${created.clones.join(', ')}`,
      );
      return { name: snap.name, at: snap.at };
    });
    const startedAt = await ctx.step(startStep!, async () => {
      const def = this.replicas.definitionToDefine(r.id);
      if (!def) throw new AppError('PRECONDITION_FAILED', 'no stored VM definition');
      const state = await node.getVmState(vm);
      if (state === null) {
        const disks: { from: string; to: string }[] = [];
        for (const d of r.datasets) {
          const clone = names.clone(d.target);
          const [info] = await node.zfs.listDatasets(clone);
          const from = r.vmDefinition?.disks.find((x) => x.device === d.device)?.path;
          if (!from)
            throw new AppError('PRECONDITION_FAILED', `the stored VM definition has no disk ${d.device}`);
          disks.push({ from, to: diskPath(d, clone, info?.mountpoint ?? null) });
        }
        await node.defineVm(
          node.rewriteVm(def, { disks, name: vm, uuid: crypto.randomUUID(), network: options.network }),
        );
      }
      // Started as the master runs: a paused master's VM starts paused (the lab's OS-less guests).
      const paused = r.vmDefinition?.state === 'paused';
      if (state !== 'running' && state !== 'paused') await startVmOnWritableDisks(node, vm, { paused });
      ctx.log(
        `started ${vm} on ${this.sites.nameOf(r.targetSiteId)}${paused ? ' (paused, as the master is)' : ''}, ${options.network.kind === 'none' ? 'without network interfaces' : `its interfaces on the isolated network ${options.network.network}`}`,
      );
      return this.clock.now();
    });
    return { recoveryPointAt: point.at, startedAt };
  }

  /** The node and VM name a test VM's readiness is checked on. */
  testVm(runId: number, item: TestItem): { node: NodeAdapter; siteId: number; vm: string; paused: boolean } {
    const r = this.replicas.row(item.replicaId!);
    return {
      node: this.replicas.node(r.targetSiteId),
      siteId: r.targetSiteId,
      vm: testNames(runId).vm(r.vmName),
      paused: r.vmDefinition?.state === 'paused',
    };
  }

  // ---------------------------------------------------------------- cleanup

  /**
   * Destroys what a test recorded for one object, and nothing else: the test VM (off, undefined),
   * the clones, the holds (the snapshots themselves stay: they are the replica's), the image
   * copies. Every part is idempotent: a cleanup cut off by a crash is simply run again.
   */
  async cleanup(ctx: TaskContext, c: TestCreated): Promise<void> {
    if (c.kind === 'rbd') {
      const a = this.ceph.adapter(c.siteId);
      for (const copy of c.copies) {
        await a.removeTestCopy(c.pool, c.namespace, copy);
        ctx.log(
          `removed ${c.pool}/${c.namespace ? c.namespace + '/' : ''}${copy} on ${this.sites.nameOf(c.siteId)}`,
        );
      }
      return;
    }
    const node = this.replicas.node(c.siteId);
    const state = await node.getVmState(c.vm);
    if (state !== null) {
      await node.stopVm(c.vm, { graceMs: 0 });
      await node.undefineVm(c.vm);
      ctx.log(`test VM ${c.vm} stopped and undefined on ${this.sites.nameOf(c.siteId)}`);
    }
    for (const clone of c.clones) {
      const [info] = await node.zfs
        .listDatasets(clone)
        .catch((e) => (AppError.is(e, 'NOT_FOUND') ? [] : Promise.reject(e)));
      if (!info) continue;
      if (!c.replicaDatasets.some((d) => info.origin?.startsWith(`${d}@`)))
        throw new AppError(
          'CONFLICT',
          `${clone} on ${this.sites.nameOf(c.siteId)} is not a clone of the replica (origin ${info.origin ?? 'none'}); Tandem leaves it alone`,
        );
      await node.zfs.destroyDataset(clone, { recursive: true });
      ctx.log(`destroyed ${clone} on ${this.sites.nameOf(c.siteId)}`);
    }
    for (const d of c.replicaDatasets)
      await node.zfs
        .releaseHolds(d, c.tag)
        .catch((e) => (AppError.is(e, 'NOT_FOUND') ? [] : Promise.reject(e)));
    try {
      const master = this.replicas.node(c.masterSiteId);
      for (const d of c.masterDatasets)
        await master.zfs
          .releaseHolds(d, c.tag)
          .catch((e) => (AppError.is(e, 'NOT_FOUND') ? [] : Promise.reject(e)));
    } catch (e) {
      // The snapshot is then pruned by the sync once its hold is gone; a master that does not
      // answer keeps it until the cleanup is run again.
      throw new AppError(
        'UNREACHABLE',
        `the hold ${c.tag} on ${this.sites.nameOf(c.masterSiteId)} could not be released (${errorMessage(e)}); run the cleanup again once the node answers`,
      );
    }
    ctx.log(`released the holds ${c.tag}${c.snapshot ? ` on ${c.snapshot}` : ''}`);
  }
}
