import { overview, vmInventory } from '../../domain/overview';
import { router, viewerProcedure } from '../init';

export const overviewRouter = router({
  get: viewerProcedure.query(({ ctx }) =>
    overview(ctx.app.sites, { cephSplitBrain: (id) => ctx.app.ceph.splitBrainCount(id) }),
  ),
  vms: viewerProcedure.query(({ ctx }) => vmInventory(ctx.app.sites, ctx.app.replicas)),
});
