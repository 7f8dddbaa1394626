import { z } from 'zod';
import { AppError } from '../../core/errors';

/**
 * RBD mirror peer bootstrap tokens (`rbd mirror pool peer bootstrap create`): base64 of
 * `{"fsid", "client_id", "key", "mon_host"}`. The token carries a cephx key; it is a secret and
 * must never be logged or stored in plain text. Decoding exposes only the public parts.
 */
export interface DecodedBootstrapToken {
  fsid: string;
  clientId: string;
  monHost: string;
}

const tokenSchema = z.looseObject({
  fsid: z
    .string()
    .regex(
      /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
      'expected a cluster fsid (UUID)',
    ),
  client_id: z.string().min(1, 'expected a client id'),
  key: z.string().min(1, 'expected a cephx key'),
  mon_host: z.string().min(1, 'expected monitor addresses'),
});

const HOW = 'paste the complete output of `rbd mirror pool peer bootstrap create` from the other cluster';

function bad(message: string): AppError {
  return AppError.invalid('token', message);
}

/** Decodes and validates a bootstrap token without returning its key. Throws INVALID_INPUT. */
export function decodeBootstrapToken(token: string): DecodedBootstrapToken {
  const compact = token.replace(/\s+/g, '');
  if (compact === '') throw bad(`the token is empty; ${HOW}`);
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(compact)) {
    throw bad(`this is not a bootstrap token: it contains characters that base64 never uses; ${HOW}`);
  }
  const text = Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
  const trimmed = text.trim();
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    if (trimmed.startsWith('{') || compact.length % 4 === 1) {
      throw bad(
        `the token is truncated (it decodes to incomplete JSON); copy it again without cutting it off; ${HOW}`,
      );
    }
    throw bad(`this is not a bootstrap token: it does not decode to JSON; ${HOW}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw bad(
      `this is not a bootstrap token: it decodes to ${Array.isArray(value) ? 'a JSON array' : `a JSON ${value === null ? 'null' : typeof value}`} instead of an object with fsid, client_id, key and mon_host`,
    );
  }
  const parsed = tokenSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (i) =>
        `${i.path.join('.') || 'token'}: ${i.code === 'invalid_type' ? `missing or not a string` : i.message}`,
    );
    throw bad(`this is not a bootstrap token: ${problems.join('; ')}`);
  }
  return {
    fsid: parsed.data.fsid.toLowerCase(),
    clientId: parsed.data.client_id,
    monHost: parsed.data.mon_host,
  };
}

/** Builds a token in Ceph's format (used by the demo simulation and tests). */
export function encodeBootstrapToken(t: {
  fsid: string;
  clientId: string;
  key: string;
  monHost: string;
}): string {
  return Buffer.from(
    JSON.stringify({ fsid: t.fsid, client_id: t.clientId, key: t.key, mon_host: t.monHost }),
    'utf8',
  ).toString('base64');
}
