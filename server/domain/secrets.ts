import crypto from 'node:crypto';
import { AppError } from '../core/errors';

/**
 * Secrets at rest: AES-256-GCM with a random 96-bit IV per value, a 128-bit tag, and associated
 * data naming the row the value belongs to (`siteSecretAad`), so that a value copied to another
 * row does not decrypt. Stored form: `v2.<key id>.<iv b64>.<tag b64>.<ciphertext b64>`; the key
 * id (`keyIdOf`) says which key a value was encrypted with, without revealing anything of it.
 *
 * The first release stored `v1.<iv>.<tag>.<ciphertext>` without associated data; such values are
 * read only by `decryptLegacy`, when they are migrated at start (server/domain/keys.ts).
 * Where the key comes from (file, TANDEM_SECRET_KEY, passphrase) is server/domain/keys.ts.
 */

/** AES-GCM authentication tag length; shorter (truncated) tags are refused. */
export const TAG_BYTES = 16;
const IV_BYTES = 12;
const KEY_BYTES = 32;

/** Associated data of a site's credentials (SSH private key, Ceph keyring). */
export function siteSecretAad(siteId: number): string {
  return `site:${siteId}:credentials`;
}

/** A short public name of a key: the first 8 bytes of HMAC-SHA256(key, "tandem secret key id"), in hex. */
export function keyIdOf(key: Buffer): string {
  return crypto
    .createHmac('sha256', key)
    .update('tandem secret key id')
    .digest()
    .subarray(0, 8)
    .toString('hex');
}

/** Which format a stored value has, and (v2) which key encrypted it. */
export function storedFormat(stored: string): { version: 'v1' } | { version: 'v2'; keyId: string } | null {
  const parts = stored.split('.');
  if (parts.length === 4 && parts[0] === 'v1') return { version: 'v1' };
  if (parts.length === 5 && parts[0] === 'v2' && /^[0-9a-f]{16}$/.test(parts[1]!))
    return { version: 'v2', keyId: parts[1]! };
  return null;
}

/** The error of a value that cannot be read; `details.secret` says why. */
export function secretError(
  reason: 'other-key' | 'integrity' | 'format',
  message: string,
  cause?: unknown,
): AppError {
  return new AppError('PRECONDITION_FAILED', message, { details: { secret: reason }, cause });
}

export function isSecretError(e: unknown): e is AppError {
  return e instanceof AppError && typeof e.details?.secret === 'string';
}

export class SecretBox {
  readonly #key: Buffer;
  readonly keyId: string;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) throw new Error('secret key must be 32 bytes');
    this.#key = Buffer.from(key);
    this.keyId = keyIdOf(key);
  }

  static random(): SecretBox {
    return new SecretBox(crypto.randomBytes(KEY_BYTES));
  }

  /** The key itself: only for a backup (which wraps it) and for writing the key file. */
  exportKey(): Buffer {
    return Buffer.from(this.#key);
  }

  encrypt(plain: string, aad: string): string {
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return [
      'v2',
      this.keyId,
      iv.toString('base64'),
      cipher.getAuthTag().toString('base64'),
      data.toString('base64'),
    ].join('.');
  }

  decrypt(stored: string, aad: string): string {
    const format = storedFormat(stored);
    if (format?.version !== 'v2') {
      throw secretError(
        'format',
        format
          ? 'stored secret is in the old format (not yet migrated)'
          : 'stored secret has an unknown format',
      );
    }
    if (format.keyId !== this.keyId) {
      throw secretError(
        'other-key',
        `a stored secret was encrypted with another secret key (key id ${format.keyId}; the current key is ${this.keyId})`,
      );
    }
    const [, , iv, tag, data] = stored.split('.') as [string, string, string, string, string];
    return this.#open(iv, tag, data, aad);
  }

  /** A value of the first release (`v1.`, no associated data); for the migration at start only. */
  decryptLegacy(stored: string): string {
    if (storedFormat(stored)?.version !== 'v1')
      throw secretError('format', 'not a stored secret of the old format');
    const [, iv, tag, data] = stored.split('.') as [string, string, string, string];
    return this.#open(iv, tag, data, null);
  }

  #open(iv: string, tag: string, data: string, aad: string | null): string {
    try {
      const ivBytes = Buffer.from(iv, 'base64');
      const tagBytes = Buffer.from(tag, 'base64');
      if (ivBytes.length !== IV_BYTES) throw new Error(`IV of ${ivBytes.length} bytes, expected ${IV_BYTES}`);
      // GCM accepts truncated tags (down to 4 bytes) unless told otherwise: a forgery is then far easier.
      if (tagBytes.length !== TAG_BYTES)
        throw new Error(`authentication tag of ${tagBytes.length} bytes, expected ${TAG_BYTES}`);
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key, ivBytes, {
        authTagLength: TAG_BYTES,
      });
      decipher.setAuthTag(tagBytes);
      if (aad !== null) decipher.setAAD(Buffer.from(aad, 'utf8'));
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw secretError(
        'integrity',
        'a stored secret failed its integrity check (tampered, moved to another row, or encrypted with another key)',
        cause,
      );
    }
  }
}

/** What TANDEM_SECRET_KEY holds: a key (64 hex characters, or 32 bytes in base64) or a passphrase. */
export type KeySetting = { kind: 'raw'; key: Buffer } | { kind: 'passphrase'; passphrase: string };

export function parseKeySetting(value: string): KeySetting {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return { kind: 'raw', key: Buffer.from(value, 'hex') };
  if (/^[A-Za-z0-9+/]+=*$/.test(value)) {
    const b64 = Buffer.from(value, 'base64');
    if (b64.length === KEY_BYTES) return { kind: 'raw', key: b64 };
  }
  return { kind: 'passphrase', passphrase: value };
}

/** scrypt parameters and the random salt of an installation (stored in its database, not secret). */
export interface KdfParams {
  name: 'scrypt';
  salt: string;
  N: number;
  r: number;
  p: number;
}

export function newKdfParams(): KdfParams {
  return { name: 'scrypt', salt: crypto.randomBytes(16).toString('base64'), N: 2 ** 15, r: 8, p: 1 };
}

export function deriveKey(passphrase: string, kdf: KdfParams): Buffer {
  return crypto.scryptSync(passphrase.normalize('NFC'), Buffer.from(kdf.salt, 'base64'), KEY_BYTES, {
    N: kdf.N,
    r: kdf.r,
    p: kdf.p,
    maxmem: 256 * kdf.N * kdf.r,
  });
}

/** The key the first release derived from a passphrase: scrypt with a fixed salt (for the migration only). */
export function legacyPassphraseKey(passphrase: string): Buffer {
  return crypto.scryptSync(passphrase, 'tandem-secret-key-v1', KEY_BYTES);
}
