import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from './errors';

/**
 * Secrets at rest: AES-256-GCM with a random 96-bit IV per value. Stored form:
 * `v1.<iv b64>.<tag b64>.<ciphertext b64>`. The key comes from TANDEM_SECRET_KEY (32 bytes as
 * base64 or 64 hex chars, or any passphrase, stretched with scrypt) or from a generated key file
 * (mode 0600) in the data directory.
 */
/** AES-GCM authentication tag length; shorter (truncated) tags are refused. */
export const TAG_BYTES = 16;

export class SecretBox {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new Error('secret key must be 32 bytes');
    this.#key = key;
  }

  static fromEnvOrFile(dataDir: string, envValue = process.env.TANDEM_SECRET_KEY): SecretBox {
    if (envValue) return new SecretBox(deriveKey(envValue));
    const file = path.join(dataDir, 'secret.key');
    if (fs.existsSync(file)) {
      const st = fs.statSync(file);
      if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
      return new SecretBox(Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64'));
    }
    fs.mkdirSync(dataDir, { recursive: true });
    const key = crypto.randomBytes(32);
    fs.writeFileSync(file, key.toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
    return new SecretBox(key);
  }

  encrypt(plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return ['v1', iv.toString('base64'), tag.toString('base64'), data.toString('base64')].join('.');
  }

  decrypt(stored: string): string {
    const parts = stored.split('.');
    if (parts.length !== 4 || parts[0] !== 'v1') {
      throw new AppError('INTERNAL', 'stored secret has an unknown format');
    }
    const [, iv, tag, data] = parts as [string, string, string, string];
    try {
      const tagBytes = Buffer.from(tag, 'base64');
      // GCM accepts truncated tags (down to 4 bytes) unless told otherwise: a forgery is then far easier.
      if (tagBytes.length !== TAG_BYTES) throw new Error(`authentication tag of ${tagBytes.length} bytes, expected ${TAG_BYTES}`);
      const decipher = crypto.createDecipheriv('aes-256-gcm', this.#key, Buffer.from(iv, 'base64'), { authTagLength: TAG_BYTES });
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]).toString('utf8');
    } catch (cause) {
      throw new AppError(
        'INTERNAL',
        'a stored secret failed its integrity check (tampered, or encrypted with another TANDEM_SECRET_KEY)',
        { cause },
      );
    }
  }
}

function deriveKey(value: string): Buffer {
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  const b64 = Buffer.from(value, 'base64');
  if (b64.length === 32 && /^[A-Za-z0-9+/]+=*$/.test(value)) return b64;
  return crypto.scryptSync(value, 'tandem-secret-key-v1', 32);
}
