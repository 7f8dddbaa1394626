'use client';

import { useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { use, useState } from 'react';
import { CreateReplicaForm } from '@/components/replicas/create-form';
import {
  NodeStatusBadge,
  NodeStatusLine,
  RunningTwiceAlert,
  inventoryRefetch,
  nodeDown,
  storedFacts,
} from '@/components/replicas/inventory';
import { ReplicaCard } from '@/components/replicas/replica-card';
import { useTaskEvents } from '@/components/task-events';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, Button, Card, DemoBadge, Empty, ErrorBox, PageTitle, formatBytes } from '@/components/ui';

export default function VmPage({ params }: { params: Promise<{ siteId: string; vm: string }> }) {
  const p = use(params);
  const siteId = Number(p.siteId);
  const vmName = decodeURIComponent(p.vm);
  const trpc = useTRPC();
  const router = useRouter();
  const [adding, setAdding] = useState(false);
  const inv = useQuery({
    ...trpc.overview.vms.queryOptions(),
    refetchInterval: (q) => inventoryRefetch(q.state.data),
  });
  const reps = useQuery({ ...trpc.replicas.list.queryOptions({ vmName }), refetchInterval: 5_000 });
  // The tab's task stream refetches this VM's replicas when one of its tasks changes state or step.
  useTaskEvents();
  const node = inv.data?.nodes.find((n) => n.site.id === siteId);
  const vm = node?.vms.find((v) => v.name === vmName);
  // Known only from its stored replicas: the node does not answer (or does not show it).
  const stored = vm ? undefined : node?.stored.find((v) => v.vmName === vmName);
  const mine = (reps.data ?? []).filter((r) => r.sourceSiteId === siteId || r.targetSiteId === siteId);
  return (
    <>
      <PageTitle
        actions={
          vm &&
          !adding &&
          node?.status === 'answered' && (
            <Button variant="primary" onClick={() => setAdding(true)}>
              Add replica
            </Button>
          )
        }
      >
        <span className="flex items-center gap-2">
          {vmName}{' '}
          <span className="text-base font-normal text-zinc-500">
            on {node?.site.name ?? `site #${siteId}`}
          </span>{' '}
          {node?.site.demo && <DemoBadge />} {node && <NodeStatusBadge node={node} />}
        </span>
      </PageTitle>
      {inv.error && <ErrorBox error={errorText(inv.error)} />}
      {inv.data && <RunningTwiceAlert inv={inv.data} vmName={vmName} />}
      {node && !(stored && !stored.nodeReachable) && <NodeStatusLine node={node} />}
      {vm && (
        <p className="mb-4 text-sm text-zinc-600 dark:text-zinc-400">
          <Badge tone={vm.state === 'running' ? 'ok' : 'muted'}>{vm.state}</Badge> · {vm.vcpus} vCPUs ·{' '}
          {formatBytes(vm.memoryMiB * 1024 * 1024)} RAM · disks:{' '}
          {vm.disks
            .map((d) => `${d.device} (${d.dataset ?? d.path}, ${formatBytes(d.sizeBytes)})`)
            .join(', ')}
        </p>
      )}
      {stored && (
        <div
          className="mb-4 rounded-md border border-red-300 bg-red-50 px-3 py-2 text-sm text-red-900 dark:border-red-800 dark:bg-red-950 dark:text-red-100"
          data-testid="vm-unreachable"
        >
          <p className="font-medium">
            {stored.nodeReachable
              ? `${vmName} is not defined on ${node?.site.name}.`
              : `Node unreachable: ${stored.reason}.`}{' '}
            What Tandem knows of {vmName} comes from its stored replica(s):
          </p>
          <p className="mt-1">{storedFacts(stored)}</p>
          <p className="mt-1">To run it elsewhere, fail over to one of the replicas below.</p>
        </div>
      )}
      {node && !vm && !stored && !nodeDown(node) && (
        <ErrorBox error={`VM ${vmName} is not on this node (it may have been failed over).`} />
      )}
      {adding && vm && (
        <Card title="New replica" className="mb-4">
          <CreateReplicaForm
            siteId={siteId}
            vm={vm}
            onCreated={(taskId) => router.push(`/tasks/${taskId}`)}
            onCancel={() => setAdding(false)}
          />
        </Card>
      )}
      {reps.error && <ErrorBox error={errorText(reps.error)} />}
      {reps.data && mine.length === 0 && <Empty>This VM has no replicas yet.</Empty>}
      <div className="space-y-4">
        {mine.map((r) => (
          <ReplicaCard key={r.id} r={r} />
        ))}
      </div>
    </>
  );
}
