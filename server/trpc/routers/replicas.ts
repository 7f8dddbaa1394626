import { z } from 'zod';
import { replicaCreateSchema, replicaUpdateSchema } from '../../domain/replicas/rules';
import { reasonSchema } from '../../domain/plans/rules';
import { operatorProcedure, router, startedTask, viewerProcedure } from '../init';

const id = z.number().int().positive();
const mode = z.enum(['planned', 'forced']);
/** What the operator types to confirm (the VM name). */
const confirm = z.string().max(256, 'at most 256 characters');

export const replicasRouter = router({
  list: viewerProcedure
    .input(
      z
        .object({ siteId: id.optional(), vmName: z.string().max(64, 'at most 64 characters').optional() })
        .optional(),
    )
    .query(({ ctx, input }) => ctx.app.replicas.list(input ?? {})),
  get: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.replicas.get(input.id)),
  syncRuns: viewerProcedure
    .input(z.object({ id, limit: z.number().int().min(1).max(1000).default(200) }))
    .query(({ ctx, input }) => ctx.app.replicas.syncRuns(input.id, input.limit)),
  create: operatorProcedure.input(replicaCreateSchema).mutation(async ({ ctx, input }) => {
    const r = await ctx.app.replicas.create(input, ctx.user);
    return { id: r.replica.id, taskId: r.taskId };
  }),
  update: operatorProcedure.input(replicaUpdateSchema.extend({ id })).mutation(({ ctx, input }) => {
    const { id: rid, ...patch } = input;
    return ctx.app.history.change(() => ctx.app.replicas.update(rid, patch));
  }),
  syncNow: operatorProcedure
    .input(z.object({ id }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({ taskId: ctx.app.replicas.startSync(input.id, ctx.user.username).id })),
  remove: operatorProcedure
    .input(z.object({ id, destroyData: z.boolean() }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.replicas.remove(input.id, { destroyData: input.destroyData }, ctx.user).id,
    })),
  failoverPlan: viewerProcedure
    .input(z.object({ id, mode: mode.optional(), force: z.boolean().default(false) }))
    .query(({ ctx, input }) => ctx.app.failover.plan(input.id, { mode: input.mode, force: input.force })),
  /** `mode`: the one the plan showed; `force`: cancel pending tasks on the VM first. */
  failover: operatorProcedure
    .input(
      z.object({ id, confirm, mode, force: z.boolean().default(false), reason: reasonSchema.optional() }),
    )
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (
        await ctx.app.failover.failover(input.id, { ...input, report: { reason: input.reason } }, ctx.user)
      ).id,
    })),
  /** Stops the copy of a VM flagged as running on two nodes on the replica's target node. */
  stopStale: operatorProcedure
    .input(z.object({ id, confirm }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({ taskId: ctx.app.failover.stopStale(input.id, input, ctx.user).id })),
  resyncPlan: viewerProcedure
    .input(z.object({ id }))
    .query(({ ctx, input }) => ctx.app.failover.resyncPlan(input.id)),
  /** Keeps the replica's data aside and sends the master's disks in full. */
  fullResync: operatorProcedure
    .input(z.object({ id, confirm }))
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (await ctx.app.failover.fullResync(input.id, input, ctx.user)).id,
    })),
  /** What a re-point of a replica whose VM's master moved would do, or why it cannot. */
  repointPlan: viewerProcedure
    .input(z.object({ id }))
    .query(({ ctx, input }) => ctx.app.repoint.plan(input.id)),
  /** Makes a replica whose VM was failed over by a sibling pull from the VM's new master. */
  repoint: operatorProcedure
    .input(z.object({ id, confirm }))
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (await ctx.app.repoint.repoint(input.id, input, ctx.user)).id,
    })),
  divergence: viewerProcedure
    .input(z.object({ id }))
    .query(({ ctx, input }) => ctx.app.failover.divergence(input.id)),
  reinit: operatorProcedure
    .input(z.object({ id, confirm }))
    .output(startedTask)
    .mutation(async ({ ctx, input }) => ({
      taskId: (await ctx.app.failover.reinit(input.id, input, ctx.user)).id,
    })),
});
