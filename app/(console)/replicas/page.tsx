'use client';

import { useQuery } from '@tanstack/react-query';
import Link from 'next/link';
import { useMemo, useState } from 'react';
import { DataTable, tableColumns } from '@/components/data-table';
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
import { errorText, useTRPC, type RouterOutputs } from '@/components/trpc';
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

type Inventory = RouterOutputs['overview']['vms'];
type NodeInventory = Inventory['nodes'][number];
type Replica = RouterOutputs['replicas']['list'][number];
type Failover = { id: number; vmName: string };

/**
 * A row of a node's table: a VM the node reports, or one Tandem knows from its stored definition but
 * the node does not list (it has gone, or the node does not answer). `mine` are the VM's replicas.
 */
type VmRow = { name: string; siteId: number; mine: Replica[] } & (
  | { stored: false; vm: NodeInventory['vms'][number]; twice: ReturnType<typeof twiceOn> }
  | { stored: true; vm: NodeInventory['stored'][number] }
);

function nodeRows(inv: Inventory, n: NodeInventory, reps: Replica[]): VmRow[] {
  const siteId = n.site.id;
  return [
    ...n.vms.map((vm) => ({
      stored: false as const,
      name: vm.name,
      siteId,
      vm,
      twice: twiceOn(inv, vm.name, siteId),
      mine: reps.filter(
        (r) => r.vmName === vm.name && (r.sourceSiteId === siteId || r.targetSiteId === siteId),
      ),
    })),
    ...n.stored.map((vm) => ({
      stored: true as const,
      name: vm.vmName,
      siteId,
      vm,
      mine: reps.filter((r) => vm.replicaIds.includes(r.id)),
    })),
  ];
}

const col = tableColumns<VmRow>();

/** The columns of a node's VMs; a stored VM's replica offers its failover through `onFailover`. */
function vmColumns(onFailover: (f: Failover) => void) {
  return [
    col.accessor('name', {
      header: 'VM',
      meta: { className: 'font-medium' },
      cell: ({ row: { original: r } }) => (
        <Link
          className="text-brand-600 hover:underline dark:text-sky-400"
          href={`/replicas/${r.siteId}/${encodeURIComponent(r.name)}`}
        >
          {r.name}
        </Link>
      ),
    }),
    col.accessor(
      (r) => (r.stored ? (r.vm.nodeReachable ? 'not on its node' : 'node unreachable') : r.vm.state),
      {
        id: 'state',
        header: 'State',
        cell: ({ row: { original: r }, getValue }) =>
          r.stored ? (
            <>
              <Badge tone="error" title={r.vm.reason}>
                {getValue()}
              </Badge>
              <p className="mt-0.5 max-w-56 text-xs text-zinc-500">{r.vm.reason}</p>
            </>
          ) : (
            <span className="space-x-1">
              <Badge tone={r.vm.state === 'running' ? 'ok' : r.vm.state === 'stopped' ? 'muted' : 'warn'}>
                {r.vm.state}
              </Badge>
              {r.twice && <RunningTwiceBadge sites={r.twice.sites} />}
            </span>
          ),
      },
    ),
    col.display({
      id: 'size',
      header: 'vCPUs / RAM',
      cell: ({ row: { original: r } }) => (
        <>
          {r.vm.vcpus} / {formatBytes(r.vm.memoryMiB * 1024 * 1024)}
        </>
      ),
    }),
    col.display({
      id: 'disks',
      header: 'Disks',
      meta: { className: 'text-zinc-600 dark:text-zinc-400' },
      cell: ({ row: { original: r } }) =>
        r.stored ? (
          <>
            <span title={storedFacts(r.vm)}>{r.vm.disks.map((d) => d.device).join(', ') || '—'}</span>
            {r.vm.lastKnownState && (
              <p className="text-xs text-zinc-500">last known: {r.vm.lastKnownState}</p>
            )}
          </>
        ) : (
          r.vm.disks.map((d) => `${d.device} ${formatBytes(d.sizeBytes)}`).join(', ') || '—'
        ),
    }),
    col.display({
      id: 'replicas',
      header: 'Replicas',
      cell: ({ row: { original: r } }) =>
        r.stored ? (
          <div className="space-y-1">
            {r.mine.map((rep) => (
              <div key={rep.id} className="flex flex-wrap items-center gap-1.5">
                {`${rep.name} → ${rep.targetSite}`} <ReplicaStateBadge state={rep.state} />
                {rep.lagSec !== null && (
                  <span className="text-xs text-zinc-500">
                    last sync {formatDuration(rep.lagSec * 1000)} ago
                  </span>
                )}
                {rep.state !== 'reinit-required' && (
                  <Button
                    variant="danger"
                    className="px-2 py-0.5 text-xs"
                    onClick={() => onFailover({ id: rep.id, vmName: rep.vmName })}
                  >
                    Fail over to {rep.targetSite}…
                  </Button>
                )}
              </div>
            ))}
          </div>
        ) : (
          <div className="space-y-0.5">
            {r.mine.length === 0 && <span className="text-zinc-500">none</span>}
            {r.mine.map((rep) => (
              <div key={rep.id} className="flex items-center gap-1.5">
                {rep.sourceSiteId === r.siteId
                  ? `${rep.name} → ${rep.targetSite}`
                  : `replica ${rep.name} of ${rep.sourceSite}`}{' '}
                <ReplicaStateBadge state={rep.state} />
                {rep.lagSec !== null && (
                  <span className="text-xs text-zinc-500">lag {formatDuration(rep.lagSec * 1000)}</span>
                )}
              </div>
            ))}
          </div>
        ),
    }),
  ];
}

export default function ReplicasPage() {
  const trpc = useTRPC();
  const vms = useQuery({
    ...trpc.overview.vms.queryOptions(),
    refetchInterval: (q) => inventoryRefetch(q.state.data),
  });
  const reps = useQuery({ ...trpc.replicas.list.queryOptions(), refetchInterval: 5_000 });
  const [failover, setFailover] = useState<Failover | null>(null);
  const columns = useMemo(() => vmColumns(setFailover), []);
  const inv = vms.data;
  const rows = useMemo(
    () => new Map(inv?.nodes.map((n) => [n.site.id, nodeRows(inv, n, reps.data ?? [])])),
    [inv, reps.data],
  );
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
              <DataTable
                columns={columns}
                data={rows.get(n.site.id) ?? []}
                rowKey={(r) => (r.stored ? `stored:${r.name}` : r.name)}
                rowProps={(r) => ({
                  className: 'align-top',
                  'data-testid': 'vm-row',
                  'data-vm': r.name,
                  'data-stored': r.stored ? 'true' : undefined,
                })}
                empty={n.status === 'answered' && <Empty>No VMs on this node.</Empty>}
              />
            </div>
          </Card>
        ))}
      </div>
    </>
  );
}
