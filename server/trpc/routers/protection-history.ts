import { z } from 'zod';
import { retentionSchema } from '../../domain/protection/samples';
import { adminProcedure, router, viewerProcedure } from '../init';

/** The ranges the charts offer (the time range picker). */
export const SERIES_RANGES = {
  '1h': 3_600_000,
  '6h': 6 * 3_600_000,
  '24h': 24 * 3_600_000,
  '7d': 7 * 86_400_000,
  '30d': 30 * 86_400_000,
} as const;

const epochMs = z.number().int().nonnegative().max(8.64e15);

export const protectionHistoryRouter = router({
  /** Points for one object's charts: `range` back from `to` (now by default), or `from`–`to`. */
  series: viewerProcedure
    .input(
      z.object({
        subject: z.string().trim().min(1, 'required').max(400, 'at most 400 characters'),
        range: z
          .enum(Object.keys(SERIES_RANGES) as [keyof typeof SERIES_RANGES, ...(keyof typeof SERIES_RANGES)[]])
          .optional(),
        from: epochMs.optional(),
        to: epochMs.optional(),
      }),
    )
    .query(({ ctx, input }) => {
      const to = input.to ?? ctx.app.clock.now();
      const from = input.from ?? to - SERIES_RANGES[input.range ?? '24h'];
      return ctx.app.collector.series(input.subject, { from, to });
    }),
  /** The last hour's data-loss windows of the objects on a page of the overview (sparklines). */
  trends: viewerProcedure
    .input(
      z.object({
        subjects: z.array(z.string().max(400, 'at most 400 characters')).max(200, 'at most 200 objects'),
      }),
    )
    .query(({ ctx, input }) => ctx.app.collector.samples.trends(input.subjects, 3_600_000)),
  retention: viewerProcedure.query(({ ctx }) => ctx.app.collector.samples.retention()),
  setRetention: adminProcedure
    .input(retentionSchema)
    .mutation(({ ctx, input }) =>
      ctx.app.history.change(() => ctx.app.collector.samples.setRetention(input)),
    ),
});
