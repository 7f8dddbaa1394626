'use client';

import { useRouter } from 'next/navigation';
import type { ReactNode } from 'react';
import { errorText, fieldErrors } from '@/components/trpc';
import { Button, ErrorBox } from '@/components/ui';

/**
 * Mutation options of a form that signs in (sign-in, first setup): its errors stay in the form, and
 * success opens `to`, rendered by the server for the new session. One navigation: a refresh on top
 * of it would ask the server for the page a second time and hold the sign-in until both answered.
 */
export function useSignInOptions(to: string) {
  const router = useRouter();
  return {
    meta: { errorToast: false },
    onSuccess: () => router.replace(to),
  };
}

/**
 * The card of the pages outside the console: a title, a note under it, the error of the last try
 * that no field shows, the fields, and one submit button.
 */
export function AuthForm({
  title,
  note,
  error,
  busy,
  submitLabel,
  submitDisabled,
  onSubmit,
  children,
}: {
  title: string;
  note?: ReactNode;
  /** The mutation's error: its field errors are the fields' to show, anything else shows here. */
  error: unknown;
  busy: boolean;
  submitLabel: string;
  submitDisabled?: boolean;
  onSubmit: () => void;
  children: ReactNode;
}) {
  return (
    <main className="flex min-h-screen items-center justify-center bg-zinc-50 p-4 dark:bg-zinc-950">
      <form
        className="w-full max-w-sm space-y-4 rounded-lg border border-zinc-200 bg-white p-6 shadow dark:border-zinc-700 dark:bg-zinc-900"
        onSubmit={(e) => {
          e.preventDefault();
          onSubmit();
        }}
      >
        <h1 className="text-xl font-semibold">{title}</h1>
        {note}
        {!!error && !Object.keys(fieldErrors(error)).length && <ErrorBox error={errorText(error)} />}
        {children}
        <Button
          type="submit"
          variant="primary"
          busy={busy}
          disabled={submitDisabled}
          className="w-full justify-center"
        >
          {submitLabel}
        </Button>
      </form>
    </main>
  );
}
