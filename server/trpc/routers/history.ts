import { z } from 'zod';
import { router, viewerProcedure } from '../init';

export const historyFilterSchema = z
  .object({
    target: z.string().trim().max(200).optional(),
    action: z.string().trim().max(100).optional(),
    username: z.string().trim().max(64).optional(),
    outcome: z.enum(['success', 'failure', 'cancelled', 'started']).optional(),
    from: z.number().int().nonnegative().optional(),
    to: z.number().int().nonnegative().optional(),
  })
  .refine((f) => f.from === undefined || f.to === undefined || f.from <= f.to, { message: '"from" must be before "to"', path: ['from'] });

export const historyRouter = router({
  list: viewerProcedure
    .input(z.object({ filter: historyFilterSchema.default({}), page: z.number().int().min(1).default(1), pageSize: z.number().int().min(5).max(200).default(50) }))
    .query(({ ctx, input }) => {
      const { rows, total } = ctx.app.history.list(input.filter, { limit: input.pageSize, offset: (input.page - 1) * input.pageSize });
      return { rows, total, page: input.page, pageSize: input.pageSize };
    }),
  actions: viewerProcedure.query(({ ctx }) => ctx.app.history.actions()),
});
