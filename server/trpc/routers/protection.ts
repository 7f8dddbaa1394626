import { z } from 'zod';
import { rpoScopeSchema, rpoSecondsSchema } from '../../domain/protection/rpo';
import { adminProcedure, operatorProcedure, router, viewerProcedure } from '../init';

const health = z.enum(['ok', 'warning', 'breach', 'unknown', 'unprotected']);
const kind = z.enum(['vm-replica', 'rbd-image', 'vm']);
const subject = z.string().min(1).max(400, 'at most 400 characters');
/** Site, pool, namespace or object scopes; the installation default is an admin's (setDefaultRpo). */
const narrowScope = rpoScopeSchema.refine((s) => s.kind !== 'default', {
  message: 'the installation default is changed with setDefaultRpo (admins)',
});

export const protectionRouter = router({
  list: viewerProcedure
    .input(
      z
        .object({
          siteId: z.number().int().positive().optional(),
          kind: kind.optional(),
          health: health.optional(),
          q: z.string().max(200, 'at most 200 characters').optional(),
          sort: z.enum(['health', 'name', 'kind', 'window', 'rpo', 'source']).optional(),
          dir: z.enum(['asc', 'desc']).optional(),
          offset: z.number().int().min(0).max(1_000_000).optional(),
          limit: z.number().int().min(1).max(500).optional(),
        })
        .optional(),
    )
    .query(({ ctx, input }) => ctx.app.protection.list(input ?? {})),
  exposure: viewerProcedure.query(({ ctx }) => ctx.app.protection.exposure()),
  get: viewerProcedure
    .input(z.object({ subject }))
    .query(({ ctx, input }) => ctx.app.protection.get(input.subject)),
  /** Asks the source what it has written since the recovery point (on demand: it reaches a machine). */
  bytesAtRisk: viewerProcedure
    .input(z.object({ subject }))
    .query(({ ctx, input }) => ctx.app.protection.bytesAtRisk(input.subject)),
  rpoTargets: viewerProcedure.query(({ ctx }) => ctx.app.protection.rpo.list()),
  setRpo: operatorProcedure
    .input(z.object({ scope: narrowScope, seconds: rpoSecondsSchema }))
    .mutation(({ ctx, input }) =>
      ctx.app.history.change(() => ctx.app.protection.setRpo(input.scope, input.seconds, ctx.user.username)),
    ),
  clearRpo: operatorProcedure
    .input(z.object({ scope: narrowScope }))
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.protection.clearRpo(input.scope))),
  setDefaultRpo: adminProcedure
    .input(z.object({ seconds: rpoSecondsSchema }))
    .mutation(({ ctx, input }) =>
      ctx.app.history.change(() =>
        ctx.app.protection.setRpo({ kind: 'default' }, input.seconds, ctx.user.username),
      ),
    ),
});
