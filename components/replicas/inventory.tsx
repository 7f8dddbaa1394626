'use client';

import { clockTime } from '../connection';
import type { RouterOutputs } from '../trpc';
import { Badge, formatBytes, formatTime } from '../ui';

type VmInventory = RouterOutputs['overview']['vms'];
type NodeVms = VmInventory['nodes'][number];
type StoredVm = NodeVms['stored'][number];

/** Poll sooner while a node has not answered within the wait, so that its outcome shows quickly. */
export function inventoryRefetch(data: VmInventory | undefined): number {
  return data?.nodes.some((n) => n.status === 'waiting' || n.status === 'slow') ? 2_000 : 15_000;
}

export const nodeDown = (n: Pick<NodeVms, 'status'>) => n.status === 'unreachable' || n.status === 'waiting';

/** A node's badge: unreachable (with the reason as its title), not answering, or slow. */
export function NodeStatusBadge({ node }: { node: NodeVms }) {
  if (node.status === 'unreachable')
    return (
      <Badge tone="error" title={node.error}>
        node unreachable
      </Badge>
    );
  if (node.status === 'waiting')
    return (
      <Badge tone="error" title={node.error}>
        not answering
      </Badge>
    );
  if (node.status === 'slow')
    return (
      <Badge tone="warn" title={`no answer since ${clockTime(node.askedAt ?? 0)}`}>
        slow to answer
      </Badge>
    );
  return null;
}

/** One line saying why a node's VMs are missing or old. */
export function NodeStatusLine({ node }: { node: NodeVms }) {
  if (node.status === 'answered') return null;
  const text =
    node.status === 'unreachable'
      ? `${node.site.name} is unreachable: ${node.error}`
      : node.status === 'waiting'
        ? `${node.site.name} is not answering: ${node.error}`
        : `${node.site.name} is slow to answer: VMs as of ${clockTime(node.at ?? 0)}`;
  return (
    <p
      className={
        node.status === 'slow'
          ? 'mb-2 text-sm text-amber-700 dark:text-amber-400'
          : 'mb-2 text-sm text-red-700 dark:text-red-400'
      }
      data-testid="node-status"
      data-status={node.status}
    >
      {text}
    </p>
  );
}

/** The red alert for VMs running on two nodes at once. */
export function RunningTwiceAlert({ inv, vmName }: { inv: VmInventory; vmName?: string }) {
  const hits = inv.runningTwice.filter((t) => !vmName || t.vmName === vmName);
  if (hits.length === 0) return null;
  return (
    <div
      role="alert"
      className="mb-4 rounded-md border border-red-400 bg-red-50 px-3 py-2 text-sm text-red-800 dark:border-red-700 dark:bg-red-950 dark:text-red-200"
      data-testid="running-twice"
    >
      {hits.map((t) => (
        <p key={t.vmName}>
          <b>{t.vmName}</b> is running on two nodes at once:{' '}
          {t.sites.map((s) => `${s.name} (${s.role}, ${s.state})`).join(' and ')}. Both copies write to their
          own disks; stop the one that must not run.
        </p>
      ))}
    </div>
  );
}

export function twiceOn(inv: VmInventory | undefined, vmName: string, siteId: number) {
  return inv?.runningTwice.find((t) => t.vmName === vmName && t.sites.some((s) => s.id === siteId));
}

export function RunningTwiceBadge({ sites }: { sites: { name: string }[] }) {
  return (
    <Badge tone="error" title={`running on ${sites.map((s) => s.name).join(' and ')}`}>
      running on two nodes
    </Badge>
  );
}

/** What the stored replicas say about a VM whose master node does not show it. */
export function storedFacts(v: StoredVm): string {
  const parts = [`${v.vcpus} vCPUs`, `${formatBytes(v.memoryMiB * 1024 * 1024)} RAM`];
  if (v.lastKnownState)
    parts.unshift(
      `last known state ${v.lastKnownState}${v.definitionAt ? ` (${formatTime(v.definitionAt)})` : ''}`,
    );
  if (v.disks.length) parts.push(`disks: ${v.disks.map((d) => `${d.device} ${d.path}`).join(', ')}`);
  return parts.join(' · ');
}
