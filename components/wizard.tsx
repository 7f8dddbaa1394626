'use client';

/**
 * Pieces shared by the failover wizards (a VM replica's, a Ceph pool's, namespace's or image's): what
 * they lose, and their last step — the reason, the name typed to confirm, the button that starts
 * the task, and why it did not start.
 */
import { useRouter } from 'next/navigation';
import type { ReactNode } from 'react';
import { ReasonField, reasonGiven } from './plans/run-state';
import { errorText } from './trpc';
import { Badge, Button, ErrorBox, TextInput, formatDuration } from './ui';

/** The props of a wizard's controlled field. */
export interface FieldProps<T> {
  value: T;
  onChange: (v: T) => void;
  error?: string;
}

/**
 * The options of a wizard's mutation that starts a task: the wizard shows the error itself, and the
 * task opens once it has started.
 */
export function useOpenTask() {
  const router = useRouter();
  return {
    meta: { errorToast: false },
    onSuccess: (r: { taskId: number }) => router.push(`/tasks/${r.taskId}`),
  };
}

/** A data-loss window given in seconds, or unknown. */
export const lossWindow = (sec: number | null) => (sec !== null ? formatDuration(sec * 1000) : 'unknown');

/** What a failover will do, under a badge that says whether it is planned (no data loss) or not. */
export function DataLossBox({
  planned,
  unplannedLabel,
  testId,
  children,
  ...data
}: {
  planned: boolean;
  /** The badge of a failover that is not planned: forced, unplanned. */
  unplannedLabel: string;
  testId: string;
  children: ReactNode;
} & Record<`data-${string}`, string | undefined>) {
  return (
    <div
      className="mb-3 rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700"
      data-testid={testId}
      {...data}
    >
      <p>
        <Badge tone={planned ? 'ok' : 'warn'}>{planned ? 'Planned failover' : unplannedLabel}</Badge>
      </p>
      {children}
    </div>
  );
}

/**
 * A wizard's last step: the reason (when the run report asks for one), the name typed to confirm,
 * the button (off until both are given and unless `disabled`), a `note` under it, and the error
 * of the start.
 */
export function TypedConfirm({
  word,
  label = `Type ${word} to confirm`,
  typed,
  onTyped,
  reason,
  variant = 'danger',
  disabled = false,
  busy,
  onConfirm,
  note,
  error,
  children,
}: {
  /** What has to be typed. */
  word: string;
  label?: string;
  typed: string;
  onTyped: (v: string) => void;
  reason?: FieldProps<string>;
  variant?: 'danger' | 'primary';
  disabled?: boolean;
  busy: boolean;
  onConfirm: () => void;
  note?: ReactNode;
  error: unknown;
  /** The button's label. */
  children: ReactNode;
}) {
  return (
    <>
      {reason && (
        <div className="mb-2 max-w-xl">
          <ReasonField {...reason} />
        </div>
      )}
      <div className="flex flex-wrap items-end gap-2">
        <TextInput label={label} value={typed} onChange={(e) => onTyped(e.target.value)} autoComplete="off" />
        <Button
          variant={variant}
          disabled={disabled || typed !== word || (reason !== undefined && !reasonGiven(reason.value))}
          busy={busy}
          onClick={onConfirm}
        >
          {children}
        </Button>
      </div>
      {note}
      {!!error && (
        <div className="mt-2">
          <ErrorBox error={errorText(error)} />
        </div>
      )}
    </>
  );
}
