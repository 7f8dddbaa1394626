import type { CephStatus } from '../ceph/mirroring';
import type { ProtectedObject } from '../protection/types';

/**
 * The alert rules and the alert state machine, as pure functions: what fires given what Tandem
 * knows (conditions), and how the stored alerts change from one evaluation to the next.
 */

export const ALERT_RULES = [
  'rpo-warning',
  'rpo-breach',
  'rpo-predicted',
  'sync-failures',
  'daemon',
  'split-brain',
  'unreachable',
  'task-failed',
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];
export type Severity = 'warning' | 'critical';

/** Something that is wrong now: one alert per key (`<rule>:<subject>`). */
export interface Condition {
  rule: AlertRule;
  subject: string;
  severity: Severity;
  summary: string;
  detail?: Record<string, unknown>;
}

export function alertKey(rule: string, subject: string): string {
  return `${rule}:${subject}`;
}

/** A firing alert as stored, with what the transition needs. */
export interface FiringAlert {
  id: number;
  key: string;
  ackedAt: number | null;
  /** When a firing notification was last queued for it (null: never). */
  notifiedAt: number | null;
}

export interface Silence {
  matcher: string;
  /** Epoch ms. */
  until: number;
}

/** A silence matches a key exactly, or every key starting with its text before a final `*`. */
export function silenceMatches(matcher: string, key: string): boolean {
  return matcher.endsWith('*') ? key.startsWith(matcher.slice(0, -1)) : matcher === key;
}

export function isSilenced(key: string, silences: readonly Silence[], now: number): boolean {
  return silences.some((s) => s.until > now && silenceMatches(s.matcher, key));
}

export interface NewAlert extends Condition {
  key: string;
  firedAt: number;
  lastSeenAt: number;
}

export interface Transition {
  inserts: NewAlert[];
  /** Still firing: seen again now; summary, severity and detail follow the condition. */
  updates: {
    id: number;
    key: string;
    lastSeenAt: number;
    severity: Severity;
    summary: string;
    detail?: Record<string, unknown>;
  }[];
  resolves: { id: number; key: string; resolvedAt: number }[];
  /** Notifications to queue: `id` is null for an alert inserted by this transition (look it up by key). */
  notify: { key: string; id: number | null; event: 'firing' | 'resolved' }[];
}

export interface TransitionOptions {
  silences?: readonly Silence[];
  /** A firing alert not acknowledged is notified again after this long (0: never). */
  repeatMs?: number;
  /** Keys whose condition is not known now (their source did not answer): a firing one is left as it is. */
  unknown?: (key: string) => boolean;
}

/**
 * The next state of the alerts. A condition whose key already fires updates that alert; a new one
 * fires a new alert; a firing alert whose condition is gone (and not unknown) is resolved — a
 * later condition with the same key is a new alert. Notifications: a new alert, unless silenced;
 * a firing one never notified (it was silenced) or due again (`repeatMs`), unless acknowledged or
 * silenced; a resolved one that was notified firing, unless silenced.
 */
export function nextAlerts(
  current: readonly FiringAlert[],
  conditions: readonly Condition[],
  now: number,
  opts: TransitionOptions = {},
): Transition {
  const silences = opts.silences ?? [];
  const repeatMs = opts.repeatMs ?? 0;
  const out: Transition = { inserts: [], updates: [], resolves: [], notify: [] };
  const firing = new Map(current.map((a) => [a.key, a]));
  const seen = new Set<string>();
  for (const c of conditions) {
    const key = alertKey(c.rule, c.subject);
    if (seen.has(key)) continue;
    seen.add(key);
    const silenced = isSilenced(key, silences, now);
    const a = firing.get(key);
    if (!a) {
      out.inserts.push({ ...c, key, firedAt: now, lastSeenAt: now });
      if (!silenced) out.notify.push({ key, id: null, event: 'firing' });
      continue;
    }
    out.updates.push({
      id: a.id,
      key,
      lastSeenAt: now,
      severity: c.severity,
      summary: c.summary,
      detail: c.detail,
    });
    const due = a.notifiedAt === null || (repeatMs > 0 && now - a.notifiedAt >= repeatMs);
    if (due && a.ackedAt === null && !silenced) out.notify.push({ key, id: a.id, event: 'firing' });
  }
  for (const a of current) {
    if (seen.has(a.key) || opts.unknown?.(a.key)) continue;
    out.resolves.push({ id: a.id, key: a.key, resolvedAt: now });
    if (a.notifiedAt !== null && !isSilenced(a.key, silences, now))
      out.notify.push({ key: a.key, id: a.id, event: 'resolved' });
  }
  return out;
}

// ------------------------------------------------------------------ conditions

export function formatSeconds(sec: number): string {
  if (sec < 120) return `${Math.round(sec)} s`;
  if (sec < 7200) return `${Math.round(sec / 60)} min`;
  if (sec < 172_800) return `${Math.round(sec / 360) / 10} h`;
  return `${Math.round(sec / 8640) / 10} d`;
}

function route(o: ProtectedObject): string {
  return `${o.source?.name ?? '?'} → ${o.target?.name ?? '?'}`;
}

/**
 * RPO warning or breach (one at a time per object: a breach replaces the warning), a predicted
 * breach of an object within its RPO, and `syncFailures` or more consecutive failed syncs.
 */
export function objectConditions(
  objects: readonly ProtectedObject[],
  opts: { syncFailures: number },
): Condition[] {
  const out: Condition[] = [];
  for (const o of objects) {
    if (o.health === 'unprotected') continue;
    const detail = {
      kind: o.kind,
      name: o.name,
      windowSec: o.windowSec,
      rpoSec: o.rpoSec,
      rpoFrom: o.rpoFrom.label,
      source: o.source?.name ?? null,
      target: o.target?.name ?? null,
      href: o.href,
    };
    const window = o.windowSec === null ? 'unknown' : formatSeconds(o.windowSec);
    if (o.health === 'breach') {
      out.push({
        rule: 'rpo-breach',
        subject: o.subject,
        severity: 'critical',
        summary: `${o.name} (${route(o)}): data-loss window ${window} is over twice its RPO of ${formatSeconds(o.rpoSec)}`,
        detail,
      });
    } else if (o.health === 'warning') {
      out.push({
        rule: 'rpo-warning',
        subject: o.subject,
        severity: 'warning',
        summary: `${o.name} (${route(o)}): data-loss window ${window} is over its RPO of ${formatSeconds(o.rpoSec)}`,
        detail,
      });
    } else if (o.predictedBreachAt !== null && o.health === 'ok') {
      out.push({
        rule: 'rpo-predicted',
        subject: o.subject,
        severity: 'warning',
        summary: `${o.name} (${route(o)}) is predicted to exceed its RPO of ${formatSeconds(o.rpoSec)} at ${new Date(o.predictedBreachAt).toISOString()}${o.predictedReason ? `: ${o.predictedReason}` : ''}`,
        detail: { ...detail, predictedBreachAt: o.predictedBreachAt, predictedReason: o.predictedReason },
      });
    }
    if (o.failures >= opts.syncFailures) {
      out.push({
        rule: 'sync-failures',
        subject: o.subject,
        severity: 'warning',
        summary: `${o.name} (${route(o)}): ${o.failures} consecutive syncs failed${o.lastError ? `; last error: ${o.lastError}` : ''}`,
        detail: { ...detail, failures: o.failures, lastError: o.lastError },
      });
    }
  }
  return out;
}

export interface CephSiteKnowledge {
  site: { id: number; name: string };
  /** The cluster's last status (null: none known, or its last question failed). */
  status: CephStatus | null;
}

/** The subject of an RBD image on a pair of clusters, as ProtectedObject names it. */
export function rbdSubject(siteIds: number[], pool: string, namespace: string, image: string): string {
  return `rbd:${[...new Set(siteIds)].sort((a, b) => a - b).join('-')}/${pool}/${namespace}/${image}`;
}

/**
 * From each Ceph cluster's last status: an rbd-mirror daemon missing (mirrored pools that receive
 * from a peer, and no daemon reports) or unhealthy, and images in split-brain (primary on both
 * clusters, or Ceph's own split-brain state).
 */
export function cephConditions(
  known: readonly CephSiteKnowledge[],
  siteIdByName: ReadonlyMap<string, number>,
): Condition[] {
  const out: Condition[] = [];
  for (const { site, status } of known) {
    if (!status) continue;
    const receiving = status.pools.filter(
      (p) => p.mode !== 'disabled' && p.peers.some((x) => x.direction !== 'tx-only'),
    );
    if (receiving.length && status.daemons.length === 0) {
      out.push({
        rule: 'daemon',
        subject: `site:${site.id}`,
        severity: 'critical',
        summary: `no rbd-mirror daemon reports on ${site.name}: ${receiving.length} mirrored pool(s) with a peer (${[...new Set(receiving.map((p) => p.pool))].join(', ')}) are not replicated to it`,
        detail: { site: site.name, pools: [...new Set(receiving.map((p) => p.pool))] },
      });
    }
    for (const d of status.daemons) {
      const health = String(d.health).toUpperCase();
      if (health === 'OK' || health === 'UNKNOWN') continue;
      const callouts = d.callouts.map((c) => `${c.pool}: ${c.text}`).join('; ');
      out.push({
        rule: 'daemon',
        subject: `site:${site.id}/daemon/${d.daemonId}`,
        severity: health === 'ERROR' ? 'critical' : 'warning',
        summary: `rbd-mirror daemon ${d.daemonId} on ${site.name}${d.hostname ? ` (${d.hostname})` : ''} reports ${health}${callouts ? `: ${callouts}` : ''}`,
        detail: { site: site.name, daemon: d.daemonId, hostname: d.hostname, health },
      });
    }
    for (const p of status.pools) {
      for (const img of p.images) {
        const ownSplit = img.mirroring?.description.splitBrain === true;
        if (!img.splitBrainWith && !ownSplit) continue;
        const peerIds = img.splitBrainWith
          ? [img.splitBrainWith.siteId]
          : p.peers
              .map((x) => siteIdByName.get(x.siteName))
              .filter((x): x is number => x !== undefined)
              .slice(0, 1);
        const name = [p.pool, p.namespace, img.name].filter(Boolean).join('/');
        out.push({
          rule: 'split-brain',
          subject: rbdSubject([site.id, ...peerIds], p.pool, p.namespace, img.name),
          severity: 'critical',
          summary: img.splitBrainWith
            ? `split-brain: image ${name} is primary on ${site.name} and on ${img.splitBrainWith.siteName}; resolve it with a failback (demote and resync the stale side)`
            : `split-brain: Ceph reports image ${name} on ${site.name} in split-brain; demote and resync one side`,
          detail: {
            site: site.name,
            pool: p.pool,
            namespace: p.namespace,
            image: img.name,
            with: img.splitBrainWith?.siteName ?? null,
          },
        });
      }
    }
  }
  return out;
}

export interface SiteReach {
  site: { id: number; name: string; kind: 'node' | 'ceph' };
  /** Found unreachable: why and when; null when it answered last. */
  down: { error: string; at: number } | null;
}

export function unreachableConditions(reach: readonly SiteReach[]): Condition[] {
  return reach
    .filter((r) => r.down)
    .map((r) => ({
      rule: 'unreachable' as const,
      subject: `site:${r.site.id}`,
      severity: 'critical' as const,
      summary: `${r.site.kind === 'ceph' ? 'Ceph cluster' : 'node'} ${r.site.name} cannot be reached: ${r.down!.error}`,
      detail: { site: r.site.name, kind: r.site.kind, error: r.down!.error, since: r.down!.at },
    }));
}

// ------------------------------------------------------------------ delivery backoff

/** Delivery attempts before a delivery is given up (state `failed`). */
export const MAX_ATTEMPTS = 8;
const BACKOFF_BASE_MS = 10_000;
const BACKOFF_MAX_MS = 3_600_000;

/**
 * The wait after the `attempts`-th failed attempt: 10 s, 20 s, 40 s, … doubling, at most an hour;
 * null once `maxAttempts` attempts were made (give up).
 */
export function retryDelayMs(attempts: number, maxAttempts = MAX_ATTEMPTS): number | null {
  if (attempts >= maxAttempts) return null;
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (attempts - 1));
}
