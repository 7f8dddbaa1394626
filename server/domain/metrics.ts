import { sql } from 'drizzle-orm';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Db } from '../db/client';
import { alerts, sites, syncRuns, tasks } from '../db/schema';
import type { Clock } from './clock';
import type { CephMirroring } from './ceph/mirroring';
import { knownReach, type SiteReach } from './overview';
import { HEALTHS, type ProtectedObject } from './protection/types';
import type { SiteService } from './sites';

/**
 * The Prometheus exposition of `/api/metrics`, built with prom-client from stored state only: no
 * site is asked while a scrape waits.
 *
 * Labels, and why their sets stay bounded:
 * - per object (`subject`, `kind`, `name`, `source`, `target`): one series per protected object
 *   and metric; `subject` is the object's stable key (`replica:<id>`, `rbd:<pair>/<pool>/<ns>/<image>`,
 *   `vm:<siteId>/<vm>`), `source`/`target` site names ('' when none). `tandem_protection_health`
 *   has one series per object and health (5 healths).
 * - per site (`site`, `kind` node|ceph): one series per registered site.
 * - `tandem_tasks{kind,state}`: task kinds are defined in code, states are the task engine's 8.
 * - `tandem_alerts{rule,severity,state}`: rules are defined in code, 2 severities, 2 states.
 */

export interface SyncTotal {
  /** sync_runs.subject, e.g. `replica:7`. */
  subject: string;
  /** Bytes sent by the subject's successful runs. */
  bytes: number;
  /** The subject's failed runs. */
  failures: number;
}

export interface MetricsData {
  objects: ProtectedObject[];
  syncTotals: SyncTotal[];
  sites: SiteReach[];
  tasks: { kind: string; state: string; count: number }[];
  alerts: { rule: string; severity: string; state: string; count: number }[];
}

const OBJECT_LABELS = ['subject', 'kind', 'name', 'source', 'target'] as const;
type ObjectLabels = Record<(typeof OBJECT_LABELS)[number], string>;

function objectLabels(o: ProtectedObject): ObjectLabels {
  return { subject: o.subject, kind: o.kind, name: o.name, source: o.source?.name ?? '', target: o.target?.name ?? '' };
}

/** The registry of one scrape, filled from `d`. */
export function metricsRegistry(d: MetricsData): Registry {
  const registers = [new Registry()];
  const reg = registers[0]!;
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers });

  const window = gauge('tandem_data_loss_window_seconds', 'What a failover now would lose: now minus the recovery point (the figure the failover wizard quotes). Absent while unknown.', OBJECT_LABELS);
  const rpo = gauge('tandem_rpo_seconds', 'The effective recovery-point objective of a protected object.', OBJECT_LABELS);
  const health = gauge('tandem_protection_health', 'Protection health as a state set: 1 for the current health (ok, warning, breach, unknown, unprotected), 0 for the others.', [...OBJECT_LABELS, 'health']);
  const syncSeconds = gauge('tandem_sync_duration_seconds', 'Duration of the latest sync of a protected object.', OBJECT_LABELS);
  const syncBytes = counter('tandem_sync_bytes_total', 'Bytes sent by the successful syncs of a VM replica (its recorded sync runs).', OBJECT_LABELS);
  const syncFailures = counter('tandem_sync_failures_total', 'Failed syncs of a VM replica (its recorded sync runs).', OBJECT_LABELS);
  const siteUp = gauge('tandem_site_up', 'Whether a site answered when the console last learnt of it (1) or not (0). Absent until something is known.', ['site', 'kind']);
  const siteSeen = gauge('tandem_site_last_seen_timestamp_seconds', 'When a site last answered the console (Unix time).', ['site', 'kind']);
  const taskCount = gauge('tandem_tasks', 'Stored tasks by kind and state.', ['kind', 'state']);
  const alertCount = gauge('tandem_alerts', 'Stored alerts by rule, severity and state (firing, resolved).', ['rule', 'severity', 'state']);

  const totals = new Map(d.syncTotals.map((t) => [t.subject, t]));
  for (const o of d.objects) {
    const l = objectLabels(o);
    for (const h of HEALTHS) health.set({ ...l, health: h }, o.health === h ? 1 : 0);
    if (o.health === 'unprotected') continue;
    rpo.set(l, o.rpoSec);
    if (o.windowSec !== null && Number.isFinite(o.windowSec)) window.set(l, o.windowSec);
    if (o.syncSeconds !== null && Number.isFinite(o.syncSeconds)) syncSeconds.set(l, o.syncSeconds);
    if (o.kind === 'vm-replica') {
      const t = totals.get(o.subject);
      syncBytes.inc(l, Math.max(0, t?.bytes ?? 0));
      syncFailures.inc(l, Math.max(0, t?.failures ?? 0));
    }
  }
  for (const s of d.sites) {
    const l = { site: s.site.name, kind: s.site.kind };
    if (s.up !== null) siteUp.set(l, s.up ? 1 : 0);
    if (s.lastSeenAt !== null) siteSeen.set(l, s.lastSeenAt / 1000);
  }
  for (const t of d.tasks) taskCount.set({ kind: t.kind, state: t.state }, t.count);
  for (const a of d.alerts) alertCount.set({ rule: a.rule, severity: a.severity, state: a.state }, a.count);
  return reg;
}

/** The exposition text (Prometheus text format 0.0.4) and its content type. */
export async function renderMetrics(d: MetricsData): Promise<{ contentType: string; text: string }> {
  const reg = metricsRegistry(d);
  return { contentType: reg.contentType, text: await reg.metrics() };
}

/** Bytes of successful runs and count of failed runs per VM replica, in one grouped query. */
export function syncTotals(db: Db): SyncTotal[] {
  return db
    .select({
      subject: syncRuns.subject,
      bytes: sql<number>`coalesce(sum(case when ${syncRuns.outcome} = 'success' then ${syncRuns.bytes} end), 0)`,
      failures: sql<number>`sum(${syncRuns.outcome} = 'failure')`,
    })
    .from(syncRuns)
    .where(sql`${syncRuns.subject} like 'replica:%'`)
    .groupBy(syncRuns.subject)
    .all();
}

export function taskCounts(db: Db): MetricsData['tasks'] {
  return db
    .select({ kind: tasks.kind, state: tasks.state, count: sql<number>`count(*)` })
    .from(tasks)
    .groupBy(tasks.kind, tasks.state)
    .all();
}

export function alertCounts(db: Db): MetricsData['alerts'] {
  return db
    .select({ rule: alerts.rule, severity: alerts.severity, state: alerts.state, count: sql<number>`count(*)` })
    .from(alerts)
    .groupBy(alerts.rule, alerts.severity, alerts.state)
    .all();
}

export interface MetricsSources {
  db: Db;
  clock: Clock;
  sites: SiteService;
  ceph: CephMirroring;
  /** Every protected and unprotected object, from stored state. */
  objects: () => Promise<ProtectedObject[]>;
}

/** Gathers everything from stored state (and what the console last learnt of the sites) and renders it. */
export async function scrapeMetrics(src: MetricsSources): Promise<{ contentType: string; text: string }> {
  const siteRows = src.db.select({ id: sites.id, name: sites.name, kind: sites.kind, lastSeenAt: sites.lastSeenAt }).from(sites).orderBy(sites.name).all();
  const reach = knownReach(
    src.sites,
    siteRows.map((r) => ({ ...r, lastSeenAt: r.lastSeenAt?.getTime() ?? null })),
    {
      now: src.clock.now(),
      cephAnswered: (id) => {
        const last = src.ceph.lastStatus(id);
        return last?.ok ? last.at : null;
      },
      cephDown: (id) => src.ceph.reach.down(id), cephSplitBrain: (id) => src.ceph.splitBrainCount(id),
    },
  );
  return renderMetrics({
    objects: await src.objects(),
    syncTotals: syncTotals(src.db),
    sites: reach,
    tasks: taskCounts(src.db),
    alerts: alertCounts(src.db),
  });
}
