import { defaultShouldDehydrateQuery, type QueryClientConfig } from '@tanstack/react-query';
import superjson from 'superjson';

/**
 * What the browser's and the server's query clients share: how long an answer is fresh, and how
 * answers prefetched on the server travel to the browser (superjson, as tRPC's own answers do;
 * a query still pending streams in when it is answered, so a slow site never holds the page).
 */
export const sharedQueryDefaults = {
  queries: { staleTime: 5_000 },
  dehydrate: {
    serializeData: superjson.serialize,
    shouldDehydrateQuery: (q) => defaultShouldDehydrateQuery(q) || q.state.status === 'pending',
  },
  hydrate: { deserializeData: superjson.deserialize },
} satisfies QueryClientConfig['defaultOptions'];
