import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createApp, type App } from '@/server/app';
import { openDb } from '@/server/db/client';
import { secrets, settings, sites } from '@/server/db/schema';
import { SecretBox, siteSecretAad } from '@/server/domain/secrets';

/** The stored form of the first release: `v1.<iv>.<tag>.<ciphertext>`, AES-256-GCM without associated data. */
function legacyEncrypt(key: Buffer, plain: string): string {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv);
  const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
  return ['v1', iv.toString('base64'), c.getAuthTag().toString('base64'), data.toString('base64')].join('.');
}

const KEY_A = '-----BEGIN OPENSSH PRIVATE KEY-----\nkey-of-node-a\n-----END OPENSSH PRIVATE KEY-----\n';
const KEYRING_B = '[client.admin]\n\tkey = AQBkZXZlbG9wZXItb25seS1rZXlyaW5nLWI=\n';

/**
 * A data directory as the first release left it: two sites whose secrets are stored in the old
 * format (and one orphaned secret row), encrypted with `key`.
 */
function oldInstallation(
  key: Buffer | ((dir: string) => Buffer),
  opts: { secretKey?: string } = {},
): { dir: string; ids: { a: number; b: number } } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-migrate-'));
  const app = createApp({ dataDir: dir, demoLatencyMs: 0, log: () => {}, secretKey: opts.secretKey ?? '' });
  const k = typeof key === 'function' ? key(dir) : key;
  const insert = (
    name: string,
    kind: 'node' | 'ceph',
    config: Record<string, unknown>,
    secret: Record<string, string>,
  ) => {
    const secretId = app.db
      .insert(secrets)
      .values({ ciphertext: legacyEncrypt(k, JSON.stringify(secret)) })
      .returning({ id: secrets.id })
      .get().id;
    return app.db.insert(sites).values({ name, kind, config, secretId }).returning({ id: sites.id }).get().id;
  };
  const a = insert(
    'node-a',
    'node',
    {
      host: 'node-a.example',
      port: 22,
      user: 'root',
      hypervisor: 'libvirt',
      zpools: ['zones'],
      hostKeySha256: null,
    },
    { privateKey: KEY_A },
  );
  const b = insert(
    'ceph-b',
    'ceph',
    {
      access: 'local',
      siteName: 'b',
      cluster: 'ceph',
      confPath: '/etc/ceph/ceph.conf',
      clientId: 'admin',
      keyringPath: null,
    },
    { keyring: KEYRING_B },
  );
  app.db
    .insert(secrets)
    .values({ ciphertext: legacyEncrypt(k, JSON.stringify({ privateKey: 'orphan' })) })
    .run();
  // The first release kept no salt of its own.
  app.db.delete(settings).where(eq(settings.key, 'secrets.kdf')).run();
  app.db.$client.close();
  return { dir, ids: { a, b } };
}

const fileKey = (dir: string) =>
  Buffer.from(fs.readFileSync(path.join(dir, 'secret.key'), 'utf8').trim(), 'base64');

function reopen(dir: string, secretKey = ''): { app: App; lines: string[] } {
  const lines: string[] = [];
  const app = createApp({ dataDir: dir, demoLatencyMs: 0, log: (l) => lines.push(l), secretKey });
  return { app, lines };
}

describe('migration of secrets stored in the old format', () => {
  it('re-encrypts them at start, bound to their site, and they keep working', () => {
    const { dir, ids } = oldInstallation(fileKey);
    const { app, lines } = reopen(dir);
    const rows = app.db.select().from(secrets).all();
    // The orphan (no site refers to it) is deleted, the others are in the new format.
    expect(rows).toHaveLength(2);
    for (const r of rows) expect(r.ciphertext.startsWith('v2.')).toBe(true);
    expect(app.sites.spec(ids.a).secret.privateKey).toBe(KEY_A);
    expect(app.sites.spec(ids.b).secret.keyring).toBe(KEYRING_B);
    expect(app.sites.get(ids.a).secretError).toBeNull();
    expect(lines.join('\n')).toMatch(/re-encrypted 2 stored secret\(s\)/);
    expect(lines.join('\n')).toMatch(/removed 1 stored secret\(s\) no site refers to/);
    // Bound to the site: swapping the two rows' secret ids makes both unreadable.
    const box = new SecretBox(fileKey(dir));
    const secretOf = (siteId: number) =>
      app.db
        .select()
        .from(secrets)
        .where(eq(secrets.id, app.db.select().from(sites).where(eq(sites.id, siteId)).get()!.secretId!))
        .get()!.ciphertext;
    expect(() => box.decrypt(secretOf(ids.a), siteSecretAad(ids.b))).toThrow(/integrity check/);
    expect(JSON.parse(box.decrypt(secretOf(ids.a), siteSecretAad(ids.a))).privateKey).toBe(KEY_A);
    app.db.$client.close();
    // A second start has nothing left to migrate.
    const again = reopen(dir);
    expect(again.lines.join('\n')).not.toMatch(/re-encrypted/);
    expect(again.app.sites.spec(ids.a).secret.privateKey).toBe(KEY_A);
    again.app.db.$client.close();
  });

  it('moves a passphrase installation from the fixed salt to a random salt of its own', () => {
    const pass = 'an old passphrase of the admin';
    const { dir, ids } = oldInstallation(crypto.scryptSync(pass, 'tandem-secret-key-v1', 32), {
      secretKey: pass,
    });
    const { app, lines } = reopen(dir, pass);
    expect(lines.join('\n')).toMatch(/re-encrypted 2 stored secret\(s\)/);
    expect(app.sites.spec(ids.a).secret.privateKey).toBe(KEY_A);
    const old = new SecretBox(crypto.scryptSync(pass, 'tandem-secret-key-v1', 32));
    for (const r of app.db.select().from(secrets).all()) {
      expect(r.ciphertext.startsWith('v2.')).toBe(true);
      expect(r.ciphertext.split('.')[1]).not.toBe(old.keyId);
    }
    app.db.$client.close();
    expect(reopen(dir, pass).app.sites.spec(ids.b).secret.keyring).toBe(KEYRING_B);
  });

  it('does it in one transaction: a failure half-way leaves every row as it was', () => {
    const { dir, ids } = oldInstallation(fileKey);
    const file = path.join(dir, 'tandem.db');
    const db = openDb(file);
    const rowsBefore = db.select().from(secrets).all();
    const secondId = db.select().from(sites).where(eq(sites.id, ids.b)).get()!.secretId!;
    db.$client.exec(
      `CREATE TRIGGER fail_second BEFORE UPDATE ON secrets WHEN NEW.id = ${secondId} BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
    );
    db.$client.close();
    expect(() => reopen(dir)).toThrow(/disk full/);
    const check = openDb(file);
    expect(check.select().from(secrets).all()).toEqual(rowsBefore);
    check.$client.exec('DROP TRIGGER fail_second');
    check.$client.close();
    const { app } = reopen(dir);
    expect(app.sites.spec(ids.a).secret.privateKey).toBe(KEY_A);
    expect(
      app.db
        .select()
        .from(secrets)
        .all()
        .every((r) => r.ciphertext.startsWith('v2.')),
    ).toBe(true);
    app.db.$client.close();
  });
});
