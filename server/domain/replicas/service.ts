import { and, desc, eq, or } from 'drizzle-orm';
import { hostKeyAliasFor, hostKeyFingerprint } from '../../adapters/node/known-hosts';
import type {
  HostPublicKey,
  NodeAdapter,
  SnapshotInfo,
  SourceSpec,
  VmDefinition,
} from '../../adapters/node/types';
import type { Db } from '../../db/client';
import {
  replicas,
  sites,
  syncRuns,
  type ReplicaDataset,
  type ReplicaRow,
  type StoredVmDefinition,
} from '../../db/schema';
import type { TaskContext, TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { Clock } from '../../core/clock';
import { withTimeout } from '../deadline';
import { AppError, errorMessage } from '../../core/errors';
import type { NodeConfig } from '../../core/site-config';
import type { Sealer } from './vm-definition';
import { cadenceRefusal } from '../protection/health';
import { getSetting, setSetting } from '../settings';
import type { SiteService } from '../sites';
import { definitionToDefine, publicDefinition, storedDefinition } from './vm-definition';
import {
  DEFAULTS,
  defaultRootZpool,
  latestCommon,
  replicaCopyFate,
  nextSyncAt,
  noCommonRefusal,
  planDatasets,
  pruneList,
  receiveRefusal,
  replicaCreateSchema,
  replicaUpdateSchema,
  snapshotName,
  validateCreate,
  type ReplicaCreate,
  type TargetFacts,
} from './rules';

export type ReplicaSettings = Partial<
  Pick<ReplicaRow, 'sleepTimeSec' | 'enabled' | 'bandwidthLimit' | 'reserveResources' | 'keepSnapshots'>
>;

export interface ReplicaView extends Omit<ReplicaRow, 'vmDefinition'> {
  /** The stored definition without its secrets (see vm-definition.ts). */
  vmDefinition: Omit<StoredVmDefinition, 'sealed'> | null;
  sourceSite: string;
  targetSite: string;
  /** Where the VM runs now when a sibling's failover moved it (conflict `master-moved`), else null. */
  movedTo: string | null;
  lagSec: number | null;
  activeTaskId: number | null;
  progress: { complete: number; total: number } | null;
}

/** The replica's own lock (also the task target shown in history). */
export const replicaLock = (id: number) => `replica:${id}`;
/** A VM on a node; contains the lock of every replica that pulls from it. */
export const vmLock = (siteId: number, vm: string) => `site/${siteId}/vm/${vm}`;
/** A replica under its master VM: a sync conflicts with any task on the VM, not with its siblings. */
export const replicaVmLock = (r: { id: number; sourceSiteId: number; vmName: string }) =>
  `${vmLock(r.sourceSiteId, r.vmName)}/replica/${r.id}`;

/** One direction of replication: what a sync step needs (a replica row, or a failover's stored copy). */
export interface ReplicaLeg {
  id: number;
  name: string;
  vmName: string;
  sourceSiteId: number;
  targetSiteId: number;
  datasets: ReplicaDataset[];
  bandwidthLimit: number | null;
  keepSnapshots: number;
}

export interface TransferPlan {
  plans: { d: ReplicaDataset; common: SnapshotInfo | null }[];
  total: number;
}

/** The `zfs hold` tag of a replica's replication base. */
export const holdTag = (replica: string) => `tandem-${replica}`;

/** Replica states in which no sync may start: a failover or reinit owns the replica. */
export const BUSY_STATES: ReplicaRow['state'][] = ['failing-over', 'reinit-required', 'reinit-running'];

/** VM replicas: create, update, delete, sync (the failover and reinit wizards build on this). */
export class ReplicaService {
  constructor(
    private readonly db: Db,
    private readonly sites: SiteService,
    private readonly tasks: TaskEngine,
    private readonly clock: Clock,
    /** Encrypts the secrets of stored VM definitions (vm-definition.ts). */
    private readonly box: Sealer,
  ) {}

  /** A site's name, for messages. */
  siteName(id: number): string {
    return this.sites.nameOf(id);
  }

  /**
   * Why `task` may no longer act on a replica (to resume or roll back): the replica is gone, or it is
   * no longer in that task's operation. Null when it still is.
   */
  notInOperation(task: { id: number }, replicaId: number): string | null {
    const r = this.db.select().from(replicas).where(eq(replicas.id, replicaId)).get();
    if (!r) return `replica #${replicaId} no longer exists`;
    if (r.operation?.taskId !== task.id)
      return `replica ${r.name} is no longer in this operation (it ended or was rolled back)`;
    return null;
  }

  /** Snapshots of a replica a test failover has cloned, which pruning keeps (set by the plans' tests). */
  testHolds?: (replicaId: number) => string[];

  node(siteId: number): NodeAdapter {
    const a = this.sites.adapter(siteId);
    if (a.kind !== 'node') throw new AppError('INVALID_INPUT', `site #${siteId} is not a compute node`);
    return a;
  }

  sourceSpec(siteId: number): SourceSpec {
    const spec = this.sites.spec(siteId);
    if (spec.kind !== 'node') throw new AppError('INVALID_INPUT', `site #${siteId} is not a compute node`);
    const c: NodeConfig = spec.config;
    return { host: c.host, port: c.port, user: c.user, alias: null };
  }

  /** Source host keys by `<site id>#<pinned fingerprint>`: a node's key is read once per pin. */
  readonly #hostKeys = new Map<string, HostPublicKey>();

  /**
   * The host key pinned for a node site: the one the node presented to Tandem's own connection
   * (which accepts no other), checked again against the pin here. The demo nodes, which have no
   * pin, answer with their simulated keys.
   */
  async pinnedHostKey(siteId: number): Promise<HostPublicKey> {
    const spec = this.sites.spec(siteId);
    if (spec.kind !== 'node') throw new AppError('INVALID_INPUT', `site #${siteId} is not a compute node`);
    const pinned = spec.config.hostKeySha256;
    const cacheKey = `${siteId}#${pinned ?? (spec.demo ? 'demo' : '')}`;
    const known = this.#hostKeys.get(cacheKey);
    if (known) return known;
    const where = `${spec.name} (${spec.config.host}:${spec.config.port})`;
    if (!pinned && !spec.demo)
      throw new AppError(
        'HOST_KEY_UNKNOWN',
        `the host key of ${where} is not pinned yet: confirm it on the Sites page`,
      );
    const key = await this.node(siteId).hostKey();
    const presented = hostKeyFingerprint(key);
    const want = pinned ?? presented;
    if (presented !== want) {
      throw new AppError(
        'HOST_KEY_MISMATCH',
        `the host key of ${where} does not match the pinned key: expected ${want}, got ${presented}`,
        { details: { expected: want, presented } },
      );
    }
    this.#hostKeys.set(cacheKey, key);
    return key;
  }

  /**
   * Where the target node reaches the source for a pull, trusting only the source's pinned host
   * key: Tandem writes it into its own known_hosts file on the target first (a no-op when the
   * entry is already right), and the pull's ssh checks the source against that entry alone.
   */
  async pullSource(sourceSiteId: number, targetSiteId: number): Promise<SourceSpec> {
    const key = await this.pinnedHostKey(sourceSiteId);
    const alias = hostKeyAliasFor(sourceSiteId);
    await this.node(targetSiteId).trustHostKey(alias, key);
    return { ...this.sourceSpec(sourceSiteId), hostKeyAlias: alias };
  }

  /** The replica's stored VM definition with its secrets, to define the VM on a node; null when none is stored. */
  definitionToDefine(id: number): VmDefinition | null {
    const stored = this.row(id).vmDefinition;
    return stored ? definitionToDefine(this.box, stored) : null;
  }

  row(id: number): ReplicaRow {
    const r = this.db.select().from(replicas).where(eq(replicas.id, id)).get();
    if (!r) throw new AppError('NOT_FOUND', `replica #${id} does not exist`);
    return r;
  }

  /**
   * What the master has written since the replica's recovery point (its last snapshot completely
   * received), summed over the disks: exact where the pool reports `written@<snapshot>` (OpenZFS),
   * else zfs-fuse's estimate with its upper bound. Asks the master, within 10 s.
   */
  async writtenSinceRecoveryPoint(
    id: number,
  ): Promise<{ bytes: number; maxBytes: number; exact: boolean; snapshot: string }> {
    const r = this.row(id);
    const snapshot = r.lastSnapshot;
    if (!snapshot)
      throw new AppError(
        'PRECONDITION_FAILED',
        'no sync has finished yet: there is no recovery point to measure from',
      );
    const source = this.node(r.sourceSiteId);
    const master = this.sites.get(r.sourceSiteId)?.name ?? `#${r.sourceSiteId}`;
    const parts = await withTimeout(
      Promise.all(r.datasets.map((d) => source.zfs.estimateWritten(d.source, snapshot))),
      10_000,
      `the master node ${master}`,
    );
    return {
      bytes: parts.reduce((n, p) => n + p.bytes, 0),
      maxBytes: parts.reduce((n, p) => n + p.maxBytes, 0),
      exact: parts.every((p) => p.exact),
      snapshot,
    };
  }

  /** Site names by id (one query; no secret is read). */
  #siteNames(): Map<number, string> {
    return new Map(
      this.db
        .select({ id: sites.id, name: sites.name })
        .from(sites)
        .all()
        .map((s) => [s.id, s.name]),
    );
  }

  #view(r: ReplicaRow, names: Map<number, string> = this.#siteNames()): ReplicaView {
    const holder = this.tasks.holder(replicaLock(r.id));
    return {
      ...r,
      vmDefinition: r.vmDefinition ? publicDefinition(r.vmDefinition) : null,
      sourceSite: names.get(r.sourceSiteId) ?? `#${r.sourceSiteId}`,
      targetSite: names.get(r.targetSiteId) ?? `#${r.targetSiteId}`,
      movedTo:
        r.conflict?.kind === 'master-moved'
          ? (names.get(r.conflict.siteId) ?? `#${r.conflict.siteId}`)
          : null,
      lagSec: r.lastSyncAt
        ? Math.max(0, Math.round((this.clock.now() - r.lastSyncAt.getTime()) / 1000))
        : null,
      activeTaskId: holder?.id ?? null,
      progress: holder ? { complete: holder.progressComplete, total: holder.progressTotal } : null,
    };
  }

  list(filter: { siteId?: number; vmName?: string } = {}): ReplicaView[] {
    const conds = [];
    if (filter.siteId)
      conds.push(or(eq(replicas.sourceSiteId, filter.siteId), eq(replicas.targetSiteId, filter.siteId)));
    if (filter.vmName) conds.push(eq(replicas.vmName, filter.vmName));
    const names = this.#siteNames();
    return this.db
      .select()
      .from(replicas)
      .where(conds.length ? and(...conds) : undefined)
      .orderBy(replicas.vmName, replicas.name)
      .all()
      .map((r) => this.#view(r, names));
  }

  get(id: number): ReplicaView {
    return this.#view(this.row(id));
  }

  syncRuns(id: number, limit = 200) {
    return this.db
      .select()
      .from(syncRuns)
      .where(eq(syncRuns.subject, `replica:${id}`))
      .orderBy(desc(syncRuns.startedAt))
      .limit(limit)
      .all();
  }

  async #targetFacts(targetSiteId: number, planned: string[]): Promise<TargetFacts> {
    let node: NodeAdapter;
    try {
      node = this.node(targetSiteId);
      const [zpools, capacity, vms] = await Promise.all([
        node.zfs.listZpools(),
        node.capacity(),
        node.listVms(),
      ]);
      const existing: string[] = [];
      for (const ds of planned) {
        const found = await node.zfs.listDatasets(ds).then(
          () => true,
          (e) => (AppError.is(e, 'NOT_FOUND') ? false : Promise.reject(e)),
        );
        if (found) existing.push(ds);
      }
      const others = this.db
        .select()
        .from(replicas)
        .where(and(eq(replicas.targetSiteId, targetSiteId), eq(replicas.reserveResources, true)))
        .all();
      const running = vms.filter((v) => v.state === 'running' || v.state === 'paused');
      return {
        reachable: true,
        zpools,
        capacity,
        reserved: {
          vcpus: others.reduce((a, r) => a + r.vcpus, 0) + running.reduce((a, v) => a + v.vcpus, 0),
          memoryMiB:
            others.reduce((a, r) => a + r.memoryMiB, 0) + running.reduce((a, v) => a + v.memoryMiB, 0),
        },
        existingDatasets: existing,
      };
    } catch (e) {
      if (AppError.is(e, 'INVALID_INPUT')) throw e;
      return {
        reachable: false,
        unreachableReason: errorMessage(e),
        zpools: [],
        capacity: null,
        reserved: { vcpus: 0, memoryMiB: 0 },
        existingDatasets: [],
      };
    }
  }

  /** Validates against the live nodes, stores the replica and starts its initial full sync. */
  /** The zpool a new replica of `vmName` goes to when none is named: its master's (`defaultRootZpool`). */
  async defaultRootZpool(siteId: number, vmName: string): Promise<string> {
    const vm = await this.node(siteId).getVm(vmName);
    if (!vm) throw new AppError('NOT_FOUND', `no VM named "${vmName}" on ${this.sites.get(siteId).name}`);
    return defaultRootZpool(vm);
  }

  async create(raw: unknown, user: SessionUser): Promise<{ replica: ReplicaView; taskId: number }> {
    const input: ReplicaCreate = replicaCreateSchema.parse(raw);
    const source = this.node(input.sourceSiteId);
    const vm = await source.getVm(input.vmName);
    const diskBytes: Record<string, number> = {};
    const mountpoints: Record<string, string | null> = {};
    for (const d of vm?.disks ?? []) {
      if (!d.dataset) continue;
      const [info] = await source.zfs.listDatasets(d.dataset);
      diskBytes[d.dataset] = info?.referencedBytes ?? 0;
      mountpoints[d.dataset] = info?.mountpoint ?? null;
    }
    const planned = vm ? planDatasets(vm, input.rootZpool, input.diskZpools, mountpoints) : [];
    const target =
      input.targetSiteId === input.sourceSiteId
        ? await this.#targetFacts(input.targetSiteId, [])
        : await this.#targetFacts(
            input.targetSiteId,
            planned.map((d) => d.target),
          );
    const existing = this.db
      .select()
      .from(replicas)
      .where(and(eq(replicas.sourceSiteId, input.sourceSiteId), eq(replicas.vmName, input.vmName)))
      .all();
    const issues = validateCreate(input, {
      vm,
      diskBytes,
      target,
      replicasOfVm: existing.map((r) => ({ name: r.name, targetSiteId: r.targetSiteId })),
      maxReplicasPerVm: Number(process.env.TANDEM_MAX_REPLICAS_PER_VM ?? DEFAULTS.maxReplicasPerVm),
    });
    if (issues.length)
      throw new AppError('INVALID_INPUT', issues.map((i) => `${i.field}: ${i.message}`).join('; '), {
        fields: issues,
      });
    if (!input.acceptRpoRisk)
      this.#checkCadence({
        subject: null,
        sourceSiteId: input.sourceSiteId,
        sleepTimeSec: input.sleepTimeSec,
        transferSec: 0,
      });
    const row = this.db
      .insert(replicas)
      .values({
        name: input.name,
        vmName: input.vmName,
        sourceSiteId: input.sourceSiteId,
        targetSiteId: input.targetSiteId,
        rootZpool: input.rootZpool,
        diskZpools: input.diskZpools,
        datasets: planned,
        reserveResources: input.reserveResources,
        vcpus: vm!.vcpus,
        memoryMiB: vm!.memoryMiB,
        sleepTimeSec: input.sleepTimeSec,
        enabled: input.enabled,
        bandwidthLimit: input.bandwidthLimit,
        keepSnapshots: input.keepSnapshots,
        state: 'new',
      })
      .returning()
      .get();
    const task = this.startSync(row.id, user.username, 'Initial sync');
    return { replica: this.#view(row), taskId: task.id };
  }

  /**
   * The RPO a replica would have (set by the app: server/domain/protection), for the check of its
   * sleep time at save time. Without it, sleep times are not checked.
   */
  rpoFor: ((o: { subject: string; sourceSiteId: number }) => { seconds: number; from: string }) | null = null;
  /** Told after a change made outside a task (a replica's settings), so that computed views are made again. */
  changed: () => void = () => undefined;

  /** Refuses a sleep time that cannot meet the replica's RPO (on the field; `acceptRpoRisk` overrides). */
  #checkCadence(o: {
    subject: string | null;
    sourceSiteId: number;
    sleepTimeSec: number;
    transferSec: number;
  }): void {
    if (!this.rpoFor) return;
    const rpo = this.rpoFor({ subject: o.subject ?? 'replica:0', sourceSiteId: o.sourceSiteId });
    const refusal = cadenceRefusal({
      what: 'a sleep time',
      intervalSec: o.sleepTimeSec,
      transferSec: o.transferSec,
      rpoSec: rpo.seconds,
      rpoFrom: rpo.from,
    });
    if (refusal)
      throw new AppError('INVALID_INPUT', `sleepTimeSec: ${refusal}`, {
        fields: [{ field: 'sleepTimeSec', message: `${refusal}; save anyway to accept the risk` }],
        details: { override: 'acceptRpoRisk' },
      });
  }

  /** New settings apply from the next cycle; a sync in progress is not interrupted. */
  update(id: number, raw: unknown): ReplicaView {
    const { acceptRpoRisk, ...patch }: ReplicaSettings & { acceptRpoRisk?: boolean } =
      replicaUpdateSchema.parse(raw);
    const r = this.row(id);
    if (patch.sleepTimeSec !== undefined && !acceptRpoRisk) {
      const last = this.db
        .select({ s: syncRuns.startedAt, f: syncRuns.finishedAt })
        .from(syncRuns)
        .where(and(eq(syncRuns.subject, `replica:${id}`), eq(syncRuns.outcome, 'success')))
        .orderBy(desc(syncRuns.startedAt))
        .limit(1)
        .get();
      this.#checkCadence({
        subject: `replica:${id}`,
        sourceSiteId: r.sourceSiteId,
        sleepTimeSec: patch.sleepTimeSec,
        transferSec: last?.f ? Math.round((last.f.getTime() - last.s.getTime()) / 1000) : 0,
      });
    }
    if (r.state === 'reinit-required' && patch.enabled)
      throw new AppError(
        'PRECONDITION_FAILED',
        'this replica must be reinitialised after the failover before it can be resumed',
      );
    if (r.operation && patch.enabled !== undefined)
      throw new AppError(
        'PRECONDITION_FAILED',
        `replica ${r.name} is in a ${r.operation.kind} (task #${r.operation.taskId}); resume or roll it back first`,
      );
    const set: Partial<ReplicaRow> = { ...patch, updatedAt: new Date(this.clock.now()) };
    if (patch.enabled === false && r.state !== 'syncing' && !BUSY_STATES.includes(r.state))
      set.state = 'paused';
    if (patch.enabled === true && r.state === 'paused') {
      set.state = r.lastSyncAt ? 'idle' : 'new';
      set.nextSyncAt = new Date(this.clock.now());
    }
    if (patch.sleepTimeSec !== undefined && r.lastSyncAt && r.failureCount === 0)
      set.nextSyncAt = new Date(nextSyncAt(r.lastSyncAt.getTime(), patch.sleepTimeSec, 0));
    this.db.update(replicas).set(set).where(eq(replicas.id, id)).run();
    this.changed();
    return this.get(id);
  }

  /** Why a sync of this replica may not start now, or null. */
  syncBlocked(r: ReplicaRow): string | null {
    if (r.state === 'reinit-required') return `replica ${r.name} must be reinitialised first`;
    if (r.state === 'failing-over' || r.state === 'reinit-running' || r.operation)
      return `replica ${r.name} is in a ${r.operation?.kind ?? 'failover'} (task #${r.operation?.taskId ?? '?'}); resume or roll it back first`;
    if (r.conflict?.kind === 'master-moved')
      return `the VM's master moved to another node (failover of replica #${r.conflict.byReplicaId}); this replica still pulls from the old master — re-point or delete it`;
    if (r.conflict?.kind === 'dual-running')
      return `VM ${r.vmName} is running on two nodes; stop the stale copy first`;
    return null;
  }

  startSync(id: number, username: string, label = 'Sync') {
    const r = this.row(id);
    const blocked = this.syncBlocked(r);
    if (blocked) throw new AppError('PRECONDITION_FAILED', blocked);
    return this.tasks.start({
      name: `${label} ${r.vmName} → ${r.name}`,
      kind: 'replica.sync',
      target: replicaLock(id),
      locks: [replicaVmLock(r)],
      params: { replicaId: id, vm: r.vmName, replica: r.name },
      steps: ['Snapshot on the master', 'Transfer to the replica', 'Protect and prune'],
      username,
      run: (ctx) => this.runSync(ctx, id),
    });
  }

  /** Records that a site answered (the end of a data-loss window if it is lost later). */
  markSeen(siteId: number): void {
    const now = this.clock.now();
    if (now - (this.#seen.get(siteId) ?? 0) < 5_000) return;
    this.#seen.set(siteId, now);
    this.db
      .update(sites)
      .set({ lastSeenAt: new Date(now) })
      .where(eq(sites.id, siteId))
      .run();
  }
  readonly #seen = new Map<number, number>();

  /** One replication cycle: snapshot the master's disks, pull node-to-node, protect, prune. */
  async runSync(
    ctx: TaskContext,
    id: number,
    opts: { keepState?: boolean; snapshot?: string } = {},
  ): Promise<{ bytes: number; seconds: number; snapshot: string }> {
    const r = this.row(id);
    const started = this.clock.now();
    const runId = this.db
      .insert(syncRuns)
      .values({ subject: `replica:${id}`, startedAt: new Date(started), outcome: 'running' })
      .returning({ id: syncRuns.id })
      .get().id;
    if (!opts.keepState) this.db.update(replicas).set({ state: 'syncing' }).where(eq(replicas.id, id)).run();
    const snap = opts.snapshot ?? snapshotName(r.name, started);
    try {
      // The target learns the source's pinned host key while the snapshot is taken.
      const pullFrom = this.pullSource(r.sourceSiteId, r.targetSiteId);
      pullFrom.catch(() => undefined);
      await ctx.step('Snapshot on the master', () => this.snapshotMaster(ctx, r, snap));
      // Planned outside the step so that the step's time is the stream's (its rate is reported).
      const plan = await this.planTransfer(ctx, r, snap);
      const bytes = await ctx.step('Transfer to the replica', () =>
        this.transfer(ctx, r, snap, plan, pullFrom),
      );
      await ctx.step('Protect and prune', () => this.protectAndPrune(ctx, r, snap));
      const finished = this.clock.now();
      const seconds = Math.max(0.001, (finished - started) / 1000);
      const fresh = this.row(id);
      this.db
        .update(replicas)
        .set({
          ...(opts.keepState ? {} : { state: fresh.enabled ? 'idle' : 'paused' }),
          lastSyncAt: new Date(started),
          lastSnapshot: snap,
          lastSyncBytes: bytes,
          failureCount: 0,
          lastError: null,
          nextSyncAt: new Date(nextSyncAt(finished, fresh.sleepTimeSec, 0)),
        })
        .where(eq(replicas.id, id))
        .run();
      this.db
        .update(syncRuns)
        .set({
          finishedAt: new Date(finished),
          bytes,
          bytesPerSecond: Math.round(bytes / seconds),
          outcome: 'success',
          snapshot: snap,
        })
        .where(eq(syncRuns.id, runId))
        .run();
      return { bytes, seconds, snapshot: snap };
    } catch (e) {
      const finished = this.clock.now();
      const fresh = this.row(id);
      const cancelled = ctx.signal.aborted;
      const failures = cancelled ? fresh.failureCount : fresh.failureCount + 1;
      this.db
        .update(replicas)
        .set({
          ...(opts.keepState
            ? {}
            : {
                state: cancelled ? (fresh.enabled ? (fresh.lastSyncAt ? 'idle' : 'new') : 'paused') : 'error',
              }),
          failureCount: failures,
          lastError: cancelled ? fresh.lastError : errorMessage(e),
          nextSyncAt: new Date(nextSyncAt(finished, fresh.sleepTimeSec, failures)),
        })
        .where(eq(replicas.id, id))
        .run();
      this.db
        .update(syncRuns)
        .set({
          finishedAt: new Date(finished),
          outcome: cancelled ? 'cancelled' : 'failure',
          error: errorMessage(e),
        })
        .where(eq(syncRuns.id, runId))
        .run();
      throw e;
    }
  }

  /**
   * Resumes a VM that Tandem paused for a snapshot and could not resume (a crash, a dropped
   * connection): called at every contact with its master. Returns the VM's state afterwards.
   */
  async healPause(
    r: { id: number; vmName: string; sourceSiteId: number },
    log?: (m: string) => void,
  ): Promise<void> {
    const row = this.row(r.id);
    if (!row.pausedByTandem) return;
    const source = this.node(r.sourceSiteId);
    const state = await source.getVmState(r.vmName);
    if (state === 'paused') {
      await source.resumeVm(r.vmName);
      log?.(`VM ${r.vmName} had been left paused by an interrupted snapshot; resumed it`);
    }
    this.db.update(replicas).set({ pausedByTandem: false }).where(eq(replicas.id, r.id)).run();
  }

  /**
   * `snap` of every disk on the master, idempotent (disks that already have it are skipped). The
   * VM's definition is stored with the state it had before Tandem paused it; a multi-disk VM is
   * paused around the snapshots, and the pause is recorded first so that it is undone even if
   * this process dies in between.
   */
  async snapshotMaster(ctx: TaskContext, r: ReplicaLeg, snap: string): Promise<void> {
    const source = this.node(r.sourceSiteId);
    await this.healPause(r, (m) => ctx.log(m, 'warn'));
    // The VM, its definition and every disk's snapshots are read at once (one round trip deep).
    const [vm, def, have] = await Promise.all([
      source.getVm(r.vmName),
      source.dumpVm(r.vmName).catch((e) => (AppError.is(e, 'NOT_FOUND') ? null : Promise.reject(e))),
      Promise.all(
        r.datasets.map(async (d) =>
          ((await source.zfs.listSnapshots(d.source))[d.source] ?? []).some((s) => s.name === snap),
        ),
      ),
    ]);
    if (!vm || !def)
      throw new AppError('NOT_FOUND', `VM ${r.vmName} is no longer defined on its master node`);
    this.markSeen(r.sourceSiteId);
    this.db
      .update(replicas)
      .set({
        vmDefinition: storedDefinition(this.box, def, {
          state: vm.state,
          disks: vm.disks.map((x) => ({ device: x.device, path: x.path })),
        }),
      })
      .where(eq(replicas.id, r.id))
      .run();
    const missing = r.datasets.filter((_, i) => !have[i]).map((d) => d.source);
    if (!missing.length) return ctx.log(`snapshot ${snap} already exists on every disk`);
    const pause = vm.state === 'running' && missing.length > 1;
    if (pause) {
      this.db.update(replicas).set({ pausedByTandem: true }).where(eq(replicas.id, r.id)).run();
      await source.pauseVm(r.vmName);
    }
    try {
      await source.zfs.createSnapshots(missing, snap);
    } finally {
      if (pause) {
        await source.resumeVm(r.vmName);
        this.db.update(replicas).set({ pausedByTandem: false }).where(eq(replicas.id, r.id)).run();
      }
    }
    ctx.log(
      `snapshot ${snap} of ${missing.length} disk(s)${pause ? ' (VM paused for a consistent set)' : ''}`,
    );
  }

  /**
   * Pulls `snap` of every disk node to node, incrementally from the newest common snapshot;
   * disks that already have it are skipped. Refuses to receive into a dataset that is writable
   * or a live VM's disk (see receiveRefusal). Returns the bytes received.
   */
  /** Which disks need `snap`, from which common snapshot, and the receive guard's verdict (before any byte moves). */
  async planTransfer(ctx: TaskContext, r: ReplicaLeg, snap: string): Promise<TransferPlan> {
    const source = this.node(r.sourceSiteId);
    const target = this.node(r.targetSiteId);
    const targetName = this.sites.get(r.targetSiteId)?.name ?? `#${r.targetSiteId}`;
    // Every disk is looked at concurrently (a few round trips deep whatever the number of disks);
    // a refusal is reported for the first disk, in the replica's order, that has one.
    const vmsOnTarget = target.listVms();
    vmsOnTarget.catch(() => undefined);
    const outcomes = await Promise.allSettled(
      r.datasets.map(
        async (d): Promise<{ d: ReplicaDataset; common: SnapshotInfo | null; estimate: number } | null> => {
          const [srcSnaps, dstSnaps] = await Promise.all([
            source.zfs.listSnapshots(d.source).then((m) => m[d.source] ?? []),
            target.zfs.listSnapshots(d.target).then(
              (m) => m[d.target] ?? [],
              (e) => (AppError.is(e, 'NOT_FOUND') ? null : Promise.reject(e)),
            ),
          ]);
          const want = srcSnaps.find((s) => s.name === snap);
          if (!want) throw new AppError('PRECONDITION_FAILED', `${d.source} has no snapshot ${snap} to send`);
          if (dstSnaps?.some((s) => s.guid === want.guid)) {
            ctx.log(`${d.target} already has ${snap}`);
            return null;
          }
          const common = latestCommon(srcSnaps, dstSnaps ?? []);
          // The estimate (progress only) is read while the receive guard's facts are.
          const estimate = common
            ? source.zfs.estimateWritten(d.source, common.name).then((e) => e.bytes)
            : source.zfs.listDatasets(d.source).then((l) => l[0]?.referencedBytes ?? 0);
          estimate.catch(() => undefined);
          const [readonly, vms] = await Promise.all([
            dstSnaps !== null ? target.zfs.getReadonly(d.target) : true,
            vmsOnTarget,
          ]);
          const refusal = receiveRefusal({
            dataset: d.target,
            node: targetName,
            exists: dstSnaps !== null,
            readonly,
            usedBy: vms
              .filter((v) => v.disks.some((k) => k.dataset === d.target))
              .map((v) => ({ vm: v.name, state: v.state })),
          });
          if (refusal) throw new AppError('PRECONDITION_FAILED', refusal);
          if (!common && dstSnaps !== null) {
            const why = noCommonRefusal({
              dataset: d.target,
              node: targetName,
              source: d.source,
              sourceNode: this.sites.get(r.sourceSiteId)?.name ?? `#${r.sourceSiteId}`,
              snapshots: dstSnaps.length,
              syncedBefore: !!this.row(r.id).lastSyncAt,
            });
            if (why) throw new AppError('PRECONDITION_FAILED', why);
          }
          return { d, common, estimate: await estimate };
        },
      ),
    );
    const failed = outcomes.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
    const plans = outcomes.flatMap((o) => (o.status === 'fulfilled' && o.value ? [o.value] : []));
    return {
      plans: plans.map(({ d, common }) => ({ d, common })),
      total: plans.reduce((n, p) => n + p.estimate, 0),
    };
  }

  /** `pullFrom`: the pull's source, already being prepared (see pullSource). */
  async transfer(
    ctx: TaskContext,
    r: ReplicaLeg,
    snap: string,
    planned?: TransferPlan,
    pullFrom?: Promise<SourceSpec>,
  ): Promise<number> {
    const { plans, total } = planned ?? (await this.planTransfer(ctx, r, snap));
    const target = this.node(r.targetSiteId);
    ctx.progress(0, total);
    let bytes = 0;
    const source = plans.length ? await (pullFrom ?? this.pullSource(r.sourceSiteId, r.targetSiteId)) : null;
    for (const { d, common } of plans) {
      ctx.log(
        `${d.source} → ${d.target}: ${common ? `incremental from ${common.name}` : 'full send'}${r.bandwidthLimit ? `, limited to ${r.bandwidthLimit} B/s` : ''}`,
      );
      const base = bytes;
      const res = await target.pull({
        source: source!,
        sourceDataset: d.source,
        fromSnapshot: common?.name ?? null,
        toSnapshot: snap,
        targetDataset: d.target,
        recursive: false,
        intermediates: false,
        bandwidthLimitBytesPerSec: r.bandwidthLimit,
        onProgress: (b) => ctx.progress(base + b, Math.max(total, base + b)),
        signal: ctx.signal,
      });
      bytes += res.bytes;
      ctx.progress(bytes, Math.max(total, bytes));
    }
    ctx.progress(bytes, bytes);
    return bytes;
  }

  /** Replica datasets read-only; recovery points beyond `keepSnapshots` pruned on both sides. */
  async protectAndPrune(ctx: TaskContext, r: ReplicaLeg, snap: string): Promise<void> {
    const source = this.node(r.sourceSiteId);
    const target = this.node(r.targetSiteId);
    const tag = holdTag(r.name);
    // Disks are protected concurrently, and within a disk each round trip goes to both nodes
    // at once: four round trips deep in all.
    const settled = await Promise.allSettled(
      r.datasets.map(async (d) => {
        // The replication base is held on both sides (a held snapshot refuses `zfs destroy`);
        // the previous base is released only once the new one is held on both.
        await Promise.all([
          target.zfs.setReadonly(d.target, true),
          source.zfs.holdSnapshot(d.source, snap, tag),
          target.zfs.holdSnapshot(d.target, snap, tag),
        ]);
        const [, , srcSnaps, dstSnaps] = await Promise.all([
          source.zfs.releaseHolds(d.source, tag, snap),
          target.zfs.releaseHolds(d.target, tag, snap),
          source.zfs.listSnapshots(d.source),
          target.zfs.listSnapshots(d.target),
        ]);
        // Snapshots a test failover cloned stay until its cleanup (they are held, too).
        const tested = new Set(this.testHolds?.(r.id) ?? []);
        const drop = (list: SnapshotInfo[] | undefined) =>
          pruneList(r.name, list ?? [], r.keepSnapshots, snap).filter((n) => !tested.has(n));
        // A recovery point that cannot go yet (e.g. a kept diverged clone depends on it) is
        // retried at the next cycle; it does not fail the sync.
        await Promise.all(
          (
            [
              [source, d.source, srcSnaps[d.source]],
              [target, d.target, dstSnaps[d.target]],
            ] as const
          ).map(([node, ds, list]) =>
            node.zfs
              .destroySnapshots(ds, drop(list))
              .catch((e) => ctx.log(`pruning ${ds} deferred: ${errorMessage(e)}`, 'warn')),
          ),
        );
      }),
    );
    const failed = settled.find((o) => o.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Deletes a replica; with `destroyData` its datasets on the target go too. */
  remove(id: number, opts: { destroyData: boolean }, user: SessionUser) {
    const r = this.row(id);
    if (r.operation)
      throw new AppError(
        'PRECONDITION_FAILED',
        `replica ${r.name} is in a ${r.operation.kind} (task #${r.operation.taskId}); resume or roll it back before deleting it`,
      );
    return this.tasks.start({
      name: `Delete replica ${r.vmName} → ${r.name}`,
      kind: 'replica.delete',
      target: replicaLock(id),
      params: { replicaId: id, destroyData: opts.destroyData },
      steps: ['Clean the replica node', 'Clean the master node', 'Forget the replica'],
      username: user.username,
      run: async (ctx) => {
        await ctx.step('Clean the replica node', async () => {
          if (!opts.destroyData) return ctx.log('keeping the replica datasets (read-only) on the target');
          const t = this.node(r.targetSiteId);
          const copy = await t.getVm(r.vmName);
          if (copy) {
            const { fate, reason } = replicaCopyFate(copy, r.datasets);
            if (fate === 'refuse') throw new AppError('PRECONDITION_FAILED', reason);
            if (fate === 'undefine') {
              await t.undefineVm(r.vmName);
              ctx.log(`removed the VM ${r.vmName} from ${this.sites.get(r.targetSiteId).name}: ${reason}`);
            } else ctx.log(reason);
          }
          for (const d of r.datasets) {
            await t.zfs
              .releaseHolds(d.target, holdTag(r.name))
              .catch((e) => (AppError.is(e, 'NOT_FOUND') ? [] : Promise.reject(e)));
            await t.zfs.destroyDataset(d.target, { recursive: true });
          }
        });
        let masterCleaned = true;
        await ctx.step('Clean the master node', async () => {
          try {
            const s = this.node(r.sourceSiteId);
            for (const d of r.datasets) {
              await s.zfs.releaseHolds(d.source, holdTag(r.name));
              const snaps = (await s.zfs.listSnapshots(d.source))[d.source] ?? [];
              await s.zfs.destroySnapshots(d.source, pruneList(r.name, snaps, 0, null));
            }
          } catch (e) {
            masterCleaned = false;
            addPendingCleanup(this.db, {
              siteId: r.sourceSiteId,
              replica: r.name,
              datasets: r.datasets.map((d) => d.source),
            });
            ctx.log(
              `the master node is unreachable (${errorMessage(e)}); its snapshots tandem-${r.name}-* will be removed when it answers again`,
              'warn',
            );
          }
        });
        await ctx.step('Forget the replica', () => {
          this.db.delete(replicas).where(eq(replicas.id, id)).run();
        });
        return { masterCleaned };
      },
    });
  }
}

export interface PendingCleanup {
  siteId: number;
  replica: string;
  datasets: string[];
}

const CLEANUP_KEY = 'replica.pendingCleanup';

export function pendingCleanups(db: Db): PendingCleanup[] {
  return getSetting<PendingCleanup[]>(db, CLEANUP_KEY) ?? [];
}

export function addPendingCleanup(db: Db, c: PendingCleanup): void {
  setSetting(db, CLEANUP_KEY, [...pendingCleanups(db), c]);
}

export function setPendingCleanups(db: Db, list: PendingCleanup[]): void {
  setSetting(db, CLEANUP_KEY, list);
}
