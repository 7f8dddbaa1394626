import { initTRPC } from '@trpc/server';
import type { FetchCreateContextFnOptions } from '@trpc/server/adapters/fetch';
import superjson from 'superjson';
import { readyApp, type App } from '../app';
import { hasRole, type Role, type SessionUser } from '../domain/auth';
import { AppError, errorMessage } from '../domain/errors';
import { checkHost, checkOrigin, clientAddress, clientKey, requestHostAndProto, sessionCookie, webConfig } from '../domain/web-access';
import { toAppError, toTRPCError } from './errors';

export interface Context {
  app: App;
  user: SessionUser | null;
  sessionError: AppError | null;
  token: string | undefined;
  origin: string | null;
  host: string | null;
  secure: boolean;
  clientKey: string;
  resHeaders: Headers;
}

/** A cookie's value; a value that is not valid percent-encoding counts as no cookie. */
export function readCookie(header: string | null, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k !== name) continue;
    try {
      return decodeURIComponent(v.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** The context of an HTTP request to /api/trpc. */
export async function createContext(opts: FetchCreateContextFnOptions): Promise<Context> {
  return contextFor(await readyApp(), opts);
}

export function contextFor(app: App, { req, resHeaders, info }: Pick<FetchCreateContextFnOptions, 'req' | 'resHeaders'> & { info?: FetchCreateContextFnOptions['info'] }): Context {
  // Sign-in attempts are counted one request at a time: a batch may carry one auth.* call at most.
  const authCalls = info?.calls.filter((c) => c.path.startsWith('auth.')).length ?? 0;
  if (authCalls > 1) {
    throw toTRPCError(new AppError('INVALID_INPUT', `one sign-in call per request: this request carries ${authCalls} auth.* calls; send them one at a time`));
  }
  const cfg = webConfig();
  const { host, proto } = requestHostAndProto(req.headers, cfg);
  // proxy.ts answers 421 first; this keeps the rule should a path escape its matcher.
  const badHost = checkHost(host, cfg);
  if (badHost) throw toTRPCError(badHost);
  const token = readCookie(req.headers.get('cookie'), sessionCookie(cfg).name);
  let user: SessionUser | null = null;
  let sessionError: AppError | null = null;
  try {
    user = app.auth.sessionUser(token);
  } catch (e) {
    sessionError = toAppError(e);
  }
  const url = new URL(req.url);
  return {
    app,
    user,
    sessionError,
    token,
    origin: req.headers.get('origin'),
    host: host ?? url.host,
    secure: (proto ?? url.protocol.replace(':', '')) === 'https',
    clientKey: clientKey(clientAddress(req.headers, cfg)),
    resHeaders,
  };
}

export interface Meta {
  /** Lowest role allowed; undefined only for the sign-in procedures. */
  minRole?: Role;
  /** Whether the call is written to history (mutations are, unless false). */
  history?: boolean;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    transformer: superjson,
    errorFormatter({ shape, error }) {
      const app = toAppError(error.cause instanceof AppError ? error.cause : error);
      return {
        ...shape,
        message: app.code === 'INTERNAL' && error.code !== 'INTERNAL_SERVER_ERROR' ? error.message : app.message,
        data: { ...shape.data, appCode: app.code, fields: app.fields, stack: undefined },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Maps every error once, checks the Origin of mutations (`checkOrigin`), and records mutations in history. */
const base = t.procedure.use(async ({ ctx, type, path, next, getRawInput, meta }) => {
  if (type === 'mutation') {
    const refused = checkOrigin(ctx.origin, ctx.host);
    if (refused) throw toTRPCError(refused);
  }
  const started = Date.now();
  const result = await next();
  if (type === 'mutation' && meta?.history !== false) {
    const input = (await getRawInput().catch(() => undefined)) as Record<string, unknown> | undefined;
    const err = result.ok ? null : toAppError(result.error.cause ?? result.error);
    ctx.app.history.record({
      username: ctx.user?.username ?? (typeof input?.username === 'string' ? input.username : 'anonymous'),
      action: path,
      target: historyTarget(path, input),
      params: input && typeof input === 'object' ? input : undefined,
      outcome: result.ok ? 'success' : 'failure',
      error: err ? errorMessage(err) : null,
      durationMs: Date.now() - started,
    });
  }
  if (!result.ok) {
    const app = toAppError(result.error.cause ?? result.error);
    if (app.code === 'INTERNAL') console.error(`[tandem] ${path}:`, result.error.cause ?? result.error);
    throw toTRPCError(app);
  }
  return result;
});

function historyTarget(path: string, input: Record<string, unknown> | undefined): string {
  const area = path.split('.')[0] ?? path;
  const key = input?.target ?? input?.name ?? input?.username ?? input?.siteId ?? input?.id;
  return key === undefined ? area : `${area}:${String(key)}`;
}

/** Only the sign-in procedures use this. */
export const publicProcedure = base;

function withRole(role: Role) {
  return base.meta({ minRole: role }).use(({ ctx, next }) => {
    if (!ctx.user) throw toTRPCError(ctx.sessionError ?? new AppError('UNAUTHENTICATED', 'sign in first'));
    if (!hasRole(ctx.user.role, role)) {
      throw toTRPCError(new AppError('FORBIDDEN', `this needs the ${role} role; you are ${ctx.user.role}`));
    }
    return next({ ctx: { ...ctx, user: ctx.user } });
  });
}

export const viewerProcedure = withRole('viewer');
export const operatorProcedure = withRole('operator');
export const adminProcedure = withRole('admin');
