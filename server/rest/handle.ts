import { z } from 'zod';
import type { App } from '../app';
import { bearerToken } from '../domain/api-tokens';
import { AppError, errorMessage } from '../core/errors';
import { clientAddress, clientKey, webConfig } from '../domain/web-access';
import { httpStatusOf, issuesToFields, restErrorBody, toAppError } from '../trpc/errors';
import type { Context } from '../trpc/init';
import { MAX_BODY_BYTES } from '../trpc/limits';
import { createCaller } from '../trpc/root';
import type { Method, RouteDef, Started } from './define';
import { OUTPUT_LINES, taskObject } from './task-object';

export const API_BASE = '/api/v1';
/** `?wait=N` waits at most this many seconds for a task. */
export const MAX_WAIT_S = 300;

interface Compiled {
  def: RouteDef;
  re: RegExp;
  names: string[];
}

function compile(def: RouteDef): Compiled {
  const names: string[] = [];
  const src = def.path.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\{(\w+)\}/g, (_, n: string) => {
    names.push(n);
    return '([^/]+)';
  });
  return { def, re: new RegExp(`^${src}/?$`), names };
}

const json = (body: unknown, status: number, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });

function errorResponse(e: AppError, headers: Record<string, string> = {}): Response {
  const retry = e.details?.retryAfterSeconds;
  return json(
    restErrorBody(e),
    httpStatusOf(e),
    typeof retry === 'number' ? { 'retry-after': String(retry), ...headers } : headers,
  );
}

function parse<T>(schema: z.ZodType<T> | undefined, value: unknown, where: string): T {
  if (!schema) return undefined as T;
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const fields = issuesToFields(r.error.issues).map((f) => ({
    ...f,
    field: f.field === 'input' ? where : where === 'body' ? f.field : `${where}.${f.field}`,
  }));
  throw new AppError('INVALID_INPUT', fields.map((f) => `${f.field}: ${f.message}`).join('; '), { fields });
}

async function readBody(req: Request): Promise<unknown> {
  if (req.method === 'GET' || !req.body) return undefined;
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (declared > MAX_BODY_BYTES)
    throw new AppError('INVALID_INPUT', `the request body is too large: at most ${MAX_BODY_BYTES} bytes`);
  const text = await req.text();
  if (text.length > MAX_BODY_BYTES)
    throw new AppError('INVALID_INPUT', `the request body is too large: at most ${MAX_BODY_BYTES} bytes`);
  if (!text.trim()) return undefined;
  const type = req.headers.get('content-type') ?? '';
  if (type && !/^application\/(.+\+)?json\b/i.test(type) && !/^\*\/\*/.test(type))
    throw new AppError(
      'INVALID_INPUT',
      `send the body as JSON (Content-Type: application/json), not ${type.split(';')[0]}`,
    );
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new AppError('INVALID_INPUT', `the body is not JSON: ${errorMessage(e)}`);
  }
}

/** The query string as an object: a key given once is a string, given twice an array. */
function queryObject(url: URL): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of url.searchParams) {
    if (k === 'wait') continue;
    const had = out[k];
    out[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
  }
  return out;
}

const waitSchema = z.coerce
  .number()
  .int('whole seconds')
  .min(0, `0–${MAX_WAIT_S} seconds`)
  .max(MAX_WAIT_S, `0–${MAX_WAIT_S} seconds`);

/** Waits until the task ends or `seconds` pass (the request's own time, not the app's clock). */
async function waitFor(app: App, taskId: number, seconds: number, signal: AbortSignal): Promise<void> {
  if (seconds <= 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    app.tasks.wait(taskId).catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, seconds * 1000);
      signal.addEventListener('abort', () => resolve(), { once: true });
    }),
  ]);
  clearTimeout(timer);
}

/** An error whose fields are named as the domain names them, renamed as the route names them (`sleepTimeSec` → `sleep_time`). */
function renameFields(e: AppError, names: Record<string, string>): AppError {
  if (!e.fields.length) return e;
  const rename = (f: string) => {
    const [head, ...rest] = f.split('.');
    return [names[head!] ?? head, ...rest].join('.');
  };
  let message = e.message;
  for (const f of e.fields) message = message.split(`${f.field}: `).join(`${rename(f.field)}: `);
  return new AppError(e.code, message, {
    fields: e.fields.map((f) => ({ ...f, field: rename(f.field) })),
    details: e.details,
    cause: e,
  });
}

/** The Task object of a task (404 when there is none). */
export function taskAnswer(app: App, id: number) {
  const t = app.tasks.get(id);
  if (!t) throw new AppError('NOT_FOUND', `task #${id} does not exist`);
  return taskObject(t, app.tasks.lastLogs(id, OUTPUT_LINES), app.clock.now());
}

/** The route a request names, with its path parameters, or the answer refusing it (404, 405). */
function findRoute(
  compiled: readonly Compiled[],
  method: Method,
  rel: string,
): { match: Compiled; params: Record<string, string> } | { error: Response } {
  const allowed = new Set<string>();
  for (const c of compiled) {
    const m = c.re.exec(rel);
    if (!m) continue;
    if (c.def.method !== method) {
      allowed.add(c.def.method);
      continue;
    }
    try {
      return {
        match: c,
        params: Object.fromEntries(c.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)])),
      };
    } catch {
      return {
        error: errorResponse(new AppError('INVALID_INPUT', 'the path is not valid percent-encoding')),
      };
    }
  }
  if (allowed.size) {
    const allow = [...allowed].join(', ');
    return {
      error: json(
        restErrorBody(
          new AppError('INVALID_INPUT', `${method} is not allowed on ${API_BASE}${rel}; use ${allow}`),
        ),
        405,
        { allow },
      ),
    };
  }
  return {
    error: errorResponse(
      new AppError(
        'NOT_FOUND',
        `no such API path: ${method} ${API_BASE}${rel} (see ${API_BASE}/openapi.json)`,
      ),
    ),
  };
}

/** Which route a method and path (relative to /api/v1) name, if any (for tests' coverage of the routes). */
export function routeOf(routes: readonly RouteDef[], method: string, rel: string): RouteDef | null {
  const found = findRoute(routes.map(compile), method.toUpperCase() as Method, rel);
  return 'match' in found ? found.match.def : null;
}

/**
 * The public API's request handler: finds the route, authenticates the bearer token (tokens
 * only: a cookie is ignored), validates, runs, and answers JSON — errors in one shape,
 * `{ error: { code, message, fields } }`. Every call lands in history as the token's user, with
 * the token's name: a mutation by its procedure, anything else (reads, refusals before a
 * procedure ran) here.
 */
export function restHandler(routes: readonly RouteDef[]) {
  const compiled = routes.map(compile);
  return async function handle(app: App, req: Request): Promise<Response> {
    const url = new URL(req.url);
    const rel = url.pathname.startsWith(API_BASE) ? url.pathname.slice(API_BASE.length) || '/' : url.pathname;
    const method = req.method.toUpperCase() as Method;
    const found = findRoute(compiled, method, rel);
    if ('error' in found) return found.error;
    const { match, params } = found;
    const def = match.def;
    const client = clientKey(clientAddress(req.headers, webConfig()));

    // Tokens only: a session cookie is not a credential here, so no other site can make a browser call this API.
    const check = app.apiTokens.verifyApi(bearerToken(req.headers.get('authorization')));
    if (!check.ok) {
      const challenge = req.headers.get('authorization')
        ? `Bearer realm="tandem", error="invalid_token", error_description="${check.reason}"`
        : 'Bearer realm="tandem"';
      try {
        if (req.headers.get('authorization')) app.auth.throttle.reserve('api token', client).fail();
      } catch (e) {
        return errorResponse(toAppError(e), { 'www-authenticate': challenge });
      }
      return errorResponse(new AppError('UNAUTHENTICATED', check.reason), { 'www-authenticate': challenge });
    }
    const user = check.user;
    const via = `api token "${check.token.name}"`;
    const api = { via, recorded: false };
    const ctx: Context = {
      app,
      user,
      sessionError: null,
      token: undefined,
      origin: null,
      host: url.host,
      secure: url.protocol === 'https:',
      clientKey: client,
      resHeaders: new Headers(),
      api,
    };
    const started = Date.now();
    const action = `api ${def.method} ${def.path}`;
    const target = Object.values(params).join('/') || def.tag;
    const record = (outcome: 'success' | 'failure', error?: string, taskId?: number) => {
      if (api.recorded) return;
      try {
        app.history.record({
          username: user.username,
          action,
          target,
          outcome,
          error,
          durationMs: Date.now() - started,
          taskId,
          via,
          params: Object.keys(params).length ? params : undefined,
        });
      } catch (e) {
        console.error(`[tandem] ${action}: could not record the call in history:`, e);
      }
    };
    try {
      const query = parse(def.query, queryObject(url), 'query');
      const wait = url.searchParams.has('wait')
        ? parse(waitSchema, url.searchParams.get('wait'), 'query.wait')
        : 0;
      const body = parse(def.body, await readBody(req), 'body');
      const p = parse(def.params, params, 'path');
      const out = await def.run({ app, caller: createCaller(ctx), user, params: p, query, body });
      if (def.task) {
        const taskId = (out as Started).taskId;
        await waitFor(app, taskId, wait, req.signal);
        const task = taskAnswer(app, taskId);
        record('success', undefined, taskId);
        return json(task, task.done ? 200 : 202, { location: `${API_BASE}/tasks/${taskId}` });
      }
      record('success');
      if (out instanceof Response) return out;
      if (out === undefined)
        return new Response(null, { status: 204, headers: { 'cache-control': 'no-store' } });
      return json(out, def.status ?? 200);
    } catch (e) {
      const err = def.fieldNames ? renameFields(toAppError(e), def.fieldNames) : toAppError(e);
      if (err.code === 'INTERNAL') console.error(`[tandem] ${action}:`, e);
      record('failure', err.message);
      return errorResponse(err);
    }
  };
}
