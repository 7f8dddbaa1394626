import { z } from 'zod';
import { NAME_PATTERNS } from './names';

export const siteNameSchema = z
  .string()
  .trim()
  .min(1, 'required')
  .max(48, 'at most 48 characters')
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'letters, digits and . _ - only, starting with a letter or digit');

const host = z
  .string()
  .trim()
  .min(1, 'required')
  .max(253)
  .regex(NAME_PATTERNS.host, 'not a valid host name or IP address');
const port = z.coerce.number().int('whole number').min(1, '1–65535').max(65535, '1–65535');
const sshUser = z
  .string()
  .trim()
  .min(1, 'required')
  .max(32)
  .regex(/^[a-z_][a-z0-9_.-]*\$?$/i, 'not a valid user name');
const fingerprint = z
  .string()
  .regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'expected SHA256:… (43 base64 characters)');
const zpool = z.string().regex(NAME_PATTERNS.zfsComponent, 'not a valid zpool name');
const absPath = z
  .string()
  .trim()
  .regex(/^\/[^\0]*$/, 'must be an absolute path');

/**
 * A site's settings as a form sends them, before the kind's own schema checks them: a flat
 * record of at most 32 short values (no nesting, nothing that is not JSON).
 */
export const siteConfigInputSchema = z
  .record(
    z.string().max(64, 'setting names are at most 64 characters'),
    z
      .union([
        z.string().max(4096, 'at most 4096 characters'),
        z.number(),
        z.boolean(),
        z.null(),
        z.array(z.string().max(256, 'at most 256 characters')).max(64, 'at most 64 items'),
      ])
      .optional(),
  )
  .refine((c) => Object.keys(c).length <= 32, 'at most 32 settings');

export const nodeConfigSchema = z.object({
  host,
  port: port.default(22),
  user: sshUser.default('root'),
  hostKeySha256: fingerprint.nullable().default(null),
  hypervisor: z.enum(['libvirt', 'vmadm']).default('libvirt'),
  zpools: z.array(zpool).max(32).default([]),
});
export type NodeConfig = z.infer<typeof nodeConfigSchema>;

export const cephConfigSchema = z.discriminatedUnion('access', [
  z.object({
    access: z.literal('local'),
    /** The mirroring site name of this cluster (rbd mirror pool info --site-name). */
    siteName: z.string().trim().regex(NAME_PATTERNS.ceph, 'letters, digits and . _ - only'),
    cluster: z.string().trim().regex(NAME_PATTERNS.ceph, 'not a valid cluster name').default('ceph'),
    confPath: absPath,
    clientId: z
      .string()
      .trim()
      .regex(NAME_PATTERNS.cephClient, 'not a valid client id (without "client.")')
      .default('admin'),
    keyringPath: absPath.nullable().default(null),
  }),
  z.object({
    access: z.literal('ssh'),
    siteName: z.string().trim().regex(NAME_PATTERNS.ceph, 'letters, digits and . _ - only'),
    cluster: z.string().trim().regex(NAME_PATTERNS.ceph, 'not a valid cluster name').default('ceph'),
    host,
    port: port.default(22),
    user: sshUser.default('root'),
    hostKeySha256: fingerprint.nullable().default(null),
    confPath: absPath.nullable().default(null),
    clientId: z.string().trim().regex(NAME_PATTERNS.cephClient, 'not a valid client id').default('admin'),
    keyringPath: absPath.nullable().default(null),
  }),
]);
export type CephConfig = z.infer<typeof cephConfigSchema>;

/** Secret material of a site; stored encrypted, never returned to the browser. */
export const siteSecretSchema = z.object({
  privateKey: z.string().optional(),
  keyring: z.string().optional(),
});
export type SiteSecret = z.infer<typeof siteSecretSchema>;

export const privateKeySchema = z
  .string()
  .max(64 * 1024, 'at most 64 KiB')
  .trim()
  .regex(
    /^-----BEGIN (OPENSSH|RSA|EC) PRIVATE KEY-----[\s\S]+-----END (OPENSSH|RSA|EC) PRIVATE KEY-----$/,
    'paste the whole private key, including the BEGIN and END lines',
  )
  .transform((s) => s + '\n');

/**
 * Whether a text holds a `[client.NAME]` section whose first non-blank line is `key = VALUE`.
 * Line by line, so that it takes time linear in the text's length whatever the text is (one
 * multi-line regex for this took seconds on 64 KiB of newlines).
 */
export function looksLikeKeyring(text: string): boolean {
  let header = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (header && /^key\s*=\s*\S/.test(line)) return true;
    header = /^\[client\.[^\]]+\]$/.test(line);
  }
  return false;
}

export const keyringSchema = z
  .string()
  .max(64 * 1024, 'at most 64 KiB')
  .trim()
  .refine(looksLikeKeyring, 'expected a Ceph keyring: "[client.NAME]" followed by "key = …"')
  .transform((s) => s + '\n');
