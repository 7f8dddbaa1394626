'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { ReplicaStateBadge } from '@/components/replicas/state';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, Card, DemoBadge, Empty, ErrorBox, PageTitle, formatBytes, formatDuration } from '@/components/ui';

export default function ReplicasPage() {
  const trpc = useTRPC();
  const vms = useQuery({ ...trpc.overview.vms.queryOptions(), refetchInterval: 15_000 });
  const reps = useQuery({ ...trpc.replicas.list.queryOptions(), refetchInterval: 5_000 });
  return (
    <>
      <PageTitle>Replicas (VMs)</PageTitle>
      {vms.error && <ErrorBox error={errorText(vms.error)} />}
      {vms.data?.length === 0 && <Empty>No compute nodes are registered.</Empty>}
      <div className="space-y-4">
        {vms.data?.map((n) => (
          <Card key={n.site.id} title={<span className="flex items-center gap-2">{n.site.name} {n.site.demo && <DemoBadge />}</span>}>
            {n.error && <ErrorBox error={n.error} />}
            {!n.error && n.vms.length === 0 && <Empty>No VMs on this node.</Empty>}
            {n.vms.length > 0 && (
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
                    const mine = (reps.data ?? []).filter((r) => r.vmName === vm.name && (r.sourceSiteId === n.site.id || r.targetSiteId === n.site.id));
                    return (
                      <tr key={vm.name} className="border-t border-zinc-100 align-top dark:border-zinc-800" data-testid="vm-row">
                        <td className="py-1.5 font-medium">
                          <Link className="text-brand-600 hover:underline dark:text-sky-400" href={`/replicas/${n.site.id}/${encodeURIComponent(vm.name)}`}>
                            {vm.name}
                          </Link>
                        </td>
                        <td>
                          <Badge tone={vm.state === 'running' ? 'ok' : vm.state === 'stopped' ? 'muted' : 'warn'}>{vm.state}</Badge>
                        </td>
                        <td>
                          {vm.vcpus} / {formatBytes(vm.memoryMiB * 1024 * 1024)}
                        </td>
                        <td className="text-zinc-600 dark:text-zinc-400">{vm.disks.map((d) => `${d.device} ${formatBytes(d.sizeBytes)}`).join(', ') || '—'}</td>
                        <td className="space-y-0.5">
                          {mine.length === 0 && <span className="text-zinc-500">none</span>}
                          {mine.map((r) => (
                            <div key={r.id} className="flex items-center gap-1.5">
                              {r.sourceSiteId === n.site.id ? `${r.name} → ${r.targetSite}` : `replica ${r.name} of ${r.sourceSite}`} <ReplicaStateBadge state={r.state} />
                              {r.lagSec !== null && <span className="text-xs text-zinc-500">lag {formatDuration(r.lagSec * 1000)}</span>}
                            </div>
                          ))}
                        </td>
                      </tr>
                    );
                  })}
                </tbody>
              </table>
            )}
          </Card>
        ))}
      </div>
    </>
  );
}
