import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '@/server/domain/secrets';

describe('secret box (AES-256-GCM)', () => {
  const box = new SecretBox(crypto.randomBytes(32));

  it('round-trips and uses a fresh IV each time', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n';
    const a = box.encrypt(key);
    const b = box.encrypt(key);
    expect(a).not.toBe(b);
    expect(a).not.toContain('OPENSSH');
    expect(box.decrypt(a)).toBe(key);
    expect(box.decrypt(b)).toBe(key);
  });

  it('detects tampering with ciphertext, tag or IV', () => {
    const stored = box.encrypt('keyring secret');
    const parts = stored.split('.');
    for (const i of [1, 2, 3]) {
      const p = [...parts];
      const raw = Buffer.from(p[i]!, 'base64');
      raw[0] = raw[0]! ^ 0x01;
      p[i] = raw.toString('base64');
      expect(() => box.decrypt(p.join('.'))).toThrow(/integrity check/);
    }
    expect(() => box.decrypt('v2.x.y.z')).toThrow(/unknown format/);
  });

  it('refuses an authentication tag shorter than 16 bytes', () => {
    const stored = box.encrypt('keyring secret');
    const parts = stored.split('.');
    for (const n of [4, 8, 12, 15]) {
      const p = [...parts];
      p[2] = Buffer.from(p[2]!, 'base64').subarray(0, n).toString('base64');
      expect(() => box.decrypt(p.join('.')), `${n}-byte tag`).toThrow(/integrity check/);
    }
    const long = [...parts];
    long[2] = Buffer.concat([Buffer.from(long[2]!, 'base64'), Buffer.from([0])]).toString('base64');
    expect(() => box.decrypt(long.join('.'))).toThrow(/integrity check/);
  });

  it('refuses a value encrypted with another key', () => {
    const other = new SecretBox(crypto.randomBytes(32));
    expect(() => other.decrypt(box.encrypt('x'))).toThrow(/integrity check/);
  });

  it('creates a 0600 key file once and reuses it; TANDEM_SECRET_KEY overrides', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-key-'));
    const one = SecretBox.fromEnvOrFile(dir, '');
    const file = path.join(dir, 'secret.key');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const two = SecretBox.fromEnvOrFile(dir, '');
    expect(two.decrypt(one.encrypt('same key'))).toBe('same key');
    const env = SecretBox.fromEnvOrFile(dir, 'a passphrase from the environment');
    expect(() => env.decrypt(one.encrypt('x'))).toThrow();
    const hex = SecretBox.fromEnvOrFile(dir, 'ab'.repeat(32));
    expect(SecretBox.fromEnvOrFile(dir, 'ab'.repeat(32)).decrypt(hex.encrypt('hex'))).toBe('hex');
  });
});
