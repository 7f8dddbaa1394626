import crypto from 'node:crypto';
import type { Clock } from '../../core/clock';
import type { PoolMirrorSummary } from '../ceph/types';
import type { HostPublicKey, VmInfo, ZpoolInfo } from '../node/types';

/**
 * The demo environment: three compute nodes and two Ceph clusters simulated in process.
 * Everything that moves is a pure function of the injected clock (and the epoch the world was
 * created at), so tests that set the clock see exactly the same world every time. Node state
 * (datasets, snapshots, VM states) changes only through the node adapters' calls; guids are
 * derived from names and a per-node txg counter, so the same calls give the same world.
 */
export interface DemoNode {
  name: string;
  cpus: number;
  memoryMiB: number;
  zpools: { name: string; sizeBytes: number; baseAllocBytes: number }[];
  vms: VmInfo[];
  datasets: DemoDataset[];
  /** Transaction group counter (createtxg of new datasets and snapshots). */
  txg: number;
  /** Bytes of datasets per pool when the world was created (allocation is reported relative to it). */
  initialDatasetBytes: Record<string, number>;
  /** Tandem's known_hosts file on the node (`~/.ssh/tandem_known_hosts`): alias → line. */
  knownHosts: Record<string, string>;
  /**
   * Definitions as they were last defined, secrets included (what `virsh dumpxml --inactive
   * --security-info` returns), by VM name; VMs without one dump a rendered definition.
   */
  definitions: Record<string, string>;
}

export interface DemoSnapshot {
  name: string;
  guid: string;
  createTxg: number;
  /** Unix seconds. */
  creation: number;
  referencedBytes: number;
  usedBytes: number;
  /** Bytes written between the previous snapshot and this one (size of its incremental stream). */
  deltaBytes: number;
  /** `zfs hold` tags: a held snapshot cannot be destroyed. */
  holds?: string[];
}

export interface DemoDataset {
  name: string;
  guid: string;
  createTxg: number;
  /** Unix seconds. */
  creation: number;
  referencedBytes: number;
  /** Bytes per second written while the VM using it runs. */
  writeRate: number;
  /** Written since the latest snapshot, settled up to `writingSince`. */
  pendingBytes: number;
  /** World time (ms) since which the dataset is being written at writeRate; null when idle. */
  writingSince: number | null;
  /** Upper bound of referenced bytes (the disk size). */
  capacityBytes: number;
  props: Record<string, string>;
  readonly: boolean;
  origin: string | null;
  snapshots: DemoSnapshot[];
}

/** A replication stream in flight in the simulation. */
export interface DemoTransfer {
  id: number;
  sourceNode: string;
  targetNode: string;
  sourceDataset: string;
  targetDataset: string;
  totalBytes: number;
  bytesPerSec: number;
  startedAt: number;
  bytes: number;
}

export interface DemoImage {
  name: string;
  sizeBytes: number;
  /** Mirror snapshot schedule interval, seconds. */
  intervalSec: number;
  /** Bytes changed per second on the primary (drives sync duration). */
  writeRate: number;
}

export interface DemoCluster {
  name: string;
  siteName: string;
  fsid: string;
  pool: string;
  primary: boolean;
  images: DemoImage[];
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/** Deterministic 64-bit guid (decimal string) from a seed: FNV-1a. */
export function demoGuid(seed: string): string {
  let h = 0xcbf29ce484222325n;
  for (const ch of Buffer.from(seed, 'utf8')) {
    h ^= BigInt(ch);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return (h === 0n ? 1n : h).toString();
}

function vm(
  name: string,
  n: number,
  vcpus: number,
  memoryMiB: number,
  state: VmInfo['state'],
  disks: number[],
): VmInfo {
  return {
    name,
    uuid: `d3m0${n.toString(16).padStart(4, '0')}-0000-4000-8000-${name
      .padEnd(12, '0')
      .slice(0, 12)
      .replace(/[^0-9a-f]/g, 'a')}`,
    state,
    vcpus,
    memoryMiB,
    disks: disks.map((gb, i) => ({
      device: `vd${String.fromCharCode(97 + i)}`,
      path: `/zones/${name}-disk${i}/disk.img`,
      dataset: `zones/${name}-disk${i}`,
      kind: 'file' as const,
      sizeBytes: gb * GiB,
    })),
  };
}

/** Pool root datasets and one dataset per VM disk, as a node starts out. */
function seedDatasets(
  node: Omit<DemoNode, 'datasets' | 'txg' | 'initialDatasetBytes' | 'knownHosts' | 'definitions'>,
  epoch: number,
): { datasets: DemoDataset[]; txg: number } {
  let txg = 1;
  const creation = Math.floor(epoch / 1000) - 30 * 86400;
  const ds = (
    name: string,
    referencedBytes: number,
    capacityBytes: number,
    writeRate: number,
    writing: boolean,
    props: Record<string, string> = {},
  ): DemoDataset => ({
    name,
    guid: demoGuid(`${node.name}/${name}#${txg}`),
    createTxg: txg++,
    creation,
    referencedBytes,
    writeRate,
    pendingBytes: 0,
    writingSince: writing ? epoch : null,
    capacityBytes,
    props,
    readonly: false,
    origin: null,
    snapshots: [],
  });
  const datasets = node.zpools.map((p) => ds(p.name, 96 * 1024, p.sizeBytes, 0, false));
  for (const v of node.vms) {
    v.disks.forEach((d, i) => {
      const rate = Math.round((64 * 1024 * v.vcpus) / (i + 1));
      const props = { 'tandem:vm': v.name, 'tandem:disk': String(i) };
      datasets.push(
        ds(
          d.dataset!,
          Math.round(d.sizeBytes * (0.3 + 0.1 * (i % 4))),
          d.sizeBytes,
          rate,
          v.state === 'running',
          props,
        ),
      );
    });
  }
  return { datasets, txg };
}

export class DemoWorld {
  readonly epoch: number;
  readonly nodes: DemoNode[];
  readonly clusters: DemoCluster[];
  /**
   * Nodes and Ceph clusters that are powered off in the simulation: every call to them fails as
   * unreachable (a Ceph cluster after `unreachableAfterMs`, as the CLI's monitor bound does), and a
   * cluster's snapshot schedules do not run while it is off.
   */
  readonly down = new Set<string>();

  constructor(
    readonly clock: Clock,
    /** Simulated latency of each adapter call, ms (0 in unit tests). */
    readonly latencyMs = 250,
  ) {
    this.epoch = Math.floor(clock.now() / 3600_000) * 3600_000;
    const nodes: Omit<DemoNode, 'datasets' | 'txg' | 'initialDatasetBytes' | 'knownHosts' | 'definitions'>[] =
      [
        {
          name: 'demo-node1',
          cpus: 32,
          memoryMiB: 131072,
          zpools: [
            { name: 'zones', sizeBytes: 2000 * GiB, baseAllocBytes: 640 * GiB },
            { name: 'data', sizeBytes: 4000 * GiB, baseAllocBytes: 1500 * GiB },
          ],
          vms: [
            vm('web01', 1, 4, 8192, 'running', [40, 100]),
            vm('db01', 2, 8, 32768, 'running', [40, 500]),
            vm('mail01', 3, 2, 4096, 'stopped', [30]),
          ],
        },
        {
          name: 'demo-node2',
          cpus: 32,
          memoryMiB: 131072,
          zpools: [
            { name: 'zones', sizeBytes: 2000 * GiB, baseAllocBytes: 420 * GiB },
            { name: 'data', sizeBytes: 4000 * GiB, baseAllocBytes: 900 * GiB },
          ],
          vms: [vm('app01', 4, 4, 16384, 'running', [60]), vm('cache01', 5, 2, 8192, 'running', [20])],
        },
        {
          name: 'demo-node3',
          cpus: 16,
          memoryMiB: 65536,
          zpools: [{ name: 'zones', sizeBytes: 1000 * GiB, baseAllocBytes: 120 * GiB }],
          vms: [vm('monitor01', 6, 2, 4096, 'running', [20])],
        },
      ];
    this.nodes = nodes.map((n) => {
      const { datasets, txg } = seedDatasets(n, this.epoch);
      const node: DemoNode = {
        ...n,
        datasets,
        txg,
        initialDatasetBytes: {},
        knownHosts: {},
        definitions: {},
      };
      for (const p of n.zpools) node.initialDatasetBytes[p.name] = this.poolDatasetBytes(node, p.name);
      return node;
    });
    const images: DemoImage[] = [
      { name: 'vm-web01-root', sizeBytes: 40 * GiB, intervalSec: 300, writeRate: 2 * MiB },
      { name: 'vm-db01-data', sizeBytes: 500 * GiB, intervalSec: 300, writeRate: 12 * MiB },
      { name: 'vm-app01-root', sizeBytes: 60 * GiB, intervalSec: 600, writeRate: 1 * MiB },
      { name: 'backup-staging', sizeBytes: 200 * GiB, intervalSec: 900, writeRate: 20 * MiB },
      { name: 'archive-2025', sizeBytes: 1000 * GiB, intervalSec: 3600, writeRate: 0 },
    ];
    this.clusters = [
      {
        name: 'demo-site-a',
        siteName: 'demo-site-a',
        fsid: '7d3f6a2e-0b1c-4d5e-9f80-a1b2c3d4e5f6',
        pool: 'rbd',
        primary: true,
        images,
      },
      {
        name: 'demo-site-b',
        siteName: 'demo-site-b',
        fsid: '2c9e1b7a-3d4f-4a6b-8c0d-f6e5d4c3b2a1',
        pool: 'rbd',
        primary: false,
        images,
      },
    ];
  }

  /** Seconds since the world began. */
  elapsed(): number {
    return Math.max(0, (this.clock.now() - this.epoch) / 1000);
  }

  node(name: string): DemoNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  /** A node's simulated SSH host key (ed25519 wire form, derived from its name). */
  hostKey(name: string): HostPublicKey {
    const str = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
    const pub = crypto.createHash('sha256').update(`demo host key of ${name}`).digest();
    return {
      type: 'ssh-ed25519',
      base64: Buffer.concat([str(Buffer.from('ssh-ed25519')), str(pub)]).toString('base64'),
    };
  }

  cluster(name: string): DemoCluster | undefined {
    return this.clusters.find((c) => c.name === name);
  }

  zpools(node: DemoNode): ZpoolInfo[] {
    const t = this.elapsed();
    return node.zpools.map((p, i) => {
      // Allocation breathes a little: writes, then snapshot pruning; plus what replicas added.
      const grown = this.poolDatasetBytes(node, p.name) - (node.initialDatasetBytes[p.name] ?? 0);
      const alloc = Math.min(
        p.sizeBytes,
        Math.max(0, Math.round(p.baseAllocBytes + (Math.sin(t / 600 + i) + 1) * 2 * GiB + grown)),
      );
      return {
        name: p.name,
        sizeBytes: p.sizeBytes,
        allocBytes: alloc,
        freeBytes: p.sizeBytes - alloc,
        health: 'ONLINE',
      };
    });
  }

  // ---------------------------------------------------------------- node simulation

  /** Replication streams in flight (progress advances with the clock). */
  readonly transfers: DemoTransfer[] = [];
  #transferSeq = 0;
  /** Node-to-node link speed of the simulation when no bandwidth limit is set (110 MiB/s, or `TANDEM_DEMO_LINK_MIBPS`). */
  linkBytesPerSec = 110 * MiB;

  /** Real milliseconds between progress steps of simulated long operations. */
  get tickMs(): number {
    return this.latencyMs > 0 ? 250 : 2;
  }

  /**
   * How long a simulated transfer waits between progress steps (`totalMs`: how long it takes):
   * `tickMs` in a world with latency (the product's demo shows live progress); in one without (the
   * tests', on a ManualClock that moves on by each wait) a twentieth of the whole, so that a long
   * transfer takes some twenty steps, not one per tick.
   */
  transferStepMs(totalMs: number): number {
    return this.latencyMs > 0 ? this.tickMs : Math.max(this.tickMs, Math.ceil(totalMs / 20));
  }

  nextTxg(node: DemoNode): number {
    return ++node.txg;
  }

  nextTransferId(): number {
    return ++this.#transferSeq;
  }

  /** Unix seconds of the world clock. */
  nowSec(): number {
    return Math.floor(this.clock.now() / 1000);
  }

  /** Space a dataset itself holds: live data plus what only its snapshots keep. */
  datasetSelfBytes(ds: DemoDataset): number {
    return ds.referencedBytes + ds.snapshots.reduce((n, s) => n + s.usedBytes, 0);
  }

  poolDatasetBytes(node: DemoNode, pool: string): number {
    return node.datasets
      .filter((d) => d.name === pool || d.name.startsWith(`${pool}/`))
      .reduce((n, d) => n + this.datasetSelfBytes(d), 0);
  }

  /** Bytes written to the dataset since its latest snapshot (or since it was received/created). */
  writtenSinceLatest(ds: DemoDataset): number {
    const live =
      ds.writingSince === null ? 0 : (ds.writeRate * Math.max(0, this.clock.now() - ds.writingSince)) / 1000;
    return Math.min(ds.capacityBytes, Math.round(ds.pendingBytes + live));
  }

  /** Starts or stops the writes of a dataset (its VM starts or stops), settling what was written. */
  setWriting(ds: DemoDataset, writing: boolean): void {
    ds.pendingBytes = this.writtenSinceLatest(ds);
    ds.writingSince = writing && ds.writeRate > 0 ? this.clock.now() : null;
  }

  /** Takes a snapshot: what was written since the last one becomes its delta. */
  snapshotDataset(node: DemoNode, ds: DemoDataset, name: string): DemoSnapshot {
    const delta = this.writtenSinceLatest(ds);
    const prev = ds.snapshots[ds.snapshots.length - 1];
    // Half of the writes grow the data, half overwrite blocks the previous snapshot keeps.
    if (prev) prev.usedBytes += Math.round(delta / 2);
    ds.referencedBytes = Math.min(ds.capacityBytes, ds.referencedBytes + Math.round(delta / 2));
    const txg = this.nextTxg(node);
    const snap: DemoSnapshot = {
      name,
      guid: demoGuid(`${node.name}/${ds.name}@${name}#${txg}`),
      createTxg: txg,
      creation: this.nowSec(),
      referencedBytes: ds.referencedBytes,
      usedBytes: 0,
      deltaBytes: prev ? delta : ds.referencedBytes,
    };
    ds.snapshots.push(snap);
    ds.pendingBytes = 0;
    if (ds.writingSince !== null) ds.writingSince = this.clock.now();
    return snap;
  }

  newDataset(node: DemoNode, name: string, init: Partial<DemoDataset> = {}): DemoDataset {
    const txg = this.nextTxg(node);
    return {
      name,
      guid: demoGuid(`${node.name}/${name}#${txg}`),
      createTxg: txg,
      creation: this.nowSec(),
      referencedBytes: 96 * 1024,
      writeRate: 0,
      pendingBytes: 0,
      writingSince: null,
      capacityBytes: 64 * GiB,
      props: {},
      readonly: false,
      origin: null,
      snapshots: [],
      ...init,
    };
  }

  startTransfer(t: Omit<DemoTransfer, 'id' | 'startedAt' | 'bytes'>): DemoTransfer {
    const tr: DemoTransfer = { ...t, id: this.nextTransferId(), startedAt: this.clock.now(), bytes: 0 };
    this.transfers.push(tr);
    return tr;
  }

  /** Bytes a transfer has moved by now. */
  transferProgress(t: DemoTransfer): number {
    const elapsed = Math.max(0, this.clock.now() - t.startedAt) / 1000;
    return Math.min(t.totalBytes, Math.floor(elapsed * t.bytesPerSec));
  }

  endTransfer(t: DemoTransfer): void {
    const i = this.transfers.indexOf(t);
    if (i >= 0) this.transfers.splice(i, 1);
  }

  /**
   * Mirror state of one image at the current time: a snapshot is taken every interval; the
   * bytes written since the previous one then take `delta / 80 MiB/s` seconds to copy.
   */
  imageSync(img: DemoImage): {
    syncing: boolean;
    percent: number;
    lastSyncedAt: number;
    lagSec: number;
    bytesPerSecond: number;
  } {
    const t = this.elapsed();
    const cycle = Math.floor(t / img.intervalSec);
    const inCycle = t - cycle * img.intervalSec;
    const delta = img.writeRate * img.intervalSec;
    const duration = Math.min(img.intervalSec * 0.8, delta / (80 * MiB));
    const syncing = duration > 0 && inCycle < duration;
    const snapAt = (c: number) => this.epoch + c * img.intervalSec * 1000;
    const lastSyncedAt = syncing ? snapAt(cycle - 1) : snapAt(cycle);
    return {
      syncing,
      percent: syncing ? Math.floor((inCycle / duration) * 100) : 100,
      lastSyncedAt,
      lagSec: Math.max(0, (this.clock.now() - lastSyncedAt) / 1000),
      bytesPerSecond: syncing ? 80 * MiB : 0,
    };
  }

  poolSummary(c: DemoCluster): PoolMirrorSummary {
    const peer = this.clusters.find((o) => o !== c)!;
    const states: Record<string, number> = {};
    for (const img of c.images) {
      const s = c.primary ? 'stopped' : this.imageSync(img).syncing ? 'syncing' : 'replaying';
      states[s] = (states[s] ?? 0) + 1;
    }
    return {
      pool: c.pool,
      namespace: '',
      mode: 'image',
      siteName: c.siteName,
      peers: [
        {
          uuid: `peer-${peer.fsid.slice(0, 8)}`,
          siteName: peer.siteName,
          direction: 'rx-tx',
          clientName: 'client.rbd-mirror-peer',
        },
      ],
      health: 'OK',
      daemonHealth: 'OK',
      imageHealth: 'OK',
      states,
    };
  }

  /** Real milliseconds a powered-off Ceph cluster takes to answer UNREACHABLE (the CLI looks for a monitor for 5 s). */
  get unreachableAfterMs(): number {
    return this.latencyMs > 0 ? 5_000 : 0;
  }

  async delay(signal?: AbortSignal, ms = this.latencyMs): Promise<void> {
    if (ms <= 0) return;
    await new Promise<void>((resolve, reject) => {
      // The listener goes with the wait: a task's signal outlives thousands of calls.
      const onAbort = () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      };
      const t = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
