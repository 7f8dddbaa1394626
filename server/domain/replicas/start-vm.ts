import type { NodeAdapter } from '../../adapters/node/types';
import { AppError } from '../../core/errors';

/**
 * Starts a VM only when every disk of it is on a writable dataset. A disk on a read-only dataset is
 * a replica: a VM started on it would write into the copy that replication keeps (and libvirt opens
 * such a disk read-write and fails later). Every start Tandem makes goes through here; the node
 * adapters only execute.
 */
export async function startVmOnWritableDisks(
  node: Pick<NodeAdapter, 'getVm' | 'startVm'> & { zfs: Pick<NodeAdapter['zfs'], 'getReadonly'> },
  name: string,
  opts: { paused?: boolean } = {},
): Promise<void> {
  const vm = await node.getVm(name);
  if (!vm) throw new AppError('NOT_FOUND', `VM ${name} is not defined on this node`);
  if (vm.state === 'running' || vm.state === 'paused') return;
  for (const d of vm.disks) {
    if (d.dataset && (await node.zfs.getReadonly(d.dataset)))
      throw new AppError(
        'PRECONDITION_FAILED',
        `VM ${name}: disk ${d.device} is on read-only dataset ${d.dataset} (a replica); make it writable first`,
        { details: { dataset: d.dataset } },
      );
  }
  await node.startVm(name, opts);
}
