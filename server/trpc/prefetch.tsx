import { dehydrate, HydrationBoundary, QueryClient } from '@tanstack/react-query';
import { createTRPCOptionsProxy, type TRPCQueryOptions } from '@trpc/tanstack-react-query';
import { headers } from 'next/headers';
import { cache, type ReactNode } from 'react';
import { sharedQueryDefaults } from '@/components/query-client';
import { readyApp } from '../app';
import { contextFor } from './init';
import { appRouter } from './root';

/** One query client per server render: what a page prefetches is what HydrateClient hands over. */
const queryClient = cache(() => new QueryClient({ defaultOptions: sharedQueryDefaults }));

/** The signed-in user's context for this render, from the request's own headers (cookie, host). */
const context = cache(async () => {
  const h = new Headers(await headers());
  const url = `http://${h.get('host') ?? 'localhost'}/`;
  return contextFor(await readyApp(), { req: new Request(url, { headers: h }), resHeaders: new Headers() });
});

/** The procedures' query options on the server, keyed exactly as the browser's `useTRPC()` keys them. */
export const trpcServer = createTRPCOptionsProxy({ router: appRouter, ctx: context, queryClient });

/**
 * Starts a query on the server without waiting for it: the page renders at once, and the answer
 * reaches the browser's cache with the page (or streams in when it comes), so the page opens with
 * data instead of a spinner.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function prefetch<T extends ReturnType<TRPCQueryOptions<any>>>(options: T): void {
  void queryClient().prefetchQuery(options);
}

/** Hands what this render prefetched to the browser's query client. */
export function HydrateClient({ children }: { children: ReactNode }) {
  return <HydrationBoundary state={dehydrate(queryClient())}>{children}</HydrationBoundary>;
}
