import net from 'node:net';
import os from 'node:os';
import { AppError } from '../core/errors';

/**
 * How the console is reached over HTTP: which client a request comes from, and (below) which
 * host names and origins it answers to. Configuration comes from the environment:
 *
 * - `TANDEM_URL`: the console's own origin (`https://tandem.example.com`), as the browser uses it;
 * - `TANDEM_ALLOWED_ORIGINS`: more origins it is reached as (comma-separated);
 * - `TANDEM_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges of reverse proxies whose
 *   `X-Forwarded-For` / `-Host` / `-Proto` are believed.
 *
 * Host names: with either of the first two set, only their hosts (and loopback: 127.0.0.0/8,
 * ::1, localhost, which no DNS rebinding can produce) are answered. With neither, any IP
 * literal, `localhost` and this machine's host name (`os.hostname()`) are: the console works
 * out of the box on its address, and a page of another site whose name an attacker points at
 * this machine (DNS rebinding) is refused, since its Host header names that site.
 * Changes (tRPC mutations) need an Origin: one of the configured origins, or with none
 * configured the request's own host.
 */

/**
 * The socket peer's address, set by `instrumentation.ts` on every request before Next.js sees it
 * (any value a client sends under this name is overwritten). Next.js itself does not give a route
 * handler the socket: it sets `X-Forwarded-For` to the socket address only when the request has
 * no such header (`req.headers['x-forwarded-for'] ??= socket.remoteAddress` in Next 16's
 * base-server), and never appends, so that header is whatever the client sent when it sent one.
 */
export const PEER_HEADER = 'x-tandem-peer';

export interface WebConfig {
  /** TANDEM_URL, when set. */
  url: URL | null;
  /** TANDEM_URL's origin and TANDEM_ALLOWED_ORIGINS; empty when neither is set. */
  origins: Set<string>;
  /** Their hosts (with and without the default port). */
  hosts: Set<string>;
  trustedProxies: net.BlockList | null;
}

function parseOrigin(raw: string, name: string, asUrl = false): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new AppError('INVALID_INPUT', `${name}: "${raw}" is not a URL (e.g. https://tandem.example.com)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new AppError('INVALID_INPUT', `${name}: "${raw}" must start with http:// or https://`);
  if (u.username || u.password || u.search || u.hash || u.pathname !== '/') {
    throw new AppError(
      'INVALID_INPUT',
      `${name}: "${raw}" must be an origin only (scheme, host, port), without a path${asUrl ? '; Tandem is served at the root' : ''}`,
    );
  }
  return u;
}

function parseProxies(raw: string): net.BlockList | null {
  const entries = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!entries.length) return null;
  const list = new net.BlockList();
  for (const e of entries) {
    const [addr, bits] = e.split('/');
    const ip = normalizeIp(addr);
    const type = ip ? (net.isIPv6(ip) ? 'ipv6' : 'ipv4') : null;
    if (!ip || !type)
      throw new AppError(
        'INVALID_INPUT',
        `TANDEM_TRUSTED_PROXIES: "${e}" is not an IP address or CIDR range`,
      );
    if (bits === undefined) list.addAddress(ip, type);
    else {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (type === 'ipv6' ? 128 : 32))
        throw new AppError('INVALID_INPUT', `TANDEM_TRUSTED_PROXIES: "${e}" has a bad prefix length`);
      list.addSubnet(ip, n, type);
    }
  }
  return list;
}

let cached: { key: string; cfg: WebConfig } | null = null;

/** The configuration from the environment (parsed once per distinct value); throws on a bad value. */
export function webConfig(env: Record<string, string | undefined> = process.env): WebConfig {
  const key = [env.TANDEM_URL ?? '', env.TANDEM_ALLOWED_ORIGINS ?? '', env.TANDEM_TRUSTED_PROXIES ?? ''].join(
    '\u0000',
  );
  if (cached?.key === key) return cached.cfg;
  const url = env.TANDEM_URL?.trim() ? parseOrigin(env.TANDEM_URL.trim(), 'TANDEM_URL', true) : null;
  const extra = (env.TANDEM_ALLOWED_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((o) => parseOrigin(o, 'TANDEM_ALLOWED_ORIGINS'));
  const all = url ? [url, ...extra] : extra;
  const hosts = new Set<string>();
  for (const u of all) {
    hosts.add(u.host);
    if (!u.port) hosts.add(`${u.hostname}:${u.protocol === 'https:' ? 443 : 80}`);
  }
  const cfg: WebConfig = {
    url,
    origins: new Set(all.map((u) => u.origin)),
    hosts,
    trustedProxies: parseProxies(env.TANDEM_TRUSTED_PROXIES ?? ''),
  };
  cached = { key, cfg };
  return cfg;
}

/**
 * An IP address in one canonical form (no brackets, zone or port; IPv4-mapped IPv6 as IPv4), or
 * null when it is not one.
 */
export function normalizeIp(raw: string | null | undefined): string | null {
  if (!raw) return null;
  let s = raw.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1]!;
  else if (/^[\d.]+:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  s = s.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped) s = mapped[1]!;
  return net.isIP(s) ? s.toLowerCase() : null;
}

function trusted(ip: string, cfg: WebConfig): boolean {
  return !!cfg.trustedProxies?.check(ip, net.isIPv6(ip) ? 'ipv6' : 'ipv4');
}

let warnedNoPeer = false;

/** The last entry of a comma-separated forwarding header, trimmed. */
function lastEntry(value: string | null): string | null {
  const parts = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return parts.at(-1) ?? null;
}

/** Whether the request reached us through a trusted proxy (its socket peer is one). */
export function fromTrustedProxy(headers: Headers, cfg: WebConfig = webConfig()): boolean {
  const peer = normalizeIp(headers.get(PEER_HEADER));
  return !!peer && trusted(peer, cfg);
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy; then
 * `X-Forwarded-For` is read from its right end (each proxy appends the address it was reached
 * from) past every trusted proxy, and the first address that is not one is the client's.
 */
export function clientAddress(headers: Headers, cfg: WebConfig = webConfig()): string {
  const peer = normalizeIp(headers.get(PEER_HEADER));
  if (!peer) {
    // Only when the peer hook did not run (a server not started through Next's own `next start`).
    if (!warnedNoPeer)
      console.warn(
        `[tandem] no ${PEER_HEADER} header: client addresses fall back to the last X-Forwarded-For entry`,
      );
    warnedNoPeer = true;
    return normalizeIp(lastEntry(headers.get('x-forwarded-for'))) ?? 'unknown';
  }
  const chain = (headers.get('x-forwarded-for') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  let addr = peer;
  for (let i = chain.length - 1; i >= 0 && trusted(addr, cfg); i--) {
    const next = normalizeIp(chain[i]);
    if (!next) break;
    addr = next;
  }
  return addr;
}

/** The throttling key of an address: the address itself, or its /64 network for IPv6. */
export function clientKey(address: string): string {
  if (!net.isIPv6(address)) return address;
  const [head, tail] = address.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (g || '0').replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** The request's scheme and host as the client used them: forwarded ones only from a trusted proxy. */
export function requestHostAndProto(
  headers: Headers,
  cfg: WebConfig = webConfig(),
): { host: string | null; proto: string | null } {
  const viaProxy = fromTrustedProxy(headers, cfg);
  const host = (viaProxy ? lastEntry(headers.get('x-forwarded-host')) : null) ?? headers.get('host');
  // Believed from anyone: a client that claims https only gets a Secure cookie it cannot use.
  const proto = lastEntry(headers.get('x-forwarded-proto'));
  return { host: host?.toLowerCase() ?? null, proto: proto?.toLowerCase() ?? null };
}

/** The name part of a Host header (no port, no brackets), lower case, without a trailing dot. */
function hostName(host: string): string {
  const h = host.trim().toLowerCase();
  const bracketed = /^\[([^\]]+)\](?::\d*)?$/.exec(h);
  if (bracketed) return bracketed[1]!;
  const name = net.isIPv6(h) ? h : h.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

function isLoopback(name: string): boolean {
  if (name === 'localhost') return true;
  const ip = normalizeIp(name);
  return !!ip && (ip === '::1' || /^127\./.test(ip));
}

/** Refuses a Host header the console does not answer to (null when it does). */
export function checkHost(host: string | null, cfg: WebConfig = webConfig()): AppError | null {
  const name = host ? hostName(host) : '';
  if (name) {
    if (cfg.origins.size) {
      if (
        cfg.hosts.has(
          host!
            .trim()
            .toLowerCase()
            .replace(/\.(?=:|$)/, ''),
        ) ||
        isLoopback(name)
      )
        return null;
    } else if (net.isIP(name) || name === 'localhost' || name === os.hostname().toLowerCase()) return null;
  }
  const shown = host ?? '(none)';
  return new AppError(
    'BAD_ORIGIN',
    cfg.origins.size
      ? `this console answers as ${[...cfg.hosts][0]}, not as ${shown} (TANDEM_URL, TANDEM_ALLOWED_ORIGINS)`
      : `this console answers to IP addresses, localhost and ${os.hostname()} only, not to ${shown}; set TANDEM_URL to the address browsers use to reach it`,
  );
}

/** Refuses a change whose Origin is not the console's own (null when it is). */
export function checkOrigin(
  origin: string | null,
  host: string | null,
  cfg: WebConfig = webConfig(),
): AppError | null {
  let o: URL | null = null;
  try {
    o = origin ? new URL(origin) : null;
  } catch {
    o = null;
  }
  const ok = !!o && (cfg.origins.size ? cfg.origins.has(o.origin) : !!host && o.host === host.toLowerCase());
  if (ok) return null;
  return new AppError(
    'BAD_ORIGIN',
    `request origin ${origin ?? '(none)'} is not this console's${cfg.origins.size ? ` (${[...cfg.origins].join(', ')})` : ''}; refusing the change`,
  );
}

/**
 * The session cookie: `__Host-tandem_session`, always Secure, when TANDEM_URL is https (the
 * prefix makes the browser refuse it without Secure, Path=/ and a Domain, so no other host or
 * plain-http page can set it); otherwise `tandem_session`, Secure when the request came over https.
 */
export function sessionCookie(cfg: WebConfig = webConfig()): { name: string; alwaysSecure: boolean } {
  return cfg.url?.protocol === 'https:'
    ? { name: '__Host-tandem_session', alwaysSecure: true }
    : { name: 'tandem_session', alwaysSecure: false };
}

/**
 * Where to go after sign-in: a path of this console, else `/`. Only a single leading `/`, no `//`
 * or backslash anywhere (browsers read `/\\host` as `//host`), no control characters (which
 * browsers strip), and nothing that resolves to another origin.
 */
export function safeNextPath(next: unknown): string {
  if (
    typeof next !== 'string' ||
    !next.startsWith('/') ||
    next.includes('//') ||
    next.includes('\\') ||
    /%5c/i.test(next) ||
    /[\u0000-\u001f\u007f]/.test(next)
  )
    return '/';
  try {
    const base = 'http://console.invalid';
    const u = new URL(next, base);
    if (u.origin !== base || u.pathname.includes('//') || u.pathname.includes('\\')) return '/';
  } catch {
    return '/';
  }
  return next;
}
