import { HydrateClient, prefetch, trpcServer } from '@/server/trpc/prefetch';
import { OverviewView } from './overview-view';

/** Opens with the sites' health already asked for on the server (no spinner on the first paint). */
export default function OverviewPage() {
  prefetch(trpcServer.overview.get.queryOptions());
  return (
    <HydrateClient>
      <OverviewView />
    </HydrateClient>
  );
}
