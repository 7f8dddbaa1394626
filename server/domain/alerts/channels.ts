import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import nodemailer from 'nodemailer';
import { AppError, errorMessage } from '../../core/errors';

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
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw AppError.invalid('url', `only http:// and https:// URLs are allowed, not ${u.protocol}//`);
  if (!u.hostname) throw AppError.invalid('url', 'the URL has no host');
  if (u.username || u.password)
    throw AppError.invalid(
      'url',
      'put no user or password in the URL: the requests are signed with the webhook secret',
    );
  return u.toString();
}

export interface HttpResult {
  status: number;
}

/**
 * POSTs a signed JSON body over a connection of its own (no keep-alive: alerts are rare, and a
 * pooled socket the receiver has since closed would fail the attempt); a non-2xx answer, a
 * redirect (not followed), no answer within `timeoutMs` or a network error throws.
 */
export async function postWebhook(
  url: string,
  secret: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  now: () => number,
): Promise<HttpResult> {
  const u = new URL(checkWebhookUrl(url));
  const timestamp = String(Math.floor(now() / 1000));
  const res = await new Promise<{
    status: number;
    statusText: string;
    location: string | undefined;
    text: string;
  }>((resolve, reject) => {
    const req = (u.protocol === 'https:' ? https : http).request(
      u,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': String(Buffer.byteLength(body)),
          'user-agent': 'Tandem-Alerts/1',
          ...headers,
          [TIMESTAMP_HEADER]: timestamp,
          [SIGNATURE_HEADER]: signWebhook(secret, timestamp, body),
        },
      },
      (r) => {
        let text = '';
        r.setEncoding('utf8');
        r.on('data', (c: string) => {
          if (text.length < 300) text += c;
        });
        r.on('end', () =>
          resolve({
            status: r.statusCode ?? 0,
            statusText: r.statusMessage ?? '',
            location: r.headers.location,
            text: text.slice(0, 300),
          }),
        );
        r.on('error', reject);
      },
    );
    const timer = setTimeout(
      () => req.destroy(new AppError('TIMEOUT', `no answer from ${url} within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    req.on('close', () => clearTimeout(timer));
    req.on('error', (e) =>
      reject(
        e instanceof AppError ? e : new AppError('UNREACHABLE', `POST ${url} failed: ${errorMessage(e)}`),
      ),
    );
    req.end(body);
  });
  if (res.status >= 300 && res.status < 400) {
    throw new AppError(
      'COMMAND_FAILED',
      `${url} answered ${res.status} redirecting to ${res.location ?? '(nowhere)'}; redirects are not followed: give the final URL`,
    );
  }
  if (res.status < 200 || res.status >= 300)
    throw new AppError(
      'COMMAND_FAILED',
      `${url} answered ${res.status} ${res.statusText}${res.text ? `: ${res.text}` : ''}`,
    );
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
export async function sendMail(
  cfg: SmtpConfig,
  password: string | null,
  mail: Mail,
  timeoutMs: number,
): Promise<{ messageId: string; accepted: string[] }> {
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
    const info = await transport.sendMail({
      from: cfg.from,
      to: mail.to,
      subject: mail.subject,
      text: mail.text,
    });
    return { messageId: info.messageId, accepted: (info.accepted ?? []).map(String) };
  } catch (e) {
    throw new AppError('COMMAND_FAILED', `SMTP ${cfg.host}:${cfg.port}: ${errorMessage(e)}`);
  } finally {
    transport.close();
  }
}
