'use client';

import { useQuery } from '@tanstack/react-query';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, Card, DemoBadge, Empty, ErrorBox, PageTitle, formatBytes } from '@/components/ui';

export default function ReplicasPage() {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.overview.vms.queryOptions(), refetchInterval: 15_000 });
  return (
    <>
      <PageTitle>Replicas (VMs)</PageTitle>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.data?.length === 0 && <Empty>No compute nodes are registered.</Empty>}
      <div className="space-y-4">
        {q.data?.map((n) => (
          <Card key={n.site.id} title={<span className="flex items-center gap-2">{n.site.name} {n.site.demo && <DemoBadge />}</span>}>
            {n.error && <ErrorBox error={n.error} />}
            {!n.error && n.vms.length === 0 && <Empty>No VMs on this node.</Empty>}
            {n.vms.length > 0 && (
              <table className="w-full text-left text-sm">
                <thead className="text-xs text-zinc-500 uppercase">
                  <tr>
                    <th className="py-1">VM</th>
                    <th>State</th>
                    <th>vCPUs</th>
                    <th>RAM</th>
                    <th>Disks</th>
                  </tr>
                </thead>
                <tbody>
                  {n.vms.map((vm) => (
                    <tr key={vm.name} className="border-t border-zinc-100 dark:border-zinc-800">
                      <td className="py-1.5 font-medium">{vm.name}</td>
                      <td>
                        <Badge tone={vm.state === 'running' ? 'ok' : vm.state === 'stopped' ? 'muted' : 'warn'}>{vm.state}</Badge>
                      </td>
                      <td>{vm.vcpus}</td>
                      <td>{formatBytes(vm.memoryMiB * 1024 * 1024)}</td>
                      <td className="text-zinc-600 dark:text-zinc-400">{vm.disks.map((d) => `${d.device} ${formatBytes(d.sizeBytes)}`).join(', ') || '—'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Card>
        ))}
      </div>
    </>
  );
}
