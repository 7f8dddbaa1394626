'use client';

import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { useToast } from '@/components/toast';
import { fieldErrors, useTRPC, invalidateAfterChange } from '@/components/trpc';
import { Button, Select, TextInput, dialogCls, useModalDialog } from '@/components/ui';
import { ruleLabel } from './common';
import { FormError } from '../form';

const DURATIONS: [number, string][] = [
  [60, '1 hour'],
  [240, '4 hours'],
  [1440, '1 day'],
  [10_080, '1 week'],
  [0, 'Custom…'],
];

export interface SilenceTarget {
  key: string;
  rule: string;
  summary: string;
}

/** Silences one alert (its key) or every alert of its rule for a while, with a reason. */
export function SilenceDialog({ target, onClose }: { target: SilenceTarget | null; onClose: () => void }) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const [scope, setScope] = useState<'key' | 'rule'>('key');
  const [minutes, setMinutes] = useState(60);
  const [custom, setCustom] = useState('120');
  const [reason, setReason] = useState('');
  const silence = useMutation(
    trpc.alerts.silence.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (s) => {
        toast.success(`Silenced ${s.matcher} until ${new Date(s.until).toLocaleString()}`);
        void invalidateAfterChange(qc, { queryKey: trpc.alerts.pathKey() });
        onClose();
      },
    }),
  );
  const ref = useModalDialog(!!target, () => {
    setScope('key');
    setMinutes(60);
    setReason('');
    silence.reset();
  });
  const fe = fieldErrors(silence.error);
  const duration = minutes === 0 ? Number(custom) : minutes;
  return (
    <dialog
      ref={ref}
      onCancel={(e) => (e.preventDefault(), onClose())}
      className={dialogCls}
      aria-labelledby="silence-title"
    >
      {target && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            silence.mutate({
              matcher: scope === 'key' ? target.key : `${target.rule}:*`,
              minutes: duration,
              reason: reason.trim() || null,
            });
          }}
          className="space-y-3"
        >
          <h2 id="silence-title" className="text-lg font-semibold">
            Silence alerts
          </h2>
          <p className="text-sm text-zinc-600 dark:text-zinc-300">
            Silenced alerts are still recorded and shown here, but no webhook or e-mail is sent for them until
            the silence ends.
          </p>
          <Select
            label="What to silence"
            value={scope}
            onChange={(e) => setScope(e.target.value as 'key' | 'rule')}
            error={fe.matcher}
          >
            <option value="key">This alert ({target.key})</option>
            <option value="rule">Every alert of this rule ({ruleLabel(target.rule)})</option>
          </Select>
          <Select label="For" value={minutes} onChange={(e) => setMinutes(Number(e.target.value))}>
            {DURATIONS.map(([m, label]) => (
              <option key={m} value={m}>
                {label}
              </option>
            ))}
          </Select>
          {minutes === 0 && (
            <TextInput
              label="Minutes"
              type="number"
              min={1}
              max={43_200}
              value={custom}
              onChange={(e) => setCustom(e.target.value)}
              error={fe.minutes}
              required
            />
          )}
          <TextInput
            label="Reason"
            value={reason}
            onChange={(e) => setReason(e.target.value)}
            maxLength={500}
            placeholder="e.g. node2 in maintenance"
            error={fe.reason}
          />
          <FormError error={silence.error} fields={fe} className="" />
          <div className="flex justify-end gap-2">
            <Button onClick={onClose}>Cancel</Button>
            <Button type="submit" variant="primary" busy={silence.isPending}>
              Silence
            </Button>
          </div>
        </form>
      )}
    </dialog>
  );
}
