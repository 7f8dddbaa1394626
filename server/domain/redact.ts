const SECRET_KEY = /(pass(word|phrase)?|secret|token|private.?key|keyring|^key$|credential|cookie)/i;
export const REDACTED = '[redacted]';

/** Deep copy with secret-looking fields replaced, for history and logs. */
export function redact<T>(value: T, depth = 0): T {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1)) as T;
  // fromEntries, not assignment: a key named __proto__ stays a key.
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, SECRET_KEY.test(k) && v !== undefined && v !== null && v !== '' ? REDACTED : redact(v, depth + 1)]),
  ) as T;
}
