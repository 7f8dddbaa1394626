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
    .query(({ ctx, input }) => ctx.app.history.page(input.filter, input.page, input.pageSize)),
  actions: viewerProcedure.query(({ ctx }) => ctx.app.history.actions()),
});
