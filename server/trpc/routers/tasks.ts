import { on } from 'node:events';
import { z } from 'zod';
import { AppError } from '../../domain/errors';
import type { TaskRow } from '../../db/schema';
import type { TaskEvent } from '../../tasks/engine';
import { operatorProcedure, router, viewerProcedure } from '../init';
import { whileSignedIn } from '../live';

const id = z.number().int().positive();
/** What the operator types to confirm a resume or a rollback. */
const confirm = z.string().max(256, 'at most 256 characters');

export const tasksRouter = router({
  list: viewerProcedure
    .input(z.object({ active: z.boolean().optional(), limit: z.number().int().min(1).max(200).default(50), before: id.optional() }))
    .query(({ ctx, input }) => ctx.app.tasks.list(input)),
  get: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => {
    const task = ctx.app.tasks.get(input.id);
    if (!task) throw new AppError('NOT_FOUND', `task #${input.id} does not exist`);
    return { task, steps: ctx.app.tasks.steps(input.id), logs: ctx.app.tasks.logs(input.id) };
  }),
  /**
   * Live task changes over server-sent events; yields the changed task row as it was at that
   * change (the engine reads it once per change for every listener). Watching one task starts
   * with its row as it is once the stream listens, so that a change made while the stream was
   * opening is not missed. Ends with the session.
   */
  watch: viewerProcedure.input(z.object({ id: id.optional() }).optional()).subscription(async function* ({ ctx, input, signal }) {
    const changes = (s: AbortSignal) => {
      const events = on(ctx.app.tasks.events, 'change', { signal: s }); // listening from here
      return (async function* (): AsyncGenerator<TaskRow | undefined> {
        if (input?.id) yield ctx.app.tasks.get(input.id);
        for await (const [ev] of events) {
          const e = ev as TaskEvent;
          if (!input?.id || e.taskId === input.id) yield e.task;
        }
      })();
    };
    for await (const task of whileSignedIn(ctx, signal, changes)) if (task) yield task;
  }),
  cancel: operatorProcedure.input(z.object({ id })).mutation(({ ctx, input }) => {
    ctx.app.tasks.cancel(input.id, ctx.user.username);
    return { ok: true };
  }),
  /** Whether an ended task can be resumed or rolled back, and what the operator types to confirm. */
  recovery: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.tasks.recovery(input.id)),
  resume: operatorProcedure.input(z.object({ id, confirm })).mutation(({ ctx, input }) => ({ taskId: ctx.app.tasks.resume(input.id, input.confirm, ctx.user.username).id })),
  rollback: operatorProcedure.input(z.object({ id, confirm })).mutation(({ ctx, input }) => ({ taskId: ctx.app.tasks.rollback(input.id, input.confirm, ctx.user.username).id })),
  answer: operatorProcedure
    .input(z.object({ id, questionId: z.string().min(1, 'required').max(64, 'at most 64 characters'), value: z.string().min(1, 'required').max(256, 'at most 256 characters') }))
    .mutation(({ ctx, input }) => {
      ctx.app.tasks.answer(input.id, input.questionId, input.value, ctx.user.username);
      return { ok: true };
    }),
});
