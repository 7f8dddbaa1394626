import { and, eq, ne, or } from 'drizzle-orm';
import type { Db } from '../db/client';
import { replicas, secrets, sites, type SiteRow } from '../db/schema';
import type { AdapterRegistry, SiteSpec } from '../adapters/registry';
import type { SiteAdapter } from '../adapters/types';
import { probeHostKey } from '../adapters/ssh-runner';
import { AppError, errorMessage } from '../core/errors';
import { isSecretError, siteSecretAad } from './secrets';
import { cephConfigSchema, nodeConfigSchema, siteSecretSchema, type SiteSecret } from '../core/site-config';

export interface SiteView {
  id: number;
  name: string;
  kind: 'node' | 'ceph';
  demo: boolean;
  config: Record<string, unknown>;
  hasPrivateKey: boolean;
  hasKeyring: boolean;
  /** Set when the stored secret cannot be decrypted (another key, or changed in the database): the admin re-enters it. */
  secretError: string | null;
  createdAt: Date;
}

/** What the sites need of the secret key (server/domain/keys.ts). */
export interface SecretStore {
  encrypt(plain: string, aad: string): string;
  decrypt(stored: string, aad: string): string;
}

export const SECRET_UNREADABLE =
  'the secret of this site cannot be decrypted with the current key: re-enter it';
export const SECRET_TAMPERED =
  'the secret of this site failed its integrity check (changed in the database, or copied from another site): re-enter it';

export interface ConnectionCheck {
  name: string;
  ok: boolean;
  message: string;
}

export interface SiteInput {
  name: string;
  kind: 'node' | 'ceph';
  config: unknown;
  secret?: SiteSecret;
}

export class SiteService {
  constructor(
    private readonly db: Db,
    private readonly keys: SecretStore,
    private readonly registry: AdapterRegistry,
  ) {}

  #row(id: number): SiteRow {
    const row = this.db.select().from(sites).where(eq(sites.id, id)).get();
    if (!row) throw new AppError('NOT_FOUND', `site #${id} does not exist`);
    return row;
  }

  /** The site's secret; an AppError (PRECONDITION_FAILED) naming the site when it cannot be decrypted. */
  #secret(row: SiteRow): SiteSecret {
    if (!row.secretId) return {};
    const s = this.db.select().from(secrets).where(eq(secrets.id, row.secretId)).get();
    if (!s) return {};
    try {
      return siteSecretSchema.parse(JSON.parse(this.keys.decrypt(s.ciphertext, siteSecretAad(row.id))));
    } catch (e) {
      const why = isSecretError(e) && e.details?.secret === 'integrity' ? SECRET_TAMPERED : SECRET_UNREADABLE;
      throw new AppError(
        'PRECONDITION_FAILED',
        why.replace('this site', `site ${row.name}`) + ' on the Sites page',
        { cause: e, details: { secretUnreadable: true } },
      );
    }
  }

  /** The secret, or why it cannot be read. */
  #trySecret(row: SiteRow): { secret: SiteSecret; error: string | null } {
    try {
      return { secret: this.#secret(row), error: null };
    } catch (e) {
      const tampered =
        e instanceof AppError && isSecretError(e.cause) && e.cause.details?.secret === 'integrity';
      return { secret: {}, error: tampered ? SECRET_TAMPERED : SECRET_UNREADABLE };
    }
  }

  #view(row: SiteRow): SiteView {
    const { secret, error } = row.demo ? { secret: {}, error: null } : this.#trySecret(row);
    return {
      id: row.id,
      name: row.name,
      kind: row.kind,
      demo: row.demo,
      config: row.config,
      hasPrivateKey: !!secret.privateKey,
      hasKeyring: !!secret.keyring,
      secretError: error,
      createdAt: row.createdAt,
    };
  }

  list(): SiteView[] {
    return this.db
      .select()
      .from(sites)
      .orderBy(sites.kind, sites.name)
      .all()
      .map((r) => this.#view(r));
  }

  get(id: number): SiteView {
    return this.#view(this.#row(id));
  }

  /** A site's name for messages and logs; `site #<id>` for one that no longer exists. */
  nameOf(id: number): string {
    return (
      this.db.select({ name: sites.name }).from(sites).where(eq(sites.id, id)).get()?.name ?? `site #${id}`
    );
  }

  byName(name: string): SiteView | undefined {
    const row = this.db.select().from(sites).where(eq(sites.name, name)).get();
    return row ? this.#view(row) : undefined;
  }

  spec(id: number): SiteSpec {
    const row = this.#row(id);
    const secret = this.#secret(row);
    return row.kind === 'node'
      ? {
          id: row.id,
          name: row.name,
          kind: 'node',
          demo: row.demo,
          config: nodeConfigSchema.parse(row.config),
          secret,
        }
      : {
          id: row.id,
          name: row.name,
          kind: 'ceph',
          demo: row.demo,
          config: cephConfigSchema.parse(row.config),
          secret,
        };
  }

  /**
   * The site's adapter, built once and kept while the site's row and secret stay as they are (a
   * changed name, configuration or secret, or a key rotation, builds it again): listing replicas
   * asks for an adapter per row, and building one decrypts the secret. Adapters are shared by
   * concurrent callers; what they count per call (`cliCalls`) is counted per call
   * (`countCliCalls`).
   */
  adapter(id: number): SiteAdapter {
    const row = this.#row(id);
    const ciphertext = row.secretId
      ? (this.db.select({ c: secrets.ciphertext }).from(secrets).where(eq(secrets.id, row.secretId)).get()
          ?.c ?? '')
      : '';
    const version = JSON.stringify([row.name, row.kind, row.demo, row.config, ciphertext]);
    const known = this.#adapters.get(id);
    if (known?.version === version) return known.adapter;
    const adapter = this.registry.forSite(this.spec(id));
    this.#adapters.set(id, { version, adapter });
    return adapter;
  }

  readonly #adapters = new Map<number, { version: string; adapter: SiteAdapter }>();

  #validate(kind: 'node' | 'ceph', config: unknown, secret: SiteSecret) {
    const parsed = (kind === 'node' ? nodeConfigSchema : cephConfigSchema).safeParse(config);
    if (!parsed.success) {
      const fields = parsed.error.issues.map((i) => ({
        field: i.path.join('.') || 'config',
        message: i.message,
      }));
      throw new AppError('INVALID_INPUT', fields.map((f) => `${f.field}: ${f.message}`).join('; '), {
        fields,
      });
    }
    const c = parsed.data as Record<string, unknown>;
    const needsKey = kind === 'node' || c.access === 'ssh';
    if (needsKey && !secret.privateKey)
      throw AppError.invalid('privateKey', 'an SSH private key is required for this site');
    return parsed.data as Record<string, unknown>;
  }

  #assertNameFree(name: string, exceptId?: number) {
    const clash = this.db
      .select({ id: sites.id })
      .from(sites)
      .where(exceptId ? and(eq(sites.name, name), ne(sites.id, exceptId)) : eq(sites.name, name))
      .get();
    if (clash)
      throw new AppError('ALREADY_EXISTS', `a site named "${name}" already exists`, {
        fields: [{ field: 'name', message: `a site named "${name}" already exists` }],
      });
  }

  create(input: SiteInput, demo = false): SiteView {
    const secret = input.secret ?? {};
    const config = demo
      ? (input.config as Record<string, unknown>)
      : this.#validate(input.kind, input.config, secret);
    this.#assertNameFree(input.name);
    // IMMEDIATE: the write lock is taken before the secret is encrypted, so that a key rotation
    // running next to the console (which holds it) is finished, and its key file seen, first.
    const row = this.db.transaction(
      (tx) => {
        const site = tx
          .insert(sites)
          .values({ name: input.name, kind: input.kind, demo, config, secretId: null })
          .returning()
          .get();
        if (!secret.privateKey && !secret.keyring) return site;
        // The ciphertext is bound to the site's id, known once the site row exists.
        const secretId = tx
          .insert(secrets)
          .values({ ciphertext: this.keys.encrypt(JSON.stringify(secret), siteSecretAad(site.id)) })
          .returning({ id: secrets.id })
          .get().id;
        return tx.update(sites).set({ secretId }).where(eq(sites.id, site.id)).returning().get();
      },
      { behavior: 'immediate' },
    );
    return this.#view(row);
  }

  /** Updates settings; secrets not given are kept. A changed host or port unpins the host key. */
  update(id: number, input: { name?: string; config?: unknown; secret?: SiteSecret }): SiteView {
    const row = this.#row(id);
    if (row.demo)
      throw new AppError(
        'PRECONDITION_FAILED',
        'demo sites cannot be edited; remove the demo environment instead',
      );
    if (input.name && input.name !== row.name) this.#assertNameFree(input.name, id);
    // A secret that cannot be decrypted any more is replaced by what the admin enters now.
    const merged: SiteSecret = {
      ...this.#trySecret(row).secret,
      ...Object.fromEntries(Object.entries(input.secret ?? {}).filter(([, v]) => v)),
    };
    let config = row.config;
    if (input.config) {
      const next = { ...(input.config as Record<string, unknown>) };
      const prev = row.config as Record<string, unknown>;
      if (next.host === prev.host && next.port === prev.port && next.hostKeySha256 === undefined)
        next.hostKeySha256 = prev.hostKeySha256;
      config = this.#validate(row.kind, next, merged);
    }
    this.db.transaction(
      (tx) => {
        let secretId = row.secretId;
        if (input.secret && Object.values(input.secret).some(Boolean)) {
          const ciphertext = this.keys.encrypt(JSON.stringify(merged), siteSecretAad(id));
          if (secretId) tx.update(secrets).set({ ciphertext }).where(eq(secrets.id, secretId)).run();
          else secretId = tx.insert(secrets).values({ ciphertext }).returning({ id: secrets.id }).get().id;
        }
        tx.update(sites)
          .set({ name: input.name ?? row.name, config, secretId, updatedAt: new Date() })
          .where(eq(sites.id, id))
          .run();
      },
      { behavior: 'immediate' },
    );
    this.#syncKeyring(this.#row(id));
    return this.get(id);
  }

  /** The site's pasted keyring in data/run: written (0600) while the site uses one, removed otherwise. */
  #syncKeyring(row: SiteRow): void {
    const { secret } = row.demo ? { secret: {} as SiteSecret } : this.#trySecret(row);
    const local = row.kind === 'ceph' && (row.config as { access?: unknown }).access === 'local';
    if (local && secret.keyring) this.registry.writeKeyring(row.id, secret.keyring);
    else this.registry.forgetKeyring(row.id);
  }

  /**
   * At start: data/run holds exactly the keyrings of the sites that use a pasted one, each
   * written again with mode 0600; keyrings of sites that are gone are deleted.
   */
  rewriteKeyrings(): void {
    const keep = new Map<number, string>();
    for (const row of this.db.select().from(sites).where(eq(sites.demo, false)).all()) {
      const { secret } = this.#trySecret(row);
      if (row.kind === 'ceph' && (row.config as { access?: unknown }).access === 'local' && secret.keyring)
        keep.set(row.id, secret.keyring);
    }
    this.registry.resetKeyrings(keep);
  }

  remove(id: number, opts: { withReplicas?: boolean } = {}): SiteView {
    const row = this.#row(id);
    const view = this.#view(row);
    const refs = this.db
      .select({ id: replicas.id, name: replicas.name, vm: replicas.vmName })
      .from(replicas)
      .where(or(eq(replicas.sourceSiteId, id), eq(replicas.targetSiteId, id)))
      .all();
    if (refs.length && !opts.withReplicas) {
      throw new AppError(
        'PRECONDITION_FAILED',
        `${row.name} is used by ${refs.length} replica(s) (${refs.map((r) => `${r.vm} → ${r.name}`).join(', ')}); delete them first`,
      );
    }
    this.db.transaction((tx) => {
      if (refs.length)
        tx.delete(replicas)
          .where(or(eq(replicas.sourceSiteId, id), eq(replicas.targetSiteId, id)))
          .run();
      tx.delete(sites).where(eq(sites.id, id)).run();
      if (row.secretId) tx.delete(secrets).where(eq(secrets.id, row.secretId)).run();
    });
    this.registry.forgetKeyring(id);
    this.#adapters.delete(id);
    return view;
  }

  /** The host key fingerprint the site's SSH server presents now. */
  async presentedHostKey(id: number): Promise<{ presented: string; pinned: string | null }> {
    const spec = this.spec(id);
    if (this.#row(id).demo)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${spec.name} is simulated (demo): it has no SSH server and no host key`,
      );
    const c = spec.config as Record<string, unknown>;
    if (typeof c.host !== 'string')
      throw new AppError('PRECONDITION_FAILED', `site ${spec.name} is not reached over SSH`);
    const presented = await probeHostKey(c.host, Number(c.port));
    return { presented, pinned: (c.hostKeySha256 as string | null) ?? null };
  }

  /** Pins the fingerprint the admin confirmed, if the host still presents exactly that one. */
  async pinHostKey(id: number, fingerprint: string): Promise<SiteView> {
    const { presented } = await this.presentedHostKey(id);
    if (presented !== fingerprint) {
      throw new AppError(
        'HOST_KEY_MISMATCH',
        `the host now presents ${presented}, not the ${fingerprint} you confirmed; check again`,
      );
    }
    const row = this.#row(id);
    this.db
      .update(sites)
      .set({ config: { ...row.config, hostKeySha256: fingerprint }, updatedAt: new Date() })
      .where(eq(sites.id, id))
      .run();
    return this.get(id);
  }

  /** Runs the checks an admin needs to see, stopping at the first failure, each with its reason. */
  async testConnection(
    id: number,
    signal?: AbortSignal,
  ): Promise<{ ok: boolean; checks: ConnectionCheck[] }> {
    const checks: ConnectionCheck[] = [];
    const run = async (name: string, fn: () => Promise<string>) => {
      try {
        checks.push({ name, ok: true, message: await fn() });
        return true;
      } catch (e) {
        checks.push({ name, ok: false, message: errorMessage(e) });
        return false;
      }
    };
    let spec: SiteSpec;
    try {
      spec = this.spec(id);
    } catch (e) {
      if (!(e instanceof AppError && e.details?.secretUnreadable)) throw e;
      return { ok: false, checks: [{ name: 'Stored secret', ok: false, message: e.message }] };
    }
    const adapter = this.registry.forSite(spec);
    if (adapter.kind === 'node') {
      const ok = await run('SSH and shell', async () => {
        const p = await adapter.probe(signal);
        if (!p.zfsAvailable)
          throw new AppError(
            'COMMAND_FAILED',
            'connected, but `zpool list` failed: ZFS is missing or not permitted',
          );
        if (!p.hypervisorAvailable)
          throw new AppError(
            'COMMAND_FAILED',
            `connected, but the ${p.hypervisor} hypervisor CLI failed or is missing`,
          );
        return `connected to ${p.hostname}; zfs and ${p.hypervisor} answer`;
      });
      if (ok) {
        await run('ZFS pools', async () => {
          const pools = await adapter.zfs.listZpools();
          const want = spec.kind === 'node' ? spec.config.zpools : [];
          const missing = want.filter((z) => !pools.some((p) => p.name === z));
          if (missing.length)
            throw new AppError(
              'PRECONDITION_FAILED',
              `zpool(s) ${missing.join(', ')} not found; the node has ${pools.map((p) => p.name).join(', ') || 'none'}`,
            );
          return pools.map((p) => `${p.name} (${p.health})`).join(', ') || 'no pools';
        });
        await run('Hypervisor capacity', async () => {
          const c = await adapter.capacity();
          return `${c.cpus} vCPUs, ${Math.round(c.memoryMiB / 1024)} GiB RAM`;
        });
      }
    } else {
      const ok = await run('Cluster access', async () => {
        const p = await adapter.probe(signal);
        return `fsid ${p.fsid}, ${p.health}, ${p.version}`;
      });
      if (ok) {
        await run('RBD mirroring', async () => {
          const pools = await adapter.listMirrorPools();
          return pools.length ? pools.map((p) => `${p.pool}: ${p.mode}`).join(', ') : 'no RBD pools';
        });
      }
    }
    return { ok: checks.every((c) => c.ok), checks };
  }
}
