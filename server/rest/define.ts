import type { z } from 'zod';
import type { App } from '../app';
import type { SessionUser } from '../domain/auth';
import type { createCaller } from '../trpc/root';

/**
 * One route of the public REST API (/api/v1). A route validates its path parameters, query and
 * body with zod (the same schemas give the OpenAPI document), then calls the tRPC procedure that
 * does the job through a server-side caller, so that roles, validation, history and every rule stay
 * where they are; reads that have no procedure of their own call one domain function.
 */
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface RestCall<P, Q, B> {
  app: App;
  /** The tRPC procedures, called as the token's user (roles and history apply). */
  caller: ReturnType<typeof createCaller>;
  user: SessionUser;
  params: P;
  query: Q;
  body: B;
}

/** What a long operation answers: the task it started (answered as a Task object, 202). */
export interface Started {
  taskId: number;
}

export interface RouteDef<P = unknown, Q = unknown, B = unknown, R = unknown> {
  method: Method;
  /** Relative to /api/v1, with `{name}` parameters: `/vm/{vm}/replica/{repname}`. */
  path: string;
  /** A stable name for the OpenAPI document and history (`vm.replica.update`). */
  id: string;
  tag: string;
  summary: string;
  description?: string;
  params?: z.ZodType<P>;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  /** The answer's schema (for the document; the answer is not parsed again). Omitted for tasks. */
  response?: z.ZodType<R>;
  /** A long operation: `run` returns the task it started, answered as a Task object (202, or 200 once done with `?wait=`). */
  task?: boolean;
  /** The domain's field names → this route's, for field errors (Danube's `sleep_time` for `sleepTimeSec`). */
  fieldNames?: Record<string, string>;
  /** 201 for a creation; 200 otherwise. */
  status?: 200 | 201;
  run(c: RestCall<P, Q, B>): Promise<R | Started | Response> | R | Started | Response;
}

/** Keeps a route's types together (its params, query and body typed from its schemas). */
export function route<P = undefined, Q = undefined, B = undefined, R = unknown>(
  def: RouteDef<P, Q, B, R>,
): RouteDef {
  return def as unknown as RouteDef;
}
