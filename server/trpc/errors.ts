import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/unstable-core-do-not-import';
import { ZodError } from 'zod';
import { AppError, type AppErrorCode, type FieldIssue } from '../core/errors';

/** The one place where domain error codes become transport codes. */
const CODE_MAP: Record<AppErrorCode, TRPC_ERROR_CODE_KEY> = {
  INVALID_INPUT: 'BAD_REQUEST',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  ALREADY_EXISTS: 'CONFLICT',
  UNAUTHENTICATED: 'UNAUTHORIZED',
  SESSION_EXPIRED: 'UNAUTHORIZED',
  WRONG_CREDENTIALS: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_ORIGIN: 'FORBIDDEN',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  HOST_KEY_MISMATCH: 'PRECONDITION_FAILED',
  HOST_KEY_UNKNOWN: 'PRECONDITION_FAILED',
  UNREACHABLE: 'BAD_GATEWAY',
  AUTH_FAILED: 'BAD_GATEWAY',
  COMMAND_FAILED: 'BAD_GATEWAY',
  TIMEOUT: 'GATEWAY_TIMEOUT',
  CANCELLED: 'CLIENT_CLOSED_REQUEST',
  UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  INTERNAL: 'INTERNAL_SERVER_ERROR',
};

interface IssueLike {
  path?: readonly (PropertyKey | { key: PropertyKey })[];
  message: string;
}

export function issuesToFields(issues: readonly IssueLike[]): FieldIssue[] {
  return issues.map((i) => ({
    field:
      (i.path ?? []).map((p) => (typeof p === 'object' ? String(p.key) : String(p))).join('.') || 'input',
    message: i.message,
  }));
}

/** Turns anything thrown below the routers into an AppError. */
export function toAppError(e: unknown): AppError {
  if (e instanceof AppError) return e;
  if (
    e instanceof ZodError ||
    (e instanceof Error && e.name === 'ZodError' && Array.isArray((e as ZodError).issues))
  ) {
    const z = e as ZodError;
    const fields = issuesToFields(z.issues);
    return new AppError('INVALID_INPUT', fields.map((f) => `${f.field}: ${f.message}`).join('; '), {
      fields,
    });
  }
  if (e instanceof TRPCError) {
    const issues = (e.cause as { issues?: IssueLike[] } | undefined)?.issues;
    if (e.code === 'BAD_REQUEST' && Array.isArray(issues)) {
      const fields = issuesToFields(issues);
      return new AppError('INVALID_INPUT', fields.map((f) => `${f.field}: ${f.message}`).join('; '), {
        fields,
      });
    }
    // What the procedure threw (an AppError, a ZodError), wrapped by tRPC.
    if (e.cause instanceof AppError) return e.cause;
    if (e.cause !== undefined && e.cause !== e) {
      const inner = toAppError(e.cause);
      if (inner.code !== 'INTERNAL') return inner;
    }
    // tRPC could not read the request's input (not JSON, not superjson, a forbidden key): the
    // client's fault, whatever was thrown while reading it.
    if (e.code === 'BAD_REQUEST' || e.code === 'PARSE_ERROR') {
      return new AppError('INVALID_INPUT', `the input could not be read: ${e.message}`, { cause: e });
    }
  }
  return new AppError('INTERNAL', 'internal error; see the server log', { cause: e });
}

export function toTRPCError(e: AppError): TRPCError {
  return new TRPCError({ code: CODE_MAP[e.code], message: e.message, cause: e });
}

/**
 * The same domain codes as HTTP statuses, for the public REST API (/api/v1). An invalid input is
 * 422 when it names its fields and 400 when the request could not be read at all.
 */
const HTTP_STATUS: Record<AppErrorCode, number> = {
  INVALID_INPUT: 422,
  NOT_FOUND: 404,
  CONFLICT: 409,
  ALREADY_EXISTS: 409,
  UNAUTHENTICATED: 401,
  SESSION_EXPIRED: 401,
  WRONG_CREDENTIALS: 401,
  FORBIDDEN: 403,
  BAD_ORIGIN: 403,
  RATE_LIMITED: 429,
  PRECONDITION_FAILED: 409,
  HOST_KEY_MISMATCH: 409,
  HOST_KEY_UNKNOWN: 409,
  UNREACHABLE: 503,
  AUTH_FAILED: 503,
  COMMAND_FAILED: 502,
  TIMEOUT: 504,
  CANCELLED: 409,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export function httpStatusOf(e: AppError): number {
  if (e.code === 'INVALID_INPUT' && !e.fields?.length) return 400;
  return HTTP_STATUS[e.code];
}

/** The public API's one error body: `{ error: { code, message, fields } }`. */
export function restErrorBody(e: AppError): {
  error: { code: AppErrorCode; message: string; fields: FieldIssue[] };
} {
  return { error: { code: e.code, message: e.message, fields: e.fields ?? [] } };
}
