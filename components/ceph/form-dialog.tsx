'use client';

import { useId, type ReactNode } from 'react';
import { Button, dialogCls, useModalDialog } from '../ui';

/**
 * A modal form, mounted only while it is open (so its fields never linger hidden in the page).
 * Escape and Cancel call onClose; the values stay with the caller until it unmounts the dialog.
 */
export function FormDialog({
  title,
  children,
  submitLabel,
  busy,
  submitDisabled,
  danger,
  onSubmit,
  onClose,
  testId,
}: {
  title: string;
  children: ReactNode;
  submitLabel: string;
  busy?: boolean;
  submitDisabled?: boolean;
  danger?: boolean;
  onSubmit: () => void;
  onClose: () => void;
  testId?: string;
}) {
  const ref = useModalDialog(true);
  const titleId = useId();
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      data-testid={testId}
      onCancel={(e) => (e.preventDefault(), onClose())}
      className={dialogCls}
    >
      <form
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          if (!busy && !submitDisabled) onSubmit();
        }}
      >
        <h2 id={titleId} className="mb-3 text-lg font-semibold">
          {title}
        </h2>
        <div className="mb-4 space-y-3 text-sm">{children}</div>
        <div className="flex justify-end gap-2">
          <Button onClick={onClose}>Cancel</Button>
          <Button type="submit" variant={danger ? 'danger' : 'primary'} busy={busy} disabled={submitDisabled}>
            {submitLabel}
          </Button>
        </div>
      </form>
    </dialog>
  );
}

/** A warning inside a dialog or card. */
export function Notice({
  children,
  tone = 'warn',
  testId,
}: {
  children: ReactNode;
  tone?: 'warn' | 'info';
  testId?: string;
}) {
  return (
    <div
      role="note"
      data-testid={testId}
      className={
        tone === 'warn'
          ? 'rounded-md border border-amber-300 bg-amber-50 px-3 py-2 text-sm text-amber-900 dark:border-amber-700 dark:bg-amber-950 dark:text-amber-100'
          : 'rounded-md border border-sky-300 bg-sky-50 px-3 py-2 text-sm text-sky-900 dark:border-sky-700 dark:bg-sky-950 dark:text-sky-100'
      }
    >
      {children}
    </div>
  );
}
