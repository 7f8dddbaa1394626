import crypto from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client';
import { apiTokens } from '../db/schema';
import type { Clock } from './clock';
import { AppError } from './errors';

/**
 * Bearer tokens for machine clients (the Prometheus scrape of `/api/metrics`). A token is
 * `tdm_` followed by 32 random bytes in base64url; it is returned once, when it is created, and
 * only its SHA-256 and its first characters (to tell tokens apart in the list) are stored. A
 * token is checked by looking its hash up, so the check takes the same time whatever the token's
 * characters; a revoked token is refused.
 */

export const TOKEN_PREFIX = 'tdm_';
export const API_TOKEN_SCOPES = ['metrics'] as const;
export type ApiTokenScope = (typeof API_TOKEN_SCOPES)[number];

/** How many characters of a token are kept to tell it apart (`tdm_` and 6 more). */
export const SHOWN_PREFIX = TOKEN_PREFIX.length + 6;
/** `lastUsedAt` is written at most this often per token (a scrape every few seconds must not write each time). */
export const LAST_USED_EVERY_MS = 60_000;

const TOKEN_RE = /^tdm_[A-Za-z0-9_-]{43}$/;

export const tokenNameSchema = z
  .string()
  .trim()
  .min(1, 'give the token a name (what uses it, e.g. "prometheus")')
  .max(80, 'at most 80 characters')
  .regex(/^[\p{L}\p{N} ._@:/()-]+$/u, 'letters, digits, spaces and . _ @ : / ( ) - only');

export interface ApiTokenView {
  id: number;
  name: string;
  /** The token's first characters, e.g. `tdm_Ab3xYz`. */
  prefix: string;
  scope: ApiTokenScope;
  createdBy: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export type TokenCheck = { ok: true; token: ApiTokenView } | { ok: false; reason: string };

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | null | undefined): string | null {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

type Row = typeof apiTokens.$inferSelect;

function view(r: Row): ApiTokenView {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scope: r.scope,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
  };
}

export class ApiTokens {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Creates a token; the result's `token` is the only time it is seen. */
  create(input: { name: string; scope: ApiTokenScope }, username: string): { token: string; info: ApiTokenView } {
    const parsed = tokenNameSchema.safeParse(input.name);
    if (!parsed.success) throw AppError.invalid('name', parsed.error.issues[0]?.message ?? 'not a valid name');
    const name = parsed.data;
    if (!API_TOKEN_SCOPES.includes(input.scope)) throw AppError.invalid('scope', `one of ${API_TOKEN_SCOPES.join(', ')}`);
    const clash = this.db
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(and(eq(apiTokens.name, name), isNull(apiTokens.revokedAt)))
      .get();
    if (clash) throw new AppError('ALREADY_EXISTS', `a token named "${name}" exists and is not revoked: choose another name or revoke it first`, { fields: [{ field: 'name', message: 'a token of this name exists' }] });
    const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
    const row = this.db
      .insert(apiTokens)
      .values({ name, hash: hashToken(token), prefix: token.slice(0, SHOWN_PREFIX), scope: input.scope, createdBy: username, createdAt: new Date(this.clock.now()) })
      .returning()
      .get();
    return { token, info: view(row) };
  }

  /** Every token, newest first, revoked ones included (never a token or its hash). */
  list(): ApiTokenView[] {
    return this.db.select().from(apiTokens).orderBy(desc(apiTokens.id)).all().map(view);
  }

  /** Revokes a token: it is refused from now on. */
  revoke(id: number): ApiTokenView {
    const row = this.db.select().from(apiTokens).where(eq(apiTokens.id, id)).get();
    if (!row) throw new AppError('NOT_FOUND', `no API token #${id}`);
    if (row.revokedAt) throw new AppError('CONFLICT', `the token "${row.name}" was already revoked on ${row.revokedAt.toISOString()}`);
    const done = this.db.update(apiTokens).set({ revokedAt: new Date(this.clock.now()) }).where(eq(apiTokens.id, id)).returning().get();
    return view(done);
  }

  /**
   * Checks a presented token for a scope. The token is looked up by its SHA-256 (the stored
   * hashes are compared with `timingSafeEqual` too); the reason of a refusal is for the log and
   * the answer, and never repeats the token.
   */
  verify(token: string | null | undefined, scope: ApiTokenScope): TokenCheck {
    if (!token) return { ok: false, reason: 'no bearer token: send Authorization: Bearer <token>' };
    if (!TOKEN_RE.test(token)) return { ok: false, reason: 'not a Tandem API token' };
    const hash = hashToken(token);
    const row = this.db.select().from(apiTokens).where(eq(apiTokens.hash, hash)).get();
    if (!row || !crypto.timingSafeEqual(Buffer.from(row.hash, 'hex'), Buffer.from(hash, 'hex'))) return { ok: false, reason: 'unknown token' };
    if (row.revokedAt) return { ok: false, reason: 'this token was revoked' };
    if (row.scope !== scope) return { ok: false, reason: `this token is for ${row.scope}, not ${scope}` };
    const now = this.clock.now();
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() >= LAST_USED_EVERY_MS) {
      row.lastUsedAt = new Date(now);
      this.db.update(apiTokens).set({ lastUsedAt: row.lastUsedAt }).where(eq(apiTokens.id, row.id)).run();
    }
    return { ok: true, token: view(row) };
  }
}
