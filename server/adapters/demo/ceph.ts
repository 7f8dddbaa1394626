import { AppError } from '../../domain/errors';
import type { CephAdapter, CephProbe, PoolMirrorSummary } from '../ceph/types';
import type { DemoWorld } from './world';

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
