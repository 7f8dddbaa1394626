import { z } from 'zod';
import { AppError } from '../../core/errors';
import { assertName } from '../../core/names';
import { CommandError, type CommandRunner } from '../runner';
import { parseDomainXml, rewriteDomainXml } from './domain-xml';
import type { HypervisorDriver, HypervisorVm } from './hypervisor';
import type { NodeCapacity, RewriteOptions, StopOptions, VmDefinition, VmState } from './types';

const num = z.coerce.number().finite();

/** Parses `virsh nodeinfo`. */
export function parseNodeinfo(out: string): NodeCapacity {
  const get = (label: string) => new RegExp(`^${label}:\\s*(\\d+)`, 'm').exec(out)?.[1];
  const cpus = num.int().positive().parse(get('CPU\\(s\\)'));
  const memKiB = num.int().positive().parse(get('Memory size'));
  return { cpus, memoryMiB: Math.floor(memKiB / 1024) };
}

/** Maps `virsh domstate` text to a VM state. */
export function stateFromText(s: string): VmState {
  switch (s.trim().toLowerCase()) {
    case 'running':
    case 'idle':
    case 'blocked':
    case 'in shutdown':
      return 'running';
    case 'paused':
    case 'pmsuspended':
      return 'paused';
    case 'shut off':
      return 'stopped';
    default:
      return 'unknown';
  }
}

/** Maps domstats `state.state` (virDomainState) to a VM state. */
export function stateFromCode(code: number): VmState {
  switch (code) {
    case 1: // running
    case 2: // blocked
    case 4: // being shut down
      return 'running';
    case 3: // paused
    case 7: // pmsuspended
      return 'paused';
    case 5: // shut off
      return 'stopped';
    default: // 0 no state, 6 crashed
      return 'unknown';
  }
}

export interface DomStats {
  state: number | null;
  /** Block device (guest target, e.g. vda) → capacity in bytes, when libvirt knows it. */
  capacity: Record<string, number>;
}

/** Parses `virsh domstats --raw --state --block [names]`. */
export function parseDomstats(out: string): Map<string, DomStats> {
  const result = new Map<string, DomStats>();
  let cur: DomStats | null = null;
  const blockName: Record<string, string> = {};
  const blockCap: Record<string, number> = {};
  const flush = () => {
    if (!cur) return;
    for (const [i, dev] of Object.entries(blockName)) {
      const cap = blockCap[i];
      if (cap !== undefined) cur.capacity[dev] = cap;
    }
    for (const k of Object.keys(blockName)) delete blockName[k];
    for (const k of Object.keys(blockCap)) delete blockCap[k];
  };
  for (const raw of out.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const head = /^Domain: '(.*)'\s*$/.exec(line);
    if (head) {
      flush();
      cur = { state: null, capacity: {} };
      result.set(head[1]!, cur);
      continue;
    }
    if (!cur) continue;
    const kv = /^\s+([\w.]+)=(.*)$/.exec(line);
    if (!kv) continue;
    const [, key, value] = kv as unknown as [string, string, string];
    if (key === 'state.state') cur.state = Number(value);
    const b = /^block\.(\d+)\.(name|capacity)$/.exec(key);
    if (b) {
      if (b[2] === 'name') blockName[b[1]!] = value;
      else if (/^\d+$/.test(value)) blockCap[b[1]!] = Number(value);
    }
  }
  flush();
  return result;
}

/** Parses `virsh list --all --name` (one name per line). */
export function parseNameList(out: string): string[] {
  return out
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '');
}

const NOT_FOUND = /failed to get domain|Domain not found|no domain with matching/i;
const NOT_RUNNING = /domain is not running|not running/i;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** libvirt over `virsh -c <uri>` on the node. */
export class LibvirtDriver implements HypervisorDriver {
  readonly name = 'libvirt' as const;
  readonly definitionFormat = 'libvirt-xml' as const;

  constructor(
    readonly runner: CommandRunner,
    readonly uri = 'qemu:///system',
    /** How often stop() polls the state while waiting for a shutdown. */
    readonly pollMs = 500,
  ) {}

  #virsh(...args: string[]): string[] {
    return ['virsh', '-c', this.uri, ...args];
  }

  async #run(
    args: string[],
    opts: { stdin?: string; allowFailure?: boolean; signal?: AbortSignal; timeoutMs?: number } = {},
  ) {
    return this.runner.run({ argv: this.#virsh(...args), ...opts });
  }

  #notFound(name: string, e: unknown): unknown {
    if (e instanceof CommandError && NOT_FOUND.test(e.stderr)) {
      return new AppError('NOT_FOUND', `VM ${name} is not defined on ${this.runner.target}`, { cause: e });
    }
    return e;
  }

  async available(signal?: AbortSignal): Promise<boolean> {
    const r = await this.#run(['version'], { allowFailure: true, signal, timeoutMs: 15_000 });
    return r.exitCode === 0;
  }

  async capacity(): Promise<NodeCapacity> {
    return parseNodeinfo((await this.#run(['nodeinfo'])).stdout);
  }

  async state(name: string): Promise<VmState | null> {
    const r = await this.#run(['domstate', name], { allowFailure: true });
    if (r.exitCode !== 0) {
      if (NOT_FOUND.test(r.stderr)) return null;
      throw new CommandError({
        argv: this.#virsh('domstate', name),
        exitCode: r.exitCode,
        stderr: r.stderr,
        target: this.runner.target,
      });
    }
    return stateFromText(r.stdout.split('\n')[0] ?? '');
  }

  async #describe(name: string, stats: DomStats | undefined): Promise<HypervisorVm | null> {
    let xml: string;
    try {
      xml = (await this.#run(['dumpxml', name])).stdout;
    } catch (e) {
      if (e instanceof CommandError && NOT_FOUND.test(e.stderr)) return null; // undefined meanwhile
      throw e;
    }
    const d = parseDomainXml(xml);
    return {
      name: d.name,
      uuid: d.uuid ?? '',
      state: stats?.state != null ? stateFromCode(stats.state) : ((await this.state(name)) ?? 'unknown'),
      vcpus: d.vcpus,
      memoryMiB: Math.floor(d.memoryKiB / 1024),
      disks: d.disks.map((k) => ({ ...k, sizeBytes: stats?.capacity[k.device] ?? null })),
    };
  }

  async list(): Promise<HypervisorVm[]> {
    const names = parseNameList((await this.#run(['list', '--all', '--name'])).stdout);
    if (names.length === 0) return [];
    const stats = parseDomstats(
      (await this.#run(['domstats', '--raw', '--state', '--block'], { allowFailure: true })).stdout,
    );
    const out: HypervisorVm[] = [];
    // a few at a time: each is one SSH channel
    for (let i = 0; i < names.length; i += 4) {
      const chunk = await Promise.all(names.slice(i, i + 4).map((n) => this.#describe(n, stats.get(n))));
      for (const vm of chunk) if (vm) out.push(vm);
    }
    return out;
  }

  async get(name: string): Promise<HypervisorVm | null> {
    const r = await this.#run(['domstats', '--raw', '--state', '--block', name], { allowFailure: true });
    if (r.exitCode !== 0 && NOT_FOUND.test(r.stderr)) return null;
    return this.#describe(name, parseDomstats(r.stdout).get(name));
  }

  async start(name: string, opts: { paused: boolean }): Promise<void> {
    const st = await this.state(name);
    if (st === null) throw new AppError('NOT_FOUND', `VM ${name} is not defined on ${this.runner.target}`);
    if (st === 'running' || st === 'paused') return;
    await this.#run(['start', ...(opts.paused ? ['--paused'] : []), name]);
  }

  /** shutdown → wait → destroy; paused or unknown → destroy at once. */
  async stop(name: string, opts: StopOptions): Promise<void> {
    const st = await this.state(name);
    if (st === null) throw new AppError('NOT_FOUND', `VM ${name} is not defined on ${this.runner.target}`);
    if (st === 'stopped') return;
    if (st === 'running') {
      const r = await this.#run(['shutdown', name], { allowFailure: true });
      if (r.exitCode === 0) {
        const deadline = Date.now() + (opts.graceMs ?? 60_000);
        while (Date.now() < deadline) {
          await sleep(this.pollMs);
          if ((await this.state(name)) !== 'running') break;
        }
      }
    }
    if ((await this.state(name)) === 'stopped') return;
    const d = await this.#run(['destroy', name], { allowFailure: true });
    if (d.exitCode !== 0 && !NOT_RUNNING.test(d.stderr)) {
      throw new CommandError({
        argv: this.#virsh('destroy', name),
        exitCode: d.exitCode,
        stderr: d.stderr,
        target: this.runner.target,
      });
    }
    const after = await this.state(name);
    if (after !== 'stopped' && after !== null)
      throw new AppError(
        'COMMAND_FAILED',
        `VM ${name} on ${this.runner.target} is still ${after} after destroy`,
      );
  }

  async pause(name: string): Promise<void> {
    try {
      await this.#run(['suspend', name]);
    } catch (e) {
      throw this.#notFound(name, e);
    }
  }

  async resume(name: string): Promise<void> {
    try {
      await this.#run(['resume', name]);
    } catch (e) {
      throw this.#notFound(name, e);
    }
  }

  /**
   * The persistent definition WITH its secrets (console passwords): without --security-info
   * libvirt leaves them out, and a VM defined from it elsewhere would have none. Callers must
   * keep the text from the browser, logs and history (see stripDomainSecrets).
   */
  async dump(name: string): Promise<VmDefinition> {
    try {
      const text = (await this.#run(['dumpxml', '--inactive', '--security-info', name])).stdout;
      return { format: 'libvirt-xml', name, text };
    } catch (e) {
      throw this.#notFound(name, e);
    }
  }

  rewrite(def: VmDefinition, opts: RewriteOptions): VmDefinition {
    return rewriteDomainXml(def, opts);
  }

  async define(def: VmDefinition): Promise<string> {
    if (def.format !== 'libvirt-xml')
      throw AppError.invalid('format', `libvirt cannot define a ${def.format} definition`);
    const name = assertName('vm', parseDomainXml(def.text).name, 'vm');
    await this.#run(['define', '/dev/stdin'], { stdin: def.text });
    return name;
  }

  async undefine(name: string): Promise<void> {
    const st = await this.state(name);
    if (st === null) return;
    if (st !== 'stopped')
      throw new AppError(
        'CONFLICT',
        `VM ${name} on ${this.runner.target} is ${st}: stop it before removing its definition`,
      );
    await this.#run(['undefine', name]);
  }
}
