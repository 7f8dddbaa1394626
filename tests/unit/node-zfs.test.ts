import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from '@/server/core/errors';
import type { CommandResult, CommandRunner, CommandSpec } from '@/server/adapters/runner';
import type { SnapshotInfo } from '@/server/adapters/node/types';
import {
  compareTxg,
  effectiveReadonly,
  estimateWrittenSince,
  latestCommonSnapshot,
  parseDatasetTree,
  parsePoolHealth,
  parseZfsGet,
  snapshotsAfter,
  ZfsCli,
  zpoolsFrom,
} from '@/server/adapters/node/zfs';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/node', name), 'utf8');

/** A runner that answers from a function and records every argv. */
function fakeRunner(
  answer: (argv: readonly string[], n: number) => Partial<CommandResult> & { fail?: boolean },
) {
  const calls: (readonly string[])[] = [];
  const runner: CommandRunner = {
    target: 'root@fake:22',
    async run(spec: CommandSpec): Promise<CommandResult> {
      if (spec.argv[3] === 'tandem-batch') return runBatchLocally(spec.argv, runner);
      calls.push(spec.argv);
      const a = answer(spec.argv, calls.length);
      const result = {
        stdout: a.stdout ?? '',
        stderr: a.stderr ?? '',
        exitCode: a.exitCode ?? (a.fail ? 1 : 0),
        durationMs: 1,
      };
      if (result.exitCode !== 0 && !spec.allowFailure) {
        const { CommandError } = await import('@/server/adapters/runner');
        throw new CommandError({
          argv: spec.argv,
          exitCode: result.exitCode,
          stderr: result.stderr,
          target: 'root@fake:22',
        });
      }
      return result;
    },
    async close() {},
  };
  return { runner, calls };
}

/** Answers a batch (server/adapters/batch.ts) by running its commands one by one on `runner`. */
async function runBatchLocally(argv: readonly string[], runner: CommandRunner): Promise<CommandResult> {
  const [nonce, stop] = [argv[4]!, argv[5] === '1'];
  let out = '';
  let err = '';
  for (let i = 6; i < argv.length;) {
    const n = Number(argv[i]);
    const r = await runner.run({ argv: argv.slice(i + 1, i + 1 + n), allowFailure: true });
    i += 1 + n;
    out += `${r.stdout}\n${nonce} ${r.exitCode}\n`;
    err += `${r.stderr}\n${nonce}\n`;
    if (stop && r.exitCode !== 0) break;
  }
  return { stdout: out, stderr: err, exitCode: 0, durationMs: 1 };
}

const snap = (name: string, guid: string, txg: string, used = 0): SnapshotInfo => ({
  dataset: 'zones/vm-disk0',
  name,
  guid,
  createTxg: txg,
  creation: 1_700_000_000 + Number(txg),
  usedBytes: used,
  referencedBytes: 1000,
});

describe('zfs get parsing (real zfs-fuse output)', () => {
  it('reads datasets and snapshots with exact numbers and guids as strings', () => {
    const { datasets, snapshots } = parseDatasetTree(fixture('zfs-get-tree-node1.txt'));
    expect(datasets.map((d) => d.name)).toEqual(['zones', 'zones/capvm-disk0', 'zones/capvm-disk1']);
    const d0 = datasets[1]!;
    expect(d0.type).toBe('filesystem');
    expect(d0.mountpoint).toBe('/zones/capvm-disk0');
    expect(d0.mounted).toBe(true);
    expect(d0.origin).toBeNull();
    expect(Number.isInteger(d0.usedBytes) && d0.usedBytes > 16 * 1024 * 1024).toBe(true);
    expect(d0.guid).toMatch(/^\d+$/);
    // guids exceed 2^53: they must stay exact strings
    const big = Object.values(snapshots)
      .flat()
      .find((s) => BigInt(s.guid) > BigInt(Number.MAX_SAFE_INTEGER));
    expect(big).toBeDefined();
    expect(snapshots['zones/capvm-disk0']!.map((s) => s.name)).toEqual(['s1', 's2', 's3']);
    expect(snapshots['zones/capvm-disk1']!.map((s) => s.name)).toEqual(['s1']);
    expect(snapshots['zones']!.map((s) => s.name)).toEqual(['s1']);
    for (const list of Object.values(snapshots)) {
      for (let i = 1; i < list.length; i++)
        expect(compareTxg(list[i - 1]!.createTxg, list[i]!.createTxg)).toBeLessThanOrEqual(0);
    }
    // the 4 MiB rewrite after s2 is held by s1 and s2 together: in no snapshot's `used`, only in usedbysnapshots
    expect(snapshots['zones/capvm-disk0']!.every((s) => s.usedBytes === 0)).toBe(true);
    expect(d0.usedBySnapshotsBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    expect(d0.usedBytes).toBe(d0.referencedBytes + d0.usedBySnapshotsBytes);
  });

  it('uses the tandem:readonly mirror over the readonly property zfs-fuse misreports while mounted', () => {
    const { datasets } = parseDatasetTree(fixture('zfs-get-tree-node2.txt'));
    const d0 = datasets.find((d) => d.name === 'zones/capvm-disk0')!;
    const raw = parseZfsGet(fixture('zfs-get-tree-node2.txt')).get('zones/capvm-disk0')!;
    expect(raw.get('readonly')).toBe('off');
    expect(raw.get('tandem:readonly')).toBe('on');
    expect(d0.readonly).toBe(true);
    expect(effectiveReadonly('on', null)).toBe(true);
    expect(effectiveReadonly('off', 'on')).toBe(true);
    expect(effectiveReadonly('on', 'off')).toBe(false);
    expect(effectiveReadonly(null, null)).toBe(false);
  });

  it('rejects output without exact numbers', () => {
    expect(() => parseDatasetTree('zones\ttype\tfilesystem\nzones\tused\t33.2M\n')).toThrow(/exact bytes/);
    expect(() => parseZfsGet('garbage line')).toThrow(AppError);
  });

  it('reads pool space from the root datasets', () => {
    const pools = zpoolsFrom(
      parsePoolHealth(fixture('zpool-list-health.txt')),
      parseZfsGet(fixture('zfs-get-pool-roots.txt')),
    );
    expect(pools.map((p) => p.name).sort()).toEqual(['data', 'zones']);
    for (const p of pools) {
      expect(p.health).toBe('ONLINE');
      expect(p.sizeBytes).toBe(p.allocBytes + p.freeBytes);
      expect(p.freeBytes).toBeGreaterThan(100 * 1024 * 1024);
    }
  });
});

describe('latestCommonSnapshot', () => {
  it('matches by guid, not by name, and picks the newest', () => {
    const source = [snap('a', '11', '10'), snap('b', '12', '20'), snap('c', '13', '30')];
    const target = [
      snap('a', '11', '5'),
      snap('b', '99', '6'),
      snap('renamed-c', '13', '7'),
      snap('d', '55', '8'),
    ];
    const common = latestCommonSnapshot(source, target);
    expect(common?.source.name).toBe('c');
    expect(common?.target.name).toBe('renamed-c');
    expect(snapshotsAfter(target, common!.target).map((s) => s.name)).toEqual(['d']);
  });

  it('same name with a different guid is not common (target diverged)', () => {
    expect(latestCommonSnapshot([snap('a', '1', '1')], [snap('a', '2', '1')])).toBeNull();
    expect(latestCommonSnapshot([], [snap('a', '2', '1')])).toBeNull();
  });

  it('compares txgs beyond 2^53 exactly', () => {
    const source = [snap('x', '1', '9007199254740993'), snap('y', '2', '9007199254740992')];
    expect(latestCommonSnapshot(source, [snap('x', '1', '1'), snap('y', '2', '2')])?.source.name).toBe('x');
  });
});

describe('estimateWrittenSince', () => {
  const ds = { name: 'x', referencedBytes: 5000, usedBySnapshotsBytes: 900 } as Parameters<
    typeof estimateWrittenSince
  >[0];
  const snaps = [
    { ...snap('a', '1', '1', 100), referencedBytes: 4000 },
    { ...snap('b', '2', '2', 300), referencedBytes: 4500 },
  ];
  it('since the oldest snapshot: referenced growth plus all space the snapshots hold', () => {
    expect(estimateWrittenSince(ds, snaps, 'a')).toEqual({ bytes: 1000 + 900, maxBytes: 1000 + 900 });
  });
  it('since a later snapshot: lower bound from the used of it and later ones, upper bound from usedbysnapshots', () => {
    expect(estimateWrittenSince(ds, snaps, 'b')).toEqual({ bytes: 500 + 300, maxBytes: 500 + 900 });
  });
  it('on the real capture: the shared 4 MiB rewrite is found from the oldest snapshot, bounded from a later one', () => {
    const { datasets, snapshots } = parseDatasetTree(fixture('zfs-get-tree-node1.txt'));
    const d0 = datasets.find((d) => d.name === 'zones/capvm-disk0')!;
    const list = snapshots['zones/capvm-disk0']!;
    expect(estimateWrittenSince(d0, list, 's1').bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    const s2 = estimateWrittenSince(d0, list, 's2');
    expect(s2.bytes).toBe(0);
    expect(s2.maxBytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
  });
  it('never goes negative and refuses unknown snapshots', () => {
    expect(
      estimateWrittenSince(
        { ...ds, referencedBytes: 10, usedBySnapshotsBytes: 0 },
        [{ ...snap('a', '1', '1'), referencedBytes: 4000 }],
        'a',
      ).bytes,
    ).toBe(0);
    expect(() => estimateWrittenSince(ds, [], 'zz')).toThrow(/does not exist/);
  });
});

describe('ZfsCli commands', () => {
  it('falls back to one snapshot per dataset when zfs-fuse refuses several (and remembers it)', async () => {
    // `zfs get` of the new snapshots: the captured s3/s1 lines renamed to the new snapshot
    const lines = fixture('zfs-get-tree-node1.txt').split('\n');
    const { runner, calls } = fakeRunner((argv) => {
      if (argv[1] === 'snapshot' && argv.length > 4)
        return { exitCode: 2, stderr: fixture('zfs-snapshot-multi.stderr') };
      if (argv[1] === 'get') {
        const snapName = argv[argv.length - 1]!.split('@')[1]!;
        const out = lines
          .filter((l) => /^zones\/capvm-disk0@s3\t|^zones\/capvm-disk1@s1\t/.test(l))
          .map((l) => l.replace(/@s[13]\t/, `@${snapName}\t`))
          .join('\n');
        return { stdout: out };
      }
      return {};
    });
    const zfs = new ZfsCli(runner);
    const made = await zfs.createSnapshots(['zones/capvm-disk0', 'zones/capvm-disk1'], 'a');
    expect(calls.filter((c) => c[1] === 'snapshot')).toEqual([
      ['zfs', 'snapshot', '-r', 'zones/capvm-disk0@a', 'zones/capvm-disk1@a'],
      ['zfs', 'snapshot', '-r', 'zones/capvm-disk0@a'],
      ['zfs', 'snapshot', '-r', 'zones/capvm-disk1@a'],
    ]);
    expect(made.map((s) => `${s.dataset}@${s.name}`)).toEqual(['zones/capvm-disk0@a', 'zones/capvm-disk1@a']);
    expect(made.every((s) => /^\d+$/.test(s.guid))).toBe(true);
    calls.length = 0;
    await zfs.createSnapshots(['zones/capvm-disk0', 'zones/capvm-disk1'], 'b', { recursive: false });
    expect(calls.filter((c) => c[1] === 'snapshot')).toEqual([
      ['zfs', 'snapshot', 'zones/capvm-disk0@b'],
      ['zfs', 'snapshot', 'zones/capvm-disk1@b'],
    ]);
  });

  it('retries "dataset is busy" and ignores what is already gone', async () => {
    const { runner, calls } = fakeRunner((argv, n) => {
      if (argv.includes('zones/vm-disk0') && n < 3)
        return { exitCode: 1, stderr: "cannot destroy 'zones/vm-disk0': dataset is busy" };
      if (argv.includes('zones/vm-disk0@gone'))
        return { exitCode: 1, stderr: 'could not find any snapshots to destroy; check snapshot names.' };
      if (argv.some((a) => a.startsWith('zones/missing')))
        return { exitCode: 1, stderr: "cannot open 'zones/missing': dataset does not exist" };
      return {};
    });
    const zfs = new ZfsCli(runner, { busyDelayMs: 1 });
    await zfs.destroyDataset('zones/vm-disk0');
    expect(calls).toHaveLength(3);
    expect(calls[0]).toEqual(['zfs', 'destroy', '-r', 'zones/vm-disk0']);
    await zfs.destroySnapshots('zones/vm-disk0', ['gone']);
    await zfs.destroyDataset('zones/missing');
    await expect(zfs.destroyDataset('zones')).rejects.toThrow(/pool root/);
    await expect(zfs.rollback('zones/missing', 's1')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('gives up on busy after the configured attempts', async () => {
    const { runner, calls } = fakeRunner(() => ({ exitCode: 1, stderr: 'dataset is busy' }));
    await expect(
      new ZfsCli(runner, { busyAttempts: 3, busyDelayMs: 1 }).destroyDataset('zones/a'),
    ).rejects.toMatchObject({ code: 'COMMAND_FAILED' });
    expect(calls).toHaveLength(3);
  });

  it('explains a snapshot that stays busy because of a hold', async () => {
    const { runner } = fakeRunner((argv) =>
      argv.includes('userrefs')
        ? { stdout: '1\n' }
        : { exitCode: 1, stderr: "cannot destroy 'zones/a@tandem-2': dataset is busy" },
    );
    const err = await new ZfsCli(runner, { busyAttempts: 2, busyDelayMs: 1 })
      .destroyDataset('zones/a')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CONFLICT', details: { snapshot: 'zones/a@tandem-2', holds: 1 } });
    expect((err as Error).message).toMatch(/\.send-<pid>-0/);
  });

  it('promotes a clone and says when the dataset is not one', async () => {
    const { runner, calls } = fakeRunner((argv) =>
      argv.includes('zones/plain')
        ? { exitCode: 1, stderr: "cannot promote 'zones/plain': not a cloned filesystem" }
        : {},
    );
    const zfs = new ZfsCli(runner);
    await zfs.promoteDataset('zones/clone');
    expect(calls[0]).toEqual(['zfs', 'promote', 'zones/clone']);
    await expect(zfs.promoteDataset('zones/plain')).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
  });

  it('renames a mounted filesystem on zfs-fuse by unmounting and mounting again', async () => {
    const tree = [
      'type\tfilesystem',
      'used\t1',
      'available\t1',
      'referenced\t1',
      'guid\t1',
      'createtxg\t1',
      'creation\t1',
      'mountpoint\t/zones/a',
      'mounted\tyes',
    ]
      .map((l) => `zones/a\t${l}`)
      .join('\n');
    let renamed = 0;
    const { runner, calls } = fakeRunner((argv) => {
      if (argv[1] === 'rename' && ++renamed === 1)
        return { exitCode: 1, stderr: "cannot rename 'zones/a': dataset is busy" };
      if (argv[1] === 'get') return { stdout: tree };
      return {};
    });
    await new ZfsCli(runner, { busyDelayMs: 1 }).renameDataset('zones/a', 'zones/b');
    expect(calls.filter((c) => c[1] !== 'get')).toEqual([
      ['zfs', 'rename', 'zones/a', 'zones/b'],
      ['zfs', 'unmount', 'zones/a'],
      ['zfs', 'rename', 'zones/a', 'zones/b'],
      ['zfs', 'mount', 'zones/b'],
    ]);
  });

  it('releases a hold tag in two round trips: one userrefs listing, one batch of releases', async () => {
    const { runner, calls } = fakeRunner((argv) => {
      if (argv[1] === 'get')
        return {
          stdout: 'zones/d\t-\nzones/d@a\t1\nzones/d@b\t0\nzones/d@c\t2\nzones/d@e\t1\nzones/d/child@a\t1\n',
        };
      if (argv[3] === 'zones/d@e')
        return {
          exitCode: 1,
          stderr: "cannot release hold from snapshot 'zones/d@e': no such tag on this dataset",
        };
      return {};
    });
    let batches = 0;
    const counting: CommandRunner = {
      ...runner,
      run: (spec) => ((batches += spec.argv[3] === 'tandem-batch' ? 1 : 0), runner.run(spec)),
    };
    const released = await new ZfsCli(counting).releaseHolds('zones/d', 'tandem-r1', 'c');
    expect(released).toEqual(['a']);
    expect(calls).toEqual([
      ['zfs', 'get', '-H', '-p', '-o', 'name,value', 'userrefs', '-r', 'zones/d'],
      ['zfs', 'release', 'tandem-r1', 'zones/d@a'],
      ['zfs', 'release', 'tandem-r1', 'zones/d@e'],
    ]);
    expect(batches).toBe(1);
  });

  it('destroys several snapshots in one batch and retries only the busy ones', async () => {
    let busy = 1;
    const { runner, calls } = fakeRunner((argv) => {
      if (argv[2] === 'zones/d@gone')
        return { exitCode: 1, stderr: 'could not find any snapshots to destroy; check snapshot names.' };
      if (argv[2] === 'zones/d@b' && busy-- > 0)
        return { exitCode: 1, stderr: "cannot destroy 'zones/d@b': dataset is busy" };
      return {};
    });
    await new ZfsCli(runner, { busyDelayMs: 1 }).destroySnapshots('zones/d', ['a', 'b', 'gone']);
    expect(calls.map((c) => c[2])).toEqual(['zones/d@a', 'zones/d@b', 'zones/d@gone', 'zones/d@b']);
    const { runner: failing } = fakeRunner((argv) =>
      argv[2] === 'zones/d@b'
        ? { exitCode: 1, stderr: "cannot destroy 'zones/d@b': snapshot has dependent clones" }
        : {},
    );
    await expect(new ZfsCli(failing).destroySnapshots('zones/d', ['a', 'b'])).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('sets one property per call, mirrors readonly, and reads properties', async () => {
    const { runner, calls } = fakeRunner((argv) =>
      argv[1] === 'get'
        ? { stdout: 'zones/d\treadonly\toff\nzones/d\ttandem:readonly\ton\nzones/d\ttandem:role\t-\n' }
        : {},
    );
    const zfs = new ZfsCli(runner);
    await zfs.setProperties('zones/d', { 'tandem:role': 'replica', 'tandem:source': "node1 'x'" });
    await zfs.setReadonly('zones/d', true);
    await zfs.cloneSnapshot('zones/d', 's1', 'zones/d-diverged');
    expect(calls).toEqual([
      ['zfs', 'set', 'tandem:role=replica', 'zones/d'],
      ['zfs', 'set', "tandem:source=node1 'x'", 'zones/d'],
      ['zfs', 'set', 'readonly=on', 'zones/d'],
      ['zfs', 'set', 'tandem:readonly=on', 'zones/d'],
      ['zfs', 'clone', 'zones/d@s1', 'zones/d-diverged'],
    ]);
    expect(await zfs.getReadonly('zones/d')).toBe(true);
    expect(await zfs.getProperties('zones/d', ['readonly', 'tandem:role'])).toEqual({
      readonly: 'off',
      'tandem:role': null,
    });
  });

  it('refuses non-tandem properties, bad values and hostile names before running anything', async () => {
    const { runner, calls } = fakeRunner(() => ({}));
    const zfs = new ZfsCli(runner);
    await expect(zfs.setProperties('zones/d', { readonly: 'off' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(zfs.setProperties('zones/d', { 'tandem:x': 'a\tb' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(zfs.getProperties('zones/d', ['used;id'])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    for (const bad of [
      'zones/x;reboot',
      '-R',
      'zones/$(id)',
      'zones/a b',
      "zones/a'b",
      'zones/../etc',
      'zones/x\n',
      '',
    ]) {
      await expect(zfs.listDatasets(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(zfs.destroyDataset(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(zfs.createSnapshots([bad], 's')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    await expect(zfs.rollback('zones/d', 's1@x')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(zfs.destroySnapshots('zones/d', ['-r'])).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(calls).toHaveLength(0);
  });

  it('estimates written bytes from the tree when written@ is unsupported (zfs-fuse)', async () => {
    const tree = fixture('zfs-get-tree-node1.txt');
    const { runner, calls } = fakeRunner((argv) =>
      argv.some((a) => a.startsWith('written@'))
        ? { exitCode: 2, stderr: "bad property list: invalid property 'written@s1'" }
        : { stdout: tree },
    );
    const zfs = new ZfsCli(runner);
    const est = await zfs.estimateWritten('zones/capvm-disk0', 's1');
    expect(est.exact).toBe(false);
    expect(est.bytes).toBeGreaterThanOrEqual(4 * 1024 * 1024);
    await zfs.estimateWritten('zones/capvm-disk0', 's1');
    expect(calls.filter((c) => c.some((a) => a.startsWith('written@')))).toHaveLength(1);
    // each estimate first forces a txg sync so that the space accounting is current
    expect(calls.filter((c) => c[1] === 'inherit')).toEqual([
      ['zfs', 'inherit', 'tandem:txg-sync', 'zones/capvm-disk0'],
      ['zfs', 'inherit', 'tandem:txg-sync', 'zones/capvm-disk0'],
    ]);
  });

  it('uses written@ when the platform has it (OpenZFS)', async () => {
    const { runner } = fakeRunner((argv) => ({ stdout: argv[1] === 'get' ? '123456\n' : '' }));
    expect(await new ZfsCli(runner).estimateWritten('zones/d', 's1')).toEqual({
      bytes: 123456,
      maxBytes: 123456,
      exact: true,
    });
  });

  it('maps a missing dataset to NOT_FOUND', async () => {
    const { runner } = fakeRunner(() => ({
      exitCode: 1,
      stderr: "cannot open 'zones/nope': dataset does not exist",
    }));
    await expect(new ZfsCli(runner).listSnapshots('zones/nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
