import crypto from 'node:crypto';
import { and, desc, eq, isNull } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client';
import { apiTokens, users } from '../db/schema';
import { hasRole, ROLES, type Role, type SessionUser } from './auth';
import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';

/**
 * Bearer tokens for machine clients: `metrics` tokens for the Prometheus scrape of `/api/metrics`
 * (made by an admin), and personal `api` tokens for `/api/v1`. An `api` token acts as its owner
 * with a role no higher than the owner's (chosen at creation, and capped by the owner's role at
 * each call, so a demoted owner's tokens lose rights with them), and expires. A token is
 * `tdm_` followed by 32 random bytes in base64url; it is returned once, when it is created, and
 * only its SHA-256 and its first characters (to tell tokens apart in the list) are stored. A
 * token is checked by looking its hash up, so the check takes the same time whatever the token's
 * characters; a revoked token is refused.
 */

export const TOKEN_PREFIX = 'tdm_';
export const API_TOKEN_SCOPES = ['metrics', 'api'] as const;
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

/** An `api` token lives at most this many days (default 90). */
export const MAX_TOKEN_DAYS = 366;
export const DEFAULT_TOKEN_DAYS = 90;
export const tokenDaysSchema = z
  .number()
  .int('whole days')
  .min(1, `1–${MAX_TOKEN_DAYS} days`)
  .max(MAX_TOKEN_DAYS, `1–${MAX_TOKEN_DAYS} days`);

/** What creating a token takes (the tRPC procedure's and the form's input). */
export const tokenCreateSchema = z.object({
  name: tokenNameSchema,
  scope: z.enum(API_TOKEN_SCOPES).default('api'),
  /** An `api` token's role; the owner's role when not given. */
  role: z.enum(ROLES).optional(),
  /** An `api` token's owner (an admin may make one for another user); the caller when not given. */
  owner: z.string().max(64, 'at most 64 characters').optional(),
  /** An `api` token's lifetime (default 90 days); a metrics token does not expire. */
  expiresInDays: tokenDaysSchema.optional(),
});
export type TokenCreate = z.input<typeof tokenCreateSchema>;

export interface ApiTokenView {
  id: number;
  name: string;
  /** The token's first characters, e.g. `tdm_Ab3xYz`. */
  prefix: string;
  scope: ApiTokenScope;
  /** An `api` token's role and owner. */
  role: Role | null;
  owner: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  /** Whether the token is past its expiry (as of the answer). */
  expired: boolean;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export type TokenCheck = { ok: true; token: ApiTokenView } | { ok: false; reason: string };
/** An `api` token's check: the user it acts as, with the role it has for this call. */
export type ApiTokenCheck =
  { ok: true; token: ApiTokenView; user: SessionUser } | { ok: false; reason: string };

export function hashToken(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | null | undefined): string | null {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '');
  return m ? m[1]! : null;
}

type Row = typeof apiTokens.$inferSelect;

function view(r: Row, now: number): ApiTokenView {
  return {
    id: r.id,
    name: r.name,
    prefix: r.prefix,
    scope: r.scope,
    role: r.role,
    owner: r.owner,
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    expired: !!r.expiresAt && r.expiresAt.getTime() <= now,
    lastUsedAt: r.lastUsedAt,
    revokedAt: r.revokedAt,
  };
}

export class ApiTokens {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /**
   * Creates a token; the result's `token` is the only time it is seen. A `metrics` token is an
   * admin's; an `api` token is made by its owner, or by an admin for any user, with a role no
   * higher than the owner's.
   */
  create(input: TokenCreate, actor: SessionUser): { token: string; info: ApiTokenView } {
    const parsed = tokenCreateSchema.safeParse(input);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => ({
        field: i.path.join('.') || 'input',
        message: i.message,
      }));
      throw new AppError('INVALID_INPUT', fields.map((f) => `${f.field}: ${f.message}`).join('; '), {
        fields,
      });
    }
    const { name, scope, expiresInDays } = parsed.data;
    const now = this.clock.now();
    let owner: string | null = null;
    let role: Role | null = null;
    let expiresAt: Date | null = null;
    if (scope === 'metrics') {
      if (actor.role !== 'admin') throw new AppError('FORBIDDEN', 'metrics tokens are made by an admin');
      if (parsed.data.owner || parsed.data.role || expiresInDays)
        throw AppError.invalid(
          'scope',
          'a metrics token has no owner, role or expiry; make an api token for that',
        );
    } else {
      owner = parsed.data.owner?.trim() || actor.username;
      if (owner !== actor.username && actor.role !== 'admin')
        throw new AppError(
          'FORBIDDEN',
          `only an admin makes tokens for another user; yours act as "${actor.username}"`,
        );
      const user = this.db
        .select({ role: users.role, disabled: users.disabled })
        .from(users)
        .where(eq(users.username, owner))
        .get();
      if (!user) throw AppError.invalid('owner', `no user "${owner}"`);
      if (user.disabled) throw AppError.invalid('owner', `the user "${owner}" is disabled`);
      role = parsed.data.role ?? user.role;
      if (!hasRole(user.role, role))
        throw AppError.invalid('role', `at most ${user.role}, the role of "${owner}"`);
      expiresAt = new Date(now + (expiresInDays ?? DEFAULT_TOKEN_DAYS) * 86_400_000);
    }
    const clash = this.db
      .select({ id: apiTokens.id })
      .from(apiTokens)
      .where(
        and(
          eq(apiTokens.name, name),
          owner === null ? isNull(apiTokens.owner) : eq(apiTokens.owner, owner),
          isNull(apiTokens.revokedAt),
        ),
      )
      .get();
    if (clash)
      throw new AppError(
        'ALREADY_EXISTS',
        `a token named "${name}" exists and is not revoked: choose another name or revoke it first`,
        { fields: [{ field: 'name', message: 'a token of this name exists' }] },
      );
    const token = TOKEN_PREFIX + crypto.randomBytes(32).toString('base64url');
    const row = this.db
      .insert(apiTokens)
      .values({
        name,
        hash: hashToken(token),
        prefix: token.slice(0, SHOWN_PREFIX),
        scope,
        role,
        owner,
        createdBy: actor.username,
        createdAt: new Date(now),
        expiresAt,
      })
      .returning()
      .get();
    return { token, info: view(row, now) };
  }

  /** The tokens `viewer` may see, newest first, revoked ones included (never a token or its hash): an admin's list has every token, a user's their own. */
  list(viewer: SessionUser): ApiTokenView[] {
    const q = this.db.select().from(apiTokens);
    const rows =
      viewer.role === 'admin'
        ? q.orderBy(desc(apiTokens.id)).all()
        : q.where(eq(apiTokens.owner, viewer.username)).orderBy(desc(apiTokens.id)).all();
    return rows.map((r) => view(r, this.clock.now()));
  }

  /** Revokes a token (an admin any token, a user their own): it is refused from now on. */
  revoke(id: number, actor: SessionUser): ApiTokenView {
    const row = this.db.select().from(apiTokens).where(eq(apiTokens.id, id)).get();
    if (!row || (actor.role !== 'admin' && row.owner !== actor.username))
      throw new AppError('NOT_FOUND', `no API token #${id}`);
    if (row.revokedAt)
      throw new AppError(
        'CONFLICT',
        `the token "${row.name}" was already revoked on ${row.revokedAt.toISOString()}`,
      );
    const done = this.db
      .update(apiTokens)
      .set({ revokedAt: new Date(this.clock.now()) })
      .where(eq(apiTokens.id, id))
      .returning()
      .get();
    return view(done, this.clock.now());
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
    if (!row || !crypto.timingSafeEqual(Buffer.from(row.hash, 'hex'), Buffer.from(hash, 'hex')))
      return { ok: false, reason: 'unknown token' };
    if (row.revokedAt) return { ok: false, reason: 'this token was revoked' };
    if (row.scope !== scope) return { ok: false, reason: `this token is for ${row.scope}, not ${scope}` };
    const now = this.clock.now();
    if (row.expiresAt && row.expiresAt.getTime() <= now)
      return { ok: false, reason: `this token expired on ${row.expiresAt.toISOString()}` };
    if (!row.lastUsedAt || now - row.lastUsedAt.getTime() >= LAST_USED_EVERY_MS) {
      row.lastUsedAt = new Date(now);
      this.db.update(apiTokens).set({ lastUsedAt: row.lastUsedAt }).where(eq(apiTokens.id, row.id)).run();
    }
    return { ok: true, token: view(row, now) };
  }

  /** Checks an `api` token and gives the user it acts as, with the lower of the token's and the owner's role. */
  verifyApi(token: string | null | undefined): ApiTokenCheck {
    const check = this.verify(token, 'api');
    if (!check.ok) return check;
    const { owner, role } = check.token;
    const user = owner ? this.db.select().from(users).where(eq(users.username, owner)).get() : undefined;
    if (!user || !role) return { ok: false, reason: 'the user of this token no longer exists' };
    if (user.disabled) return { ok: false, reason: `the user "${user.username}" is disabled` };
    return {
      ok: true,
      token: check.token,
      user: { id: user.id, username: user.username, role: hasRole(user.role, role) ? role : user.role },
    };
  }
}
