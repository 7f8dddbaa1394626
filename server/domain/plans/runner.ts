import { and, asc, desc, eq, gt, inArray } from 'drizzle-orm';
import type { Db } from '../../db/client';
import {
  planRunItems,
  planRuns,
  recoveryPlanItems,
  tasks as tasksTable,
  type PlanRunItemRow,
  type PlanRunRow,
  type RecoveryPlanItemRow,
  type TaskRow,
} from '../../db/schema';
import { ACTIVE_STATES, type TaskContext, type TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { CephFailover, CephFailoverPlan } from '../ceph/failover';
import { confirmWord } from '../ceph/failover';
import { cephLock } from '../ceph/locks';
import type { CephMirroring } from '../ceph/mirroring';
import type { Clock } from '../../core/clock';
import type { NodeAdapter } from '../../adapters/node/types';
import { AppError, errorMessage } from '../../core/errors';
import type { Precheck, ReplicaFailover } from '../replicas/failover';
import type { SiteService } from '../sites';
import { replicaLock, type ReplicaService } from '../replicas/service';
import {
  dependantsOf,
  eachLimited,
  itemLabel,
  measuredLoss,
  objectKey,
  runFigures,
  runGroups,
  type PlanItemInput,
  type TestCreated,
  type TestNetwork,
} from './rules';
import { recoveryPointOf } from './object-runs';
import { cleanupStep, testSteps, type PlanTests } from './test-failover';
import type { PlanView, RecoveryPlans } from './service';

export type RunKind = 'planned' | 'disaster' | 'reprotect' | 'test';
export type RunDirection = 'forward' | 'back';

export interface RunRequest {
  kind: RunKind;
  direction: RunDirection;
  /** A test's network for its VMs (default: none). */
  network?: TestNetwork;
}

/** One object of a run's pre-check: what will happen to it, and what is lost. */
export interface RunPrecheckItem {
  objectKey: string;
  label: string;
  group: number;
  from: string;
  to: string;
  /** What the object's own failover would be now (planned / forced / unplanned), or the reprotect action. */
  action: string;
  canProceed: boolean;
  checks: Precheck[];
  /** Seconds of writes lost if it ran now (0 planned, null unknown). */
  dataLossWindowSec: number | null;
  /** Images still primary on a cluster that answers (a disaster recovery would split the brain). */
  splitBrainRisk: number;
}

export interface RunPrecheck {
  planId: number;
  planName: string;
  kind: RunKind;
  direction: RunDirection;
  items: RunPrecheckItem[];
  canProceed: boolean;
  maxDataLossSec: number | null;
  unknownWindows: number;
  splitBrainRisk: number;
  steps: string[];
}

interface RunParams extends Record<string, unknown> {
  runId: number;
  planName: string;
  confirmSplitBrain: boolean;
}

/** The plan as a run stores it (plan_runs.plan). */
interface StoredPlan {
  id: number;
  name: string;
  maxParallel: number;
  questionTimeoutSec: number;
  questionDefault: 'abort' | 'skip';
  items: (Omit<RecoveryPlanItemRow, 'planId' | 'position'> & { label: string; vmName: string | null })[];
}

type StoredItem = StoredPlan['items'][number];

const ENDED_FAILED = ['interrupted', 'failed', 'cancelled'];

/** A plan's Ceph object as the input of a failover from one cluster to the other. */
function cephFailoverInput(
  item: { pool?: string | null; namespace?: string | null; image?: string | null },
  from: number,
  to: number,
) {
  return {
    fromSiteId: from,
    toSiteId: to,
    pool: item.pool!,
    namespace: item.namespace ?? '',
    image: item.image ?? undefined,
  };
}

/** A planned run refuses an object that cannot move planned (`why`): its prechecks, with that block. */
function withPlannedModeCheck(
  kind: string,
  checks: readonly Precheck[],
  mode: string,
  why: string,
): Precheck[] {
  if (kind !== 'planned' || mode === 'planned') return [...checks];
  const message = `${why}: run a disaster recovery instead`;
  return [...checks, { id: 'mode', label: 'Planned migration', status: 'block', message }];
}

/** A Ceph failover plan made by a run's start (both clusters asked), and when. */
interface KeptPlan {
  at: number;
  plan: CephFailoverPlan;
}

/** How long a run's start-time plan of an object may be acted on instead of asking its clusters again. */
export const KEPT_PLAN_MS = 30_000;

/** The object of a test failover on its own (as a plan names it). */
export type ObjectTestTarget =
  | { kind: 'replica'; replicaId: number }
  | {
      kind: 'rbd';
      protectedSiteId: number;
      recoverySiteId: number;
      pool: string;
      namespace?: string;
      image?: string;
    };

/** The step of a run that does one object's work. */
export function itemStep(kind: RunKind, item: { groupNo: number; label: string }): string {
  return kind === 'reprotect' ? `Reprotect ${item.label}` : `Group ${item.groupNo}: ${item.label}`;
}

/** The steps of one object in a run of this kind. */
export function itemSteps(
  kind: RunKind,
  item: { groupNo: number; label: string; kind: 'replica' | 'rbd' },
): string[] {
  return kind === 'test' ? testSteps(item) : [itemStep(kind, item)];
}

/**
 * Runs recovery plans: a planned migration, a disaster recovery, a reprotect (reinit or resync of
 * every object toward the other side) and the fail back (the plan run back). A run is a durable
 * task (`plan.run`) whose params name its `plan_runs` row; each object's work is the failover (or
 * reinit, resync) task of that object, started by the run and recorded on its `plan_run_items`
 * row, so that a resumed run waits for, resumes or adopts it rather than starting a second one.
 */
export class PlanRunner {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly tasks: TaskEngine,
    private readonly plans: RecoveryPlans,
    private readonly replicas: ReplicaService,
    private readonly failover: ReplicaFailover,
    private readonly ceph: CephMirroring,
    private readonly cephFailover: CephFailover,
    private readonly sites: SiteService,
    private readonly tests: PlanTests,
  ) {
    tasks.define<RunParams>('plan.run', {
      run: (ctx, p) => this.#run(ctx, p),
      confirmText: (p) => p.planName,
    });
    plans.runActive = (runId) => {
      const r = this.db
        .select({ taskId: planRuns.taskId })
        .from(planRuns)
        .where(eq(planRuns.id, runId))
        .get();
      const t = r?.taskId ? this.tasks.get(r.taskId) : undefined;
      return !!t && ACTIVE_STATES.includes(t.state);
    };
  }

  /** Per run (in memory, gone at a restart): the Ceph plans its start made, used once each by their failovers. */
  readonly #kept = new Map<number, Map<string, KeptPlan>>();

  #sides(item: Pick<StoredItem, 'protectedSiteId' | 'recoverySiteId'>, direction: RunDirection) {
    return direction === 'forward'
      ? { from: item.protectedSiteId, to: item.recoverySiteId }
      : { from: item.recoverySiteId, to: item.protectedSiteId };
  }

  /** Why a replica item cannot fail over in this direction now, or null. */
  #replicaDirection(item: PlanView['items'][number], direction: RunDirection, kind: RunKind): string | null {
    const r = this.replicas.row(item.replicaId!);
    const { from, to } = this.#sides(item, direction);
    if (kind === 'reprotect') {
      // After a failover the replica row points from the new master (to) to the old one (from).
      if (r.state !== 'reinit-required') return null;
      if (r.sourceSiteId !== to)
        return `the VM runs on ${this.sites.nameOf(r.sourceSiteId)}, not ${this.sites.nameOf(to)}`;
      return null;
    }
    if (r.state === 'reinit-required')
      return `the VM already runs on ${this.sites.nameOf(r.sourceSiteId)} and waits for its reprotect (reinit of ${this.sites.nameOf(r.targetSiteId)})`;
    if (r.sourceSiteId !== from || r.targetSiteId !== to)
      return `the replica now goes from ${this.sites.nameOf(r.sourceSiteId)} to ${this.sites.nameOf(r.targetSiteId)}, not ${this.sites.nameOf(from)} → ${this.sites.nameOf(to)}${direction === 'forward' ? '' : ': reprotect after the failover first'}`;
    return null;
  }

  /**
   * The pre-checks of a run, per object: the object's own failover plan (the same checks and
   * data-loss window its wizard shows), or what its reprotect will do. Asks every site, in parallel.
   */
  async precheck(
    planId: number,
    req: RunRequest,
    start?: { keep: Map<string, KeptPlan> },
  ): Promise<RunPrecheck> {
    const plan = this.plans.get(planId);
    const items = await Promise.all(plan.items.map((item) => this.#precheckItem(item, req, start?.keep)));
    // A test left up holds snapshots and runs test VMs beside what this run moves: said, not refused.
    if (req.kind !== 'test' && plan.openTest) {
      for (const i of items)
        i.checks.push({
          id: 'open-test',
          label: 'Test failover',
          status: 'warn',
          message: `the test of run #${plan.openTest.runId} is still up (its VMs, clones and holds); clean it up once this run is done`,
        });
    }
    const windows = items.map((i) => i.dataLossWindowSec);
    const known = windows.filter((w): w is number => w !== null);
    return {
      planId,
      planName: plan.name,
      kind: req.kind,
      direction: req.direction,
      items,
      canProceed: items.every((i) => i.canProceed),
      maxDataLossSec: known.length ? Math.max(...known) : null,
      unknownWindows: windows.length - known.length,
      splitBrainRisk: items.reduce((a, i) => a + i.splitBrainRisk, 0),
      steps: runGroups(plan.items.map((i) => ({ ...i, groupNo: i.group }))).flatMap((g) =>
        g.items.flatMap((i) => itemSteps(req.kind, i)),
      ),
    };
  }

  /** `keep`: the run's start asks every cluster (no preview) and keeps each Ceph failover plan for its child. */
  async #precheckItem(
    item: PlanView['items'][number],
    req: RunRequest,
    keep?: Map<string, KeptPlan>,
  ): Promise<RunPrecheckItem> {
    const { from, to } = this.#sides(item, req.direction);
    const base = {
      objectKey: item.objectKey,
      label: item.label,
      group: item.group,
      from: this.sites.nameOf(from),
      to: this.sites.nameOf(to),
    };
    const blocked = (message: string): RunPrecheckItem => ({
      ...base,
      action: 'none',
      canProceed: false,
      checks: [{ id: 'object', label: 'Object', status: 'block', message }],
      dataLossWindowSec: null,
      splitBrainRisk: 0,
    });
    try {
      if (req.kind === 'test') {
        if (req.direction !== 'forward')
          return blocked('a test failover runs toward the recovery sites only');
        const t = await this.tests.precheck(item);
        return {
          ...base,
          to: t.to,
          action: t.action,
          canProceed: !t.checks.some((c) => c.status === 'block'),
          checks: t.checks,
          dataLossWindowSec: t.ageSec,
          splitBrainRisk: 0,
        };
      }
      if (item.kind === 'replica') {
        const why = this.#replicaDirection(item, req.direction, req.kind);
        if (why) return blocked(why);
        if (req.kind === 'reprotect') {
          const r = this.replicas.row(item.replicaId!);
          if (r.state !== 'reinit-required')
            return {
              ...base,
              action: 'nothing to do (replicating)',
              canProceed: true,
              checks: [
                {
                  id: 'state',
                  label: 'Replica',
                  status: 'pass',
                  message: `${r.state}: ${this.sites.nameOf(r.targetSiteId)} is already its replica`,
                },
              ],
              dataLossWindowSec: 0,
              splitBrainRisk: 0,
            };
          return {
            ...base,
            action: `reinit ${this.sites.nameOf(from)} as the replica`,
            canProceed: !r.operation,
            checks: [
              r.operation
                ? {
                    id: 'state',
                    label: 'Replica',
                    status: 'block',
                    message: `a ${r.operation.kind} is unfinished (task #${r.operation.taskId})`,
                  }
                : { id: 'state', label: 'Replica', status: 'pass', message: 'waits for its reinit' },
            ],
            dataLossWindowSec: 0,
            splitBrainRisk: 0,
          };
        }
        const p = await this.failover.plan(item.replicaId!, {
          mode: req.kind === 'planned' ? 'planned' : 'forced',
        });
        const checks = withPlannedModeCheck(req.kind, p.checks, p.mode, p.modeReason);
        return {
          ...base,
          action: `${p.mode} failover`,
          canProceed: p.canProceed && !checks.some((c) => c.status === 'block'),
          checks,
          dataLossWindowSec: p.dataLossWindowSec,
          splitBrainRisk: 0,
        };
      }
      const input = cephFailoverInput(item, from, to);
      if (req.kind === 'reprotect') {
        const split = await this.#primaryOnBoth(input);
        return {
          ...base,
          action: split.length
            ? `resync ${this.sites.nameOf(from)} from ${this.sites.nameOf(to)} (protective copies kept)`
            : 'nothing to do (replicating back)',
          canProceed: true,
          checks: [
            {
              id: 'roles',
              label: 'Image roles',
              status: 'pass',
              message: split.length
                ? `${split.length} image(s) primary on both clusters`
                : `no image primary on ${this.sites.nameOf(from)}`,
            },
          ],
          dataLossWindowSec: 0,
          splitBrainRisk: 0,
        };
      }
      const p = await this.cephFailover.plan(input, { unplanned: req.kind === 'disaster', preview: !keep });
      keep?.set(item.objectKey, { at: this.clock.now(), plan: p });
      const checks = withPlannedModeCheck(
        req.kind,
        p.checks,
        p.mode,
        `${this.sites.nameOf(from)} does not answer`,
      );
      const windows = p.images.map((i) => i.dataLossWindowSec);
      const w =
        p.mode === 'planned'
          ? 0
          : windows.some((x) => x === null) || !windows.length
            ? null
            : Math.max(...(windows as number[]));
      return {
        ...base,
        action: `${p.mode} failover of ${p.images.length} image(s)`,
        canProceed: p.canProceed && !checks.some((c) => c.status === 'block'),
        checks,
        dataLossWindowSec: w,
        splitBrainRisk: p.splitBrainRisk.length,
      };
    } catch (e) {
      return blocked(errorMessage(e));
    }
  }

  /** Images of the scope that are primary on both clusters (after a disaster recovery, once the old site is back). */
  async #primaryOnBoth(input: {
    fromSiteId: number;
    toSiteId: number;
    pool: string;
    namespace: string;
    image?: string;
  }): Promise<string[]> {
    const [stale, good] = await Promise.all([
      this.ceph.adapter(input.fromSiteId).listImages(input.pool, input.namespace || undefined),
      this.ceph.adapter(input.toSiteId).listImages(input.pool, input.namespace || undefined),
    ]);
    const goodPrimary = new Set(good.filter((i) => i.mirroring?.primary === true).map((i) => i.name));
    const candidates = stale
      .filter(
        (i) =>
          i.mirroring?.primary === true &&
          goodPrimary.has(i.name) &&
          (!input.image || i.name === input.image),
      )
      .map((i) => i.name);
    // The lists' roles come from rbd-mirror's status, which lags a demotion by seconds: each
    // candidate is confirmed with `rbd info` on both sides before a resync discards anything.
    const ns = input.namespace;
    const confirmed = await Promise.all(
      candidates.map(async (n) => {
        const [s, g] = await Promise.all([
          this.ceph.adapter(input.fromSiteId).getImageInfo(input.pool, ns, n),
          this.ceph.adapter(input.toSiteId).getImageInfo(input.pool, ns, n),
        ]);
        return s.mirroring.primary === true && g.mirroring.primary === true;
      }),
    );
    return candidates.filter((_, i) => confirmed[i]);
  }

  /**
   * Starts a run the operator confirmed by typing the plan's name, with the reason they gave. The
   * pre-checks run again and every object must pass; a disaster recovery that would split the
   * brain of images still primary on a cluster that answers needs `confirmSplitBrain`.
   */
  async start(
    planId: number,
    req: RunRequest & { reason: string; confirm: string; confirmSplitBrain?: boolean },
    user: SessionUser,
  ): Promise<{ runId: number; task: TaskRow }> {
    const plan = this.plans.get(planId);
    if (req.confirm !== plan.name)
      throw AppError.invalid('confirm', `type the plan's name ${plan.name} to confirm`);
    const reason = req.reason.trim();
    if (reason.length < 3)
      throw AppError.invalid('reason', 'say why this run is made (it goes into the report)');
    if (req.kind === 'test') {
      const open = this.tests.uncleaned(planId);
      if (open.length)
        throw new AppError(
          'PRECONDITION_FAILED',
          `the test of run #${open[0]} is not cleaned up yet: clean it up before the next test`,
        );
    }
    const kept = new Map<string, KeptPlan>();
    const pre = await this.precheck(planId, req, { keep: kept });
    if (!pre.canProceed) {
      const blocks = pre.items.flatMap((i) =>
        i.checks.filter((c) => c.status === 'block').map((c) => `${i.label}: ${c.message}`),
      );
      throw new AppError(
        'PRECONDITION_FAILED',
        `the pre-checks do not pass: ${blocks.slice(0, 5).join('; ')}${blocks.length > 5 ? `; and ${blocks.length - 5} more` : ''}`,
      );
    }
    if (pre.splitBrainRisk && !req.confirmSplitBrain)
      throw AppError.invalid(
        'confirmSplitBrain',
        `${pre.splitBrainRisk} image(s) are still primary on a cluster that answers: a forced promote splits the brain. Run a planned migration instead, or confirm the split-brain`,
      );
    const rows = this.db
      .select()
      .from(recoveryPlanItems)
      .where(eq(recoveryPlanItems.planId, planId))
      .orderBy(asc(recoveryPlanItems.groupNo), asc(recoveryPlanItems.position))
      .all();
    const labels = new Map(plan.items.map((i) => [i.objectKey, i]));
    const stored: StoredPlan = {
      id: plan.id,
      name: plan.name,
      maxParallel: plan.maxParallel,
      questionTimeoutSec: plan.questionTimeoutSec,
      questionDefault: plan.questionDefault,
      items: rows.map(({ planId: _p, position: _q, ...r }) => ({
        ...r,
        label: labels.get(r.objectKey)?.label ?? r.objectKey,
        vmName: labels.get(r.objectKey)?.vmName ?? null,
      })),
    };
    const now = this.clock.now();
    const run = this.#storeRun(
      {
        planId,
        planName: plan.name,
        kind: req.kind,
        direction: req.direction,
        reason,
        plan: stored,
        prechecks: pre,
        startedBy: user.username,
        startedAt: new Date(now),
        options: req.kind === 'test' ? { network: req.network ?? { kind: 'none' } } : null,
      },
      stored.items,
    );
    const what =
      req.kind === 'test'
        ? 'Test failover'
        : req.kind === 'reprotect'
          ? 'Reprotect'
          : req.direction === 'back'
            ? req.kind === 'planned'
              ? 'Fail back'
              : 'Disaster recovery back'
            : req.kind === 'planned'
              ? 'Planned migration'
              : 'Disaster recovery';
    const task = this.tasks.startDurable<RunParams>({
      name: `${what}: plan ${plan.name}`,
      kind: 'plan.run',
      target: `plan/${planId}`,
      params: { runId: run.id, planName: plan.name, confirmSplitBrain: req.confirmSplitBrain === true },
      steps: pre.steps,
      username: user.username,
    });
    this.db.update(planRuns).set({ taskId: task.id }).where(eq(planRuns.id, run.id)).run();
    // Only the first group's objects start right away; later ones ask again when their turn comes.
    const first = Math.min(...stored.items.map((i) => i.groupNo));
    for (const it of stored.items) if (it.groupNo !== first) kept.delete(it.objectKey);
    if (kept.size) this.#kept.set(run.id, kept);
    return { runId: run.id, task };
  }

  /**
   * A test failover of one object on its own, not as part of a plan: a VM replica (on its replica
   * node) or an RBD image, namespace or pool (on its recovery cluster). Confirmed by typing the VM's
   * or the image's (namespace's, pool's) name; one open test per object.
   */
  async startObjectTest(
    object: ObjectTestTarget,
    req: { reason: string; confirm: string; network?: TestNetwork },
    user: SessionUser,
  ): Promise<{ runId: number; task: TaskRow }> {
    const input: PlanItemInput =
      object.kind === 'replica'
        ? { ...object, group: 1, dependsOn: [], waitAfterStartSec: 0, readiness: null }
        : { ...object, namespace: object.namespace ?? '', group: 1, dependsOn: [] };
    const key = objectKey(input);
    const r = input.kind === 'replica' ? this.replicas.row(input.replicaId) : null;
    if (input.kind === 'rbd' && input.protectedSiteId === input.recoverySiteId)
      throw AppError.invalid(
        'recoverySiteId',
        'the recovery cluster must differ from the production cluster',
      );
    const word = input.kind === 'replica' ? r!.vmName : confirmWord(input);
    if (req.confirm !== word) throw AppError.invalid('confirm', `type ${word} to confirm`);
    const reason = req.reason.trim();
    if (reason.length < 3)
      throw AppError.invalid('reason', 'say why this test is made (it goes into the report)');
    const open = this.tests.uncleanedObject(key);
    if (open)
      throw new AppError(
        'PRECONDITION_FAILED',
        `the test of run #${open} of this object is not cleaned up yet: clean it up before the next test`,
      );
    const label = itemLabel(input, { site: (id) => this.sites.nameOf(id), replica: () => r!.vmName });
    const item: StoredItem = {
      id: 0,
      objectKey: key,
      kind: input.kind,
      label,
      vmName: r?.vmName ?? null,
      replicaId: r?.id ?? null,
      groupNo: 1,
      protectedSiteId: r ? r.sourceSiteId : (input as { protectedSiteId: number }).protectedSiteId,
      recoverySiteId: r ? r.targetSiteId : (input as { recoverySiteId: number }).recoverySiteId,
      pool: input.kind === 'rbd' ? input.pool : null,
      namespace: input.kind === 'rbd' ? input.namespace : null,
      image: input.kind === 'rbd' ? (input.image ?? null) : null,
      waitAfterStartSec: 0,
      readiness: null,
      dependsOn: [],
    };
    const t = await this.tests.precheck(item);
    const blocks = t.checks.filter((c) => c.status === 'block');
    if (blocks.length)
      throw new AppError(
        'PRECONDITION_FAILED',
        `the pre-checks do not pass: ${blocks.map((c) => `${c.label}: ${c.message}`).join('; ')}`,
      );
    const stored: StoredPlan & { object: unknown } = {
      id: 0,
      name: label,
      maxParallel: 1,
      questionTimeoutSec: 600,
      questionDefault: 'abort',
      items: [item],
      object: { key, kind: input.kind, label },
    };
    const prechecks = {
      items: [
        {
          objectKey: key,
          label,
          group: 1,
          from: this.sites.nameOf(item.protectedSiteId),
          to: t.to,
          action: t.action,
          canProceed: true,
          checks: t.checks,
          dataLossWindowSec: t.ageSec,
          splitBrainRisk: 0,
        },
      ],
    };
    const run = this.db.transaction((tx) => {
      const row = tx
        .insert(planRuns)
        .values({
          planId: null,
          planName: label,
          kind: 'test',
          direction: 'forward',
          reason,
          plan: stored,
          prechecks,
          startedBy: user.username,
          startedAt: new Date(this.clock.now()),
          options: { network: req.network ?? { kind: 'none' } },
        })
        .returning()
        .get();
      tx.insert(planRunItems)
        .values({ runId: row.id, objectKey: key, label, groupNo: 1, state: 'pending' })
        .run();
      return row;
    });
    const task = this.tasks.startDurable<RunParams>({
      name: `Test failover: ${label}`,
      kind: 'plan.run',
      target: `test/${key}`,
      params: { runId: run.id, planName: word, confirmSplitBrain: false },
      steps: testSteps(item),
      username: user.username,
    });
    this.db.update(planRuns).set({ taskId: task.id }).where(eq(planRuns.id, run.id)).run();
    return { runId: run.id, task };
  }

  /**
   * Cleans up a test run: destroys what it recorded per object (test VMs, clones, holds, image
   * copies) and nothing else. Also for a test that was cut off by a crash or failed half-way.
   */
  cleanupTest(
    testRunId: number,
    req: { reason?: string },
    user: SessionUser,
  ): { runId: number; task: TaskRow } {
    const test = this.#runRow(testRunId);
    if (test.kind !== 'test')
      throw AppError.invalid('runId', `run #${testRunId} is a ${test.kind} run, not a test failover`);
    if (test.cleanedAt)
      throw new AppError('PRECONDITION_FAILED', `the test of run #${testRunId} was cleaned up already`);
    const t = test.taskId ? this.tasks.get(test.taskId) : undefined;
    if (t && ACTIVE_STATES.includes(t.state))
      throw new AppError(
        'CONFLICT',
        `the test is still running (task #${t.id}); cancel it first, then clean it up`,
      );
    const previous = this.db
      .select()
      .from(planRuns)
      .where(and(eq(planRuns.kind, 'test-cleanup'), eq(planRuns.ofRunId, testRunId)))
      .all();
    for (const c of previous) {
      const ct = c.taskId ? this.tasks.get(c.taskId) : undefined;
      if (ct && ACTIVE_STATES.includes(ct.state))
        throw new AppError('CONFLICT', `the cleanup is running (task #${ct.id})`);
      if (ct && ENDED_FAILED.includes(ct.state))
        throw new AppError(
          'PRECONDITION_FAILED',
          `the cleanup of this test stopped (task #${ct.id}, ${ct.state}): resume that task`,
        );
    }
    const items = this.#items(testRunId);
    const stored = test.plan as StoredPlan;
    const reason = req.reason?.trim() || `clean up the test failover of run #${testRunId}`;
    const run = this.#storeRun(
      {
        planId: test.planId,
        planName: test.planName,
        kind: 'test-cleanup',
        direction: 'forward',
        reason,
        plan: stored,
        startedBy: user.username,
        startedAt: new Date(this.clock.now()),
        ofRunId: testRunId,
      },
      items,
    );
    const task = this.tasks.startDurable<RunParams>({
      name: `Test cleanup: plan ${test.planName} (run #${testRunId})`,
      kind: 'plan.run',
      target: test.planId ? `plan/${test.planId}` : `plan-run/${testRunId}`,
      params: { runId: run.id, planName: test.planName, confirmSplitBrain: false },
      steps: items.map((i) => cleanupStep(i)),
      username: user.username,
    });
    this.db.update(planRuns).set({ taskId: task.id }).where(eq(planRuns.id, run.id)).run();
    return { runId: run.id, task };
  }

  #runRow(id: number): PlanRunRow {
    const r = this.db.select().from(planRuns).where(eq(planRuns.id, id)).get();
    if (!r) throw new AppError('NOT_FOUND', `plan run #${id} does not exist`);
    return r;
  }

  /** Stores a run and its items, all pending, in one transaction. */
  #storeRun(
    values: typeof planRuns.$inferInsert,
    items: readonly (Pick<PlanRunItemRow, 'objectKey' | 'label' | 'groupNo'> & { created?: unknown })[],
  ) {
    return this.db.transaction((tx) => {
      const r = tx.insert(planRuns).values(values).returning().get();
      for (const it of items)
        tx.insert(planRunItems)
          .values({
            runId: r.id,
            objectKey: it.objectKey,
            label: it.label,
            groupNo: it.groupNo,
            state: 'pending',
            created: it.created,
          })
          .run();
      return r;
    });
  }

  #items(runId: number): PlanRunItemRow[] {
    return this.db.select().from(planRunItems).where(eq(planRunItems.runId, runId)).all();
  }

  /** Marks a run's item running (started at its first start, kept on a resume) and gives its row. */
  #startItem(runId: number, key: string): PlanRunItemRow {
    const row = this.#items(runId).find((i) => i.objectKey === key)!;
    this.#setItem(runId, key, {
      state: 'running',
      error: null,
      startedAt: row.startedAt ?? new Date(this.clock.now()),
      finishedAt: null,
    });
    return row;
  }

  #setItem(runId: number, key: string, set: Partial<PlanRunItemRow>) {
    this.db
      .update(planRunItems)
      .set(set)
      .where(and(eq(planRunItems.runId, runId), eq(planRunItems.objectKey, key)))
      .run();
  }

  async #run(ctx: TaskContext, p: RunParams) {
    const run = this.#runRow(p.runId);
    const plan = run.plan as StoredPlan;
    const user: SessionUser = { id: 0, username: run.startedBy, role: 'operator' };
    // One question at a time: the engine keeps one open question per task.
    let asking: Promise<unknown> = Promise.resolve();
    const ask = (q: Parameters<TaskContext['ask']>[0]) => {
      const next = asking.then(() => ctx.ask(q));
      asking = next.catch(() => undefined);
      return next;
    };
    if (run.kind === 'test-cleanup') return this.#cleanup(ctx, run);
    let aborted: string | null = null;
    try {
      for (const { group, items } of runGroups(plan.items)) {
        ctx.throwIfCancelled();
        await eachLimited(items, plan.maxParallel, async (item) => {
          if (aborted) return;
          const why = await this.#item(ctx, run, plan, item, user, ask);
          if (why) aborted ??= why;
        });
        if (aborted)
          throw new AppError(
            'PRECONDITION_FAILED',
            `${aborted} (group ${group}); resume the run once the cause is fixed`,
          );
      }
    } finally {
      this.#kept.delete(run.id);
      this.#figures(run.id);
    }
    const its = this.#items(run.id);
    return {
      done: its.filter((i) => i.state === 'done').length,
      skipped: its.filter((i) => i.state === 'skipped').length,
    };
  }

  /** Stores the run's measured figures from its items (also for a failed or interrupted run). */
  #figures(runId: number) {
    const run = this.#runRow(runId);
    const plan = run.plan as StoredPlan;
    const kinds = new Map(plan.items.map((i) => [i.objectKey, i.kind]));
    const f = runFigures(
      run.startedAt.getTime(),
      this.#items(runId).map((i) => ({
        kind: kinds.get(i.objectKey) ?? 'rbd',
        state: i.state,
        finishedAt: i.finishedAt?.getTime() ?? null,
        readyAt: i.readyAt?.getTime() ?? null,
        dataLossSec: i.dataLossSec,
      })),
    );
    this.db
      .update(planRuns)
      .set({ dataLossSec: f.dataLossSec, recoveryTimeMs: f.recoveryTimeMs })
      .where(eq(planRuns.id, runId))
      .run();
  }

  /** One object of a run, with the operator's choice on failure. Returns why the run must stop, or null. */
  async #item(
    ctx: TaskContext,
    run: PlanRunRow,
    plan: StoredPlan,
    item: StoredItem,
    user: SessionUser,
    ask: (q: Parameters<TaskContext['ask']>[0]) => Promise<string>,
  ): Promise<string | null> {
    const kind = run.kind as RunKind;
    const current = this.#items(run.id).find((i) => i.objectKey === item.objectKey);
    if (current?.state === 'skipped') {
      for (const step of itemSteps(kind, item)) ctx.skip(step, current.error ?? 'skipped');
      return null;
    }
    for (;;) {
      try {
        if (kind === 'test') await this.#testObject(ctx, run, item);
        else await ctx.step(itemStep(kind, item), () => this.#object(ctx, run, item, user));
        return null;
      } catch (e) {
        if (ctx.signal.aborted || AppError.is(e, 'CANCELLED')) throw e;
        const error = errorMessage(e);
        this.#setItem(run.id, item.objectKey, {
          state: 'failed',
          error,
          finishedAt: new Date(this.clock.now()),
        });
        const dependants = dependantsOf(item.objectKey, plan.items);
        const answer = await ask({
          message: `${item.label} failed: ${error}. Retry it, skip it${dependants.length ? ` and the ${dependants.length} object(s) that depend on it` : ''}, or abort the run?`,
          options: [
            { value: 'retry', label: 'Retry' },
            {
              value: 'skip',
              label: dependants.length ? `Skip it and its ${dependants.length} dependant(s)` : 'Skip it',
            },
            { value: 'abort', label: 'Abort the run' },
          ],
          defaultValue: plan.questionDefault,
          timeoutMs: plan.questionTimeoutSec * 1000,
        });
        if (answer === 'retry') {
          ctx.log(`retrying ${item.label}`);
          continue;
        }
        if (answer === 'skip') {
          this.#setItem(run.id, item.objectKey, {
            state: 'skipped',
            error: `skipped after it failed: ${error}`,
          });
          for (const d of dependants) {
            const label = plan.items.find((i) => i.objectKey === d)?.label ?? d;
            this.#setItem(run.id, d, {
              state: 'skipped',
              error: `skipped: it depends on ${item.label}, which was skipped`,
            });
            ctx.log(`${label} is skipped: it depends on ${item.label}`, 'warn');
          }
          return null;
        }
        return `aborted by the operator after ${item.label} failed: ${error}`;
      }
    }
  }

  /** The work of one object: its own durable task, started once, waited for, resumed if it stopped. */
  async #object(
    ctx: TaskContext,
    run: PlanRunRow,
    item: StoredItem,
    user: SessionUser,
  ): Promise<{ taskId: number | null; dataLossSec: number | null }> {
    const kind = run.kind as RunKind;
    const direction = run.direction as RunDirection;
    const row = this.#startItem(run.id, item.objectKey);
    let childId = row.childTaskId ?? this.#adopt(run, item);
    let child = childId ? this.tasks.get(childId) : undefined;
    if (
      child &&
      (child.state === 'rolled-back' ||
        (ENDED_FAILED.includes(child.state) && !this.tasks.recovery(child.id)?.resume.ok))
    ) {
      const why =
        child.state === 'rolled-back' ? 'it was rolled back' : this.tasks.recovery(child.id)?.resume.reason;
      ctx.log(
        `task #${child.id} of ${item.label} cannot go on (${why}); starting the object's work again`,
        'warn',
      );
      child = undefined;
    }
    if (!child) {
      const started = await this.#startChild(run, item, kind, direction, user);
      if (!started) {
        ctx.log(`${item.label}: nothing to do`);
        this.#setItem(run.id, item.objectKey, {
          state: 'done',
          finishedAt: new Date(this.clock.now()),
          dataLossSec: 0,
        });
        return { taskId: null, dataLossSec: 0 };
      }
      child = started;
      ctx.log(`${item.label}: task #${child.id} "${child.name}"`);
    } else if (ENDED_FAILED.includes(child.state)) {
      const offer = this.tasks.recovery(child.id)!;
      ctx.log(`${item.label}: resuming task #${child.id} (${child.state})`);
      child = this.tasks.resume(child.id, offer.confirmText, user.username);
    }
    childId = child.id;
    this.#setItem(run.id, item.objectKey, { childTaskId: childId });
    const onAbort = () => {
      const t = this.tasks.get(childId!);
      if (t && ACTIVE_STATES.includes(t.state)) this.tasks.cancel(childId!, user.username);
    };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let ended: TaskRow;
    try {
      ended = await this.tasks.wait(childId);
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
    ctx.throwIfCancelled();
    if (ended.state !== 'finished')
      throw new AppError(
        'COMMAND_FAILED',
        `task #${ended.id} "${ended.name}" ${ended.state}${ended.error ? `: ${ended.error}` : ''}`,
      );
    const point = kind === 'reprotect' ? null : recoveryPointOf(ended, this.tasks.steps(ended.id));
    const dataLossSec = !point ? 0 : point.planned ? 0 : measuredLoss(run.startedAt.getTime(), point.at);
    let readyAt: Date | null = null;
    if (item.kind === 'replica' && kind !== 'reprotect')
      readyAt = await this.#ready(ctx, item, this.#failedOverVm(item, ended));
    this.#setItem(run.id, item.objectKey, {
      state: 'done',
      finishedAt: new Date(this.clock.now()),
      readyAt,
      recoveryPointAt: point?.at ? new Date(point.at) : null,
      dataLossSec,
    });
    return { taskId: childId, dataLossSec };
  }

  /** One object of a test failover: its clones (or copies) and its test VM, ready. */
  async #testObject(ctx: TaskContext, run: PlanRunRow, item: StoredItem): Promise<void> {
    const row = this.#startItem(run.id, item.objectKey);
    const options = run.options ?? { network: { kind: 'none' } };
    const res = await this.tests.test(
      ctx,
      run.id,
      item,
      options,
      (row.created as TestCreated | null) ?? null,
      (created) => this.#setItem(run.id, item.objectKey, { created }),
    );
    let readyAt: Date | null = null;
    if (item.kind === 'replica') {
      const t = this.tests.testVm(run.id, item);
      readyAt = await this.#ready(ctx, item, {
        ...t,
        note: `as its master is`,
        tcp: options.network.kind !== 'none',
      });
    }
    this.#setItem(run.id, item.objectKey, {
      state: 'done',
      finishedAt: new Date(this.clock.now()),
      readyAt,
      recoveryPointAt: res.recoveryPointAt !== null ? new Date(res.recoveryPointAt) : null,
      dataLossSec: measuredLoss(run.startedAt.getTime(), res.recoveryPointAt),
    });
  }

  /** A test's cleanup: each object's recorded test resources, destroyed; then the test is marked clean. */
  async #cleanup(ctx: TaskContext, run: PlanRunRow) {
    const items = this.#items(run.id);
    for (const it of items) {
      ctx.throwIfCancelled();
      if (it.state === 'done') {
        ctx.skip(cleanupStep(it), 'cleaned up');
        continue;
      }
      this.#setItem(run.id, it.objectKey, {
        state: 'running',
        error: null,
        startedAt: it.startedAt ?? new Date(this.clock.now()),
      });
      try {
        await ctx.step(cleanupStep(it), async () => {
          const created = it.created as TestCreated | null;
          if (!created) return ctx.log(`${it.label}: the test created nothing`);
          await this.tests.cleanup(ctx, created);
        });
      } catch (e) {
        this.#setItem(run.id, it.objectKey, {
          state: 'failed',
          error: errorMessage(e),
          finishedAt: new Date(this.clock.now()),
        });
        throw e;
      }
      this.#setItem(run.id, it.objectKey, { state: 'done', finishedAt: new Date(this.clock.now()) });
    }
    this.db
      .update(planRuns)
      .set({ cleanedAt: new Date(this.clock.now()) })
      .where(eq(planRuns.id, run.ofRunId!))
      .run();
    return { cleaned: items.filter((i) => i.created).length };
  }

  /** A child task a crashed run had started but not yet recorded: the newest of its kind on the object's lock since the run began. */
  #adopt(run: PlanRunRow, item: StoredItem): number | null {
    if (!run.taskId) return null;
    const kind = run.kind as RunKind;
    const { from, to } = this.#sides(item, run.direction as RunDirection);
    let want: { kinds: string[]; target: string };
    if (item.kind === 'replica')
      want = {
        kinds: kind === 'reprotect' ? ['replica.reinit'] : ['replica.failover'],
        target: replicaLock(item.replicaId!),
      };
    else {
      const scope = {
        pool: item.pool!,
        namespace: item.namespace || undefined,
        image: item.image ?? undefined,
      };
      want =
        kind === 'reprotect'
          ? { kinds: ['ceph.resync'], target: cephLock(from, scope) }
          : { kinds: ['ceph.failover'], target: cephLock(to, scope) };
    }
    const t = this.db
      .select({ id: tasksTable.id })
      .from(tasksTable)
      .where(
        and(
          inArray(tasksTable.kind, want.kinds),
          eq(tasksTable.target, want.target),
          gt(tasksTable.id, run.taskId),
        ),
      )
      .orderBy(desc(tasksTable.id))
      .get();
    return t?.id ?? null;
  }

  async #startChild(
    run: PlanRunRow,
    item: StoredItem,
    kind: RunKind,
    direction: RunDirection,
    user: SessionUser,
  ): Promise<TaskRow | null> {
    const { from, to } = this.#sides(item, direction);
    if (item.kind === 'replica') {
      const r = this.replicas.row(item.replicaId!);
      if (kind === 'reprotect') {
        if (r.state !== 'reinit-required') return null;
        return this.failover.reinit(r.id, { confirm: r.vmName }, user);
      }
      return this.failover.failover(
        r.id,
        { confirm: r.vmName, mode: kind === 'planned' ? 'planned' : 'forced' },
        user,
      );
    }
    const input = cephFailoverInput(item, from, to);
    if (kind === 'reprotect') {
      const split = await this.#primaryOnBoth(input);
      if (!split.length) return null;
      return this.cephFailover.resync(
        {
          staleSiteId: from,
          goodSiteId: to,
          pool: input.pool,
          namespace: input.namespace,
          image: input.image,
        },
        { confirm: confirmWord(input) },
        user,
      );
    }
    const checked = (run.prechecks as RunPrecheck | null)?.items.find((i) => i.objectKey === item.objectKey);
    const confirmSplitBrain =
      (this.tasks.get(run.taskId!)?.params as RunParams | undefined)?.confirmSplitBrain === true &&
      (checked?.splitBrainRisk ?? 0) > 0;
    // The mode the operator confirmed: a planned run whose primary cluster stopped answering since
    // its pre-checks is refused (as a replica's planned failover is), never force-promoted.
    // The run's start asked both clusters moments ago: a first-group object's plan at most
    // KEPT_PLAN_MS old is acted on (once) rather than asked again — a cluster that is gone costs
    // its connect timeout once, not twice. Later groups, a retry and a resumed run ask again.
    const k = this.#kept.get(run.id)?.get(item.objectKey);
    this.#kept.get(run.id)?.delete(item.objectKey);
    const plan = k && this.clock.now() - k.at <= KEPT_PLAN_MS ? k.plan : undefined;
    return this.cephFailover.failover(
      input,
      {
        confirm: confirmWord(input),
        unplanned: kind === 'disaster',
        confirmSplitBrain: confirmSplitBrain || undefined,
        expectMode: kind === 'disaster' ? 'unplanned' : 'planned',
        plan,
      },
      user,
    );
  }

  /** Where a failed-over VM runs, for its readiness check. */
  #failedOverVm(item: StoredItem, failover: TaskRow) {
    const r = this.replicas.row(item.replicaId!);
    const p = (failover.params ?? {}) as { masterState?: string | null; fromSiteId?: number };
    // The failover's own rule for starting the VM paused (its step "Start the VM").
    const paused = (p.masterState ?? r.vmDefinition?.state) === 'paused';
    return {
      node: this.replicas.node(r.sourceSiteId),
      siteId: r.sourceSiteId,
      vm: r.vmName,
      paused,
      note: `as it was on ${p.fromSiteId ? this.sites.nameOf(p.fromSiteId) : 'its master'}`,
      tcp: true,
    };
  }

  /**
   * Waits the VM's wait-after-start, then until it runs and (if asked, and it has a network) its
   * TCP port answers from its node. A VM started paused (as its master was) counts as started
   * when paused.
   */
  async #ready(
    ctx: TaskContext,
    item: StoredItem,
    vm: { node: NodeAdapter; siteId: number; vm: string; paused: boolean; note: string; tcp: boolean },
  ): Promise<Date> {
    const { node } = vm;
    const where = this.sites.nameOf(vm.siteId);
    let pausedNoted = false;
    if (item.waitAfterStartSec > 0) {
      ctx.log(`${item.label}: waiting ${item.waitAfterStartSec} s after its start`);
      await this.clock.sleep(item.waitAfterStartSec * 1000, ctx.signal);
    }
    const tcp = vm.tcp ? item.readiness?.tcp : null;
    if (item.readiness?.tcp && !vm.tcp)
      ctx.log(
        `${item.label}: the TCP check of ${item.readiness.tcp.host}:${item.readiness.tcp.port} is left out: ${vm.vm} has no network interface`,
      );
    const timeoutMs = (item.readiness?.timeoutSec ?? 120) * 1000;
    const deadline = this.clock.now() + timeoutMs;
    let why = '';
    for (;;) {
      ctx.throwIfCancelled();
      try {
        const state = await node.getVmState(vm.vm);
        const started = state === 'running' || (vm.paused && state === 'paused');
        if (started && state === 'paused' && !pausedNoted) {
          pausedNoted = true;
          ctx.log(`${item.label}: ${vm.vm} is paused on ${where}, ${vm.note}`);
        }
        if (!started) why = `VM ${vm.vm} is ${state ?? 'not defined'} on ${where}`;
        else if (tcp) {
          const res = await node.checkTcp(tcp.host, tcp.port, 5000);
          why = res.open ? '' : res.detail;
          if (res.open) ctx.log(`${item.label}: ${res.detail}`);
        } else why = '';
      } catch (e) {
        why = errorMessage(e);
      }
      if (!why) return new Date(this.clock.now());
      if (this.clock.now() >= deadline)
        throw new AppError('TIMEOUT', `${item.label} is not ready after ${timeoutMs / 1000} s: ${why}`);
      await this.clock.sleep(1000, ctx.signal);
    }
  }

  /** The plan_runs row of a task (for the task page's link to its report). */
  runOfTask(taskId: number): number | null {
    return (
      this.db.select({ id: planRuns.id }).from(planRuns).where(eq(planRuns.taskId, taskId)).get()?.id ?? null
    );
  }
}
