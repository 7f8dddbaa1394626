import { z } from 'zod';
import { initTRPC } from '@trpc/server';
import type { FetchCreateContextFnOptions } from '@trpc/server/adapters/fetch';
import { transformer } from './transformer';
import { readyApp, type App } from '../app';
import { hasRole, type Role, type SessionUser } from '../domain/auth';
import { AppError, errorMessage } from '../core/errors';
import { historyValue } from '../domain/history';
import { redactInput } from '../domain/redact';
import {
  checkHost,
  checkOrigin,
  clientAddress,
  clientKey,
  requestHostAndProto,
  sessionCookie,
  webConfig,
} from '../domain/web-access';
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
  /**
   * Set for a call of the public API (/api/v1), authenticated by a bearer token and never by a
   * cookie: `via` (`api token "<name>"`) is recorded in history, and `recorded` tells the API
   * that a procedure wrote the call's row. Such a call cannot be forged by another site (a
   * browser does not attach the header), so the Origin check does not apply to it.
   */
  api?: { via: string; recorded: boolean };
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

export function contextFor(
  app: App,
  {
    req,
    resHeaders,
    info,
  }: Pick<FetchCreateContextFnOptions, 'req' | 'resHeaders'> & { info?: FetchCreateContextFnOptions['info'] },
): Context {
  // Sign-in attempts are counted one request at a time: a batch may carry one auth.* call at most.
  const authCalls = info?.calls.filter((c) => c.path.startsWith('auth.')).length ?? 0;
  if (authCalls > 1) {
    throw toTRPCError(
      new AppError(
        'INVALID_INPUT',
        `one sign-in call per request: this request carries ${authCalls} auth.* calls; send them one at a time`,
      ),
    );
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
    transformer,
    errorFormatter({ shape, error }) {
      const app = toAppError(error.cause instanceof AppError ? error.cause : error);
      return {
        ...shape,
        message:
          app.code === 'INTERNAL' && error.code !== 'INTERNAL_SERVER_ERROR' ? error.message : app.message,
        data: {
          ...shape.data,
          appCode: app.code,
          fields: app.fields,
          override: typeof app.details?.override === 'string' ? app.details.override : undefined,
          stack: undefined,
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Maps every error once and checks the Origin of mutations (`checkOrigin`). */
const base = t.procedure.use(async ({ ctx, type, path, next }) => {
  if (type === 'mutation' && !ctx.api) {
    const refused = checkOrigin(ctx.origin, ctx.host);
    if (refused) throw toTRPCError(refused);
  }
  const result = await next();
  if (!result.ok) {
    const app = toAppError(result.error);
    if (app.code === 'INTERNAL') console.error(`[tandem] ${path}:`, result.error.cause ?? result.error);
    throw toTRPCError(app);
  }
  return result;
});

/** Who a call is recorded as before it is decided (and a failed sign-in for good). */
export const ANONYMOUS = 'anonymous';

/**
 * Records a mutation in history. It runs right before the resolver, so only calls that passed the
 * Origin check, the session and role check and input validation are recorded, with the parsed
 * input (secrets marked in the schema, then secret-looking keys, redacted), as the session user.
 * The row is written before the call runs — a call that cannot be recorded changes nothing — and
 * a change (`history.change`) or task start within the call completes it in its own transaction.
 * The sign-in procedures are recorded as the account only once it signed in.
 */
function historyMiddleware(inputs: readonly unknown[]) {
  const mw = t.middleware(async ({ ctx, path, meta, input, next }) => {
    if (meta?.history === false) return next();
    const signIn = !meta?.minRole;
    let params: Record<string, unknown> | undefined;
    if (input !== undefined) {
      const kept = historyValue(redactInput(inputs, input));
      params =
        kept && typeof kept === 'object' && !Array.isArray(kept)
          ? (kept as Record<string, unknown>)
          : { input: kept };
    }
    const call = ctx.app.history.begin({
      username: ctx.user?.username ?? ANONYMOUS,
      action: path,
      target: historyTarget(path, params),
      params,
      via: ctx.api?.via,
    });
    if (ctx.api) ctx.api.recorded = true;
    const started = Date.now();
    const result = await ctx.app.history.within(call, () => next());
    const err = result.ok ? null : toAppError(result.error);
    try {
      ctx.app.history.finish(call, {
        outcome: result.ok ? 'success' : 'failure',
        error: err ? errorMessage(err) : null,
        durationMs: Date.now() - started,
        username: signIn && result.ok ? accountOf(result.data) : undefined,
      });
    } catch (e) {
      // The row was written before the call; only its end is missing.
      console.error(`[tandem] ${path}: could not complete history row #${call.id}:`, e);
    }
    return result;
  });
  // Marked, so that a test can see it sits right before every mutation's resolver.
  for (const fn of mw._middlewares) Object.assign(fn, { history: true });
  return mw;
}

function accountOf(data: unknown): string | undefined {
  const name = (data as { username?: unknown } | null)?.username;
  return typeof name === 'string' ? name : undefined;
}

function historyTarget(path: string, input: Record<string, unknown> | undefined): string {
  const area = path.split('.')[0] ?? path;
  const key = input?.target ?? input?.name ?? input?.username ?? input?.siteId ?? input?.id;
  return key === undefined || key === null || typeof key === 'object' ? area : `${area}:${String(key)}`;
}

/**
 * Procedure builders whose mutations carry the history middleware right before their resolver,
 * after whatever `.input()`, `.meta()` and `.use()` the router adds.
 */
function recorded<B extends object>(builder: B): B {
  return new Proxy(builder, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== 'function') return value;
      const b = target as unknown as {
        _def: { inputs: unknown[] };
        use(m: unknown): { mutation(r: unknown): unknown };
      };
      if (prop === 'mutation')
        return (resolver: unknown) => b.use(historyMiddleware(b._def.inputs)).mutation(resolver);
      if (prop === 'query' || prop === 'subscription') return value;
      return (...args: unknown[]) => {
        const next = (value as (...a: unknown[]) => unknown)(...args);
        return next && typeof next === 'object' && '_def' in next ? recorded(next) : next;
      };
    },
  });
}

/** Only the sign-in procedures use this. */
export const publicProcedure = recorded(base);

function withRole(role: Role) {
  return recorded(
    base.meta({ minRole: role }).use(({ ctx, next }) => {
      if (!ctx.user) throw toTRPCError(ctx.sessionError ?? new AppError('UNAUTHENTICATED', 'sign in first'));
      if (!hasRole(ctx.user.role, role)) {
        throw toTRPCError(new AppError('FORBIDDEN', `this needs the ${role} role; you are ${ctx.user.role}`));
      }
      return next({ ctx: { ...ctx, user: ctx.user } });
    }),
  );
}

/**
 * The answer of a mutation that starts a task: the task to follow. Checked on the way out, since the
 * browser's task tracker relies on it.
 */
export const startedTask = z.object({ taskId: z.number().int().positive() });

export const viewerProcedure = withRole('viewer');
export const operatorProcedure = withRole('operator');
export const adminProcedure = withRole('admin');
