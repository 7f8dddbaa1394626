import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '@/server/core/errors';
import {
  formatScheduleInterval,
  nextRunOf,
  nextRuns,
  parseScheduleInterval,
  parseScheduleStartTime,
} from '@/server/adapters/ceph/schedule';
import { decodeBootstrapToken, encodeBootstrapToken } from '@/server/adapters/ceph/token';

const decodedFixture = fs.readFileSync(
  path.resolve(__dirname, '../fixtures/ceph/bootstrap-token-decoded.json'),
  'utf8',
);
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

function invalid(fn: () => unknown): AppError {
  try {
    fn();
  } catch (e) {
    expect(AppError.is(e, 'INVALID_INPUT')).toBe(true);
    return e as AppError;
  }
  throw new Error('expected INVALID_INPUT');
}

describe('decodeBootstrapToken', () => {
  it('decodes a real token (as `bootstrap create` prints it) without the key', () => {
    const token = b64(JSON.stringify(JSON.parse(decodedFixture)));
    expect(decodeBootstrapToken(token)).toEqual({
      fsid: 'c914c152-a5d7-4c24-9509-c704b5e13a28',
      clientId: 'rbd-mirror-peer',
      monHost: '[v2:127.0.0.1:13300/0,v1:127.0.0.1:16789/0]',
    });
    expect(JSON.stringify(decodeBootstrapToken(token))).not.toContain('redacted');
    // pasted with line breaks and surrounding blanks
    expect(decodeBootstrapToken(`  ${token.slice(0, 40)}\n${token.slice(40)}\n`).clientId).toBe(
      'rbd-mirror-peer',
    );
  });

  it('round-trips encodeBootstrapToken', () => {
    const t = encodeBootstrapToken({
      fsid: '7d3f6a2e-0b1c-4d5e-9f80-a1b2c3d4e5f6',
      clientId: 'rbd-mirror-peer',
      key: 'AQBx==',
      monHost: '10.0.0.1',
    });
    expect(decodeBootstrapToken(t)).toEqual({
      fsid: '7d3f6a2e-0b1c-4d5e-9f80-a1b2c3d4e5f6',
      clientId: 'rbd-mirror-peer',
      monHost: '10.0.0.1',
    });
  });

  it('refuses an empty token', () => {
    expect(invalid(() => decodeBootstrapToken('  \n')).message).toMatch(/empty/);
  });

  it('refuses garbage', () => {
    expect(invalid(() => decodeBootstrapToken('this is not a token!')).message).toMatch(
      /characters that base64 never uses/,
    );
    expect(invalid(() => decodeBootstrapToken(b64('hello world'))).message).toMatch(
      /does not decode to JSON/,
    );
    expect(invalid(() => decodeBootstrapToken('$(rm -rf /)')).message).toMatch(/base64/);
  });

  it('refuses a truncated token', () => {
    const token = b64(JSON.stringify(JSON.parse(decodedFixture)));
    for (const cut of [10, 57, token.length - 6]) {
      expect(invalid(() => decodeBootstrapToken(token.slice(0, cut))).message).toMatch(/truncated/);
    }
  });

  it('refuses JSON of the wrong type or shape', () => {
    expect(invalid(() => decodeBootstrapToken(b64('[1,2,3]'))).message).toMatch(/JSON array/);
    expect(invalid(() => decodeBootstrapToken(b64('"a string"'))).message).toMatch(/JSON string/);
    expect(invalid(() => decodeBootstrapToken(b64('null'))).message).toMatch(/JSON null/);
    const missing = invalid(() =>
      decodeBootstrapToken(b64('{"fsid":"c914c152-a5d7-4c24-9509-c704b5e13a28","client_id":"x"}')),
    ).message;
    expect(missing).toMatch(/key: missing/);
    expect(missing).toMatch(/mon_host: missing/);
    expect(
      invalid(() => decodeBootstrapToken(b64('{"fsid":42,"client_id":"x","key":"k","mon_host":"m"}')))
        .message,
    ).toMatch(/fsid: missing or not a string/);
    expect(
      invalid(() =>
        decodeBootstrapToken(b64('{"fsid":"not-a-uuid","client_id":"x","key":"k","mon_host":"m"}')),
      ).message,
    ).toMatch(/fsid: expected a cluster fsid/);
  });

  it('the error names the token field', () => {
    expect(invalid(() => decodeBootstrapToken('!')).fields[0]?.field).toBe('token');
  });
});

describe('schedule interval', () => {
  it('accepts <n>m|h|d', () => {
    expect(parseScheduleInterval('15m')).toEqual({ text: '15m', minutes: 15 });
    expect(parseScheduleInterval(' 2h ')).toEqual({ text: '2h', minutes: 120 });
    expect(parseScheduleInterval('1d')).toEqual({ text: '1d', minutes: 1440 });
    expect(parseScheduleInterval('007m').text).toBe('7m');
  });

  it('refuses anything else with a clear message', () => {
    expect(invalid(() => parseScheduleInterval('5')).message).toMatch(/no unit: write 5m/);
    expect(invalid(() => parseScheduleInterval('5x')).message).toMatch(/unknown unit/);
    expect(invalid(() => parseScheduleInterval('5 min')).message).toMatch(/unknown unit/);
    expect(invalid(() => parseScheduleInterval('0m')).message).toMatch(/at least 1 minute/);
    expect(invalid(() => parseScheduleInterval('-5m')).message).toMatch(/not an interval/);
    expect(invalid(() => parseScheduleInterval('1.5h')).message).toMatch(/not an interval/);
    expect(invalid(() => parseScheduleInterval('400d')).message).toMatch(/longer than a year/);
    expect(invalid(() => parseScheduleInterval('')).fields[0]?.field).toBe('interval');
  });

  it('formats like Ceph', () => {
    expect([
      formatScheduleInterval(120),
      formatScheduleInterval(1440),
      formatScheduleInterval(90),
      formatScheduleInterval(2880),
    ]).toEqual(['2h', '1d', '90m', '2d']);
  });
});

describe('schedule start time', () => {
  it('accepts HH:MM[:SS] and ISO 8601 date-times', () => {
    expect(parseScheduleStartTime('02:30')).toMatchObject({
      hour: 2,
      minute: 30,
      offsetMinutes: null,
      anchorMinutes: 150,
    });
    expect(parseScheduleStartTime('02:30:59')).toMatchObject({ anchorMinutes: 150 });
    expect(parseScheduleStartTime('2026-01-31T02:30:00Z')).toMatchObject({
      offsetMinutes: 0,
      anchorMinutes: 150,
    });
    expect(parseScheduleStartTime('2026-01-31 02:30')).toMatchObject({ anchorMinutes: 150 });
    expect(parseScheduleStartTime('14:00+02:00')).toMatchObject({ offsetMinutes: 120, anchorMinutes: 960 });
    // Ceph 16.2 adds the positive remainder of a negative offset: -05:00 → +19:00
    expect(parseScheduleStartTime('14:00-05:00')).toMatchObject({
      offsetMinutes: -300,
      anchorMinutes: 840 + 1140,
    });
    expect(parseScheduleStartTime('2026-11-23T12:03:00.250+0130')).toMatchObject({ offsetMinutes: 90 });
  });

  it('refuses what is not a time', () => {
    expect(invalid(() => parseScheduleStartTime('garbage')).message).toMatch(/use HH:MM/);
    expect(invalid(() => parseScheduleStartTime('25:00')).message).toMatch(/hour must be/);
    expect(invalid(() => parseScheduleStartTime('12:60')).message).toMatch(/minute must be/);
    expect(invalid(() => parseScheduleStartTime('2026-02-30T10:00')).message).toMatch(/no such date/);
    expect(invalid(() => parseScheduleStartTime('2026-13-01T10:00')).message).toMatch(/no such date/);
    expect(invalid(() => parseScheduleStartTime('10:00+25:00')).message).toMatch(/not a UTC offset/);
    expect(invalid(() => parseScheduleStartTime('1pm')).fields[0]?.field).toBe('startTime');
    expect(invalid(() => parseScheduleStartTime('--help')).message).toMatch(/not a start time/);
  });
});

describe('nextRuns (Ceph 16.2 rbd_support semantics)', () => {
  // Expected values computed with src/pybind/mgr/rbd_support/schedule.py of Ceph 16.2.15.
  const REFERENCE: [string, string | null, string, string][] = [
    ['5m', null, '2026-11-23 12:13:27', '2026-11-23 12:15:00'],
    ['5m', '12:03', '2026-11-23 12:13:27', '2026-11-23 12:18:00'],
    ['1h', '00:30', '2026-11-23 12:13:27', '2026-11-23 12:30:00'],
    ['1d', '14:00', '2026-11-23 12:13:27', '2026-11-23 14:00:00'],
    ['1d', '14:00+02:00', '2026-11-23 12:13:27', '2026-11-23 16:00:00'],
    ['1d', '14:00-05:00', '2026-11-23 12:13:27', '2026-11-24 09:00:00'],
    ['7m', null, '2026-11-23 12:13:27', '2026-11-23 12:16:00'],
    ['90m', '2026-01-01T01:15:00Z', '2026-11-23 12:13:27', '2026-11-23 13:15:00'],
    ['3d', null, '2026-11-23 12:13:27', '2026-11-24 00:00:00'],
    ['5m', null, '2026-11-23 12:15:00', '2026-11-23 12:20:00'],
    ['2h', '23:59', '2026-02-28 23:58:59', '2026-02-28 23:59:00'],
    ['1d', '23:00+02:00', '2026-11-23 12:13:27', '2026-11-24 01:00:00'],
  ];
  const utc = (s: string) => new Date(`${s.replace(' ', 'T')}Z`);
  const show = (d: Date) => d.toISOString().replace('T', ' ').slice(0, 19);

  for (const [iv, st, now, expected] of REFERENCE) {
    it(`${iv} from ${st ?? '(no start)'} at ${now} → ${expected}`, () => {
      expect(show(nextRuns(iv, st, utc(now), 1)[0]!)).toBe(expected);
    });
  }

  it('returns count runs spaced by the interval, strictly after now', () => {
    const runs = nextRuns('15m', '00:05', utc('2026-11-23 12:13:27'), 4).map(show);
    expect(runs).toEqual([
      '2026-11-23 12:20:00',
      '2026-11-23 12:35:00',
      '2026-11-23 12:50:00',
      '2026-11-23 13:05:00',
    ]);
    expect(nextRuns('1m', null, utc('2026-11-23 12:13:00'), 1).map(show)).toEqual(['2026-11-23 12:14:00']);
  });

  it('takes the mgr local time zone into account', () => {
    // mgr at UTC+1: "02:00" local = 01:00 UTC
    expect(show(nextRuns('1d', '02:00', utc('2026-11-23 00:30:00'), 1, 60)[0]!)).toBe('2026-11-23 01:00:00');
  });

  it('the earliest of several schedules of a level wins', () => {
    const next = nextRunOf(
      [{ interval: '1h', startTime: '00:10' }, { interval: '45m' }],
      utc('2026-11-23 12:13:27'),
    );
    expect(show(next!)).toBe('2026-11-23 12:45:00');
    expect(nextRunOf([], new Date())).toBeNull();
  });

  it('validates its input', () => {
    expect(() => nextRuns('5', null, new Date(), 1)).toThrow(/no unit/);
    expect(() => nextRuns('5m', 'noon', new Date(), 1)).toThrow(/not a start time/);
  });
});
