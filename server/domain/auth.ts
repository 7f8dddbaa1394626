import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { hash, verify } from '@node-rs/argon2';
import { and, eq, lt, sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../db/client';
import { sessions, users, type UserRow } from '../db/schema';
import type { Clock } from '../core/clock';
import { AppError } from '../core/errors';
import { KeyedGate, LoginThrottle, type ThrottleOptions } from './login-throttle';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];
const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

export function hasRole(actual: Role, needed: Role): boolean {
  return RANK[actual] >= RANK[needed];
}

export const usernameSchema = z
  .string()
  .trim()
  .min(2, 'at least 2 characters')
  .max(64, 'at most 64 characters')
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._@-]*$/,
    'letters, digits and . _ @ - only, starting with a letter or digit',
  );
export const passwordSchema = z.string().min(10, 'at least 10 characters').max(256, 'at most 256 characters');

export interface SessionUser {
  id: number;
  username: string;
  role: Role;
}

/** The cookie's name is `sessionCookie()`'s (web-access.ts). */
export const SESSION_TTL_MS = 12 * 3600_000;
// argon2id, OWASP's recommended minimum (19 MiB, 2 passes).
const ARGON = { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(pw: string): Promise<string> {
  return hash(pw, ARGON);
}

function tokenId(token: string): string {
  return crypto.createHash('sha256').update(token).digest('hex');
}

/** Password hashing; argon2id in production, injectable for tests (which count verifies). */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
}

export const argon2Hasher: PasswordHasher = {
  hash: hashPassword,
  verify: (h, pw) => verify(h, pw).catch(() => false),
};

export interface AuthOptions {
  hasher?: PasswordHasher;
  throttle?: ThrottleOptions;
  /** Where the setup code is written (`setup-code`); kept in memory only without it. */
  dataDir?: string;
}

/** Crockford's base32 (no I, L, O, U): 12 characters, 60 bits, shown as XXXX-XXXX-XXXX. */
const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE_RE = /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/;

function newSetupCode(): string {
  const bytes = crypto.randomBytes(12);
  const chars = [...bytes].map((b) => CODE_ALPHABET[b & 31]);
  return [0, 4, 8].map((i) => chars.slice(i, i + 4).join('')).join('-');
}

function sameCode(given: string, expected: string): boolean {
  const norm = (s: string) => s.toUpperCase().replace(/[\s-]/g, '');
  const a = crypto.createHash('sha256').update(norm(given)).digest();
  const b = crypto.createHash('sha256').update(norm(expected)).digest();
  return crypto.timingSafeEqual(a, b);
}

export class AuthService {
  readonly throttle: LoginThrottle;
  readonly #gate = new KeyedGate();
  readonly #hasher: PasswordHasher;
  readonly #codeFile: string | null;
  #setupCode: string | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    opts: AuthOptions = {},
  ) {
    this.throttle = new LoginThrottle(clock, opts.throttle);
    this.#hasher = opts.hasher ?? argon2Hasher;
    this.#codeFile = opts.dataDir ? path.join(opts.dataDir, 'setup-code') : null;
  }

  userCount(): number {
    return (
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(users)
        .get()?.n ?? 0
    );
  }

  async createUser(input: { username: string; password: string; role: Role }): Promise<UserRow> {
    const username = usernameSchema.parse(input.username);
    passwordSchema.parse(input.password);
    if (this.db.select({ id: users.id }).from(users).where(eq(users.username, username)).get()) {
      throw new AppError('ALREADY_EXISTS', `a user named "${username}" already exists`, {
        fields: [{ field: 'username', message: 'already taken' }],
      });
    }
    const passwordHash = await this.#hasher.hash(input.password);
    return this.db.insert(users).values({ username, passwordHash, role: input.role }).returning().get();
  }

  /**
   * While no user exists, the one-time code that `setup` asks for: read from (or created in)
   * `<data dir>/setup-code`, mode 0600, so that it survives a restart; the server prints it at
   * start. Null, and the file removed, once a user exists.
   */
  issueSetupCode(): string | null {
    if (this.userCount() > 0) {
      this.#dropSetupCode();
      return null;
    }
    if (!this.#setupCode) {
      const file = this.#codeFile;
      const stored = file && fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
      this.#setupCode = CODE_RE.test(stored) ? stored : newSetupCode();
      if (file) {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, `${this.#setupCode}\n`, { mode: 0o600 });
        fs.chmodSync(file, 0o600);
      }
    }
    return this.#setupCode;
  }

  #dropSetupCode(): void {
    this.#setupCode = null;
    if (this.#codeFile) fs.rmSync(this.#codeFile, { force: true });
  }

  /**
   * The setup page: creates the first admin when the setup code is right (wrong codes count like
   * failed sign-ins), and signs it in. Two setups at once create one admin; the other is refused.
   */
  async setup(
    input: { username: string; password: string; setupCode: string },
    clientKey: string,
  ): Promise<{ token: string; user: SessionUser; expiresAt: Date }> {
    const attempt = this.throttle.reserve('(setup)', clientKey);
    const expected = this.issueSetupCode();
    if (expected && !sameCode(input.setupCode, expected)) {
      attempt.fail();
      throw new AppError(
        'WRONG_CREDENTIALS',
        'wrong setup code: use the one in the server log (also in the file setup-code in its data directory)',
        {
          fields: [{ field: 'setupCode', message: 'wrong setup code' }],
        },
      );
    }
    attempt.succeed();
    if (!expected) throw new AppError('CONFLICT', 'Tandem is already set up; sign in instead');
    const user = await this.setupFirstAdmin(input.username, input.password);
    return this.#newSession(user);
  }

  /**
   * Creates the first admin, once (the setup page, or TANDEM_ADMIN_PASSWORD at start): the count
   * and the insert are one transaction, so two at once create one admin.
   */
  async setupFirstAdmin(username: string, password: string): Promise<UserRow> {
    const name = usernameSchema.parse(username);
    passwordSchema.parse(password);
    if (this.userCount() > 0) throw new AppError('CONFLICT', 'Tandem is already set up; sign in instead');
    const passwordHash = await this.#hasher.hash(password);
    const user = this.db.transaction(
      (tx) => {
        if (
          (tx
            .select({ n: sql<number>`count(*)` })
            .from(users)
            .get()?.n ?? 0) > 0
        )
          throw new AppError('CONFLICT', 'Tandem is already set up; sign in instead');
        return tx.insert(users).values({ username: name, passwordHash, role: 'admin' }).returning().get();
      },
      { behavior: 'immediate' },
    );
    this.#dropSetupCode();
    return user;
  }

  /**
   * Signs in. The attempt is counted before the password is checked (`LoginThrottle`), and an
   * account's passwords are checked one at a time, a client that has not failed going first.
   */
  async login(
    username: string,
    password: string,
    clientKey: string,
  ): Promise<{ token: string; user: SessionUser; expiresAt: Date }> {
    const account = username.toLowerCase();
    const attempt = this.throttle.reserve(account, clientKey);
    let user: UserRow | undefined;
    let ok = false;
    try {
      [user, ok] = await this.#gate.run(account, attempt.clean, async () => {
        const u = this.db.select().from(users).where(eq(users.username, username)).get();
        // Verify against a dummy hash when the user is unknown, so timing does not reveal which names exist.
        return [
          u,
          await this.#hasher.verify(u?.passwordHash ?? DUMMY_HASH, password).catch(() => false),
        ] as const;
      });
    } finally {
      if (!user || !ok || user.disabled) attempt.fail();
      else attempt.succeed();
    }
    if (!user || !ok || user.disabled) {
      throw new AppError(
        'WRONG_CREDENTIALS',
        user?.disabled && ok ? 'this account is disabled' : 'wrong username or password',
      );
    }
    return this.#newSession(user);
  }

  #newSession(user: UserRow): { token: string; user: SessionUser; expiresAt: Date } {
    const token = crypto.randomBytes(32).toString('base64url');
    const expiresAt = new Date(this.clock.now() + SESSION_TTL_MS);
    this.db
      .insert(sessions)
      .values({ id: tokenId(token), userId: user.id, expiresAt })
      .run();
    this.db
      .delete(sessions)
      .where(lt(sessions.expiresAt, new Date(this.clock.now())))
      .run();
    return { token, user: { id: user.id, username: user.username, role: user.role }, expiresAt };
  }

  /** Resolves a cookie token; throws SESSION_EXPIRED for a known but expired session. */
  sessionUser(token: string | undefined): SessionUser | null {
    return this.session(token)?.user ?? null;
  }

  /**
   * Bumped by every change made by this process that can end a session before it expires
   * (sign-out, a disabled or deleted account, a new password): a live stream that saw the same
   * count and an unexpired session since its last read need not read the session again.
   */
  get revocations(): number {
    return this.#revocations;
  }
  #revocations = 0;

  /** `sessionUser` with the session's expiry (epoch ms). */
  session(token: string | undefined): { user: SessionUser; expiresAt: number } | null {
    if (!token) return null;
    const id = tokenId(token);
    const row = this.db
      .select({
        userId: users.id,
        username: users.username,
        role: users.role,
        disabled: users.disabled,
        expiresAt: sessions.expiresAt,
      })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(eq(sessions.id, id))
      .get();
    if (!row) return null;
    if (row.expiresAt.getTime() <= this.clock.now()) {
      this.db.delete(sessions).where(eq(sessions.id, id)).run();
      throw new AppError('SESSION_EXPIRED', 'your session has expired; sign in again');
    }
    if (row.disabled) return null;
    return {
      user: { id: row.userId, username: row.username, role: row.role },
      expiresAt: row.expiresAt.getTime(),
    };
  }

  logout(token: string | undefined): void {
    this.#revocations++;
    if (token)
      this.db
        .delete(sessions)
        .where(eq(sessions.id, tokenId(token)))
        .run();
  }

  listUsers() {
    return this.db
      .select({
        id: users.id,
        username: users.username,
        role: users.role,
        disabled: users.disabled,
        createdAt: users.createdAt,
      })
      .from(users)
      .orderBy(users.username)
      .all();
  }

  #adminCount(): number {
    return (
      this.db
        .select({ n: sql<number>`count(*)` })
        .from(users)
        .where(and(eq(users.role, 'admin'), eq(users.disabled, false)))
        .get()?.n ?? 0
    );
  }

  #get(id: number): UserRow {
    const u = this.db.select().from(users).where(eq(users.id, id)).get();
    if (!u) throw new AppError('NOT_FOUND', `user #${id} does not exist`);
    return u;
  }

  updateUser({ id, ...patch }: { id: number; role?: Role; disabled?: boolean }, actor: SessionUser): UserRow {
    const u = this.#get(id);
    const losesAdmin =
      u.role === 'admin' &&
      !u.disabled &&
      ((patch.role && patch.role !== 'admin') || patch.disabled === true);
    if (losesAdmin && this.#adminCount() <= 1) {
      throw new AppError('PRECONDITION_FAILED', 'this is the last active admin; make another admin first');
    }
    if (id === actor.id && patch.disabled)
      throw new AppError('PRECONDITION_FAILED', 'you cannot disable your own account');
    this.#revocations++;
    const updated = this.db.update(users).set(patch).where(eq(users.id, id)).returning().get();
    if (patch.disabled) this.db.delete(sessions).where(eq(sessions.userId, id)).run();
    return updated!;
  }

  /**
   * A signed-in user changes their own password: the current one is checked as a sign-in is
   * (throttled), every session of the account ends, and the new session is returned.
   */
  async changePassword(
    user: SessionUser,
    current: string,
    next: string,
    clientKey: string,
  ): Promise<{ token: string; user: SessionUser; expiresAt: Date }> {
    await this.login(user.username, current, clientKey);
    await this.setPassword(user.id, next);
    return this.login(user.username, next, clientKey);
  }

  async setPassword(id: number, password: string): Promise<void> {
    passwordSchema.parse(password);
    this.#get(id);
    this.#revocations++;
    this.db
      .update(users)
      .set({ passwordHash: await this.#hasher.hash(password) })
      .where(eq(users.id, id))
      .run();
    this.db.delete(sessions).where(eq(sessions.userId, id)).run();
  }

  deleteUser({ id }: { id: number }, actor: SessionUser): void {
    const u = this.#get(id);
    if (id === actor.id) throw new AppError('PRECONDITION_FAILED', 'you cannot delete your own account');
    if (u.role === 'admin' && !u.disabled && this.#adminCount() <= 1) {
      throw new AppError('PRECONDITION_FAILED', 'this is the last active admin');
    }
    this.#revocations++;
    this.db.delete(users).where(eq(users.id, id)).run();
  }
}

const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8cKUm6Qs0oY7OL0jnmmHkEyUaJT3y9c3u5TLbtW5Pm0';
