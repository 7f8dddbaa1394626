'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { FormError, useSaved } from '../form';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Button, ErrorBox, TextInput } from '../ui';

type Retention = { rawHours: string; fiveMinDays: string };

/** The two settings: what each is called, its upper bound (both start at 1), and what is wrong with a bad value. */
const FIELDS = [
  {
    key: 'rawHours',
    label: 'Keep raw samples (hours)',
    max: 168,
    hint: '1 to 168; then folded into 5-minute averages',
    invalid: 'whole hours, from 1 to 168 (7 days)',
  },
  {
    key: 'fiveMinDays',
    label: 'Keep 5-minute averages (days)',
    max: 365,
    hint: '1 to 365',
    invalid: 'whole days, from 1 to 365',
  },
] as const;

/** How long collected samples are kept: raw (1 h–7 d) and 5-minute averages (1–365 d). Admins save it; others see it. */
export function RetentionForm({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const q = useQuery(trpc.protectionHistory.retention.queryOptions());
  const [form, setForm] = useState<Retention | null>(null);
  const saved = useSaved(
    'Retention saved; applies from the next collect',
    trpc.protectionHistory.retention.queryKey(),
    () => setForm(null),
  );
  const save = useMutation(
    trpc.protectionHistory.setRetention.mutationOptions({ meta: { errorToast: false }, onSuccess: saved }),
  );
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  if (!q.data) return <p className="text-sm text-zinc-500">Loading…</p>;
  const v = form ?? { rawHours: String(q.data.rawHours), fiveMinDays: String(q.data.fiveMinDays) };
  const local: Record<string, string> = {};
  for (const f of FIELDS) {
    const n = Number(v[f.key]);
    if (!/^\d+$/.test(v[f.key]) || n < 1 || n > f.max) local[f.key] = f.invalid;
  }
  const serverErrors = fieldErrors(save.error);
  const fe = { ...serverErrors, ...(form ? local : {}) };
  return (
    <form
      className="grid items-end gap-3 md:grid-cols-3"
      data-testid="retention-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (Object.keys(local).length) return setForm(v);
        save.mutate({ rawHours: Number(v.rawHours), fiveMinDays: Number(v.fiveMinDays) });
      }}
    >
      {FIELDS.map(({ key, invalid: _, ...input }) => (
        <TextInput
          key={key}
          type="number"
          min={1}
          step={1}
          {...input}
          value={v[key]}
          disabled={!canEdit}
          onChange={(e) => setForm({ ...v, [key]: e.target.value })}
          error={fe[key]}
        />
      ))}
      {canEdit && (
        <Button type="submit" variant="primary" busy={save.isPending} disabled={!form}>
          Save retention
        </Button>
      )}
      <FormError error={save.error} fields={serverErrors} className="" />
    </form>
  );
}
