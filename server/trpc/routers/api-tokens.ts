import { z } from 'zod';
import { tokenCreateSchema } from '../../domain/api-tokens';
import { router, viewerProcedure } from '../init';

/**
 * API tokens: a user's own `api` tokens for /api/v1, and (an admin's) `metrics` tokens and tokens
 * for other users. History records a call's input (the name, scope, role, owner, expiry), never its
 * answer: the token `create` returns exists nowhere else.
 */
export const apiTokensRouter = router({
  list: viewerProcedure.query(({ ctx }) => ctx.app.apiTokens.list(ctx.user)),
  create: viewerProcedure
    .input(tokenCreateSchema)
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.apiTokens.create(input, ctx.user))),
  revoke: viewerProcedure
    .input(z.object({ id: z.number().int().positive() }))
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.apiTokens.revoke(input.id, ctx.user))),
});
