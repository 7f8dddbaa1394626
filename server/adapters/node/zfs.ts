import { z } from 'zod';
import { AppError } from '../../core/errors';
import { batchError, runBatch } from '../batch';
import { assertName } from '../../core/names';
import { CommandError, type CommandRunner } from '../runner';
import type {
  DatasetInfo,
  NodeZfs,
  SnapshotInfo,
  SnapshotsByDataset,
  WrittenEstimate,
  ZpoolInfo,
} from './types';

/*
 * ZFS over a command runner, inside the subset zfs-fuse and OpenZFS share:
 *  - numbers come from `zfs get -H -p -o name,property,value` (zfs-fuse has no `zfs list -p`,
 *    no `zpool list -p`, and `zfs get` there has no `-t`: one `zfs get -r` returns datasets
 *    and snapshots, told apart by the `type` property);
 *  - guids are read as exact decimal strings (never through `zfs list`, which rounds them);
 *  - zfs-fuse's `zfs snapshot` takes one argument and `zfs set` one property per call;
 *  - `zfs get readonly` lies while mounted on zfs-fuse, so read-only state is mirrored in
 *    the user property `tandem:readonly`.
 */

export const READONLY_MIRROR = 'tandem:readonly';
/** Never set: `zfs inherit` of it only forces a txg sync (see ZfsCli.syncTxg). */
export const TXG_SYNC_PROP = 'tandem:txg-sync';

/** Properties read per dataset or snapshot by listDatasets/listSnapshots. */
export const DATASET_PROPS = [
  'type',
  'used',
  'available',
  'referenced',
  'usedbysnapshots',
  'guid',
  'createtxg',
  'creation',
  'mountpoint',
  'mounted',
  'readonly',
  'origin',
  READONLY_MIRROR,
] as const;

/** `tandem:` user property names (what setProperties accepts). */
const USER_PROP = /^tandem:[a-z0-9][a-z0-9_.:-]{0,200}$/;
/** Any property name getProperties accepts: native (`used`) or user (`module:name`). */
const ANY_PROP = /^(?:[a-z][a-z0-9_]{0,63}|[a-z0-9_.-]{1,64}:[a-z0-9_.:-]{1,200})$/i;

export function assertUserProperty(name: string): string {
  if (!USER_PROP.test(name))
    throw AppError.invalid('property', `${JSON.stringify(name)} is not a tandem:* user property name`);
  return name;
}

export function assertPropertyName(name: string): string {
  if (!ANY_PROP.test(name))
    throw AppError.invalid('property', `${JSON.stringify(name)} is not a valid ZFS property name`);
  return name;
}

/** User property values end up in tab-separated `zfs get -H` output: no control characters. */
export function assertPropertyValue(value: string): string {
  if (value.length > 1024 || /[\x00-\x1f\x7f]/.test(value)) {
    throw AppError.invalid('value', 'property values are at most 1024 characters without control characters');
  }
  return value;
}

export function assertSnapshotRef(dataset: string, snapshot: string): string {
  return `${assertName('zfsDataset', dataset, 'dataset')}@${assertName('zfsSnapshot', snapshot, 'snapshot')}`;
}

// ---------------------------------------------------------------- parsers (pure)

/**
 * Parses `zfs get -H -p -o name,property,value …` into name → property → value, keeping the
 * order names first appear in. The value is everything after the second tab.
 */
export function parseZfsGet(out: string): Map<string, Map<string, string>> {
  const byName = new Map<string, Map<string, string>>();
  for (const raw of out.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (!line.trim()) continue;
    const a = line.indexOf('\t');
    const b = a < 0 ? -1 : line.indexOf('\t', a + 1);
    if (a <= 0 || b < 0)
      throw new AppError('INTERNAL', `unexpected zfs get output line: ${JSON.stringify(line.slice(0, 200))}`);
    const name = line.slice(0, a);
    const prop = line.slice(a + 1, b);
    const value = line.slice(b + 1);
    let props = byName.get(name);
    if (!props) byName.set(name, (props = new Map()));
    props.set(prop, value);
  }
  return byName;
}

const bytes = z.string().regex(/^\d+$/, 'expected exact bytes (zfs get -p)').transform(Number);
const bigDigits = z.string().regex(/^\d+$/, 'expected a decimal number');
const dash = (v: string) => (v === '-' || v === '' ? null : v);

const datasetProps = z.object({
  type: z.enum(['filesystem', 'volume']),
  used: bytes,
  available: bytes,
  referenced: bytes,
  usedbysnapshots: bytes.optional(),
  guid: bigDigits,
  createtxg: bigDigits,
  creation: bytes,
  mountpoint: z.string().default('-'),
  mounted: z.string().default('-'),
  readonly: z.string().default('-'),
  origin: z.string().default('-'),
  [READONLY_MIRROR]: z.string().default('-'),
});

const snapshotProps = z.object({
  type: z.literal('snapshot'),
  used: bytes,
  referenced: bytes,
  guid: bigDigits,
  createtxg: bigDigits,
  creation: bytes,
});

function onOff(v: string | null): boolean | null {
  return v === 'on' ? true : v === 'off' ? false : null;
}

/** Effective read-only flag: the mirror property when set, else the native property. */
export function effectiveReadonly(readonlyProp: string | null, mirror: string | null): boolean {
  return onOff(mirror) ?? onOff(readonlyProp) ?? false;
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    throw new AppError(
      'INTERNAL',
      `cannot read zfs output for ${what}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return r.data;
}

/** Splits `pool/fs@snap` into its dataset and snapshot name. */
export function splitSnapshotName(full: string): { dataset: string; name: string } {
  const at = full.indexOf('@');
  if (at <= 0) throw new AppError('INTERNAL', `not a snapshot name: ${full}`);
  return { dataset: full.slice(0, at), name: full.slice(at + 1) };
}

export function compareTxg(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function sortSnapshots(list: SnapshotInfo[]): SnapshotInfo[] {
  return list.sort(
    (a, b) => compareTxg(a.createTxg, b.createTxg) || a.creation - b.creation || a.name.localeCompare(b.name),
  );
}

/**
 * Parses `zfs get -H -p -o name,property,value <DATASET_PROPS> -r ROOT` (datasets and
 * snapshots mixed, as zfs-fuse prints them) into datasets and snapshots grouped by dataset.
 */
export function parseDatasetTree(out: string): { datasets: DatasetInfo[]; snapshots: SnapshotsByDataset } {
  const datasets: DatasetInfo[] = [];
  const snapshots: SnapshotsByDataset = {};
  for (const [name, props] of parseZfsGet(out)) {
    const obj = Object.fromEntries(props);
    if (obj.type === 'snapshot') {
      const p = parseOrThrow(snapshotProps, obj, name);
      const { dataset, name: short } = splitSnapshotName(name);
      (snapshots[dataset] ??= []).push({
        dataset,
        name: short,
        guid: p.guid,
        createTxg: p.createtxg,
        creation: p.creation,
        usedBytes: p.used,
        referencedBytes: p.referenced,
      });
      continue;
    }
    const p = parseOrThrow(datasetProps, obj, name);
    const mp = dash(p.mountpoint);
    datasets.push({
      name,
      type: p.type,
      usedBytes: p.used,
      availableBytes: p.available,
      referencedBytes: p.referenced,
      usedBySnapshotsBytes: p.usedbysnapshots ?? 0,
      guid: p.guid,
      createTxg: p.createtxg,
      creation: p.creation,
      mountpoint: p.type === 'filesystem' && mp && mp.startsWith('/') ? mp : null,
      mounted: p.mounted === 'yes',
      readonly: effectiveReadonly(dash(p.readonly), dash(p[READONLY_MIRROR])),
      origin: dash(p.origin),
    });
  }
  for (const list of Object.values(snapshots)) sortSnapshots(list);
  return { datasets, snapshots };
}

/** Parses `zpool list -H -o name,health`. */
export function parsePoolHealth(out: string): { name: string; health: string }[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => {
      const [name, health] = l.split('\t');
      return { name: z.string().min(1).parse(name), health: health?.trim() || 'UNKNOWN' };
    });
}

/** Combines pool health with the root datasets' exact `used`/`available`. */
export function zpoolsFrom(
  health: { name: string; health: string }[],
  rootProps: Map<string, Map<string, string>>,
): ZpoolInfo[] {
  return health.map(({ name, health: h }) => {
    const p = rootProps.get(name);
    const used = bytes.safeParse(p?.get('used'));
    const avail = bytes.safeParse(p?.get('available'));
    const alloc = used.success ? used.data : 0;
    const free = avail.success ? avail.data : 0;
    return { name, sizeBytes: alloc + free, allocBytes: alloc, freeBytes: free, health: h };
  });
}

/**
 * The most recent snapshot both sides have, matched by guid (names can be reused; guids
 * identify the same snapshot across send/receive). Null when there is none: a full send is needed.
 */
export function latestCommonSnapshot(
  source: readonly SnapshotInfo[],
  target: readonly SnapshotInfo[],
): { source: SnapshotInfo; target: SnapshotInfo } | null {
  const byGuid = new Map(target.map((s) => [s.guid, s]));
  let best: { source: SnapshotInfo; target: SnapshotInfo } | null = null;
  for (const s of source) {
    const t = byGuid.get(s.guid);
    if (!t) continue;
    if (!best || compareTxg(s.createTxg, best.source.createTxg) > 0) best = { source: s, target: t };
  }
  return best;
}

/** Snapshots of `list` created after `snap` (on the target: what `recv -F` would destroy). */
export function snapshotsAfter(list: readonly SnapshotInfo[], snap: SnapshotInfo): SnapshotInfo[] {
  return list.filter((s) => compareTxg(s.createTxg, snap.createTxg) > 0);
}

/**
 * zfs-fuse has no `written` property. What an incremental send from `since` carries is
 *
 *     referenced(now) − referenced(since) + F,   F = blocks of `since` freed (overwritten) later.
 *
 * F is not reported directly, so it is bounded from the space the snapshots hold:
 *  - `since` is the dataset's oldest snapshot (the state replication keeps on the source once
 *    older snapshots are pruned): F ≤ usedbysnapshots, and equal to it unless data written after
 *    `since` was itself overwritten while later snapshots held it. This value is returned.
 *  - otherwise the estimate is Σ used(s) for `since` and every later snapshot: a block
 *    overwritten after `since` that an OLDER snapshot also holds counts in no snapshot's `used`,
 *    so this is a lower bound; `maxBytes` (with usedbysnapshots) is an upper bound.
 * Stream headers add a few KiB per snapshot.
 */
export function estimateWrittenSince(
  dataset: DatasetInfo,
  snapshots: readonly SnapshotInfo[],
  since: string,
): { bytes: number; maxBytes: number } {
  const base = snapshots.find((s) => s.name === since);
  if (!base) throw new AppError('NOT_FOUND', `snapshot ${dataset.name}@${since} does not exist`);
  const growth = Math.max(0, dataset.referencedBytes - base.referencedBytes);
  const later = snapshots.filter((s) => compareTxg(s.createTxg, base.createTxg) >= 0);
  const held = later.reduce((n, s) => n + s.usedBytes, 0);
  const all = Math.max(dataset.usedBySnapshotsBytes, held);
  const oldest = later.length === snapshots.length;
  return { bytes: growth + (oldest ? all : held), maxBytes: growth + all };
}

/** The data an incremental stream carries, from `zstreamdump`'s summary. */
export function parseStreamDump(out: string): { changed: boolean; bytes: number } {
  const m = /Total write size = (\d+)/.exec(out);
  if (!m)
    throw new AppError(
      'COMMAND_FAILED',
      `zstreamdump printed no "Total write size" line: ${out.slice(-300)}`,
    );
  const bytes = Number(m[1]);
  return { changed: bytes > 0, bytes };
}

// ---------------------------------------------------------------- errors

const MISSING = /dataset does not exist|could not find any snapshots|no such pool|does not exist/i;
const BUSY = /dataset is busy|pool or dataset is busy|device busy/i;

/** Maps a failed zfs command to NOT_FOUND when the dataset is missing. */
export function zfsError(e: unknown, what: string): unknown {
  if (e instanceof CommandError && MISSING.test(e.stderr)) {
    return new AppError('NOT_FOUND', `${what} does not exist on ${e.target}`, {
      cause: e,
      details: e.details,
    });
  }
  if (e instanceof CommandError && /has dependent clones|has children|already exists/i.test(e.stderr)) {
    const why = e.stderr.split('\n').find((l) => l.trim()) ?? '';
    return new AppError(
      /already exists/i.test(e.stderr) ? 'ALREADY_EXISTS' : 'CONFLICT',
      `${what} on ${e.target}: ${why.trim()}`,
      { cause: e, details: e.details },
    );
  }
  return e;
}

export function isBusy(e: unknown): boolean {
  return e instanceof CommandError && BUSY.test(e.stderr);
}

export function isMissing(e: unknown): boolean {
  return (e instanceof CommandError && MISSING.test(e.stderr)) || AppError.is(e, 'NOT_FOUND');
}

// ---------------------------------------------------------------- commands

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface ZfsOptions {
  /** Attempts for commands that fail with "dataset is busy" (zfs-fuse, right after a receive). */
  busyAttempts?: number;
  busyDelayMs?: number;
}

/** ZFS commands on one node. */
export class ZfsCli implements NodeZfs {
  /** Learned on first use: whether `zfs snapshot` takes several datasets (OpenZFS: atomic). */
  #multiSnapshot: boolean | null = null;
  /** Learned on first use: whether the `written@snap` property exists. */
  #writtenProp: boolean | null = null;
  readonly #busyAttempts: number;
  readonly #busyDelayMs: number;

  constructor(
    readonly runner: CommandRunner,
    opts: ZfsOptions = {},
  ) {
    this.#busyAttempts = opts.busyAttempts ?? 6;
    this.#busyDelayMs = opts.busyDelayMs ?? 500;
  }

  async #run(
    argv: string[],
    what: string,
    opts: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    try {
      return (await this.runner.run({ argv, ...opts })).stdout;
    } catch (e) {
      throw zfsError(e, what);
    }
  }

  /** Runs a command again while it fails with "dataset is busy". */
  async #retryBusy(argv: string[], what: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.runner.run({ argv });
        return;
      } catch (e) {
        if (!isBusy(e) || attempt >= this.#busyAttempts)
          throw isBusy(e) ? await this.#explainBusy(e as CommandError, what) : zfsError(e, what);
        await sleep(this.#busyDelayMs * attempt);
      }
    }
  }

  /** A snapshot that stays busy is usually held: say so (holds are not listable on zfs-fuse). */
  async #explainBusy(e: CommandError, what: string): Promise<unknown> {
    const snap =
      /cannot (?:destroy|rename|rollback)[^']*'([^']+@[^']+)'/.exec(e.stderr)?.[1] ??
      e.argv.find((a) => a.includes('@'));
    if (!snap || !/^[A-Za-z0-9][A-Za-z0-9_.:/-]*@[A-Za-z0-9][A-Za-z0-9_.:-]*$/.test(snap)) return e;
    const r = await this.runner.run({
      argv: ['zfs', 'get', '-H', '-p', '-o', 'value', 'userrefs', snap],
      allowFailure: true,
    });
    const holds = Number(r.stdout.trim());
    if (r.exitCode !== 0 || !(holds > 0)) return e;
    return new AppError(
      'CONFLICT',
      `${what}: snapshot ${snap} on ${e.target} has ${holds} hold(s). A zfs send that was killed can leave a temporary hold ` +
        `".send-<pid>-0" (zfs-fuse lists them only in \`zdb -dddd <pool>\`, object tmp_userrefs); release it with \`zfs release\` or re-import the pool.`,
      { cause: e, details: { ...e.details, snapshot: snap, holds } },
    );
  }

  async tree(root: string): Promise<{ datasets: DatasetInfo[]; snapshots: SnapshotsByDataset }> {
    assertName('zfsDataset', root, 'dataset');
    const out = await this.#run(
      ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', DATASET_PROPS.join(','), '-r', root],
      `dataset ${root}`,
    );
    return parseDatasetTree(out);
  }

  async listDatasets(root: string): Promise<DatasetInfo[]> {
    return (await this.tree(root)).datasets;
  }

  async listSnapshots(root: string): Promise<SnapshotsByDataset> {
    return (await this.tree(root)).snapshots;
  }

  async listZpools(): Promise<ZpoolInfo[]> {
    const health = parsePoolHealth(
      (await this.runner.run({ argv: ['zpool', 'list', '-H', '-o', 'name,health'] })).stdout,
    );
    if (health.length === 0) return [];
    for (const p of health) assertName('zfsComponent', p.name, 'zpool');
    const out = await this.#run(
      ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', 'used,available', ...health.map((p) => p.name)],
      'pool root datasets',
    );
    return zpoolsFrom(health, parseZfsGet(out));
  }

  async createSnapshots(
    datasets: string[],
    name: string,
    opts: { recursive?: boolean } = {},
  ): Promise<SnapshotInfo[]> {
    if (datasets.length === 0) return [];
    const refs = datasets.map((d) => assertSnapshotRef(d, name));
    if (new Set(refs).size !== refs.length) throw AppError.invalid('datasets', 'a dataset is listed twice');
    const flags = opts.recursive === false ? [] : ['-r'];
    if (refs.length === 1 || this.#multiSnapshot === false) {
      for (const ref of refs) await this.#run(['zfs', 'snapshot', ...flags, ref], ref);
    } else {
      const r = await this.runner.run({ argv: ['zfs', 'snapshot', ...flags, ...refs], allowFailure: true });
      if (r.exitCode === 0) this.#multiSnapshot = true;
      else if (/too many arguments|usage:/i.test(r.stderr)) {
        // zfs-fuse: one snapshot argument per call (not atomic across datasets).
        this.#multiSnapshot = false;
        for (const ref of refs) await this.#run(['zfs', 'snapshot', ...flags, ref], ref);
      } else {
        throw zfsError(
          new CommandError({
            argv: ['zfs', 'snapshot', ...flags, ...refs],
            exitCode: r.exitCode,
            stderr: r.stderr,
            target: this.runner.target,
          }),
          refs.join(', '),
        );
      }
    }
    const out = await this.#run(
      [
        'zfs',
        'get',
        '-H',
        '-p',
        '-o',
        'name,property,value',
        'type,used,referenced,guid,createtxg,creation',
        ...refs,
      ],
      refs.join(', '),
    );
    return Object.values(parseDatasetTree(out).snapshots).flat();
  }

  async destroySnapshots(
    dataset: string,
    names: string[],
    opts: { recursive?: boolean } = {},
  ): Promise<void> {
    const refs = names.map((n) => assertSnapshotRef(dataset, n));
    const argv = (ref: string) => ['zfs', 'destroy', ...(opts.recursive ? ['-r'] : []), ref];
    // One round trip for all of them; only those that were busy are tried again one by one.
    let retry = refs;
    if (refs.length > 1) {
      const results = await runBatch(this.runner, refs.map(argv));
      retry = [];
      results.forEach((r, i) => {
        if (r.exitCode === 0) return;
        const e = batchError(r, this.runner.target);
        if (isBusy(e)) retry.push(refs[i]!);
        else if (!isMissing(e)) throw zfsError(e, refs[i]!);
      });
    }
    for (const ref of retry) {
      try {
        await this.#retryBusy(argv(ref), ref);
      } catch (e) {
        if (!isMissing(e)) throw e;
      }
    }
  }

  async rollback(dataset: string, snapshot: string): Promise<void> {
    const ref = assertSnapshotRef(dataset, snapshot);
    await this.#retryBusy(['zfs', 'rollback', '-r', ref], ref);
  }

  async destroyDataset(dataset: string, opts: { recursive?: boolean } = {}): Promise<void> {
    assertName('zfsDataset', dataset, 'dataset');
    if (!dataset.includes('/')) throw AppError.invalid('dataset', 'refusing to destroy a pool root dataset');
    try {
      await this.#retryBusy(
        ['zfs', 'destroy', ...(opts.recursive === false ? [] : ['-r']), dataset],
        `dataset ${dataset}`,
      );
    } catch (e) {
      if (!isMissing(e)) throw e;
    }
  }

  /**
   * zfs-fuse cannot rename a mounted filesystem ("dataset is busy", persistently): unmount,
   * rename, and mount again what was mounted.
   */
  async renameDataset(from: string, to: string): Promise<void> {
    assertName('zfsDataset', from, 'from');
    assertName('zfsDataset', to, 'to');
    const r = await this.runner.run({ argv: ['zfs', 'rename', from, to], allowFailure: true });
    if (r.exitCode === 0) return;
    const failed = new CommandError({
      argv: ['zfs', 'rename', from, to],
      exitCode: r.exitCode,
      stderr: r.stderr,
      target: this.runner.target,
    });
    if (!isBusy(failed)) throw zfsError(failed, `dataset ${from}`);
    const mounted = (await this.listDatasets(from)).filter((d) => d.mounted).map((d) => d.name);
    await this.#retryBusy(['zfs', 'unmount', from], `dataset ${from}`);
    await this.#retryBusy(['zfs', 'rename', from, to], `dataset ${from}`);
    // parents before children
    for (const name of mounted.sort())
      await this.#run(['zfs', 'mount', to + name.slice(from.length)], `dataset ${to}`);
  }

  async cloneSnapshot(dataset: string, snapshot: string, target: string): Promise<void> {
    const ref = assertSnapshotRef(dataset, snapshot);
    assertName('zfsDataset', target, 'target');
    await this.#run(['zfs', 'clone', ref, target], ref);
  }

  async promoteDataset(dataset: string): Promise<void> {
    assertName('zfsDataset', dataset, 'dataset');
    try {
      await this.#retryBusy(['zfs', 'promote', dataset], `dataset ${dataset}`);
    } catch (e) {
      if (e instanceof CommandError && /not a cloned filesystem/i.test(e.stderr)) {
        throw new AppError('PRECONDITION_FAILED', `dataset ${dataset} on ${e.target} is not a clone`, {
          cause: e,
        });
      }
      throw e;
    }
  }

  async setProperties(dataset: string, props: Record<string, string>): Promise<void> {
    assertName('zfsDataset', dataset, 'dataset');
    const entries = Object.entries(props).map(
      ([k, v]) => [assertUserProperty(k), assertPropertyValue(v)] as const,
    );
    // zfs-fuse takes one property per `zfs set`.
    for (const [k, v] of entries) await this.#run(['zfs', 'set', `${k}=${v}`, dataset], `dataset ${dataset}`);
  }

  async getProperties(dataset: string, names: string[]): Promise<Record<string, string | null>> {
    assertName('zfsDataset', dataset, 'dataset');
    if (names.length === 0) return {};
    names.forEach(assertPropertyName);
    const out = await this.#run(
      ['zfs', 'get', '-H', '-p', '-o', 'name,property,value', names.join(','), dataset],
      `dataset ${dataset}`,
    );
    const props = parseZfsGet(out).get(dataset);
    return Object.fromEntries(names.map((n) => [n, dash(props?.get(n) ?? '-')]));
  }

  async setReadonly(dataset: string, readonly: boolean): Promise<void> {
    assertName('zfsDataset', dataset, 'dataset');
    const v = readonly ? 'on' : 'off';
    // One round trip; zfs-fuse takes one property per `zfs set`.
    const results = await runBatch(
      this.runner,
      [
        ['zfs', 'set', `readonly=${v}`, dataset],
        ['zfs', 'set', `${READONLY_MIRROR}=${v}`, dataset],
      ],
      { stopOnError: true },
    );
    const failed = results.find((r) => r.exitCode !== 0);
    if (failed) throw zfsError(batchError(failed, this.runner.target), `dataset ${dataset}`);
  }

  async getReadonly(dataset: string): Promise<boolean> {
    const p = await this.getProperties(dataset, ['readonly', READONLY_MIRROR]);
    return effectiveReadonly(p.readonly ?? null, p[READONLY_MIRROR] ?? null);
  }

  /**
   * Space accounting (used, usedbysnapshots, written) only moves when a transaction group
   * syncs, which zfs-fuse does lazily (seconds to tens of seconds after writes). `zfs inherit`
   * of an unset user property is a sync task: it waits for a txg sync and changes nothing.
   */
  async syncTxg(dataset: string): Promise<void> {
    assertName('zfsDataset', dataset, 'dataset');
    await this.runner.run({ argv: ['zfs', 'inherit', TXG_SYNC_PROP, dataset], allowFailure: true });
  }

  async changedSince(dataset: string, snapshot: string): Promise<{ changed: boolean; bytes: number }> {
    const ref = assertSnapshotRef(dataset, snapshot);
    const est = await this.estimateWritten(dataset, snapshot);
    if (est.exact) return { changed: est.bytes > 0, bytes: est.bytes };
    // zfs-fuse: count the data of an incremental stream from the snapshot to now.
    const probe = `tandem-probe-${Date.now().toString(36)}`;
    const probeRef = assertSnapshotRef(dataset, probe);
    await this.#run(['zfs', 'snapshot', probeRef], probeRef);
    try {
      const out = await this.#run(
        [
          'bash',
          '-o',
          'pipefail',
          '-c',
          'zfs send -i "$1" "$2" | zstreamdump',
          'tandem-changed',
          ref,
          probeRef,
        ],
        ref,
        { timeoutMs: 3600_000 },
      );
      return parseStreamDump(out);
    } finally {
      await this.destroySnapshots(dataset, [probe]).catch(() => undefined);
    }
  }

  async holdSnapshot(dataset: string, snapshot: string, tag: string): Promise<void> {
    const ref = assertSnapshotRef(dataset, snapshot);
    if (!/^tandem-[A-Za-z0-9._-]{1,60}$/.test(tag)) throw AppError.invalid('tag', 'not a Tandem hold tag');
    const r = await this.runner.run({ argv: ['zfs', 'hold', tag, ref], allowFailure: true });
    if (r.exitCode === 0 || /tag already exists/i.test(r.stderr)) return;
    throw zfsError(
      new CommandError({
        argv: ['zfs', 'hold', tag, ref],
        exitCode: r.exitCode,
        stderr: r.stderr,
        target: this.runner.target,
      }),
      ref,
    );
  }

  async releaseHolds(dataset: string, tag: string, except: string | null = null): Promise<string[]> {
    assertName('zfsDataset', dataset, 'dataset');
    if (!/^tandem-[A-Za-z0-9._-]{1,60}$/.test(tag)) throw AppError.invalid('tag', 'not a Tandem hold tag');
    // `zfs holds` needs pyzfs on zfs-fuse; the userrefs property says which snapshots have any
    // hold. `zfs get -r` lists the dataset's snapshots with it (and its children's: skipped).
    const except_ = except === null ? null : assertSnapshotRef(dataset, except);
    const out = await this.#run(
      ['zfs', 'get', '-H', '-p', '-o', 'name,value', 'userrefs', '-r', dataset],
      `dataset ${dataset}`,
    );
    const held = out
      .split('\n')
      .map((l) => l.split('\t'))
      .filter(([name, v]) => name!.startsWith(`${dataset}@`) && name !== except_ && Number(v) > 0)
      .map(([name]) => name!);
    const results = await runBatch(
      this.runner,
      held.map((ref) => ['zfs', 'release', tag, ref]),
    );
    const released: string[] = [];
    results.forEach((r, i) => {
      if (r.exitCode === 0) released.push(held[i]!.slice(dataset.length + 1));
      else if (!/no such tag/i.test(r.stderr)) throw zfsError(batchError(r, this.runner.target), held[i]!);
    });
    return released;
  }

  async copySnapshot(dataset: string, snapshot: string, target: string): Promise<void> {
    const ref = assertSnapshotRef(dataset, snapshot);
    assertName('zfsDataset', target, 'target');
    await this.#run(
      ['bash', '-o', 'pipefail', '-c', 'zfs send -p "$1" | zfs recv "$2"', 'tandem-copy', ref, target],
      ref,
      { timeoutMs: 12 * 3600_000 },
    );
  }

  async estimateWritten(dataset: string, snapshot: string): Promise<WrittenEstimate> {
    const ref = assertSnapshotRef(dataset, snapshot);
    await this.syncTxg(dataset);
    if (this.#writtenProp !== false) {
      const r = await this.runner.run({
        argv: ['zfs', 'get', '-H', '-p', '-o', 'value', `written@${snapshot}`, dataset],
        allowFailure: true,
      });
      const v = r.stdout.trim();
      if (r.exitCode === 0 && /^\d+$/.test(v)) {
        this.#writtenProp = true;
        return { bytes: Number(v), maxBytes: Number(v), exact: true };
      }
      if (MISSING.test(r.stderr))
        throw new AppError('NOT_FOUND', `${ref} does not exist on ${this.runner.target}`);
      if (/invalid property|bad property/i.test(r.stderr)) this.#writtenProp = false;
    }
    const { datasets, snapshots } = await this.tree(dataset);
    const ds = datasets.find((d) => d.name === dataset);
    if (!ds) throw new AppError('NOT_FOUND', `dataset ${dataset} does not exist on ${this.runner.target}`);
    return { ...estimateWrittenSince(ds, snapshots[dataset] ?? [], snapshot), exact: false };
  }
}
