'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { ClusterState, hasPools, STATUS_WAIT_MS, statusRefetchMs } from '@/components/ceph/cluster-state';
import { Daemons, daemonNames } from '@/components/ceph/daemons';
import { CephFailoverWizard } from '@/components/ceph/failover-wizard';
import { ImageTable } from '@/components/ceph/image-table';
import { ScopeCard } from '@/components/ceph/pool-journaling';
import { PoolsTable } from '@/components/ceph/pools-table';
import { Schedules } from '@/components/ceph/schedules';
import { TokenPanel } from '@/components/ceph/token-panel';
import type { Scope } from '@/components/ceph/types';
import { useCephTasks } from '@/components/ceph/use-ceph-tasks';
import { errorText, useTRPC } from '@/components/trpc';
import { Button, DemoBadge, Empty, ErrorBox, PageTitle } from '@/components/ui';

export default function CephPage() {
  const trpc = useTRPC();
  const track = useCephTasks();
  const sites = useQuery(trpc.sites.list.queryOptions());
  const clusters = (sites.data ?? []).filter((s) => s.kind === 'ceph');
  const [chosen, setChosen] = useState<number | null>(null);
  const siteId = chosen ?? clusters[0]?.id ?? null;
  const [selected, setSelected] = useState<Scope | null>(null);
  // A split-brain row's "Resolve" sets the failback wizard's image and other cluster (and remounts it).
  const [resolve, setResolve] = useState<{ image: string; toSiteId: number; scope: string; n: number } | null>(null);
  // The status answers within STATUS_WAIT_MS even when the cluster is slow or gone (then it says so).
  const status = useQuery({
    ...trpc.ceph.status.queryOptions({ siteId: siteId ?? 0, waitMs: STATUS_WAIT_MS }),
    enabled: !!siteId,
    refetchInterval: (q) => statusRefetchMs(q.state.data),
  });
  // Asked only of a cluster that answers (a query batched with the status would hold it back).
  const daemons = useQuery({ ...trpc.ceph.daemons.queryOptions({ siteId: siteId ?? 0 }), enabled: !!siteId && hasPools(status.data), refetchInterval: 30_000 });
  const onTask = (taskId: number) => track(taskId);

  const pools = status.data?.pools ?? [];
  // The chosen pool or namespace; else the first mirrored pool (its default namespace).
  const entry =
    pools.find((p) => p.pool === selected?.pool && p.namespace === selected?.namespace) ??
    pools.find((p) => p.mode !== 'disabled' && p.namespace === '') ??
    pools.find((p) => p.namespace === '') ??
    pools[0];
  const poolMirrored = !!entry && pools.some((p) => p.pool === entry.pool && p.namespace === '' && p.mode !== 'disabled');
  const cluster = clusters.find((c) => c.id === siteId);
  const others = clusters.filter((c) => c.id !== siteId);
  const scopeKey = entry ? `${siteId}/${entry.pool}/${entry.namespace}` : '';

  return (
    <>
      <PageTitle>Ceph mirroring</PageTitle>
      {clusters.length === 0 && sites.data && (
        <Empty>
          No Ceph clusters are registered.{' '}
          <Link className="text-brand-600 underline" href="/sites">
            Add one on the Sites page.
          </Link>
        </Empty>
      )}
      <div className="mb-4 flex flex-wrap gap-2" role="tablist" aria-label="Clusters">
        {clusters.map((c) => (
          <Button key={c.id} role="tab" aria-selected={c.id === siteId} variant={c.id === siteId ? 'primary' : 'secondary'} onClick={() => (setChosen(c.id), setSelected(null))}>
            {c.name} {c.demo && <DemoBadge />}
          </Button>
        ))}
      </div>
      {status.error && <ErrorBox error={errorText(status.error)} />}
      {siteId && status.isPending && (
        <p role="status" className="text-sm text-zinc-500">
          Asking {cluster?.name}…
        </p>
      )}
      {status.data && <ClusterState name={cluster?.name ?? ''} status={status.data} />}
      {status.data && hasPools(status.data) && siteId && (
        <div className="space-y-4">
          <PoolsTable
            siteId={siteId}
            clusterName={cluster?.name ?? ''}
            daemons={daemonNames(daemons.data)}
            pools={pools}
            cliCalls={status.data.cliCalls}
            selected={entry ? { pool: entry.pool, namespace: entry.namespace } : null}
            onSelect={setSelected}
            others={others.map((o) => ({ id: o.id, name: o.name }))}
            track={track}
          />

          {entry && poolMirrored && <TokenPanel siteId={siteId} pool={entry.pool} onTask={onTask} />}

          {entry && <ScopeCard siteId={siteId} entry={entry} track={track} />}
          {entry && (
            <ImageTable
              key={`images/${scopeKey}`}
              siteId={siteId}
              scope={{ pool: entry.pool, namespace: entry.namespace }}
              mode={entry.mode}
              images={entry.images}
              track={track}
              onResolveSplitBrain={(image, toSiteId) => {
                setResolve((r) => ({ image, toSiteId, scope: scopeKey, n: (r?.n ?? 0) + 1 }));
                requestAnimationFrame(() => document.getElementById('ceph-failback')?.scrollIntoView({ behavior: 'smooth', block: 'center' }));
              }}
            />
          )}

          {entry && cluster && entry.mode !== 'disabled' && others[0] && (
            <div data-testid="ceph-failover">
              <CephFailoverWizard
                key={`failover/${scopeKey}/${resolve?.n ?? 0}`}
                preset={resolve?.scope === scopeKey ? resolve : null}
                from={{ id: cluster.id, name: cluster.name }}
                to={others[0]}
                targets={others.map((o) => ({ id: o.id, name: o.name }))}
                pool={entry.pool}
                namespace={entry.namespace}
                images={entry.images.filter((i) => i.mirroring).map((i) => i.name)}
                failback
              />
            </div>
          )}

          {entry && <Schedules key={`schedules/${scopeKey}`} siteId={siteId} pool={entry.pool} namespace={entry.namespace} images={entry.images.map((i) => i.name)} track={track} />}

          <Daemons daemons={daemons.data} error={daemons.error} />
        </div>
      )}
    </>
  );
}
