import { AppError } from '../../core/errors';
import type { NodeCapacity, RewriteOptions, StopOptions, VmDefinition, VmState } from './types';

/**
 * A disk as the hypervisor sees it; SshNodeAdapter resolves the dataset from the node's ZFS
 * mountpoints (file images) or the device path (/dev/zvol/<dataset>, /dev/zvol/[r]dsk/<dataset>).
 */
export interface HypervisorDisk {
  device: string;
  path: string;
  kind: 'file' | 'zvol';
  /** Virtual size when the hypervisor knows it. */
  sizeBytes: number | null;
}

export interface HypervisorVm {
  name: string;
  uuid: string;
  state: VmState;
  vcpus: number;
  memoryMiB: number;
  disks: HypervisorDisk[];
}

/**
 * What a hypervisor must offer Tandem. Small on purpose: libvirt (virsh) implements it here; a
 * SmartOS driver maps it onto `vmadm list/get/start/stop/create/delete` with JSON definitions.
 * Names are validated by the caller (SshNodeAdapter) before they reach a driver.
 */
export interface HypervisorDriver {
  readonly name: 'libvirt' | 'vmadm';
  readonly definitionFormat: VmDefinition['format'];
  /** Whether the hypervisor CLI answers. */
  available(signal?: AbortSignal): Promise<boolean>;
  capacity(): Promise<NodeCapacity>;
  list(): Promise<HypervisorVm[]>;
  /** Null when not defined. */
  get(name: string): Promise<HypervisorVm | null>;
  /** Null when not defined. */
  state(name: string): Promise<VmState | null>;
  start(name: string, opts: { paused: boolean }): Promise<void>;
  stop(name: string, opts: StopOptions): Promise<void>;
  pause(name: string): Promise<void>;
  resume(name: string): Promise<void>;
  dump(name: string): Promise<VmDefinition>;
  /** Pure. */
  rewrite(def: VmDefinition, opts: RewriteOptions): VmDefinition;
  /** Returns the defined VM's name. */
  define(def: VmDefinition): Promise<string>;
  undefine(name: string): Promise<void>;
}

/** Placeholder for nodes configured with a hypervisor Tandem has no driver for yet. */
export class UnsupportedDriver implements HypervisorDriver {
  readonly definitionFormat = 'vmadm-json' as const;
  constructor(readonly name: 'vmadm') {}

  #no(): never {
    throw new AppError(
      'PRECONDITION_FAILED',
      `the ${this.name} hypervisor driver is not available in this version of Tandem`,
    );
  }

  async available(): Promise<boolean> {
    return false;
  }
  capacity(): Promise<NodeCapacity> {
    return this.#no();
  }
  list(): Promise<HypervisorVm[]> {
    return this.#no();
  }
  get(): Promise<HypervisorVm | null> {
    return this.#no();
  }
  state(): Promise<VmState | null> {
    return this.#no();
  }
  start(): Promise<void> {
    return this.#no();
  }
  stop(): Promise<void> {
    return this.#no();
  }
  pause(): Promise<void> {
    return this.#no();
  }
  resume(): Promise<void> {
    return this.#no();
  }
  dump(): Promise<VmDefinition> {
    return this.#no();
  }
  rewrite(): VmDefinition {
    return this.#no();
  }
  define(): Promise<string> {
    return this.#no();
  }
  undefine(): Promise<void> {
    return this.#no();
  }
}
