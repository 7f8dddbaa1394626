import { z } from 'zod';
import type { CommandRunner } from '../runner';
import type { CephAdapter, CephProbe, PoolMirrorSummary } from './types';

export interface CephCliTarget {
  cluster: string;
  confPath: string | null;
  clientId: string;
  keyringPath: string | null;
}

/** Common arguments that point the `rbd`/`ceph` CLIs at one cluster. */
export function cephBaseArgs(t: CephCliTarget): string[] {
  const args = ['--cluster', t.cluster, '--id', t.clientId];
  if (t.confPath) args.push('-c', t.confPath);
  if (t.keyringPath) args.push('--keyring', t.keyringPath);
  return args;
}

const healthSchema = z.object({ status: z.string() }).passthrough();
const fsidSchema = z.object({ fsid: z.string() }).passthrough();
const versionSchema = z.object({ version: z.string() }).passthrough();

/** Drives `ceph` and `rbd` with `--format json` through a command runner. */
export class CephCliAdapter implements CephAdapter {
  readonly kind = 'ceph' as const;

  constructor(
    readonly runner: CommandRunner,
    readonly target: CephCliTarget,
  ) {}

  async json<T>(tool: 'ceph' | 'rbd', args: string[], schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    const res = await this.runner.run({ argv: [tool, ...cephBaseArgs(this.target), ...args, '--format', 'json'], signal, timeoutMs: 60_000 });
    return schema.parse(JSON.parse(res.stdout || 'null'));
  }

  async probe(signal?: AbortSignal): Promise<CephProbe> {
    const [fsid, health, version] = await Promise.all([
      this.json('ceph', ['fsid'], fsidSchema, signal),
      this.json('ceph', ['health'], healthSchema, signal),
      this.json('ceph', ['version'], versionSchema, signal),
    ]);
    return { fsid: fsid.fsid, health: health.status, version: version.version };
  }

  async listMirrorPools(): Promise<PoolMirrorSummary[]> {
    const pools = await this.json(
      'ceph',
      ['osd', 'pool', 'ls', 'detail'],
      z.array(z.object({ pool_name: z.string(), application_metadata: z.record(z.string(), z.unknown()).optional() }).passthrough()),
    );
    const rbdPools = pools.filter((p) => p.application_metadata && 'rbd' in p.application_metadata).map((p) => p.pool_name);
    return Promise.all(
      rbdPools.map(async (pool) => {
        const info = await this.json(
          'rbd',
          ['mirror', 'pool', 'info', pool],
          z.object({
            mode: z.enum(['disabled', 'image', 'pool']),
            site_name: z.string().optional(),
            peers: z.array(z.object({ uuid: z.string(), site_name: z.string(), direction: z.string().optional(), client_name: z.string() }).passthrough()).optional(),
          }).passthrough(),
        );
        let status: { health: string; daemon_health: string; image_health: string; states: Record<string, number> } = {
          health: 'UNKNOWN',
          daemon_health: 'UNKNOWN',
          image_health: 'UNKNOWN',
          states: {},
        };
        if (info.mode !== 'disabled') {
          const s = await this.json(
            'rbd',
            ['mirror', 'pool', 'status', pool],
            z.object({
              summary: z.object({
                health: z.string(),
                daemon_health: z.string(),
                image_health: z.string(),
                states: z.record(z.string(), z.number()).default({}),
              }).passthrough(),
            }).passthrough(),
          );
          status = s.summary;
        }
        return {
          pool,
          namespace: '',
          mode: info.mode,
          siteName: info.site_name ?? '',
          peers: (info.peers ?? []).map((p) => ({ uuid: p.uuid, siteName: p.site_name, direction: p.direction ?? 'rx-tx', clientName: p.client_name })),
          health: status.health,
          daemonHealth: status.daemon_health,
          imageHealth: status.image_health,
          states: status.states,
        };
      }),
    );
  }
}
