'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useState } from 'react';
import { ReplicasNeedingAttention } from '@/components/replicas/attention';
import {
  NodeStatusBadge,
  NodeStatusLine,
  RunningTwiceAlert,
  RunningTwiceBadge,
  inventoryRefetch,
  storedFacts,
  twiceOn,
} from '@/components/replicas/inventory';
import { ReplicaStateBadge } from '@/components/replicas/state';
import { FailoverWizard } from '@/components/replicas/wizards';
import { errorText, useTRPC } from '@/components/trpc';
import {
  Badge,
  Button,
  Card,
  DemoBadge,
  Empty,
  ErrorBox,
  PageTitle,
  formatBytes,
  formatDuration,
} from '@/components/ui';

const vmHref = (siteId: number, vm: string) => `/replicas/${siteId}/${encodeURIComponent(vm)}`;

export default function ReplicasPage() {
  const trpc = useTRPC();
  const vms = useQuery({
    ...trpc.overview.vms.queryOptions(),
    refetchInterval: (q) => inventoryRefetch(q.state.data),
  });
  const reps = useQuery({ ...trpc.replicas.list.queryOptions(), refetchInterval: 5_000 });
  const [failover, setFailover] = useState<null | { id: number; vmName: string }>(null);
  const inv = vms.data;
  return (
    <>
      <PageTitle>Replicas (VMs)</PageTitle>
      <ReplicasNeedingAttention />
      {vms.error && <ErrorBox error={errorText(vms.error)} />}
      {inv && <RunningTwiceAlert inv={inv} />}
      {failover && (
        <div className="mb-4">
          <FailoverWizard
            replicaId={failover.id}
            vmName={failover.vmName}
            onClose={() => setFailover(null)}
          />
        </div>
      )}
      {inv?.nodes.length === 0 && <Empty>No compute nodes are registered.</Empty>}
      <div className="space-y-4">
        {inv?.nodes.map((n) => (
          <Card
            key={n.site.id}
            title={
              <span className="flex items-center gap-2">
                {n.site.name} {n.site.demo && <DemoBadge />} <NodeStatusBadge node={n} />
              </span>
            }
          >
            <div data-testid="node-card" data-node={n.site.name}>
              <NodeStatusLine node={n} />
              {n.status === 'answered' && n.vms.length === 0 && n.stored.length === 0 && (
                <Empty>No VMs on this node.</Empty>
              )}
              {n.vms.length + n.stored.length > 0 && (
                <table className="w-full text-left text-sm">
                  <thead className="text-xs text-zinc-500 uppercase">
                    <tr>
                      <th className="py-1">VM</th>
                      <th>State</th>
                      <th>vCPUs / RAM</th>
                      <th>Disks</th>
                      <th>Replicas</th>
                    </tr>
                  </thead>
                  <tbody>
                    {n.vms.map((vm) => {
                      const mine = (reps.data ?? []).filter(
                        (r) =>
                          r.vmName === vm.name &&
                          (r.sourceSiteId === n.site.id || r.targetSiteId === n.site.id),
                      );
                      const twice = twiceOn(inv, vm.name, n.site.id);
                      return (
                        <tr
                          key={vm.name}
                          className="border-t border-zinc-100 align-top dark:border-zinc-800"
                          data-testid="vm-row"
                          data-vm={vm.name}
                        >
                          <td className="py-1.5 font-medium">
                            <Link
                              className="text-brand-600 hover:underline dark:text-sky-400"
                              href={vmHref(n.site.id, vm.name)}
                            >
                              {vm.name}
                            </Link>
                          </td>
                          <td className="space-x-1">
                            <Badge
                              tone={vm.state === 'running' ? 'ok' : vm.state === 'stopped' ? 'muted' : 'warn'}
                            >
                              {vm.state}
                            </Badge>
                            {twice && <RunningTwiceBadge sites={twice.sites} />}
                          </td>
                          <td>
                            {vm.vcpus} / {formatBytes(vm.memoryMiB * 1024 * 1024)}
                          </td>
                          <td className="text-zinc-600 dark:text-zinc-400">
                            {vm.disks.map((d) => `${d.device} ${formatBytes(d.sizeBytes)}`).join(', ') || '—'}
                          </td>
                          <td className="space-y-0.5">
                            {mine.length === 0 && <span className="text-zinc-500">none</span>}
                            {mine.map((r) => (
                              <div key={r.id} className="flex items-center gap-1.5">
                                {r.sourceSiteId === n.site.id
                                  ? `${r.name} → ${r.targetSite}`
                                  : `replica ${r.name} of ${r.sourceSite}`}{' '}
                                <ReplicaStateBadge state={r.state} />
                                {r.lagSec !== null && (
                                  <span className="text-xs text-zinc-500">
                                    lag {formatDuration(r.lagSec * 1000)}
                                  </span>
                                )}
                              </div>
                            ))}
                          </td>
                        </tr>
                      );
                    })}
                    {n.stored.map((v) => {
                      const mine = (reps.data ?? []).filter((r) => v.replicaIds.includes(r.id));
                      return (
                        <tr
                          key={`stored:${v.vmName}`}
                          className="border-t border-zinc-100 align-top dark:border-zinc-800"
                          data-testid="vm-row"
                          data-vm={v.vmName}
                          data-stored="true"
                        >
                          <td className="py-1.5 font-medium">
                            <Link
                              className="text-brand-600 hover:underline dark:text-sky-400"
                              href={vmHref(n.site.id, v.vmName)}
                            >
                              {v.vmName}
                            </Link>
                          </td>
                          <td>
                            <Badge tone="error" title={v.reason}>
                              {v.nodeReachable ? 'not on its node' : 'node unreachable'}
                            </Badge>
                            <p className="mt-0.5 max-w-56 text-xs text-zinc-500">{v.reason}</p>
                          </td>
                          <td>
                            {v.vcpus} / {formatBytes(v.memoryMiB * 1024 * 1024)}
                          </td>
                          <td className="text-zinc-600 dark:text-zinc-400">
                            <span title={storedFacts(v)}>
                              {v.disks.map((d) => d.device).join(', ') || '—'}
                            </span>
                            {v.lastKnownState && (
                              <p className="text-xs text-zinc-500">last known: {v.lastKnownState}</p>
                            )}
                          </td>
                          <td className="space-y-1">
                            {mine.map((r) => (
                              <div key={r.id} className="flex flex-wrap items-center gap-1.5">
                                {`${r.name} → ${r.targetSite}`} <ReplicaStateBadge state={r.state} />
                                {r.lagSec !== null && (
                                  <span className="text-xs text-zinc-500">
                                    last sync {formatDuration(r.lagSec * 1000)} ago
                                  </span>
                                )}
                                {r.state !== 'reinit-required' && (
                                  <Button
                                    variant="danger"
                                    className="px-2 py-0.5 text-xs"
                                    onClick={() => setFailover({ id: r.id, vmName: r.vmName })}
                                  >
                                    Fail over to {r.targetSite}…
                                  </Button>
                                )}
                              </div>
                            ))}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
            </div>
          </Card>
        ))}
      </div>
    </>
  );
}
