import { createHmac, timingSafeEqual } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { CephStatus } from '@/server/domain/ceph/mirroring';
import { checkWebhookUrl, newWebhookSecret, signWebhook } from '@/server/domain/alerts/channels';
import {
  cephConditions,
  nextAlerts,
  objectConditions,
  retryDelayMs,
  silenceMatches,
  type Condition,
  type FiringAlert,
} from '@/server/domain/alerts/rules';
import { protectedObject } from './protected-object';

const T0 = Date.UTC(2026, 11, 3, 12, 0, 0);
const breach: Condition = {
  rule: 'rpo-breach',
  subject: 'replica:1',
  severity: 'critical',
  summary: 'web01 breach',
};
const warn: Condition = {
  rule: 'rpo-warning',
  subject: 'image:1',
  severity: 'warning',
  summary: 'vol1 warning',
};

/** Applies a transition to a list of firing alerts, as the service does (ids from 100). */
function apply(current: FiringAlert[], t: ReturnType<typeof nextAlerts>, notifiedAt: number): FiringAlert[] {
  let id = 100 + current.length;
  const notified = new Set(t.notify.filter((n) => n.event === 'firing').map((n) => n.key));
  const kept = current
    .filter((a) => !t.resolves.some((r) => r.id === a.id))
    .map((a) => (notified.has(a.key) ? { ...a, notifiedAt } : a));
  return [
    ...kept,
    ...t.inserts.map((i) => ({
      id: id++,
      key: i.key,
      ackedAt: null,
      notifiedAt: notified.has(i.key) ? notifiedAt : null,
    })),
  ];
}

describe('alert state machine (nextAlerts)', () => {
  it('fires a new alert per condition and notifies it; the same condition again updates it (de-duplicated), once per key even if listed twice', () => {
    const t1 = nextAlerts([], [breach, warn, breach], T0);
    expect(t1.inserts.map((i) => i.key)).toEqual(['rpo-breach:replica:1', 'rpo-warning:image:1']);
    expect(t1.inserts[0]).toMatchObject({
      firedAt: T0,
      lastSeenAt: T0,
      severity: 'critical',
      summary: 'web01 breach',
    });
    expect(t1.notify).toEqual([
      { key: 'rpo-breach:replica:1', id: null, event: 'firing' },
      { key: 'rpo-warning:image:1', id: null, event: 'firing' },
    ]);
    const firing = apply([], t1, T0);
    const t2 = nextAlerts(firing, [{ ...breach, summary: 'web01 breach, worse' }, warn], T0 + 30_000);
    expect(t2.inserts).toEqual([]);
    expect(t2.resolves).toEqual([]);
    expect(t2.updates).toEqual([
      {
        id: 100,
        key: 'rpo-breach:replica:1',
        lastSeenAt: T0 + 30_000,
        severity: 'critical',
        summary: 'web01 breach, worse',
        detail: undefined,
      },
      {
        id: 101,
        key: 'rpo-warning:image:1',
        lastSeenAt: T0 + 30_000,
        severity: 'warning',
        summary: 'vol1 warning',
        detail: undefined,
      },
    ]);
    expect(t2.notify).toEqual([]);
  });

  it('resolves an alert whose condition is gone (notifying it), and a later condition with the same key fires a new alert', () => {
    const firing = apply([], nextAlerts([], [breach], T0), T0);
    const gone = nextAlerts(firing, [], T0 + 60_000);
    expect(gone.resolves).toEqual([{ id: 100, key: 'rpo-breach:replica:1', resolvedAt: T0 + 60_000 }]);
    expect(gone.notify).toEqual([{ key: 'rpo-breach:replica:1', id: 100, event: 'resolved' }]);
    const again = nextAlerts(apply(firing, gone, T0 + 60_000), [breach], T0 + 120_000);
    expect(again.inserts).toHaveLength(1);
    expect(again.updates).toEqual([]);
  });

  it('leaves a firing alert whose condition is unknown now (its source did not answer) as it is', () => {
    const firing = apply([], nextAlerts([], [breach, warn], T0), T0);
    const t = nextAlerts(firing, [], T0 + 1000, { unknown: (k) => k === 'rpo-warning:image:1' });
    expect(t.resolves.map((r) => r.key)).toEqual(['rpo-breach:replica:1']);
    expect(t.updates).toEqual([]);
  });

  it('notifies a firing alert again after the repeat interval, unless it was acknowledged', () => {
    const repeatMs = 3_600_000;
    const notifiedAt = T0;
    const unacked: FiringAlert = { id: 1, key: 'rpo-breach:replica:1', ackedAt: null, notifiedAt };
    const acked: FiringAlert = { id: 2, key: 'rpo-warning:image:1', ackedAt: T0 + 10, notifiedAt };
    expect(nextAlerts([unacked, acked], [breach, warn], T0 + repeatMs - 1, { repeatMs }).notify).toEqual([]);
    expect(nextAlerts([unacked, acked], [breach, warn], T0 + repeatMs, { repeatMs }).notify).toEqual([
      { key: 'rpo-breach:replica:1', id: 1, event: 'firing' },
    ]);
    expect(nextAlerts([unacked], [breach], T0 + 10 * repeatMs, { repeatMs: 0 }).notify).toEqual([]);
    // An acknowledged alert still fires (updated, not resolved) and its resolution is notified.
    const t = nextAlerts([acked], [warn], T0 + 5 * repeatMs, { repeatMs });
    expect(t.updates.map((u) => u.id)).toEqual([2]);
    expect(nextAlerts([acked], [], T0 + 5 * repeatMs, { repeatMs }).notify).toEqual([
      { key: 'rpo-warning:image:1', id: 2, event: 'resolved' },
    ]);
  });

  it('records a silenced alert but delivers nothing; once the silence expires the firing alert is notified', () => {
    const silences = [{ matcher: 'rpo-breach:*', until: T0 + 600_000 }];
    const t1 = nextAlerts([], [breach, warn], T0, { silences });
    expect(t1.inserts.map((i) => i.key)).toEqual(['rpo-breach:replica:1', 'rpo-warning:image:1']);
    expect(t1.notify.map((n) => n.key)).toEqual(['rpo-warning:image:1']);
    let firing = apply([], t1, T0);
    const t2 = nextAlerts(firing, [breach, warn], T0 + 599_999, { silences });
    expect(t2.notify).toEqual([]);
    firing = apply(firing, t2, T0 + 599_999);
    const t3 = nextAlerts(firing, [breach, warn], T0 + 600_000, { silences });
    expect(t3.notify).toEqual([{ key: 'rpo-breach:replica:1', id: 100, event: 'firing' }]);
    // Never notified, so its resolution is not either.
    expect(
      nextAlerts([{ id: 7, key: 'rpo-breach:replica:1', ackedAt: null, notifiedAt: null }], [], T0, {
        silences,
      }).notify,
    ).toEqual([]);
  });

  it('matches silences exactly or by a prefix ending in *', () => {
    expect(silenceMatches('rpo-breach:replica:1', 'rpo-breach:replica:1')).toBe(true);
    expect(silenceMatches('rpo-breach:replica:1', 'rpo-breach:replica:12')).toBe(false);
    expect(silenceMatches('rpo-breach:replica:1*', 'rpo-breach:replica:12')).toBe(true);
    expect(silenceMatches('unreachable:*', 'rpo-breach:replica:1')).toBe(false);
    expect(silenceMatches('*', 'anything')).toBe(true);
  });
});

describe('alert rules', () => {
  it('raises one RPO alert per object: warning, or breach instead of it; a predicted breach only while within the RPO; N consecutive sync failures', () => {
    const objs = [
      protectedObject({ subject: 'replica:1', health: 'warning', windowSec: 1000 }),
      protectedObject({
        subject: 'replica:2',
        name: 'db01',
        health: 'breach',
        windowSec: 2000,
        failures: 3,
        lastError: 'ssh: connection refused',
      }),
      protectedObject({
        subject: 'replica:3',
        name: 'app01',
        predictedBreachAt: T0 + 3_600_000,
        predictedReason: 'syncs getting longer',
      }),
      protectedObject({ subject: 'replica:4', name: 'ok01', failures: 2 }),
      protectedObject({ subject: 'vm:1/lonely', kind: 'vm', health: 'unprotected' }),
      protectedObject({ subject: 'replica:5', health: 'breach', predictedBreachAt: T0 }),
    ];
    const c = objectConditions(objs, { syncFailures: 3 });
    expect(c.map((x) => `${x.rule}:${x.subject}:${x.severity}`)).toEqual([
      'rpo-warning:replica:1:warning',
      'rpo-breach:replica:2:critical',
      'sync-failures:replica:2:warning',
      'rpo-predicted:replica:3:warning',
      'rpo-breach:replica:5:critical',
    ]);
    expect(c[0]!.summary).toBe('web01 (node1 → node2): data-loss window 17 min is over its RPO of 15 min');
    expect(c[2]!.summary).toContain('3 consecutive syncs failed; last error: ssh: connection refused');
    expect(c[3]!.summary).toContain('syncs getting longer');
    expect(
      objectConditions(objs, { syncFailures: 2 })
        .filter((x) => x.rule === 'sync-failures')
        .map((x) => x.subject),
    ).toEqual(['replica:2', 'replica:4']);
    // warning → breach: the warning resolves and the breach fires (one alert per object at a time).
    const firing = [{ id: 1, key: 'rpo-warning:replica:1', ackedAt: null, notifiedAt: T0 }];
    const t = nextAlerts(
      firing,
      objectConditions([protectedObject({ health: 'breach', windowSec: 2000 })], { syncFailures: 3 }),
      T0,
    );
    expect(t.resolves.map((r) => r.key)).toEqual(['rpo-warning:replica:1']);
    expect(t.inserts.map((r) => r.key)).toEqual(['rpo-breach:replica:1']);
  });

  it('reads daemons and split-brain from a Ceph status: no daemon where a pool receives, an unhealthy one, images primary on both sides', () => {
    const img = (
      name: string,
      splitBrainWith: { siteId: number; siteName: string } | null,
      ownSplit = false,
    ) =>
      ({
        name,
        pool: 'rbd',
        namespace: '',
        mirroring: { description: { splitBrain: ownSplit } },
        splitBrainWith,
      }) as unknown as CephStatus['pools'][number]['images'][number];
    const pool = (peers: { siteName: string; direction: string }[], images: ReturnType<typeof img>[] = []) =>
      ({
        pool: 'rbd',
        namespace: '',
        mode: 'image',
        siteName: 'a',
        peers,
        summary: null,
        images,
        splitBrain: 0,
      }) as unknown as CephStatus['pools'][number];
    const status = (pools: CephStatus['pools'], daemons: CephStatus['daemons'] = []): CephStatus => ({
      fetchedAt: '',
      pools,
      daemons,
      cliCalls: 0,
    });
    const daemon = (health: string) => ({
      serviceId: '1',
      daemonId: 'm1',
      hostname: 'h1',
      version: null,
      pools: [],
      leader: true,
      health,
      callouts: [{ pool: 'rbd', level: 'error', text: 'failed to connect' }],
      lastBeacon: null,
    });
    const byName = new Map([
      ['site-a', 1],
      ['site-b', 2],
    ]);
    const c = cephConditions(
      [
        {
          site: { id: 1, name: 'site-a' },
          status: status([
            pool(
              [{ siteName: 'site-b', direction: 'rx-tx' }],
              [img('vol1', { siteId: 2, siteName: 'site-b' }), img('vol2', null), img('vol3', null, true)],
            ),
          ]),
        },
        {
          site: { id: 2, name: 'site-b' },
          status: status([pool([{ siteName: 'site-a', direction: 'tx-only' }])]),
        },
        {
          site: { id: 3, name: 'site-c' },
          status: status([pool([{ siteName: 'site-a', direction: 'rx-tx' }])], [daemon('ERROR') as never]),
        },
        { site: { id: 4, name: 'site-d' }, status: null },
      ],
      byName,
    );
    expect(c.map((x) => `${x.rule}|${x.subject}|${x.severity}`)).toEqual([
      'daemon|site:1|critical',
      'split-brain|rbd:1-2/rbd//vol1|critical',
      'split-brain|rbd:1-2/rbd//vol3|critical',
      'daemon|site:3/daemon/m1|critical',
    ]);
    expect(c[0]!.summary).toBe(
      'no rbd-mirror daemon reports on site-a: 1 mirrored pool(s) with a peer (rbd) are not replicated to it',
    );
    expect(c[3]!.summary).toContain('reports ERROR: rbd: failed to connect');
  });

  it('retries deliveries after 10 s, 20 s, 40 s, … at most an hour apart, and gives up after the last attempt', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelayMs(n))).toEqual([
      10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 640_000,
    ]);
    expect(retryDelayMs(8)).toBeNull();
    expect(retryDelayMs(12, 20)).toBe(3_600_000);
    expect(retryDelayMs(1, 1)).toBeNull();
  });
});

describe('webhook signature', () => {
  it('is the hex HMAC-SHA256 of "<timestamp>.<raw body>" keyed with the secret, verifiable with node:crypto alone', () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const body = JSON.stringify({ event: 'firing', alert: { id: 1, summary: 'ünïcode ✓' } });
    const header = signWebhook(secret, '1796385600', body);
    // What a receiver does:
    const expected = Buffer.from(
      `sha256=${createHmac('sha256', secret).update(`1796385600.${body}`, 'utf8').digest('hex')}`,
    );
    expect(timingSafeEqual(Buffer.from(header), expected)).toBe(true);
    expect(signWebhook(secret, '1796385601', body)).not.toBe(header);
    expect(signWebhook(secret, '1796385600', body + ' ')).not.toBe(header);
    expect(signWebhook(newWebhookSecret(), '1796385600', body)).not.toBe(header);
  });

  it('accepts only http(s) URLs without credentials, with a clear error', () => {
    expect(checkWebhookUrl(' https://hooks.example.com/x?y=1 ')).toBe('https://hooks.example.com/x?y=1');
    expect(() => checkWebhookUrl('file:///etc/passwd')).toThrow(
      'only http:// and https:// URLs are allowed, not file://',
    );
    expect(() => checkWebhookUrl('gopher://x')).toThrow(/only http/);
    expect(() => checkWebhookUrl('https://user:pw@hooks.example.com/')).toThrow(
      /put no user or password in the URL/,
    );
    expect(() => checkWebhookUrl('hooks.example.com')).toThrow(/not a URL/);
  });
});
