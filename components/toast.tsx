'use client';

import type { ReactNode } from 'react';
import { Toaster, toast } from 'sonner';

/**
 * The console's toasts (sonner). `notify` works outside React too (the query client's one
 * mutation error handler uses it). An error is also an ARIA alert, so that a screen reader says it
 * at once; the others are announced politely by the toaster's live region.
 */
export const notify = {
  success: (text: string) => void toast.success(text, { duration: 5_000 }),
  info: (text: string) => void toast.info(text, { duration: 5_000 }),
  error: (text: string) => void toast.error(<span role="alert">{text}</span>, { duration: 9_000 }),
};

export function useToast() {
  return notify;
}

export function ToastProvider({ children }: { children: ReactNode }) {
  return (
    <>
      {children}
      {/* The console's own colours (white on a dark tone, as readable in light and dark mode). */}
      <Toaster
        position="bottom-right"
        visibleToasts={5}
        toastOptions={{
          unstyled: true,
          classNames: {
            toast: 'flex w-full items-center gap-2 rounded-md px-4 py-3 text-sm shadow-lg',
            success: 'bg-emerald-700 text-white',
            error: 'bg-red-700 text-white',
            info: 'bg-zinc-800 text-white',
          },
        }}
      />
    </>
  );
}
