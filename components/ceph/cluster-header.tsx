'use client';

import type { ReactNode } from 'react';
import { Badge, Button, DemoBadge, type Tone } from '../ui';
import type { CephTab } from './ceph-url';
import { ClusterState } from './cluster-state';
import { panelId, tabId, tabKeys } from './section-tabs';
import { clusterOfPeer, type ClusterRef } from './takeover';
import { scopeName, type CephStatus, type PoolEntry, type Scope } from './types';

interface Cluster extends ClusterRef {
  demo?: boolean;
}

interface Daemon {
  daemonId: string;
  health: string;
}

const RANK: Record<string, number> = { OK: 0, WARNING: 1, ERROR: 2 };
const worst = (hs: string[]) =>
  hs.reduce<string | null>((w, h) => (w === null || (RANK[h] ?? 3) > (RANK[w] ?? 3) ? h : w), null);
const tone = (h: string | null): Tone =>
  h === 'OK' ? 'ok' : h === 'WARNING' ? 'warn' : h === null ? 'muted' : 'error';

/** The cluster's health in one word: its state when it does not answer, else the worst health of its mirrored pools. */
function clusterHealth(status: Pick<CephStatus, 'state' | 'pools'>): { text: string; tone: Tone } {
  if (status.state === 'unreachable') return { text: 'unreachable', tone: 'error' };
  if (status.state === 'waiting') return { text: 'asking…', tone: 'muted' };
  const h = worst(
    status.pools.flatMap((p) => (p.mode !== 'disabled' && p.summary ? [p.summary.health] : [])),
  );
  if (status.state === 'slow') return { text: `no answer (last: ${h ?? 'unknown'})`, tone: 'warn' };
  return h === null ? { text: 'not mirroring', tone: 'muted' } : { text: h, tone: tone(h) };
}

/** The id of the panel the cluster tabs control: everything the page shows of the chosen cluster. */
export const CLUSTER_PANEL = panelId('ceph-cluster', 'shown');

/**
 * The head of the Ceph page: the cluster picker (a tablist), the chosen cluster's health, peers,
 * rbd-mirror daemons and images at a glance, why it cannot be asked (with the way to its peers when
 * it is gone), and the pool or namespace the sections below are about.
 */
export function ClusterHeader({
  clusters,
  siteId,
  status,
  daemons,
  entry,
  onOpenCluster,
  onScope,
}: {
  clusters: Cluster[];
  siteId: number | null;
  status: CephStatus | undefined;
  daemons: Daemon[] | undefined;
  /** The pool or namespace shown. */
  entry: PoolEntry | undefined;
  /** Opens a cluster (on a section of its page: the hint opens a survivor's failover). */
  onOpenCluster: (id: number, tab?: CephTab) => void;
  onScope: (s: Scope) => void;
}) {
  const ids = clusters.map((c) => c.id);
  const cluster = clusters.find((c) => c.id === siteId);
  const others = clusters.filter((c) => c.id !== siteId);
  const pools = status?.pools ?? [];
  // Each peer once (a namespace has its pool's peers), with the registered cluster it is.
  const peers = [
    ...new Map(
      pools
        .filter((p) => p.namespace === '')
        .flatMap((p) => p.peers.map((x) => ({ ...x, pool: p.pool })))
        .map((x) => [x.siteName, x]),
    ).values(),
  ].map((x) => ({
    ...x,
    cluster: siteId ? clusterOfPeer(x.siteName, clusters, siteId) : null,
    pools: pools
      .filter((p) => p.namespace === '' && p.peers.some((y) => y.siteName === x.siteName))
      .map((p) => p.pool),
  }));
  const total = (k: keyof PoolEntry['counts']) => pools.reduce((n, p) => n + p.counts[k], 0);
  const splitBrain = pools.reduce((n, p) => n + p.splitBrain, 0);
  const daemonHealth = worst((daemons ?? []).map((d) => d.health));
  const health = status ? clusterHealth(status) : null;
  const answered = status?.state === 'answered' || status?.state === 'slow';

  return (
    <>
      <div
        className="mb-3 flex flex-wrap gap-2"
        role="tablist"
        aria-label="Clusters"
        onKeyDown={tabKeys(ids, siteId ?? -1, (id) => onOpenCluster(id))}
      >
        {clusters.map((c) => (
          <Button
            key={c.id}
            role="tab"
            id={tabId('ceph-cluster', c.id)}
            aria-selected={c.id === siteId}
            aria-controls={CLUSTER_PANEL}
            tabIndex={c.id === siteId ? 0 : -1}
            variant={c.id === siteId ? 'primary' : 'secondary'}
            onClick={() => onOpenCluster(c.id)}
          >
            {c.name} {c.demo && <DemoBadge />}
          </Button>
        ))}
      </div>
      {cluster && (
        <section
          className="mb-4 rounded-lg border border-zinc-200 bg-white p-4 shadow-sm dark:border-zinc-700 dark:bg-zinc-900"
          aria-label={`Cluster ${cluster.name}`}
          data-testid="ceph-cluster-header"
        >
          <div className="flex flex-wrap items-center gap-2">
            <h2 className="text-lg font-semibold">{cluster.name}</h2>
            {health ? (
              <span data-testid="ceph-cluster-health" data-health={health.text}>
                <Badge tone={health.tone}>{health.text}</Badge>
              </span>
            ) : (
              <span role="status" className="text-sm text-zinc-500">
                Asking {cluster.name}…
              </span>
            )}
            {splitBrain > 0 && (
              <Badge tone="error" title="Images primary both here and on a peer cluster">
                {splitBrain} in split-brain
              </Badge>
            )}
          </div>
          {answered && (
            <dl className="mt-3 grid gap-x-6 gap-y-2 text-sm sm:grid-cols-2 lg:grid-cols-4">
              <Fact label="Peers">
                {peers.length === 0 ? (
                  <span className="text-zinc-500">none</span>
                ) : (
                  <ul data-testid="ceph-header-peers">
                    {peers.map((x) => (
                      <li key={x.siteName} data-peer={x.siteName}>
                        <b>{x.siteName}</b>
                        {x.cluster && x.cluster.name !== x.siteName ? ` (${x.cluster.name})` : ''}{' '}
                        <span className="text-xs text-zinc-500">
                          {x.direction} · {x.pools.join(', ')}
                        </span>
                      </li>
                    ))}
                  </ul>
                )}
              </Fact>
              <Fact label="rbd-mirror daemons">
                {daemons === undefined ? (
                  <span className="text-zinc-500">—</span>
                ) : daemons.length === 0 ? (
                  <Badge tone="error">none</Badge>
                ) : (
                  <>
                    {daemons.length} <Badge tone={tone(daemonHealth)}>{daemonHealth}</Badge>
                  </>
                )}
              </Fact>
              <Fact label="Images">
                {total('mirrored')} mirrored of {total('total')}
                {total('issues') > 0 && (
                  <>
                    {' '}
                    <Badge tone="error">{total('issues')} with issues</Badge>
                  </>
                )}
              </Fact>
              {pools.length > 0 && entry && (
                <div>
                  <dt>
                    <label
                      htmlFor="ceph-scope"
                      className="text-xs font-medium text-zinc-500 uppercase dark:text-zinc-400"
                    >
                      Pool or namespace
                    </label>
                  </dt>
                  <dd className="mt-0.5">
                    <select
                      id="ceph-scope"
                      className="rounded border border-zinc-300 bg-transparent px-1 py-0.5 dark:border-zinc-600"
                      value={`${entry.pool}/${entry.namespace}`}
                      onChange={(e) => {
                        const p = pools.find((x) => `${x.pool}/${x.namespace}` === e.target.value);
                        if (p) onScope({ pool: p.pool, namespace: p.namespace });
                      }}
                    >
                      {pools.map((p) => (
                        <option key={`${p.pool}/${p.namespace}`} value={`${p.pool}/${p.namespace}`}>
                          {scopeName(p)}
                          {p.mode === 'disabled' ? ' (not mirrored)' : ''}
                        </option>
                      ))}
                    </select>
                  </dd>
                </div>
              )}
            </dl>
          )}
          {status && status.state !== 'answered' && (
            <div className="mt-3">
              <ClusterState name={cluster.name} status={status} />
            </div>
          )}
          {status?.state === 'unreachable' && others.length > 0 && (
            <div
              className="flex flex-wrap items-center gap-2 rounded-md border border-zinc-200 px-3 py-2 text-sm dark:border-zinc-700"
              data-testid="ceph-takeover-hint"
            >
              <p>
                {cluster.name} cannot be reached. To fail its pools over, open{' '}
                {others.map((o) => o.name).join(' or ')}.
              </p>
              {others.map((o) => (
                <Button key={o.id} variant="primary" onClick={() => onOpenCluster(o.id, 'failover')}>
                  Open {o.name}
                </Button>
              ))}
            </div>
          )}
        </section>
      )}
    </>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div>
      <dt className="text-xs font-medium text-zinc-500 uppercase dark:text-zinc-400">{label}</dt>
      <dd className="mt-0.5">{children}</dd>
    </div>
  );
}
