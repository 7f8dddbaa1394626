import fs from 'node:fs';
import path from 'node:path';
import type { CephConfig, NodeConfig, SiteSecret } from '../core/site-config';
import { DIR_MODE, FILE_MODE, writePrivateFileAtomic } from '../db/data-dir';
import { AppError } from '../core/errors';
import { CephCliAdapter } from './ceph/cli';
import { DemoNodeAdapter } from './demo/adapters';
import { DemoCephAdapter } from './demo/ceph';
import type { DemoWorld } from './demo/world';
import { LocalRunner } from './local-runner';
import { SshNodeAdapter } from './node/ssh-node';
import type { CommandRunner } from './runner';
import type { SshPool } from './ssh-runner';
import type { SiteAdapter } from './types';

export type SiteSpec =
  | { id: number; name: string; kind: 'node'; demo: boolean; config: NodeConfig; secret: SiteSecret }
  | { id: number; name: string; kind: 'ceph'; demo: boolean; config: CephConfig; secret: SiteSecret };

/** Builds the adapter for a registered site: real (local CLI or SSH) or demo. */
export class AdapterRegistry {
  readonly local = new LocalRunner();

  constructor(
    readonly ssh: SshPool,
    readonly demo: () => DemoWorld,
    /** Where keyrings pasted into Tandem are materialised (mode 0600) for the Ceph CLI. */
    private readonly runDir: string,
  ) {}

  runnerFor(spec: SiteSpec): CommandRunner {
    const c = spec.config;
    if (spec.kind === 'ceph' && spec.config.access === 'local') return this.local;
    if (!('host' in c)) throw new AppError('INTERNAL', `site ${spec.name} has no SSH settings`);
    if (!spec.secret.privateKey)
      throw new AppError('PRECONDITION_FAILED', `site ${spec.name} has no SSH private key`);
    return this.ssh.runner({
      host: c.host,
      port: c.port,
      username: c.user,
      privateKey: spec.secret.privateKey,
      hostKeySha256: c.hostKeySha256,
    });
  }

  forSite(spec: SiteSpec): SiteAdapter {
    if (spec.demo) {
      return spec.kind === 'node'
        ? new DemoNodeAdapter(this.demo(), spec.name)
        : new DemoCephAdapter(this.demo(), spec.name);
    }
    const runner = this.runnerFor(spec);
    if (spec.kind === 'node') return new SshNodeAdapter(runner, spec.config.hypervisor);
    const c = spec.config;
    let keyringPath = c.keyringPath;
    if (spec.secret.keyring) {
      if (c.access === 'ssh')
        throw new AppError(
          'INVALID_INPUT',
          'a pasted keyring is only used with local access; over SSH give the keyring path on the admin host',
        );
      keyringPath = this.#materialiseKeyring(spec.id, spec.secret.keyring);
    }
    return new CephCliAdapter(runner, {
      cluster: c.cluster,
      confPath: c.confPath,
      clientId: c.clientId,
      keyringPath,
    });
  }

  #keyringFile(siteId: number): string {
    return path.join(this.runDir, `site-${siteId}.keyring`);
  }

  #ensureRunDir(): void {
    fs.mkdirSync(this.runDir, { recursive: true, mode: DIR_MODE });
    if ((fs.statSync(this.runDir).mode & 0o777) !== DIR_MODE) fs.chmodSync(this.runDir, DIR_MODE);
  }

  #materialiseKeyring(siteId: number, keyring: string): string {
    const file = this.#keyringFile(siteId);
    let ok = false;
    try {
      ok = (fs.statSync(file).mode & 0o777) === FILE_MODE && fs.readFileSync(file, 'utf8') === keyring;
    } catch {
      ok = false;
    }
    if (!ok) this.writeKeyring(siteId, keyring);
    return file;
  }

  /** Writes a site's pasted keyring for the Ceph CLI (atomically, mode 0600). */
  writeKeyring(siteId: number, keyring: string): void {
    this.#ensureRunDir();
    writePrivateFileAtomic(this.#keyringFile(siteId), keyring);
  }

  /** Deletes a site's keyring file (site removed, keyring no longer used). */
  forgetKeyring(siteId: number): void {
    fs.rmSync(this.#keyringFile(siteId), { force: true });
  }

  /** Deletes every keyring file (and leftover temporary file) in the run directory, then writes those given. */
  resetKeyrings(keep: Map<number, string>): void {
    if (fs.existsSync(this.runDir)) {
      for (const name of fs.readdirSync(this.runDir)) {
        if (/^site-\d+\.keyring(\.tmp-.*)?$/.test(name))
          fs.rmSync(path.join(this.runDir, name), { force: true });
      }
    }
    for (const [siteId, keyring] of keep) this.writeKeyring(siteId, keyring);
  }
}
