import type { FieldErrors, FieldValues } from 'react-hook-form';
import type { z } from 'zod';

/**
 * A react-hook-form's findings by field path (`diskZpools.vda`), keyed as the server's field errors
 * are (`fieldErrors` in components/trpc.tsx), so that a form shows both the same way.
 */
export function formErrors<T extends FieldValues>(errors: FieldErrors<T>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== 'object') return;
    const message = (node as { message?: unknown }).message;
    if (typeof message === 'string') out[path] = message;
    for (const [k, v] of Object.entries(node))
      if (k !== 'message' && k !== 'ref' && k !== 'type') walk(v, path ? `${path}.${k}` : k);
  };
  walk(errors, '');
  return out;
}

/** A schema's findings by field path (`items.0.readiness.tcp.port`), keyed as the server's are. */
export function issueErrors(error: z.ZodError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const i of error.issues) out[i.path.join('.')] ??= i.message;
  return out;
}
