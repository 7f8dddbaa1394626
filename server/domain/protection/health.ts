import { formatSeconds } from './format';
import type { ProtectionHealth } from './types';

/**
 * Health of a protected object from its data-loss window and RPO: `ok` within the RPO,
 * `warning` beyond it, `breach` beyond twice the RPO, `unknown` without a measure.
 */
export function protectionHealth(
  windowSec: number | null,
  rpoSec: number,
): Exclude<ProtectionHealth, 'unprotected'> {
  if (windowSec === null) return 'unknown';
  if (windowSec > 2 * rpoSec) return 'breach';
  if (windowSec > rpoSec) return 'warning';
  return 'ok';
}

/**
 * The data-loss window of a mirrored RBD image: what a failover to the other side would lose
 * now. The failover wizard quotes this figure, and the Protection overview measures against it.
 * Snapshot mode: now − the newest mirror snapshot completely copied to the non-primary side.
 * Journal mode: the entries the non-primary side is behind, at its replay rate; 0 when it is
 * not behind.
 */
export function imageLossWindow(o: {
  now: number;
  /** Epoch ms of the newest completely copied snapshot (snapshot mode), or null. */
  lastSyncedAt: number | null;
  mode?: 'snapshot' | 'journal' | null;
  entriesBehind?: number | null;
  entriesPerSecond?: number | null;
}): { seconds: number | null; from: number | null; reason: string | null } {
  if (o.mode === 'journal') {
    const behind = o.entriesBehind;
    if (behind === null || behind === undefined)
      return {
        seconds: null,
        from: null,
        reason:
          'journal mode: rbd-mirror reports no entries behind the primary (not replaying, or not reported yet)',
      };
    if (behind === 0) return { seconds: 0, from: o.now, reason: null };
    const rate = o.entriesPerSecond ?? 0;
    if (rate <= 0)
      return {
        seconds: null,
        from: null,
        reason: `journal mode: ${behind} entries behind the primary and no replay rate reported, so the time they cover cannot be computed`,
      };
    const seconds = Math.ceil(behind / rate);
    return { seconds, from: o.now - seconds * 1000, reason: null };
  }
  if (o.lastSyncedAt === null)
    return {
      seconds: null,
      from: null,
      reason:
        'no mirror snapshot has been reported copied yet (rbd-mirror has not reported a sync since it started)',
    };
  return {
    seconds: Math.max(0, Math.round((o.now - o.lastSyncedAt) / 1000)),
    from: o.lastSyncedAt,
    reason: null,
  };
}

/**
 * When the data-loss window will cross the RPO if nothing new is copied before then: the next
 * recovery point is expected at `nextRecoveryAt` (the next sync's end, the next mirror snapshot
 * copied). Null when it comes in time, or the window is already beyond the RPO.
 */
export function predictedBreach(o: {
  now: number;
  recoveryPointAt: number | null;
  rpoSec: number;
  nextRecoveryAt: number | null;
  why: string;
}): { at: number; reason: string } | null {
  if (o.recoveryPointAt === null || o.nextRecoveryAt === null) return null;
  const crossesAt = o.recoveryPointAt + o.rpoSec * 1000;
  if (crossesAt <= o.now) return null;
  if (o.nextRecoveryAt <= crossesAt) return null;
  return { at: crossesAt, reason: o.why };
}

/**
 * The linear trend of a series of (time, value) points (least squares): value per millisecond
 * and the value at `at`. Null with fewer than three points or no spread in time.
 */
export function trend(
  points: readonly { at: number; value: number }[],
): { slope: number; valueAt: (at: number) => number } | null {
  if (points.length < 3) return null;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.at, 0) / n;
  const my = points.reduce((s, p) => s + p.value, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.at - mx) ** 2;
    sxy += (p.at - mx) * (p.value - my);
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  return { slope, valueAt: (at) => my + slope * (at - mx) };
}

/**
 * A replica's next recovery point and why it may come late: the next sync starts at
 * `nextSyncAt` (or now, when due) and takes about as long as the recent ones — longer when their
 * durations are rising (the trend, projected to the next sync).
 */
export function replicaNextRecovery(o: {
  now: number;
  nextSyncAt: number | null;
  enabled: boolean;
  recentSyncs: readonly { at: number; seconds: number }[];
  sleepTimeSec: number;
  rpoSec: number;
}): { at: number | null; why: string } {
  if (!o.enabled)
    return { at: null, why: 'replication is paused: no new recovery point until it is resumed' };
  const start = Math.max(o.now, o.nextSyncAt ?? o.now);
  const recent = o.recentSyncs.slice(-10);
  const last = recent.at(-1)?.seconds ?? 0;
  const t = trend(recent.map((r) => ({ at: r.at, value: r.seconds })));
  const projected = t && t.slope > 0 ? Math.max(last, t.valueAt(start)) : last;
  const cycle = o.sleepTimeSec + projected;
  const why =
    t && t.slope > 0 && projected > last + 1
      ? `syncs are getting longer (last ${formatSeconds(last)}, projected ${formatSeconds(projected)}): with the sleep time of ${formatSeconds(o.sleepTimeSec)} a cycle takes ${formatSeconds(cycle)}, against an RPO of ${formatSeconds(o.rpoSec)}`
      : `a sync cycle takes ${formatSeconds(cycle)} (sleep time ${formatSeconds(o.sleepTimeSec)} + sync ${formatSeconds(last)}), against an RPO of ${formatSeconds(o.rpoSec)}`;
  return { at: start + projected * 1000, why };
}

/**
 * Whether a replication cadence can meet an RPO: a recovery point is at most `intervalSec` +
 * `transferSec` old just before the next one lands. Returns why not, or null.
 */
export function cadenceRefusal(o: {
  what: string;
  intervalSec: number;
  transferSec?: number;
  rpoSec: number;
  rpoFrom: string;
}): string | null {
  const worst = o.intervalSec + (o.transferSec ?? 0);
  if (worst <= o.rpoSec) return null;
  return `${o.what} of ${formatSeconds(o.intervalSec)}${o.transferSec ? ` plus about ${formatSeconds(o.transferSec)} per transfer` : ''} cannot meet the RPO of ${formatSeconds(o.rpoSec)} (${o.rpoFrom}): the data-loss window would reach ${formatSeconds(worst)} before each new recovery point`;
}

/** How long a mirror-snapshot copy may stay at one percent before it counts as stuck. */
export const STUCK_COPY_MS = 120_000;

/**
 * Follows the percent of an image's mirror-snapshot copy between status refreshes: returns the
 * progress to remember (the percent and since when it has not moved), or null when no copy is
 * running. The copy is stuck when `now - since >= STUCK_COPY_MS`.
 */
export function copyProgress(
  prev: { percent: number; since: number } | undefined,
  percent: number | null,
  now: number,
): { percent: number; since: number } | null {
  if (percent === null) return null;
  if (prev && prev.percent === percent) return prev;
  return { percent, since: now };
}

/** Why no new recovery point comes while a copy is stuck, or null when it moves. */
export function stuckCopyReason(p: { percent: number; since: number } | null, now: number): string | null {
  if (!p || now - p.since < STUCK_COPY_MS) return null;
  return `the mirror snapshot copy has stayed at ${p.percent} % since ${new Date(p.since).toISOString()}: no new recovery point comes until it moves`;
}
