import { z } from 'zod';
import { NAME_PATTERNS } from '../../core/names';
import { AppError } from '../../core/errors';

/**
 * Recovery plans, the pure part: the plan's shape (shared by the form and the server), object
 * keys, the one-object-one-plan rule, dependencies, the order of a run, bounded parallelism and
 * the measured figures of a run report.
 */

export const PLAN_GROUPS = [1, 2, 3, 4, 5] as const;
export const MAX_PLAN_ITEMS = 200;

const cephName = z
  .string()
  .trim()
  .max(128, 'at most 128 characters')
  .regex(NAME_PATTERNS.ceph, 'letters, digits and . _ - only, starting with a letter or digit');
const siteId = z.number().int().positive();
/** A host name or an IPv4/IPv6 address, as the readiness check connects to it from the VM's node. */
const host = z
  .string()
  .trim()
  .min(1, 'required')
  .max(253, 'at most 253 characters')
  .regex(
    /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|[0-9A-Fa-f:.]+)$/,
    'a host name or an IP address',
  );

export const readinessSchema = z.object({
  tcp: z
    .object({ host, port: z.number().int().min(1, '1 to 65535').max(65535, '1 to 65535') })
    .nullable()
    .default(null),
  timeoutSec: z.number().int().min(5, 'at least 5 s').max(3600, 'at most 3600 s').default(120),
});

const common = {
  group: z.number().int().min(1, 'groups are 1 to 5').max(5, 'groups are 1 to 5'),
  dependsOn: z.array(z.string().max(600)).max(MAX_PLAN_ITEMS).default([]),
};

export const replicaItemSchema = z.object({
  kind: z.literal('replica'),
  replicaId: z.number().int().positive(),
  waitAfterStartSec: z.number().int().min(0, 'at least 0 s').max(3600, 'at most 3600 s').default(0),
  readiness: readinessSchema.nullable().default(null),
  ...common,
});

export const rbdItemSchema = z.object({
  kind: z.literal('rbd'),
  /** The cluster where the images are primary in production, and the one the plan recovers them on. */
  protectedSiteId: siteId,
  recoverySiteId: siteId,
  pool: cephName,
  /** '' is the default namespace. */
  namespace: z.union([cephName, z.literal('')]).default(''),
  /** One image; the whole pool (or namespace) when omitted. */
  image: cephName.optional(),
  ...common,
});

export const planItemSchema = z.discriminatedUnion('kind', [replicaItemSchema, rbdItemSchema]);
export type PlanItemInput = z.infer<typeof planItemSchema>;

export const planInputSchema = z.object({
  name: z.string().trim().min(1, 'required').max(100, 'at most 100 characters'),
  description: z.string().trim().max(2000, 'at most 2000 characters').default(''),
  maxParallel: z.number().int().min(1, '1 to 16').max(16, '1 to 16').default(4),
  questionTimeoutSec: z.number().int().min(10, '10 s to 24 h').max(86_400, '10 s to 24 h').default(600),
  questionDefault: z.enum(['abort', 'skip']).default('abort'),
  items: z
    .array(planItemSchema)
    .min(1, 'a plan needs at least one object')
    .max(MAX_PLAN_ITEMS, `at most ${MAX_PLAN_ITEMS} objects`),
});
export type PlanInput = z.infer<typeof planInputSchema>;

/** The key that names an object in plans: one object, one plan. */
export function objectKey(item: PlanItemInput): string {
  if (item.kind === 'replica') return `replica:${item.replicaId}`;
  const pair = [item.protectedSiteId, item.recoverySiteId].sort((a, b) => a - b).join(',');
  return `rbd:${pair}/${item.pool}/${item.namespace}/${item.image ?? '*'}`;
}

/** A pool item covers its namespaces' and images' items; a namespace item its images'. */
export function keysOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  if (!a.startsWith('rbd:') || !b.startsWith('rbd:')) return false;
  const pa = a.split('/');
  const pb = b.split('/');
  if (pa[0] !== pb[0] || pa[1] !== pb[1]) return false;
  // rbd:<pair>/<pool>/<ns>/<image|*>: a whole pool is the default namespace's `*` only when the
  // item named no namespace; a namespace item covers its own images.
  const [nsA, imA] = [pa[2], pa[3]];
  const [nsB, imB] = [pb[2], pb[3]];
  if (nsA !== nsB) return false;
  return imA === '*' || imB === '*';
}

export function itemLabel(
  item: PlanItemInput,
  names: { site(id: number): string; replica(id: number): string },
): string {
  if (item.kind === 'replica') return `VM ${names.replica(item.replicaId)}`;
  const what = item.image
    ? `image ${item.pool}/${item.namespace ? item.namespace + '/' : ''}${item.image}`
    : item.namespace
      ? `namespace ${item.pool}/${item.namespace}`
      : `pool ${item.pool}`;
  return `RBD ${what} (${names.site(item.protectedSiteId)} → ${names.site(item.recoverySiteId)})`;
}

/**
 * The shape rules: no object twice (nor a pool and one of its images), dependencies only on
 * objects of earlier groups of the same plan, two different clusters per RBD item. Throws the
 * first problem as a field error (`items.<i>.<field>`).
 */
export function checkPlanShape(input: PlanInput): void {
  const keys = input.items.map(objectKey);
  input.items.forEach((item, i) => {
    if (item.kind === 'rbd' && item.protectedSiteId === item.recoverySiteId)
      throw AppError.invalid(
        `items.${i}.recoverySiteId`,
        'the recovery cluster must differ from the production cluster',
      );
    for (let j = 0; j < i; j++) {
      if (keysOverlap(keys[i]!, keys[j]!))
        throw AppError.invalid(
          `items.${i}`,
          keys[i] === keys[j]
            ? 'this object is in the plan twice'
            : `overlaps object ${j + 1} (a pool or namespace and one of its images)`,
        );
    }
    for (const d of item.dependsOn) {
      const j = keys.indexOf(d);
      if (j < 0) throw AppError.invalid(`items.${i}.dependsOn`, `depends on ${d}, which is not in this plan`);
      const dep = input.items[j]!;
      if (dep.group >= item.group)
        throw AppError.invalid(
          `items.${i}.dependsOn`,
          `depends on object ${j + 1} of group ${dep.group}: an object can only depend on objects of earlier groups`,
        );
    }
  });
}

/** Items by group, lowest group first; within a group in their order. */
export function runGroups<T extends { groupNo: number }>(
  items: readonly T[],
): { group: number; items: T[] }[] {
  const groups = new Map<number, T[]>();
  for (const it of items) groups.set(it.groupNo, [...(groups.get(it.groupNo) ?? []), it]);
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([group, its]) => ({ group, items: its }));
}

/** Every item that depends on `key`, directly or through others. */
export function dependantsOf(
  key: string,
  items: readonly { objectKey: string; dependsOn: readonly string[] }[],
): string[] {
  const out = new Set<string>();
  const todo = [key];
  while (todo.length) {
    const k = todo.pop()!;
    for (const it of items) {
      if (!it.dependsOn.includes(k) || out.has(it.objectKey)) continue;
      out.add(it.objectKey);
      todo.push(it.objectKey);
    }
  }
  return [...out];
}

/** Runs `fn` over `items` with at most `limit` at once; resolves when all have settled. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

/** The data lost by an object: writes after its recovery point, up to the run's start (never negative). */
export function measuredLoss(runStartedAt: number, recoveryPointAt: number | null): number | null {
  if (recoveryPointAt === null) return null;
  return Math.max(0, Math.round((runStartedAt - recoveryPointAt) / 1000));
}

export interface RunFigureItem {
  kind: 'replica' | 'rbd';
  state: string;
  finishedAt: number | null;
  readyAt: number | null;
  dataLossSec: number | null;
}

/**
 * A run's measured figures. Data loss: the largest of its objects' (null when one is unknown and
 * none is known). Recovery time: run start → the last VM running and ready, or the last object
 * done when the plan has no VM; null until every object is done or skipped.
 */
export function runFigures(
  startedAt: number,
  items: readonly RunFigureItem[],
): { dataLossSec: number | null; recoveryTimeMs: number | null } {
  const losses = items.map((i) => i.dataLossSec).filter((x): x is number => x !== null);
  const dataLossSec = losses.length ? Math.max(...losses) : null;
  const done = items.filter((i) => i.state === 'done');
  if (!done.length || items.some((i) => i.state !== 'done' && i.state !== 'skipped'))
    return { dataLossSec, recoveryTimeMs: null };
  const vms = done.filter((i) => i.kind === 'replica');
  const ends = (
    vms.length ? vms.map((i) => i.readyAt ?? i.finishedAt) : done.map((i) => i.finishedAt)
  ).filter((x): x is number => x !== null);
  return { dataLossSec, recoveryTimeMs: ends.length ? Math.max(...ends) - startedAt : null };
}

// ------------------------------------------------------------------ test failover

/** Everything a test failover creates is named with this prefix and its run id. */
export const TEST_PREFIX = 'tandem-test-';

export const testNetworkSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({
    kind: z.literal('isolated'),
    network: z
      .string()
      .trim()
      .min(1, 'name the isolated network')
      .max(64, 'at most 64 characters')
      .regex(NAME_PATTERNS.vm, 'letters, digits and . _ - only, starting with a letter or digit'),
  }),
]);
export type TestNetwork = z.infer<typeof testNetworkSchema>;

/**
 * The names of what test run `runId` creates, unique to the run: its cleanup destroys these names
 * and nothing else, and two tests never share one.
 */
export function testNames(runId: number) {
  const tag = `${TEST_PREFIX}${runId}`;
  return {
    /** The hold that keeps the cloned snapshot on the master and on the replica node. */
    tag,
    /** The test VM (names are at most 64 characters). */
    vm: (vmName: string) => `${vmName.slice(0, 64 - `-test-${runId}`.length)}-test-${runId}`,
    /** The clone of a replica dataset: in the same pool, outside the replicated datasets. */
    clone: (replicaDataset: string) => {
      const [pool, ...rest] = replicaDataset.split('/');
      return `${pool}/${tag}-${(rest.length ? rest : [pool]).join('-')}`;
    },
    /** The copy of an image, beside it in its pool and namespace. */
    rbdCopy: (image: string) => `${tag}-${image}`.slice(0, 128),
  };
}

/** Whether an image is a test copy (never itself tested, failed over or counted in a pool's images). */
export const isTestCopy = (image: string) => image.startsWith(TEST_PREFIX);

/** What a test run created for one object, recorded before it is created (plan_run_items.created). */
export type TestCreated =
  | {
      kind: 'replica';
      replicaId: number;
      /** The replica node (clones, test VM) and the master node (the hold on the source snapshot). */
      siteId: number;
      masterSiteId: number;
      tag: string;
      snapshot: string | null;
      /** Held datasets: the replica's on siteId, the master's on masterSiteId. */
      replicaDatasets: string[];
      masterDatasets: string[];
      clones: string[];
      vm: string;
    }
  | { kind: 'rbd'; siteId: number; pool: string; namespace: string; copies: string[] };

/** Why a run or a failover is made (it goes into its report). */
export const reasonSchema = z.string().trim().max(2000, 'at most 2000 characters');
