import { HydrateClient, prefetch, trpcServer } from '@/server/trpc/prefetch';
import { HistoryView } from './history-view';

const HISTORY_PAGE = 25;

/** Opens with the first page of the history (no filter) and the actions to filter by, asked on the server. */
export default function HistoryPage() {
  prefetch(trpcServer.history.list.queryOptions({ filter: {}, page: 1, pageSize: HISTORY_PAGE }));
  prefetch(trpcServer.history.actions.queryOptions());
  return (
    <HydrateClient>
      <HistoryView pageSize={HISTORY_PAGE} />
    </HydrateClient>
  );
}
