/**
 * Typed domain errors. The domain throws these; server/trpc/errors.ts maps each code to a
 * transport status in one place. Messages are written for the operator.
 */
export const APP_ERROR_CODES = {
  INVALID_INPUT: 'INVALID_INPUT',
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  ALREADY_EXISTS: 'ALREADY_EXISTS',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  FORBIDDEN: 'FORBIDDEN',
  BAD_ORIGIN: 'BAD_ORIGIN',
  WRONG_CREDENTIALS: 'WRONG_CREDENTIALS',
  RATE_LIMITED: 'RATE_LIMITED',
  PRECONDITION_FAILED: 'PRECONDITION_FAILED',
  UNREACHABLE: 'UNREACHABLE',
  HOST_KEY_MISMATCH: 'HOST_KEY_MISMATCH',
  HOST_KEY_UNKNOWN: 'HOST_KEY_UNKNOWN',
  AUTH_FAILED: 'AUTH_FAILED',
  COMMAND_FAILED: 'COMMAND_FAILED',
  TIMEOUT: 'TIMEOUT',
  CANCELLED: 'CANCELLED',
  /** Tandem itself cannot take this now (it is stopping). */
  UNAVAILABLE: 'UNAVAILABLE',
  INTERNAL: 'INTERNAL',
} as const;

export type AppErrorCode = keyof typeof APP_ERROR_CODES;

export interface FieldIssue {
  field: string;
  message: string;
}

/**
 * Next.js bundles server code per entry (instrumentation, route handlers, pages), so one process
 * may hold several copies of this class. A registered symbol brands every instance so that
 * `instanceof AppError` holds across copies.
 */
const BRAND = Symbol.for('tandem.AppError');
const ROOT = Symbol('AppError root class');

export class AppError extends Error {
  readonly [BRAND] = true;
  static readonly [ROOT] = true;
  readonly code: AppErrorCode;
  readonly fields: FieldIssue[];
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: AppErrorCode,
    message: string,
    opts: { fields?: FieldIssue[]; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'AppError';
    this.code = code;
    this.fields = opts.fields ?? [];
    this.details = opts.details;
  }

  static invalid(field: string, message: string): AppError {
    return new AppError('INVALID_INPUT', `${field}: ${message}`, { fields: [{ field, message }] });
  }

  static [Symbol.hasInstance](v: unknown): boolean {
    // Subclasses (which inherit this method) keep the ordinary prototype check.
    if (!Object.prototype.hasOwnProperty.call(this, ROOT))
      return Function.prototype[Symbol.hasInstance].call(this, v);
    return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true;
  }

  static is(e: unknown, code?: AppErrorCode): e is AppError {
    return e instanceof AppError && (code === undefined || e.code === code);
  }
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
