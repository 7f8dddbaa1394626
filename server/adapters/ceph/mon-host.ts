import { isIPv6 } from 'node:net';
import { AppError } from '../../core/errors';

/**
 * Monitor address lists as Ceph reads `mon_host` (and a peer's `mon-host`): addresses separated by
 * commas, spaces or semicolons, each one of
 *   - `host` or `host:port` (an IPv4 address or a host name),
 *   - `[ipv6]` or `[ipv6]:port`,
 *   - `v1:addr` / `v2:addr`, or an address vector `[v2:addr,v1:addr]`, where `addr` is
 *     `ipv4[:port][/nonce]` or `[ipv6][:port][/nonce]`.
 * Checked before anything is sent to Ceph, so that a typo is an error on the field that has it
 * rather than a peer that silently never connects.
 */

const MAX_LEN = 1024;
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const EXAMPLE = 'e.g. [v2:10.0.0.1:3300,v1:10.0.0.1:6789] or 10.0.0.1:6789,10.0.0.2:6789';

function bad(message: string): AppError {
  return AppError.invalid('monHost', message);
}

/** Splits at separators outside brackets; refuses unbalanced brackets. */
function entries(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (depth === 0 && /[\s,;]/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    if (ch === '[') depth++;
    if (ch === ']' && --depth < 0) throw bad(`${JSON.stringify(cur + ch)} has a ] without [`);
    cur += ch;
  }
  if (depth > 0) throw bad(`${JSON.stringify(cur)} has an unclosed [`);
  if (cur) out.push(cur);
  return out;
}

function checkIPv4(ip: string): void {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255))
    throw bad(`${ip} is not an IPv4 address`);
}

function checkHost(host: string): void {
  if (/^[\d.]+$/.test(host)) return checkIPv4(host);
  if (host.length > 253 || !host.split('.').every((l) => HOST_LABEL.test(l)))
    throw bad(`${host} is not a host name or address`);
}

function checkPort(port: string | undefined, whole: string): void {
  if (port === undefined) return;
  if (port === '') throw bad(`the port of ${whole} is missing after the colon`);
  if (!/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535)
    throw bad(`port ${port} of ${whole} is not between 1 and 65535`);
}

/** `host[:port]`, `[ipv6][:port]`; with `typed`, an IP only (Ceph parses entity addresses), and an optional `/nonce`. */
function checkAddress(addr: string, whole: string, typed: boolean): void {
  let rest = addr;
  if (typed) {
    const slash = rest.lastIndexOf('/');
    if (slash >= 0) {
      const nonce = rest.slice(slash + 1);
      if (!/^\d+$/.test(nonce))
        throw bad(`the nonce ${JSON.stringify(nonce)} of ${whole} is not a whole number`);
      rest = rest.slice(0, slash);
    }
  }
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(rest);
  if (v6) {
    if (!isIPv6(v6[1]!)) throw bad(`${v6[1]} is not an IPv6 address`);
    return checkPort(v6[2], whole);
  }
  const m = /^([^:]*)(?::(.*))?$/.exec(rest);
  if (!m || !m[1]) throw bad(`${JSON.stringify(whole)} is not a monitor address (${EXAMPLE})`);
  if (typed) checkIPv4(m[1]);
  else checkHost(m[1]);
  checkPort(m[2], whole);
}

/** `v1:addr`, `v2:addr` (`any:` too, as Ceph accepts it). */
function checkTyped(item: string, whole: string): void {
  const m = /^([A-Za-z][A-Za-z0-9]*):(.*)$/.exec(item);
  if (!m) throw bad(`${JSON.stringify(whole)}: inside [ ] each address starts with v1: or v2:`);
  const proto = m[1]!.toLowerCase();
  if (proto !== 'v1' && proto !== 'v2' && proto !== 'any')
    throw bad(`${m[1]}: in ${whole} is not a messenger protocol: use v1 or v2`);
  checkAddress(m[2]!, whole, true);
}

function checkEntry(e: string): void {
  if (e.startsWith('[') && e.endsWith(']')) {
    const inner = e.slice(1, -1);
    if (isIPv6(inner)) return; // `[ipv6]`: a host without a port
    const items = entries(inner.replace(/,/g, ' '));
    if (!items.length) throw bad(`${e} is an empty address vector`);
    for (const item of items) checkTyped(item, e);
    return;
  }
  if (/^v\d+:/i.test(e) || /^any:/i.test(e)) return checkTyped(e, e);
  checkAddress(e, e, false);
}

/** The list as Ceph is given it (entries joined by commas), or an INVALID_INPUT error on `monHost`. */
export function normalizeMonHosts(text: string): string {
  const list = entries(text.trim());
  if (!list.length) throw bad(`give at least one monitor address, ${EXAMPLE}`);
  for (const e of list) checkEntry(e);
  const out = list.join(',');
  if (out.length > MAX_LEN) throw bad(`the list is longer than ${MAX_LEN} characters`);
  return out;
}
