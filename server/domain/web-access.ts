import net from 'node:net';
import { AppError } from './errors';

/**
 * How the console is reached over HTTP: which client a request comes from, and (below) which
 * host names and origins it answers to. Configuration comes from the environment:
 *
 * - `TANDEM_TRUSTED_PROXIES`: comma-separated addresses or CIDR ranges of reverse proxies whose
 *   `X-Forwarded-For` / `-Host` / `-Proto` are believed.
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
  trustedProxies: net.BlockList | null;
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
    if (!ip || !type) throw new AppError('INVALID_INPUT', `TANDEM_TRUSTED_PROXIES: "${e}" is not an IP address or CIDR range`);
    if (bits === undefined) list.addAddress(ip, type);
    else {
      const n = Number(bits);
      if (!/^\d+$/.test(bits) || n > (type === 'ipv6' ? 128 : 32)) throw new AppError('INVALID_INPUT', `TANDEM_TRUSTED_PROXIES: "${e}" has a bad prefix length`);
      list.addSubnet(ip, n, type);
    }
  }
  return list;
}

let cached: { key: string; cfg: WebConfig } | null = null;

/** The configuration from the environment (parsed once per distinct value); throws on a bad value. */
export function webConfig(env: Record<string, string | undefined> = process.env): WebConfig {
  const key = [env.TANDEM_TRUSTED_PROXIES ?? ''].join('\u0000');
  if (cached?.key === key) return cached.cfg;
  const cfg: WebConfig = { trustedProxies: parseProxies(env.TANDEM_TRUSTED_PROXIES ?? '') };
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
    if (!warnedNoPeer) console.warn(`[tandem] no ${PEER_HEADER} header: client addresses fall back to the last X-Forwarded-For entry`);
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
  const groups = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => (g || '0').replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** The request's scheme and host as the client used them: forwarded ones only from a trusted proxy. */
export function requestHostAndProto(headers: Headers, cfg: WebConfig = webConfig()): { host: string | null; proto: string | null } {
  const viaProxy = fromTrustedProxy(headers, cfg);
  const host = (viaProxy ? lastEntry(headers.get('x-forwarded-host')) : null) ?? headers.get('host');
  // Believed from anyone: a client that claims https only gets a Secure cookie it cannot use.
  const proto = lastEntry(headers.get('x-forwarded-proto'));
  return { host: host?.toLowerCase() ?? null, proto: proto?.toLowerCase() ?? null };
}
