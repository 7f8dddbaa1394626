import { AppError } from '../../domain/errors';
import type { CephAdapter, CephProbe, PoolMirrorSummary } from '../ceph/types';
import type { NodeAdapter, NodeCapacity, NodeProbe, VmInfo, ZpoolInfo } from '../node/types';
import type { DemoWorld } from './world';

export class DemoNodeAdapter implements NodeAdapter {
  readonly kind = 'node' as const;
  constructor(
    private readonly world: DemoWorld,
    readonly nodeName: string,
  ) {}

  #node() {
    const n = this.world.node(this.nodeName);
    if (!n) throw new AppError('UNREACHABLE', `demo node ${this.nodeName} does not exist in the simulation`);
    return n;
  }

  async probe(signal?: AbortSignal): Promise<NodeProbe> {
    await this.world.delay(signal);
    return { hostname: this.#node().name, zfsAvailable: true, hypervisor: 'demo', hypervisorAvailable: true };
  }

  async capacity(): Promise<NodeCapacity> {
    await this.world.delay();
    const n = this.#node();
    return { cpus: n.cpus, memoryMiB: n.memoryMiB };
  }

  async listZpools(): Promise<ZpoolInfo[]> {
    await this.world.delay();
    return this.world.zpools(this.#node());
  }

  async listVms(): Promise<VmInfo[]> {
    await this.world.delay();
    return structuredClone(this.#node().vms);
  }
}

export class DemoCephAdapter implements CephAdapter {
  readonly kind = 'ceph' as const;
  constructor(
    private readonly world: DemoWorld,
    readonly clusterName: string,
  ) {}

  #cluster() {
    const c = this.world.cluster(this.clusterName);
    if (!c) throw new AppError('UNREACHABLE', `demo cluster ${this.clusterName} does not exist in the simulation`);
    return c;
  }

  async probe(signal?: AbortSignal): Promise<CephProbe> {
    await this.world.delay(signal);
    return { fsid: this.#cluster().fsid, health: 'HEALTH_OK', version: 'ceph version 16.2.15 (demo) pacific (stable)' };
  }

  async listMirrorPools(): Promise<PoolMirrorSummary[]> {
    await this.world.delay();
    return [this.world.poolSummary(this.#cluster())];
  }
}
