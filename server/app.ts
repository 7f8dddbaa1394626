import path from 'node:path';
import { AdapterRegistry } from './adapters/registry';
import { DemoWorld } from './adapters/demo/world';
import { addMirroredImages } from './adapters/demo/images';
import type { CephAdapter } from './adapters/ceph/types';
import { SshPool } from './adapters/ssh-runner';
import { dataDir, openDb, type Db } from './db/client';
import { secureDataDir } from './db/data-dir';
import { acquireInstanceLock, type InstanceLock } from './db/instance-lock';
import { ApiTokens } from './domain/api-tokens';
import { AlertDelivery } from './domain/alerts/delivery';
import { AlertService } from './domain/alerts/service';
import { AuthService, type PasswordHasher } from './domain/auth';
import { systemClock, type Clock } from './core/clock';
import { DemoService } from './domain/demo';
import { CephFailover } from './domain/ceph/failover';
import { CephMirroring } from './domain/ceph/mirroring';
import { HistoryLog } from './domain/history';
import { ProtectionCollector } from './domain/protection/collector';
import { ProtectionSamples } from './domain/protection/samples';
import { ReplicaFailover } from './domain/replicas/failover';
import { ReplicaRepoint } from './domain/replicas/repoint';
import { ReplicationScheduler } from './domain/replicas/scheduler';
import { ReplicaService } from './domain/replicas/service';
import { openSecretKeys, type SecretKeys } from './domain/keys';
import { vmInventory } from './domain/overview';
import { ProtectionService } from './domain/protection/service';
import { RpoTargets } from './domain/protection/rpo';
import { RecoveryPlans } from './domain/plans/service';
import { ObjectRuns } from './domain/plans/object-runs';
import { PlanTests } from './domain/plans/test-failover';
import { PlanRunner } from './domain/plans/runner';
import { PlanReports } from './domain/plans/reports';
import { SiteService } from './domain/sites';
import { TaskEngine } from './tasks/engine';
import { webConfig } from './domain/web-access';

export interface App {
  db: Db;
  clock: Clock;
  history: HistoryLog;
  auth: AuthService;
  sites: SiteService;
  demo: DemoService;
  tasks: TaskEngine;
  replicas: ReplicaService;
  failover: ReplicaFailover;
  repoint: ReplicaRepoint;
  scheduler: ReplicationScheduler;
  ceph: CephMirroring;
  cephFailover: CephFailover;
  /** Protected objects, their RPO targets and health (server/domain/protection). */
  protection: ProtectionService;
  registry: AdapterRegistry;
  ssh: SshPool;
  dataDir: string;
  /** The secret key of the installation (server/domain/keys.ts). */
  keys: SecretKeys;
  /** Bearer tokens of machine clients (the metrics scrape). */
  apiTokens: ApiTokens;
  /** Samples every protected object on an interval; the charts' series (server/domain/protection/collector.ts). */
  collector: ProtectionCollector;
  /** Alert rules, their state and delivery (server/domain/alerts/). */
  alerts: AlertService;
  /** Recovery plans, their runs and run reports (server/domain/plans/). */
  plans: RecoveryPlans;
  planRunner: PlanRunner;
  reports: PlanReports;
}

export interface AppOptions {
  dbFile?: string;
  dataDir?: string;
  clock?: Clock;
  demoLatencyMs?: number;
  /** A demo world to share (tests that restart the app over the same simulated machines). */
  demoWorld?: DemoWorld;
  /** Fault points for the task engine (tests); the server reads TANDEM_FAULT. */
  faults?: string;
  /** Demo nodes and Ceph clusters powered off from the start, comma-separated (tests); the server reads TANDEM_DEMO_DOWN. */
  demoDown?: string;
  /** Where start-up notices go (modes fixed, secrets migrated); console.warn by default. */
  log?: (line: string) => void;
  /** The value of TANDEM_SECRET_KEY ('' for none: the key file); the environment's by default. */
  secretKey?: string;
  /** Password hashing (tests count and speed up verifies); argon2id by default. */
  passwordHasher?: PasswordHasher;
}

/** A new demo world, with the machines named in `down` (comma-separated) powered off. */
function demoWorld(clock: Clock, latencyMs: number, down = ''): DemoWorld {
  const world = new DemoWorld(clock, latencyMs);
  // A faster simulated link (MiB/s) for UI tests that wait for full syncs.
  const link = Number(process.env.TANDEM_DEMO_LINK_MIBPS);
  if (Number.isFinite(link) && link > 0) world.linkBytesPerSec = link * 1024 * 1024;
  for (const name of down.split(',').map((s) => s.trim())) if (name) world.down.add(name);
  return world;
}

/** Wires the services together. Tests build their own; the server uses `readyApp()`. */
export function createApp(opts: AppOptions = {}): App {
  const dir = opts.dataDir ?? dataDir();
  const clock = opts.clock ?? systemClock;
  secureDataDir(dir, opts.log);
  const db = openDb(opts.dbFile ?? path.join(dir, 'tandem.db'));
  let keys: SecretKeys;
  try {
    keys = openSecretKeys(db, dir, { env: opts.secretKey, log: opts.log });
  } catch (e) {
    db.$client.close();
    throw e;
  }
  const history = new HistoryLog(db, clock);
  const ssh = new SshPool();
  let world: DemoWorld | undefined = opts.demoWorld;
  const registry = new AdapterRegistry(
    ssh,
    () =>
      (world ??= demoWorld(
        clock,
        opts.demoLatencyMs ?? Number(process.env.TANDEM_DEMO_LATENCY_MS ?? 250),
        opts.demoDown ?? process.env.TANDEM_DEMO_DOWN,
      )),
    path.join(dir, 'run'),
  );
  const sites = new SiteService(db, keys, registry);
  sites.rewriteKeyrings();
  const tasks = new TaskEngine(db, history, clock, { faults: opts.faults });
  const replicas = new ReplicaService(db, sites, tasks, clock, keys);
  const app: App = {
    db,
    clock,
    history,
    auth: new AuthService(db, clock, { hasher: opts.passwordHasher, dataDir: dir }),
    sites,
    demo: new DemoService(db, sites),
    tasks,
    replicas,
    failover: new ReplicaFailover(db, replicas, tasks, clock),
    repoint: new ReplicaRepoint(db, replicas, tasks, clock),
    scheduler: new ReplicationScheduler(db, replicas, tasks, history, clock),
    ceph: new CephMirroring(sites, tasks, clock),
    cephFailover: null as unknown as CephFailover,
    protection: null as unknown as ProtectionService,
    registry,
    ssh,
    dataDir: dir,
    keys,
    apiTokens: new ApiTokens(db, clock),
    collector: null as unknown as ProtectionCollector,
    alerts: null as unknown as AlertService,
    plans: new RecoveryPlans(db, clock),
    planRunner: null as unknown as PlanRunner,
    reports: new PlanReports(db),
  };
  app.cephFailover = new CephFailover(app.ceph, sites, tasks, clock);
  const objectRuns = new ObjectRuns(db, clock, tasks);
  app.failover.objectRuns = objectRuns;
  app.cephFailover.objectRuns = objectRuns;
  app.planRunner = new PlanRunner(
    db,
    clock,
    tasks,
    app.plans,
    replicas,
    app.failover,
    app.ceph,
    app.cephFailover,
    sites,
    new PlanTests(db, clock, replicas, app.ceph, sites),
  );
  app.protection = new ProtectionService(db, clock, sites, app.ceph, new RpoTargets(db, clock));
  // A task that moves (a sync that finished, a failover, a Ceph change), or a replica's changed
  // settings, change what the computed objects say: the next read computes them again.
  tasks.onState(() => app.protection.invalidate());
  replicas.changed = () => app.protection.invalidate();
  replicas.rpoFor = (o) => app.protection.rpoFor(o);
  app.ceph.rpoFor = (o) => app.protection.rpoForCeph(o);
  app.protection.writtenSince = (id) => replicas.writtenSinceRecoveryPoint(id);
  app.protection.refreshVms = () => void vmInventory(sites, replicas, { waitMs: 0 }).catch(() => undefined);
  app.collector = new ProtectionCollector(new ProtectionSamples(db, clock), {
    clock,
    sites,
    ceph: app.ceph,
    objects: () => app.protection.objects(),
    invalidate: () => app.protection.invalidate(),
  });
  const delivery = new AlertDelivery({ db, clock, keys, consoleUrl: process.env.TANDEM_URL });
  app.alerts = new AlertService({
    db,
    clock,
    history,
    tasks,
    ceph: app.ceph,
    delivery,
    objects: () => app.protection.objects(),
    watchesNodes: process.env.TANDEM_SCHEDULER !== '0',
  });
  return app;
}

/** Start-up work: recover interrupted tasks, first admin, demo sites on a first start. */
export async function bootApp(app: App): Promise<void> {
  webConfig(); // a bad TANDEM_URL, TANDEM_ALLOWED_ORIGINS or TANDEM_TRUSTED_PROXIES stops the start here
  const interrupted = app.tasks.recoverAtBoot();
  if (interrupted.length)
    console.warn(
      `[tandem] ${interrupted.length} task(s) were interrupted by the last stop: ${interrupted.join(', ')}`,
    );
  const pw = process.env.TANDEM_ADMIN_PASSWORD;
  if (pw && app.auth.userCount() === 0) {
    await app.auth.setupFirstAdmin(process.env.TANDEM_ADMIN_USER || 'admin', pw);
    console.log(
      `[tandem] created the first admin "${process.env.TANDEM_ADMIN_USER || 'admin'}" from TANDEM_ADMIN_PASSWORD`,
    );
  }
  const code = app.auth.issueSetupCode();
  if (code) {
    console.log(
      `[tandem] no administrator yet: open the console and create one with the setup code ${code} (also in ${path.join(app.dataDir, 'setup-code')})`,
    );
  }
  if (app.demo.ensureOnFirstStart())
    console.log('[tandem] created the demo environment (remove it on the Sites page)');
  const benchImages = Number(process.env.TANDEM_DEMO_IMAGES) || 0;
  const siteA = benchImages > 0 ? app.sites.byName('demo-site-a') : null;
  if (siteA) {
    await addMirroredImages(app.sites.adapter(siteA.id) as CephAdapter, benchImages);
    console.log(`[tandem] demo-site-a's pool rbd has ${benchImages} images (TANDEM_DEMO_IMAGES)`);
  }
  if (process.env.TANDEM_SCHEDULER !== '0')
    app.scheduler.start(Number(process.env.TANDEM_SCHEDULER_INTERVAL_MS) || 5000);
  if (process.env.TANDEM_COLLECT !== '0') app.collector.start();
  if (process.env.TANDEM_ALERTS !== '0')
    app.alerts.start(Number(process.env.TANDEM_ALERT_INTERVAL_MS) || 30_000);
}

const g = globalThis as unknown as { __tandem?: Promise<App> };

/** How long a start waits for another process on the data directory to stop (TANDEM_INSTANCE_WAIT_MS). */
const INSTANCE_WAIT_MS = 60_000;
/** A stopping process exits this long after the signal at the latest, whatever connections it still has. */
const STOP_DEADLINE_MS = 10_000;

/**
 * The process-wide app, once it holds the data directory and has booted; one instance even when
 * Next.js loads this module more than once. A second process on the same data directory waits
 * here until the first has stopped (see server/db/instance-lock.ts).
 */
export function readyApp(): Promise<App> {
  return (g.__tandem ??= startProcessApp());
}

/** Tests and benchmarks: serve this app as the process's (the routes then use it through `readyApp`). */
export function setProcessApp(app: App): void {
  g.__tandem = Promise.resolve(app);
}

async function startProcessApp(): Promise<App> {
  const dir = dataDir();
  const lock = await acquireInstanceLock(dir, {
    waitMs: Number(process.env.TANDEM_INSTANCE_WAIT_MS) || INSTANCE_WAIT_MS,
    log: (line) => console.warn(`[tandem] ${line}`),
  });
  const app = createApp({ dataDir: dir });
  stopOnSignals(app, lock);
  await bootApp(app);
  return app;
}

/**
 * SIGTERM or SIGINT (a service manager's stop, Ctrl-C): Next.js stops listening and finishes the
 * requests under way, but it keeps serving a browser's kept-alive connections and live streams.
 * So this process starts no more tasks (a click sent on such a connection is refused, not started
 * in a process about to exit), stops its own timers, ends its live streams, and exits after
 * STOP_DEADLINE_MS at the latest. Tasks still running are interrupted by the exit: the next start
 * marks them so and offers to resume them. The data directory is free once the process is gone.
 */
function stopApp(app: App, signal: string): void {
  if (app.tasks.draining) return;
  const running = app.tasks.list({ active: true, limit: 200 }).length;
  console.log(
    `[tandem] ${signal}: stopping; no task starts any more${running ? `; ${running} active task(s) will be offered for resume at the next start` : ''}`,
  );
  app.tasks.drain();
  app.scheduler.stop();
  void app.collector.stop();
  app.alerts.stop();
}

function stopOnSignals(app: App, lock: InstanceLock): void {
  const onSignal = (signal: NodeJS.Signals) => {
    stopApp(app, signal);
    setTimeout(() => {
      lock.release();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }, STOP_DEADLINE_MS).unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
