import { z } from 'zod';
import { startSiteCheck } from '../../domain/site-check';
import { secret } from '../../domain/redact';
import {
  keyringSchema,
  privateKeySchema,
  siteConfigInputSchema,
  siteNameSchema,
} from '../../core/site-config';
import { adminProcedure, operatorProcedure, router, viewerProcedure } from '../init';

const id = z.number().int().positive();
/** An optional secret: empty means "not given" (keep the stored one); otherwise it must be valid. */
function optionalSecret(schema: z.ZodType<string, string>) {
  return z
    .string()
    .max(64 * 1024, 'at most 64 KiB')
    .optional()
    .transform((s, ctx) => {
      if (!s || !s.trim()) return undefined;
      const r = schema.safeParse(s);
      if (r.success) return r.data;
      for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: i.message });
      return z.NEVER;
    });
}

const secretInput = z
  .object({
    privateKey: secret(optionalSecret(privateKeySchema)),
    keyring: secret(optionalSecret(keyringSchema)),
  })
  .optional();

export const sitesRouter = router({
  list: viewerProcedure.query(({ ctx }) => ctx.app.sites.list()),
  get: viewerProcedure.input(z.object({ id })).query(({ ctx, input }) => ctx.app.sites.get(input.id)),
  create: adminProcedure
    .input(
      z.object({
        name: siteNameSchema,
        kind: z.enum(['node', 'ceph']),
        config: siteConfigInputSchema,
        secret: secretInput,
      }),
    )
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.sites.create(input))),
  update: adminProcedure
    .input(
      z.object({
        id,
        name: siteNameSchema.optional(),
        config: siteConfigInputSchema.optional(),
        secret: secretInput,
      }),
    )
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.sites.update(input.id, input))),
  remove: adminProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.sites.remove(input.id))),
  testConnection: adminProcedure
    .meta({ history: true })
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => ctx.app.sites.testConnection(input.id)),
  hostKey: adminProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => ctx.app.sites.presentedHostKey(input.id)),
  pinHostKey: adminProcedure
    .input(
      z.object({
        id,
        fingerprint: z
          .string()
          .max(64, 'at most 64 characters')
          .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'expected SHA256:…'),
      }),
    )
    .mutation(({ ctx, input }) => ctx.app.sites.pinHostKey(input.id, input.fingerprint)),
  check: operatorProcedure.input(z.object({ id })).mutation(({ ctx, input }) => {
    const t = startSiteCheck(ctx.app.tasks, ctx.app.sites, input.id, ctx.user);
    return { taskId: t.id };
  }),
});

export const demoRouter = router({
  status: viewerProcedure.query(({ ctx }) => ({ present: ctx.app.demo.present() })),
  create: adminProcedure.mutation(({ ctx }) => ({
    created: ctx.app.history.change(() => ctx.app.demo.create()),
  })),
  remove: adminProcedure.mutation(({ ctx }) => ({
    removed: ctx.app.history.change(() => ctx.app.demo.remove()),
  })),
});
