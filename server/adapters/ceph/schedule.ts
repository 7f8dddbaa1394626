import { AppError } from '../../core/errors';

/**
 * Mirror snapshot schedules as the `rbd_support` mgr module of Ceph 16.2 (Pacific) implements
 * them (src/pybind/mgr/rbd_support/schedule.py):
 *
 * - An interval is `<n>m`, `<n>h` or `<n>d` (Ceph also takes a bare number as minutes).
 * - A start time is parsed with dateutil and only its time of day and UTC offset are kept; the
 *   date part is ignored. `ls` shows it back as `HH:MM:SS[+HH:MM]`.
 * - The anchor of a schedule is 1970-01-01 00:00 plus the start time in minutes, where Pacific
 *   ADDS the offset's positive remainder (`utcoffset().seconds / 60`) instead of converting to
 *   UTC: `14:00+02:00` anchors at 16:00 in the mgr's local time. Without a start time the
 *   anchor is 00:00.
 * - The next run is `anchor + (floor((now - anchor) / interval) + 1) * interval` with `now` the
 *   mgr's local wall clock, truncated to the minute; so always strictly after `now`.
 * - Of all schedules at one level, the earliest next run wins; the most specific level that has
 *   schedules (image, then namespace, then pool, then global) applies to an image.
 */

export interface ScheduleInterval {
  /** As given, normalised (`15m`, `2h`, `1d`). */
  text: string;
  minutes: number;
}

export interface ScheduleStartTime {
  /** As given (trimmed); passed to the CLI unchanged. */
  text: string;
  hour: number;
  minute: number;
  /** UTC offset in minutes when the text carries one, else null. */
  offsetMinutes: number | null;
  /** Minutes after midnight that Ceph anchors the schedule at (see the module comment). */
  anchorMinutes: number;
}

const MAX_INTERVAL_MINUTES = 366 * 24 * 60;

function invalid(field: string, message: string): AppError {
  return AppError.invalid(field, message);
}

/** Validates `<n>m|h|d`. Throws INVALID_INPUT with a message for the operator. */
export function parseScheduleInterval(input: string): ScheduleInterval {
  const s = input.trim();
  const m = /^(\d{1,6})([mhd])$/.exec(s);
  if (!m) {
    if (/^\d+$/.test(s))
      throw invalid(
        'interval',
        `"${s}" has no unit: write ${s}m for minutes, ${s}h for hours or ${s}d for days`,
      );
    if (/^\d+\s*[a-zA-Z]+$/.test(s))
      throw invalid(
        'interval',
        `"${s}" has an unknown unit: use m (minutes), h (hours) or d (days), e.g. 15m, 1h, 1d`,
      );
    throw invalid(
      'interval',
      `"${s}" is not an interval: use a whole number followed by m, h or d, e.g. 15m, 1h, 1d`,
    );
  }
  const n = Number(m[1]);
  const unit = m[2] as 'm' | 'h' | 'd';
  if (n < 1) throw invalid('interval', 'the interval must be at least 1 minute');
  const minutes = n * (unit === 'd' ? 1440 : unit === 'h' ? 60 : 1);
  if (minutes > MAX_INTERVAL_MINUTES)
    throw invalid('interval', `"${s}" is longer than a year; use at most 366d`);
  return { text: `${n}${unit}`, minutes };
}

/** The text Ceph prints for an interval of this many minutes (`Interval.to_string`). */
export function formatScheduleInterval(minutes: number): string {
  if (minutes % 1440 === 0) return `${minutes / 1440}d`;
  if (minutes % 60 === 0) return `${minutes / 60}h`;
  return `${minutes}m`;
}

const TIME = String.raw`(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?`;
const OFFSET = String.raw`(Z|[+-]\d{2}(?::?\d{2})?)`;
const START_TIME = new RegExp(String.raw`^(?:(\d{4})-(\d{2})-(\d{2})[T ])?${TIME}${OFFSET}?$`);

/**
 * Validates a schedule start time: `HH:MM[:SS]` or an ISO 8601 date-time
 * (`YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM]`). Throws INVALID_INPUT with a message for the operator.
 */
export function parseScheduleStartTime(input: string): ScheduleStartTime {
  const s = input.trim();
  const m = START_TIME.exec(s);
  if (!m) {
    throw invalid(
      'startTime',
      `"${s}" is not a start time: use HH:MM (e.g. 02:30) or an ISO 8601 date-time such as 2026-01-31T02:30:00Z`,
    );
  }
  const [, y, mo, d, hh, mm, ss, off] = m;
  if (y !== undefined) {
    const month = Number(mo);
    const day = Number(d);
    const dim = new Date(Date.UTC(Number(y), month, 0)).getUTCDate();
    if (month < 1 || month > 12 || day < 1 || day > dim)
      throw invalid('startTime', `"${s}" has no such date (${y}-${mo}-${d})`);
  }
  const hour = Number(hh);
  const minute = Number(mm);
  if (hour > 23) throw invalid('startTime', `"${s}": the hour must be between 00 and 23`);
  if (minute > 59) throw invalid('startTime', `"${s}": the minute must be between 00 and 59`);
  if (ss !== undefined && Number(ss) > 59)
    throw invalid('startTime', `"${s}": the seconds must be between 00 and 59`);
  let offsetMinutes: number | null = null;
  if (off !== undefined) {
    if (off === 'Z') offsetMinutes = 0;
    else {
      const om = /^([+-])(\d{2}):?(\d{2})?$/.exec(off)!;
      const oh = Number(om[2]);
      const omin = Number(om[3] ?? '0');
      if (oh > 23 || omin > 59) throw invalid('startTime', `"${s}": ${off} is not a UTC offset`);
      offsetMinutes = (om[1] === '-' ? -1 : 1) * (oh * 60 + omin);
    }
  }
  let anchorMinutes = hour * 60 + minute;
  // Python: int(time.utcoffset().seconds / 60) — the positive remainder within a day.
  if (offsetMinutes !== null) anchorMinutes += ((offsetMinutes % 1440) + 1440) % 1440;
  return { text: s, hour, minute, offsetMinutes, anchorMinutes };
}

/**
 * The next `count` runs of one schedule strictly after `now`, as Ceph 16.2's rbd_support
 * computes them. `mgrUtcOffsetMinutes` is the UTC offset of the active mgr's local time
 * (Ceph uses naive local time); 0 for a mgr running in UTC.
 */
export function nextRuns(
  interval: string | ScheduleInterval,
  startTime: string | ScheduleStartTime | null | undefined,
  now: Date | number,
  count: number,
  mgrUtcOffsetMinutes = 0,
): Date[] {
  const iv = typeof interval === 'string' ? parseScheduleInterval(interval) : interval;
  const st =
    typeof startTime === 'string'
      ? startTime.trim() === ''
        ? null
        : parseScheduleStartTime(startTime)
      : (startTime ?? null);
  const period = iv.minutes * 60_000;
  const anchor = (st?.anchorMinutes ?? 0) * 60_000;
  const offset = mgrUtcOffsetMinutes * 60_000;
  const wallNow = (typeof now === 'number' ? now : now.getTime()) + offset;
  let next = anchor + (Math.floor((wallNow - anchor) / period) + 1) * period;
  next -= next % 60_000; // "%Y-%m-%d %H:%M:00"
  const out: Date[] = [];
  for (let i = 0; i < count; i++) out.push(new Date(next + i * period - offset));
  return out;
}

/** The earliest next run among several schedules of one level (what `schedule status` shows). */
export function nextRunOf(
  items: { interval: string; startTime?: string | null }[],
  now: Date | number,
  mgrUtcOffsetMinutes = 0,
): Date | null {
  let best: Date | null = null;
  for (const it of items) {
    const [t] = nextRuns(it.interval, it.startTime ?? null, now, 1, mgrUtcOffsetMinutes);
    if (t && (best === null || t < best)) best = t;
  }
  return best;
}
