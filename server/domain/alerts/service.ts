import { and, desc, eq, gt, inArray, sql, type SQL } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { alertDeliveries, alerts, alertSilences, replicas, sites, tasks } from '../../db/schema';
import type { TaskEngine } from '../../tasks/engine';
import type { SessionUser } from '../auth';
import type { CephMirroring } from '../ceph/mirroring';
import type { Clock } from '../../core/clock';
import { AppError, errorMessage } from '../../core/errors';
import type { HistoryLog } from '../history';
import type { ProtectedObject } from '../protection/types';
import { getSetting, setSetting } from '../settings';
import type { AlertDelivery } from './delivery';
import {
  ALERT_RULES,
  alertKey,
  cephConditions,
  nextAlerts,
  objectConditions,
  silenceMatches,
  unreachableConditions,
  type AlertRule,
  type CephSiteKnowledge,
  type Condition,
  type SiteReach,
  type Transition,
} from './rules';

/** The Ceph clusters a daemon or split-brain alert key is about. */
function cephSiteOf(key: string): number[] {
  const daemon = /^daemon:site:(\d+)(?:\/|$)/.exec(key);
  if (daemon) return [Number(daemon[1])];
  const split = /^split-brain:rbd:([\d-]+)\//.exec(key);
  return split ? split[1]!.split('-').map(Number) : [];
}

/** Durable task kinds whose failure leaves a failover, failback, reinit or resync unfinished. */
export const RECOVERY_TASK_KINDS = [
  'replica.failover',
  'replica.reinit',
  'replica.resync',
  'replica.repoint',
  'ceph.failover',
  'ceph.resync',
  'ceph.failback',
];

export interface AlertSettings {
  /** Consecutive failed syncs that raise `sync-failures`. */
  syncFailures: number;
  /** A node Tandem replicates from or to that has not answered the scheduler for this long is unreachable. */
  nodeUnreachableSec: number;
  /** A firing alert nobody acknowledged is notified again after this long (0: never). */
  repeatSec: number;
}

export const DEFAULT_ALERT_SETTINGS: AlertSettings = {
  syncFailures: 3,
  nodeUnreachableSec: 120,
  repeatSec: 4 * 3600,
};
const SETTINGS_KEY = 'alerts.settings';

export type AlertRow = typeof alerts.$inferSelect;

export interface AlertView extends AlertRow {
  /** An active silence matches the alert's key (its notifications are not delivered). */
  silencedUntil: number | null;
}

export interface AlertQuery {
  state?: 'firing' | 'resolved';
  rule?: AlertRule;
  offset: number;
  limit: number;
}

export interface AlertServiceDeps {
  db: Db;
  clock: Clock;
  history: HistoryLog;
  tasks: TaskEngine;
  ceph: CephMirroring;
  delivery: AlertDelivery;
  /** Every protected object, from stored state (app.protection.objects()). */
  objects: () => Promise<ProtectedObject[]>;
  /** Whether the replication scheduler runs (it is what notes that a node answered). */
  watchesNodes?: boolean;
}

/**
 * Alerts: evaluates the rules against what Tandem already knows (protected objects, the Ceph
 * clusters' last statuses, sites last seen, ended tasks) without asking any machine, applies the
 * state machine (`nextAlerts`) in one transaction and queues the notifications.
 */
export class AlertService {
  #timer: NodeJS.Timeout | null = null;
  #evaluating: Promise<Transition> | null = null;
  readonly #deps: AlertServiceDeps;

  constructor(deps: AlertServiceDeps) {
    this.#deps = deps;
  }

  /** Channels and deliveries. */
  get delivery(): AlertDelivery {
    return this.#deps.delivery;
  }

  get #db(): Db {
    return this.#deps.db;
  }

  start(intervalMs = 30_000): void {
    if (this.#timer) return;
    const tick = () => {
      void this.evaluate().catch((e) => console.error('[tandem] alert evaluation failed:', errorMessage(e)));
    };
    this.#timer = setInterval(tick, intervalMs);
    this.#timer.unref();
    tick();
    this.#deps.delivery.start();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#deps.delivery.stop();
  }

  settings(): AlertSettings {
    return {
      ...DEFAULT_ALERT_SETTINGS,
      ...(getSetting<Partial<AlertSettings>>(this.#db, SETTINGS_KEY) ?? {}),
    };
  }

  setSettings(patch: Partial<AlertSettings>): AlertSettings {
    const next = { ...this.settings(), ...patch };
    setSetting(this.#db, SETTINGS_KEY, next);
    return next;
  }

  /** One evaluation (one at a time: a call while one runs gets its result). */
  evaluate(now?: number): Promise<Transition> {
    if (this.#evaluating) return this.#evaluating;
    this.#evaluating = this.#evaluate(now).finally(() => (this.#evaluating = null));
    return this.#evaluating;
  }

  async #evaluate(at?: number): Promise<Transition> {
    const objects = await this.#deps.objects();
    const now = at ?? this.#deps.clock.now();
    const settings = this.settings();
    const { conditions, unknown } = this.#conditions(objects, settings, now);
    const t = this.#db.transaction(
      (tx) => {
        const firing = tx
          .select({ id: alerts.id, key: alerts.key, ackedAt: alerts.ackedAt })
          .from(alerts)
          .where(eq(alerts.state, 'firing'))
          .all();
        const notified = new Map(
          firing.length
            ? tx
                .select({ id: alertDeliveries.alertId, at: sql<number>`max(${alertDeliveries.createdAt})` })
                .from(alertDeliveries)
                .where(
                  and(
                    inArray(
                      alertDeliveries.alertId,
                      firing.map((f) => f.id),
                    ),
                    eq(alertDeliveries.event, 'firing'),
                  ),
                )
                .groupBy(alertDeliveries.alertId)
                .all()
                .map((r) => [r.id!, Number(r.at)])
            : [],
        );
        const silences = tx
          .select({ matcher: alertSilences.matcher, until: alertSilences.until })
          .from(alertSilences)
          .where(gt(alertSilences.until, new Date(now)))
          .all();
        const next = nextAlerts(
          firing.map((f) => ({
            id: f.id,
            key: f.key,
            ackedAt: f.ackedAt?.getTime() ?? null,
            notifiedAt: notified.get(f.id) ?? null,
          })),
          conditions,
          now,
          {
            silences: silences.map((s) => ({ matcher: s.matcher, until: s.until.getTime() })),
            repeatMs: settings.repeatSec * 1000,
            unknown,
          },
        );
        const ids = new Map<string, number>();
        for (const a of next.inserts) {
          const row = tx
            .insert(alerts)
            .values({
              rule: a.rule,
              subject: a.subject,
              key: a.key,
              severity: a.severity,
              state: 'firing',
              summary: a.summary,
              detail: a.detail ?? null,
              firedAt: new Date(a.firedAt),
              lastSeenAt: new Date(a.lastSeenAt),
            })
            .returning({ id: alerts.id })
            .get();
          ids.set(a.key, row.id);
          this.#deps.history.record({
            username: 'alerts',
            action: 'alert.fired',
            target: `alert:${a.key}`,
            params: { id: row.id, rule: a.rule, severity: a.severity, summary: a.summary },
            outcome: 'failure',
            error: a.summary,
            at: now,
          });
        }
        for (const u of next.updates) {
          tx.update(alerts)
            .set({
              lastSeenAt: new Date(u.lastSeenAt),
              severity: u.severity,
              summary: u.summary,
              detail: u.detail ?? null,
            })
            .where(eq(alerts.id, u.id))
            .run();
        }
        for (const r of next.resolves) {
          tx.update(alerts)
            .set({ state: 'resolved', resolvedAt: new Date(r.resolvedAt) })
            .where(eq(alerts.id, r.id))
            .run();
          this.#deps.history.record({
            username: 'alerts',
            action: 'alert.resolved',
            target: `alert:${r.key}`,
            params: { id: r.id },
            outcome: 'success',
            at: now,
          });
        }
        for (const n of next.notify) {
          const id = n.id ?? ids.get(n.key);
          if (id !== undefined) this.#deps.delivery.enqueue(tx, id, n.event, now);
        }
        return next;
      },
      { behavior: 'immediate' },
    );
    if (t.notify.length) this.#deps.delivery.kick();
    return t;
  }

  #conditions(
    objects: ProtectedObject[],
    settings: AlertSettings,
    now: number,
  ): { conditions: Condition[]; unknown: (key: string) => boolean } {
    const siteRows = this.#db
      .select({ id: sites.id, name: sites.name, kind: sites.kind, lastSeenAt: sites.lastSeenAt })
      .from(sites)
      .all();
    const unknownKeys = new Set<string>();
    const unknownCeph = new Set<number>();
    const known: CephSiteKnowledge[] = [];
    const reach: SiteReach[] = [];
    const replicated = new Set(
      this.#db
        .select({ s: replicas.sourceSiteId, t: replicas.targetSiteId })
        .from(replicas)
        .all()
        .flatMap((r) => [r.s, r.t]),
    );
    for (const s of siteRows) {
      const site = { id: s.id, name: s.name, kind: s.kind };
      if (s.kind === 'ceph') {
        const last = this.#deps.ceph.lastStatus(s.id);
        const reachDown = this.#deps.ceph.reach.down(s.id);
        known.push({ site, status: last?.ok ? last.status : null });
        if (!last?.ok) {
          // Nothing known of its daemons and images now: their alerts stay as they are.
          unknownCeph.add(s.id);
        }
        let down: SiteReach['down'] = null;
        if (last && !last.ok && last.unreachable) down = { error: last.error, at: last.at };
        if (reachDown && (!last || reachDown.at > last.at)) down = reachDown;
        if (!last && !reachDown) unknownKeys.add(alertKey('unreachable', `site:${s.id}`));
        reach.push({ site, down });
      } else if (this.#deps.watchesNodes && replicated.has(s.id)) {
        const seen = s.lastSeenAt?.getTime() ?? null;
        if (seen === null) unknownKeys.add(alertKey('unreachable', `site:${s.id}`));
        const late = seen !== null && now - seen > settings.nodeUnreachableSec * 1000;
        reach.push({
          site,
          down: late ? { error: `no answer since ${new Date(seen).toISOString()}`, at: seen } : null,
        });
      }
    }
    // The clusters' own mirror site names (what their peers call them) → their site ids.
    const byName = new Map<string, number>();
    for (const k of known)
      for (const p of k.status?.pools ?? []) if (p.siteName) byName.set(p.siteName, k.site.id);
    const tasksKnown = this.#taskConditions();
    for (const k of tasksKnown.unknown) unknownKeys.add(k);
    const conditions = [
      ...objectConditions(objects, settings),
      ...cephConditions(known, byName),
      ...unreachableConditions(reach),
      ...tasksKnown.conditions,
    ];
    return {
      conditions,
      unknown: (key) => unknownKeys.has(key) || cephSiteOf(key).some((id) => unknownCeph.has(id)),
    };
  }

  /**
   * A failover, failback, reinit or resync task that failed or was interrupted and can still be
   * resumed or rolled back. Resolved when it is resumed and finishes, rolled back, or superseded (a
   * later task on the same resources finished). While it runs again, or another task holds its
   * resources, its alert is left as it is.
   */
  #taskConditions(): { conditions: Condition[]; unknown: string[] } {
    const engine = this.#deps.tasks;
    const rows = this.#db
      .select()
      .from(tasks)
      .where(
        and(
          inArray(tasks.kind, RECOVERY_TASK_KINDS),
          inArray(tasks.state, ['failed', 'interrupted', 'waiting', 'running', 'question']),
        ),
      )
      .orderBy(desc(tasks.id))
      .limit(200)
      .all();
    const conditions: Condition[] = [];
    const unknown: string[] = [];
    for (const t of rows) {
      const key = alertKey('task-failed', `task:${t.id}`);
      if (t.state !== 'failed' && t.state !== 'interrupted') {
        if (t.attempts > 1) unknown.push(key);
        continue;
      }
      if ((t.locks ?? [t.target]).some((l) => engine.holder(l))) {
        unknown.push(key);
        continue;
      }
      const offer = engine.recovery(t.id);
      if (!offer || (!offer.resume.ok && !offer.rollback.ok)) continue;
      conditions.push({
        rule: 'task-failed',
        subject: `task:${t.id}`,
        severity: 'critical',
        summary: `task #${t.id} "${t.name}" ${t.state === 'failed' ? 'failed' : 'was interrupted'}${t.lastCompletedStep ? ` after "${t.lastCompletedStep}"` : ''}${t.error ? `: ${t.error}` : ''}; resume it or roll it back`,
        detail: { taskId: t.id, kind: t.kind, state: t.state, error: t.error, href: `/tasks/${t.id}` },
      });
    }
    return { conditions, unknown };
  }

  // ---------------------------------------------------------------- reading and user actions

  list(q: AlertQuery): { rows: AlertView[]; total: number } {
    const conds: SQL[] = [];
    if (q.state) conds.push(eq(alerts.state, q.state));
    if (q.rule) conds.push(eq(alerts.rule, q.rule));
    const where = conds.length ? and(...conds) : undefined;
    const order =
      q.state === 'firing'
        ? [
            sql`case ${alerts.severity} when 'critical' then 0 else 1 end`,
            desc(alerts.firedAt),
            desc(alerts.id),
          ]
        : [desc(alerts.firedAt), desc(alerts.id)];
    const rows = this.#db
      .select()
      .from(alerts)
      .where(where)
      .orderBy(...order)
      .limit(q.limit)
      .offset(q.offset)
      .all();
    const total =
      this.#db
        .select({ n: sql<number>`count(*)` })
        .from(alerts)
        .where(where)
        .get()?.n ?? 0;
    const silences = this.activeSilences();
    return {
      rows: rows.map((r) => ({
        ...r,
        silencedUntil:
          Math.max(
            0,
            ...silences.filter((s) => silenceMatches(s.matcher, r.key)).map((s) => s.until.getTime()),
          ) || null,
      })),
      total,
    };
  }

  /** How many alerts fire, by severity. */
  counts(): { critical: number; warning: number } {
    const rows = this.#db
      .select({ severity: alerts.severity, n: sql<number>`count(*)` })
      .from(alerts)
      .where(eq(alerts.state, 'firing'))
      .groupBy(alerts.severity)
      .all();
    return {
      critical: rows.find((r) => r.severity === 'critical')?.n ?? 0,
      warning: rows.find((r) => r.severity === 'warning')?.n ?? 0,
    };
  }

  get(id: number): AlertRow {
    const a = this.#db.select().from(alerts).where(eq(alerts.id, id)).get();
    if (!a) throw new AppError('NOT_FOUND', `alert #${id} does not exist`);
    return a;
  }

  /** Acknowledges a firing alert: it keeps firing but is not notified again. */
  ack({ id }: { id: number }, user: SessionUser): AlertRow {
    const a = this.get(id);
    if (a.state !== 'firing')
      throw new AppError(
        'PRECONDITION_FAILED',
        `alert #${id} is resolved; only a firing alert can be acknowledged`,
      );
    if (a.ackedAt)
      throw new AppError(
        'CONFLICT',
        `alert #${id} was already acknowledged by ${a.ackedBy} at ${a.ackedAt.toISOString()}`,
      );
    return this.#db
      .update(alerts)
      .set({ ackedBy: user.username, ackedAt: new Date(this.#deps.clock.now()) })
      .where(eq(alerts.id, id))
      .returning()
      .get();
  }

  activeSilences() {
    return this.#db
      .select()
      .from(alertSilences)
      .where(gt(alertSilences.until, new Date(this.#deps.clock.now())))
      .orderBy(desc(alertSilences.id))
      .all();
  }

  /** Silences the alerts matching `matcher` (a key, or a prefix ending in `*`) for `minutes`. */
  silence(input: { matcher: string; minutes: number; reason: string | null }, user: SessionUser) {
    const matcher = input.matcher.trim();
    if (!matcher || matcher === '*')
      throw AppError.invalid(
        'matcher',
        'give an alert key, or a prefix ending in * (silencing everything is not allowed)',
      );
    if (matcher.slice(0, -1).includes('*'))
      throw AppError.invalid('matcher', 'only a final * is allowed (a prefix)');
    const [rule] = matcher.split(':');
    if (!matcher.endsWith('*') || matcher.includes(':')) {
      if (!(ALERT_RULES as readonly string[]).includes(rule!))
        throw AppError.invalid('matcher', `a key starts with a rule: ${ALERT_RULES.join(', ')}`);
    }
    const now = this.#deps.clock.now();
    return this.#db
      .insert(alertSilences)
      .values({
        matcher,
        until: new Date(now + input.minutes * 60_000),
        reason: input.reason?.trim() || null,
        createdBy: user.username,
      })
      .returning()
      .get();
  }

  /** Ends a silence now (kept as a record). */
  unsilence(id: number) {
    const s = this.#db.select().from(alertSilences).where(eq(alertSilences.id, id)).get();
    if (!s) throw new AppError('NOT_FOUND', `silence #${id} does not exist`);
    const now = new Date(this.#deps.clock.now());
    if (s.until <= now) throw new AppError('PRECONDITION_FAILED', `silence #${id} has already ended`);
    return this.#db
      .update(alertSilences)
      .set({ until: now })
      .where(eq(alertSilences.id, id))
      .returning()
      .get();
  }
}
