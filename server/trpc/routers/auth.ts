import { z } from 'zod';
import { passwordSchema, usernameSchema } from '../../domain/auth';
import { secret } from '../../domain/redact';
import { sessionCookie } from '../../domain/web-access';
import { publicProcedure, router, viewerProcedure, type Context } from '../init';

function setSessionCookie(ctx: Context, token: string, maxAgeSec: number) {
  const { name, alwaysSecure } = sessionCookie();
  ctx.resHeaders.append(
    'Set-Cookie',
    `${name}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSec}${alwaysSecure || ctx.secure ? '; Secure' : ''}`,
  );
}

export const authRouter = router({
  status: publicProcedure.query(({ ctx }) => ({
    setupNeeded: ctx.app.auth.userCount() === 0,
    user: ctx.user,
    sessionExpired: ctx.sessionError?.code === 'SESSION_EXPIRED',
  })),
  setup: publicProcedure
    .input(
      z.object({
        username: usernameSchema,
        password: secret(passwordSchema),
        setupCode: secret(z.string().trim().min(1, 'the setup code from the server log').max(64)),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const s = await ctx.app.auth.setup(input, ctx.clientKey);
      setSessionCookie(ctx, s.token, Math.floor((s.expiresAt.getTime() - ctx.app.clock.now()) / 1000));
      return s.user;
    }),
  login: publicProcedure
    .input(
      z.object({
        username: z.string().trim().min(1, 'required').max(64),
        password: secret(z.string().min(1, 'required').max(256)),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const s = await ctx.app.auth.login(input.username, input.password, ctx.clientKey);
      setSessionCookie(ctx, s.token, Math.floor((s.expiresAt.getTime() - ctx.app.clock.now()) / 1000));
      return s.user;
    }),
  logout: viewerProcedure.mutation(({ ctx }) => {
    ctx.app.history.change(() => ctx.app.auth.logout(ctx.token));
    setSessionCookie(ctx, '', 0);
    return { ok: true };
  }),
  changePassword: viewerProcedure
    .input(
      z.object({
        current: secret(z.string().min(1, 'required').max(256, 'at most 256 characters')),
        next: secret(passwordSchema),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      const s = await ctx.app.auth.changePassword(ctx.user, input.current, input.next, ctx.clientKey);
      setSessionCookie(ctx, s.token, Math.floor((s.expiresAt.getTime() - ctx.app.clock.now()) / 1000));
      return { ok: true };
    }),
});
