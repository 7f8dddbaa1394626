'use client';

import { CephNeedingAttention } from '@/components/ceph/attention';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useState } from 'react';
import { ClusterState, hasPools, STATUS_WAIT_MS, statusRefetchMs } from '@/components/ceph/cluster-state';
import { Daemons, daemonNames } from '@/components/ceph/daemons';
import { CephFailoverWizard } from '@/components/ceph/failover-wizard';
import { ImageTable } from '@/components/ceph/image-table';
import { KeptCopies } from '@/components/ceph/kept-copies';
import { ScopeCard } from '@/components/ceph/pool-journaling';
import { PoolsTable } from '@/components/ceph/pools-table';
import { Schedules } from '@/components/ceph/schedules';
import { hasPrimaryHere, takeoverSources } from '@/components/ceph/takeover';
import { TokenPanel } from '@/components/ceph/token-panel';
import { scopeName, type PoolEntry, type Scope } from '@/components/ceph/types';
import { useCephTasks } from '@/components/ceph/use-ceph-tasks';
import { errorText, useTRPC } from '@/components/trpc';
import { Button, DemoBadge, Empty, ErrorBox, PageTitle } from '@/components/ui';

export default function CephPage() {
  const trpc = useTRPC();
  const track = useCephTasks();
  const sites = useQuery(trpc.sites.list.queryOptions());
  const clusters = (sites.data ?? []).filter((s) => s.kind === 'ceph');
  // Links from the Protection overview open a cluster's pool or namespace (?site=&pool=&ns=).
  const params = useSearchParams();
  const [chosen, setChosen] = useState<number | null>(() => Number(params.get('site')) || null);
  const siteId = (chosen && clusters.some((c) => c.id === chosen) ? chosen : null) ?? clusters[0]?.id ?? null;
  const [selected, setSelected] = useState<Scope | null>(() =>
    params.get('pool') ? { pool: params.get('pool')!, namespace: params.get('ns') ?? '' } : null,
  );
  // A split-brain row's "Resolve" sets the failback wizard's image and other cluster (and remounts it).
  const [resolve, setResolve] = useState<{
    image: string;
    toSiteId: number;
    scope: string;
    n: number;
  } | null>(null);
  // The failover previews ask both clusters for every image of the pool: they start once the image table shows its first pages.
  const [shownScope, setShownScope] = useState('');
  // The status answers within STATUS_WAIT_MS even when the cluster is slow or gone (then it says so).
  const status = useQuery({
    ...trpc.ceph.status.queryOptions({ siteId: siteId ?? 0, waitMs: STATUS_WAIT_MS }),
    enabled: !!siteId,
    refetchInterval: (q) => statusRefetchMs(q.state.data),
  });
  // Asked only of a cluster that answers (a query batched with the status would hold it back).
  const daemons = useQuery({
    ...trpc.ceph.daemons.queryOptions({ siteId: siteId ?? 0 }),
    enabled: !!siteId && hasPools(status.data),
    refetchInterval: 30_000,
  });
  const onTask = (taskId: number) => track(taskId);

  const pools = status.data?.pools ?? [];
  // The chosen pool or namespace; else the first mirrored pool (its default namespace).
  const entry =
    pools.find((p) => p.pool === selected?.pool && p.namespace === selected?.namespace) ??
    pools.find((p) => p.mode !== 'disabled' && p.namespace === '') ??
    pools.find((p) => p.namespace === '') ??
    pools[0];
  const poolMirrored =
    !!entry && pools.some((p) => p.pool === entry.pool && p.namespace === '' && p.mode !== 'disabled');
  const cluster = clusters.find((c) => c.id === siteId);
  const others = clusters.filter((c) => c.id !== siteId);
  const scopeKey = entry ? `${siteId}/${entry.pool}/${entry.namespace}` : '';
  // The registered peers this cluster can take a pool or namespace over from ("Fail over from <peer>").
  const sourcesOf = (e: PoolEntry) => (siteId ? takeoverSources(pools, e, clusters, siteId) : []);
  const sources = entry ? sourcesOf(entry) : [];
  const here = cluster ? { id: cluster.id, name: cluster.name } : null;
  const openCluster = (id: number) => (setChosen(id), setSelected(null));
  const takeOver = (s: Scope, fromId: number) => {
    setSelected(s);
    requestAnimationFrame(() =>
      document
        .getElementById(`ceph-takeover-${fromId}`)
        ?.scrollIntoView({ behavior: 'smooth', block: 'start' }),
    );
  };

  return (
    <>
      <PageTitle>Ceph mirroring</PageTitle>
      <CephNeedingAttention />
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
          <Button
            key={c.id}
            role="tab"
            aria-selected={c.id === siteId}
            variant={c.id === siteId ? 'primary' : 'secondary'}
            onClick={() => openCluster(c.id)}
          >
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
      {status.data?.state === 'unreachable' && cluster && others.length > 0 && (
        <div
          className="mb-4 flex flex-wrap items-center gap-2 rounded-md border border-zinc-200 px-3 py-2 text-sm dark:border-zinc-700"
          data-testid="ceph-takeover-hint"
        >
          <p>
            {cluster.name} cannot be reached. To fail its pools over, open{' '}
            {others.map((o) => o.name).join(' or ')}.
          </p>
          {others.map((o) => (
            <Button key={o.id} variant="primary" onClick={() => openCluster(o.id)}>
              Open {o.name}
            </Button>
          ))}
        </div>
      )}
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
            takeoverSources={sourcesOf}
            onTakeOver={takeOver}
            track={track}
          />

          {entry &&
            here &&
            sources.map((src) => (
              <div
                key={`takeover/${scopeKey}/${src.id}`}
                id={`ceph-takeover-${src.id}`}
                className="scroll-mt-4"
                data-testid="ceph-takeover"
                data-from={src.name}
              >
                <CephFailoverWizard
                  from={{ id: src.id, name: src.name }}
                  to={here}
                  pool={entry.pool}
                  namespace={entry.namespace}
                  images={{ siteId: here.id, role: 'not-primary', count: entry.counts.notPrimary }}
                  ready={shownScope === scopeKey}
                />
              </div>
            ))}

          {entry && poolMirrored && <TokenPanel siteId={siteId} pool={entry.pool} onTask={onTask} />}

          {entry && <ScopeCard siteId={siteId} entry={entry} track={track} />}
          {entry && (
            <ImageTable
              key={`images/${scopeKey}`}
              siteId={siteId}
              scope={{ pool: entry.pool, namespace: entry.namespace }}
              mode={entry.mode}
              counts={entry.counts}
              statusAt={status.data.at}
              onShown={() => setShownScope(scopeKey)}
              track={track}
              onResolveSplitBrain={(image, toSiteId) => {
                setResolve((r) => ({ image, toSiteId, scope: scopeKey, n: (r?.n ?? 0) + 1 }));
                requestAnimationFrame(() =>
                  document
                    .getElementById('ceph-failback')
                    ?.scrollIntoView({ behavior: 'smooth', block: 'center' }),
                );
              }}
            />
          )}
          {entry && (
            <KeptCopies
              key={`kept/${scopeKey}`}
              siteId={siteId}
              clusterName={cluster?.name ?? ''}
              scope={{ pool: entry.pool, namespace: entry.namespace }}
              copies={entry.kept}
              track={track}
            />
          )}

          {entry && here && entry.mode !== 'disabled' && others[0] && (
            <div data-testid="ceph-failover">
              <CephFailoverWizard
                key={`failover/${scopeKey}/${resolve?.n ?? 0}`}
                preset={resolve?.scope === scopeKey ? resolve : null}
                from={here}
                to={others[0]}
                targets={others.map((o) => ({ id: o.id, name: o.name }))}
                pool={entry.pool}
                namespace={entry.namespace}
                images={{ siteId: here.id, role: 'mirrored', count: entry.counts.mirrored }}
                ready={shownScope === scopeKey}
                failback
                // Nothing is primary here: the failover onto this cluster is the card "Fail over … from <peer>".
                offer={hasPrimaryHere(entry) || entry.counts.mirrored === 0}
                idleText={`No mirrored image of ${scopeName(entry)} is primary on ${here.name}: there is nothing to fail over from here.${sources.length ? ` To make ${here.name} primary, use “Fail over ${scopeName(entry)} from ${sources.map((x) => x.name).join(' or ')} to ${here.name}” above.` : ''}`}
              />
            </div>
          )}

          {entry && (
            <Schedules
              key={`schedules/${scopeKey}`}
              siteId={siteId}
              pool={entry.pool}
              namespace={entry.namespace}
              imageCount={entry.counts.total}
              track={track}
            />
          )}

          <Daemons daemons={daemons.data} error={daemons.error} />
        </div>
      )}
    </>
  );
}
