'use client';

import { CephNeedingAttention } from '@/components/ceph/attention';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { useEffect, useRef } from 'react';
import { CEPH_TABS, cephHref, readCephView, type CephTab, type CephView } from '@/components/ceph/ceph-url';
import { CLUSTER_PANEL, ClusterHeader } from '@/components/ceph/cluster-header';
import { hasPools, STATUS_WAIT_MS, statusRefetchMs } from '@/components/ceph/cluster-state';
import { Daemons, daemonNames } from '@/components/ceph/daemons';
import { CephFailoverWizard } from '@/components/ceph/failover-wizard';
import { ImageTable } from '@/components/ceph/image-table';
import { KeptCopies } from '@/components/ceph/kept-copies';
import { PairingDialog } from '@/components/ceph/pairing-dialog';
import { ScopeCard } from '@/components/ceph/pool-journaling';
import { PoolsTable } from '@/components/ceph/pools-table';
import { Schedules } from '@/components/ceph/schedules';
import { SectionTabs, TabPanel, tabId } from '@/components/ceph/section-tabs';
import { hasPrimaryHere, takeoverSources } from '@/components/ceph/takeover';
import { scopeName, type PoolEntry, type Scope } from '@/components/ceph/types';
import { useTaskTracker } from '@/components/task-tracker';
import { errorText, useTRPC } from '@/components/trpc';
import { Button, Card, Empty, ErrorBox, PageTitle } from '@/components/ui';

/**
 * The Ceph mirroring page: a header with the chosen cluster's health and peers, then its sections
 * (pools and peers, images, schedules, failover) as tabs. What it shows is in the URL
 * (see ceph-url.ts): links from the Protection overview open a cluster's pool or namespace.
 */
export default function CephPage() {
  const trpc = useTRPC();
  const track = useTaskTracker();
  const sites = useQuery(trpc.sites.list.queryOptions());
  const clusters = (sites.data ?? []).filter((s) => s.kind === 'ceph');
  const params = useSearchParams();
  const view = readCephView(params);
  const siteId =
    (view.site && clusters.some((c) => c.id === view.site) ? view.site : null) ?? clusters[0]?.id ?? null;
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
    pools.find((p) => p.pool === view.pool && p.namespace === view.ns) ??
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

  // Every change of what is shown replaces the URL (no reload, no server round trip).
  const shown: CephView = {
    ...view,
    site: siteId,
    pool: entry?.pool ?? view.pool,
    ns: entry ? entry.namespace : view.ns,
  };
  const go = (next: Partial<CephView>) =>
    window.history.replaceState(null, '', cephHref({ ...shown, ...next }));
  // The element to bring into view once the section that holds it shows (a takeover card, the failback).
  const scrollTo = useRef<{ id: string; block: ScrollLogicalPosition } | null>(null);
  useEffect(() => {
    const want = scrollTo.current;
    const el = want && document.getElementById(want.id);
    if (!want || !el) return;
    scrollTo.current = null;
    el.scrollIntoView({ behavior: 'smooth', block: want.block });
  });
  const openCluster = (id: number, tab?: CephTab) =>
    go({ site: id, pool: null, ns: '', tab: tab ?? view.tab, image: null, to: null, pair: null });
  const openScope = (s: Scope) => go({ pool: s.pool, ns: s.namespace, image: null, to: null });
  const takeOver = (s: Scope, fromId: number) => {
    scrollTo.current = { id: `ceph-takeover-${fromId}`, block: 'start' };
    go({ pool: s.pool, ns: s.namespace, tab: 'failover', image: null, to: null });
  };
  const resolveSplitBrain = (image: string, toSiteId: number) => {
    scrollTo.current = { id: 'ceph-failback', block: 'center' };
    go({ tab: 'failover', image, to: toSiteId });
  };
  // The failback's image and other cluster, as a split-brain row's "Resolve" set them.
  const preset =
    view.tab === 'failover' && view.image
      ? { image: view.image, toSiteId: view.to ?? others[0]?.id ?? 0 }
      : null;
  const ready = !!status.data && hasPools(status.data) && !!siteId;

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
      <ClusterHeader
        clusters={clusters}
        siteId={siteId}
        status={status.data}
        daemons={daemons.data}
        entry={entry}
        onOpenCluster={openCluster}
        onScope={openScope}
      />
      <div
        id={CLUSTER_PANEL}
        role={siteId ? 'tabpanel' : undefined}
        aria-labelledby={siteId ? tabId('ceph-cluster', siteId) : undefined}
      >
        {status.error && <ErrorBox error={errorText(status.error)} />}
        {ready && (
          <>
            <SectionTabs
              group="ceph"
              label={`Sections of ${cluster?.name ?? 'the cluster'}`}
              tabs={CEPH_TABS}
              current={view.tab}
              onSelect={(tab) => go({ tab, image: null, to: null })}
            />

            <TabPanel group="ceph" id="pools" current={view.tab}>
              {entry && poolMirrored && (
                <div className="flex flex-wrap items-center justify-end gap-2">
                  <span className="text-sm text-zinc-500">
                    Pair pool {entry.pool} with a cluster by copying a token from one to the other:
                  </span>
                  <Button onClick={() => go({ pair: 'create' })}>Pair by token…</Button>
                </div>
              )}
              <PoolsTable
                siteId={siteId}
                clusterName={cluster?.name ?? ''}
                daemons={daemonNames(daemons.data)}
                pools={pools}
                cliCalls={status.data.cliCalls}
                selected={entry ? { pool: entry.pool, namespace: entry.namespace } : null}
                onSelect={openScope}
                others={others.map((o) => ({ id: o.id, name: o.name }))}
                takeoverSources={sourcesOf}
                onTakeOver={takeOver}
                track={track}
              />
              <Daemons daemons={daemons.data} error={daemons.error} />
            </TabPanel>

            <TabPanel group="ceph" id="images" current={view.tab}>
              {entry ? (
                <>
                  <ScopeCard siteId={siteId} entry={entry} track={track} />
                  <KeptCopies
                    key={`kept/${scopeKey}`}
                    siteId={siteId}
                    clusterName={cluster?.name ?? ''}
                    scope={{ pool: entry.pool, namespace: entry.namespace }}
                    copies={entry.kept}
                    track={track}
                  />
                  <ImageTable
                    key={`images/${scopeKey}`}
                    siteId={siteId}
                    scope={{ pool: entry.pool, namespace: entry.namespace }}
                    mode={entry.mode}
                    counts={entry.counts}
                    statusAt={status.data.at}
                    track={track}
                    focusImage={view.image}
                    onFocusImage={(image) => go({ image })}
                    onResolveSplitBrain={resolveSplitBrain}
                  />
                </>
              ) : (
                <NoPools name={cluster?.name} />
              )}
            </TabPanel>

            <TabPanel group="ceph" id="schedules" current={view.tab}>
              {entry ? (
                <Schedules
                  key={`schedules/${scopeKey}`}
                  siteId={siteId}
                  pool={entry.pool}
                  namespace={entry.namespace}
                  imageCount={entry.counts.total}
                  track={track}
                />
              ) : (
                <NoPools name={cluster?.name} />
              )}
            </TabPanel>

            <TabPanel group="ceph" id="failover" current={view.tab}>
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
                    />
                  </div>
                ))}
              {entry && here && entry.mode !== 'disabled' && others[0] && (
                <div data-testid="ceph-failover">
                  <CephFailoverWizard
                    key={`failover/${scopeKey}/${preset ? `${preset.image}/${preset.toSiteId}` : ''}`}
                    preset={preset}
                    from={here}
                    to={others[0]}
                    targets={others.map((o) => ({ id: o.id, name: o.name }))}
                    pool={entry.pool}
                    namespace={entry.namespace}
                    images={{ siteId: here.id, role: 'mirrored', count: entry.counts.mirrored }}
                    failback
                    // Shown at once when it applies: a split-brain row's "Resolve", or images primary on both sides.
                    failbackOpen={(!!preset && view.to !== null) || entry.splitBrain > 0}
                    // Nothing is primary here: the failover onto this cluster is the card "Fail over … from <peer>".
                    offer={hasPrimaryHere(entry) || entry.counts.mirrored === 0}
                    idleText={`No mirrored image of ${scopeName(entry)} is primary on ${here.name}: there is nothing to fail over from here.${sources.length ? ` To make ${here.name} primary, use “Fail over ${scopeName(entry)} from ${sources.map((x) => x.name).join(' or ')} to ${here.name}” above.` : ''}`}
                  />
                </div>
              )}
              {entry && (entry.mode === 'disabled' || !others[0]) && !sources.length && (
                <Card>
                  <p className="text-sm text-zinc-600 dark:text-zinc-300" data-testid="ceph-failover-none">
                    {entry.mode === 'disabled'
                      ? `${scopeName(entry)} does not mirror on ${cluster?.name}: there is nothing to fail over.`
                      : 'No other Ceph cluster is registered: there is nowhere to fail over to.'}
                  </p>
                </Card>
              )}
              {!entry && <NoPools name={cluster?.name} />}
            </TabPanel>

            {entry && poolMirrored && view.pair && (
              <PairingDialog
                key={`pair/${scopeKey}`}
                siteId={siteId}
                clusterName={cluster?.name ?? ''}
                pool={entry.pool}
                others={others.map((o) => ({ id: o.id, name: o.name }))}
                step={view.pair}
                onTask={onTask}
                onContinueOn={(id) =>
                  go({
                    site: id,
                    pool: entry.pool,
                    ns: '',
                    tab: 'pools',
                    image: null,
                    to: null,
                    pair: 'import',
                  })
                }
                onClose={() => go({ pair: null })}
              />
            )}
          </>
        )}
      </div>
    </>
  );
}

function NoPools({ name }: { name: string | undefined }) {
  return <Empty>{name ?? 'This cluster'} has no pools.</Empty>;
}
