import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { z } from 'zod';
import { openDb, type Db } from '../db/client';
import { holderText, tryInstanceLock } from '../db/instance-lock';
import { secureDataDir, syncDir, writePrivateFileAtomic } from '../db/data-dir';
import { history, replicas, sessions, settings, sites, tasks } from '../db/schema';
import { AppError } from '../core/errors';
import { checkSecrets, KEY_FILE, SecretKeys } from './keys';
import { deriveKey, keyIdOf, newKdfParams, parseKeySetting, SecretBox, type KdfParams } from './secrets';

/**
 * Backup and restore of an installation: its database and its secret key in one file, readable
 * only with a passphrase the admin gives.
 *
 * The archive is one JSON document (mode 0600):
 *
 *     {
 *       "format": "tandem-backup", "version": 1, "createdAt": "<ISO time>",
 *       "kdf": { "name": "scrypt", "salt": "<b64>", "N": 32768, "r": 8, "p": 1 },
 *       "database": { "name": "tandem.db", "bytes": <size>, "sha256": "<hex of the SQLite file>",
 *                     "compression": "gzip", "cipher": "aes-256-gcm", "iv": "<b64>", "tag": "<b64>", "data": "<b64>" },
 *       "key": { "keyId": "<key id>", "cipher": "aes-256-gcm", "iv": "<b64>", "tag": "<b64>", "data": "<b64>" }
 *     }
 *
 * The key encrypting both parts is scrypt(passphrase, kdf.salt). The database part is the gzip
 * of a consistent SQLite copy (the online backup API); its associated data is
 * `tandem-backup:1:database:<createdAt>:<sha256>`. The key part is the 32-byte secret key
 * (the key file's, or the one TANDEM_SECRET_KEY gives); its associated data is
 * `tandem-backup:1:key:<createdAt>:<sha256>:<keyId>`. Changing any of these fields makes the
 * archive refuse to open.
 */

const FORMAT = 'tandem-backup';
const VERSION = 1;
export const MIN_PASSPHRASE = 12;

const b64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const sealed = z.object({ cipher: z.literal('aes-256-gcm'), iv: b64, tag: b64, data: b64 });
const archiveSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(VERSION),
  createdAt: z.string().min(1),
  kdf: z.object({
    name: z.literal('scrypt'),
    salt: b64,
    // Bounds, so that a crafted file cannot ask for gigabytes of memory.
    N: z
      .number()
      .int()
      .min(2 ** 14)
      .max(2 ** 20),
    r: z.number().int().min(1).max(32),
    p: z.number().int().min(1).max(16),
  }),
  database: sealed.extend({
    name: z.literal('tandem.db'),
    bytes: z.number().int().nonnegative(),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    compression: z.literal('gzip'),
  }),
  key: sealed.extend({ keyId: z.string().regex(/^[0-9a-f]{16}$/) }),
});
export type BackupArchive = z.infer<typeof archiveSchema>;

const dbAad = (a: { createdAt: string; sha256: string }) =>
  `tandem-backup:${VERSION}:database:${a.createdAt}:${a.sha256}`;
const keyAad = (a: { createdAt: string; sha256: string; keyId: string }) =>
  `tandem-backup:${VERSION}:key:${a.createdAt}:${a.sha256}:${a.keyId}`;

function seal(key: Buffer, plain: Buffer, aad: string) {
  const iv = crypto.randomBytes(12);
  const c = crypto.createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  c.setAAD(Buffer.from(aad, 'utf8'));
  const data = Buffer.concat([c.update(plain), c.final()]);
  return {
    cipher: 'aes-256-gcm' as const,
    iv: iv.toString('base64'),
    tag: c.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

function unseal(key: Buffer, s: z.infer<typeof sealed>, aad: string): Buffer {
  const iv = Buffer.from(s.iv, 'base64');
  const tag = Buffer.from(s.tag, 'base64');
  if (iv.length !== 12 || tag.length !== 16) throw new Error('bad IV or tag length');
  const d = crypto.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 });
  d.setAuthTag(tag);
  d.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()]);
}

export function assertBackupPassphrase(passphrase: string): void {
  if (passphrase.length < MIN_PASSPHRASE) {
    throw new AppError(
      'INVALID_INPUT',
      `the backup passphrase must have at least ${MIN_PASSPHRASE} characters`,
    );
  }
}

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

export interface BackupSummary {
  file: string;
  createdAt: string;
  /** Size of the archive and of the SQLite database in it. */
  bytes: number;
  databaseBytes: number;
  keyId: string;
  /** Steps of the online backup (the database is copied a few pages at a time while the console keeps writing). */
  steps: number;
  /** Sites whose secret the backed-up key cannot decrypt (they were unreadable before the backup too). */
  unreadable: string[];
}

/**
 * Writes a backup of the open database and the current key to `file` (atomically, mode 0600).
 * The copy is made with SQLite's online backup API, `pagesPerStep` pages at a time, while the
 * console keeps working: writes made through the same connection meanwhile are carried into the
 * copy, and a write by another process makes SQLite start the copy again, so the copy is always
 * one consistent state of the database.
 */
export async function writeBackup(opts: {
  db: Db;
  keys: SecretKeys;
  passphrase: string;
  file: string;
  pagesPerStep?: number;
  now?: Date;
}): Promise<BackupSummary> {
  assertBackupPassphrase(opts.passphrase);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-backup-'));
  try {
    const copy = path.join(work, 'tandem.db');
    let steps = 1;
    await opts.db.$client.backup(copy, {
      progress: () => {
        steps++;
        return opts.pagesPerStep ?? 256;
      },
    });
    const key = opts.keys.box;
    let unreadable: string[];
    const check = openDb(copy);
    try {
      const integrity = check.$client.pragma('integrity_check', { simple: true });
      if (integrity !== 'ok')
        throw new AppError(
          'INTERNAL',
          `the copy of the database failed its integrity check: ${String(integrity)}`,
        );
      unreadable = checkSecrets(check, opts.keys)
        .filter((c) => !c.ok)
        .map((c) => c.siteName);
    } finally {
      check.$client.close();
    }
    const raw = fs.readFileSync(copy);
    const createdAt = (opts.now ?? new Date()).toISOString();
    const digest = sha256(raw);
    const kdf = newKdfParams();
    const kek = deriveKey(opts.passphrase, kdf);
    const archive: BackupArchive = {
      format: FORMAT,
      version: VERSION,
      createdAt,
      kdf,
      database: {
        name: 'tandem.db',
        bytes: raw.length,
        sha256: digest,
        compression: 'gzip',
        ...seal(kek, zlib.gzipSync(raw), dbAad({ createdAt, sha256: digest })),
      },
      key: {
        keyId: key.keyId,
        ...seal(kek, key.exportKey(), keyAad({ createdAt, sha256: digest, keyId: key.keyId })),
      },
    };
    const text = JSON.stringify(archive, null, 1) + '\n';
    writePrivateFileAtomic(opts.file, text);
    return {
      file: opts.file,
      createdAt,
      bytes: Buffer.byteLength(text),
      databaseBytes: raw.length,
      keyId: key.keyId,
      steps,
      unreadable,
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** Reads and checks the envelope of a backup (not its content, which needs the passphrase). */
export function readBackup(file: string): BackupArchive & { keyId: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'not JSON';
    throw new AppError('INVALID_INPUT', `${file} is not a Tandem backup (${why})`);
  }
  const parsed = archiveSchema.safeParse(doc);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new AppError(
      'INVALID_INPUT',
      `${file} is not a Tandem backup (${first ? `${first.path.join('.') || 'document'}: ${first.message}` : 'unexpected content'})`,
    );
  }
  return { ...parsed.data, keyId: parsed.data.key.keyId };
}

export interface RestoreSummary {
  dataDir: string;
  createdAt: string;
  keyId: string;
  sites: number;
  /** Stored secrets, every one checked to decrypt with the restored key. */
  secrets: number;
  replicas: number;
  tasks: number;
  history: number;
  /** Things the admin should know (TANDEM_SECRET_KEY set to another key, files replaced). */
  warnings: string[];
}

/** Tandem's own files in a data directory, replaced by a restore. */
const OWN_FILES = [
  'tandem.db',
  'tandem.db-wal',
  'tandem.db-shm',
  'tandem.db-journal',
  KEY_FILE,
  `${KEY_FILE}.new`,
  `${KEY_FILE}.old`,
];

/**
 * Restores a backup into `dataDir`. Refuses a non-empty directory unless `force` (then Tandem's
 * own files there are replaced: database, key, `run/`). Nothing is written before the passphrase
 * has opened the archive, the database has passed its integrity check and every stored secret
 * has decrypted with the restored key. Sessions are not restored: everyone signs in again.
 */
export async function restoreBackup(opts: {
  file: string;
  dataDir: string;
  passphrase: string;
  force?: boolean;
  env?: string;
  log?: (line: string) => void;
}): Promise<RestoreSummary> {
  const archive = readBackup(opts.file);
  let key: Buffer;
  let raw: Buffer;
  try {
    const kek = deriveKey(opts.passphrase, archive.kdf as KdfParams);
    const ids = { createdAt: archive.createdAt, sha256: archive.database.sha256 };
    key = unseal(kek, archive.key, keyAad({ ...ids, keyId: archive.key.keyId }));
    raw = zlib.gunzipSync(unseal(kek, archive.database, dbAad(ids)));
  } catch (cause) {
    throw new AppError(
      'WRONG_CREDENTIALS',
      'the passphrase does not open this backup (wrong passphrase, or the file was changed)',
      { cause },
    );
  }
  if (
    sha256(raw) !== archive.database.sha256 ||
    raw.length !== archive.database.bytes ||
    key.length !== 32 ||
    keyIdOf(key) !== archive.key.keyId
  ) {
    throw new AppError(
      'INVALID_INPUT',
      'the backup is damaged: its database or key does not match its checksum',
    );
  }
  const box = new SecretBox(key);

  const dir = path.resolve(opts.dataDir);
  const present = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  if (present.length && !opts.force) {
    const shown =
      present.slice(0, 5).join(', ') + (present.length > 5 ? `, … (${present.length} entries)` : '');
    throw new AppError(
      'PRECONDITION_FAILED',
      `the data directory ${dir} is not empty (${shown}): stop Tandem, then restore with --force to replace its database, key and runtime files`,
    );
  }
  // A running Tandem would go on with the database it has open, and overwrite the restored one.
  const lock = tryInstanceLock(dir);
  if (!lock) throw new AppError('PRECONDITION_FAILED', `${holderText(dir)}: stop it, then restore`);
  try {
    secureDataDir(dir, opts.log);
    const staged = path.join(dir, `tandem.db.restore-${process.pid}`);
    const stagedFiles = [staged, `${staged}-wal`, `${staged}-shm`, `${staged}-journal`];
    const warnings: string[] = [];
    let counts!: Pick<RestoreSummary, 'sites' | 'secrets' | 'replicas' | 'tasks' | 'history'>;
    try {
      for (const f of stagedFiles) fs.rmSync(f, { force: true });
      fs.writeFileSync(staged, raw, { mode: 0o600, flag: 'wx' });
      const db = openDb(staged);
      try {
        const integrity = db.$client.pragma('integrity_check', { simple: true });
        if (integrity !== 'ok')
          throw new AppError(
            'INVALID_INPUT',
            `the database in the backup failed its integrity check: ${String(integrity)}`,
          );
        const checks = checkSecrets(db, new SecretKeys(box, 'file', null));
        const bad = checks.filter((c) => !c.ok);
        if (bad.length) {
          throw new AppError(
            'INVALID_INPUT',
            `${bad.length} stored secret(s) of the backup do not decrypt with its key (${bad.map((b) => b.siteName).join(', ')}): nothing was restored`,
          );
        }
        db.delete(sessions).run();
        counts = {
          sites: db.select({ id: sites.id }).from(sites).all().length,
          secrets: checks.length,
          replicas: db.select({ id: replicas.id }).from(replicas).all().length,
          tasks: db.select({ id: tasks.id }).from(tasks).all().length,
          history: db.select({ id: history.id }).from(history).all().length,
        };
        const env = opts.env ?? process.env.TANDEM_SECRET_KEY ?? '';
        if (env && envKeyId(env, db) !== box.keyId) {
          warnings.push(
            "TANDEM_SECRET_KEY is set to another key than the backup's: unset it (Tandem then uses the restored secret.key), " +
              'or set it to the value the backed-up installation used; otherwise no stored secret can be decrypted',
          );
        }
      } finally {
        db.$client.close();
      }
    } catch (e) {
      for (const f of stagedFiles) fs.rmSync(f, { force: true });
      throw e;
    }

    const replaced = OWN_FILES.filter((f) => fs.existsSync(path.join(dir, f)));
    for (const f of OWN_FILES) fs.rmSync(path.join(dir, f), { force: true });
    if (fs.existsSync(path.join(dir, 'run'))) {
      fs.rmSync(path.join(dir, 'run'), { recursive: true, force: true });
      replaced.push('run/');
    }
    if (replaced.length) warnings.push(`replaced ${replaced.join(', ')} in ${dir}`);
    fs.renameSync(staged, path.join(dir, 'tandem.db'));
    writePrivateFileAtomic(path.join(dir, KEY_FILE), key.toString('base64') + '\n');
    syncDir(dir);
    return { dataDir: dir, createdAt: archive.createdAt, keyId: box.keyId, ...counts, warnings };
  } finally {
    lock.release();
  }
}

/** The key id TANDEM_SECRET_KEY would give on this database (a passphrase uses the database's salt). */
function envKeyId(value: string, db: Db): string | null {
  const setting = parseKeySetting(value);
  if (setting.kind === 'raw') return keyIdOf(setting.key);
  const kdf = db
    .select()
    .from(settings)
    .all()
    .find((s) => s.key === 'secrets.kdf')?.value as KdfParams | undefined;
  return kdf ? keyIdOf(deriveKey(setting.passphrase, kdf)) : null;
}
