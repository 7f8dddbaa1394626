import { describe, expect, it } from 'vitest';
import { normalizeMonHosts } from '@/server/adapters/ceph/mon-host';
import { AppError } from '@/server/core/errors';

function issue(text: string): string {
  try {
    normalizeMonHosts(text);
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).fields[0]!.field).toBe('monHost');
    return (e as AppError).fields[0]!.message;
  }
  throw new Error(`${JSON.stringify(text)} was accepted`);
}

describe('monitor address lists (mon_host)', () => {
  it.each([
    ['[v2:10.20.2.11:3300/0,v1:10.20.2.11:6789/0]', '[v2:10.20.2.11:3300/0,v1:10.20.2.11:6789/0]'],
    ['[v2:127.0.0.1:13301,v1:127.0.0.1:16790]', '[v2:127.0.0.1:13301,v1:127.0.0.1:16790]'],
    ['10.0.0.1', '10.0.0.1'],
    ['10.0.0.1:6789,10.0.0.2:6789', '10.0.0.1:6789,10.0.0.2:6789'],
    [' 10.0.0.1:6789  10.0.0.2 ; mon3.example.com ', '10.0.0.1:6789,10.0.0.2,mon3.example.com'],
    ['v2:10.0.0.1:3300', 'v2:10.0.0.1:3300'],
    ['[::1]:6789', '[::1]:6789'],
    ['[v2:[fd00::1]:3300/0,v1:[fd00::1]:6789/0]', '[v2:[fd00::1]:3300/0,v1:[fd00::1]:6789/0]'],
    ['mon-a,mon-b:6789', 'mon-a,mon-b:6789'],
  ])('accepts %j', (text, normalized) => {
    expect(normalizeMonHosts(text)).toBe(normalized);
  });

  it.each([
    ['', /at least one monitor address/],
    [' , ', /at least one monitor address/],
    ['10.0.0.1:99999', /port 99999 of 10\.0\.0\.1:99999 is not between 1 and 65535/],
    ['10.0.0.1:0', /port 0 of 10\.0\.0\.1:0 is not between 1 and 65535/],
    ['10.0.0.300:6789', /10\.0\.0\.300 is not an IPv4 address/],
    ['10.0.0:6789', /10\.0\.0 is not an IPv4 address/],
    ['[v2:10.0.0.1:3300/0,v1:10.0.0.1:6789/0', /unclosed \[/],
    ['v2:10.0.0.1:3300]', /\] without \[/],
    ['[v3:10.0.0.1:3300]', /v3: .*v1 or v2/],
    ['[10.0.0.1:3300]', /inside \[ \] each address starts with v1: or v2:/],
    ['[v2:10.0.0.1:3300/x]', /nonce .*whole number/],
    ['-m evil', /-m is not a host name/],
    ['mon_1', /mon_1 is not a host name/],
    ['[::1', /unclosed \[/],
    ['[::g]:6789', /::g is not an IPv6 address/],
    ['10.0.0.1:', /port .*missing/],
  ])('refuses %j', (text, message) => {
    expect(issue(text)).toMatch(message);
  });
});
