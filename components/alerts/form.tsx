'use client';

import { useQueryClient, type QueryKey } from '@tanstack/react-query';
import { useToast } from '@/components/toast';
import { errorText, invalidateAfterChange } from '@/components/trpc';
import { ErrorBox } from '@/components/ui';

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
