import { z } from 'zod';
import { historyFilterSchema } from '../../domain/history';
import { router, viewerProcedure } from '../init';

export const historyRouter = router({
  list: viewerProcedure
    .input(
      z.object({
        filter: historyFilterSchema.default({}),
        page: z.number().int().min(1).default(1),
        pageSize: z.number().int().min(5).max(200).default(50),
      }),
    )
    .query(({ ctx, input }) => {
      const { rows, total } = ctx.app.history.list(input.filter, {
        limit: input.pageSize,
        offset: (input.page - 1) * input.pageSize,
      });
      return { rows, total, page: input.page, pageSize: input.pageSize };
    }),
  actions: viewerProcedure.query(({ ctx }) => ctx.app.history.actions()),
});
