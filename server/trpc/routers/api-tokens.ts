import { z } from 'zod';
import { API_TOKEN_SCOPES, tokenNameSchema } from '../../domain/api-tokens';
import { adminProcedure, router } from '../init';

/**
 * API tokens for machine clients (admin only). History records a call's input (the name and
 * scope), never its answer: the token `create` returns exists nowhere else.
 */
export const apiTokensRouter = router({
  list: adminProcedure.query(({ ctx }) => ctx.app.apiTokens.list()),
  create: adminProcedure.input(z.object({ name: tokenNameSchema, scope: z.enum(API_TOKEN_SCOPES).default('metrics') })).mutation(({ ctx, input }) => {
    const { token, info } = ctx.app.history.change(() => ctx.app.apiTokens.create(input, ctx.user.username));
    return { token, info };
  }),
  revoke: adminProcedure.input(z.object({ id: z.number().int().positive() })).mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.apiTokens.revoke(input.id))),
});
