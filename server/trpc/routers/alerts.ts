import { z } from 'zod';
import { ALERT_RULES } from '../../domain/alerts/rules';
import { secret } from '../../domain/redact';
import { adminProcedure, operatorProcedure, router, viewerProcedure } from '../init';

const id = z.number().int().positive();
const channelName = z.string().trim().min(1, 'give the channel a name').max(80);
const webhookUrl = z.string().trim().min(1, 'give the URL the alerts are POSTed to').max(2000);
const recipients = z
  .array(z.string().trim().email('an e-mail address').max(254))
  .min(1, 'give at least one recipient')
  .max(50);

export const alertsRouter = router({
  list: viewerProcedure
    .input(
      z.object({
        state: z.enum(['firing', 'resolved']).optional(),
        rule: z.enum(ALERT_RULES).optional(),
        page: z.number().int().min(1).max(100_000).default(1),
        pageSize: z.number().int().min(5).max(200).default(50),
      }),
    )
    .query(({ ctx, input }) => {
      const { rows, total } = ctx.app.alerts.list({
        state: input.state,
        rule: input.rule,
        limit: input.pageSize,
        offset: (input.page - 1) * input.pageSize,
      });
      return { rows, total, page: input.page, pageSize: input.pageSize };
    }),
  counts: viewerProcedure.query(({ ctx }) => ctx.app.alerts.counts()),
  ack: operatorProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.alerts.ack(input, ctx.user))),
  silences: viewerProcedure.query(({ ctx }) => ctx.app.alerts.activeSilences()),
  silence: operatorProcedure
    .input(
      z.object({
        matcher: z.string().trim().min(1, 'give an alert key or a prefix ending in *').max(300),
        minutes: z
          .number()
          .int()
          .min(1, 'at least a minute')
          .max(30 * 24 * 60, 'at most 30 days'),
        reason: z.string().trim().max(500).nullable().default(null),
      }),
    )
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.alerts.silence(input, ctx.user))),
  unsilence: operatorProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.alerts.unsilence(input.id))),
  deliveries: viewerProcedure
    .input(z.object({ alertId: id }))
    .query(({ ctx, input }) => ctx.app.alerts.delivery.deliveries(input.alertId)),

  settings: viewerProcedure.query(({ ctx }) => ctx.app.alerts.settings()),
  setSettings: adminProcedure
    .input(
      z.object({
        syncFailures: z.number().int().min(1).max(100).optional(),
        nodeUnreachableSec: z.number().int().min(30).max(86_400).optional(),
        repeatSec: z
          .number()
          .int()
          .min(0)
          .max(7 * 86_400)
          .optional(),
      }),
    )
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.alerts.setSettings(input))),

  channels: adminProcedure.query(({ ctx }) => ctx.app.alerts.delivery.channels()),
  createChannel: adminProcedure
    .input(
      z.discriminatedUnion('kind', [
        z.object({ kind: z.literal('webhook'), name: channelName, url: webhookUrl }),
        z.object({ kind: z.literal('email'), name: channelName, to: recipients }),
      ]),
    )
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.alerts.delivery.createChannel(input))),
  updateChannel: adminProcedure
    .input(
      z.object({
        id,
        name: channelName.optional(),
        url: webhookUrl.optional(),
        to: recipients.optional(),
        enabled: z.boolean().optional(),
      }),
    )
    .mutation(({ ctx, input }) =>
      ctx.app.history.change(() => ctx.app.alerts.delivery.updateChannel(input.id, input)),
    ),
  rotateChannelSecret: adminProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) =>
      ctx.app.history.change(() => ctx.app.alerts.delivery.rotateChannelSecret(input.id)),
    ),
  removeChannel: adminProcedure.input(z.object({ id })).mutation(({ ctx, input }) => {
    ctx.app.history.change(() => ctx.app.alerts.delivery.removeChannel(input.id));
    return { ok: true };
  }),
  sendTest: adminProcedure
    .input(z.object({ id }))
    .mutation(({ ctx, input }) => ctx.app.alerts.delivery.sendTest(input.id)),

  smtp: adminProcedure.query(({ ctx }) => ctx.app.alerts.delivery.smtp()),
  setSmtp: adminProcedure
    .input(
      z.object({
        host: z.string().trim().min(1, 'give the SMTP server').max(253),
        port: z.number().int().min(1).max(65_535),
        security: z.enum(['tls', 'starttls', 'none']),
        user: z.string().trim().max(200).nullable().default(null),
        password: secret(z.string().max(500).optional()),
        from: z.string().trim().min(3, 'the sender address').max(254),
      }),
    )
    .mutation(({ ctx, input }) => ctx.app.history.change(() => ctx.app.alerts.delivery.setSmtp(input))),
});
