import { createCallerFactory, router } from './init';
import { apiTokensRouter } from './routers/api-tokens';
import { alertsRouter } from './routers/alerts';
import { authRouter } from './routers/auth';
import { cephRouter } from './routers/ceph';
import { historyRouter } from './routers/history';
import { overviewRouter } from './routers/overview';
import { plansRouter } from './routers/plans';
import { protectionRouter } from './routers/protection';
import { protectionHistoryRouter } from './routers/protection-history';
import { replicasRouter } from './routers/replicas';
import { demoRouter, sitesRouter } from './routers/sites';
import { tasksRouter } from './routers/tasks';
import { usersRouter } from './routers/users';

export const appRouter = router({
  auth: authRouter,
  users: usersRouter,
  sites: sitesRouter,
  demo: demoRouter,
  overview: overviewRouter,
  protection: protectionRouter,
  replicas: replicasRouter,
  ceph: cephRouter,
  tasks: tasksRouter,
  history: historyRouter,
  apiTokens: apiTokensRouter,
  protectionHistory: protectionHistoryRouter,
  alerts: alertsRouter,
  plans: plansRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
