import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createApp } from '@/server/app';
import { openDb } from '@/server/db/client';
import { alertChannels, secrets, settings, sites } from '@/server/db/schema';
import { channelSecretAad, SMTP_PASSWORD_AAD, SMTP_SETTING } from '@/server/domain/alerts/sealed';
import { readKeyFile, rotateSecretKey } from '@/server/domain/keys';
import { SecretBox, siteSecretAad } from '@/server/domain/secrets';
import { installation, KEYRING, open, opened, PRIVATE_KEY, quiet } from './installation';

describe('key rotation', () => {
  it('re-encrypts every secret under a new key file: none can be read with the old key any more', async () => {
    const { dir, app } = await installation();
    const keyFile = path.join(dir, 'secret.key');
    const oldKey = readKeyFile(keyFile);
    // A second process on the same directory (the console, while the script rotates).
    const running = open(dir);
    const r = rotateSecretKey(app.db, app.keys);
    expect(r.count).toBe(2);
    expect(r.newKeyId).not.toBe(r.oldKeyId);
    expect(fs.existsSync(`${keyFile}.new`)).toBe(false);
    expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
    const newKey = readKeyFile(keyFile);
    expect(newKey.equals(oldKey)).toBe(false);
    const old = new SecretBox(oldKey);
    const fresh = new SecretBox(newKey);
    const owners = new Map(
      app.db
        .select()
        .from(sites)
        .all()
        .map((s) => [s.secretId, s.id]),
    );
    const rows = app.db.select().from(secrets).all();
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      const aad = siteSecretAad(owners.get(row.id)!);
      expect(() => old.decrypt(row.ciphertext, aad)).toThrow();
      expect(() =>
        old.decrypt(row.ciphertext.replace(`v2.${fresh.keyId}.`, `v2.${old.keyId}.`), aad),
      ).toThrow(/integrity check/);
      expect(fresh.decrypt(row.ciphertext, aad)).toMatch(/OPENSSH|client\.admin/);
    }
    // The running process follows the new key file; a new start uses it.
    expect(running.sites.list().every((s) => s.secretError === null)).toBe(true);
    expect(running.sites.spec(running.sites.byName('node-real')!.id).secret.privateKey).toBe(PRIVATE_KEY);
    app.db.$client.close();
    const next = open(dir);
    expect(next.sites.spec(next.sites.byName('ceph-real')!.id).secret.keyring).toBe(KEYRING);
  });

  it('rotates a TANDEM_SECRET_KEY installation to the new value given, which must then be set', async () => {
    const pass = 'the first console passphrase';
    const { dir, app } = await installation(pass);
    expect(() => rotateSecretKey(app.db, app.keys)).toThrow(/TANDEM_NEW_SECRET_KEY/);
    const r = rotateSecretKey(app.db, app.keys, { newValue: 'the second console passphrase' });
    expect(r).toMatchObject({ count: 2, source: 'env-passphrase' });
    app.db.$client.close();
    const withOld = open(dir, { secretKey: pass });
    expect(withOld.sites.list().filter((s) => s.secretError)).toHaveLength(2);
    withOld.db.$client.close();
    const withNew = open(dir, { secretKey: 'the second console passphrase' });
    expect(withNew.sites.list().every((s) => s.secretError === null)).toBe(true);
  });

  it('is refused while a secret cannot be decrypted, and a rotation cut off before its rename is finished at the next start', async () => {
    const { dir, app } = await installation();
    const keyFile = path.join(dir, 'secret.key');
    // Cut off after the commit, before the rename: secret.key.new holds the key the rows need.
    const next = SecretBox.random();
    const owners = new Map(
      app.db
        .select()
        .from(sites)
        .all()
        .map((s) => [s.secretId, s.id]),
    );
    for (const row of app.db.select().from(secrets).all()) {
      const aad = siteSecretAad(owners.get(row.id)!);
      app.db
        .update(secrets)
        .set({ ciphertext: next.encrypt(app.keys.decrypt(row.ciphertext, aad), aad) })
        .where(eq(secrets.id, row.id))
        .run();
    }
    fs.writeFileSync(`${keyFile}.new`, next.exportKey().toString('base64') + '\n', { mode: 0o600 });
    app.db.$client.close();
    const lines: string[] = [];
    const after = createApp({ ...quiet, dataDir: dir, log: (l) => lines.push(l) });
    opened.push(after);
    expect(lines.join('\n')).toMatch(/finished an interrupted key rotation/);
    expect(readKeyFile(keyFile).equals(next.exportKey())).toBe(true);
    expect(after.sites.list().every((s) => s.secretError === null)).toBe(true);

    // Cut off before the commit: the staged key is discarded.
    fs.writeFileSync(`${keyFile}.new`, SecretBox.random().exportKey().toString('base64') + '\n', {
      mode: 0o600,
    });
    after.db.$client.close();
    const lines2: string[] = [];
    const again = createApp({ ...quiet, dataDir: dir, log: (l) => lines2.push(l) });
    opened.push(again);
    expect(lines2.join('\n')).toMatch(/discarded an unfinished key rotation/);
    expect(fs.existsSync(`${keyFile}.new`)).toBe(false);
    expect(again.sites.list().every((s) => s.secretError === null)).toBe(true);

    // A secret that cannot be decrypted: the rotation would lose it, so it is refused.
    const db = openDb(path.join(dir, 'tandem.db'));
    const victim = db.select().from(secrets).all()[0]!;
    db.update(secrets)
      .set({ ciphertext: SecretBox.random().encrypt('x', 'y') })
      .where(eq(secrets.id, victim.id))
      .run();
    db.$client.close();
    expect(() => rotateSecretKey(again.db, again.keys)).toThrow(
      /cannot be decrypted with the current key .* before rotating/,
    );
  });

  it("re-encrypts the webhooks' signing secrets and the SMTP password too, each still bound to its row, and a new start opens them", async () => {
    const { dir, app } = await installation();
    const { channel, secret } = app.alerts.delivery.createChannel({
      kind: 'webhook',
      name: 'ops',
      url: 'https://hooks.example.com/tandem',
    });
    app.alerts.delivery.createChannel({ kind: 'email', name: 'oncall', to: ['oncall@example.com'] });
    app.alerts.delivery.setSmtp({
      host: 'smtp.example.com',
      port: 587,
      security: 'starttls',
      user: 'tandem',
      from: 'tandem@example.com',
      password: 'smtp password',
    });
    const sealedOf = () =>
      app.db.select().from(alertChannels).where(eq(alertChannels.id, channel.id)).get()!.sealedSecret!;
    const smtpOf = () =>
      (
        app.db.select().from(settings).where(eq(settings.key, SMTP_SETTING)).get()!.value as {
          sealedPassword: string;
        }
      ).sealedPassword;
    const oldKey = new SecretBox(readKeyFile(path.join(dir, 'secret.key')));
    expect(oldKey.decrypt(sealedOf(), channelSecretAad(channel.id))).toBe(secret);
    // Bound to its row: the channel's secret does not open as another channel's.
    expect(() => oldKey.decrypt(sealedOf(), channelSecretAad(channel.id + 1))).toThrow();

    const r = rotateSecretKey(app.db, app.keys);
    expect(r.count).toBe(2 + 1 + 1); // two site secrets, one webhook secret, the SMTP password
    const fresh = new SecretBox(readKeyFile(path.join(dir, 'secret.key')));
    expect(() => oldKey.decrypt(sealedOf(), channelSecretAad(channel.id))).toThrow();
    expect(fresh.decrypt(sealedOf(), channelSecretAad(channel.id))).toBe(secret);
    expect(() => oldKey.decrypt(smtpOf(), SMTP_PASSWORD_AAD)).toThrow();
    expect(fresh.decrypt(smtpOf(), SMTP_PASSWORD_AAD)).toBe('smtp password');
    app.db.$client.close();
    // A new start (the key file only) opens them.
    const next = open(dir);
    const row = next.db.select().from(alertChannels).where(eq(alertChannels.id, channel.id)).get()!;
    expect(next.keys.decrypt(row.sealedSecret!, channelSecretAad(channel.id))).toBe(secret);
    expect(next.alerts.delivery.smtp()).toMatchObject({ host: 'smtp.example.com', hasPassword: true });
  });
});
