import { and, asc, desc, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { alertChannels, alertDeliveries, alerts } from '../../db/schema';
import type { Clock } from '../../core/clock';
import { AppError, errorMessage } from '../../core/errors';
import { getSetting, setSetting } from '../settings';
import type { SecretStore } from '../sites';
import {
  checkWebhookUrl,
  DELIVERY_HEADER,
  EVENT_HEADER,
  newWebhookSecret,
  postWebhook,
  sendMail,
  type SmtpConfig,
  type SmtpSecurity,
} from './channels';
import { MAX_ATTEMPTS, retryDelayMs } from './rules';
import { channelSecretAad, SMTP_PASSWORD_AAD, SMTP_SETTING } from './sealed';

export { channelSecretAad, SMTP_PASSWORD_AAD, SMTP_SETTING };

/** The `alerts.smtp` setting: the SMTP server of the installation, its password sealed. */
export interface StoredSmtp extends SmtpConfig {
  sealedPassword: string | null;
}

export type ChannelRow = typeof alertChannels.$inferSelect;
export type DeliveryRow = typeof alertDeliveries.$inferSelect;
type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

export interface ChannelView {
  id: number;
  kind: 'webhook' | 'email';
  name: string;
  url: string | null;
  to: string[];
  enabled: boolean;
  hasSecret: boolean;
  createdAt: Date;
  /** The newest delivery to this channel. */
  last: {
    id: number;
    event: DeliveryRow['event'];
    state: DeliveryRow['state'];
    attempts: number;
    lastError: string | null;
    at: Date;
  } | null;
}

export type ChannelInput =
  { kind: 'webhook'; name: string; url: string } | { kind: 'email'; name: string; to: string[] };

export interface DeliveryOptions {
  db: Db;
  clock: Clock;
  keys: SecretStore;
  /** The console's address for links (TANDEM_URL). */
  consoleUrl?: string | null;
  /** How long one request (HTTP or SMTP) may take. */
  timeoutMs?: number;
  maxAttempts?: number;
  /** How often due retries are looked for. */
  tickMs?: number;
}

const MAX_PARALLEL = 4;

/**
 * Channels and deliveries. A notification is one `alert_deliveries` row per enabled channel,
 * attempted at once and retried with backoff (`retryDelayMs`) until it is sent or `maxAttempts`
 * attempts failed; the rows hold the schedule, so a restart goes on where it stopped.
 */
export class AlertDelivery {
  readonly #o: Required<Omit<DeliveryOptions, 'consoleUrl'>> & { consoleUrl: string | null };
  readonly #inflight = new Set<number>();
  #timer: NodeJS.Timeout | null = null;
  #kicked: Promise<void> | null = null;

  constructor(opts: DeliveryOptions) {
    this.#o = {
      timeoutMs: 10_000,
      maxAttempts: MAX_ATTEMPTS,
      tickMs: 5_000,
      ...opts,
      consoleUrl: opts.consoleUrl?.replace(/\/+$/, '') || null,
    };
  }

  get #db(): Db {
    return this.#o.db;
  }

  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.kick(), this.#o.tickMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  // ---------------------------------------------------------------- channels

  channels(): ChannelView[] {
    const rows = this.#db.select().from(alertChannels).orderBy(asc(alertChannels.id)).all();
    const last = new Map<number, DeliveryRow>();
    if (rows.length) {
      const newest = this.#db
        .select({ id: sql<number>`max(${alertDeliveries.id})` })
        .from(alertDeliveries)
        .where(
          inArray(
            alertDeliveries.channelId,
            rows.map((r) => r.id),
          ),
        )
        .groupBy(alertDeliveries.channelId)
        .all()
        .map((r) => r.id);
      if (newest.length)
        for (const d of this.#db
          .select()
          .from(alertDeliveries)
          .where(inArray(alertDeliveries.id, newest))
          .all())
          last.set(d.channelId, d);
    }
    return rows.map((r) => this.#view(r, last.get(r.id)));
  }

  #view(r: ChannelRow, d?: DeliveryRow): ChannelView {
    const c = r.config as { url?: string; to?: string[] };
    return {
      id: r.id,
      kind: r.kind,
      name: r.name,
      url: r.kind === 'webhook' ? (c.url ?? null) : null,
      to: r.kind === 'email' ? (c.to ?? []) : [],
      enabled: r.enabled,
      hasSecret: !!r.sealedSecret,
      createdAt: r.createdAt,
      last: d
        ? {
            id: d.id,
            event: d.event,
            state: d.state,
            attempts: d.attempts,
            lastError: d.lastError,
            at: d.sentAt ?? d.createdAt,
          }
        : null,
    };
  }

  #row(id: number): ChannelRow {
    const r = this.#db.select().from(alertChannels).where(eq(alertChannels.id, id)).get();
    if (!r) throw new AppError('NOT_FOUND', `alert channel #${id} does not exist`);
    return r;
  }

  #config(input: ChannelInput): Record<string, unknown> {
    if (input.kind === 'webhook') return { url: checkWebhookUrl(input.url) };
    const to = [...new Set(input.to.map((t) => t.trim()).filter(Boolean))];
    if (!to.length) throw AppError.invalid('to', 'give at least one recipient');
    return { to };
  }

  #assertNameFree(name: string, except?: number): void {
    const clash = this.#db
      .select({ id: alertChannels.id })
      .from(alertChannels)
      .where(eq(alertChannels.name, name))
      .all()
      .find((r) => r.id !== except);
    if (clash) throw AppError.invalid('name', `a channel named "${name}" already exists`);
  }

  /** Adds a channel; a webhook's signing secret is made here and returned this once. */
  createChannel(input: ChannelInput): { channel: ChannelView; secret: string | null } {
    const config = this.#config(input);
    this.#assertNameFree(input.name);
    const secret = input.kind === 'webhook' ? newWebhookSecret() : null;
    // IMMEDIATE: a key rotation next to the console finishes (and its key file is seen) first.
    const row = this.#db.transaction(
      (tx) => {
        const r = tx
          .insert(alertChannels)
          .values({ kind: input.kind, name: input.name, config, sealedSecret: null, enabled: true })
          .returning()
          .get();
        if (!secret) return r;
        return tx
          .update(alertChannels)
          .set({ sealedSecret: this.#o.keys.encrypt(secret, channelSecretAad(r.id)) })
          .where(eq(alertChannels.id, r.id))
          .returning()
          .get();
      },
      { behavior: 'immediate' },
    );
    return { channel: this.#view(row), secret };
  }

  updateChannel(
    id: number,
    patch: { name?: string; url?: string; to?: string[]; enabled?: boolean },
  ): ChannelView {
    const r = this.#row(id);
    const set: Partial<ChannelRow> = {};
    if (patch.name !== undefined) {
      this.#assertNameFree(patch.name, id);
      set.name = patch.name;
    }
    if (patch.url !== undefined) {
      if (r.kind !== 'webhook') throw AppError.invalid('url', 'only a webhook has a URL');
      set.config = this.#config({ kind: 'webhook', name: r.name, url: patch.url });
    }
    if (patch.to !== undefined) {
      if (r.kind !== 'email') throw AppError.invalid('to', 'only an e-mail channel has recipients');
      set.config = this.#config({ kind: 'email', name: r.name, to: patch.to });
    }
    if (patch.enabled !== undefined) set.enabled = patch.enabled;
    if (!Object.keys(set).length) return this.#view(r);
    return this.#view(
      this.#db.update(alertChannels).set(set).where(eq(alertChannels.id, id)).returning().get(),
    );
  }

  /** A new signing secret for a webhook, returned this once; the old one stops being used at once. */
  rotateChannelSecret(id: number): { secret: string } {
    const r = this.#row(id);
    if (r.kind !== 'webhook') throw new AppError('INVALID_INPUT', 'only a webhook has a signing secret');
    const secret = newWebhookSecret();
    this.#db.transaction(
      (tx) =>
        tx
          .update(alertChannels)
          .set({ sealedSecret: this.#o.keys.encrypt(secret, channelSecretAad(id)) })
          .where(eq(alertChannels.id, id))
          .run(),
      { behavior: 'immediate' },
    );
    return { secret };
  }

  removeChannel(id: number): void {
    this.#row(id);
    this.#db.delete(alertChannels).where(eq(alertChannels.id, id)).run();
  }

  // ---------------------------------------------------------------- SMTP server

  smtp(): (SmtpConfig & { hasPassword: boolean }) | null {
    const s = getSetting<StoredSmtp>(this.#db, SMTP_SETTING);
    if (!s) return null;
    const { sealedPassword, ...cfg } = s;
    return { ...cfg, hasPassword: !!sealedPassword };
  }

  /**
   * The SMTP server e-mail channels send through. `password`: undefined keeps the stored one, ''
   * removes it; with no user, none is kept.
   */
  setSmtp(input: {
    host: string;
    port: number;
    security: SmtpSecurity;
    user: string | null;
    from: string;
    password?: string;
  }): SmtpConfig & { hasPassword: boolean } {
    const host = input.host.trim();
    if (!/^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$/.test(host))
      throw AppError.invalid('host', 'a host name or IP address');
    if (!/^[^\s@<>]+@[^\s@<>]+$/.test(input.from.trim()))
      throw AppError.invalid('from', 'an e-mail address, e.g. tandem@example.com');
    const user = input.user?.trim() || null;
    // IMMEDIATE, as every write of a sealed value (see createChannel).
    this.#db.transaction(
      () => {
        const old = getSetting<StoredSmtp>(this.#db, SMTP_SETTING);
        let sealedPassword = old?.sealedPassword ?? null;
        if (input.password !== undefined)
          sealedPassword = input.password ? this.#o.keys.encrypt(input.password, SMTP_PASSWORD_AAD) : null;
        if (!user) sealedPassword = null;
        const value: StoredSmtp = {
          host,
          port: input.port,
          security: input.security,
          user,
          from: input.from.trim(),
          sealedPassword,
        };
        setSetting(this.#db, SMTP_SETTING, value);
      },
      { behavior: 'immediate' },
    );
    return this.smtp()!;
  }

  // ---------------------------------------------------------------- deliveries

  /** Queues `event` of an alert for every enabled channel (inside the evaluation's transaction). */
  enqueue(tx: Tx, alertId: number, event: 'firing' | 'resolved', now: number): number {
    const channels = tx
      .select({ id: alertChannels.id })
      .from(alertChannels)
      .where(eq(alertChannels.enabled, true))
      .all();
    for (const c of channels) {
      tx.insert(alertDeliveries)
        .values({
          alertId,
          channelId: c.id,
          event,
          state: 'pending',
          attempts: 0,
          nextAttemptAt: new Date(now),
          createdAt: new Date(now),
        })
        .run();
    }
    return channels.length;
  }

  /** Attempts the deliveries that are due, now (in the background; one pass at a time). */
  kick(): void {
    if (this.#kicked) return;
    this.#kicked = this.process()
      .then(() => undefined)
      .catch((e) => console.error('[tandem] alert delivery failed:', errorMessage(e)))
      .finally(() => (this.#kicked = null));
  }

  /** Resolves when the background pass started by `kick` (if any) has ended. */
  async settled(): Promise<void> {
    await this.#kicked;
  }

  /** Attempts every due pending delivery (for tests and the timer); resolves when they have ended. */
  async process(now = this.#o.clock.now()): Promise<DeliveryRow[]> {
    const due = this.#db
      .select()
      .from(alertDeliveries)
      .where(and(eq(alertDeliveries.state, 'pending'), lte(alertDeliveries.nextAttemptAt, new Date(now))))
      .orderBy(asc(alertDeliveries.nextAttemptAt), asc(alertDeliveries.id))
      .limit(200)
      .all()
      .filter((d) => !this.#inflight.has(d.id));
    const out: DeliveryRow[] = [];
    for (let i = 0; i < due.length; i += MAX_PARALLEL) {
      out.push(
        ...(await Promise.all(
          due.slice(i, i + MAX_PARALLEL).map((d) => this.#attempt(d, this.#o.maxAttempts)),
        )),
      );
    }
    return out;
  }

  /** Sends a test message to a channel now: one attempt, whose result is returned (and kept as the channel's last delivery). */
  async sendTest(channelId: number): Promise<DeliveryRow> {
    this.#row(channelId);
    const now = this.#o.clock.now();
    const d = this.#db
      .insert(alertDeliveries)
      .values({
        alertId: null,
        channelId,
        event: 'test',
        state: 'pending',
        attempts: 0,
        nextAttemptAt: new Date(now),
        createdAt: new Date(now),
      })
      .returning()
      .get();
    return this.#attempt(d, 1);
  }

  deliveries(alertId: number) {
    return this.#db
      .select({ d: alertDeliveries, channel: alertChannels.name, kind: alertChannels.kind })
      .from(alertDeliveries)
      .innerJoin(alertChannels, eq(alertChannels.id, alertDeliveries.channelId))
      .where(eq(alertDeliveries.alertId, alertId))
      .orderBy(desc(alertDeliveries.id))
      .limit(200)
      .all()
      .map((r) => ({ ...r.d, channel: r.channel, kind: r.kind }));
  }

  async #attempt(d: DeliveryRow, maxAttempts: number): Promise<DeliveryRow> {
    this.#inflight.add(d.id);
    try {
      let error: string | null = null;
      try {
        const channel = this.#row(d.channelId);
        if (!channel.enabled && d.event !== 'test')
          throw new AppError('PRECONDITION_FAILED', `channel ${channel.name} is disabled`);
        const alert =
          d.alertId === null
            ? null
            : (this.#db.select().from(alerts).where(eq(alerts.id, d.alertId)).get() ?? null);
        await this.#send(channel, d, alert);
      } catch (e) {
        error = errorMessage(e);
      }
      const now = this.#o.clock.now();
      const attempts = d.attempts + 1;
      if (error === null) {
        return this.#db
          .update(alertDeliveries)
          .set({ state: 'sent', attempts, sentAt: new Date(now), nextAttemptAt: null, lastError: null })
          .where(eq(alertDeliveries.id, d.id))
          .returning()
          .get();
      }
      const wait = retryDelayMs(attempts, maxAttempts);
      return this.#db
        .update(alertDeliveries)
        .set({
          state: wait === null ? 'failed' : 'pending',
          attempts,
          nextAttemptAt: wait === null ? null : new Date(now + wait),
          lastError: error.slice(0, 2000),
        })
        .where(eq(alertDeliveries.id, d.id))
        .returning()
        .get();
    } finally {
      this.#inflight.delete(d.id);
    }
  }

  /** The JSON a webhook receives (and what an e-mail says). */
  payload(
    channel: Pick<ChannelRow, 'id' | 'name'>,
    d: Pick<DeliveryRow, 'id' | 'event'>,
    alert: typeof alerts.$inferSelect | null,
  ): Record<string, unknown> {
    const url = this.#o.consoleUrl;
    return {
      version: 1,
      deliveryId: d.id,
      event: d.event,
      sentAt: new Date(this.#o.clock.now()).toISOString(),
      channel: { id: channel.id, name: channel.name },
      alert: alert && {
        id: alert.id,
        rule: alert.rule,
        severity: alert.severity,
        state: alert.state,
        key: alert.key,
        subject: alert.subject,
        summary: alert.summary,
        detail: alert.detail ?? null,
        firedAt: alert.firedAt.toISOString(),
        lastSeenAt: alert.lastSeenAt.toISOString(),
        resolvedAt: alert.resolvedAt?.toISOString() ?? null,
        ackedBy: alert.ackedBy,
        ackedAt: alert.ackedAt?.toISOString() ?? null,
      },
      summary: alert ? alert.summary : `Test message from Tandem to channel "${channel.name}"`,
      consoleUrl: url ? `${url}/alerts${alert ? `?alert=${alert.id}` : ''}` : null,
    };
  }

  async #send(channel: ChannelRow, d: DeliveryRow, alert: typeof alerts.$inferSelect | null): Promise<void> {
    const payload = this.payload(channel, d, alert);
    const timeoutMs = this.#o.timeoutMs;
    if (channel.kind === 'webhook') {
      if (!channel.sealedSecret)
        throw new AppError('PRECONDITION_FAILED', `webhook ${channel.name} has no signing secret`);
      let secret: string;
      try {
        secret = this.#o.keys.decrypt(channel.sealedSecret, channelSecretAad(channel.id));
      } catch (e) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `the signing secret of webhook ${channel.name} cannot be decrypted with the current key (${errorMessage(e)}): make a new secret`,
        );
      }
      const url = (channel.config as { url?: string }).url ?? '';
      await postWebhook(
        url,
        secret,
        JSON.stringify(payload),
        { [DELIVERY_HEADER]: String(d.id), [EVENT_HEADER]: d.event },
        timeoutMs,
        () => this.#o.clock.now(),
      );
      return;
    }
    const smtp = getSetting<StoredSmtp>(this.#db, SMTP_SETTING);
    if (!smtp)
      throw new AppError(
        'PRECONDITION_FAILED',
        'no SMTP server is configured: set one under Alerts → Channels',
      );
    let password: string | null = null;
    if (smtp.sealedPassword) {
      try {
        password = this.#o.keys.decrypt(smtp.sealedPassword, SMTP_PASSWORD_AAD);
      } catch (e) {
        throw new AppError(
          'PRECONDITION_FAILED',
          `the SMTP password cannot be decrypted with the current key (${errorMessage(e)}): enter it again`,
        );
      }
    }
    const to = (channel.config as { to?: string[] }).to ?? [];
    await sendMail(smtp, password, { to, ...mailText(payload, alert) }, timeoutMs);
  }
}

function mailText(
  payload: Record<string, unknown>,
  alert: typeof alerts.$inferSelect | null,
): { subject: string; text: string } {
  const link = payload.consoleUrl ? `\nOpen the console: ${String(payload.consoleUrl)}\n` : '';
  if (!alert) {
    return {
      subject: '[Tandem] Test message',
      text: `${String(payload.summary)}.\nIf you read this, Tandem's alerts reach this address.\n${link}`,
    };
  }
  const event = payload.event === 'resolved' ? 'RESOLVED' : 'FIRING';
  const lines = [
    `${event} (${alert.severity}): ${alert.summary}`,
    '',
    `Rule: ${alert.rule}`,
    `Subject: ${alert.subject}`,
    `Fired at: ${alert.firedAt.toISOString()}`,
    ...(alert.resolvedAt ? [`Resolved at: ${alert.resolvedAt.toISOString()}`] : []),
    ...(alert.ackedBy ? [`Acknowledged by ${alert.ackedBy} at ${alert.ackedAt?.toISOString() ?? ''}`] : []),
    ...(alert.detail ? ['', 'Detail:', JSON.stringify(alert.detail, null, 2)] : []),
    link,
  ];
  return {
    subject: `[Tandem] ${event} ${alert.severity}: ${alert.summary}`.slice(0, 250),
    text: lines.join('\n'),
  };
}
