import { z } from 'zod';
import type { SnapshotInfo, VmInfo, ZpoolInfo } from '../../adapters/node/types';
import type { ReplicaConflict, ReplicaDataset, ReplicaOperation } from '../../db/schema';
import { AppError, type FieldIssue } from '../../core/errors';

/** Replica settings an operator gives (Danube Cloud's replica API, with Tandem's defaults). */
export const REPLICA_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export const replicaNameSchema = z
  .string()
  .trim()
  .min(1, 'required')
  .max(24, 'at most 24 characters')
  .regex(REPLICA_NAME, 'letters, digits and . _ - only, starting with a letter or digit');

export const DEFAULTS = {
  sleepTimeSec: 60,
  enabled: true,
  reserveResources: true,
  keepSnapshots: 3,
  maxReplicasPerVm: 4,
} as const;

/** Each setting's schema (the API's Danube-named fields reuse them). */
export const replicaFields = {
  sleepTimeSec: z.number().int('whole seconds').min(0, '0–86400 seconds').max(86400, '0–86400 seconds'),
  enabled: z.boolean(),
  bandwidthLimit: z
    .number()
    .int('whole bytes per second')
    .min(1024, 'at least 1024 bytes/s, or none for no limit')
    .max(1e12)
    .nullable(),
  reserveResources: z.boolean(),
  keepSnapshots: z.number().int().min(1, 'keep at least 1 recovery point').max(100),
};

/** Settings at creation, with defaults. */
export const replicaSettingsSchema = z.object({
  sleepTimeSec: replicaFields.sleepTimeSec.default(DEFAULTS.sleepTimeSec),
  enabled: replicaFields.enabled.default(DEFAULTS.enabled),
  bandwidthLimit: replicaFields.bandwidthLimit.default(null),
  reserveResources: replicaFields.reserveResources.default(DEFAULTS.reserveResources),
  keepSnapshots: replicaFields.keepSnapshots.default(DEFAULTS.keepSnapshots),
});

/**
 * `acceptRpoRisk`: save a sleep time that cannot meet the replica's RPO anyway (otherwise refused,
 * on the field, with the figures).
 */
export const acceptRpoRisk = z.boolean().optional();

/** A change of settings: only what is given changes (no defaults, unlike creation). */
export const replicaUpdateSchema = z.object(replicaFields).partial().extend({ acceptRpoRisk });

export const replicaCreateSchema = replicaSettingsSchema.extend({
  acceptRpoRisk,
  name: replicaNameSchema,
  vmName: z.string().min(1, 'required').max(64, 'at most 64 characters'),
  sourceSiteId: z.number().int().positive(),
  targetSiteId: z.number().int().positive(),
  rootZpool: z.string().min(1, 'required').max(128, 'at most 128 characters'),
  /** Disk name → zpool on the target. */
  diskZpools: z
    .record(
      z.string().max(256, 'disk names are at most 256 characters'),
      z.string().max(128, 'at most 128 characters'),
    )
    .refine((d) => Object.keys(d).length <= 64, 'at most 64 disks')
    .default({}),
});
export type ReplicaCreate = z.infer<typeof replicaCreateSchema>;

/** Whole numbers typed as text: empty is "required", not 0. */
const typedNumber = (field: z.ZodNumber) =>
  z
    .string()
    .trim()
    .min(1, 'required')
    .pipe(z.coerce.number<string>({ error: 'a number' }).pipe(field));

/** A bandwidth limit as typed (`8M`, `512k`, empty for none), turned into bytes per second or null. */
const typedByteRate = z.string().transform((text, ctx) => {
  const rate = parseByteRate(text);
  if (rate.ok) return rate.value;
  ctx.addIssue({ code: 'custom', message: rate.message });
  return z.NEVER;
});

/**
 * The create form's fields as an operator types them (text, a rate like `8M`), turned into
 * replicaCreateSchema's fields: the browser checks a field before the round trip with the same
 * rules the server applies, and the form's defaults are the schema's.
 */
export const replicaCreateFormSchema = z.object({
  name: replicaNameSchema,
  targetSiteId: z.string().min(1, 'choose a target node').pipe(z.coerce.number<string>().int().positive()),
  rootZpool: replicaCreateSchema.shape.rootZpool,
  diskZpools: replicaCreateSchema.shape.diskZpools,
  sleepTimeSec: typedNumber(replicaFields.sleepTimeSec),
  enabled: replicaFields.enabled,
  bandwidthLimit: typedByteRate,
  reserveResources: replicaFields.reserveResources,
  keepSnapshots: typedNumber(replicaFields.keepSnapshots),
  acceptRpoRisk,
});

/** The create form's first values: replicaSettingsSchema's defaults, as the form holds them. */
export function replicaCreateFormDefaults(): z.input<typeof replicaCreateFormSchema> {
  const d = replicaSettingsSchema.parse({});
  return {
    name: '',
    targetSiteId: '',
    rootZpool: '',
    diskZpools: {},
    sleepTimeSec: String(d.sleepTimeSec),
    enabled: d.enabled,
    bandwidthLimit: '',
    reserveResources: d.reserveResources,
    keepSnapshots: String(d.keepSnapshots),
  };
}

/** A replica's settings form (the card's Edit), as typed, turned into replicaUpdateSchema's fields. */
export const replicaSettingsFormSchema = z.object({
  sleepTimeSec: typedNumber(replicaFields.sleepTimeSec),
  bandwidthLimit: typedByteRate,
  keepSnapshots: typedNumber(replicaFields.keepSnapshots),
});

/** The settings form's values for a replica's current settings. */
export function replicaSettingsFormValues(r: {
  sleepTimeSec: number;
  bandwidthLimit: number | null;
  keepSnapshots: number;
}): z.input<typeof replicaSettingsFormSchema> {
  return {
    sleepTimeSec: String(r.sleepTimeSec),
    bandwidthLimit: r.bandwidthLimit ? String(r.bandwidthLimit) : '',
    keepSnapshots: String(r.keepSnapshots),
  };
}

export interface TargetFacts {
  reachable: boolean;
  unreachableReason?: string;
  zpools: ZpoolInfo[];
  capacity: { cpus: number; memoryMiB: number } | null;
  /** vCPUs and RAM already reserved on the target by other replicas and its own VMs. */
  reserved: { vcpus: number; memoryMiB: number };
  /** Datasets that already exist on the target under the planned names. */
  existingDatasets: string[];
}

export interface CreateFacts {
  vm: VmInfo | null;
  /** Bytes referenced per source disk dataset (what a full send carries). */
  diskBytes: Record<string, number>;
  target: TargetFacts;
  replicasOfVm: { name: string; targetSiteId: number }[];
  maxReplicasPerVm: number;
}

/**
 * What deleting a replica with its data does to a VM of the same name on the replica node (after a
 * failover and reinit, the old master's definition stays there, shut off): `undefine` when it is
 * the replica's own copy (shut off, every disk on one of the replica's datasets), `keep` when it
 * does not use the replica's datasets or has disks of its own too, `refuse` when it runs on them.
 */
export function replicaCopyFate(
  vm: Pick<VmInfo, 'name' | 'state' | 'disks'>,
  datasets: Pick<ReplicaDataset, 'target'>[],
): { fate: 'undefine' | 'keep' | 'refuse'; reason: string } {
  const targets = new Set(datasets.map((d) => d.target));
  const onReplica = vm.disks.filter((d) => d.dataset && targets.has(d.dataset));
  if (!onReplica.length)
    return { fate: 'keep', reason: `${vm.name} there does not use the replica's datasets` };
  if (vm.state !== 'stopped')
    return {
      fate: 'refuse',
      reason: `${vm.name} is ${vm.state} on the replica node, on the replica's datasets; stop it (or fail over back) before deleting the replica with its data`,
    };
  const own = vm.disks.filter((d) => !d.dataset || !targets.has(d.dataset));
  if (own.length)
    return {
      fate: 'keep',
      reason: `${vm.name} there has disks outside the replica (${own.map((d) => d.path).join(', ')}); its definition is kept`,
    };
  return { fate: 'undefine', reason: `${vm.name} there is the replica's shut-off copy` };
}

/** The zpool a replica's disks go to when none is named (Danube's default): the master's, that of the VM's first replicable disk. */
export function defaultRootZpool(vm: Pick<VmInfo, 'name' | 'disks'>): string {
  const first = vm.disks.find((d) => d.dataset);
  if (!first?.dataset)
    throw AppError.invalid('rootZpool', `${vm.name} has no disk on a ZFS dataset to replicate`);
  return first.dataset.split('/')[0]!;
}

/** Where each disk goes on the target: the disk's pool component replaced by the chosen zpool. */
export function planDatasets(
  vm: VmInfo,
  rootZpool: string,
  diskZpools: Record<string, string>,
  mountpoints: Record<string, string | null> = {},
): ReplicaDataset[] {
  return vm.disks
    .filter((d): d is typeof d & { dataset: string } => !!d.dataset)
    .map((d) => {
      const rest = d.dataset.split('/').slice(1).join('/');
      const pool = diskZpools[d.device] || rootZpool;
      const mp = mountpoints[d.dataset];
      const file =
        d.kind === 'file' && mp && d.path.startsWith(mp + '/')
          ? d.path.slice(mp.length + 1)
          : d.kind === 'file'
            ? (d.path.split('/').pop() ?? null)
            : null;
      return {
        device: d.device,
        source: d.dataset,
        target: rest ? `${pool}/${rest}` : pool,
        kind: d.kind,
        file,
      };
    });
}

/** The disk path on a node for a replicated disk, given its dataset's mountpoint there. */
export function diskPath(d: ReplicaDataset, dataset: string, mountpoint: string | null): string {
  if (d.kind === 'zvol') return `/dev/zvol/${dataset}`;
  if (!mountpoint) throw new Error(`dataset ${dataset} has no mountpoint`);
  return `${mountpoint}/${d.file ?? 'disk.img'}`;
}

/** Every rule a careful operator would check before creating a replica; each names its field. */
export function validateCreate(input: ReplicaCreate, f: CreateFacts): FieldIssue[] {
  const issues: FieldIssue[] = [];
  const add = (field: string, message: string) => issues.push({ field, message });
  if (input.targetSiteId === input.sourceSiteId)
    add('targetSiteId', 'the target must be a different node than the VM’s own');
  if (!f.vm) {
    add('vmName', `VM ${input.vmName} does not exist on its node`);
    return issues;
  }
  // A paused domain is a live VM with its vCPUs halted: replicable like a running one.
  if (f.vm.state === 'unknown')
    add('vmName', 'the VM is in an unknown state (crashed or in transition); it must be running or stopped');
  if (f.vm.disks.some((d) => !d.dataset))
    add(
      'vmName',
      `disk(s) ${f.vm.disks
        .filter((d) => !d.dataset)
        .map((d) => d.device)
        .join(', ')} are not on a ZFS dataset and cannot be replicated`,
    );
  if (f.replicasOfVm.some((r) => r.name === input.name))
    add('name', `the VM already has a replica named ${input.name}`);
  if (f.replicasOfVm.some((r) => r.targetSiteId === input.targetSiteId))
    add('targetSiteId', 'the VM already has a replica on that node');
  if (f.replicasOfVm.length >= f.maxReplicasPerVm)
    add('name', `the VM already has ${f.replicasOfVm.length} replicas (the limit is ${f.maxReplicasPerVm})`);
  if (!f.target.reachable) {
    add('targetSiteId', `the target node is unreachable: ${f.target.unreachableReason ?? 'no answer'}`);
    return issues;
  }
  const pools = new Map(f.target.zpools.map((p) => [p.name, p]));
  if (!pools.has(input.rootZpool))
    add(
      'rootZpool',
      `zpool ${input.rootZpool} does not exist on the target (it has ${[...pools.keys()].join(', ') || 'none'})`,
    );
  for (const [device, pool] of Object.entries(input.diskZpools)) {
    if (!f.vm.disks.some((d) => d.device === device))
      add(`diskZpools.${device}`, `the VM has no disk ${device}`);
    else if (pool && !pools.has(pool))
      add(`diskZpools.${device}`, `zpool ${pool} does not exist on the target`);
  }
  // Free space per pool must hold the data that goes there.
  const need = new Map<string, number>();
  for (const d of planDatasets(f.vm, input.rootZpool, input.diskZpools)) {
    const pool = d.target.split('/')[0]!;
    need.set(pool, (need.get(pool) ?? 0) + (f.diskBytes[d.source] ?? 0));
    if (f.target.existingDatasets.includes(d.target))
      add(
        `diskZpools.${d.device}`,
        `dataset ${d.target} already exists on the target; remove it or choose another zpool`,
      );
  }
  for (const [pool, bytes] of need) {
    const p = pools.get(pool);
    if (p && p.freeBytes < bytes) {
      const field =
        pool === input.rootZpool
          ? 'rootZpool'
          : `diskZpools.${Object.entries(input.diskZpools).find(([, v]) => v === pool)?.[0] ?? ''}`;
      add(field, `zpool ${pool} has ${fmt(p.freeBytes)} free; the VM's data there needs ${fmt(bytes)}`);
    }
  }
  if (input.reserveResources) {
    const cap = f.target.capacity;
    if (!cap) add('reserveResources', 'the target’s capacity could not be read');
    else {
      const freeCpu = cap.cpus - f.target.reserved.vcpus;
      const freeMem = cap.memoryMiB - f.target.reserved.memoryMiB;
      if (f.vm.vcpus > freeCpu)
        add('reserveResources', `the target has ${freeCpu} unreserved vCPUs; the VM needs ${f.vm.vcpus}`);
      if (f.vm.memoryMiB > freeMem)
        add(
          'reserveResources',
          `the target has ${freeMem} MiB unreserved RAM; the VM needs ${f.vm.memoryMiB} MiB`,
        );
    }
  }
  return issues;
}

function fmt(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

// ------------------------------------------------------------------ snapshots

/** `20261123T090507.042Z` (names made before milliseconds were added: `20261123T090507Z`). */
const STAMP = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(?:\.(\d{3}))?Z$/;

/** `tandem-<replica>-<UTC stamp>`: sorts by time, names its replica, fits the ZFS name rules. */
export function snapshotName(replica: string, at: number): string {
  const iso = new Date(at).toISOString();
  return `tandem-${replica}-${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}Z`;
}

/** The time in a snapshot name of this replica, or null when the snapshot is not one of its own. */
export function parseSnapshotName(replica: string, name: string): number | null {
  const prefix = `tandem-${replica}-`;
  if (!name.startsWith(prefix)) return null;
  const m = STAMP.exec(name.slice(prefix.length));
  if (!m) return null;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!, +(m[7] ?? 0));
}

/** The newest snapshot of `source` that `target` also has, matched by guid (names can lie). */
export function latestCommon(source: SnapshotInfo[], target: SnapshotInfo[]): SnapshotInfo | null {
  const guids = new Set(target.map((s) => s.guid));
  let best: SnapshotInfo | null = null;
  for (const s of source) {
    if (guids.has(s.guid) && (!best || BigInt(s.createTxg) > BigInt(best.createTxg))) best = s;
  }
  return best;
}

/**
 * Which of this replica's snapshots to destroy on one side: all but the newest `keep`, never the
 * newest common one (the next incremental needs it), and never anything that is not ours.
 */
export function pruneList(
  replica: string,
  snaps: SnapshotInfo[],
  keep: number,
  protect: string | null,
): string[] {
  const ours = snaps
    .filter((s) => parseSnapshotName(replica, s.name) !== null)
    .sort((a, b) => (BigInt(a.createTxg) < BigInt(b.createTxg) ? -1 : 1));
  return ours
    .slice(0, Math.max(0, ours.length - keep))
    .map((s) => s.name)
    .filter((n) => n !== protect);
}

/** Next sync: sleep after the end of the last one; failures back off exponentially up to an hour. */
export function nextSyncAt(finishedAt: number, sleepTimeSec: number, failureCount: number): number {
  if (failureCount === 0) return finishedAt + sleepTimeSec * 1000;
  const backoff = Math.min(3600, Math.max(10, sleepTimeSec) * 2 ** Math.min(failureCount - 1, 10));
  return finishedAt + backoff * 1000;
}

// ------------------------------------------------------------------ the bad day

/** What the target node says about a dataset a sync is about to receive into with `recv -F`. */
export interface ReceiveFacts {
  dataset: string;
  node: string;
  exists: boolean;
  readonly: boolean;
  /** VMs defined on the target whose disks are on this dataset, with their state. */
  usedBy: { vm: string; state: string }[];
}

/**
 * `zfs recv -F` rolls the target back to the stream's base and overwrites it: it may only land on
 * a read-only replica dataset that no live VM uses. Returns why not, or null when it may.
 */
export function receiveRefusal(f: ReceiveFacts): string | null {
  if (!f.exists) return null;
  const live = f.usedBy.find((u) => u.state !== 'stopped');
  if (live)
    return `${f.dataset} on ${f.node} is a disk of VM ${live.vm}, which is ${live.state} there; Tandem will not overwrite a live VM's disk`;
  if (!f.readonly)
    return `${f.dataset} on ${f.node} is writable, so it is no longer a replica (promoted, or written by hand); Tandem will not overwrite it — fail over, reinitialise or delete the replica instead`;
  return null;
}

/**
 * An incremental stream needs a snapshot both sides have. Without one only a full stream could
 * land, and into an existing replica dataset it would replace the replica (`recv -F`) or fail on
 * its snapshots: Tandem never does that by itself. Returns why not, or null for a dataset the
 * first sync is still creating (no snapshot yet, never synced).
 */
export function noCommonRefusal(o: {
  dataset: string;
  node: string;
  source: string;
  sourceNode: string;
  snapshots: number;
  syncedBefore: boolean;
}): string | null {
  if (o.snapshots === 0 && !o.syncedBefore) return null;
  return `${o.dataset} on ${o.node} has no snapshot in common with ${o.source} on ${o.sourceNode}${o.snapshots ? '' : ' (it has no snapshot left)'}, so no incremental stream applies; Tandem does not replace a replica with a full stream by itself — run a full resync (it keeps the replica's data aside) or delete the replica`;
}

/**
 * The writes a forced failover loses: from the last recovery point to the moment the master was
 * last seen. While the master still answers, the window keeps growing until it is stopped.
 */
export function dataLossWindow(o: {
  lastSyncAt: number | null;
  masterReachable: boolean;
  masterLastSeenAt: number | null;
  now: number;
}): { from: number | null; to: number | null; seconds: number | null; growing: boolean } {
  if (o.lastSyncAt === null) return { from: null, to: null, seconds: null, growing: false };
  const to = o.masterReachable ? o.now : Math.max(o.lastSyncAt, o.masterLastSeenAt ?? o.lastSyncAt);
  return {
    from: o.lastSyncAt,
    to,
    seconds: Math.max(0, Math.round((to - o.lastSyncAt) / 1000)),
    growing: o.masterReachable,
  };
}

/** Steps of a VM failover; the names are stored with the task, so they never change meaning. */
export const FAILOVER_STEPS = {
  planned: [
    'Stop the master VM',
    'Snapshot on the master',
    'Transfer to the replica',
    'Promote the replica',
    'Define the VM on the replica node',
    'Start the VM',
    'Mark the old master for reinit',
  ],
  forced: [
    'Fence the old master',
    'Promote from the last synced snapshot',
    'Define the VM on the replica node',
    'Start the VM',
    'Mark the old master for reinit',
  ],
} as const;

/** The step after which the replica is writable: before it, a failover can be rolled back. */
export const PROMOTE_STEP = {
  planned: 'Promote the replica',
  forced: 'Promote from the last synced snapshot',
} as const;

/**
 * Whether an interrupted failover may be rolled back: only while the replica has not been
 * promoted (after that, the VM may have run and written on the replica node).
 */
export function failoverRollbackBlocked(
  mode: 'planned' | 'forced',
  done: string[],
  running: string[],
): string | null {
  const promote = PROMOTE_STEP[mode];
  if (done.includes(promote) || running.includes(promote))
    return `the replica was promoted ("${promote}" ${done.includes(promote) ? 'done' : 'started'}); resume the failover, then fail back after a reinit`;
  return null;
}

/**
 * What a rollback of a failover does. The master VM is started again whenever it was live when the
 * failover began: a stop may have happened even if its step was not recorded (a crash right
 * after it), and starting a running VM changes nothing.
 */
export function failoverRollbackSteps(masterWasLive: boolean): string[] {
  return [
    'Roll back: protect the replica',
    ...(masterWasLive ? ['Roll back: start the master VM again'] : []),
    'Roll back: resume replication',
  ];
}

/** A VM that runs (or is paused, i.e. live) on more than one node: names the nodes. */
export function dualRunning(states: { siteId: number; state: string | null }[]): number[] | null {
  const live = states.filter((s) => s.state === 'running' || s.state === 'paused').map((s) => s.siteId);
  return live.length > 1 ? live : null;
}

/**
 * A bandwidth limit as an operator types it: empty for none, else bytes per second as a whole
 * number with an optional binary unit (`8388608`, `8M`, `8 MiB/s`, `512k`). Anything else is an
 * error, never "no limit".
 */
export function parseByteRate(
  text: string,
): { ok: true; value: number | null } | { ok: false; message: string } {
  const t = text.trim();
  if (!t) return { ok: true, value: null };
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?$/i.exec(t);
  if (!m)
    return {
      ok: false,
      message: `“${t}” is not a rate: give bytes per second (8388608, 8M or 8 MiB/s), or leave it empty for no limit`,
    };
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g' | 't'
  ];
  const value = Math.round(Number(m[1]) * mult);
  const checked = replicaFields.bandwidthLimit.safeParse(value);
  return checked.success
    ? { ok: true, value }
    : { ok: false, message: checked.error.issues[0]?.message ?? 'invalid' };
}

// ------------------------------------------------------------------ re-point

/**
 * The snapshot a re-pointed replica continues from, per disk. Incremental streams need a snapshot
 * that the new master and the replica both have (same guid) and after which the replica has
 * nothing (`recv -F` would discard it). Replicas of one VM take their own snapshots and send
 * each with `-i`, so siblings share none: the old master, which has both lines, bridges them —
 * an incremental stream from the replica's newest snapshot to the newest one the new master
 * shares with it gives the replica the new master's starting point. Nothing on the old master
 * changes; it only sends.
 */
export type RepointBase =
  | { via: 'direct'; common: SnapshotInfo }
  | { via: 'old-master'; common: SnapshotInfo; from: SnapshotInfo }
  | { via: null; problem: string };

export function repointBase(o: {
  /** The replica's dataset on its target node. */
  dataset: string;
  /** The disk's snapshots on the new master. */
  master: SnapshotInfo[];
  /** The replica dataset's snapshots (oldest first), null when it does not exist. */
  replica: SnapshotInfo[] | null;
  /** The disk's snapshots on the old master, null when they could not be read. */
  old: SnapshotInfo[] | null;
  oldError?: string;
  names: { master: string; target: string; old: string };
}): RepointBase {
  const { names } = o;
  if (!o.replica) return { via: null, problem: `${o.dataset} does not exist on ${names.target}` };
  const newest = o.replica.at(-1);
  if (!newest) return { via: null, problem: `${o.dataset} on ${names.target} has no snapshot` };
  const direct = latestCommon(o.master, o.replica);
  if (direct && direct.guid === newest.guid) return { via: 'direct', common: direct };
  const lead = direct
    ? `${o.dataset} on ${names.target} has snapshots after ${direct.name}, the newest it shares with ${names.master}`
    : `${o.dataset} on ${names.target} has no snapshot in common with ${names.master}`;
  if (!o.old)
    return {
      via: null,
      problem: `${lead}, and the old master ${names.old} cannot be read to bridge them (${o.oldError ?? 'no answer'})`,
    };
  const from = o.old.find((s) => s.guid === newest.guid);
  if (!from)
    return {
      via: null,
      problem: `${lead}, and the old master ${names.old} no longer has ${newest.name}, the replica's newest snapshot`,
    };
  const common = latestCommon(o.old, o.master);
  if (!common)
    return {
      via: null,
      problem: `${lead}, and the old master ${names.old} has no snapshot in common with ${names.master} either`,
    };
  if (BigInt(common.createTxg) <= BigInt(from.createTxg))
    return {
      via: null,
      problem: `${o.dataset} on ${names.target} holds data newer than ${common.name}, where ${names.master} started from (up to ${newest.name}: writes the failover did not carry); a re-point would discard them`,
    };
  return { via: 'old-master', common, from };
}

/**
 * Why a replica whose VM's master moved may not be re-pointed now: it must be flagged as such,
 * have no operation of its own, and the failover that moved the VM (or the reinit after it)
 * must have ended; a VM that moved again since is not followed.
 */
export function repointBlocked(o: {
  replica: { name: string; operation: ReplicaOperation | null; conflict: ReplicaConflict | null };
  /** The replica whose failover moved the VM, null when it was deleted since. */
  by: { name: string; state: string; operation: ReplicaOperation | null; sourceSiteId: number } | null;
  newMaster: string;
}): string[] {
  const { replica: r, by } = o;
  if (r.conflict?.kind !== 'master-moved')
    return [
      `replica ${r.name} is not flagged as pulling from an old master (its master has not moved); there is nothing to re-point`,
    ];
  const out: string[] = [];
  if (r.operation)
    out.push(
      `a ${r.operation.kind} of replica ${r.name} is unfinished (task #${r.operation.taskId}); resume or roll it back from its task page`,
    );
  if (by && (by.operation || by.state === 'failing-over'))
    out.push(
      `the ${by.operation?.kind ?? 'failover'} of replica ${by.name} (task #${by.operation?.taskId ?? '?'}) is still in progress; re-point once it has finished (resume or roll it back from its task page)`,
    );
  else if (by && by.sourceSiteId !== r.conflict.siteId)
    out.push(
      `replica ${by.name} no longer pulls from ${o.newMaster}: the VM moved again since; delete this replica and create it again from where the VM runs`,
    );
  return out;
}
