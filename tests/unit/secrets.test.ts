import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openDb } from '@/server/db/client';
import { settings } from '@/server/db/schema';
import { openSecretKeys } from '@/server/domain/keys';
import { SecretBox, siteSecretAad } from '@/server/domain/secrets';

const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
const quiet = () => {};

describe('secret box (AES-256-GCM)', () => {
  const box = new SecretBox(crypto.randomBytes(32));
  const aad = siteSecretAad(7);

  it('round-trips and uses a fresh IV each time', () => {
    const key = '-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n';
    const a = box.encrypt(key, aad);
    const b = box.encrypt(key, aad);
    expect(a).not.toBe(b);
    expect(a).not.toContain('OPENSSH');
    expect(a.startsWith(`v2.${box.keyId}.`)).toBe(true);
    expect(box.decrypt(a, aad)).toBe(key);
    expect(box.decrypt(b, aad)).toBe(key);
  });

  it('detects tampering with ciphertext, tag or IV', () => {
    const stored = box.encrypt('keyring secret', aad);
    const parts = stored.split('.');
    for (const i of [2, 3, 4]) {
      const p = [...parts];
      const raw = Buffer.from(p[i]!, 'base64');
      raw[0] = raw[0]! ^ 0x01;
      p[i] = raw.toString('base64');
      expect(() => box.decrypt(p.join('.'), aad)).toThrow(/integrity check/);
    }
    expect(() => box.decrypt('v3.x.y.z', aad)).toThrow(/unknown format/);
  });

  it('binds each value to its row: a secret moved to another site or purpose does not decrypt', () => {
    const stored = box.encrypt('the key of site 7', siteSecretAad(7));
    expect(siteSecretAad(7)).toBe('site:7:credentials');
    expect(() => box.decrypt(stored, siteSecretAad(8))).toThrow(/integrity check/);
    expect(() => box.decrypt(stored, 'site:7:other')).toThrow(/integrity check/);
    expect(box.decrypt(stored, siteSecretAad(7))).toBe('the key of site 7');
  });

  it('refuses an authentication tag shorter (or longer) than 16 bytes', () => {
    const stored = box.encrypt('keyring secret', aad);
    const parts = stored.split('.');
    for (const n of [4, 8, 12, 15]) {
      const p = [...parts];
      p[3] = Buffer.from(p[3]!, 'base64').subarray(0, n).toString('base64');
      expect(() => box.decrypt(p.join('.'), aad), `${n}-byte tag`).toThrow(/integrity check/);
    }
    const long = [...parts];
    long[3] = Buffer.concat([Buffer.from(long[3]!, 'base64'), Buffer.from([0])]).toString('base64');
    expect(() => box.decrypt(long.join('.'), aad)).toThrow(/integrity check/);
  });

  it('refuses a value encrypted with another key, saying so', () => {
    const other = new SecretBox(crypto.randomBytes(32));
    expect(() => other.decrypt(box.encrypt('x', aad), aad)).toThrow(/another secret key/);
  });
});

describe('secret key of an installation', () => {
  it('creates a 0600 key file once and reuses it; TANDEM_SECRET_KEY overrides', () => {
    const dir = tmp('tandem-key-');
    const db = openDb(':memory:');
    const one = openSecretKeys(db, dir, { env: '', log: quiet });
    const file = path.join(dir, 'secret.key');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(one.source).toBe('file');
    const two = openSecretKeys(db, dir, { env: '', log: quiet });
    expect(two.decrypt(one.encrypt('same key', 'a'), 'a')).toBe('same key');
    const hex = openSecretKeys(db, dir, { env: 'ab'.repeat(32), log: quiet });
    expect(hex.source).toBe('env');
    expect(() => hex.decrypt(one.encrypt('x', 'a'), 'a')).toThrow();
    expect(
      openSecretKeys(db, dir, { env: 'ab'.repeat(32), log: quiet }).decrypt(hex.encrypt('hex', 'a'), 'a'),
    ).toBe('hex');
  });

  it('derives the key of a passphrase with scrypt and a random salt of the installation', () => {
    const pass = 'correct horse battery staple';
    const dbA = openDb(':memory:');
    const dbB = openDb(':memory:');
    const a = openSecretKeys(dbA, tmp('tandem-key-'), { env: pass, log: quiet });
    const b = openSecretKeys(dbB, tmp('tandem-key-'), { env: pass, log: quiet });
    expect(a.source).toBe('env-passphrase');
    // Same passphrase, two installations: two keys.
    expect(a.keyId).not.toBe(b.keyId);
    const kdf = dbA
      .select()
      .from(settings)
      .all()
      .find((s) => s.key === 'secrets.kdf')?.value as { name: string; salt: string; N: number };
    expect(kdf.name).toBe('scrypt');
    expect(Buffer.from(kdf.salt, 'base64')).toHaveLength(16);
    expect(kdf.N).toBeGreaterThanOrEqual(2 ** 15);
    // The same installation derives the same key again.
    const again = openSecretKeys(dbA, tmp('tandem-key-'), { env: pass, log: quiet });
    expect(again.keyId).toBe(a.keyId);
    expect(again.decrypt(a.encrypt('kept', 'p'), 'p')).toBe('kept');
    // Not the old fixed-salt derivation.
    expect(a.keyId).not.toBe(new SecretBox(crypto.scryptSync(pass, 'tandem-secret-key-v1', 32)).keyId);
  });
});
