import { z } from 'zod';
import { historyFilterSchema } from '../../domain/history';
import { csvResponse } from '../../http/csv';
import { route, type RouteDef } from '../define';

/** Sites, history (with its CSV export) and the protection overview. */

const time = z
  .string()
  .max(40)
  .transform((v, ctx) => {
    const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
    if (!Number.isFinite(n)) {
      ctx.addIssue({ code: 'custom', message: 'an ISO 8601 date-time or epoch milliseconds' });
      return z.NEVER;
    }
    return n;
  })
  .optional();

const historyQuery = z.object({
  target: z.string().optional(),
  action: z.string().optional(),
  username: z.string().optional(),
  outcome: z.string().optional(),
  from: time.describe('ISO 8601 date-time or epoch milliseconds.'),
  to: time.describe('ISO 8601 date-time or epoch milliseconds.'),
});

const historyRow = z.object({
  id: z.number().int(),
  at: z.string(),
  username: z.string(),
  via: z.string().nullable().describe('`api token "<name>"` for a call of this API.'),
  action: z.string(),
  target: z.string(),
  outcome: z.enum(['success', 'failure', 'cancelled', 'started']),
  error: z.string().nullable(),
  durationMs: z.number().int().nullable(),
  taskId: z.number().int().nullable(),
  params: z.record(z.string(), z.unknown()).nullable(),
});

const siteSchema = z
  .object({
    id: z.number().int(),
    name: z.string(),
    kind: z.enum(['node', 'ceph']),
    demo: z.boolean(),
    config: z.record(z.string(), z.unknown()).describe('Where and how the site is reached (never a secret).'),
    hasPrivateKey: z.boolean(),
    hasKeyring: z.boolean(),
    secretError: z.string().nullable(),
    createdAt: z.string(),
  })
  .meta({ id: 'Site' });

export const generalRoutes: RouteDef[] = [
  route({
    method: 'GET',
    path: '/sites',
    id: 'sites.list',
    tag: 'Sites',
    summary: 'Nodes and Ceph clusters',
    response: z.array(siteSchema),
    run: async ({ caller }) =>
      (await caller.sites.list()).map((s) => ({ ...s, createdAt: s.createdAt.toISOString() })),
  }),
  route({
    method: 'GET',
    path: '/history',
    id: 'history.list',
    tag: 'History',
    summary: 'Who did what, and how it ended',
    description: 'Newest first, filtered as on the History page; `page` and `pageSize` page through it.',
    query: historyQuery.extend({
      page: z.coerce.number().int().min(1).default(1),
      pageSize: z.coerce.number().int().min(5, '5–200').max(200, '5–200').default(50),
    }),
    response: z.object({
      rows: z.array(historyRow),
      total: z.number().int(),
      page: z.number().int(),
      pageSize: z.number().int(),
    }),
    run: async ({ caller, query }) => {
      const { page, pageSize, ...filter } = query;
      const r = await caller.history.list({ filter: historyFilterSchema.parse(filter), page, pageSize });
      return { ...r, rows: r.rows.map((x) => ({ ...x, at: x.at.toISOString() })) };
    },
  }),
  route({
    method: 'GET',
    path: '/history/export',
    id: 'history.export',
    tag: 'History',
    summary: 'History as CSV',
    description: 'The same filters as the list; `text/csv`, streamed.',
    query: historyQuery,
    run: ({ app, query }) =>
      csvResponse(app.history.csv(historyFilterSchema.parse(query)), 'tandem-history.csv'),
  }),
  route({
    method: 'GET',
    path: '/protection',
    id: 'protection.list',
    tag: 'Protection',
    summary: 'Every protected object with its recovery point, window and RPO health',
    query: z.object({
      kind: z.enum(['vm-replica', 'rbd-image', 'vm']).optional(),
      health: z.enum(['ok', 'warning', 'breach', 'unknown', 'unprotected']).optional(),
      q: z.string().max(200).optional(),
      offset: z.coerce.number().int().min(0).optional(),
      limit: z.coerce.number().int().min(1, '1–500').max(500, '1–500').optional(),
    }),
    run: ({ caller, query }) => caller.protection.list(query),
  }),
];
