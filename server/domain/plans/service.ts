import { and, asc, desc, eq, inArray, isNull, ne } from 'drizzle-orm';
import type { Db } from '../../db/client';
import {
  planRuns,
  recoveryPlanItems,
  recoveryPlans,
  replicas,
  sites,
  tasks,
  type RecoveryPlanItemRow,
} from '../../db/schema';
import type { SessionUser } from '../auth';
import type { Clock } from '../../core/clock';
import { AppError } from '../../core/errors';
import {
  checkPlanShape,
  itemLabel,
  keysOverlap,
  objectKey,
  planInputSchema,
  type PlanInput,
  type PlanItemInput,
} from './rules';

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
interface CheckedItem {
  item: PlanItemInput;
  key: string;
  protectedSiteId: number;
  recoverySiteId: number;
}

export interface PlanItemView {
  id: number;
  objectKey: string;
  label: string;
  group: number;
  kind: 'replica' | 'rbd';
  replicaId: number | null;
  vmName: string | null;
  protectedSiteId: number;
  protectedSite: string;
  recoverySiteId: number;
  recoverySite: string;
  pool: string | null;
  namespace: string | null;
  image: string | null;
  waitAfterStartSec: number;
  readiness: RecoveryPlanItemRow['readiness'];
  dependsOn: string[];
}

export interface PlanView {
  id: number;
  name: string;
  description: string;
  maxParallel: number;
  questionTimeoutSec: number;
  questionDefault: 'abort' | 'skip';
  createdBy: string;
  createdAt: number;
  updatedAt: number | null;
  items: PlanItemView[];
  lastRun: {
    id: number;
    kind: string;
    direction: string;
    state: string | null;
    startedAt: number;
    taskId: number | null;
  } | null;
  /** A test failover whose cleanup has not finished: its VMs and clones are still there. */
  openTest: { runId: number; startedAt: number } | null;
}

/** Recovery plans: create, edit (the items are replaced as a whole), delete, and their stored form. */
export class RecoveryPlans {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  #names() {
    const siteNames = new Map(
      this.db
        .select({ id: sites.id, name: sites.name })
        .from(sites)
        .all()
        .map((s) => [s.id, s.name]),
    );
    const reps = new Map(
      this.db
        .select({ id: replicas.id, vmName: replicas.vmName, name: replicas.name })
        .from(replicas)
        .all()
        .map((r) => [r.id, r]),
    );
    return {
      site: (id: number) => siteNames.get(id) ?? `site #${id}`,
      replica: (id: number) => reps.get(id)?.vmName ?? `replica #${id} (deleted)`,
      vmName: (id: number) => reps.get(id)?.vmName ?? null,
    };
  }

  #itemInput(r: RecoveryPlanItemRow): PlanItemInput {
    return r.kind === 'replica'
      ? {
          kind: 'replica',
          replicaId: r.replicaId!,
          group: r.groupNo,
          dependsOn: r.dependsOn,
          waitAfterStartSec: r.waitAfterStartSec,
          readiness: r.readiness
            ? { tcp: r.readiness.tcp ?? null, timeoutSec: r.readiness.timeoutSec }
            : null,
        }
      : {
          kind: 'rbd',
          protectedSiteId: r.protectedSiteId,
          recoverySiteId: r.recoverySiteId,
          pool: r.pool!,
          namespace: r.namespace ?? '',
          image: r.image ?? undefined,
          group: r.groupNo,
          dependsOn: r.dependsOn,
        };
  }

  #view(planId: number): PlanView {
    const p = this.db.select().from(recoveryPlans).where(eq(recoveryPlans.id, planId)).get();
    if (!p) throw new AppError('NOT_FOUND', `recovery plan #${planId} does not exist`);
    const names = this.#names();
    const items = this.db
      .select()
      .from(recoveryPlanItems)
      .where(eq(recoveryPlanItems.planId, planId))
      .orderBy(asc(recoveryPlanItems.groupNo), asc(recoveryPlanItems.position))
      .all();
    const last = this.db
      .select({
        id: planRuns.id,
        kind: planRuns.kind,
        direction: planRuns.direction,
        startedAt: planRuns.startedAt,
        taskId: planRuns.taskId,
        state: tasks.state,
      })
      .from(planRuns)
      .leftJoin(tasks, eq(tasks.id, planRuns.taskId))
      .where(eq(planRuns.planId, planId))
      .orderBy(desc(planRuns.id))
      .limit(1)
      .get();
    return {
      id: p.id,
      name: p.name,
      description: p.description,
      maxParallel: p.maxParallel,
      questionTimeoutSec: p.questionTimeoutSec,
      questionDefault: p.questionDefault,
      createdBy: p.createdBy,
      createdAt: p.createdAt.getTime(),
      updatedAt: p.updatedAt?.getTime() ?? null,
      items: items.map((r) => ({
        id: r.id,
        objectKey: r.objectKey,
        label: itemLabel(this.#itemInput(r), names),
        group: r.groupNo,
        kind: r.kind,
        replicaId: r.replicaId,
        vmName: r.replicaId ? names.vmName(r.replicaId) : null,
        protectedSiteId: r.protectedSiteId,
        protectedSite: names.site(r.protectedSiteId),
        recoverySiteId: r.recoverySiteId,
        recoverySite: names.site(r.recoverySiteId),
        pool: r.pool,
        namespace: r.namespace,
        image: r.image,
        waitAfterStartSec: r.waitAfterStartSec,
        readiness: r.readiness,
        dependsOn: r.dependsOn,
      })),
      lastRun: last
        ? {
            id: last.id,
            kind: last.kind,
            direction: last.direction,
            state: last.state,
            startedAt: last.startedAt.getTime(),
            taskId: last.taskId,
          }
        : null,
      openTest: ((t) => (t ? { runId: t.id, startedAt: t.startedAt.getTime() } : null))(
        this.db
          .select({ id: planRuns.id, startedAt: planRuns.startedAt })
          .from(planRuns)
          .where(and(eq(planRuns.planId, planId), eq(planRuns.kind, 'test'), isNull(planRuns.cleanedAt)))
          .orderBy(desc(planRuns.id))
          .get(),
      ),
    };
  }

  list(): PlanView[] {
    return this.db
      .select({ id: recoveryPlans.id })
      .from(recoveryPlans)
      .orderBy(asc(recoveryPlans.name))
      .all()
      .map((p) => this.#view(p.id));
  }

  get(id: number): PlanView {
    return this.#view(id);
  }

  /** The plan as its form edits it. */
  input(id: number): PlanInput {
    const v = this.#view(id);
    const rows = this.db
      .select()
      .from(recoveryPlanItems)
      .where(eq(recoveryPlanItems.planId, id))
      .orderBy(asc(recoveryPlanItems.groupNo), asc(recoveryPlanItems.position))
      .all();
    return {
      name: v.name,
      description: v.description,
      maxParallel: v.maxParallel,
      questionTimeoutSec: v.questionTimeoutSec,
      questionDefault: v.questionDefault,
      items: rows.map((r) => this.#itemInput(r)),
    };
  }

  /**
   * The rules a saved plan keeps: its shape (checkPlanShape), every object exists — a replica, and
   * two Ceph clusters —, a replica is protected now (its master and target are the plan's
   * production and recovery sites), and no object (nor one it overlaps) is in another plan.
   */
  #check(input: PlanInput, exceptPlanId?: number): CheckedItem[] {
    checkPlanShape(input);
    const kinds = new Map(
      this.db
        .select({ id: sites.id, kind: sites.kind, name: sites.name })
        .from(sites)
        .all()
        .map((s) => [s.id, s]),
    );
    const others = this.db
      .select({ key: recoveryPlanItems.objectKey, plan: recoveryPlans.name })
      .from(recoveryPlanItems)
      .innerJoin(recoveryPlans, eq(recoveryPlans.id, recoveryPlanItems.planId))
      .where(exceptPlanId ? ne(recoveryPlanItems.planId, exceptPlanId) : undefined)
      .all();
    const reps = input.items.some((i) => i.kind === 'replica')
      ? new Map(
          this.db
            .select()
            .from(replicas)
            .where(
              inArray(
                replicas.id,
                input.items.flatMap((i) => (i.kind === 'replica' ? [i.replicaId] : [])),
              ),
            )
            .all()
            .map((r) => [r.id, r]),
        )
      : new Map();
    return input.items.map((item, i) => {
      const key = objectKey(item);
      const taken = others.find((o) => keysOverlap(o.key, key));
      if (taken)
        throw AppError.invalid(
          `items.${i}`,
          `${taken.key === key ? 'this object' : 'an object overlapping this one'} is already in plan "${taken.plan}": an object is in one plan only`,
        );
      if (item.kind === 'replica') {
        const r = reps.get(item.replicaId);
        if (!r) throw AppError.invalid(`items.${i}.replicaId`, `replica #${item.replicaId} does not exist`);
        if (r.state === 'reinit-required' || r.state === 'reinit-running')
          throw AppError.invalid(
            `items.${i}.replicaId`,
            `the replica of ${r.vmName} is not protecting it now (${r.state}): reinitialise it first`,
          );
        if (item.dependsOn.some((d) => !d.startsWith('rbd:')))
          throw AppError.invalid(
            `items.${i}.dependsOn`,
            'a VM can depend on RBD pools, namespaces or images (the storage of its disks)',
          );
        return { item, key, protectedSiteId: r.sourceSiteId, recoverySiteId: r.targetSiteId };
      }
      for (const [field, id] of [
        ['protectedSiteId', item.protectedSiteId],
        ['recoverySiteId', item.recoverySiteId],
      ] as const) {
        const s = kinds.get(id);
        if (!s) throw AppError.invalid(`items.${i}.${field}`, `site #${id} does not exist`);
        if (s.kind !== 'ceph')
          throw AppError.invalid(`items.${i}.${field}`, `${s.name} is not a Ceph cluster`);
      }
      if (item.dependsOn.length)
        throw AppError.invalid(
          `items.${i}.dependsOn`,
          'RBD items fail over first; only VMs depend on others',
        );
      return { item, key, protectedSiteId: item.protectedSiteId, recoverySiteId: item.recoverySiteId };
    });
  }

  #nameFree(name: string, exceptId?: number) {
    const same = this.db
      .select({ id: recoveryPlans.id })
      .from(recoveryPlans)
      .where(eq(recoveryPlans.name, name))
      .get();
    if (same && same.id !== exceptId)
      throw new AppError('ALREADY_EXISTS', `a recovery plan named ${name} already exists`, {
        fields: [{ field: 'name', message: 'a plan with this name exists' }],
      });
  }

  #writeItems(tx: Tx, planId: number, checked: CheckedItem[]) {
    tx.delete(recoveryPlanItems).where(eq(recoveryPlanItems.planId, planId)).run();
    checked.forEach(({ item, key, protectedSiteId, recoverySiteId }, position) => {
      tx.insert(recoveryPlanItems)
        .values({
          planId,
          groupNo: item.group,
          position,
          objectKey: key,
          kind: item.kind,
          replicaId: item.kind === 'replica' ? item.replicaId : null,
          protectedSiteId,
          recoverySiteId,
          pool: item.kind === 'rbd' ? item.pool : null,
          namespace: item.kind === 'rbd' ? item.namespace : null,
          image: item.kind === 'rbd' ? (item.image ?? null) : null,
          waitAfterStartSec: item.kind === 'replica' ? item.waitAfterStartSec : 0,
          readiness: item.kind === 'replica' ? item.readiness : null,
          dependsOn: item.dependsOn,
        })
        .run();
    });
  }

  create(raw: unknown, user: SessionUser): PlanView {
    const input = planInputSchema.parse(raw);
    this.#nameFree(input.name);
    const checked = this.#check(input);
    const id = this.db.transaction((tx) => {
      const p = tx
        .insert(recoveryPlans)
        .values({
          name: input.name,
          description: input.description,
          maxParallel: input.maxParallel,
          questionTimeoutSec: input.questionTimeoutSec,
          questionDefault: input.questionDefault,
          createdBy: user.username,
          createdAt: new Date(this.clock.now()),
        })
        .returning({ id: recoveryPlans.id })
        .get();
      this.#writeItems(tx, p.id, checked);
      return p.id;
    });
    return this.#view(id);
  }

  update(id: number, raw: unknown): PlanView {
    this.#view(id);
    const input = planInputSchema.parse(raw);
    this.#nameFree(input.name, id);
    this.#busy(id, 'edited');
    const checked = this.#check(input, id);
    this.db.transaction((tx) => {
      tx.update(recoveryPlans)
        .set({
          name: input.name,
          description: input.description,
          maxParallel: input.maxParallel,
          questionTimeoutSec: input.questionTimeoutSec,
          questionDefault: input.questionDefault,
          updatedAt: new Date(this.clock.now()),
        })
        .where(eq(recoveryPlans.id, id))
        .run();
      this.#writeItems(tx, id, checked);
    });
    return this.#view(id);
  }

  /** Deleting a plan keeps its run reports (they hold the plan as it was). */
  remove(id: number, confirm: string): PlanView {
    const v = this.#view(id);
    if (confirm !== v.name) throw AppError.invalid('confirm', `type the plan's name ${v.name} to confirm`);
    this.#busy(id, 'deleted');
    this.db.delete(recoveryPlans).where(eq(recoveryPlans.id, id)).run();
    return v;
  }

  /** A plan with a run in progress is not changed under it. */
  #busy(id: number, what: string) {
    const running = this.db
      .select({ id: planRuns.id, taskId: planRuns.taskId })
      .from(planRuns)
      .where(
        and(
          eq(planRuns.planId, id),
          inArray(planRuns.kind, ['planned', 'disaster', 'reprotect', 'test', 'test-cleanup']),
        ),
      )
      .orderBy(desc(planRuns.id))
      .limit(1)
      .get();
    if (running && this.runActive?.(running.id))
      throw new AppError(
        'CONFLICT',
        `the plan has a run in progress (task #${running.taskId}); it can be ${what} once the run has ended`,
      );
  }

  /** Set by the runner: whether a run's task is still active. */
  runActive?: (runId: number) => boolean;
}
