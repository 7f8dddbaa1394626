'use client';

import { CephNeedingAttention } from '@/components/ceph/attention';
import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { clockTime } from '@/components/connection';
import { ProtectionOverview } from '@/components/protection/overview';
import { ReplicasNeedingAttention } from '@/components/replicas/attention';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, Card, DemoBadge, Empty, ErrorBox, PageTitle, formatBytes } from '@/components/ui';

/** The overview: what needs attention, protection at a glance, and every site's health. */
export function OverviewView() {
  const trpc = useTRPC();
  // A site that has not answered within the server's wait is asked again sooner.
  const q = useQuery({
    ...trpc.overview.get.queryOptions(),
    refetchInterval: (x) => (x.state.data?.some((s) => s.staleSince || s.waitingSince) ? 2_000 : 10_000),
  });
  const sites = q.data ?? [];
  const counts = {
    ok: sites.filter((s) => s.level === 'ok').length,
    warn: sites.filter((s) => s.level === 'warn').length,
    error: sites.filter((s) => s.level === 'error').length,
  };
  return (
    <>
      <PageTitle>Overview</PageTitle>
      <ReplicasNeedingAttention />
      <CephNeedingAttention />
      <ProtectionOverview />
      <h2 className="mb-3 text-lg font-semibold">Sites</h2>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.isLoading && <p className="text-sm text-zinc-500">Asking every site…</p>}
      {q.data && sites.length === 0 && (
        <Empty>
          No sites yet.{' '}
          <Link className="text-brand-600 underline" href="/sites">
            Register a node or Ceph cluster
          </Link>
          , or create the demo environment there.
        </Empty>
      )}
      {sites.length > 0 && (
        <p className="mb-4 text-sm" data-testid="health-summary">
          <Badge tone="ok">{counts.ok} healthy</Badge> <Badge tone="warn">{counts.warn} warning</Badge>{' '}
          <Badge tone="error">{counts.error} failing</Badge>
        </p>
      )}
      <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
        {sites.map((s) => (
          <Card
            key={s.site.id}
            title={
              <span className="flex items-center gap-2">
                {s.site.name} {s.site.demo && <DemoBadge />}
              </span>
            }
            actions={
              <Badge tone={s.level}>
                {!s.reachable
                  ? 'unreachable'
                  : s.level === 'ok'
                    ? 'healthy'
                    : s.level === 'warn'
                      ? 'warning'
                      : 'failing'}
              </Badge>
            }
          >
            <p className="mb-2 text-sm text-zinc-600 dark:text-zinc-400">
              {s.site.kind === 'node' ? 'Compute node' : 'Ceph cluster'} · {s.headline}
            </p>
            {s.error && <p className="text-sm text-red-600 dark:text-red-400">{s.error}</p>}
            {s.staleSince && (
              <p className="mb-1 text-sm text-amber-700 dark:text-amber-400">
                Slow to answer: its state as of {clockTime(s.staleSince)}
              </p>
            )}
            {s.node && (
              <ul className="space-y-1 text-sm">
                <li>
                  {s.node.running}/{s.node.vms} VMs running · {s.node.cpus} vCPUs ·{' '}
                  {Math.round(s.node.memoryMiB / 1024)} GiB RAM
                </li>
                {s.node.pools.map((p) => (
                  <li key={p.name} className="text-zinc-600 dark:text-zinc-400">
                    zpool {p.name}: {formatBytes(p.freeBytes)} free of {formatBytes(p.sizeBytes)}
                  </li>
                ))}
              </ul>
            )}
            {s.ceph && s.ceph.splitBrain > 0 && (
              <p
                className="mb-1 text-sm font-medium text-red-700 dark:text-red-400"
                data-testid="ceph-split-brain"
              >
                Split-brain: {s.ceph.splitBrain} image(s) primary here and on the peer cluster —{' '}
                <Link className="underline" href="/ceph">
                  resolve it on the Ceph page
                </Link>
              </p>
            )}
            {s.ceph && (
              <ul className="space-y-1 text-sm">
                {s.ceph.pools.map((p) => (
                  <li key={p.pool}>
                    pool <b>{p.pool}</b>: {p.mode}
                    {p.mode !== 'disabled' && (
                      <>
                        {' '}
                        · {p.peers} peer(s) ·{' '}
                        {Object.entries(p.states)
                          .map(([k, v]) => `${v} ${k}`)
                          .join(', ') || 'no images'}
                      </>
                    )}
                  </li>
                ))}
              </ul>
            )}
          </Card>
        ))}
      </div>
    </>
  );
}
