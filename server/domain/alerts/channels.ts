import { createHmac, randomBytes } from 'node:crypto';
import nodemailer from 'nodemailer';
import { AppError, errorMessage } from '../errors';

/**
 * How alerts leave Tandem: a webhook (a signed JSON POST) or an e-mail over SMTP. Every request
 * has a timeout; nothing else is asked.
 */

export const SIGNATURE_HEADER = 'X-Tandem-Signature';
export const TIMESTAMP_HEADER = 'X-Tandem-Timestamp';
export const DELIVERY_HEADER = 'X-Tandem-Delivery';
export const EVENT_HEADER = 'X-Tandem-Event';

/** A new webhook signing secret: 32 random bytes, base64url (43 characters). */
export function newWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The signature of a webhook request: `sha256=` and the hex HMAC-SHA256, keyed with the secret
 * (its UTF-8 bytes), of the timestamp header's value, a period, and the raw request body.
 */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A webhook URL: http or https, with a host and no credentials (the requests are signed instead). */
export function checkWebhookUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw AppError.invalid('url', 'not a URL: give an http:// or https:// address');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw AppError.invalid('url', `only http:// and https:// URLs are allowed, not ${u.protocol}//`);
  if (!u.hostname) throw AppError.invalid('url', 'the URL has no host');
  if (u.username || u.password) throw AppError.invalid('url', 'put no user or password in the URL: the requests are signed with the webhook secret');
  return u.toString();
}

export interface HttpResult {
  status: number;
}

/** POSTs a signed JSON body; a non-2xx answer, a redirect, a timeout or a network error throws. */
export async function postWebhook(url: string, secret: string, body: string, headers: Record<string, string>, timeoutMs: number, now: () => number): Promise<HttpResult> {
  checkWebhookUrl(url);
  const timestamp = String(Math.floor(now() / 1000));
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'Tandem-Alerts/1',
        ...headers,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
      },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') throw new AppError('TIMEOUT', `no answer from ${url} within ${timeoutMs / 1000} s`);
    throw new AppError('UNREACHABLE', `POST ${url} failed: ${err.cause?.message ?? err.cause?.code ?? errorMessage(e)}`);
  }
  const text = (await res.text().catch(() => '')).slice(0, 300);
  if (res.status >= 300 && res.status < 400) {
    throw new AppError('COMMAND_FAILED', `${url} answered ${res.status} redirecting to ${res.headers.get('location') ?? '(nowhere)'}; redirects are not followed: give the final URL`);
  }
  if (!res.ok) throw new AppError('COMMAND_FAILED', `${url} answered ${res.status} ${res.statusText}${text ? `: ${text}` : ''}`);
  return { status: res.status };
}

export type SmtpSecurity = 'tls' | 'starttls' | 'none';

export interface SmtpConfig {
  host: string;
  port: number;
  /** `tls`: TLS from the start (port 465); `starttls`: plain, then STARTTLS required (587); `none`: no TLS. */
  security: SmtpSecurity;
  user: string | null;
  from: string;
}

export interface Mail {
  to: string[];
  subject: string;
  text: string;
}

/** Sends one message through the configured SMTP server; the connection is closed afterwards. */
export async function sendMail(cfg: SmtpConfig, password: string | null, mail: Mail, timeoutMs: number): Promise<{ messageId: string; accepted: string[] }> {
  const transport = nodemailer.createTransport({
    host: cfg.host,
    port: cfg.port,
    secure: cfg.security === 'tls',
    requireTLS: cfg.security === 'starttls',
    ignoreTLS: cfg.security === 'none',
    auth: cfg.user ? { user: cfg.user, pass: password ?? '' } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  try {
    const info = await transport.sendMail({ from: cfg.from, to: mail.to, subject: mail.subject, text: mail.text });
    return { messageId: info.messageId, accepted: (info.accepted ?? []).map(String) };
  } catch (e) {
    throw new AppError('COMMAND_FAILED', `SMTP ${cfg.host}:${cfg.port}: ${errorMessage(e)}`);
  } finally {
    transport.close();
  }
}
