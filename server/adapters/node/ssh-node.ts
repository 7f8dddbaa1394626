import { z } from 'zod';
import type { CommandRunner } from '../runner';
import type { NodeAdapter, NodeCapacity, NodeProbe, VmInfo, ZpoolInfo } from './types';

const num = z.coerce.number().finite();

/** Parses `zpool list -Hp -o name,size,alloc,free,health`. */
export function parseZpoolList(out: string): ZpoolInfo[] {
  return out
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      const [name, size, alloc, free, health] = l.split('\t');
      return {
        name: z.string().min(1).parse(name),
        sizeBytes: num.parse(size),
        allocBytes: num.parse(alloc),
        freeBytes: num.parse(free),
        health: z.string().parse(health ?? 'UNKNOWN'),
      };
    });
}

/** Parses `virsh nodeinfo`. */
export function parseNodeinfo(out: string): NodeCapacity {
  const get = (label: string) => new RegExp(`^${label}:\\s*(\\d+)`, 'm').exec(out)?.[1];
  const cpus = num.parse(get('CPU\\(s\\)'));
  const memKiB = num.parse(get('Memory size'));
  return { cpus, memoryMiB: Math.floor(memKiB / 1024) };
}

/**
 * A compute node over its command runner: zfs and a hypervisor CLI. The VM replica work
 * (datasets, snapshots, send/receive, domain lifecycle) builds on this class.
 */
export class SshNodeAdapter implements NodeAdapter {
  readonly kind = 'node' as const;

  constructor(
    readonly runner: CommandRunner,
    readonly hypervisor: 'libvirt' | 'vmadm' = 'libvirt',
  ) {}

  async probe(signal?: AbortSignal): Promise<NodeProbe> {
    const hostname = (await this.runner.run({ argv: ['hostname'], signal, timeoutMs: 15_000 })).stdout.trim();
    const zfs = await this.runner.run({ argv: ['zpool', 'list', '-H', '-o', 'name'], signal, allowFailure: true, timeoutMs: 15_000 });
    const hv = await this.runner.run({
      argv: this.hypervisor === 'libvirt' ? ['virsh', '-c', 'qemu:///system', 'version'] : ['vmadm', 'list', '-H', '-o', 'uuid'],
      signal,
      allowFailure: true,
      timeoutMs: 15_000,
    });
    return { hostname, zfsAvailable: zfs.exitCode === 0, hypervisor: this.hypervisor, hypervisorAvailable: hv.exitCode === 0 };
  }

  async capacity(): Promise<NodeCapacity> {
    return parseNodeinfo((await this.runner.run({ argv: ['virsh', '-c', 'qemu:///system', 'nodeinfo'] })).stdout);
  }

  async listZpools(): Promise<ZpoolInfo[]> {
    return parseZpoolList((await this.runner.run({ argv: ['zpool', 'list', '-Hp', '-o', 'name,size,alloc,free,health'] })).stdout);
  }

  async listVms(): Promise<VmInfo[]> {
    const out = (await this.runner.run({ argv: ['virsh', '-c', 'qemu:///system', 'list', '--all', '--name'] })).stdout;
    const names = out.split('\n').map((s) => s.trim()).filter(Boolean);
    return Promise.all(
      names.map(async (name) => {
        const info = (await this.runner.run({ argv: ['virsh', '-c', 'qemu:///system', 'dominfo', name] })).stdout;
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'm').exec(info)?.[1]?.trim() ?? '';
        const st = field('State');
        return {
          name,
          uuid: field('UUID'),
          state: st === 'running' ? 'running' : st === 'paused' ? 'paused' : st === 'shut off' ? 'stopped' : 'unknown',
          vcpus: Number(field('CPU\\(s\\)')) || 0,
          memoryMiB: Math.floor((Number(field('Max memory').split(' ')[0]) || 0) / 1024),
          disks: [],
        } satisfies VmInfo;
      }),
    );
  }
}
