import { AppError } from '../../core/errors';
import { parseDomainXml, renderDomainXml, rewriteDomainXml } from '../node/domain-xml';
import { datasetForPath } from '../node/ssh-node';
import { knownHostsLine } from '../node/known-hosts';
import { classifyPullError, pullArgv } from '../node/transfer';
import { CommandError } from '../runner';
import type {
  DatasetInfo,
  HostPublicKey,
  NodeAdapter,
  NodeZfs,
  NodeCapacity,
  NodeProbe,
  PullOptions,
  RewriteOptions,
  SnapshotInfo,
  SnapshotsByDataset,
  StartOptions,
  StopOptions,
  TransferResult,
  VmDefinition,
  VmInfo,
  VmState,
  WrittenEstimate,
  ZpoolInfo,
} from '../node/types';
import {
  assertPropertyName,
  assertPropertyValue,
  assertSnapshotRef,
  assertUserProperty,
  READONLY_MIRROR,
} from '../node/zfs';
import { assertName, NAME_PATTERNS } from '../../core/names';
import { demoGuid, type DemoDataset, type DemoNode, type DemoSnapshot, type DemoWorld } from './world';

export class DemoNodeAdapter implements NodeAdapter, NodeZfs {
  readonly kind = 'node' as const;
  /** The simulated node is its own ZFS. */
  readonly zfs: NodeZfs = this;
  constructor(
    private readonly world: DemoWorld,
    readonly nodeName: string,
  ) {}

  #node(name = this.nodeName): DemoNode {
    const n = this.world.node(name);
    if (!n) throw new AppError('UNREACHABLE', `demo node ${name} does not exist in the simulation`);
    if (this.world.down.has(name))
      throw new AppError('UNREACHABLE', `demo node ${name} does not answer (powered off in the simulation)`);
    return n;
  }

  #ds(name: string, node = this.#node()): DemoDataset {
    assertName('zfsDataset', name, 'dataset');
    const d = node.datasets.find((x) => x.name === name);
    if (!d) throw new AppError('NOT_FOUND', `dataset ${name} does not exist on ${node.name}`);
    return d;
  }

  #under(root: string, node = this.#node()): DemoDataset[] {
    this.#ds(root, node);
    return node.datasets
      .filter((d) => d.name === root || d.name.startsWith(`${root}/`))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  #vm(name: string): VmInfo {
    assertName('vm', name, 'vm');
    const vm = this.#node().vms.find((v) => v.name === name);
    if (!vm) throw new AppError('NOT_FOUND', `VM ${name} is not defined on ${this.nodeName}`);
    return vm;
  }

  #info(d: DemoDataset): DatasetInfo {
    const free = this.world.zpools(this.#node()).find((p) => p.name === d.name.split('/')[0])?.freeBytes ?? 0;
    const children = this.#node().datasets.filter((c) => c.name.startsWith(`${d.name}/`));
    return {
      name: d.name,
      type: 'filesystem',
      usedBytes:
        this.world.datasetSelfBytes(d) + children.reduce((n, c) => n + this.world.datasetSelfBytes(c), 0),
      availableBytes: free,
      referencedBytes: d.referencedBytes,
      usedBySnapshotsBytes: d.snapshots.reduce((n, s) => n + s.usedBytes, 0),
      guid: d.guid,
      createTxg: String(d.createTxg),
      creation: d.creation,
      mountpoint: `/${d.name}`,
      mounted: true,
      readonly: d.readonly,
      origin: d.origin,
    };
  }

  #snap(d: DemoDataset, s: DemoSnapshot): SnapshotInfo {
    return {
      dataset: d.name,
      name: s.name,
      guid: s.guid,
      createTxg: String(s.createTxg),
      creation: s.creation,
      usedBytes: s.usedBytes,
      referencedBytes: s.referencedBytes,
    };
  }

  #datasetOfPath(path: string, kind: 'file' | 'zvol'): string | null {
    const ds = datasetForPath(
      path,
      kind,
      this.#node().datasets.map((d) => ({ name: d.name, mountpoint: `/${d.name}` })),
    );
    return ds;
  }

  async probe(signal?: AbortSignal): Promise<NodeProbe> {
    await this.world.delay(signal);
    return {
      hostname: this.#node().name,
      zfsAvailable: true,
      hypervisor: 'demo',
      hypervisorAvailable: true,
      pvAvailable: true,
    };
  }

  async capacity(): Promise<NodeCapacity> {
    await this.world.delay();
    const n = this.#node();
    return { cpus: n.cpus, memoryMiB: n.memoryMiB };
  }

  async listZpools(): Promise<ZpoolInfo[]> {
    await this.world.delay();
    return this.world.zpools(this.#node());
  }

  // ---------------------------------------------------------------- ZFS

  async listDatasets(root: string): Promise<DatasetInfo[]> {
    await this.world.delay();
    return this.#under(root).map((d) => this.#info(d));
  }

  async listSnapshots(root: string): Promise<SnapshotsByDataset> {
    await this.world.delay();
    const out: SnapshotsByDataset = {};
    for (const d of this.#under(root))
      if (d.snapshots.length) out[d.name] = d.snapshots.map((s) => this.#snap(d, s));
    return out;
  }

  async createSnapshots(
    datasets: string[],
    name: string,
    opts: { recursive?: boolean } = {},
  ): Promise<SnapshotInfo[]> {
    datasets.forEach((d) => assertSnapshotRef(d, name));
    await this.world.delay();
    const node = this.#node();
    const targets = datasets.flatMap((d) =>
      opts.recursive === false ? [this.#ds(d, node)] : this.#under(d, node),
    );
    const clash = targets.find((d) => d.snapshots.some((s) => s.name === name));
    if (clash)
      throw new AppError('CONFLICT', `snapshot ${clash.name}@${name} already exists on ${node.name}`);
    const created = new Map<DemoDataset, DemoSnapshot>();
    for (const d of targets) if (!created.has(d)) created.set(d, this.world.snapshotDataset(node, d, name));
    return datasets.map((n) => {
      const d = this.#ds(n, node);
      return this.#snap(d, created.get(d)!);
    });
  }

  async destroySnapshots(
    dataset: string,
    names: string[],
    opts: { recursive?: boolean } = {},
  ): Promise<void> {
    names.forEach((n) => assertSnapshotRef(dataset, n));
    await this.world.delay();
    const targets = opts.recursive ? this.#under(dataset) : [this.#ds(dataset)];
    for (const d of targets) {
      for (const n of names) {
        const i = d.snapshots.findIndex((s) => s.name === n);
        if (i < 0) continue;
        if (d.snapshots[i]!.holds?.length)
          throw new AppError(
            'COMMAND_FAILED',
            `cannot destroy '${d.name}@${n}': dataset is busy (held by ${d.snapshots[i]!.holds!.join(', ')})`,
          );
        const clone = this.#node().datasets.find((x) => x.origin === `${d.name}@${n}`);
        if (clone)
          throw new AppError(
            'COMMAND_FAILED',
            `cannot destroy '${d.name}@${n}': snapshot has dependent clones (${clone.name})`,
          );
        const [gone] = d.snapshots.splice(i, 1);
        // what it alone held goes; what it shared with its successor stays there
        const next = d.snapshots[i];
        if (gone && next) next.deltaBytes += gone.deltaBytes;
        else if (gone && i > 0) d.pendingBytes += gone.deltaBytes;
      }
    }
  }

  /** A dataset and the index of one of its snapshots, or NOT_FOUND. */
  #snapshotAt(dataset: string, snapshot: string) {
    const d = this.#ds(dataset);
    const i = d.snapshots.findIndex((s) => s.name === snapshot);
    if (i < 0)
      throw new AppError('NOT_FOUND', `snapshot ${dataset}@${snapshot} does not exist on ${this.nodeName}`);
    return { d, i };
  }

  async rollback(dataset: string, snapshot: string): Promise<void> {
    assertSnapshotRef(dataset, snapshot);
    await this.world.delay();
    const { d, i } = this.#snapshotAt(dataset, snapshot);
    const snap = d.snapshots[i]!;
    d.snapshots.splice(i + 1);
    d.referencedBytes = snap.referencedBytes;
    snap.usedBytes = 0;
    d.pendingBytes = 0;
    if (d.writingSince !== null) d.writingSince = this.world.clock.now();
  }

  async destroyDataset(dataset: string, opts: { recursive?: boolean } = {}): Promise<void> {
    assertName('zfsDataset', dataset, 'dataset');
    if (!dataset.includes('/')) throw AppError.invalid('dataset', 'refusing to destroy a pool root dataset');
    await this.world.delay();
    const node = this.#node();
    if (!node.datasets.some((d) => d.name === dataset)) return;
    const doomed = this.#under(dataset, node);
    if (opts.recursive === false && (doomed.length > 1 || doomed[0]!.snapshots.length > 0)) {
      throw new AppError('CONFLICT', `dataset ${dataset} has children or snapshots (destroy it recursively)`);
    }
    const dependent = node.datasets.find(
      (d) => d.origin && doomed.some((x) => d.origin!.startsWith(`${x.name}@`)) && !doomed.includes(d),
    );
    if (dependent) throw new AppError('CONFLICT', `dataset ${dataset} has dependent clone ${dependent.name}`);
    const held = doomed.flatMap((d) =>
      d.snapshots.filter((s) => s.holds?.length).map((s) => `${d.name}@${s.name}`),
    );
    if (held.length)
      throw new AppError('COMMAND_FAILED', `cannot destroy '${held[0]}': dataset is busy (held)`);
    node.datasets = node.datasets.filter((d) => !doomed.includes(d));
  }

  async renameDataset(from: string, to: string): Promise<void> {
    assertName('zfsDataset', to, 'to');
    await this.world.delay();
    const node = this.#node();
    const moving = this.#under(from, node);
    if (node.datasets.some((d) => d.name === to))
      throw new AppError('ALREADY_EXISTS', `dataset ${to} already exists on ${node.name}`);
    if (to.split('/')[0] !== from.split('/')[0])
      throw AppError.invalid('to', 'cannot rename to a different pool');
    for (const d of moving) d.name = to + d.name.slice(from.length);
  }

  /** The source snapshot of a clone or copy, with the checks both make. */
  async #fromSnapshot(dataset: string, snapshot: string, target: string) {
    assertSnapshotRef(dataset, snapshot);
    assertName('zfsDataset', target, 'target');
    await this.world.delay();
    const node = this.#node();
    const d = this.#ds(dataset, node);
    const s = d.snapshots.find((x) => x.name === snapshot);
    if (!s) throw new AppError('NOT_FOUND', `snapshot ${dataset}@${snapshot} does not exist on ${node.name}`);
    if (node.datasets.some((x) => x.name === target))
      throw new AppError('ALREADY_EXISTS', `dataset ${target} already exists on ${node.name}`);
    return { node, d, s };
  }

  async cloneSnapshot(dataset: string, snapshot: string, target: string): Promise<void> {
    const { node, d, s } = await this.#fromSnapshot(dataset, snapshot, target);
    node.datasets.push(
      this.world.newDataset(node, target, {
        referencedBytes: s.referencedBytes,
        capacityBytes: d.capacityBytes,
        origin: `${dataset}@${snapshot}`,
      }),
    );
  }

  async promoteDataset(dataset: string): Promise<void> {
    await this.world.delay();
    const node = this.#node();
    const clone = this.#ds(dataset, node);
    if (!clone.origin)
      throw new AppError('PRECONDITION_FAILED', `dataset ${dataset} on ${node.name} is not a clone`);
    const [originName, snapName] = clone.origin.split('@') as [string, string];
    const origin = this.#ds(originName, node);
    const i = origin.snapshots.findIndex((s) => s.name === snapName);
    if (i < 0) throw new AppError('NOT_FOUND', `origin snapshot ${clone.origin} is gone`);
    // the clone takes the snapshots up to the origin snapshot (guids unchanged) ...
    const taken = origin.snapshots.splice(0, i + 1);
    clone.snapshots = [...taken, ...clone.snapshots];
    // ... and clones of those snapshots now hang off the promoted dataset
    for (const d of node.datasets) {
      const at = d.origin?.split('@');
      if (d !== clone && at && at[0] === originName && taken.some((s) => s.name === at[1]))
        d.origin = `${dataset}@${at[1]}`;
    }
    origin.origin = `${dataset}@${snapName}`;
    clone.origin = null;
  }

  async setProperties(dataset: string, props: Record<string, string>): Promise<void> {
    const entries = Object.entries(props).map(
      ([k, v]) => [assertUserProperty(k), assertPropertyValue(v)] as const,
    );
    await this.world.delay();
    const d = this.#ds(dataset);
    for (const [k, v] of entries) d.props[k] = v;
  }

  async getProperties(dataset: string, names: string[]): Promise<Record<string, string | null>> {
    names.forEach(assertPropertyName);
    await this.world.delay();
    const d = this.#ds(dataset);
    const info = this.#info(d);
    const native: Record<string, string | null> = {
      type: info.type,
      used: String(info.usedBytes),
      available: String(info.availableBytes),
      referenced: String(info.referencedBytes),
      guid: info.guid,
      createtxg: info.createTxg,
      creation: String(info.creation),
      mountpoint: info.mountpoint,
      mounted: 'yes',
      readonly: d.readonly ? 'on' : 'off',
      origin: d.origin,
    };
    return Object.fromEntries(
      names.map((n) => [n, n in native ? (native[n] ?? null) : (d.props[n] ?? null)]),
    );
  }

  async setReadonly(dataset: string, readonly: boolean): Promise<void> {
    await this.world.delay();
    const d = this.#ds(dataset);
    d.readonly = readonly;
    d.props[READONLY_MIRROR] = readonly ? 'on' : 'off';
  }

  async getReadonly(dataset: string): Promise<boolean> {
    await this.world.delay();
    return this.#ds(dataset).readonly;
  }

  async estimateWritten(dataset: string, snapshot: string): Promise<WrittenEstimate> {
    assertSnapshotRef(dataset, snapshot);
    await this.world.delay();
    const { d, i } = this.#snapshotAt(dataset, snapshot);
    const later = d.snapshots.slice(i + 1).reduce((n, s) => n + s.deltaBytes, 0);
    const bytes = later + this.world.writtenSinceLatest(d);
    return { bytes, maxBytes: bytes, exact: true };
  }

  async changedSince(dataset: string, snapshot: string): Promise<{ changed: boolean; bytes: number }> {
    const e = await this.estimateWritten(dataset, snapshot);
    return { changed: e.bytes > 0, bytes: e.bytes };
  }

  async holdSnapshot(dataset: string, snapshot: string, tag: string): Promise<void> {
    assertSnapshotRef(dataset, snapshot);
    await this.world.delay();
    const s = this.#ds(dataset).snapshots.find((x) => x.name === snapshot);
    if (!s)
      throw new AppError('NOT_FOUND', `snapshot ${dataset}@${snapshot} does not exist on ${this.nodeName}`);
    s.holds = [...new Set([...(s.holds ?? []), tag])];
  }

  async releaseHolds(dataset: string, tag: string, except: string | null = null): Promise<string[]> {
    await this.world.delay();
    const out: string[] = [];
    for (const s of this.#ds(dataset).snapshots) {
      if (s.name === except || !s.holds?.includes(tag)) continue;
      s.holds = s.holds.filter((t) => t !== tag);
      out.push(s.name);
    }
    return out;
  }

  async copySnapshot(dataset: string, snapshot: string, target: string): Promise<void> {
    const { node, d, s } = await this.#fromSnapshot(dataset, snapshot, target);
    // A full receive: the snapshot keeps its guid, the copy is its own dataset.
    node.datasets.push(
      this.world.newDataset(node, target, {
        referencedBytes: s.referencedBytes,
        capacityBytes: d.capacityBytes,
        props: { ...d.props },
        snapshots: [{ ...s, usedBytes: 0, holds: [] }],
      }),
    );
  }

  async hostKey(): Promise<HostPublicKey> {
    await this.world.delay();
    return this.world.hostKey(this.#node().name);
  }

  async trustHostKey(alias: string, key: HostPublicKey): Promise<boolean> {
    const line = knownHostsLine(alias, key);
    await this.world.delay();
    const node = this.#node();
    if (node.knownHosts[alias] === line) return false;
    node.knownHosts[alias] = line;
    return true;
  }

  /**
   * Simulated `ssh source zfs send … | pv | zfs recv -F target`: the stream's size follows from
   * the snapshots' deltas, its progress from the world clock and the bandwidth limit (or the
   * simulated link speed). The target changes only when the stream completes; with
   * `source.hostKeyAlias`, only when the target's known_hosts entry is the source's key.
   */
  async pull(opts: PullOptions): Promise<TransferResult> {
    const argv = pullArgv(opts); // the same validation as a real pull
    await this.world.delay(opts.signal);
    const sourceName = opts.source.alias ?? opts.source.host;
    const src = this.world.node(sourceName);
    if (!src) throw new AppError('UNREACHABLE', `${this.nodeName} cannot reach ${sourceName} over SSH`);
    const target = this.#node();
    const alias = opts.source.hostKeyAlias;
    if (alias && target.knownHosts[alias] !== knownHostsLine(alias, this.world.hostKey(src.name))) {
      // what ssh with StrictHostKeyChecking=yes answers when the entry is missing or differs
      throw classifyPullError(
        new CommandError({
          argv,
          exitCode: 255,
          stderr: 'Host key verification failed.\n',
          target: `root@${target.name}:22`,
        }),
        opts,
      );
    }
    const sds = this.#ds(opts.sourceDataset, src);
    const toIdx = sds.snapshots.findIndex((s) => s.name === opts.toSnapshot);
    if (toIdx < 0)
      throw new AppError(
        'NOT_FOUND',
        `snapshot missing on the source: ${opts.sourceDataset}@${opts.toSnapshot}`,
      );
    const existing = target.datasets.find((d) => d.name === opts.targetDataset) ?? null;
    let fromIdx = -1;
    if (opts.fromSnapshot !== null) {
      fromIdx = sds.snapshots.findIndex((s) => s.name === opts.fromSnapshot);
      if (fromIdx < 0)
        throw new AppError(
          'NOT_FOUND',
          `snapshot missing on the source: ${opts.sourceDataset}@${opts.fromSnapshot}`,
        );
      if (fromIdx >= toIdx)
        throw AppError.invalid('fromSnapshot', `${opts.fromSnapshot} is not older than ${opts.toSnapshot}`);
      const guid = sds.snapshots[fromIdx]!.guid;
      if (!existing || !existing.snapshots.some((s) => s.guid === guid)) {
        throw new AppError(
          'CONFLICT',
          `the target ${opts.targetDataset} does not continue from ${opts.fromSnapshot}: most recent snapshot does not match incremental source`,
        );
      }
    } else if (existing && existing.snapshots.length > 0) {
      throw new AppError(
        'CONFLICT',
        `the target ${opts.targetDataset} does not continue from (full send): destination has snapshots`,
      );
    }
    if (
      this.world.transfers.some((t) => t.targetNode === target.name && t.targetDataset === opts.targetDataset)
    ) {
      throw new AppError(
        'CONFLICT',
        `${opts.targetDataset} on ${target.name} is already receiving a stream (dataset is busy)`,
      );
    }
    // A full `send -p` carries its one snapshot; `send -R` and `-I` every one up to it.
    const single = fromIdx < 0 && opts.recursive === false;
    const sent = single ? [sds.snapshots[toIdx]!] : sds.snapshots.slice(fromIdx + 1, toIdx + 1);
    const overhead = 2048 * sent.length;
    const total =
      (fromIdx < 0
        ? sds.snapshots[toIdx]!.referencedBytes + sent.slice(1).reduce((n, s) => n + s.deltaBytes, 0)
        : sent.reduce((n, s) => n + s.deltaBytes, 0)) + overhead;
    const tr = this.world.startTransfer({
      sourceNode: src.name,
      targetNode: target.name,
      sourceDataset: sds.name,
      targetDataset: opts.targetDataset,
      totalBytes: total,
      bytesPerSec: opts.bandwidthLimitBytesPerSec ?? this.world.linkBytesPerSec,
    });
    const started = this.world.clock.now();
    try {
      const cancelled = () =>
        new AppError('CANCELLED', `transfer to ${opts.targetDataset} on ${target.name} was cancelled`);
      for (;;) {
        if (opts.signal?.aborted) throw cancelled();
        tr.bytes = this.world.transferProgress(tr);
        opts.onProgress?.(tr.bytes);
        if (tr.bytes >= tr.totalBytes) break;
        // The world's clock: real time in the product, a test's ManualClock moves on by the wait.
        const step = this.world.transferStepMs((tr.totalBytes / tr.bytesPerSec) * 1000);
        await this.world.clock.sleep(step, opts.signal).catch((e: unknown) => {
          throw AppError.is(e, 'CANCELLED') ? cancelled() : e;
        });
      }
    } finally {
      this.world.endTransfer(tr);
    }
    // apply: the target ends at the source's state as of `to`
    const keep = opts.intermediates === false && fromIdx >= 0 ? [sds.snapshots[toIdx]!] : sent;
    const copies = keep.map((s) => ({ ...s, usedBytes: 0, holds: [] }));
    const to = sds.snapshots[toIdx]!;
    const received: Record<string, string> = { ...sds.props };
    delete received[READONLY_MIRROR];
    if (existing && fromIdx >= 0) {
      const base = existing.snapshots.findIndex((s) => s.guid === sds.snapshots[fromIdx]!.guid);
      existing.snapshots.splice(base + 1, existing.snapshots.length, ...copies);
      existing.referencedBytes = to.referencedBytes;
      existing.pendingBytes = 0;
      existing.props = { ...received, ...pickLocal(existing.props) };
    } else {
      if (existing) target.datasets = target.datasets.filter((d) => d !== existing);
      const fresh = this.world.newDataset(target, opts.targetDataset, {
        referencedBytes: to.referencedBytes,
        capacityBytes: sds.capacityBytes,
        props: { ...received, ...(existing ? pickLocal(existing.props) : {}) },
        readonly: existing?.readonly ?? false,
        snapshots: copies,
      });
      target.datasets.push(fresh);
    }
    return { bytes: tr.totalBytes, seconds: (this.world.clock.now() - started) / 1000 };
  }

  // ---------------------------------------------------------------- VMs

  async listVms(): Promise<VmInfo[]> {
    await this.world.delay();
    return structuredClone(this.#node().vms);
  }

  async getVm(name: string): Promise<VmInfo | null> {
    assertName('vm', name, 'vm');
    await this.world.delay();
    const vm = this.#node().vms.find((v) => v.name === name);
    return vm ? structuredClone(vm) : null;
  }

  async getVmState(name: string): Promise<VmState | null> {
    return (await this.getVm(name))?.state ?? null;
  }

  /** The demo network: a host name is the name of a demo VM; its ports answer while it runs on this node. */
  async checkTcp(host: string, port: number): Promise<{ open: boolean; detail: string }> {
    const vm = NAME_PATTERNS.vm.test(host) ? await this.getVm(host) : null;
    this.#node();
    const node = this.nodeName;
    if (vm?.state === 'running')
      return { open: true, detail: `${host}:${port} accepts connections from ${node}` };
    return {
      open: false,
      detail: `${host}:${port} from ${node}: ${vm ? `connection refused (the VM is ${vm.state})` : 'no route to host'}`,
    };
  }

  #setWriting(vm: VmInfo, writing: boolean): void {
    for (const d of vm.disks) {
      const ds = d.dataset ? this.#node().datasets.find((x) => x.name === d.dataset) : undefined;
      if (ds) this.world.setWriting(ds, writing);
    }
  }

  async startVm(name: string, opts: StartOptions = {}): Promise<void> {
    await this.world.delay();
    const vm = this.#vm(name);
    if (vm.state === 'running' || vm.state === 'paused') return;
    const missing = vm.disks.find(
      (d) => d.dataset === null || !this.#node().datasets.some((x) => x.name === d.dataset),
    );
    if (missing)
      throw new AppError(
        'COMMAND_FAILED',
        `VM ${name}: cannot open disk ${missing.path} on ${this.nodeName}`,
      );
    vm.state = opts.paused ? 'paused' : 'running';
    this.#setWriting(vm, vm.state === 'running');
  }

  async stopVm(name: string, _opts: StopOptions = {}): Promise<void> {
    await this.world.delay();
    const vm = this.#vm(name);
    if (vm.state === 'stopped') return;
    this.#setWriting(vm, false);
    vm.state = 'stopped';
  }

  pauseVm(name: string): Promise<void> {
    return this.#move(name, 'running', 'paused');
  }

  resumeVm(name: string): Promise<void> {
    return this.#move(name, 'paused', 'running');
  }

  /** Pause or resume: a VM in `from` moves to `to`, and its disks are written only while it runs. */
  async #move(name: string, from: 'running' | 'paused', to: 'running' | 'paused'): Promise<void> {
    await this.world.delay();
    const vm = this.#vm(name);
    if (vm.state !== from) throw new AppError('CONFLICT', `VM ${name} is ${vm.state}, not ${from}`);
    vm.state = to;
    this.#setWriting(vm, to === 'running');
  }

  async dumpVm(name: string): Promise<VmDefinition> {
    await this.world.delay();
    const vm = this.#vm(name);
    return {
      format: 'libvirt-xml',
      name: vm.name,
      text:
        this.#node().definitions[vm.name] ??
        renderDomainXml({ ...vm, nics: [{ mac: demoMac(vm.uuid), bridge: 'br0' }] }),
    };
  }

  rewriteVm(def: VmDefinition, opts: RewriteOptions): VmDefinition {
    return rewriteDomainXml(def, opts);
  }

  async defineVm(def: VmDefinition): Promise<string> {
    if (def.format !== 'libvirt-xml')
      throw AppError.invalid('format', `the demo hypervisor cannot define a ${def.format} definition`);
    const d = parseDomainXml(def.text);
    assertName('vm', d.name, 'vm');
    await this.world.delay();
    const node = this.#node();
    const existing = node.vms.find((v) => v.name === d.name);
    if (existing && d.uuid && existing.uuid !== d.uuid) {
      throw new AppError(
        'CONFLICT',
        `VM ${d.name} already exists on ${node.name} with uuid ${existing.uuid}`,
      );
    }
    // libvirt: "operation failed: domain 'x' is already defined with uuid …"
    const twin = d.uuid
      ? node.vms.find((v) => v.name !== d.name && v.uuid.toLowerCase() === d.uuid!.toLowerCase())
      : undefined;
    if (twin)
      throw new AppError(
        'CONFLICT',
        `VM ${twin.name} on ${node.name} already has uuid ${twin.uuid}: a VM defined beside it needs a uuid of its own`,
      );
    const uuid =
      d.uuid ?? existing?.uuid ?? demoUuid(demoGuid(`${node.name}/vm/${d.name}#${this.world.nextTxg(node)}`));
    const info: VmInfo = {
      name: d.name,
      uuid,
      state: existing?.state ?? 'stopped',
      vcpus: d.vcpus,
      memoryMiB: Math.floor(d.memoryKiB / 1024),
      disks: d.disks.map((k) => {
        const dataset = this.#datasetOfPath(k.path, k.kind);
        const ds = dataset ? node.datasets.find((x) => x.name === dataset) : undefined;
        return { device: k.device, path: k.path, kind: k.kind, dataset, sizeBytes: ds?.capacityBytes ?? 0 };
      }),
    };
    if (existing) Object.assign(existing, info);
    else node.vms.push(info);
    node.definitions[d.name] = def.text;
    return d.name;
  }

  async undefineVm(name: string): Promise<void> {
    assertName('vm', name, 'vm');
    await this.world.delay();
    const node = this.#node();
    const vm = node.vms.find((v) => v.name === name);
    if (!vm) return;
    if (vm.state !== 'stopped')
      throw new AppError(
        'CONFLICT',
        `VM ${name} on ${node.name} is ${vm.state}: stop it before removing its definition`,
      );
    node.vms = node.vms.filter((v) => v !== vm);
    delete node.definitions[name];
  }
}

/** Properties set locally on a receiving dataset survive a receive (as with zfs). */
function pickLocal(props: Record<string, string>): Record<string, string> {
  return READONLY_MIRROR in props ? { [READONLY_MIRROR]: props[READONLY_MIRROR]! } : {};
}

/** A stable locally administered MAC (libvirt's 52:54:00 prefix) for a demo VM. */
function demoMac(uuid: string): string {
  const h = demoGuid(`mac/${uuid}`);
  const b = BigInt(h).toString(16).padStart(16, '0');
  return `52:54:00:${b.slice(0, 2)}:${b.slice(2, 4)}:${b.slice(4, 6)}`;
}

function demoUuid(guid: string): string {
  const h = BigInt(guid).toString(16).padStart(16, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8000-${h.padEnd(12, '0').slice(0, 12)}`;
}
