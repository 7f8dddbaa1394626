import { z } from 'zod';
import { planInputSchema, rbdItemSchema, reasonSchema, testNetworkSchema } from '../../domain/plans/rules';
import { operatorProcedure, router, viewerProcedure } from '../init';

const id = z.number().int().positive();
/** What the operator types to confirm (the plan's name). */
const confirm = z.string().max(256, 'at most 256 characters');
const run = z.object({
  id,
  kind: z.enum(['planned', 'disaster', 'reprotect', 'test']),
  direction: z.enum(['forward', 'back']).default('forward'),
  /** A test failover's network for its VMs: none (default) or an isolated libvirt network. */
  network: testNetworkSchema.optional(),
});

export const plansRouter = router({
  list: viewerProcedure.query(({ ctx }) => ctx.app.plans.list()),
  get: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.plans.get(input.id)),
  /** The plan as its form edits it. */
  input: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.plans.input(input.id)),
  create: operatorProcedure
    .input(planInputSchema)
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.plans.create(input, ctx.user))),
  update: operatorProcedure.input(planInputSchema.extend({ id })).mutation(({ ctx, input }) => {
    const { id: planId, ...plan } = input;
    return ctx.app.history.change(() => ctx.app.plans.update(planId, plan));
  }),
  remove: operatorProcedure
    .input(z.object({ id, confirm }))
    .mutation(({ ctx, input }) =>
      ctx.app.history.change(() => ctx.app.plans.remove(input.id, input.confirm)),
    ),
  /** Every object's pre-checks and data-loss window for a run of this kind and direction. */
  precheck: viewerProcedure
    .input(run)
    .query(({ ctx, input }) => ctx.app.planRunner.precheck(input.id, input)),
  /** Starts a run; `reason` goes into its report. */
  run: operatorProcedure
    .input(run.extend({ reason: reasonSchema, confirm, confirmSplitBrain: z.boolean().optional() }))
    .mutation(async ({ ctx, input }) => {
      const r = await ctx.app.planRunner.start(input.id, input, ctx.user);
      return { runId: r.runId, taskId: r.task.id };
    }),
  /** A test failover of one object on its own: a VM replica, or an RBD image, namespace or pool. */
  testObject: operatorProcedure
    .input(
      z.object({
        object: z.discriminatedUnion('kind', [
          z.object({ kind: z.literal('replica'), replicaId: id }),
          rbdItemSchema.pick({
            kind: true,
            protectedSiteId: true,
            recoverySiteId: true,
            pool: true,
            namespace: true,
            image: true,
          }),
        ]),
        reason: reasonSchema,
        confirm,
        network: testNetworkSchema.optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const r = await ctx.app.planRunner.startObjectTest(input.object, input, ctx.user);
      return { runId: r.runId, taskId: r.task.id };
    }),
  /** Cleans up a test failover: destroys exactly what it created. */
  cleanupTest: operatorProcedure
    .input(z.object({ runId: id, reason: reasonSchema.optional() }))
    .mutation(({ ctx, input }) => {
      const r = ctx.app.planRunner.cleanupTest(input.runId, input, ctx.user);
      return { runId: r.runId, taskId: r.task.id };
    }),
  /** The run of a task, if the task is a plan run (the task page links to its report). */
  runOfTask: viewerProcedure
    .input(z.object({ taskId: id }))
    .query(({ ctx, input }) => ({ runId: ctx.app.planRunner.runOfTask(input.taskId) })),
  reports: viewerProcedure
    .input(
      z.object({
        planId: id.optional(),
        kind: z.enum(['planned', 'disaster', 'reprotect', 'test', 'test-cleanup']).optional(),
        limit: z.number().int().min(1).max(200).default(50),
        before: id.optional(),
      }),
    )
    .query(({ ctx, input }) => ctx.app.reports.list(input)),
  report: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.reports.get(input.id)),
});
