import { AppError } from '../../core/errors';
import { assertName } from '../../core/names';
import type { CommandRunner } from '../runner';
import { UnsupportedDriver, type HypervisorDriver, type HypervisorVm } from './hypervisor';
import { parseHostKeyBlob, trustHostKey } from './known-hosts';
import { LibvirtDriver } from './libvirt';
import { runPull } from './transfer';
import type {
  HostPublicKey,
  NodeAdapter,
  NodeCapacity,
  NodeProbe,
  PullOptions,
  RewriteOptions,
  StartOptions,
  StopOptions,
  TransferResult,
  VmDefinition,
  VmDisk,
  VmInfo,
  VmState,
} from './types';
import { parseZfsGet, ZfsCli, type ZfsOptions } from './zfs';

/**
 * The dataset holding a disk: a zvol device names it (`/dev/zvol/pool/ds`, illumos
 * `/dev/zvol/[r]dsk/pool/ds`); an image file lives on the filesystem with the longest
 * mountpoint that contains it. Null when neither applies.
 */
export function datasetForPath(
  path: string,
  kind: 'file' | 'zvol',
  mounts: readonly { name: string; mountpoint: string }[],
): string | null {
  if (kind === 'zvol') {
    const m = /^\/dev\/zvol\/(?:r?dsk\/)?([^/].*)$/.exec(path);
    return m?.[1] ?? null;
  }
  let best: { name: string; mountpoint: string } | null = null;
  for (const m of mounts) {
    const mp = m.mountpoint.replace(/\/+$/, '') || '/';
    const inside = mp === '/' ? path.startsWith('/') : path.startsWith(mp + '/');
    if (inside && (!best || mp.length > best.mountpoint.length)) best = { name: m.name, mountpoint: mp };
  }
  return best?.name ?? null;
}

/** Parses `zfs get -H -o name,property,value type,mountpoint` into filesystem mountpoints. */
export function parseMountpoints(out: string): { name: string; mountpoint: string }[] {
  const result: { name: string; mountpoint: string }[] = [];
  for (const [name, props] of parseZfsGet(out)) {
    const mp = props.get('mountpoint');
    if (props.get('type') === 'filesystem' && mp && mp.startsWith('/')) result.push({ name, mountpoint: mp });
  }
  return result;
}

/**
 * A compute node over its command runner (SSH): ZFS commands, node-to-node pulls and a
 * hypervisor driver (libvirt here; SmartOS vmadm would sit beside it).
 */
export class SshNodeAdapter implements NodeAdapter {
  readonly kind = 'node' as const;
  readonly zfs: ZfsCli;
  readonly driver: HypervisorDriver;

  constructor(
    readonly runner: CommandRunner,
    readonly hypervisor: 'libvirt' | 'vmadm' = 'libvirt',
    opts: { zfs?: ZfsOptions; libvirtUri?: string; driver?: HypervisorDriver } = {},
  ) {
    this.zfs = new ZfsCli(runner, opts.zfs);
    this.driver =
      opts.driver ??
      (hypervisor === 'libvirt'
        ? new LibvirtDriver(runner, opts.libvirtUri)
        : new UnsupportedDriver(hypervisor));
  }

  async probe(signal?: AbortSignal): Promise<NodeProbe> {
    const hostname = (await this.runner.run({ argv: ['hostname'], signal, timeoutMs: 15_000 })).stdout.trim();
    const [zfs, hv, pv] = await Promise.all([
      this.runner.run({
        argv: ['zpool', 'list', '-H', '-o', 'name'],
        signal,
        allowFailure: true,
        timeoutMs: 15_000,
      }),
      this.driver.available(signal),
      this.runner.run({ argv: ['pv', '--version'], signal, allowFailure: true, timeoutMs: 15_000 }),
    ]);
    return {
      hostname,
      zfsAvailable: zfs.exitCode === 0,
      hypervisor: this.hypervisor,
      hypervisorAvailable: hv,
      pvAvailable: pv.exitCode === 0,
    };
  }

  async capacity(): Promise<NodeCapacity> {
    return this.driver.capacity();
  }

  async hostKey(): Promise<HostPublicKey> {
    if (!this.runner.hostKey)
      throw new AppError(
        'PRECONDITION_FAILED',
        `${this.runner.target} is not reached over SSH: it has no pinned host key`,
      );
    return parseHostKeyBlob(await this.runner.hostKey());
  }
  async trustHostKey(alias: string, key: HostPublicKey): Promise<boolean> {
    return trustHostKey(this.runner, alias, key);
  }
  async pull(opts: PullOptions): Promise<TransferResult> {
    return runPull(this.runner, opts);
  }

  // ---------------------------------------------------------------- hypervisor
  async #mounts(): Promise<{ name: string; mountpoint: string }[]> {
    const r = await this.runner.run({
      argv: ['zfs', 'get', '-H', '-o', 'name,property,value', 'type,mountpoint'],
      allowFailure: true,
    });
    return r.exitCode === 0 ? parseMountpoints(r.stdout) : [];
  }

  #withDatasets(vm: HypervisorVm, mounts: { name: string; mountpoint: string }[]): VmInfo {
    return {
      ...vm,
      disks: vm.disks.map((d): VmDisk => ({
        device: d.device,
        path: d.path,
        kind: d.kind,
        sizeBytes: d.sizeBytes ?? 0,
        dataset: datasetForPath(d.path, d.kind, mounts),
      })),
    };
  }

  async listVms(): Promise<VmInfo[]> {
    const [vms, mounts] = await Promise.all([this.driver.list(), this.#mounts()]);
    return vms.map((vm) => this.#withDatasets(vm, mounts));
  }

  async getVm(name: string): Promise<VmInfo | null> {
    assertName('vm', name, 'vm');
    const [vm, mounts] = await Promise.all([this.driver.get(name), this.#mounts()]);
    return vm ? this.#withDatasets(vm, mounts) : null;
  }

  async getVmState(name: string): Promise<VmState | null> {
    return this.driver.state(assertName('vm', name, 'vm'));
  }

  async checkTcp(host: string, port: number, timeoutMs: number): Promise<{ open: boolean; detail: string }> {
    assertName('host', host, 'host');
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw AppError.invalid('port', '1 to 65535');
    const secs = String(Math.max(1, Math.ceil(timeoutMs / 1000)));
    // bash's /dev/tcp: no netcat needed on the node. The script is constant; host and port are its arguments.
    const r = await this.runner.run({
      argv: ['timeout', secs, 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', host, String(port)],
      timeoutMs: timeoutMs + 5000,
      allowFailure: true,
    });
    if (r.exitCode === 0)
      return { open: true, detail: `${host}:${port} accepts connections from ${this.runner.target}` };
    const why =
      r.exitCode === 124
        ? `no answer within ${secs} s`
        : (r.stderr.trim().split('\n').pop()?.replace(/^.*: /, '') ?? `exit ${r.exitCode}`) ||
          `exit ${r.exitCode}`;
    return { open: false, detail: `${host}:${port} from ${this.runner.target}: ${why}` };
  }

  async startVm(name: string, opts: StartOptions = {}): Promise<void> {
    await this.driver.start(assertName('vm', name, 'vm'), { paused: !!opts.paused });
  }

  async stopVm(name: string, opts: StopOptions = {}): Promise<void> {
    return this.driver.stop(assertName('vm', name, 'vm'), opts);
  }
  async pauseVm(name: string): Promise<void> {
    return this.driver.pause(assertName('vm', name, 'vm'));
  }
  async resumeVm(name: string): Promise<void> {
    return this.driver.resume(assertName('vm', name, 'vm'));
  }
  async dumpVm(name: string): Promise<VmDefinition> {
    return this.driver.dump(assertName('vm', name, 'vm'));
  }
  rewriteVm(def: VmDefinition, opts: RewriteOptions): VmDefinition {
    return this.driver.rewrite(def, opts);
  }
  async defineVm(def: VmDefinition): Promise<string> {
    return this.driver.define(def);
  }
  async undefineVm(name: string): Promise<void> {
    return this.driver.undefine(assertName('vm', name, 'vm'));
  }
}
