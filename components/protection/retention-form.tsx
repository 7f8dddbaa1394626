'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { invalidateAfterChange } from '@/components/trpc';
import { useState } from 'react';
import { useToast } from '../toast';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Button, ErrorBox, TextInput } from '../ui';

/** How long collected samples are kept: raw (1 h–7 d) and 5-minute averages (1–365 d). Admins save it; others see it. */
export function RetentionForm({ canEdit }: { canEdit: boolean }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const q = useQuery(trpc.protectionHistory.retention.queryOptions());
  const [form, setForm] = useState<{ rawHours: string; fiveMinDays: string } | null>(null);
  const save = useMutation(
    trpc.protectionHistory.setRetention.mutationOptions({
      meta: { errorToast: false },
      onSuccess: () => {
        toast.success('Retention saved; applies from the next collect');
        setForm(null);
        void invalidateAfterChange(qc, { queryKey: trpc.protectionHistory.retention.queryKey() });
      },
    }),
  );
  if (q.error) return <ErrorBox error={errorText(q.error)} />;
  if (!q.data) return <p className="text-sm text-zinc-500">Loading…</p>;
  const v = form ?? { rawHours: String(q.data.rawHours), fiveMinDays: String(q.data.fiveMinDays) };
  const local: Record<string, string> = {};
  const raw = Number(v.rawHours);
  const five = Number(v.fiveMinDays);
  if (!/^\d+$/.test(v.rawHours) || raw < 1 || raw > 168)
    local.rawHours = 'whole hours, from 1 to 168 (7 days)';
  if (!/^\d+$/.test(v.fiveMinDays) || five < 1 || five > 365) local.fiveMinDays = 'whole days, from 1 to 365';
  const fe = { ...fieldErrors(save.error), ...(form ? local : {}) };
  return (
    <form
      className="grid items-end gap-3 md:grid-cols-3"
      data-testid="retention-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (Object.keys(local).length) return setForm(v);
        save.mutate({ rawHours: raw, fiveMinDays: five });
      }}
    >
      <TextInput
        label="Keep raw samples (hours)"
        type="number"
        min={1}
        max={168}
        step={1}
        value={v.rawHours}
        disabled={!canEdit}
        onChange={(e) => setForm({ ...v, rawHours: e.target.value })}
        error={fe.rawHours}
        hint="1 to 168; then folded into 5-minute averages"
      />
      <TextInput
        label="Keep 5-minute averages (days)"
        type="number"
        min={1}
        max={365}
        step={1}
        value={v.fiveMinDays}
        disabled={!canEdit}
        onChange={(e) => setForm({ ...v, fiveMinDays: e.target.value })}
        error={fe.fiveMinDays}
        hint="1 to 365"
      />
      {canEdit && (
        <Button type="submit" variant="primary" busy={save.isPending} disabled={!form}>
          Save retention
        </Button>
      )}
      {save.error && !Object.keys(fieldErrors(save.error)).length && (
        <ErrorBox error={errorText(save.error)} />
      )}
    </form>
  );
}
