import { z } from 'zod';
import { NAME_PATTERNS } from '../../core/names';
import { previewPlan, previewResync } from '../../domain/ceph/failover';
import { reasonSchema } from '../../domain/plans/rules';
import { IMAGE_GROUPS, IMAGE_ROLES, IMAGE_SORTS } from '../../domain/ceph/images';
import { IMAGE_OPS } from '../../domain/ceph/mirroring';
import { secret } from '../../domain/redact';
import { operatorProcedure, router, startedTask, viewerProcedure } from '../init';

const siteId = z.number().int().positive();
const name = z
  .string()
  .trim()
  .max(128, 'at most 128 characters')
  .regex(NAME_PATTERNS.ceph, 'letters, digits and . _ - only, starting with a letter or digit');
/** What the operator types to confirm (an image, pool or VM name). */
const confirm = z.string().max(256, 'at most 256 characters');
/** A snapshot schedule's interval (`30m`, `1h`, `1d`) and start time (`14:00:00`, ISO 8601). */
const interval = z.string().max(32, 'at most 32 characters');
const startTime = z.string().max(64, 'at most 64 characters');
const peerUuid = z.string().max(36, 'at most 36 characters').uuid('not a peer uuid');
const ns = z.union([name, z.literal('')]).default('');
const level = z.object({ pool: name.optional(), namespace: name.optional(), image: name.optional() });
const imageRef = z.object({ siteId, pool: name, namespace: ns, image: name });

const failoverInput = z.object({
  fromSiteId: siteId,
  toSiteId: siteId,
  pool: name,
  namespace: ns,
  image: name.optional(),
});

/** A resync: the stale site's images (one, or the pool's) copied again from the good site. */
const resyncInput = z.object({
  staleSiteId: siteId,
  goodSiteId: siteId,
  pool: name,
  namespace: ns,
  image: name.optional(),
  failBack: z.boolean().default(false),
});

export const cephRouter = router({
  failoverPlan: viewerProcedure
    /** The plan as the wizard shows it: the images with the largest data-loss windows and the totals (see previewPlan). */
    .input(failoverInput.extend({ unplanned: z.boolean().default(false) }))
    .query(async ({ ctx, input }) =>
      previewPlan(await ctx.app.cephFailover.plan(input, { unplanned: input.unplanned, preview: true })),
    ),
  failover: operatorProcedure
    /** `confirmSplitBrain`: an unplanned failover while the old primary cluster answers must confirm the split-brain it causes. */
    /** `expectMode`: the mode the operator was shown; the failover is refused if it would now run otherwise. */
    .input(
      failoverInput.extend({
        unplanned: z.boolean().default(false),
        confirm,
        confirmSplitBrain: z.boolean().optional(),
        expectMode: z.enum(['planned', 'unplanned']).optional(),
        reason: reasonSchema.optional(),
      }),
    )
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (
        await ctx.app.cephFailover.failover(
          input,
          {
            confirm: input.confirm,
            unplanned: input.unplanned,
            confirmSplitBrain: input.confirmSplitBrain,
            expectMode: input.expectMode,
            report: { reason: input.reason },
          },
          ctx.user,
        )
      ).id,
    })),
  /** Failovers, resyncs and failbacks that stopped and can be resumed (or rolled back) from their task page. */
  unfinished: viewerProcedure.query(({ ctx }) => ctx.app.cephFailover.unfinished()),
  resyncPlan: viewerProcedure
    .input(resyncInput)
    .query(async ({ ctx, input }) => previewResync(await ctx.app.cephFailover.resyncPlan(input))),
  /** Deletes a protective copy kept by a resync (only images named `<image>-diverged-<UTC time>`). */
  removeKeptCopy: operatorProcedure
    .input(imageRef.extend({ confirm }))
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (await ctx.app.cephFailover.removeKeptCopy(input, ctx.user)).id,
    })),
  resync: operatorProcedure
    .input(resyncInput.extend({ confirm }))
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (
        await ctx.app.cephFailover.resync(
          input,
          { confirm: input.confirm, failBack: input.failBack },
          ctx.user,
        )
      ).id,
    })),
  /** `waitMs`: answer within about that long, with the cluster's last answer if it is slow or gone (see CephMirroring.status). */
  status: viewerProcedure
    .input(z.object({ siteId, waitMs: z.number().int().min(0).max(60_000).optional() }))
    .query(({ ctx, input }) => ctx.app.ceph.overview(input.siteId, { waitMs: input.waitMs })),
  /** A page of one pool's (or namespace's) images from the cluster's last status answer (see CephMirroring.images). */
  images: viewerProcedure
    .input(
      z.object({
        siteId,
        pool: name,
        namespace: ns,
        group: z.enum(IMAGE_GROUPS).optional(),
        role: z.enum(IMAGE_ROLES).default('any'),
        search: z.string().trim().max(128, 'at most 128 characters').optional(),
        sort: z.enum(IMAGE_SORTS).default('name'),
        dir: z.enum(['asc', 'desc']).default('asc'),
        offset: z.number().int().min(0).max(1_000_000).default(0),
        limit: z.number().int().min(1).max(200).default(50),
        waitMs: z.number().int().min(0).max(60_000).optional(),
      }),
    )
    .query(({ ctx, input: { siteId: s, waitMs, ...q } }) => ctx.app.ceph.images(s, q, { waitMs })),
  daemons: viewerProcedure
    .input(z.object({ siteId }))
    .query(({ ctx, input }) => ctx.app.ceph.daemons(input.siteId)),
  snapshots: viewerProcedure.input(imageRef).query(({ ctx, input }) => ctx.app.ceph.snapshots(input)),
  imageInfo: viewerProcedure.input(imageRef).query(({ ctx, input }) => ctx.app.ceph.imageInfo(input)),
  /** What setPoolJournaling would change, image by image, before the operator confirms. */
  journalingPlan: viewerProcedure
    .input(z.object({ siteId, pool: name, namespace: ns, on: z.boolean() }))
    .query(({ ctx, input }) =>
      ctx.app.ceph.journalingPlan(input.siteId, input.pool, input.namespace, input.on),
    ),
  schedules: viewerProcedure
    .input(z.object({ siteId, level: level.default({}) }))
    .query(({ ctx, input }) => ctx.app.ceph.schedules(input.siteId, input.level)),
  previewSchedule: viewerProcedure
    .input(
      z.object({
        interval: interval.min(1, 'required'),
        startTime: startTime.optional(),
        count: z.number().int().min(1).max(20).default(5),
      }),
    )
    .query(({ ctx, input }) =>
      ctx.app.ceph.previewSchedule(input.interval, input.startTime || undefined, input.count),
    ),

  setPoolMode: operatorProcedure
    .input(z.object({ siteId, pool: name, namespace: ns, mode: z.enum(['disabled', 'image', 'pool']) }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.setPoolMode(input, ctx.user).id,
    })),
  setSiteName: operatorProcedure
    .input(z.object({ siteId, pool: name, siteName: name }))
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (await ctx.app.ceph.setSiteName(input, ctx.user)).id,
    })),
  /**
   * Decodes a pasted token (fsid, monitors, client) before it is imported. A mutation, so that the
   * token (which carries a cephx key) travels in a POST body, never in a URL; not recorded.
   */
  previewToken: viewerProcedure
    .meta({ history: false })
    .input(z.object({ token: secret(z.string().max(16384, 'at most 16384 characters')) }))
    .mutation(({ ctx, input }) => ctx.app.ceph.previewToken(input.token)),
  /** Returns the token once. The history middleware records only the input (site and pool). */
  createToken: operatorProcedure
    .input(z.object({ siteId, pool: name }))
    .mutation(({ ctx, input }) => ctx.app.ceph.createToken(input.siteId, input.pool)),
  importToken: operatorProcedure
    .input(
      z.object({
        siteId,
        pool: name,
        token: secret(z.string().min(1, 'paste the token').max(16384, 'at most 16384 characters')),
        direction: z.enum(['rx-only', 'rx-tx']),
        localSiteName: name.optional(),
      }),
    )
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.importToken(input, ctx.user).id,
    })),
  unpair: operatorProcedure
    .input(z.object({ siteId, otherSiteId: siteId, pool: name }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.unpair(input, ctx.user).id,
    })),
  pair: operatorProcedure
    .input(
      z.object({
        fromSiteId: siteId,
        toSiteId: siteId,
        pool: name,
        direction: z.enum(['rx-only', 'rx-tx']).default('rx-tx'),
      }),
    )
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.pair(input, ctx.user).id,
    })),
  editPeer: operatorProcedure
    .input(
      z.object({
        siteId,
        pool: name,
        peerUuid,
        clientName: z
          .string()
          .max(128, 'at most 128 characters')
          .regex(/^client\.[A-Za-z0-9._-]+$/, 'like client.rbd-mirror-peer')
          .optional(),
        monHost: z
          .string()
          .max(1024, 'at most 1024 characters')
          .regex(/^[\w.:,[\]/ -]+$/, 'monitor addresses such as [v2:10.0.0.1:3300,v1:10.0.0.1:6789]')
          .optional(),
        siteName: name.optional(),
        direction: z.enum(['rx-only', 'rx-tx', 'tx-only']).optional(),
      }),
    )
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({ taskId: (await ctx.app.ceph.editPeer(input, ctx.user)).id })),
  removePeer: operatorProcedure
    .input(z.object({ siteId, pool: name, peerUuid }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.removePeer(input, ctx.user).id,
    })),
  setPoolJournaling: operatorProcedure
    .input(z.object({ siteId, pool: name, namespace: ns, on: z.boolean() }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.setPoolJournaling(input, ctx.user).id,
    })),
  addSchedule: operatorProcedure
    .input(
      z.object({
        siteId,
        level,
        interval: interval.min(1, 'required'),
        startTime: startTime.optional(),
        acceptRpoRisk: z.boolean().optional(),
      }),
    )
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.addSchedule(input, ctx.user).id,
    })),
  removeSchedule: operatorProcedure
    .input(z.object({ siteId, level, interval: interval.optional(), startTime: startTime.optional() }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.ceph.removeSchedule(input, ctx.user).id,
    })),
  image: operatorProcedure
    .input(
      imageRef.extend({
        op: z.enum(IMAGE_OPS),
        mode: z.enum(['journal', 'snapshot']).optional(),
        force: z.boolean().optional(),
        /** A forced promote must be confirmed by naming split-brain. */
        confirmSplitBrain: z.boolean().optional(),
      }),
    )
    .output(startedTask)
    .mutation(({ ctx, input }) => ({ taskId: ctx.app.ceph.image(input, ctx.user).id })),
});
