import { HydrateClient, prefetch, trpcServer } from '@/server/trpc/prefetch';
import { TasksView } from './tasks-view';

const TASK_LIST_LIMIT = 100;

/** Opens with the latest tasks, asked on the server. */
export default function TasksPage() {
  prefetch(trpcServer.tasks.list.queryOptions({ limit: TASK_LIST_LIMIT }));
  return (
    <HydrateClient>
      <TasksView limit={TASK_LIST_LIMIT} />
    </HydrateClient>
  );
}
