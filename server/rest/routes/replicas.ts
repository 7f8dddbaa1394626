import { z } from 'zod';
import type { App } from '../../app';
import { vmInventory } from '../../domain/overview';
import {
  acceptRpoRisk,
  replicaCreateSchema,
  replicaFields,
  replicaNameSchema,
  replicaSettingsSchema,
} from '../../domain/replicas/rules';
import type { ReplicaView } from '../../domain/replicas/service';
import { resolveVmRef, type VmRef } from '../../domain/replicas/vm-ref';
import { reasonSchema } from '../../domain/plans/rules';
import { AppError } from '../../core/errors';
import { route, type RouteDef } from '../define';
import { bool } from './query';

/**
 * VM replicas in Danube Cloud's shape (`/vm/{hostname_or_uuid}/replica/{repname}`), with its field
 * names and defaults; each route calls the replicas' tRPC procedure.
 */

/** Tandem's field names → Danube's, for the answers' field errors. */
export const DANUBE_FIELDS: Record<string, string> = {
  name: 'repname',
  vmName: 'hostname_or_uuid',
  targetSiteId: 'node',
  sourceSiteId: 'hostname_or_uuid',
  rootZpool: 'root_zpool',
  diskZpools: 'disk_zpools',
  reserveResources: 'reserve_resources',
  sleepTimeSec: 'sleep_time',
  bandwidthLimit: 'bwlimit',
  keepSnapshots: 'keep_snapshots',
  acceptRpoRisk: 'accept_rpo_risk',
};

const vmParam = z
  .string()
  .min(1)
  .max(64, 'at most 64 characters')
  .describe('The VM: its name on any node, or its libvirt UUID.');
const params = z.object({ vm: vmParam });
const repParams = z.object({
  vm: vmParam,
  repname: replicaNameSchema.describe("The replica's name, unique per VM."),
});

export const danubeReplicaSchema = z
  .object({
    hostname: z.string().describe('The VM (its master copy).'),
    repname: z.string(),
    node: z.string().describe('The node the replica lives on.'),
    root_zpool: z.string(),
    disk_zpools: z
      .record(z.string(), z.string())
      .describe('Disk (device name) → zpool on the replica node, for disks not in `root_zpool`.'),
    reserve_resources: z.boolean(),
    sleep_time: z.number().int().describe('Seconds between syncs.'),
    enabled: z.boolean(),
    bwlimit: z.number().int().nullable().describe('Bytes per second; null: no limit.'),
    last_sync: z.string().nullable().describe('ISO 8601 date-time of the last recovery point.'),
    reinit_required: z.boolean(),
    node_status: z.enum(['online', 'unreachable']).describe('Whether the replica node answered just now.'),
    created: z.string(),
    // Tandem's own, beside Danube's:
    id: z.number().int(),
    master_node: z.string().describe("The node the VM runs on (Danube's hostname's node)."),
    state: z
      .string()
      .describe(
        "Tandem's replica state: new, idle, syncing, paused, error, failing-over, reinit-required, reinit-running.",
      ),
    keep_snapshots: z.number().int(),
    lag_sec: z.number().nullable(),
    last_error: z.string().nullable(),
  })
  .meta({ id: 'Replica' });
type DanubeReplica = z.infer<typeof danubeReplicaSchema>;

function danube(r: ReplicaView, nodeOnline: boolean): DanubeReplica {
  return {
    hostname: r.vmName,
    repname: r.name,
    node: r.targetSite,
    root_zpool: r.rootZpool,
    disk_zpools: r.diskZpools,
    reserve_resources: r.reserveResources,
    sleep_time: r.sleepTimeSec,
    enabled: r.enabled,
    bwlimit: r.bandwidthLimit,
    last_sync: r.lastSyncAt?.toISOString() ?? null,
    reinit_required: r.state === 'reinit-required',
    node_status: nodeOnline ? 'online' : 'unreachable',
    created: r.createdAt.toISOString(),
    id: r.id,
    master_node: r.sourceSite,
    state: r.state,
    keep_snapshots: r.keepSnapshots,
    lag_sec: r.lagSec,
    last_error: r.lastError,
  };
}

/** The VM a path names, and which nodes answered while finding it. */
async function findVm(app: App, ref: string): Promise<VmRef & { online: Set<number> }> {
  const inv = await vmInventory(app.sites, app.replicas, { waitMs: 10_000 });
  const nodes = inv.nodes.map((n) => ({
    siteId: n.site.id,
    siteName: n.site.name,
    vms: n.status === 'answered' || n.status === 'slow' ? n.vms : null,
    error: n.error,
  }));
  const replicas = app.replicas.list().filter((r) => r.conflict?.kind !== 'master-moved');
  const found = resolveVmRef(ref, { nodes, replicas });
  return {
    ...found,
    online: new Set(inv.nodes.filter((n) => n.status === 'answered').map((n) => n.site.id)),
  };
}

function replicasOf(app: App, vm: VmRef): ReplicaView[] {
  return app.replicas
    .list({ vmName: vm.vmName })
    .filter((r) => r.sourceSiteId === vm.siteId || r.conflict?.kind === 'master-moved');
}

/** The replica a path names (`/vm/{vm}/replica/{repname}`), with its VM. */
async function replicaAt(
  app: App,
  p: { vm: string; repname: string },
): Promise<{ vm: VmRef & { online: Set<number> }; r: ReplicaView }> {
  const vm = await findVm(app, p.vm);
  const r = replicasOf(app, vm).find((x) => x.name === p.repname);
  if (!r) throw new AppError('NOT_FOUND', `the VM ${vm.vmName} has no replica named "${p.repname}"`);
  return { vm, r };
}

const createBody = z
  .object({
    node: z
      .string()
      .min(1, 'required')
      .max(64, 'at most 64 characters')
      .describe('The node the replica goes to (its name).'),
    root_zpool: replicaCreateSchema.shape.rootZpool
      .optional()
      .describe("The zpool on the replica node; default: the master's."),
    disk_zpools: replicaCreateSchema.shape.diskZpools,
    reserve_resources: replicaSettingsSchema.shape.reserveResources,
    sleep_time: replicaSettingsSchema.shape.sleepTimeSec,
    enabled: replicaSettingsSchema.shape.enabled,
    bwlimit: replicaSettingsSchema.shape.bandwidthLimit,
    keep_snapshots: replicaSettingsSchema.shape.keepSnapshots,
    accept_rpo_risk: acceptRpoRisk.describe("Save a sleep time that cannot meet the replica's RPO anyway."),
  })
  .strict();

const updateBody = z
  .object({
    reserve_resources: replicaFields.reserveResources.optional(),
    sleep_time: replicaFields.sleepTimeSec.optional(),
    enabled: replicaFields.enabled.optional(),
    bwlimit: replicaFields.bandwidthLimit.optional(),
    keep_snapshots: replicaFields.keepSnapshots.optional(),
    accept_rpo_risk: acceptRpoRisk,
  })
  .strict();

/** Danube's names of a replica's settings → Tandem's (what is not given stays undefined). */
function settingsOf(b: z.infer<typeof updateBody>) {
  return {
    reserveResources: b.reserve_resources,
    sleepTimeSec: b.sleep_time,
    enabled: b.enabled,
    bandwidthLimit: b.bwlimit,
    keepSnapshots: b.keep_snapshots,
    acceptRpoRisk: b.accept_rpo_risk,
  };
}

const failoverBody = z
  .object({
    force: z
      .boolean()
      .default(false)
      .describe(
        'Fail over even if the master node is gone (from the last recovery point, losing the writes since), and cancel tasks pending on the VM.',
      ),
    reason: reasonSchema.optional().describe("Why (kept in the failover's run report)."),
  })
  .strict()
  .default({ force: false });

const deleteQuery = z.object({
  destroy_data: bool(true).describe(
    "Destroy the replica's datasets on its node too (Danube does); false keeps them.",
  ),
});

export const replicaRoutes: RouteDef[] = [
  route({
    method: 'GET',
    path: '/vm/{vm}/replica',
    id: 'vm.replica.list',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: "A VM's replicas",
    description: 'Their names, or with `full=true` the replica objects.',
    params,
    query: z.object({ full: bool(false) }),
    response: z.union([z.array(z.string()), z.array(danubeReplicaSchema)]),
    run: async ({ app, params: p, query }) => {
      const vm = await findVm(app, p.vm);
      const list = replicasOf(app, vm).sort((a, b) => a.name.localeCompare(b.name));
      return query.full ? list.map((r) => danube(r, vm.online.has(r.targetSiteId))) : list.map((r) => r.name);
    },
  }),
  route({
    method: 'GET',
    path: '/vm/{vm}/replica/{repname}',
    id: 'vm.replica.get',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: 'A replica',
    params: repParams,
    response: danubeReplicaSchema,
    run: async ({ app, params: p }) => {
      const { vm, r } = await replicaAt(app, p);
      return danube(r, vm.online.has(r.targetSiteId));
    },
  }),
  route({
    method: 'POST',
    path: '/vm/{vm}/replica/{repname}',
    id: 'vm.replica.create',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: 'Create a replica',
    description: 'Checks the target node, then starts the initial sync (a task).',
    params: repParams,
    body: createBody,
    task: true,
    run: async ({ app, caller, params: p, body }) => {
      const vm = await findVm(app, p.vm);
      const target = app.sites.byName(body.node);
      if (!target || target.kind !== 'node') throw AppError.invalid('node', `no node named "${body.node}"`);
      const rootZpool = body.root_zpool ?? (await app.replicas.defaultRootZpool(vm.siteId, vm.vmName));
      return caller.replicas.create({
        name: p.repname,
        vmName: vm.vmName,
        sourceSiteId: vm.siteId,
        targetSiteId: target.id,
        rootZpool,
        diskZpools: body.disk_zpools,
        ...settingsOf(body),
      });
    },
  }),
  route({
    method: 'PUT',
    path: '/vm/{vm}/replica/{repname}',
    id: 'vm.replica.update',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: "Change a replica's settings",
    description: 'Only what is given changes; from the next sync on.',
    params: repParams,
    body: updateBody,
    response: danubeReplicaSchema,
    run: async ({ app, caller, params: p, body }) => {
      const { vm, r } = await replicaAt(app, p);
      const updated = await caller.replicas.update({
        id: r.id,
        ...settingsOf(body),
      });
      return danube(updated, vm.online.has(updated.targetSiteId));
    },
  }),
  route({
    method: 'DELETE',
    path: '/vm/{vm}/replica/{repname}',
    id: 'vm.replica.delete',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: 'Delete a replica',
    params: repParams,
    query: deleteQuery,
    task: true,
    run: async ({ app, caller, params: p, query }) => {
      const { r } = await replicaAt(app, p);
      return caller.replicas.remove({ id: r.id, destroyData: query.destroy_data });
    },
  }),
  route({
    method: 'PUT',
    path: '/vm/{vm}/replica/{repname}/failover',
    id: 'vm.replica.failover',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: 'Fail the VM over to this replica',
    description:
      'Stops the master (after a final sync) and starts the VM on the replica node. When the master node cannot be reached, the failover starts from the last recovery point and needs `force: true`; the answer of a refusal says how much would be lost.',
    params: repParams,
    body: failoverBody,
    task: true,
    run: async ({ app, caller, params: p, body }) => {
      const { r } = await replicaAt(app, p);
      const plan = await caller.replicas.failoverPlan({ id: r.id, force: body.force });
      if (plan.mode === 'forced' && !body.force) {
        const lost = plan.dataLossWindowSec === null ? 'an unknown time' : `${plan.dataLossWindowSec} s`;
        throw new AppError(
          'PRECONDITION_FAILED',
          `${plan.modeReason}: a failover now starts from the last recovery point and loses ${lost} of writes; send "force": true to do it`,
          {
            fields: [
              { field: 'force', message: 'the master node cannot be reached: true to fail over anyway' },
            ],
          },
        );
      }
      return caller.replicas.failover({
        id: r.id,
        confirm: r.vmName,
        mode: plan.mode,
        force: body.force,
        reason: body.reason,
      });
    },
  }),
  route({
    method: 'PUT',
    path: '/vm/{vm}/replica/{repname}/reinit',
    id: 'vm.replica.reinit',
    tag: 'VM replicas',
    fieldNames: DANUBE_FIELDS,
    summary: 'Reinitialise the old master as the replica',
    description:
      'After a failover: the old master becomes the replica of the new one (its diverged writes are kept aside).',
    params: repParams,
    task: true,
    run: async ({ app, caller, params: p }) => {
      const { r } = await replicaAt(app, p);
      return caller.replicas.reinit({ id: r.id, confirm: r.vmName });
    },
  }),
];
