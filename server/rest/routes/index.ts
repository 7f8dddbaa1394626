import type { RouteDef } from '../define';
import { cephRoutes } from './ceph';
import { generalRoutes } from './general';
import { replicaRoutes } from './replicas';
import { taskRoutes } from './tasks';

/** Every route of /api/v1, in matching order (a literal segment before a parameter at the same place). */
export const ROUTES: RouteDef[] = [...replicaRoutes, ...cephRoutes, ...taskRoutes, ...generalRoutes];
