import { describe, expect, it } from 'vitest';
import { contentSecurityPolicy, newNonce, servedOverTls } from '@/server/http/csp';

describe('Content-Security-Policy', () => {
  it('allows scripts only from the console or with the nonce; eval only in development', () => {
    const p = contentSecurityPolicy('abc');
    expect(p).toContain("script-src 'self' 'nonce-abc' 'strict-dynamic'");
    expect(p).not.toContain('unsafe-eval');
    expect(p).not.toMatch(/script-src[^;]*unsafe-inline/);
    expect(contentSecurityPolicy('abc', { dev: true })).toContain("'unsafe-eval'");
  });

  it('makes a new 128-bit nonce each time', () => {
    const a = newNonce();
    expect(a).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    expect(newNonce()).not.toBe(a);
  });

  it('sends HSTS only over TLS: a proxy saying https, or an https console URL', () => {
    expect(servedOverTls(null, undefined)).toBe(false);
    expect(servedOverTls('http', 'http://dr.example')).toBe(false);
    expect(servedOverTls('https', undefined)).toBe(true);
    expect(servedOverTls('https, http', undefined)).toBe(true);
    expect(servedOverTls(null, 'https://dr.example')).toBe(true);
  });
});
