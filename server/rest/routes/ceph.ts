import { z } from 'zod';
import type { App } from '../../app';
import { NAME_PATTERNS } from '../../core/names';
import { AppError } from '../../core/errors';
import { route, type RouteDef } from '../define';
import type { createCaller } from '../../trpc/root';

/**
 * RBD mirroring in croit's shape and names, per cluster: croit's `/api/...` paths under
 * `/api/v1/ceph/{cluster}/...`. Every change is a task (croit's ManagedThreadTask): 202 with the
 * Task object, or 200 once ended with `?wait=`.
 */
type Caller = ReturnType<typeof createCaller>;

const name = z
  .string()
  .trim()
  .max(128, 'at most 128 characters')
  .regex(NAME_PATTERNS.ceph, 'letters, digits and . _ - only, starting with a letter or digit');
const cluster = z.string().min(1).max(64).describe("The Ceph cluster's site name in Tandem.");
const poolParams = z.object({ cluster, pool: name });
const imageParams = poolParams.extend({ rbd: name.describe('The image.') });
const nsQuery = z.object({
  namespace: z
    .union([name, z.literal('')])
    .default('')
    .describe('The namespace; none: the pool itself.'),
});

const DIRECTION = { rx_tx: 'rx-tx', rx_only: 'rx-only', tx_only: 'tx-only' } as const;
const direction = z.enum(['rx_tx', 'rx_only', 'tx_only']);
const croitDirection = (d: string) =>
  d === 'rx-tx' ? 'rx_tx' : d === 'rx-only' ? 'rx_only' : d === 'tx-only' ? 'tx_only' : d;

function siteOf(app: App, clusterName: string): number {
  const s = app.sites.byName(clusterName);
  if (!s || s.kind !== 'ceph')
    throw new AppError(
      'NOT_FOUND',
      `no Ceph cluster named "${clusterName}" (the API names clusters by their site name)`,
    );
  return s.id;
}

const peerSchema = z
  .object({ id: z.string(), siteName: z.string(), clientName: z.string(), direction: z.string().nullable() })
  .meta({ id: 'RbdMirrorPeer' });
const poolInfoSchema = z
  .object({
    pool: z.string(),
    namespace: z.string().nullable(),
    poolMirrorMode: z.enum(['disabled', 'image', 'pool']),
    siteName: z.string().nullable(),
    peers: z.array(peerSchema),
    statusHealth: z.string().nullable(),
    statusStates: z.record(z.string(), z.number()).nullable(),
  })
  .meta({ id: 'RbdMirrorPoolInfo' });
type PoolInfo = z.infer<typeof poolInfoSchema>;

/** The cluster's pools (and namespaces) with their mirroring, as croit's RbdMirrorPoolInfo. */
async function poolInfos(caller: Caller, siteId: number): Promise<PoolInfo[]> {
  const st = await caller.ceph.status({ siteId, waitMs: 20_000 });
  if (!st.pools.length && st.state !== 'answered')
    throw new AppError('UNREACHABLE', `the cluster cannot be asked: ${st.error ?? st.state}`);
  return st.pools.map((p) => ({
    pool: p.pool,
    namespace: p.namespace || null,
    poolMirrorMode: p.mode,
    siteName: p.siteName,
    peers: p.peers.map((x) => ({
      id: x.uuid,
      siteName: x.siteName,
      clientName: x.clientName,
      direction: croitDirection(x.direction),
    })),
    statusHealth: p.summary?.health ?? null,
    statusStates: p.summary?.states ?? null,
  }));
}

const imageInfoSchema = z
  .object({
    imageMirrorMode: z.enum(['disabled', 'journal', 'snapshot']),
    mirrorState: z.enum(['disabled', 'primary', 'mirror']),
    primary: z.boolean().nullable(),
    globalId: z.string().nullable(),
    state: z.string().nullable().describe('e.g. up+replaying'),
    description: z.string().nullable(),
    lastUpdate: z.string().nullable(),
    daemonHost: z.string().nullable(),
    peerSites: z.array(z.string()).nullable(),
  })
  .meta({ id: 'RbdMirrorImageInfo' });

const scheduleSchema = z
  .object({
    pool: z
      .union([name, z.literal('-')])
      .nullable()
      .optional()
      .describe('null or "-": every pool.'),
    namespace: name.nullable().optional(),
    rbd: name.nullable().optional(),
    interval: z.string().min(1, 'required').max(32, 'at most 32 characters').describe('7d, 12h, 30m'),
    startTime: z
      .string()
      .max(64, 'at most 64 characters')
      .nullable()
      .optional()
      .describe('ISO 8601 time, e.g. 14:00:00'),
    acceptRpoRisk: z
      .boolean()
      .optional()
      .describe("Add an interval that cannot meet the images' RPO anyway (Tandem's own; ignored by delete)."),
  })
  .strict()
  .meta({ id: 'RbdMirrorSnapshotSchedule' });
/** croit's schedule body → the cluster, the level and the item it names. */
const scheduleOf = (app: App, clusterName: string, s: z.infer<typeof scheduleSchema>) => ({
  siteId: siteOf(app, clusterName),
  level: {
    pool: s.pool && s.pool !== '-' ? s.pool : undefined,
    namespace: s.namespace || undefined,
    image: s.rbd || undefined,
  },
  interval: s.interval,
  startTime: s.startTime ?? undefined,
});

const imageUpdate = z
  .object({
    journaling: z.boolean().nullable().optional(),
    imageMirrorMode: z.enum(['disabled', 'journal', 'snapshot']).nullable().optional(),
    primary: z.boolean().nullable().optional().describe('true promotes, false demotes.'),
    force: z
      .boolean()
      .optional()
      .describe('With primary true: promote although the peer is still primary (split-brain; Tandem’s own).'),
  })
  .strict()
  .refine(
    (b) =>
      [b.journaling, b.imageMirrorMode, b.primary].filter((v) => v !== undefined && v !== null).length === 1,
    {
      message: 'change one thing per request: journaling, imageMirrorMode or primary',
    },
  );

const tag = 'RBD mirroring';

/** The image a path names (`/ceph/{cluster}/pools/{pool}/rbds/{rbd}` and `?namespace=`). */
const imageAt = (app: App, p: { cluster: string; pool: string; rbd: string }, q: { namespace: string }) => ({
  siteId: siteOf(app, p.cluster),
  pool: p.pool,
  namespace: q.namespace,
  image: p.rbd,
});

/** A POST on one image that starts a task doing `op` on it. */
const imageTaskRoute = (o: { path: string; id: string; summary: string; op: 'resync' | 'snapshot' }) =>
  route({
    method: 'POST',
    path: o.path,
    id: o.id,
    tag,
    summary: o.summary,
    params: imageParams,
    query: nsQuery,
    task: true,
    run: ({ app, caller, params: p, query }) => caller.ceph.image({ ...imageAt(app, p, query), op: o.op }),
  });

export const cephRoutes: RouteDef[] = [
  route({
    method: 'GET',
    path: '/ceph/{cluster}/pools/rbd-mirror/all-infos',
    id: 'ceph.pools.allInfos',
    tag,
    summary: 'Mirroring of every pool and namespace',
    params: z.object({ cluster }),
    response: z.array(poolInfoSchema),
    run: ({ app, caller, params: p }) => poolInfos(caller, siteOf(app, p.cluster)),
  }),
  route({
    method: 'GET',
    path: '/ceph/{cluster}/pools/rbd-mirror/schedules',
    id: 'ceph.schedules.list',
    tag,
    summary: 'Mirror snapshot schedules',
    params: z.object({ cluster }),
    response: z.array(scheduleSchema),
    run: async ({ app, caller, params: p }) => {
      const entries = await caller.ceph.schedules({ siteId: siteOf(app, p.cluster), level: {} });
      return entries.flatMap((e) =>
        e.items.map((i) => ({
          pool: e.pool,
          namespace: e.namespace || null,
          rbd: e.image,
          interval: i.interval,
          startTime: i.startTime,
        })),
      );
    },
  }),
  route({
    method: 'POST',
    path: '/ceph/{cluster}/pools/rbd-mirror/schedules',
    id: 'ceph.schedules.add',
    tag,
    summary: 'Add a mirror snapshot schedule',
    params: z.object({ cluster }),
    body: scheduleSchema,
    task: true,
    run: ({ app, caller, params: p, body }) =>
      caller.ceph.addSchedule({ ...scheduleOf(app, p.cluster, body), acceptRpoRisk: body.acceptRpoRisk }),
  }),
  route({
    method: 'DELETE',
    path: '/ceph/{cluster}/pools/rbd-mirror/schedules',
    id: 'ceph.schedules.delete',
    tag,
    summary: 'Delete a mirror snapshot schedule (with the same body as when it was added)',
    params: z.object({ cluster }),
    body: scheduleSchema,
    task: true,
    run: ({ app, caller, params: p, body }) => caller.ceph.removeSchedule(scheduleOf(app, p.cluster, body)),
  }),
  route({
    method: 'GET',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror',
    id: 'ceph.pool.get',
    tag,
    summary: "A pool's (or namespace's) mirroring",
    params: poolParams,
    query: nsQuery,
    response: poolInfoSchema,
    run: async ({ app, caller, params: p, query }) => {
      const all = await poolInfos(caller, siteOf(app, p.cluster));
      const found = all.find((x) => x.pool === p.pool && (x.namespace ?? '') === query.namespace);
      if (!found)
        throw new AppError(
          'NOT_FOUND',
          `no pool ${query.namespace ? `${p.pool}/${query.namespace}` : p.pool} on ${p.cluster}`,
        );
      return found;
    },
  }),
  route({
    method: 'PATCH',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror',
    id: 'ceph.pool.update',
    tag,
    summary: "Set a pool's (or namespace's) mirror mode",
    params: poolParams,
    query: nsQuery,
    body: z.object({ poolMirrorMode: z.enum(['disabled', 'image', 'pool']) }).strict(),
    task: true,
    run: ({ app, caller, params: p, query, body }) =>
      caller.ceph.setPoolMode({
        siteId: siteOf(app, p.cluster),
        pool: p.pool,
        namespace: query.namespace,
        mode: body.poolMirrorMode,
      }),
  }),
  route({
    method: 'POST',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror/journaling',
    id: 'ceph.pool.journaling',
    tag,
    summary: 'Turn journaling on or off for every image of the pool not mirrored by snapshots',
    params: poolParams,
    query: nsQuery,
    body: z.object({ enableJournaling: z.boolean() }).strict(),
    task: true,
    run: ({ app, caller, params: p, query, body }) =>
      caller.ceph.setPoolJournaling({
        siteId: siteOf(app, p.cluster),
        pool: p.pool,
        namespace: query.namespace,
        on: body.enableJournaling,
      }),
  }),
  route({
    method: 'GET',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror/token',
    id: 'ceph.token.create',
    tag,
    summary: 'A bootstrap token for this pool (to import on the other cluster)',
    description: 'The token carries a cephx key: it is in this answer only, never in history or logs.',
    params: poolParams,
    response: z.string(),
    run: async ({ app, caller, params: p }) =>
      (await caller.ceph.createToken({ siteId: siteOf(app, p.cluster), pool: p.pool })).token,
  }),
  route({
    method: 'PATCH',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror/token',
    id: 'ceph.siteName.set',
    tag,
    summary: "Set the cluster's mirroring site name",
    params: poolParams,
    body: z.object({ siteName: name }).strict(),
    task: true,
    run: ({ app, caller, params: p, body }) =>
      caller.ceph.setSiteName({ siteId: siteOf(app, p.cluster), pool: p.pool, siteName: body.siteName }),
  }),
  route({
    method: 'POST',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror/peers',
    id: 'ceph.peers.import',
    tag,
    summary: 'Import a bootstrap token: add the other cluster as a peer',
    params: poolParams,
    body: z
      .object({
        peerToken: z.string().min(1, 'paste the token').max(16384, 'at most 16384 characters'),
        siteName: name.nullable().optional().describe('Ignored: the peer names itself in the token.'),
        localSiteName: name
          .nullable()
          .optional()
          .describe("This cluster's site name, as the peer will show it."),
        direction: direction.default('rx_tx'),
      })
      .strict(),
    task: true,
    run: ({ app, caller, params: p, body }) => {
      if (body.direction === 'tx_only')
        throw AppError.invalid('direction', 'a bootstrap token is imported rx_only or rx_tx');
      return caller.ceph.importToken({
        siteId: siteOf(app, p.cluster),
        pool: p.pool,
        token: body.peerToken,
        direction: DIRECTION[body.direction] as 'rx-tx' | 'rx-only',
        localSiteName: body.localSiteName ?? undefined,
      });
    },
  }),
  route({
    method: 'PATCH',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror/peers/{id}',
    id: 'ceph.peers.update',
    tag,
    summary: 'Change a peer',
    params: poolParams.extend({ id: z.string().uuid('not a peer uuid') }),
    body: z
      .object({
        siteName: name.nullable().optional(),
        monHosts: z.string().max(1024).nullable().optional(),
        direction: direction.nullable().optional(),
        client: z.string().max(128).nullable().optional(),
      })
      .strict(),
    task: true,
    run: ({ app, caller, params: p, body }) =>
      caller.ceph.editPeer({
        siteId: siteOf(app, p.cluster),
        pool: p.pool,
        peerUuid: p.id,
        siteName: body.siteName ?? undefined,
        monHost: body.monHosts ?? undefined,
        clientName: body.client ?? undefined,
        direction: body.direction ? DIRECTION[body.direction] : undefined,
      }),
  }),
  route({
    method: 'DELETE',
    path: '/ceph/{cluster}/pools/{pool}/rbd-mirror/peers/{id}',
    id: 'ceph.peers.delete',
    tag,
    summary: 'Remove a peer',
    params: poolParams.extend({ id: z.string().uuid('not a peer uuid') }),
    task: true,
    run: ({ app, caller, params: p }) =>
      caller.ceph.removePeer({ siteId: siteOf(app, p.cluster), pool: p.pool, peerUuid: p.id }),
  }),
  route({
    method: 'GET',
    path: '/ceph/{cluster}/pools/{pool}/rbds/{rbd}',
    id: 'ceph.image.get',
    tag,
    summary: 'An image with its mirroring',
    params: imageParams,
    query: nsQuery,
    response: z.object({
      name: z.string(),
      pool: z.string(),
      namespace: z.string().nullable(),
      size: z.number(),
      mirrorInfo: imageInfoSchema,
      poolMirrorMode: z.string().nullable(),
    }),
    run: async ({ app, caller, params: p, query }) => {
      const ref = imageAt(app, p, query);
      const siteId = ref.siteId;
      const [info, page, pools] = await Promise.all([
        caller.ceph.imageInfo(ref),
        caller.ceph.images({ siteId, pool: p.pool, namespace: query.namespace, search: p.rbd, limit: 200 }),
        poolInfos(caller, siteId),
      ]);
      const st = page.rows.find((i) => i.name === p.rbd)?.mirroring ?? null;
      const m = info.mirroring;
      const enabled = m.state === 'enabled';
      return {
        name: info.name,
        pool: info.pool,
        namespace: info.namespace || null,
        size: info.sizeBytes,
        poolMirrorMode:
          pools.find((x) => x.pool === p.pool && (x.namespace ?? '') === query.namespace)?.poolMirrorMode ??
          null,
        mirrorInfo: {
          imageMirrorMode: enabled ? (m.mode ?? 'disabled') : ('disabled' as const),
          mirrorState: !enabled
            ? ('disabled' as const)
            : m.primary
              ? ('primary' as const)
              : ('mirror' as const),
          primary: enabled ? m.primary : null,
          globalId: m.globalId,
          state: st?.rawState ?? null,
          description: st?.rawDescription ?? null,
          lastUpdate: st?.lastUpdate ?? null,
          daemonHost: null,
          peerSites: st ? st.peerSites.map((s) => s.siteName) : null,
        },
      };
    },
  }),
  route({
    method: 'PATCH',
    path: '/ceph/{cluster}/pools/{pool}/rbds/{rbd}/rbd-mirror',
    id: 'ceph.image.update',
    tag,
    summary: "Change an image's mirroring: mode, primary (promote/demote) or journaling",
    description: 'One change per request. Enabling needs the pool in `image` mode.',
    params: imageParams,
    query: nsQuery,
    body: imageUpdate,
    task: true,
    run: ({ app, caller, params: p, query, body }) => {
      const ref = imageAt(app, p, query);
      if (body.imageMirrorMode)
        return caller.ceph.image({
          ...ref,
          op: body.imageMirrorMode === 'disabled' ? 'disable' : 'enable',
          mode: body.imageMirrorMode === 'disabled' ? undefined : body.imageMirrorMode,
        });
      if (body.primary !== undefined && body.primary !== null)
        return caller.ceph.image({
          ...ref,
          op: body.primary ? 'promote' : 'demote',
          force: body.force,
          confirmSplitBrain: body.force,
        });
      return caller.ceph.image({ ...ref, op: body.journaling ? 'journaling-on' : 'journaling-off' });
    },
  }),
  imageTaskRoute({
    path: '/ceph/{cluster}/pools/{pool}/rbds/{rbd}/rbd-mirror/resync',
    id: 'ceph.image.resync',
    summary: 'Flag a non-primary image for resync',
    op: 'resync',
  }),
  route({
    method: 'GET',
    path: '/ceph/{cluster}/pools/{pool}/rbds/{rbd}/rbd-mirror/snapshots',
    id: 'ceph.image.snapshots',
    tag,
    summary: "An image's mirror snapshots",
    params: imageParams,
    query: nsQuery,
    response: z.array(
      z.object({
        id: z.string().describe('Exact (64-bit) id, as a string.'),
        name: z.string(),
        timestamp: z.string().nullable(),
        state: z.string().nullable(),
        complete: z.boolean().nullable(),
      }),
    ),
    run: async ({ app, caller, params: p, query }) =>
      (
        await caller.ceph.snapshots({
          siteId: siteOf(app, p.cluster),
          pool: p.pool,
          namespace: query.namespace,
          image: p.rbd,
        })
      )
        .filter((s) => s.mirror)
        .map((s) => ({
          id: s.id,
          name: s.name,
          timestamp: s.timestamp,
          state: s.mirror?.state ?? null,
          complete: s.mirror?.complete ?? null,
        })),
  }),
  imageTaskRoute({
    path: '/ceph/{cluster}/pools/{pool}/rbds/{rbd}/rbd-mirror/snapshots',
    id: 'ceph.image.snapshot',
    summary: 'Take a mirror snapshot of a primary image now',
    op: 'snapshot',
  }),
  route({
    method: 'GET',
    path: '/ceph/{cluster}/rbd-mirror/daemons',
    id: 'ceph.daemons',
    tag,
    summary: 'The rbd-mirror daemons of the cluster and their health',
    params: z.object({ cluster }),
    run: ({ app, caller, params: p }) => caller.ceph.daemons({ siteId: siteOf(app, p.cluster) }),
  }),
];
