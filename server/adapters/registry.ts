import fs from 'node:fs';
import path from 'node:path';
import type { CephConfig, NodeConfig, SiteSecret } from '../domain/site-config';
import { AppError } from '../domain/errors';
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
    if (!spec.secret.privateKey) throw new AppError('PRECONDITION_FAILED', `site ${spec.name} has no SSH private key`);
    return this.ssh.runner({ host: c.host, port: c.port, username: c.user, privateKey: spec.secret.privateKey, hostKeySha256: c.hostKeySha256 });
  }

  forSite(spec: SiteSpec): SiteAdapter {
    if (spec.demo) {
      return spec.kind === 'node' ? new DemoNodeAdapter(this.demo(), spec.name) : new DemoCephAdapter(this.demo(), spec.name);
    }
    const runner = this.runnerFor(spec);
    if (spec.kind === 'node') return new SshNodeAdapter(runner, spec.config.hypervisor);
    const c = spec.config;
    let keyringPath = c.keyringPath;
    if (spec.secret.keyring) {
      if (c.access === 'ssh') throw new AppError('INVALID_INPUT', 'a pasted keyring is only used with local access; over SSH give the keyring path on the admin host');
      keyringPath = this.#materialiseKeyring(spec.id, spec.secret.keyring);
    }
    return new CephCliAdapter(runner, { cluster: c.cluster, confPath: c.confPath, clientId: c.clientId, keyringPath });
  }

  #materialiseKeyring(siteId: number, keyring: string): string {
    fs.mkdirSync(this.runDir, { recursive: true, mode: 0o700 });
    const file = path.join(this.runDir, `site-${siteId}.keyring`);
    const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
    if (current !== keyring) fs.writeFileSync(file, keyring, { mode: 0o600 });
    return file;
  }
}
