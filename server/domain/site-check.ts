import type { TaskEngine } from '../tasks/engine';
import type { SessionUser } from './auth';
import { AppError } from '../core/errors';
import type { SiteService } from './sites';

/** A task that walks a site's checks one step at a time, with progress. */
export function startSiteCheck(engine: TaskEngine, sites: SiteService, siteId: number, user: SessionUser) {
  const site = sites.get(siteId);
  const steps =
    site.kind === 'node'
      ? ['Connect', 'List ZFS pools', 'List VMs', 'Read capacity']
      : ['Connect', 'List mirrored pools', 'Check mirroring health'];
  return engine.start({
    name: `Check ${site.name}`,
    kind: 'site.check',
    target: `site:${site.name}`,
    params: { siteId, site: site.name },
    steps,
    username: user.username,
    run: async (ctx) => {
      const a = sites.adapter(siteId);
      const total = steps.length;
      let done = 0;
      const tick = () => ctx.progress(++done, total);
      ctx.progress(0, total);
      const probe: unknown = await ctx.step('Connect', (): Promise<unknown> => a.probe(ctx.signal));
      tick();
      if (a.kind === 'node') {
        const pools = await ctx.step('List ZFS pools', () => a.zfs.listZpools());
        ctx.log(`pools: ${pools.map((p) => `${p.name} ${p.health}`).join(', ')}`);
        tick();
        const vms = await ctx.step('List VMs', () => a.listVms());
        ctx.log(`${vms.length} VMs`);
        tick();
        const cap = await ctx.step('Read capacity', () => a.capacity());
        tick();
        return { probe, pools: pools.length, vms: vms.length, cpus: cap.cpus, memoryMiB: cap.memoryMiB };
      }
      const pools = await ctx.step('List mirrored pools', () => a.listMirrorPools());
      tick();
      await ctx.step('Check mirroring health', () => {
        const bad = pools.filter((p) => p.mode !== 'disabled' && p.health !== 'OK');
        if (bad.length)
          throw new AppError(
            'PRECONDITION_FAILED',
            `mirroring unhealthy in ${bad.map((p) => p.pool).join(', ')}`,
          );
      });
      tick();
      return { probe, pools: pools.map((p) => ({ pool: p.pool, mode: p.mode })) };
    },
  });
}
