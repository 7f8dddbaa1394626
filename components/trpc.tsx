'use client';

import {
  MutationCache,
  onlineManager,
  QueryCache,
  QueryClient,
  QueryClientProvider,
  type InvalidateQueryFilters,
} from '@tanstack/react-query';
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  retryLink,
  splitLink,
  TRPCClientError,
  type TRPCClient,
} from '@trpc/client';
import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { createTRPCContext } from '@trpc/tanstack-react-query';
import { useEffect, useState, type ReactNode } from 'react';
import superjson from 'superjson';
import { MAX_BATCH_CALLS } from '@/server/trpc/limits';
import type { AppRouter } from '@/server/trpc/root';
import { ConnectionMonitor, ConnectionProvider, connectionLink, lostContact } from './connection';
import { sharedQueryDefaults } from './query-client';
import { notify } from './toast';

declare module '@tanstack/react-query' {
  interface Register {
    /** `errorToast: false`: the mutation shows its errors itself (on a field, in a row). */
    mutationMeta: { errorToast?: boolean };
  }
}

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

/** What procedures take and return, as the browser sees them (components name server types only through these). */
export type { AppRouter };
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

function onAuthError(err: unknown) {
  if (
    err instanceof TRPCClientError &&
    err.data?.code === 'UNAUTHORIZED' &&
    typeof window !== 'undefined' &&
    window.location.pathname !== '/login'
  ) {
    const to = new URL(
      `/login?next=${encodeURIComponent(window.location.pathname)}${err.data?.appCode === 'SESSION_EXPIRED' ? '&expired=1' : ''}`,
      window.location.origin,
    );
    window.location.assign(to.href);
  }
}

function makeQueryClient() {
  return new QueryClient({
    queryCache: new QueryCache({ onError: onAuthError }),
    // The one place a failed change is told: a toast with the server's message. A mutation that
    // shows its errors where they belong (a form's fields, a table row) says `meta: { errorToast: false }`.
    mutationCache: new MutationCache({
      onError: (err, _vars, _ctx, mutation) => {
        if (mutation.meta?.errorToast !== false) notify.error(errorText(err));
      },
    }),
    defaultOptions: {
      ...sharedQueryDefaults,
      queries: {
        ...sharedQueryDefaults.queries,
        retry: (n, err) =>
          !(
            err instanceof TRPCClientError &&
            ['UNAUTHORIZED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_REQUEST'].includes(err.data?.code)
          ) && n < 2,
      },
    },
  });
}

export function TRPCReactProvider({ children }: { children: ReactNode }) {
  const [queryClient] = useState(makeQueryClient);
  const [{ trpcClient, monitor }] = useState(() => {
    // When the server answers again after a loss, everything shown is refetched.
    const monitor: ConnectionMonitor = new ConnectionMonitor(
      (signal): Promise<unknown> =>
        trpcClient.auth.status.query(undefined, { signal, context: { unbatched: true } }),
      () => void queryClient.invalidateQueries(),
    );
    const trpcClient: TRPCClient<AppRouter> = createTRPCClient<AppRouter>({
      links: [
        // A live stream whose server went away is opened again (with its last event id) until it answers.
        retryLink({
          retry: ({ op, error }) => op.type === 'subscription' && lostContact(error),
          retryDelayMs: (n) => Math.min(1_000 * n, 5_000),
        }),
        connectionLink(monitor),
        splitLink({
          condition: (op) => op.type === 'subscription',
          true: httpSubscriptionLink({ url: '/api/trpc', transformer: superjson }),
          false: splitLink({
            condition: (op) => op.context.unbatched === true,
            true: httpLink({ url: '/api/trpc', transformer: superjson }),
            // The server takes at most MAX_BATCH_CALLS calls per batch; long GET URLs are split too.
            false: httpBatchLink({
              url: '/api/trpc',
              transformer: superjson,
              maxItems: MAX_BATCH_CALLS,
              maxURLLength: 8_000,
            }),
          }),
        }),
      ],
    });
    return { trpcClient, monitor };
  });
  useEffect(() => monitor.start(), [monitor]);
  useEffect(
    () =>
      onlineManager.subscribe((online) =>
        online ? monitor.retryNow() : monitor.lost('this browser is offline'),
      ),
    [monitor],
  );
  return (
    <QueryClientProvider client={queryClient}>
      <TRPCProvider trpcClient={trpcClient} queryClient={queryClient}>
        <ConnectionProvider monitor={monitor}>{children}</ConnectionProvider>
      </TRPCProvider>
    </QueryClientProvider>
  );
}

/**
 * Marks queries stale after a change and refetches the active ones. A query still loading its
 * first answer is cancelled first: TanStack Query would otherwise hand the refetch the request
 * already in flight, whose answer may predate the change (a site registered while the page's
 * first batch was on its way did not show up).
 */
export async function invalidateAfterChange(
  qc: QueryClient,
  filters?: InvalidateQueryFilters,
): Promise<void> {
  await qc.cancelQueries(filters);
  await qc.invalidateQueries(filters);
}

/** A readable message from any error the client sees, including per-field validation. */
export function errorText(err: unknown): string {
  if (err instanceof TRPCClientError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export function fieldErrors(err: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (err instanceof TRPCClientError) {
    for (const f of (err.data?.fields ?? []) as { field: string; message: string }[])
      out[f.field] = f.message;
  }
  return out;
}
