import { QueryClient, QueryObserver } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { invalidateAfterChange } from '@/components/trpc';

/*
 * A change made while a page's first answer is still on its way: the refetch after the change
 * must not be handed that answer (it predates the change). TanStack Query reuses a query's
 * in-flight request when the query has no data yet; invalidateAfterChange cancels it first.
 */
function world() {
  let sites = ['demo-node1'];
  let calls = 0;
  const qc = new QueryClient({ defaultOptions: { queries: { retry: false, staleTime: 60_000 } } });
  const observer = new QueryObserver(qc, {
    queryKey: ['sites.list'],
    // The first answer is slow (the page's first batch waits for slow sites), later ones quick.
    queryFn: async () => {
      const snapshot = [...sites];
      await new Promise((r) => setTimeout(r, calls++ === 0 ? 100 : 1));
      return snapshot;
    },
  });
  const unsubscribe = observer.subscribe(() => undefined);
  return { qc, observer, unsubscribe, register: (name: string) => (sites = [...sites, name]) };
}

const settled = (w: ReturnType<typeof world>) =>
  new Promise((r) => setTimeout(r, 250)).then(() => w.qc.getQueryData<string[]>(['sites.list']));

describe('refetching after a change', () => {
  it('plain invalidation while the first answer is in flight keeps that stale answer', async () => {
    const w = world();
    await new Promise((r) => setTimeout(r, 10));
    w.register('lost-node');
    await w.qc.invalidateQueries({ queryKey: ['sites.list'] });
    expect(await settled(w)).toEqual(['demo-node1']);
    w.unsubscribe();
  });

  it('invalidateAfterChange cancels it and asks again: the change is seen', async () => {
    const w = world();
    await new Promise((r) => setTimeout(r, 10));
    w.register('lost-node');
    await invalidateAfterChange(w.qc, { queryKey: ['sites.list'] });
    expect(await settled(w)).toEqual(['demo-node1', 'lost-node']);
    w.unsubscribe();
  });
});
