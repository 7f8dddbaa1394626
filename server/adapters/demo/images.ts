import { labImages } from '../ceph/lab-images';
import type { CephAdapter } from '../ceph/types';

/**
 * Gives a demo cluster's pool `rbd` `n` images in all, snapshot-mirrored (`bench-<i>`), through the
 * adapter as an operator would (benchmarks: scripts/bench, and the server with TANDEM_DEMO_IMAGES).
 */
export async function addMirroredImages(a: CephAdapter, n: number): Promise<void> {
  const have = (await a.listImages('rbd')).length;
  for (let i = have; i < n; i++) {
    await labImages(a).createImage('rbd', '', `bench-${i}`, 1 << 30, ['layering', 'exclusive-lock']);
    await a.enableImageMirroring('rbd', '', `bench-${i}`, 'snapshot');
  }
}
