'use client';

import { TRPCClientError } from '@trpc/client';
import { Checkbox } from '../ui';

/** Whether a save was refused because the cadence cannot meet the RPO (and can be saved anyway). */
export function rpoRiskRefused(err: unknown): boolean {
  return (
    err instanceof TRPCClientError &&
    (err.data as { override?: string } | undefined)?.override === 'acceptRpoRisk'
  );
}

/** The "save anyway" choice shown under a sleep time or schedule that cannot meet the RPO. */
export function RpoRiskOverride({
  error,
  checked,
  onChange,
}: {
  error: unknown;
  checked: boolean;
  onChange: (v: boolean) => void;
}) {
  if (!rpoRiskRefused(error) && !checked) return null;
  return (
    <Checkbox tone="warning" checked={checked} onChange={(e) => onChange(e.target.checked)}>
      Save anyway: accept that the data-loss window will exceed the RPO
    </Checkbox>
  );
}
