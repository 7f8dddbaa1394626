/**
 * What Tandem needs from a compute node. Implemented over SSH (zfs + a hypervisor driver) and by
 * the demo simulation. Numbers are exact bytes; guids and txgs are strings (they exceed 2^53).
 *
 * Every dataset, snapshot and VM name is checked against NAME_PATTERNS (server/adapters/quote.ts)
 * before it reaches a command; an invalid one is refused with INVALID_INPUT.
 */
export interface NodeProbe {
  hostname: string;
  zfsAvailable: boolean;
  hypervisor: string;
  hypervisorAvailable: boolean;
  /** `pv` is installed (needed on a node that pulls replicas: it meters and limits the stream). */
  pvAvailable: boolean;
}

export interface NodeCapacity {
  cpus: number;
  memoryMiB: number;
}

/**
 * Space of a pool as datasets see it, read from the pool's root dataset with `zfs get -Hp`
 * (exact on zfs-fuse and OpenZFS alike): `freeBytes` is what a receive can still write.
 * `sizeBytes` = `allocBytes` + `freeBytes` (slightly below the raw vdev size).
 */
export interface ZpoolInfo {
  name: string;
  sizeBytes: number;
  allocBytes: number;
  freeBytes: number;
  health: string;
}

// ---------------------------------------------------------------- ZFS

export interface DatasetInfo {
  name: string;
  type: 'filesystem' | 'volume';
  usedBytes: number;
  availableBytes: number;
  referencedBytes: number;
  /** Space held by the dataset's snapshots together (blocks they keep that the live data freed). */
  usedBySnapshotsBytes: number;
  guid: string;
  createTxg: string;
  /** Unix seconds. */
  creation: number;
  /** Null for volumes and for `legacy`/`none`. */
  mountpoint: string | null;
  mounted: boolean;
  /**
   * Effective read-only flag: the `tandem:readonly` mirror when set, else the `readonly`
   * property (which zfs-fuse reports as `off` while mounted even when `on` is in force).
   */
  readonly: boolean;
  /** `pool/fs@snap` this dataset was cloned from, or null. */
  origin: string | null;
}

export interface SnapshotInfo {
  /** Dataset the snapshot belongs to. */
  dataset: string;
  /** Short name (after `@`). */
  name: string;
  guid: string;
  createTxg: string;
  /** Unix seconds. */
  creation: number;
  /** Space held only by this snapshot. */
  usedBytes: number;
  referencedBytes: number;
}

/** Snapshots per dataset, oldest first (by createtxg). */
export type SnapshotsByDataset = Record<string, SnapshotInfo[]>;

export interface WrittenEstimate {
  /** Best estimate (see estimateWrittenSince in zfs.ts for the zfs-fuse approximation). */
  bytes: number;
  /** Upper bound (equal to bytes when exact). */
  maxBytes: number;
  /** True when the pool reports `written@snap` (OpenZFS); false for the zfs-fuse estimate. */
  exact: boolean;
}

/** An SSH host public key as a known_hosts line carries it. */
export interface HostPublicKey {
  /** `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, … (the type inside the key). */
  type: string;
  /** The key in SSH wire form, base64. */
  base64: string;
}

/** Where the target node reaches the source node over SSH. */
export interface SourceSpec {
  host: string;
  port: number;
  user: string;
  /**
   * Host alias in the target node's ~/.ssh/config (e.g. `node1` in the lab). When set, it is
   * used instead of host/port/user, so the node's ssh config decides how to connect.
   */
  alias?: string | null;
  /**
   * `tandem-site-<id>`: the source's entry in Tandem's own known_hosts file on the target
   * (`~/.ssh/tandem_known_hosts`, see known-hosts.ts). When set, the pull's ssh checks the
   * source's host key against that entry only (StrictHostKeyChecking=yes, HostKeyAlias), and a
   * different key refuses the pull. Unset: the node's own ssh configuration decides.
   */
  hostKeyAlias?: string | null;
}

export interface PullOptions {
  source: SourceSpec;
  sourceDataset: string;
  /** Short snapshot name of the last common snapshot, or null for a full send. */
  fromSnapshot: string | null;
  toSnapshot: string;
  targetDataset: string;
  /** `zfs send -R` (children, properties, all snapshots). Default true. */
  recursive?: boolean;
  /** With fromSnapshot: `-I` (all intermediate snapshots, default) or `-i` (false). */
  intermediates?: boolean;
  bandwidthLimitBytesPerSec: number | null;
  /** Bytes received so far (from `pv -n -b`), called about twice a second. */
  onProgress?: (bytes: number) => void;
  signal?: AbortSignal;
  /** Whole-transfer timeout. Default 12 h. */
  timeoutMs?: number;
}

export interface TransferResult {
  bytes: number;
  seconds: number;
}

// ---------------------------------------------------------------- VMs

export type VmState = 'running' | 'stopped' | 'paused' | 'unknown';

export interface VmDisk {
  /** Device name in the guest, e.g. `vda`. */
  device: string;
  /** Path of the disk on the node (image file or zvol device). */
  path: string;
  /**
   * Dataset that holds the disk (filesystem with an image file, or a zvol), or null when the
   * path is on no ZFS dataset of the node.
   */
  dataset: string | null;
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

/** A VM definition in the hypervisor's own format (libvirt domain XML, vmadm JSON). */
export interface VmDefinition {
  format: 'libvirt-xml' | 'vmadm-json';
  name: string;
  text: string;
}

export interface DiskPathChange {
  /** Disk source path in the definition (on the source node). */
  from: string;
  /** Path on the target node. A `/dev/zvol/…` path makes the disk a block device. */
  to: string;
}

/** What a rewritten definition does with the VM's network interfaces (a test VM's). */
export type NetworkRewrite =
  /** Every `<interface>` is removed: the VM has no network device at all. */
  | { kind: 'none' }
  /**
   * Every interface is put on the libvirt network `network` (an isolated one the admin made):
   * `<interface type='network'><source network='…'/>`, its model (and boot order) kept, its MAC,
   * bridge, target, virtualport, vlan and filter dropped; libvirt assigns a new MAC.
   */
  | { kind: 'isolated'; network: string };

export interface RewriteOptions {
  /** Every disk (device='disk') of the definition must be listed, or the rewrite is refused. */
  disks: DiskPathChange[];
  /** New VM name (default: keep). */
  name?: string;
  /**
   * New UUID; null removes it (the hypervisor assigns one); undefined keeps it. A changed or
   * removed UUID changes or removes the SMBIOS system uuid (`<sysinfo>`) too: libvirt refuses
   * one that differs from `<uuid>`, and takes it as the domain's uuid when `<uuid>` is missing.
   */
  uuid?: string | null;
  /** Network interfaces: removed or moved to another network; undefined keeps them as they are. */
  network?: NetworkRewrite;
  /**
   * Keep device addresses (PCI slots). Default false: they are removed and the target assigns
   * them. Keeping them keeps guest NIC/disk names stable when both nodes run the same machine type.
   */
  keepAddresses?: boolean;
}

export interface StartOptions {
  /** Start with vCPUs paused (`virsh start --paused`; the lab's OS-less guests). */
  paused?: boolean;
}

export interface StopOptions {
  /** How long to wait for a clean shutdown before forcing it off. Default 60 s. */
  graceMs?: number;
}

// ---------------------------------------------------------------- the adapter

/**
 * ZFS on a node: pools, datasets, snapshots, holds and properties. Dataset arguments are full paths
 * (`zones/vm1-disk0`), snapshot arguments short names.
 */
export interface NodeZfs {
  listZpools(): Promise<ZpoolInfo[]>;
  /** Filesystems and volumes at and under `root`. NOT_FOUND when root does not exist. */
  listDatasets(root: string): Promise<DatasetInfo[]>;
  /** Snapshots at and under `root`, grouped by dataset, oldest first. NOT_FOUND when root does not exist. */
  listSnapshots(root: string): Promise<SnapshotsByDataset>;
  /**
   * `zfs snapshot [-r] ds@name` for each dataset; one atomic command where the platform allows
   * several (OpenZFS), else one per dataset (zfs-fuse): pause the VM around it for a
   * crash-consistent set. Returns the new snapshots of the named datasets.
   */
  createSnapshots(datasets: string[], name: string, opts?: { recursive?: boolean }): Promise<SnapshotInfo[]>;
  /** Destroys `ds@name` for each name (retries "dataset is busy"); missing ones are ignored. */
  destroySnapshots(dataset: string, names: string[], opts?: { recursive?: boolean }): Promise<void>;
  /** `zfs rollback -r ds@snap`: later snapshots are destroyed. */
  rollback(dataset: string, snapshot: string): Promise<void>;
  /** `zfs destroy [-r]` (retries "dataset is busy"); a missing dataset is not an error. */
  destroyDataset(dataset: string, opts?: { recursive?: boolean }): Promise<void>;
  renameDataset(from: string, to: string): Promise<void>;
  /** `zfs clone ds@snap target` (e.g. to keep diverged state before a forced resync). */
  cloneSnapshot(dataset: string, snapshot: string, target: string): Promise<void>;
  /**
   * `zfs promote clone`: the clone takes over its origin's snapshots up to the origin snapshot
   * (same guids); the former origin becomes a clone of it.
   */
  promoteDataset(dataset: string): Promise<void>;
  /** Sets user properties (`tandem:*` only). */
  setProperties(dataset: string, props: Record<string, string>): Promise<void>;
  /** Reads properties (user or native); `-` becomes null. */
  getProperties(dataset: string, names: string[]): Promise<Record<string, string | null>>;
  /** Sets `readonly` and the `tandem:readonly` mirror. */
  setReadonly(dataset: string, readonly: boolean): Promise<void>;
  /** The effective read-only flag (mirror first; see DatasetInfo.readonly). */
  getReadonly(dataset: string): Promise<boolean>;
  /** Bytes written to the dataset since the snapshot (≈ size of the next incremental send). */
  estimateWritten(dataset: string, snapshot: string): Promise<WrittenEstimate>;
  /**
   * Exactly whether data was written since the snapshot: `written@snap` where the platform has
   * it, else the data records of an incremental stream to a temporary snapshot (zfs-fuse).
   * Metadata-only changes (atime) do not count.
   */
  changedSince(dataset: string, snapshot: string): Promise<{ changed: boolean; bytes: number }>;
  /**
   * A full, independent local copy of `dataset@snapshot` as `target` (`zfs send | zfs recv`):
   * the copy's snapshot keeps its guid, so incremental streams based on it still apply, and no
   * clone ties the two datasets together.
   */
  copySnapshot(dataset: string, snapshot: string, target: string): Promise<void>;
  /** `zfs hold tag ds@snap`: a held snapshot refuses `zfs destroy`. Holding it twice is harmless. */
  holdSnapshot(dataset: string, snapshot: string, tag: string): Promise<void>;
  /** Releases `tag` from every snapshot of the dataset that has it, except `except`. Returns what it released. */
  releaseHolds(dataset: string, tag: string, except?: string | null): Promise<string[]>;
}

export interface NodeAdapter {
  readonly kind: 'node';
  /** The node's ZFS, called directly: `node.zfs.listSnapshots(root)`. */
  readonly zfs: NodeZfs;
  probe(signal?: AbortSignal): Promise<NodeProbe>;
  capacity(): Promise<NodeCapacity>;

  /**
   * The host key this node presented to Tandem's own connection, which accepts only the pinned
   * one (the demo nodes have simulated keys).
   */
  hostKey(): Promise<HostPublicKey>;
  /**
   * Makes Tandem's known_hosts file on THIS node hold exactly `key` under `alias`
   * (`tandem-site-<id>`), other entries kept; replaced atomically, and only when it differs.
   * Returns whether it was written.
   */
  trustHostKey(alias: string, key: HostPublicKey): Promise<boolean>;
  /**
   * Runs on THIS (target) node: `ssh <source> zfs send … | pv -n -b [-L] | zfs recv -F target`.
   * An interrupted transfer is repaired by pulling again from the last common snapshot.
   */
  pull(opts: PullOptions): Promise<TransferResult>;

  // Hypervisor
  listVms(): Promise<VmInfo[]>;
  /** Null when the VM is not defined on this node. */
  getVm(name: string): Promise<VmInfo | null>;
  /** Null when the VM is not defined on this node. */
  getVmState(name: string): Promise<VmState | null>;
  /**
   * Whether a TCP connection to `host`:`port` opens from this node within `timeoutMs` (a recovery
   * plan's readiness check of a started VM). `detail` says why not.
   */
  checkTcp(host: string, port: number, timeoutMs: number): Promise<{ open: boolean; detail: string }>;
  /**
   * Starts a stopped VM, and only that: whether it may start (defined, not running, no disk on a
   * read-only replica) is decided once, by the domain's startVmOnWritableDisks.
   */
  startVm(name: string, opts?: StartOptions): Promise<void>;
  /** Shutdown → wait → force off; a paused VM is forced off at once. No-op when stopped. */
  stopVm(name: string, opts?: StopOptions): Promise<void>;
  pauseVm(name: string): Promise<void>;
  resumeVm(name: string): Promise<void>;
  /**
   * The persistent definition with its secrets (`virsh dumpxml --inactive --security-info`:
   * console passwords), so that a VM defined from it elsewhere keeps them. Never show, log or
   * store it as it is (see stripDomainSecrets).
   */
  dumpVm(name: string): Promise<VmDefinition>;
  /** Pure: adapts a definition from another node to this node's disk paths. */
  rewriteVm(def: VmDefinition, opts: RewriteOptions): VmDefinition;
  /** Defines (or redefines) the VM; returns its name. */
  defineVm(def: VmDefinition): Promise<string>;
  /** Removes the definition (not the disks). Refused while the VM runs. No-op when absent. */
  undefineVm(name: string): Promise<void>;
}
