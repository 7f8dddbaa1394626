'use client';

import { useQueryClient, type QueryKey } from '@tanstack/react-query';
import { useToast } from '@/components/toast';
import { errorText, invalidateAfterChange } from '@/components/trpc';
import { ErrorBox } from '@/components/ui';
import type { FieldErrors, FieldValues } from 'react-hook-form';

/**
 * A form's error that belongs to none of its fields: shown when the change failed and no field
 * says why (`fields`: the errors shown on the fields).
 */
export function FormError({
  error,
  fields,
  className = 'mt-2',
}: {
  error: unknown;
  fields: Record<string, string>;
  className?: string;
}) {
  if (!error || Object.keys(fields).length) return null;
  return (
    <div className={className}>
      <ErrorBox error={errorText(error)} />
    </div>
  );
}

/**
 * What a settings form does once its change is saved: says `message`, runs `then` (a reset of the
 * form), and refreshes the queries under `queryKey`.
 */
export function useSaved(message: string, queryKey: QueryKey, then?: () => void) {
  const qc = useQueryClient();
  const toast = useToast();
  return () => {
    toast.success(message);
    then?.();
    void invalidateAfterChange(qc, { queryKey });
  };
}

/**
 * A react-hook-form's findings by field path (`diskZpools.vda`), keyed as the server's field errors
 * are (`fieldErrors` in components/trpc.tsx), so that a form shows both the same way. A field
 * array's own finding (`items.root`, e.g. "at least one") is keyed by the array (`items`).
 */
export function formErrors<T extends FieldValues>(errors: FieldErrors<T>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (node: unknown, path: string) => {
    if (!node || typeof node !== 'object') return;
    const message = (node as { message?: unknown }).message;
    if (typeof message === 'string') out[path] = message;
    for (const [k, v] of Object.entries(node))
      if (k === 'root') walk(v, path);
      else if (k !== 'message' && k !== 'ref' && k !== 'type') walk(v, path ? `${path}.${k}` : k);
  };
  walk(errors, '');
  return out;
}
