import { describe, expect, it } from 'vitest';
import { clientAddress, clientKey, normalizeIp, requestHostAndProto, webConfig } from '@/server/domain/web-access';

const h = (o: Record<string, string>) => new Headers(o);

describe('client address', () => {
  const none = webConfig({});
  const proxied = webConfig({ TANDEM_TRUSTED_PROXIES: '10.0.0.0/8, ::1' });

  it('is the socket peer; X-Forwarded-For from a client is ignored', () => {
    expect(clientAddress(h({ 'x-tandem-peer': '192.0.2.7', 'x-forwarded-for': '127.0.0.6' }), none)).toBe('192.0.2.7');
    expect(clientAddress(h({ 'x-tandem-peer': '::ffff:192.0.2.7' }), none)).toBe('192.0.2.7');
    // A client pretending to be a proxy does not make its peer trusted.
    expect(clientAddress(h({ 'x-tandem-peer': '192.0.2.7', 'x-forwarded-for': '203.0.113.1' }), proxied)).toBe('192.0.2.7');
  });

  it('reads X-Forwarded-For from the right, past every trusted proxy', () => {
    expect(clientAddress(h({ 'x-tandem-peer': '10.1.1.1', 'x-forwarded-for': '6.6.6.6, 203.0.113.9' }), proxied)).toBe('203.0.113.9');
    expect(clientAddress(h({ 'x-tandem-peer': '10.1.1.1', 'x-forwarded-for': '6.6.6.6, 203.0.113.9, 10.2.2.2' }), proxied)).toBe('203.0.113.9');
    expect(clientAddress(h({ 'x-tandem-peer': '::1', 'x-forwarded-for': '[2001:db8::1]:4711' }), proxied)).toBe('2001:db8::1');
    // Garbage past the proxies stops the walk at the last real address.
    expect(clientAddress(h({ 'x-tandem-peer': '10.1.1.1', 'x-forwarded-for': 'unknown' }), proxied)).toBe('10.1.1.1');
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
    expect(requestHostAndProto(h({ 'x-tandem-peer': '192.0.2.7', host: '127.0.0.1:3000', 'x-forwarded-host': 'evil.example' }), proxied).host).toBe('127.0.0.1:3000');
    expect(requestHostAndProto(h({ 'x-tandem-peer': '10.0.0.2', host: '127.0.0.1:3000', 'x-forwarded-host': 'tandem.example.com' }), proxied).host).toBe('tandem.example.com');
  });
});
