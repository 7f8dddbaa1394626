import fs from 'node:fs';
import path from 'node:path';
import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { FILE_MODE, syncDir, writePrivateFileAtomic } from '../db/data-dir';
import { alertChannels, replicas, secrets, settings, sites } from '../db/schema';
import { channelSecretAad, SMTP_PASSWORD_AAD, SMTP_SETTING } from './alerts/sealed';
import { AppError, errorMessage } from '../core/errors';
import { getSetting } from './settings';
import { VM_DEFINITION_AAD } from './replicas/vm-definition';
import {
  deriveKey,
  keyIdOf,
  legacyPassphraseKey,
  newKdfParams,
  parseKeySetting,
  SecretBox,
  siteSecretAad,
  storedFormat,
  type KdfParams,
} from './secrets';

/**
 * The secret key of an installation: where it comes from, the migration of secrets stored by the
 * first release, and rotation.
 *
 * - `file`: `secret.key` in the data directory (32 random bytes in base64, mode 0600), made on
 *   the first start.
 * - `env`: TANDEM_SECRET_KEY holds the key (64 hex characters or 32 bytes in base64).
 * - `env-passphrase`: TANDEM_SECRET_KEY holds a passphrase; the key is scrypt(passphrase, salt)
 *   with a random salt of the installation, stored in the database (`secrets.kdf` setting).
 */
export type KeySource = 'file' | 'env' | 'env-passphrase';

export const KEY_FILE = 'secret.key';
const KDF_SETTING = 'secrets.kdf';

type Log = (line: string) => void;

/**
 * The current key, used by everything that stores or reads a secret. With the key file, a
 * rotation run by `npm run rotate-key` next to the running console is followed: before each
 * encryption, and when a value names a key this process does not know, the file is looked at
 * again (a stat; read only when it changed). Keys known before stay usable for reading.
 */
export class SecretKeys {
  #box: SecretBox;
  #source: KeySource;
  readonly #known = new Map<string, SecretBox>();
  #stamp = '';

  constructor(
    box: SecretBox,
    source: KeySource,
    /** The key file (source `file`). */
    readonly file: string | null,
  ) {
    this.#box = box;
    this.#source = source;
    this.#known.set(box.keyId, box);
    if (source === 'file' && file) this.#stamp = stampOf(file);
  }

  get keyId(): string {
    return this.#box.keyId;
  }

  get box(): SecretBox {
    return this.#box;
  }

  get source(): KeySource {
    return this.#source;
  }

  /** Where the key comes from, for messages. */
  describe(): string {
    if (this.#source === 'file') return `the key file ${this.file}`;
    return this.#source === 'env' ? 'TANDEM_SECRET_KEY' : 'the passphrase in TANDEM_SECRET_KEY';
  }

  encrypt(plain: string, aad: string): string {
    this.#refresh();
    return this.#box.encrypt(plain, aad);
  }

  decrypt(stored: string, aad: string): string {
    const format = storedFormat(stored);
    if (format?.version !== 'v2') return this.#box.decrypt(stored, aad);
    if (!this.#known.has(format.keyId)) this.#refresh();
    return (this.#known.get(format.keyId) ?? this.#box).decrypt(stored, aad);
  }

  /** Uses another key from now on (after a rotation). */
  adopt(box: SecretBox, source: KeySource = this.#source): void {
    this.#box = box;
    this.#source = source;
    this.#known.set(box.keyId, box);
    if (source === 'file' && this.file) this.#stamp = stampOf(this.file);
  }

  /** The key file changed under this process (a rotation): use the key it holds now. */
  #refresh(): void {
    if (this.#source !== 'file' || !this.file) return;
    const stamp = stampOf(this.file);
    if (stamp === this.#stamp) return;
    this.#stamp = stamp;
    try {
      const box = new SecretBox(readKeyFile(this.file));
      this.#box = box;
      this.#known.set(box.keyId, box);
    } catch {
      // missing or half-written: keep the key this process has
    }
  }
}

function stampOf(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return '';
  }
}

export function readKeyFile(file: string): Buffer {
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`${file} does not hold a 32-byte key in base64`);
  return key;
}

export interface OpenKeysOptions {
  /** The value of TANDEM_SECRET_KEY (read from the environment when not given; '' for none). */
  env?: string;
  log?: Log;
}

/**
 * The key of the installation in `dir`, with the migration a start does: secrets of the old
 * format are re-encrypted with associated data (and, for a passphrase, under the key of the
 * installation's own salt) in one transaction; secret rows no site refers to are deleted.
 * Secrets that cannot be decrypted are left as they are and named in the log: the sites say so.
 */
export function openSecretKeys(db: Db, dir: string, opts: OpenKeysOptions = {}): SecretKeys {
  const log = opts.log ?? console.warn;
  const env = opts.env ?? process.env.TANDEM_SECRET_KEY ?? '';
  let keys: SecretKeys;
  const legacy: SecretBox[] = [];
  let pendingKdf: KdfParams | null = null;
  if (env) {
    const setting = parseKeySetting(env);
    if (setting.kind === 'raw') keys = new SecretKeys(new SecretBox(setting.key), 'env', null);
    else {
      let kdf = getSetting<KdfParams>(db, KDF_SETTING);
      if (!kdf) kdf = pendingKdf = newKdfParams();
      keys = new SecretKeys(new SecretBox(deriveKey(setting.passphrase, kdf)), 'env-passphrase', null);
      legacy.push(new SecretBox(legacyPassphraseKey(setting.passphrase)));
    }
  } else keys = openKeyFile(db, dir, log);
  migrate(db, keys, legacy, pendingKdf, log);
  return keys;
}

function openKeyFile(db: Db, dir: string, log: Log): SecretKeys {
  const file = path.join(dir, KEY_FILE);
  settleKeyFiles(db, file, log);
  if (fs.existsSync(file)) {
    if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, FILE_MODE);
    return new SecretKeys(new SecretBox(readKeyFile(file)), 'file', file);
  }
  const stored = db.select({ id: secrets.id }).from(secrets).all().length;
  if (stored > 0) {
    log(
      `[tandem] no ${KEY_FILE} in ${dir}, but ${stored} stored secret(s): they cannot be decrypted with the new key made now. ` +
        `Put the old ${KEY_FILE} back (or restore a backup) and start again, or re-enter the secrets on the Sites page`,
    );
  }
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const box = SecretBox.random();
  try {
    fs.writeFileSync(file, box.exportKey().toString('base64') + '\n', { mode: FILE_MODE, flag: 'wx' });
    syncDir(dir);
  } catch (e) {
    // Another process (a script next to the server) made it first: use that one.
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return new SecretKeys(new SecretBox(readKeyFile(file)), 'file', file);
  }
  return new SecretKeys(box, 'file', file);
}

/**
 * A rotation writes the new key to `secret.key.new`, and inside its transaction keeps the old one
 * as `secret.key.old` and renames the new one over `secret.key`; after the commit it deletes the
 * old one. Cut off anywhere, the stored secrets say which key they need: that one becomes
 * `secret.key`, the others are deleted.
 */
function settleKeyFiles(db: Db, file: string, log: Log): void {
  const staged = `${file}.new`;
  const previous = `${file}.old`;
  if (!fs.existsSync(staged) && !fs.existsSync(previous)) return;
  const idOf = (f: string): string | null => {
    try {
      return keyIdOf(readKeyFile(f));
    } catch {
      return null;
    }
  };
  const used = new Set<string>();
  for (const r of db.select({ c: secrets.ciphertext }).from(secrets).all()) {
    const f = storedFormat(r.c);
    if (f?.version === 'v2') used.add(f.keyId);
  }
  const candidates = [file, staged, previous].filter((f) => idOf(f) !== null);
  const chosen = candidates.find((f) => used.has(idOf(f)!)) ?? candidates[0];
  const hadStaged = candidates.includes(staged);
  if (chosen && chosen !== file) fs.renameSync(chosen, file);
  for (const f of [staged, previous]) fs.rmSync(f, { force: true });
  syncDir(path.dirname(file));
  if (chosen === staged || (chosen === file && !hadStaged)) {
    log(
      `[tandem] finished an interrupted key rotation: ${KEY_FILE} is the new key the secrets were re-encrypted with`,
    );
  } else if (chosen === previous) {
    log(
      `[tandem] rolled back an interrupted key rotation: the secrets are still under the previous key, back in ${KEY_FILE}`,
    );
  } else {
    log(
      `[tandem] discarded an unfinished key rotation (no secret was re-encrypted): ${KEY_FILE} is unchanged`,
    );
  }
}

interface Owner {
  id: number;
  name: string;
}

function owners(db: Pick<Db, 'select'>): Map<number, Owner> {
  const rows = db.select({ id: sites.id, name: sites.name, secretId: sites.secretId }).from(sites).all();
  return new Map(
    rows.filter((r) => r.secretId !== null).map((r) => [r.secretId!, { id: r.id, name: r.name }]),
  );
}

function migrate(
  db: Db,
  keys: SecretKeys,
  legacy: SecretBox[],
  pendingKdf: KdfParams | null,
  log: Log,
): void {
  let migrated = 0;
  let orphans = 0;
  const unreadable: string[] = [];
  db.transaction(
    (tx) => {
      const rows = tx.select().from(secrets).all();
      const owner = owners(tx);
      if (pendingKdf)
        tx.insert(settings)
          .values({ key: KDF_SETTING, value: pendingKdf })
          .onConflictDoUpdate({ target: settings.key, set: { value: pendingKdf } })
          .run();
      for (const r of rows) {
        const site = owner.get(r.id);
        if (!site) {
          tx.delete(secrets).where(eq(secrets.id, r.id)).run();
          orphans++;
          continue;
        }
        const format = storedFormat(r.ciphertext);
        if (format?.version === 'v2') {
          try {
            keys.decrypt(r.ciphertext, siteSecretAad(site.id));
          } catch {
            unreadable.push(site.name);
          }
          continue;
        }
        const plain = format?.version === 'v1' ? openLegacy([keys.box, ...legacy], r.ciphertext) : null;
        if (plain === null) {
          unreadable.push(site.name);
          continue;
        }
        tx.update(secrets)
          .set({ ciphertext: keys.encrypt(plain, siteSecretAad(site.id)) })
          .where(eq(secrets.id, r.id))
          .run();
        migrated++;
      }
    },
    { behavior: 'immediate' },
  );
  if (migrated)
    log(
      `[tandem] re-encrypted ${migrated} stored secret(s) of the old format, each now bound to its site (AES-256-GCM with associated data)`,
    );
  if (orphans) log(`[tandem] removed ${orphans} stored secret(s) no site refers to`);
  if (unreadable.length) {
    log(
      `[tandem] the secret of ${unreadable.length} site(s) (${unreadable.sort().join(', ')}) cannot be decrypted with the current key (${keys.describe()}): ` +
        're-enter it on the Sites page, or start Tandem with the key it was stored with',
    );
  }
}

function openLegacy(boxes: SecretBox[], stored: string): string | null {
  for (const box of boxes) {
    try {
      return box.decryptLegacy(stored);
    } catch {
      // next candidate
    }
  }
  return null;
}

export interface SecretCheck {
  siteId: number;
  siteName: string;
  ok: boolean;
  error?: string;
}

/** Decrypts every stored secret with `keys`: one line per site that has a secret. */
export function checkSecrets(db: Db, keys: { decrypt(stored: string, aad: string): string }): SecretCheck[] {
  const owner = owners(db);
  return db
    .select()
    .from(secrets)
    .all()
    .flatMap((r): SecretCheck[] => {
      const site = owner.get(r.id);
      if (!site) return [];
      try {
        keys.decrypt(r.ciphertext, siteSecretAad(site.id));
        return [{ siteId: site.id, siteName: site.name, ok: true }];
      } catch (e) {
        return [{ siteId: site.id, siteName: site.name, ok: false, error: errorMessage(e) }];
      }
    });
}

export interface Rotation {
  /** How many secrets were re-encrypted. */
  count: number;
  oldKeyId: string;
  newKeyId: string;
  source: KeySource;
}

/**
 * Re-encrypts every stored secret under a new key in one transaction. From the key file: a new
 * random key, written to `secret.key.new` first and renamed over `secret.key` after the commit.
 * From TANDEM_SECRET_KEY: the new key or passphrase must be given (`newValue`); the admin sets
 * TANDEM_SECRET_KEY to it before the next start. Refused while any secret cannot be decrypted
 * (rotating would lose it).
 */
export function rotateSecretKey(db: Db, keys: SecretKeys, opts: { newValue?: string } = {}): Rotation {
  const bad = checkSecrets(db, keys).filter((c) => !c.ok);
  if (bad.length) {
    throw new AppError(
      'PRECONDITION_FAILED',
      `the secret of ${bad.map((b) => b.siteName).join(', ')} cannot be decrypted with the current key (${keys.describe()}): ` +
        're-enter it on the Sites page (or remove the site) before rotating, or it would be lost',
    );
  }
  const oldKeyId = keys.keyId;
  /** Re-encrypts every row under `next` in one IMMEDIATE transaction (no other process writes meanwhile); `inside` runs before the commit. */
  const reencrypt = (next: SecretBox, kdf: KdfParams | null, inside: () => void = () => {}): number =>
    db.transaction(
      (tx) => {
        const owner = owners(tx);
        let n = 0;
        if (kdf)
          tx.insert(settings)
            .values({ key: KDF_SETTING, value: kdf })
            .onConflictDoUpdate({ target: settings.key, set: { value: kdf } })
            .run();
        for (const r of tx.select().from(secrets).all()) {
          const site = owner.get(r.id);
          if (!site) {
            tx.delete(secrets).where(eq(secrets.id, r.id)).run();
            continue;
          }
          const aad = siteSecretAad(site.id);
          tx.update(secrets)
            .set({ ciphertext: next.encrypt(keys.decrypt(r.ciphertext, aad), aad) })
            .where(eq(secrets.id, r.id))
            .run();
          n++;
        }
        // The VM definitions replicas keep sealed (console passwords): a failover must still open them.
        for (const r of tx.select({ id: replicas.id, def: replicas.vmDefinition }).from(replicas).all()) {
          if (!r.def?.sealed) continue;
          let sealed: string;
          try {
            sealed = next.encrypt(keys.decrypt(r.def.sealed, VM_DEFINITION_AAD), VM_DEFINITION_AAD);
          } catch {
            continue; // unreadable already: the replica's next sync stores it again
          }
          tx.update(replicas)
            .set({ vmDefinition: { ...r.def, sealed } })
            .where(eq(replicas.id, r.id))
            .run();
          n++;
        }
        // Alert delivery: the webhooks' signing secrets and the SMTP password.
        for (const c of tx
          .select({ id: alertChannels.id, sealed: alertChannels.sealedSecret })
          .from(alertChannels)
          .all()) {
          if (!c.sealed) continue;
          let sealed: string;
          try {
            sealed = next.encrypt(keys.decrypt(c.sealed, channelSecretAad(c.id)), channelSecretAad(c.id));
          } catch {
            continue; // unreadable already: the channel says so, and a new secret is made for it
          }
          tx.update(alertChannels).set({ sealedSecret: sealed }).where(eq(alertChannels.id, c.id)).run();
          n++;
        }
        const smtp = tx.select().from(settings).where(eq(settings.key, SMTP_SETTING)).get()?.value as
          { sealedPassword?: string | null } | undefined;
        if (smtp?.sealedPassword) {
          try {
            const value = {
              ...smtp,
              sealedPassword: next.encrypt(
                keys.decrypt(smtp.sealedPassword, SMTP_PASSWORD_AAD),
                SMTP_PASSWORD_AAD,
              ),
            };
            tx.update(settings).set({ value }).where(eq(settings.key, SMTP_SETTING)).run();
            n++;
          } catch {
            // unreadable already: sending says so, and the admin enters the password again
          }
        }
        inside();
        return n;
      },
      { behavior: 'immediate' },
    );

  if (keys.source === 'file') {
    if (opts.newValue) {
      throw new AppError(
        'INVALID_INPUT',
        `the key is in ${keys.file}: the rotation makes the new key itself (TANDEM_NEW_SECRET_KEY is only for installations that set TANDEM_SECRET_KEY)`,
      );
    }
    const file = keys.file!;
    const staged = `${file}.new`;
    const previous = `${file}.old`;
    const next = SecretBox.random();
    writePrivateFileAtomic(staged, next.exportKey().toString('base64') + '\n');
    let swapped = false;
    let count: number;
    try {
      // The file is swapped before the commit, while this transaction holds the write lock: a
      // console that stores a secret waits for the lock, then sees the new file.
      count = reencrypt(next, null, () => {
        writePrivateFileAtomic(previous, fs.readFileSync(file));
        fs.renameSync(staged, file);
        syncDir(path.dirname(file));
        swapped = true;
      });
    } catch (e) {
      if (swapped) fs.renameSync(previous, file);
      fs.rmSync(staged, { force: true });
      fs.rmSync(previous, { force: true });
      syncDir(path.dirname(file));
      throw e;
    }
    fs.rmSync(previous, { force: true });
    syncDir(path.dirname(file));
    keys.adopt(next);
    return { count, oldKeyId, newKeyId: next.keyId, source: 'file' };
  }

  if (!opts.newValue) {
    throw new AppError(
      'INVALID_INPUT',
      'TANDEM_SECRET_KEY is set: give the new key or passphrase in TANDEM_NEW_SECRET_KEY (then set TANDEM_SECRET_KEY to it before Tandem starts again)',
    );
  }
  const setting = parseKeySetting(opts.newValue);
  const kdf = setting.kind === 'passphrase' ? newKdfParams() : null;
  const next = new SecretBox(setting.kind === 'raw' ? setting.key : deriveKey(setting.passphrase, kdf!));
  if (next.keyId === oldKeyId) throw new AppError('INVALID_INPUT', 'the new key is the current key');
  const count = reencrypt(next, kdf);
  const source: KeySource = setting.kind === 'raw' ? 'env' : 'env-passphrase';
  keys.adopt(next, source);
  return { count, oldKeyId, newKeyId: next.keyId, source };
}
