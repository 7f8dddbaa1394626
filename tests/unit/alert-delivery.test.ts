import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '@/server/app';
import { alertDeliveries } from '@/server/db/schema';
import { ManualClock } from '@/server/core/clock';
import { AlertDelivery } from '@/server/domain/alerts/delivery';
import { AlertService } from '@/server/domain/alerts/service';
import type { ProtectedObject } from '@/server/domain/protection/types';
import { createCaller } from '@/server/trpc/root';
import { protectedObject } from './protected-object';
import { admin, ctxFor } from './helpers';

/** Ports of the test's own receivers. */
const HOOK_PORT = Number(process.env.ALERT_HOOK_PORT ?? 3275);
const SMTP_PORT = Number(process.env.ALERT_SMTP_PORT ?? 3276);
const CONSOLE = 'https://tandem.example.com';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: answers each request with the next status of `statuses` (then 200). */
function receiver(statuses: number[] = []) {
  const got: Received[] = [];
  const waiters: (() => void)[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const status = statuses.shift() ?? 200;
      if (status === 0) return; // never answers
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'receiver broken');
      waiters.splice(0).forEach((w) => w());
    });
  });
  return {
    got,
    listen: () => new Promise<void>((r) => server.listen(HOOK_PORT, '127.0.0.1', () => r())),
    close: () => new Promise<void>((r) => server.close(() => r())).then(() => server.closeAllConnections()),
    url: `http://127.0.0.1:${HOOK_PORT}/tandem-hook`,
  };
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An app on a data directory of its own, with a clock the test moves, and an alert service evaluating `objects`. */
function app(
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-alerts-')),
  clock = new ManualClock(Date.UTC(2026, 11, 3, 12, 0, 0)),
) {
  const a = createApp({ dataDir: dir, clock, demoLatencyMs: 0, secretKey: '', log: () => {} });
  let objects: ProtectedObject[] = [];
  const delivery = new AlertDelivery({
    db: a.db,
    clock,
    keys: a.keys,
    consoleUrl: `${CONSOLE}/`,
    timeoutMs: 2_000,
  });
  a.alerts = new AlertService({
    db: a.db,
    clock,
    history: a.history,
    tasks: a.tasks,
    ceph: a.ceph,
    delivery,
    objects: async () => objects,
  });
  cleanups.push(async () => {
    await a.tasks.shutdown();
    a.db.$client.close();
  });
  return { app: a, dir, clock, delivery, set: (o: ProtectedObject[]) => (objects = o) };
}

function verify(secret: string, r: Received): boolean {
  const ts = String(r.headers['x-tandem-timestamp']);
  const expected = Buffer.from(
    `sha256=${createHmac('sha256', secret).update(`${ts}.${r.body}`).digest('hex')}`,
  );
  const got = Buffer.from(String(r.headers['x-tandem-signature']));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const deliveries = (a: App) => a.db.select().from(alertDeliveries).orderBy(alertDeliveries.id).all();

describe('webhook delivery (a real HTTP receiver)', () => {
  it('POSTs the alert signed with the channel secret; a 500 is retried after the backoff, and a restart goes on from the stored schedule', async () => {
    const hook = receiver([500]);
    await hook.listen();
    cleanups.push(hook.close);
    const t = app();
    const { channel, secret } = await createCaller(ctxFor(t.app, admin)).alerts.createChannel({
      kind: 'webhook',
      name: 'ops',
      url: hook.url,
    });
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // Shown once: the list never carries it.
    expect(JSON.stringify(await createCaller(ctxFor(t.app, admin)).alerts.channels())).not.toContain(secret!);

    t.set([protectedObject({ health: 'breach', windowSec: 3600 })]);
    await t.app.alerts.evaluate();
    await t.delivery.settled();
    expect(hook.got).toHaveLength(1);
    let [d] = deliveries(t.app);
    expect(d).toMatchObject({
      state: 'pending',
      attempts: 1,
      nextAttemptAt: new Date(t.clock.now() + 10_000),
    });
    expect(d!.lastError).toBe(`${hook.url} answered 500 Internal Server Error: receiver broken`);

    // Not due yet.
    t.clock.advance(9_999);
    expect(await t.delivery.process()).toEqual([]);
    expect(hook.got).toHaveLength(1);

    // A restart: a new app on the same data directory picks the delivery up when it is due.
    t.app.db.$client.close();
    cleanups.pop();
    t.clock.advance(1);
    const again = app(t.dir, t.clock);
    const done = await again.delivery.process();
    expect(done.map((x) => [x.id, x.state, x.attempts])).toEqual([[d!.id, 'sent', 2]]);
    expect(hook.got).toHaveLength(2);

    for (const r of hook.got) {
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.headers['x-tandem-event']).toBe('firing');
      expect(r.headers['x-tandem-delivery']).toBe(String(d!.id));
      expect(verify(secret!, r)).toBe(true);
      expect(verify('another secret', r)).toBe(false);
    }
    expect(Number(hook.got[1]!.headers['x-tandem-timestamp'])).toBe(Math.floor(t.clock.now() / 1000));
    const body = JSON.parse(hook.got[1]!.body);
    expect(body).toMatchObject({
      version: 1,
      event: 'firing',
      deliveryId: d!.id,
      channel: { id: channel.id, name: 'ops' },
      alert: {
        rule: 'rpo-breach',
        severity: 'critical',
        state: 'firing',
        subject: 'replica:1',
        key: 'rpo-breach:replica:1',
        resolvedAt: null,
      },
      consoleUrl: `${CONSOLE}/alerts?alert=${body.alert.id}`,
    });
    expect(body.alert.summary).toContain(
      'web01 (node1 → node2): data-loss window 60 min is over twice its RPO of 15 min',
    );
    expect(body.alert.detail).toMatchObject({ windowSec: 3600, rpoSec: 900 });
    [d] = deliveries(again.app);
    expect(d).toMatchObject({ state: 'sent', lastError: null, sentAt: new Date(t.clock.now()) });

    // Resolved: notified too, to the same receiver.
    again.set([protectedObject()]);
    await again.app.alerts.evaluate();
    await again.delivery.settled();
    expect(hook.got).toHaveLength(3);
    expect(JSON.parse(hook.got[2]!.body)).toMatchObject({
      event: 'resolved',
      alert: { state: 'resolved', resolvedAt: new Date(t.clock.now()).toISOString() },
    });
    expect(verify(secret!, hook.got[2]!)).toBe(true);
    expect(
      (await createCaller(ctxFor(again.app, admin)).alerts.deliveries({ alertId: body.alert.id })).map(
        (x) => [x.event, x.state, x.channel],
      ),
    ).toEqual([
      ['resolved', 'sent', 'ops'],
      ['firing', 'sent', 'ops'],
    ]);
  });

  it('gives up after the last attempt (state failed, last error kept); a receiver that does not answer times out; a new secret replaces the old one', async () => {
    const hook = receiver(Array(8).fill(503).concat([0]));
    await hook.listen();
    cleanups.push(hook.close);
    const t = app();
    const caller = createCaller(ctxFor(t.app, admin));
    const { channel, secret } = await caller.alerts.createChannel({
      kind: 'webhook',
      name: 'broken',
      url: hook.url,
    });
    t.set([protectedObject({ health: 'warning', windowSec: 1000 })]);
    await t.app.alerts.evaluate();
    await t.delivery.settled();
    for (let attempt = 1; attempt < 8; attempt++) {
      const [d] = deliveries(t.app);
      expect(d).toMatchObject({ state: 'pending', attempts: attempt });
      t.clock.set(d!.nextAttemptAt!.getTime());
      await t.delivery.process();
    }
    expect(hook.got).toHaveLength(8);
    expect(deliveries(t.app)[0]).toMatchObject({
      state: 'failed',
      attempts: 8,
      nextAttemptAt: null,
      lastError: `${hook.url} answered 503 Service Unavailable: receiver broken`,
    });
    t.clock.advance(10 * 3600_000);
    expect(await t.delivery.process()).toEqual([]);

    // The next request hangs: the test message fails within the timeout, once.
    const started = Date.now();
    const test = await caller.alerts.sendTest({ id: channel.id });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(test).toMatchObject({
      event: 'test',
      state: 'failed',
      attempts: 1,
      lastError: `no answer from ${hook.url} within 2 s`,
    });
    expect((await caller.alerts.channels())[0]!.last).toMatchObject({ event: 'test', state: 'failed' });

    const { secret: next } = await caller.alerts.rotateChannelSecret({ id: channel.id });
    expect(next).not.toBe(secret);
    const ok = await caller.alerts.sendTest({ id: channel.id });
    expect(ok).toMatchObject({ state: 'sent', attempts: 1 });
    const last = hook.got.at(-1)!;
    expect(JSON.parse(last.body)).toMatchObject({
      event: 'test',
      alert: null,
      summary: 'Test message from Tandem to channel "broken"',
    });
    expect(verify(next, last)).toBe(true);
    expect(verify(secret!, last)).toBe(false);
  });

  it('refuses URLs that are not http(s), and does not follow redirects', async () => {
    const t = app();
    const caller = createCaller(ctxFor(t.app, admin));
    await expect(
      caller.alerts.createChannel({ kind: 'webhook', name: 'x', url: 'ftp://files.example.com/in' }),
    ).rejects.toThrow('url: only http:// and https:// URLs are allowed, not ftp://');
    await expect(
      caller.alerts.createChannel({ kind: 'webhook', name: 'x', url: 'javascript:alert(1)' }),
    ).rejects.toThrow(/only http:\/\/ and https:\/\//);
    const hook = receiver([302]);
    await hook.listen();
    cleanups.push(hook.close);
    const { channel } = await caller.alerts.createChannel({ kind: 'webhook', name: 'x', url: hook.url });
    await expect(caller.alerts.updateChannel({ id: channel.id, url: 'file:///etc/passwd' })).rejects.toThrow(
      /only http/,
    );
    const d = await caller.alerts.sendTest({ id: channel.id });
    expect(d.state).toBe('failed');
    expect(d.lastError).toMatch(/answered 302 redirecting to .*redirects are not followed/);
  });
});

describe('e-mail delivery (a real SMTP server)', () => {
  it('sends firing alerts and test messages to the channel recipients through the configured server, with its password; a wrong password fails clearly', async () => {
    const mails: { mail: ParsedMail; rcpt: string[]; user: string | undefined }[] = [];
    const smtp = new SMTPServer({
      secure: false,
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'tandem' && auth.password === 'smtp secret')
          return cb(null, { user: auth.username });
        cb(new Error('Invalid username or password'));
      },
      onData(stream, session, cb) {
        simpleParser(stream).then(
          (mail) => {
            mails.push({
              mail,
              rcpt: session.envelope.rcptTo.map((r) => r.address),
              user: session.user as string | undefined,
            });
            cb();
          },
          (e: Error) => cb(e),
        );
      },
    });
    await new Promise<void>((r) => smtp.listen(SMTP_PORT, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise<void>((r) => smtp.close(() => r())));

    const t = app();
    const caller = createCaller(ctxFor(t.app, admin));
    const { channel } = await caller.alerts.createChannel({
      kind: 'email',
      name: 'on-call',
      to: ['oncall@example.com', 'dr-team@example.com'],
    });
    // Without a server, a test says what is missing.
    expect((await caller.alerts.sendTest({ id: channel.id })).lastError).toBe(
      'no SMTP server is configured: set one under Alerts → Channels',
    );
    const cfg = await caller.alerts.setSmtp({
      host: '127.0.0.1',
      port: SMTP_PORT,
      security: 'none',
      user: 'tandem',
      password: 'smtp secret',
      from: 'tandem@example.com',
    });
    expect(cfg).toEqual({
      host: '127.0.0.1',
      port: SMTP_PORT,
      security: 'none',
      user: 'tandem',
      from: 'tandem@example.com',
      hasPassword: true,
    });
    expect(JSON.stringify(await caller.alerts.smtp())).not.toContain('smtp secret');

    expect(await caller.alerts.sendTest({ id: channel.id })).toMatchObject({ state: 'sent' });
    expect(mails).toHaveLength(1);
    expect(mails[0]!.user).toBe('tandem');
    expect(mails[0]!.rcpt).toEqual(['oncall@example.com', 'dr-team@example.com']);
    expect(mails[0]!.mail.subject).toBe('[Tandem] Test message');
    expect(mails[0]!.mail.from?.text).toBe('tandem@example.com');

    t.set([protectedObject({ name: 'db01', health: 'breach', windowSec: 7200 })]);
    await t.app.alerts.evaluate();
    await t.delivery.settled();
    expect(mails).toHaveLength(2);
    const m = mails[1]!.mail;
    expect(m.subject).toBe(
      '[Tandem] FIRING critical: db01 (node1 → node2): data-loss window 2 h is over twice its RPO of 15 min',
    );
    expect((Array.isArray(m.to) ? m.to : [m.to]).flatMap((x) => x!.value.map((v) => v.address))).toEqual([
      'oncall@example.com',
      'dr-team@example.com',
    ]);
    expect(m.text).toContain('Rule: rpo-breach');
    expect(m.text).toContain('Subject: replica:1');
    expect(m.text).toMatch(new RegExp(`Open the console: ${CONSOLE}/alerts\\?alert=\\d+`));

    // The password is kept when not given again; a wrong one is refused by the server.
    await caller.alerts.setSmtp({
      host: '127.0.0.1',
      port: SMTP_PORT,
      security: 'none',
      user: 'tandem',
      from: 'tandem@example.com',
    });
    expect((await caller.alerts.sendTest({ id: channel.id })).state).toBe('sent');
    await caller.alerts.setSmtp({
      host: '127.0.0.1',
      port: SMTP_PORT,
      security: 'none',
      user: 'tandem',
      password: 'wrong',
      from: 'tandem@example.com',
    });
    const bad = await caller.alerts.sendTest({ id: channel.id });
    expect(bad.state).toBe('failed');
    expect(bad.lastError).toMatch(/^SMTP 127\.0\.0\.1:3276: .*Invalid username or password/);
    expect(mails).toHaveLength(3);
    // STARTTLS required, and the server does not offer it: refused before anything is sent.
    await caller.alerts.setSmtp({
      host: '127.0.0.1',
      port: SMTP_PORT,
      security: 'starttls',
      user: 'tandem',
      password: 'smtp secret',
      from: 'tandem@example.com',
    });
    const plain = await caller.alerts.sendTest({ id: channel.id });
    expect(plain.state).toBe('failed');
    expect(plain.lastError).toMatch(/STARTTLS/i);
    expect(mails).toHaveLength(3);
  });
});
