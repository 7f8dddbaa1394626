/**
 * What Tandem needs from a compute node. Implemented over SSH (zfs + a hypervisor driver) and by
 * the demo simulation. Numbers are exact bytes; guids and txgs are strings (they exceed 2^53).
 */
export interface NodeProbe {
  hostname: string;
  zfsAvailable: boolean;
  hypervisor: string;
  hypervisorAvailable: boolean;
}

export interface NodeCapacity {
  cpus: number;
  memoryMiB: number;
}

export interface ZpoolInfo {
  name: string;
  sizeBytes: number;
  allocBytes: number;
  freeBytes: number;
  health: string;
}

export type VmState = 'running' | 'stopped' | 'paused' | 'unknown';

export interface VmDisk {
  /** Device name in the guest, e.g. `vda`. */
  device: string;
  /** Path of the disk on the node (image file or zvol device). */
  path: string;
  /** Dataset that holds the disk (filesystem with an image file, or a zvol). */
  dataset: string;
  kind: 'file' | 'zvol';
  sizeBytes: number;
}

export interface VmInfo {
  name: string;
  uuid: string;
  state: VmState;
  vcpus: number;
  memoryMiB: number;
  disks: VmDisk[];
}

export interface NodeAdapter {
  readonly kind: 'node';
  probe(signal?: AbortSignal): Promise<NodeProbe>;
  capacity(): Promise<NodeCapacity>;
  listZpools(): Promise<ZpoolInfo[]>;
  listVms(): Promise<VmInfo[]>;
}
