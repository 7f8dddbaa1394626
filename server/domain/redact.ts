import { z } from 'zod';

const SECRET_KEY = /(pass(word|phrase)?|secret|token|private.?key|keyring|^key$|credential|cookie)/i;
export const REDACTED = '[redacted]';

/** Deep copy with secret-looking fields replaced, for history and logs. */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  // fromEntries, not assignment: a key named __proto__ stays a key.
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [
      k,
      SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redact(v, depth + 1),
    ]),
  ) as T;
}

/** Schemas of secret values (passwords, keys, keyrings, tokens), marked with `secret()`. */
export const secretFields = z.registry<{ secret: true }>();

/**
 * Marks a schema as a secret value: wherever it appears in a procedure's input, history stores
 * `[redacted]` instead of the value. Mark the schema as the field uses it (after `.max()` and
 * the like, which make new schemas; `.optional()` and `.default()` around it are fine).
 */
export function secret<T extends z.ZodType>(schema: T): T {
  secretFields.add(schema, { secret: true });
  return schema;
}

export function isSecret(schema: unknown): boolean {
  return (
    !!schema &&
    typeof schema === 'object' &&
    '_zod' in schema &&
    secretFields.get(schema as z.ZodType)?.secret === true
  );
}

interface Def {
  type: string;
  innerType?: unknown;
  in?: unknown;
  out?: unknown;
  shape?: Record<string, unknown>;
  catchall?: unknown;
  element?: unknown;
  valueType?: unknown;
  options?: unknown[];
  left?: unknown;
  right?: unknown;
  items?: unknown[];
  rest?: unknown;
  getter?: () => unknown;
}

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  !!v && typeof v === 'object' && !Array.isArray(v);

/**
 * Replaces every value whose schema is marked `secret()` with `[redacted]`, walking the schema
 * (objects, arrays, records, unions, optionals, pipes, …) alongside a value it parsed.
 */
export function redactBySchema(schema: unknown, value: unknown, depth = 0): unknown {
  if (value === undefined || value === null || depth > 32) return value;
  if (isSecret(schema)) return value === '' ? value : REDACTED;
  const def = defOf(schema);
  if (!def) return value;
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'nonoptional':
    case 'readonly':
    case 'catch':
      return redactBySchema(def.innerType, value, depth + 1);
    case 'pipe':
      return redactBySchema(def.out, redactBySchema(def.in, value, depth + 1), depth + 1);
    case 'lazy':
      return redactBySchema(def.getter?.(), value, depth + 1);
    case 'object': {
      if (!isPlainObject(value)) return value;
      const shape = def.shape ?? {};
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [
          k,
          redactBySchema(
            Object.prototype.hasOwnProperty.call(shape, k) ? shape[k] : def.catchall,
            v,
            depth + 1,
          ),
        ]),
      );
    }
    case 'array':
      return Array.isArray(value) ? value.map((v) => redactBySchema(def.element, v, depth + 1)) : value;
    case 'tuple':
      return Array.isArray(value)
        ? value.map((v, i) => redactBySchema(def.items?.[i] ?? def.rest, v, depth + 1))
        : value;
    case 'record':
      return isPlainObject(value)
        ? Object.fromEntries(
            Object.entries(value).map(([k, v]) => [k, redactBySchema(def.valueType, v, depth + 1)]),
          )
        : value;
    case 'union':
      // Whichever option parsed the value, its secret fields are redacted.
      return (def.options ?? []).reduce<unknown>((v, option) => redactBySchema(option, v, depth + 1), value);
    case 'intersection':
      return redactBySchema(def.right, redactBySchema(def.left, value, depth + 1), depth + 1);
    default:
      return value;
  }
}

/** What history keeps of a procedure's parsed input: marked secrets redacted, then secret-looking keys. */
export function redactInput(schemas: readonly unknown[], input: unknown): unknown {
  return redact(schemas.reduce<unknown>((v, s) => redactBySchema(s, v), input));
}
