import { z } from 'zod';
import { TASK_LOG_PAGE } from '../../tasks/engine';
import { operatorProcedure, router, startedTask, viewerProcedure } from '../init';
import { whileSignedIn } from '../live';

const id = z.number().int().positive();
/** What the operator types to confirm a resume or a rollback. */
const confirm = z.string().max(256, 'at most 256 characters');

export const tasksRouter = router({
  list: viewerProcedure
    .input(
      z.object({
        active: z.boolean().optional(),
        limit: z.number().int().min(1).max(200).default(50),
        before: id.optional(),
      }),
    )
    .query(({ ctx, input }) => ctx.app.tasks.list(input)),
  /** The task, its steps and its last log lines (with how many come before them). */
  get: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.tasks.detail(input.id)),
  /** The log lines before line `before`, a page at a time, oldest first. */
  logs: viewerProcedure
    .input(
      z.object({ id, before: id, limit: z.number().int().min(1).max(TASK_LOG_PAGE).default(TASK_LOG_PAGE) }),
    )
    .query(({ ctx, input }) => ctx.app.tasks.logsBefore(input.id, input.before, input.limit)),
  /**
   * Live task changes over server-sent events: batches of changed task rows (without their params),
   * each row as it was at
   * its change (read once per change for every stream; within a batch, a task's changes in one
   * state are its last row, and every change of state is there, in order — see TaskFeed). Watching
   * one task starts with its row as it is once the stream listens, so that a change made while the
   * stream was opening is not missed. Ends with the session.
   */
  watch: viewerProcedure.input(z.object({ id: id.optional() }).optional()).subscription(async function* ({
    ctx,
    input,
    signal,
  }) {
    const changes = (s: AbortSignal) => ctx.app.tasks.watch(s, input?.id);
    for await (const batch of whileSignedIn(ctx, signal, changes)) if (batch.length) yield batch;
  }),
  cancel: operatorProcedure.input(z.object({ id })).mutation(({ ctx, input }) => {
    ctx.app.tasks.cancel(input.id, ctx.user.username);
    return { ok: true };
  }),
  /** Whether an ended task can be resumed or rolled back, and what the operator types to confirm. */
  recovery: viewerProcedure
    .input(z.object({ id }))
    .query(({ ctx, input }) => ctx.app.tasks.recovery(input.id)),
  resume: operatorProcedure
    .input(z.object({ id, confirm }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.tasks.resume(input.id, input.confirm, ctx.user.username).id,
    })),
  rollback: operatorProcedure
    .input(z.object({ id, confirm }))
    .output(startedTask)
    .mutation(({ ctx, input }) => ({
      taskId: ctx.app.tasks.rollback(input.id, input.confirm, ctx.user.username).id,
    })),
  answer: operatorProcedure
    .input(
      z.object({
        id,
        questionId: z.string().min(1, 'required').max(64, 'at most 64 characters'),
        value: z.string().min(1, 'required').max(256, 'at most 256 characters'),
      }),
    )
    .mutation(({ ctx, input }) => {
      ctx.app.tasks.answer(input.id, input.questionId, input.value, ctx.user.username);
      return { ok: true };
    }),
});
