import { eq } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../../db/client';
import { rpoTargets } from '../../db/schema';
import type { Clock } from '../../core/clock';
import { AppError } from '../../core/errors';
import type { RpoSource } from './types';

/** The installation's RPO when an admin has set none: 15 minutes. */
export const DEFAULT_RPO_SEC = 900;
export const MIN_RPO_SEC = 10;
export const MAX_RPO_SEC = 30 * 86_400;

/**
 * Where an RPO target applies. From the most general to the most specific: the installation,
 * a site (the one where the data is written: the VM's master node, the image's primary
 * cluster), a Ceph pool or namespace (of a pair of clusters, so that it stays after a failover),
 * one object.
 */
export type RpoScope =
  | { kind: 'default' }
  | { kind: 'site'; siteId: number }
  | { kind: 'pool'; pair: string; pool: string; namespace?: string }
  | { kind: 'object'; subject: string };

const POOL_PART = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const PAIR = /^\d+(-\d+)?$/;
const SUBJECT = /^(replica:\d+|rbd:\d+(-\d+)?\/[^/]+\/[^/]*\/[^/]+|vm:\d+\/[^/]+)$/;

export const rpoScopeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('default') }),
  z.object({ kind: z.literal('site'), siteId: z.number().int().positive() }),
  z.object({
    kind: z.literal('pool'),
    pair: z.string().max(40).regex(PAIR, 'a pair of site ids such as 3-4'),
    pool: z.string().max(128, 'at most 128 characters').regex(POOL_PART, 'a pool name'),
    namespace: z.string().max(128, 'at most 128 characters').regex(POOL_PART, 'a namespace name').optional(),
  }),
  z.object({
    kind: z.literal('object'),
    subject: z.string().max(400).regex(SUBJECT, 'a protected object such as replica:7 or rbd:3-4/rbd//vol1'),
  }),
]);

export const rpoSecondsSchema = z
  .number()
  .int('whole seconds')
  .min(MIN_RPO_SEC, `at least ${MIN_RPO_SEC} s`)
  .max(MAX_RPO_SEC, `at most ${MAX_RPO_SEC / 86_400} days`);

/** The stored key of a scope. */
export function scopeKey(s: RpoScope): string {
  switch (s.kind) {
    case 'default':
      return 'default';
    case 'site':
      return `site:${s.siteId}`;
    case 'pool':
      return `pool:${s.pair}/${s.pool}${s.namespace ? `/${s.namespace}` : ''}`;
    case 'object':
      return s.subject;
  }
}

/** The pair key of two clusters (or one, when its peer is not registered): ascending site ids. */
export function pairKey(a: number, b: number | null): string {
  return b === null || b === a ? String(a) : [a, b].sort((x, y) => x - y).join('-');
}

/** The scopes an object inherits from, most general first (the object itself last). */
export function rpoChain(o: {
  subject: string;
  sourceSiteId: number | null;
  pair?: string;
  pool?: string;
  namespace?: string;
}): string[] {
  const chain = ['default'];
  if (o.sourceSiteId !== null) chain.push(`site:${o.sourceSiteId}`);
  if (o.pair && o.pool) {
    chain.push(`pool:${o.pair}/${o.pool}`);
    if (o.namespace) chain.push(`pool:${o.pair}/${o.pool}/${o.namespace}`);
  }
  chain.push(o.subject);
  return chain;
}

/** The effective RPO: the most specific target set along the chain, else the built-in default. */
export function effectiveRpo(
  targets: ReadonlyMap<string, number>,
  chain: readonly string[],
  label: (scope: string) => string = (s) => s,
): { seconds: number; from: RpoSource } {
  for (let i = chain.length - 1; i >= 0; i--) {
    const v = targets.get(chain[i]!);
    if (v !== undefined) return { seconds: v, from: { scope: chain[i]!, label: label(chain[i]!) } };
  }
  return {
    seconds: DEFAULT_RPO_SEC,
    from: { scope: 'built-in', label: `built-in default (${DEFAULT_RPO_SEC / 60} min)` },
  };
}

export interface RpoTargetRow {
  scope: string;
  seconds: number;
  updatedBy: string;
  updatedAt: Date;
}

/** The stored RPO targets. */
export class RpoTargets {
  #cache: Map<string, number> | null = null;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  /** Every target, keyed by scope (cached until the next change). */
  map(): ReadonlyMap<string, number> {
    return (this.#cache ??= new Map(
      this.db
        .select({ scope: rpoTargets.scope, seconds: rpoTargets.seconds })
        .from(rpoTargets)
        .all()
        .map((r) => [r.scope, r.seconds]),
    ));
  }

  list(): RpoTargetRow[] {
    return this.db.select().from(rpoTargets).all();
  }

  set(scope: RpoScope, seconds: number, by: string): { scope: string; seconds: number } {
    const parsed = rpoSecondsSchema.safeParse(seconds);
    if (!parsed.success) throw AppError.invalid('seconds', parsed.error.issues[0]!.message);
    const key = scopeKey(scope);
    const row = { scope: key, seconds, updatedBy: by, updatedAt: new Date(this.clock.now()) };
    this.db
      .insert(rpoTargets)
      .values(row)
      .onConflictDoUpdate({
        target: rpoTargets.scope,
        set: { seconds, updatedBy: by, updatedAt: row.updatedAt },
      })
      .run();
    this.#cache = null;
    return { scope: key, seconds };
  }

  /** Removes a target: the scope inherits again. */
  clear(scope: RpoScope): { scope: string; removed: boolean } {
    const key = scopeKey(scope);
    const removed = this.db.delete(rpoTargets).where(eq(rpoTargets.scope, key)).run().changes > 0;
    this.#cache = null;
    return { scope: key, removed };
  }
}
