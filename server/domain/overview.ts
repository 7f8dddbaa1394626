import type { SiteService, SiteView } from './sites';
import { errorMessage } from './errors';

export interface SiteHealth {
  site: Pick<SiteView, 'id' | 'name' | 'kind' | 'demo'>;
  reachable: boolean;
  level: 'ok' | 'warn' | 'error';
  headline: string;
  error?: string;
  node?: { vms: number; running: number; pools: { name: string; freeBytes: number; sizeBytes: number }[]; cpus: number; memoryMiB: number };
  ceph?: { health: string; pools: { pool: string; mode: string; peers: number; states: Record<string, number>; health: string }[] };
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Health over all sites at a glance; each site is asked in parallel, with a deadline. */
export async function overview(sites: SiteService, timeoutMs = 10_000): Promise<SiteHealth[]> {
  return Promise.all(
    sites.list().map(async (s): Promise<SiteHealth> => {
      const site = { id: s.id, name: s.name, kind: s.kind, demo: s.demo };
      try {
        const a = sites.adapter(s.id);
        if (a.kind === 'node') {
          const [vms, pools, cap] = await withTimeout(Promise.all([a.listVms(), a.listZpools(), a.capacity()]), timeoutMs, s.name);
          const lowPool = pools.find((p) => p.freeBytes / p.sizeBytes < 0.1);
          const degraded = pools.find((p) => p.health !== 'ONLINE');
          return {
            site,
            reachable: true,
            level: degraded ? 'error' : lowPool ? 'warn' : 'ok',
            headline: degraded ? `zpool ${degraded.name} is ${degraded.health}` : lowPool ? `zpool ${lowPool.name} is almost full` : `${vms.filter((v) => v.state === 'running').length}/${vms.length} VMs running`,
            node: { vms: vms.length, running: vms.filter((v) => v.state === 'running').length, pools: pools.map((p) => ({ name: p.name, freeBytes: p.freeBytes, sizeBytes: p.sizeBytes })), cpus: cap.cpus, memoryMiB: cap.memoryMiB },
          };
        }
        const [probe, pools] = await withTimeout(Promise.all([a.probe(), a.listMirrorPools()]), timeoutMs, s.name);
        const bad = pools.find((p) => p.mode !== 'disabled' && p.health === 'ERROR');
        const warn = probe.health !== 'HEALTH_OK' || pools.some((p) => p.mode !== 'disabled' && p.health === 'WARNING');
        return {
          site,
          reachable: true,
          level: bad || probe.health === 'HEALTH_ERR' ? 'error' : warn ? 'warn' : 'ok',
          headline: bad ? `mirroring of ${bad.pool} is unhealthy` : `${probe.health}, ${pools.filter((p) => p.mode !== 'disabled').length} mirrored pool(s)`,
          ceph: { health: probe.health, pools: pools.map((p) => ({ pool: p.pool, mode: p.mode, peers: p.peers.length, states: p.states, health: p.health })) },
        };
      } catch (e) {
        return { site, reachable: false, level: 'error', headline: 'unreachable', error: errorMessage(e) };
      }
    }),
  );
}

export interface NodeVms {
  site: Pick<SiteView, 'id' | 'name' | 'demo'>;
  vms: import('../adapters/node/types').VmInfo[];
  error?: string;
}

/** Every VM on every node. */
export async function vmInventory(sites: SiteService, timeoutMs = 10_000): Promise<NodeVms[]> {
  return Promise.all(
    sites
      .list()
      .filter((s) => s.kind === 'node')
      .map(async (s) => {
        const site = { id: s.id, name: s.name, demo: s.demo };
        try {
          const a = sites.adapter(s.id);
          if (a.kind !== 'node') return { site, vms: [] };
          return { site, vms: await withTimeout(a.listVms(), timeoutMs, s.name) };
        } catch (e) {
          return { site, vms: [], error: errorMessage(e) };
        }
      }),
  );
}
