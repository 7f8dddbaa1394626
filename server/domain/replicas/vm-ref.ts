import { AppError } from '../../core/errors';

/**
 * Finds a VM by what an administrator calls it (Danube Cloud's `hostname_or_uuid`): its name on
 * any node, or its libvirt UUID. A replicated VM is defined on its replica nodes too, so the VM is
 * its master's: the node its replicas are sent from. Without replicas, a name on two nodes is two
 * VMs, and the answer names both.
 */
export interface VmRefNode {
  siteId: number;
  siteName: string;
  /** The node's VMs, or null when it could not be asked (`error` says why). */
  vms: { name: string; uuid: string }[] | null;
  error?: string;
}

export interface VmRefFacts {
  nodes: VmRefNode[];
  replicas: { vmName: string; sourceSiteId: number }[];
}

export interface VmRef {
  vmName: string;
  /** The VM's master node. */
  siteId: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function resolveVmRef(ref: string, facts: VmRefFacts): VmRef {
  const name = (id: number) => facts.nodes.find((n) => n.siteId === id)?.siteName ?? `site #${id}`;
  const unasked = facts.nodes.filter((n) => !n.vms);
  const note = unasked.length
    ? ` (not asked: ${unasked.map((n) => `${n.siteName}: ${n.error ?? 'no answer'}`).join('; ')})`
    : '';
  let vmName = ref;
  let onNodes: number[] | null = null;
  const hits = facts.nodes.flatMap((n) =>
    (n.vms ?? [])
      .filter((v) => v.uuid.toLowerCase() === ref.toLowerCase())
      .map((v) => ({ siteId: n.siteId, name: v.name })),
  );
  if (!hits.length && UUID.test(ref))
    throw new AppError('NOT_FOUND', `no VM with the UUID ${ref} on any node${note}`);
  if (hits.length) {
    const names = [...new Set(hits.map((h) => h.name))];
    if (names.length > 1)
      throw new AppError(
        'CONFLICT',
        `the UUID ${ref} belongs to VMs of different names: ${hits.map((h) => `${h.name} on ${name(h.siteId)}`).join(', ')}`,
      );
    vmName = names[0]!;
    onNodes = hits.map((h) => h.siteId);
  }
  const masters = [
    ...new Set(facts.replicas.filter((r) => r.vmName === vmName).map((r) => r.sourceSiteId)),
  ].filter((id) => !onNodes || onNodes.includes(id));
  if (masters.length === 1) return { vmName, siteId: masters[0]! };
  if (masters.length > 1)
    throw new AppError(
      'CONFLICT',
      `"${vmName}" is replicated from ${masters.map(name).join(' and ')}: two VMs of one name; name it by its UUID`,
    );
  const live = facts.nodes.filter(
    (n) => n.vms?.some((v) => v.name === vmName) && (!onNodes || onNodes.includes(n.siteId)),
  );
  if (live.length === 1) return { vmName, siteId: live[0]!.siteId };
  if (live.length > 1)
    throw new AppError(
      'CONFLICT',
      `a VM named "${vmName}" exists on ${live.map((n) => n.siteName).join(' and ')}; name it by its UUID`,
    );
  throw new AppError('NOT_FOUND', `no VM named "${vmName}" on any node${note}`);
}
