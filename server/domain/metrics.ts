import { and, eq, gt, gte, like, lte, max, min, sql } from 'drizzle-orm';
import { Counter, Gauge, Registry } from 'prom-client';
import type { Db } from '../db/client';
import { alerts, sites, syncRuns, tasks } from '../db/schema';
import type { Clock } from '../core/clock';
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
  return {
    subject: o.subject,
    kind: o.kind,
    name: o.name,
    source: o.source?.name ?? '',
    target: o.target?.name ?? '',
  };
}

/**
 * One series. `sharedLabels` (prom-client's registry formats such a label object once, cached by
 * identity: the histograms' mechanism) carries an object's five labels for all its series.
 */
type Row<L extends string> = {
  labels: Partial<Record<L, string>>;
  sharedLabels?: Readonly<Record<string, string>>;
  value: number;
};

/**
 * prom-client's gauge and counter, given their series as rows: `set()`/`inc()` hash every label
 * set into a map first, which at 10,000 objects (80,000 series) took as long as writing the text.
 * prom-client still writes the text (names, help, types, escaping).
 */
class GaugeRows<L extends string> extends Gauge<L> {
  readonly rows: Row<L>[] = [];
  override async get() {
    return { ...(await super.get()), values: this.rows };
  }
}
class CounterRows<L extends string> extends Counter<L> {
  readonly rows: Row<L>[] = [];
  override async get() {
    return { ...(await super.get()), values: this.rows };
  }
}

const HEALTH_LABELS = Object.fromEntries(HEALTHS.map((h) => [h, { health: h }])) as Record<
  (typeof HEALTHS)[number],
  { health: string }
>;

/** The registry of one scrape, filled from `d`. */
export function metricsRegistry(d: MetricsData): Registry {
  const registers = [new Registry()];
  const reg = registers[0]!;
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new GaugeRows<L>({ name, help, labelNames, registers });
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    new CounterRows<L>({ name, help, labelNames, registers });

  const window = gauge(
    'tandem_data_loss_window_seconds',
    'What a failover now would lose: now minus the recovery point (the figure the failover wizard quotes). Absent while unknown.',
    OBJECT_LABELS,
  );
  const rpo = gauge(
    'tandem_rpo_seconds',
    'The effective recovery-point objective of a protected object.',
    OBJECT_LABELS,
  );
  const health = gauge(
    'tandem_protection_health',
    'Protection health as a state set: 1 for the current health (ok, warning, breach, unknown, unprotected), 0 for the others.',
    [...OBJECT_LABELS, 'health'],
  );
  const syncSeconds = gauge(
    'tandem_sync_duration_seconds',
    'Duration of the latest sync of a protected object.',
    OBJECT_LABELS,
  );
  const syncBytes = counter(
    'tandem_sync_bytes_total',
    'Bytes sent by the successful syncs of a VM replica (its recorded sync runs).',
    OBJECT_LABELS,
  );
  const syncFailures = counter(
    'tandem_sync_failures_total',
    'Failed syncs of a VM replica (its recorded sync runs).',
    OBJECT_LABELS,
  );
  const siteUp = gauge(
    'tandem_site_up',
    'Whether a site answered when the console last learnt of it (1) or not (0). Absent until something is known.',
    ['site', 'kind'],
  );
  const siteSeen = gauge(
    'tandem_site_last_seen_timestamp_seconds',
    'When a site last answered the console (Unix time).',
    ['site', 'kind'],
  );
  const taskCount = gauge('tandem_tasks', 'Stored tasks by kind and state.', ['kind', 'state']);
  const alertCount = gauge('tandem_alerts', 'Stored alerts by rule, severity and state (firing, resolved).', [
    'rule',
    'severity',
    'state',
  ]);

  const totals = new Map(d.syncTotals.map((t) => [t.subject, t]));
  const finite = (v: number | null): v is number => v !== null && Number.isFinite(v);
  for (const o of d.objects) {
    const sharedLabels = objectLabels(o);
    const labels = {};
    for (const h of HEALTHS)
      health.rows.push({ labels: HEALTH_LABELS[h], sharedLabels, value: o.health === h ? 1 : 0 });
    if (o.health === 'unprotected') continue;
    rpo.rows.push({ labels, sharedLabels, value: o.rpoSec });
    if (finite(o.windowSec)) window.rows.push({ labels, sharedLabels, value: o.windowSec });
    if (finite(o.syncSeconds)) syncSeconds.rows.push({ labels, sharedLabels, value: o.syncSeconds });
    if (o.kind === 'vm-replica') {
      const t = totals.get(o.subject);
      syncBytes.rows.push({ labels, sharedLabels, value: Math.max(0, t?.bytes ?? 0) });
      syncFailures.rows.push({ labels, sharedLabels, value: Math.max(0, t?.failures ?? 0) });
    }
  }
  for (const s of d.sites) {
    const labels = { site: s.site.name, kind: s.site.kind };
    if (s.up !== null) siteUp.rows.push({ labels, value: s.up ? 1 : 0 });
    if (s.lastSeenAt !== null) siteSeen.rows.push({ labels, value: s.lastSeenAt / 1000 });
  }
  for (const t of d.tasks) taskCount.rows.push({ labels: { kind: t.kind, state: t.state }, value: t.count });
  for (const a of d.alerts)
    alertCount.rows.push({ labels: { rule: a.rule, severity: a.severity, state: a.state }, value: a.count });
  return reg;
}

/** The exposition text (Prometheus text format 0.0.4) and its content type. */
export async function renderMetrics(d: MetricsData): Promise<{ contentType: string; text: string }> {
  const reg = metricsRegistry(d);
  return { contentType: reg.contentType, text: await reg.metrics() };
}

/** Bytes of successful runs and count of failed runs per VM replica (runs with ids in `(after, upTo]`), in one grouped query. */
export function syncTotals(db: Db, after = 0, upTo?: number): SyncTotal[] {
  return (
    db
      .select({
        subject: syncRuns.subject,
        bytes: sql<number>`coalesce(sum(case when ${syncRuns.outcome} = 'success' then ${syncRuns.bytes} end), 0)`,
        failures: sql<number>`sum(${syncRuns.outcome} = 'failure')`,
      })
      .from(syncRuns)
      .where(
        and(
          gt(syncRuns.id, after),
          upTo === undefined ? undefined : lte(syncRuns.id, upTo),
          like(syncRuns.subject, 'replica:%'),
        ),
      )
      // `+subject`: grouping by the bare column makes SQLite walk the whole subject index instead of the id range.
      .groupBy(sql`+${syncRuns.subject}`)
      .all()
  );
}

/** A run still `running` after this long was cut off (its process ended) and no longer holds the totals' mark back. */
export const STALE_RUN_MS = 86_400_000;

/**
 * The sync totals, kept up to date from one scrape to the next instead of summing every run each
 * time (sync_runs grows by a row per sync: summing a million rows took 1.5 s). Runs up to a mark
 * are final and summed once; the mark is the run before the oldest one still going (or the newest
 * run); runs after it are summed again at each scrape. Only a run's end changes its row, so a
 * total never goes down. A run cut off while `running` stops holding the mark back after a day.
 */
export class SyncTotalsCache {
  #base = new Map<string, { bytes: number; failures: number }>();
  #through = 0;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  read(): SyncTotal[] {
    const open = this.db
      .select({ id: min(syncRuns.id) })
      .from(syncRuns)
      .where(
        and(
          gt(syncRuns.id, this.#through),
          eq(syncRuns.outcome, 'running'),
          gte(syncRuns.startedAt, new Date(this.clock.now() - STALE_RUN_MS)),
        ),
      )
      .get()?.id;
    const newest =
      this.db
        .select({ id: max(syncRuns.id) })
        .from(syncRuns)
        .get()?.id ?? 0;
    const mark = open ? open - 1 : newest;
    if (mark > this.#through) {
      for (const t of syncTotals(this.db, this.#through, mark)) {
        const b = this.#base.get(t.subject) ?? { bytes: 0, failures: 0 };
        this.#base.set(t.subject, { bytes: b.bytes + t.bytes, failures: b.failures + t.failures });
      }
      this.#through = mark;
    }
    const out = new Map([...this.#base].map(([subject, t]) => [subject, { subject, ...t }]));
    for (const t of syncTotals(this.db, this.#through)) {
      const b = out.get(t.subject);
      out.set(t.subject, {
        subject: t.subject,
        bytes: (b?.bytes ?? 0) + t.bytes,
        failures: (b?.failures ?? 0) + t.failures,
      });
    }
    return [...out.values()];
  }
}

const SYNC_TOTALS = Symbol.for('tandem.metricsSyncTotals');
function syncTotalsOf(db: Db, clock: Clock): SyncTotalsCache {
  const g = globalThis as unknown as { [SYNC_TOTALS]?: WeakMap<Db, SyncTotalsCache> };
  const all = (g[SYNC_TOTALS] ??= new WeakMap());
  let c = all.get(db);
  if (!c) all.set(db, (c = new SyncTotalsCache(db, clock)));
  return c;
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
    .select({
      rule: alerts.rule,
      severity: alerts.severity,
      state: alerts.state,
      count: sql<number>`count(*)`,
    })
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
  const siteRows = src.db
    .select({ id: sites.id, name: sites.name, kind: sites.kind, lastSeenAt: sites.lastSeenAt })
    .from(sites)
    .orderBy(sites.name)
    .all();
  const reach = knownReach(
    src.sites,
    siteRows.map((r) => ({ ...r, lastSeenAt: r.lastSeenAt?.getTime() ?? null })),
    {
      now: src.clock.now(),
      cephAnswered: (id) => {
        const last = src.ceph.lastStatus(id);
        return last?.ok ? last.at : null;
      },
      cephDown: (id) => src.ceph.reach.down(id),
      cephSplitBrain: (id) => src.ceph.splitBrainCount(id),
    },
  );
  return renderMetrics({
    objects: await src.objects(),
    syncTotals: syncTotalsOf(src.db, src.clock).read(),
    sites: reach,
    tasks: taskCounts(src.db),
    alerts: alertCounts(src.db),
  });
}
