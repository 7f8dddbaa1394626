import type { ImageMirrorMode } from '../../ceph/types';
import { formatScheduleInterval } from '../../ceph/schedule';
import type { DemoWorld } from '../world';
import type { Sim, SimImage, SimPeer } from './model';
import { DEFAULT_FEATURES, GiB, MiB, hash, monHostOf, newSide, uuidFrom } from './model';

/**
 * A namespace of the demo pool with images of its own: one snapshot-mirrored (scheduled), one
 * journal-mirrored, and one that only exists on the primary cluster and is not mirrored.
 */
export const DEMO_NAMESPACE = 'tenant1';
const NAMESPACE_IMAGES: {
  name: string;
  sizeBytes: number;
  mode: ImageMirrorMode | null;
  intervalMin?: number;
  writeRate: number;
}[] = [
  { name: 'vm-mail01-root', sizeBytes: 80 * GiB, mode: 'snapshot', intervalMin: 10, writeRate: 1 * MiB },
  { name: 'vm-erp01-data', sizeBytes: 120 * GiB, mode: 'journal', writeRate: 0 },
  { name: 'scratch01', sizeBytes: 10 * GiB, mode: null, writeRate: 0 },
];

function seedSim(world: DemoWorld): Sim {
  const sim: Sim = { clusters: new Map(), pairs: new Map() };
  const clusters = world.clusters;
  clusters.forEach((c, index) => {
    sim.clusters.set(c.name, {
      name: c.name,
      fsid: c.fsid,
      siteName: c.siteName,
      mirrorUuid: uuidFrom(`${c.fsid}/mirror`),
      index,
      pools: new Map(),
      schedules: new Map(),
      idSeq: 100,
    });
  });
  const created = world.epoch - 30 * 86400_000;
  for (const c of clusters) {
    const sc = sim.clusters.get(c.name)!;
    const others = clusters.filter((o) => o !== c);
    const peers: SimPeer[] = others.map((o) => ({
      uuid: uuidFrom(`${c.fsid}/peer/${o.fsid}`),
      siteName: o.siteName,
      direction: 'rx-tx',
      clientName: 'client.rbd-mirror-peer',
      mirrorUuid: uuidFrom(`${o.fsid}/mirror`),
      monHost: monHostOf(sim.clusters.get(o.name)!),
    }));
    const images = new Map<string, SimImage>();
    c.images.forEach((img, i) => {
      images.set(img.name, {
        name: img.name,
        id: hash('image-id', c.name, img.name).slice(0, 12),
        sizeBytes: img.sizeBytes,
        features: [...DEFAULT_FEATURES],
        createdAt: created,
        pair: uuidFrom(`pair/${img.name}/${i}`),
        content: '',
        userSnaps: [],
      });
    });
    const primary = clusters.find((x) => x.primary) ?? clusters[0]!;
    const nsImages = new Map<string, SimImage>();
    for (const img of NAMESPACE_IMAGES) {
      if (!img.mode && c !== primary) continue;
      nsImages.set(img.name, {
        name: img.name,
        id: hash('image-id', c.name, DEMO_NAMESPACE, img.name).slice(0, 12),
        sizeBytes: img.sizeBytes,
        features: img.mode === 'journal' ? [...DEFAULT_FEATURES, 'journaling'] : [...DEFAULT_FEATURES],
        createdAt: created,
        pair: img.mode ? uuidFrom(`pair/${DEMO_NAMESPACE}/${img.name}`) : null,
        content: img.mode ? '' : hash('seed', DEMO_NAMESPACE, img.name),
        userSnaps: [],
      });
    }
    sc.pools.set(c.pool, {
      name: c.pool,
      id: 2,
      mode: 'image',
      namespaces: new Map([
        ['', { mode: 'image', images }],
        [DEMO_NAMESPACE, { mode: 'image', images: nsImages }],
      ]),
      peers,
    });
    sc.pools.set('rbd2', {
      name: 'rbd2',
      id: 3,
      mode: 'disabled',
      namespaces: new Map([['', { mode: 'disabled', images: new Map() }]]),
      peers: [],
    });
    if (c === primary) {
      for (const img of c.images)
        sc.schedules.set(`${c.pool}//${img.name}`, [
          {
            interval: formatScheduleInterval(Math.max(1, Math.round(img.intervalSec / 60))),
            startTime: null,
          },
        ]);
      for (const img of NAMESPACE_IMAGES)
        if (img.intervalMin)
          sc.schedules.set(`${c.pool}/${DEMO_NAMESPACE}/${img.name}`, [
            { interval: formatScheduleInterval(img.intervalMin), startTime: null },
          ]);
    }
  }
  const primary = clusters.find((x) => x.primary) ?? clusters[0]!;
  const seedPair = (
    globalId: string,
    namespace: string,
    image: string,
    mode: ImageMirrorMode,
    writeRate: number,
  ) => {
    const content = namespace ? hash('seed', namespace, image) : hash('seed', image);
    sim.pairs.set(globalId, {
      globalId,
      mode,
      pool: primary.pool,
      namespace,
      image,
      sides: clusters.map((c) => newSide(c.name, c === primary, content)),
      snaps:
        mode === 'snapshot'
          ? [{ seq: 1, origin: primary.name, at: world.epoch, demoted: false, content, deltaBytes: 0 }]
          : [],
      seq: mode === 'snapshot' ? 1 : 0,
      diverged: false,
      lastTick: world.epoch,
      writeRate,
    });
  };
  primary.images.forEach((img, i) =>
    seedPair(uuidFrom(`pair/${img.name}/${i}`), '', img.name, 'snapshot', img.writeRate),
  );
  for (const img of NAMESPACE_IMAGES)
    if (img.mode)
      seedPair(
        uuidFrom(`pair/${DEMO_NAMESPACE}/${img.name}`),
        DEMO_NAMESPACE,
        img.name,
        img.mode,
        img.writeRate,
      );
  return sim;
}

const sims = new WeakMap<DemoWorld, Sim>();

/** The simulation of `world`, shared by the adapters of all its clusters (seeded on first use). */
export function simOf(world: DemoWorld): Sim {
  let s = sims.get(world);
  if (!s) {
    s = seedSim(world);
    sims.set(world, s);
  }
  return s;
}
