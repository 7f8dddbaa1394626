import { z } from 'zod';
import { API_BASE } from './handle';
import type { RouteDef } from './define';
import { taskObjectSchema } from './task-object';

/**
 * The OpenAPI 3.1 document of /api/v1, made from the routes' own zod schemas (JSON Schema 2020-12,
 * which OpenAPI 3.1 uses as is): what the document says is what the handler validates.
 */
type Json = Record<string, unknown>;

const errorSchema = z
  .object({
    error: z.object({
      code: z
        .string()
        .describe(
          'INVALID_INPUT, NOT_FOUND, CONFLICT, ALREADY_EXISTS, UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, PRECONDITION_FAILED, UNREACHABLE, COMMAND_FAILED, TIMEOUT, …',
        ),
      message: z.string(),
      fields: z
        .array(z.object({ field: z.string(), message: z.string() }))
        .describe('The fields at fault, by their names in the request.'),
    }),
  })
  .meta({ id: 'Error' });

/** Converts a schema; the schemas it names (`.meta({ id })`) go to `components`. */
function convert(schema: z.ZodType, io: 'input' | 'output', components: Record<string, Json>): Json {
  const out = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  delete out.$schema;
  const defs = (out.$defs ?? {}) as Record<string, Json>;
  delete out.$defs;
  const fix = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(fix);
    if (v && typeof v === 'object') {
      const o: Json = {};
      for (const [k, x] of Object.entries(v))
        o[k] =
          k === '$ref' && typeof x === 'string' ? x.replace('#/$defs/', '#/components/schemas/') : fix(x);
      return o;
    }
    return v;
  };
  for (const [k, d] of Object.entries(defs)) components[k] = fix(d) as Json;
  const id = (schema.meta() as { id?: string } | undefined)?.id;
  if (id) {
    components[id] = fix(out) as Json;
    return { $ref: `#/components/schemas/${id}` };
  }
  return fix(out) as Json;
}

function parameters(
  where: 'path' | 'query',
  schema: z.ZodType | undefined,
  components: Record<string, Json>,
): Json[] {
  if (!schema) return [];
  const obj = convert(schema, 'input', components) as {
    properties?: Record<string, Json>;
    required?: string[];
  };
  return Object.entries(obj.properties ?? {}).map(([name, s]) => {
    const { description, ...rest } = s as Json;
    return {
      name,
      in: where,
      required: where === 'path' || !!obj.required?.includes(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

const json = (schema: Json) => ({ 'application/json': { schema } });

export function openApiDocument(routes: readonly RouteDef[], version: string): Json {
  const components: Record<string, Json> = {};
  const taskRef = convert(taskObjectSchema, 'output', components);
  const errRef = convert(errorSchema, 'output', components);
  const errors: Record<string, Json> = {
    '400': { description: 'The request could not be read (not JSON, too large).', content: json(errRef) },
    '401': {
      description: 'No token, or a token that is unknown, expired or revoked.',
      content: json(errRef),
    },
    '403': { description: "The token's role is too low.", content: json(errRef) },
    '404': { description: 'No such object.', content: json(errRef) },
    '409': {
      description: 'The object is not in a state that allows this (busy, needs another step first).',
      content: json(errRef),
    },
    '422': { description: 'Invalid input; `fields` names each field at fault.', content: json(errRef) },
    '429': { description: 'Too many failed token attempts from this address.', content: json(errRef) },
    '503': { description: 'A node or cluster that the call needs cannot be reached.', content: json(errRef) },
  };
  const paths: Record<string, Record<string, Json>> = {};
  for (const r of routes) {
    const op: Json = {
      operationId: r.id,
      tags: [r.tag],
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      parameters: [...parameters('path', r.params, components), ...parameters('query', r.query, components)],
    };
    if (r.task)
      (op.parameters as Json[]).push({
        name: 'wait',
        in: 'query',
        required: false,
        description: 'Wait up to this many seconds for the task to end before answering.',
        schema: { type: 'integer', minimum: 0, maximum: 300 },
      });
    if (r.body)
      op.requestBody = {
        required: !r.body.safeParse(undefined).success,
        content: json(convert(r.body, 'input', components)),
      };
    const ok: Record<string, Json> = r.task
      ? {
          '200': { description: 'The task, ended (with `?wait=`).', content: json(taskRef) },
          '202': {
            description: 'The task, under way; follow it at `Location` (`GET /tasks/{id}?wait=N`).',
            content: json(taskRef),
          },
        }
      : r.id === 'history.export'
        ? { '200': { description: 'CSV', content: { 'text/csv': { schema: { type: 'string' } } } } }
        : {
            [String(r.status ?? 200)]: {
              description: 'OK',
              content: json(r.response ? convert(r.response, 'output', components) : {}),
            },
          };
    op.responses = { ...ok, ...errors };
    (paths[r.path] ??= {})[r.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tandem API',
      version,
      description:
        'Disaster recovery of VM replicas (ZFS) and Ceph RBD mirroring. Send `Authorization: Bearer <token>` (a personal API token, Settings → API tokens). Long operations answer 202 with a Task; follow it with `GET /tasks/{id}?wait=N`.',
    },
    servers: [{ url: API_BASE }],
    security: [{ bearer: [] }],
    tags: [...new Set(routes.map((r) => r.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: components,
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A Tandem API token (`tdm_…`).' },
      },
    },
  };
}
