import { z } from 'zod';
import { passwordSchema, ROLES, usernameSchema } from '../../domain/auth';
import { secret } from '../../domain/redact';
import { adminProcedure, router } from '../init';

const id = z.number().int().positive();

export const usersRouter = router({
  list: adminProcedure.query(({ ctx }) => ctx.app.auth.listUsers()),
  create: adminProcedure
    .input(z.object({ username: usernameSchema, password: secret(passwordSchema), role: z.enum(ROLES) }))
    .mutation(async ({ ctx, input }) => {
      const u = await ctx.app.auth.createUser(input);
      return { id: u.id, username: u.username, role: u.role };
    }),
  update: adminProcedure
    .input(
      z
        .object({ id, role: z.enum(ROLES).optional(), disabled: z.boolean().optional() })
        .refine((u) => u.role !== undefined || u.disabled !== undefined, {
          message: 'give a role or whether the account is disabled',
          path: ['role'],
        }),
    )
    .mutation(({ ctx, input }) => {
      const u = ctx.app.history.change(() => ctx.app.auth.updateUser(input, ctx.user));
      return { id: u.id, username: u.username, role: u.role, disabled: u.disabled };
    }),
  setPassword: adminProcedure
    .input(z.object({ id, password: secret(passwordSchema) }))
    .mutation(async ({ ctx, input }) => {
      await ctx.app.auth.setPassword(input.id, input.password);
      return { ok: true };
    }),
  remove: adminProcedure.input(z.object({ id })).mutation(({ ctx, input }) => {
    ctx.app.history.change(() => ctx.app.auth.deleteUser(input, ctx.user));
    return { ok: true };
  }),
});
