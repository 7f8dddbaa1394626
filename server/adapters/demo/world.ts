import type { Clock } from '../../domain/clock';
import type { PoolMirrorSummary } from '../ceph/types';
import type { VmInfo, ZpoolInfo } from '../node/types';

/**
 * The demo environment: three compute nodes and two Ceph clusters simulated in process.
 * Everything that moves is a pure function of the injected clock (and the epoch the world was
 * created at), so tests that set the clock see exactly the same world every time.
 */
export interface DemoNode {
  name: string;
  cpus: number;
  memoryMiB: number;
  zpools: { name: string; sizeBytes: number; baseAllocBytes: number }[];
  vms: VmInfo[];
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

function vm(name: string, n: number, vcpus: number, memoryMiB: number, state: VmInfo['state'], disks: number[]): VmInfo {
  return {
    name,
    uuid: `d3m0${n.toString(16).padStart(4, '0')}-0000-4000-8000-${name.padEnd(12, '0').slice(0, 12).replace(/[^0-9a-f]/g, 'a')}`,
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

export class DemoWorld {
  readonly epoch: number;
  readonly nodes: DemoNode[];
  readonly clusters: DemoCluster[];

  constructor(
    readonly clock: Clock,
    /** Simulated latency of each adapter call, ms (0 in unit tests). */
    readonly latencyMs = 250,
  ) {
    this.epoch = Math.floor(clock.now() / 3600_000) * 3600_000;
    this.nodes = [
      {
        name: 'demo-node1',
        cpus: 32,
        memoryMiB: 131072,
        zpools: [
          { name: 'zones', sizeBytes: 2000 * GiB, baseAllocBytes: 640 * GiB },
          { name: 'data', sizeBytes: 4000 * GiB, baseAllocBytes: 1500 * GiB },
        ],
        vms: [vm('web01', 1, 4, 8192, 'running', [40, 100]), vm('db01', 2, 8, 32768, 'running', [40, 500]), vm('mail01', 3, 2, 4096, 'stopped', [30])],
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
    const images: DemoImage[] = [
      { name: 'vm-web01-root', sizeBytes: 40 * GiB, intervalSec: 300, writeRate: 2 * MiB },
      { name: 'vm-db01-data', sizeBytes: 500 * GiB, intervalSec: 300, writeRate: 12 * MiB },
      { name: 'vm-app01-root', sizeBytes: 60 * GiB, intervalSec: 600, writeRate: 1 * MiB },
      { name: 'backup-staging', sizeBytes: 200 * GiB, intervalSec: 900, writeRate: 20 * MiB },
      { name: 'archive-2025', sizeBytes: 1000 * GiB, intervalSec: 3600, writeRate: 0 },
    ];
    this.clusters = [
      { name: 'demo-site-a', siteName: 'demo-site-a', fsid: '7d3f6a2e-0b1c-4d5e-9f80-a1b2c3d4e5f6', pool: 'rbd', primary: true, images },
      { name: 'demo-site-b', siteName: 'demo-site-b', fsid: '2c9e1b7a-3d4f-4a6b-8c0d-f6e5d4c3b2a1', pool: 'rbd', primary: false, images },
    ];
  }

  /** Seconds since the world began. */
  elapsed(): number {
    return Math.max(0, (this.clock.now() - this.epoch) / 1000);
  }

  node(name: string): DemoNode | undefined {
    return this.nodes.find((n) => n.name === name);
  }

  cluster(name: string): DemoCluster | undefined {
    return this.clusters.find((c) => c.name === name);
  }

  zpools(node: DemoNode): ZpoolInfo[] {
    const t = this.elapsed();
    return node.zpools.map((p, i) => {
      // Allocation breathes a little: writes, then snapshot pruning.
      const alloc = Math.round(p.baseAllocBytes + (Math.sin(t / 600 + i) + 1) * 2 * GiB);
      return { name: p.name, sizeBytes: p.sizeBytes, allocBytes: alloc, freeBytes: p.sizeBytes - alloc, health: 'ONLINE' };
    });
  }

  /**
   * Mirror state of one image at the current time: a snapshot is taken every interval; the
   * bytes written since the previous one then take `delta / 80 MiB/s` seconds to copy.
   */
  imageSync(img: DemoImage): { syncing: boolean; percent: number; lastSyncedAt: number; lagSec: number; bytesPerSecond: number } {
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
      peers: [{ uuid: `peer-${peer.fsid.slice(0, 8)}`, siteName: peer.siteName, direction: 'rx-tx', clientName: 'client.rbd-mirror-peer' }],
      health: 'OK',
      daemonHealth: 'OK',
      imageHealth: 'OK',
      states,
    };
  }

  async delay(signal?: AbortSignal): Promise<void> {
    if (this.latencyMs <= 0) return;
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, this.latencyMs);
      signal?.addEventListener('abort', () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      }, { once: true });
    });
  }
}
