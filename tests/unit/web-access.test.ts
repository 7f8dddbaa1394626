import os from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  checkHost,
  checkOrigin,
  clientAddress,
  clientKey,
  normalizeIp,
  requestHostAndProto,
  safeNextPath,
  webConfig,
} from '@/server/domain/web-access';

const h = (o: Record<string, string>) => new Headers(o);

describe('client address', () => {
  const none = webConfig({});
  const proxied = webConfig({ TANDEM_TRUSTED_PROXIES: '10.0.0.0/8, ::1' });

  it('is the socket peer; X-Forwarded-For from a client is ignored', () => {
    expect(clientAddress(h({ 'x-tandem-peer': '192.0.2.7', 'x-forwarded-for': '127.0.0.6' }), none)).toBe(
      '192.0.2.7',
    );
    expect(clientAddress(h({ 'x-tandem-peer': '::ffff:192.0.2.7' }), none)).toBe('192.0.2.7');
    // A client pretending to be a proxy does not make its peer trusted.
    expect(
      clientAddress(h({ 'x-tandem-peer': '192.0.2.7', 'x-forwarded-for': '203.0.113.1' }), proxied),
    ).toBe('192.0.2.7');
  });

  it('reads X-Forwarded-For from the right, past every trusted proxy', () => {
    expect(
      clientAddress(h({ 'x-tandem-peer': '10.1.1.1', 'x-forwarded-for': '6.6.6.6, 203.0.113.9' }), proxied),
    ).toBe('203.0.113.9');
    expect(
      clientAddress(
        h({ 'x-tandem-peer': '10.1.1.1', 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.2.2.2' }),
        proxied,
      ),
    ).toBe('203.0.113.9');
    expect(
      clientAddress(h({ 'x-tandem-peer': '::1', 'x-forwarded-for': '[2001:db8::1]:4711' }), proxied),
    ).toBe('2001:db8::1');
    // Garbage past the proxies stops the walk at the last real address.
    expect(clientAddress(h({ 'x-tandem-peer': '10.1.1.1', 'x-forwarded-for': 'unknown' }), proxied)).toBe(
      '10.1.1.1',
    );
  });

  it('keys IPv6 clients by their /64 network', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8::1')).toBe('2001:db8:0:0::/64');
    expect(clientKey('192.0.2.1')).toBe('192.0.2.1');
  });

  it('normalizes addresses and refuses non-addresses', () => {
    expect(normalizeIp('[::1]:3000')).toBe('::1');
    expect(normalizeIp('192.0.2.1:80')).toBe('192.0.2.1');
    expect(normalizeIp('fe80::1%eth0')).toBe('fe80::1');
    expect(normalizeIp('evil.example')).toBeNull();
  });

  it('refuses a bad TANDEM_TRUSTED_PROXIES', () => {
    expect(() => webConfig({ TANDEM_TRUSTED_PROXIES: 'proxy.example' })).toThrow(/TANDEM_TRUSTED_PROXIES/);
    expect(() => webConfig({ TANDEM_TRUSTED_PROXIES: '10.0.0.0/33' })).toThrow(/prefix length/);
  });

  it('believes X-Forwarded-Host only from a trusted proxy', () => {
    expect(
      requestHostAndProto(
        h({ 'x-tandem-peer': '192.0.2.7', host: '127.0.0.1:3000', 'x-forwarded-host': 'evil.example' }),
        proxied,
      ).host,
    ).toBe('127.0.0.1:3000');
    expect(
      requestHostAndProto(
        h({ 'x-tandem-peer': '10.0.0.2', host: '127.0.0.1:3000', 'x-forwarded-host': 'tandem.example.com' }),
        proxied,
      ).host,
    ).toBe('tandem.example.com');
  });
});

describe('host names and origins', () => {
  const none = webConfig({});
  const url = webConfig({
    TANDEM_URL: 'https://tandem.example.com',
    TANDEM_ALLOWED_ORIGINS: 'https://dr.example.org:8443',
  });

  it('without TANDEM_URL answers IP addresses, localhost and this machine only (no DNS rebinding)', () => {
    for (const host of [
      '127.0.0.1:3000',
      '192.0.2.4',
      '[::1]:3000',
      'localhost:3000',
      'LOCALHOST',
      `${os.hostname()}:3000`,
    ])
      expect(checkHost(host, none), host).toBeNull();
    for (const host of ['evil.example', 'evil.example:3000', 'localhost.evil.example', null]) {
      expect(checkHost(host, none)?.message, String(host)).toMatch(/TANDEM_URL/);
    }
  });

  it('with TANDEM_URL answers its host names (and loopback) only', () => {
    for (const host of [
      'tandem.example.com',
      'tandem.example.com:443',
      'dr.example.org:8443',
      '127.0.0.1:3000',
      'localhost:3000',
    ])
      expect(checkHost(host, url), host).toBeNull();
    for (const host of ['evil.example', '192.0.2.4:3000', os.hostname(), 'dr.example.org'])
      expect(checkHost(host, url), host).not.toBeNull();
  });

  it('accepts changes from the same host, or only from the configured origins', () => {
    expect(checkOrigin('http://127.0.0.1:3000', '127.0.0.1:3000', none)).toBeNull();
    expect(checkOrigin('http://evil.example', '127.0.0.1:3000', none)).not.toBeNull();
    expect(checkOrigin(null, '127.0.0.1:3000', none)).not.toBeNull();
    expect(checkOrigin('not a url', '127.0.0.1:3000', none)).not.toBeNull();
    expect(checkOrigin('https://tandem.example.com', 'tandem.example.com', url)).toBeNull();
    expect(checkOrigin('https://dr.example.org:8443', '127.0.0.1:3000', url)).toBeNull();
    expect(checkOrigin('http://tandem.example.com', 'tandem.example.com', url)).not.toBeNull();
    expect(checkOrigin('http://127.0.0.1:3000', '127.0.0.1:3000', url)).not.toBeNull();
  });

  it('refuses a TANDEM_URL or allowed origin that is not an http(s) origin', () => {
    expect(() => webConfig({ TANDEM_URL: 'tandem.example.com' })).toThrow(/TANDEM_URL/);
    expect(() => webConfig({ TANDEM_URL: 'https://tandem.example.com/console' })).toThrow(/TANDEM_URL/);
    expect(() => webConfig({ TANDEM_ALLOWED_ORIGINS: 'ftp://x.example' })).toThrow(/TANDEM_ALLOWED_ORIGINS/);
  });
});

describe('the page after sign-in', () => {
  it('is a path of this console only', () => {
    for (const ok of ['/', '/history', '/tasks/7?tab=log#x', '/replicas/3/web%2F01'])
      expect(safeNextPath(ok), ok).toBe(ok);
    for (const bad of [
      '/\\evil.example',
      '//evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      'https://evil.example',
      'evil.example',
      '',
      undefined,
      '/a//b',
      '/%5Cevil.example',
      'javascript:alert(1)',
      '/..//evil.example',
    ]) {
      expect(safeNextPath(bad), String(bad)).toBe('/');
    }
  });
});
