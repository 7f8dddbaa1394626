import { describe, expect, it } from 'vitest';
import type { SnapshotInfo, VmInfo } from '@/server/adapters/node/types';
import {
  diskPath,
  latestCommon,
  nextSyncAt,
  parseSnapshotName,
  planDatasets,
  pruneList,
  replicaCreateSchema,
  snapshotName,
  validateCreate,
  type CreateFacts,
} from '@/server/domain/replicas/rules';

const GiB = 1024 ** 3;
const vm: VmInfo = {
  name: 'web01',
  uuid: 'u',
  state: 'running',
  vcpus: 4,
  memoryMiB: 8192,
  disks: [
    {
      device: 'vda',
      path: '/zones/web01-disk0/disk.img',
      dataset: 'zones/web01-disk0',
      kind: 'file',
      sizeBytes: 10 * GiB,
    },
    {
      device: 'vdb',
      path: '/zones/web01-disk1/disk.img',
      dataset: 'zones/web01-disk1',
      kind: 'file',
      sizeBytes: 50 * GiB,
    },
  ],
};
const pool = (name: string, freeGiB: number) => ({
  name,
  sizeBytes: 1000 * GiB,
  allocBytes: (1000 - freeGiB) * GiB,
  freeBytes: freeGiB * GiB,
  health: 'ONLINE',
});
function facts(over: Partial<CreateFacts> = {}, target: Partial<CreateFacts['target']> = {}): CreateFacts {
  return {
    vm,
    diskBytes: { 'zones/web01-disk0': 8 * GiB, 'zones/web01-disk1': 40 * GiB },
    replicasOfVm: [],
    maxReplicasPerVm: 2,
    ...over,
    target: {
      reachable: true,
      zpools: [pool('zones', 100), pool('data', 30)],
      capacity: { cpus: 16, memoryMiB: 65536 },
      reserved: { vcpus: 4, memoryMiB: 16384 },
      existingDatasets: [],
      ...target,
    },
  };
}
const input = (over: Record<string, unknown> = {}) =>
  replicaCreateSchema.parse({
    name: 'r1',
    vmName: 'web01',
    sourceSiteId: 1,
    targetSiteId: 2,
    rootZpool: 'zones',
    ...over,
  });
const fields = (issues: { field: string }[]) => issues.map((i) => i.field);

describe('replica settings', () => {
  it('applies Danube defaults and validates ranges', () => {
    const i = input();
    expect(i).toMatchObject({
      sleepTimeSec: 60,
      enabled: true,
      bandwidthLimit: null,
      reserveResources: true,
      keepSnapshots: 3,
    });
    for (const [k, v] of [
      ['name', 'x'.repeat(25)],
      ['name', '-bad'],
      ['name', 'a b'],
      ['sleepTimeSec', 86401],
      ['sleepTimeSec', -1],
      ['bandwidthLimit', 10],
    ] as const) {
      const r = replicaCreateSchema.safeParse({
        name: 'r1',
        vmName: 'w',
        sourceSiteId: 1,
        targetSiteId: 2,
        rootZpool: 'z',
        [k]: v,
      });
      expect(r.success, `${k}=${v}`).toBe(false);
    }
    expect(
      replicaCreateSchema.safeParse({
        name: 'A.b_c-1',
        vmName: 'w',
        sourceSiteId: 1,
        targetSiteId: 2,
        rootZpool: 'z',
        sleepTimeSec: 0,
      }).success,
    ).toBe(true);
  });
});

describe('create validation', () => {
  it('accepts a sound plan', () => {
    expect(validateCreate(input(), facts())).toEqual([]);
  });
  it('names the field and reason of every problem', () => {
    expect(fields(validateCreate(input({ targetSiteId: 1 }), facts()))).toContain('targetSiteId');
    expect(validateCreate(input(), facts({ vm: { ...vm, state: 'unknown' } }))[0]!.message).toMatch(
      /unknown state .* it must be running or stopped/,
    );
    expect(validateCreate(input(), facts({ vm: { ...vm, state: 'paused' } }))).toEqual([]);
    expect(validateCreate(input(), facts({ vm: null }))[0]).toEqual({
      field: 'vmName',
      message: 'VM web01 does not exist on its node',
    });
    expect(
      validateCreate(input(), facts({}, { reachable: false, unreachableReason: 'connection refused' }))[0]!
        .message,
    ).toMatch(/unreachable: connection refused/);
    expect(validateCreate(input({ rootZpool: 'tank' }), facts())[0]!.message).toMatch(
      /zpool tank does not exist on the target \(it has zones, data\)/,
    );
    expect(validateCreate(input({ diskZpools: { vdb: 'data' } }), facts())).toEqual([
      {
        field: 'diskZpools.vdb',
        message: "zpool data has 30.0 GiB free; the VM's data there needs 40.0 GiB",
      },
    ]);
    expect(validateCreate(input({ diskZpools: { vdz: 'data' } }), facts())[0]!.field).toBe('diskZpools.vdz');
    expect(
      validateCreate(input(), facts({}, { capacity: { cpus: 6, memoryMiB: 65536 } }))[0]!.message,
    ).toMatch(/2 unreserved vCPUs; the VM needs 4/);
    expect(
      validateCreate(
        input({ reserveResources: false }),
        facts({}, { capacity: { cpus: 6, memoryMiB: 65536 } }),
      ),
    ).toEqual([]);
    expect(
      fields(validateCreate(input(), facts({ replicasOfVm: [{ name: 'r1', targetSiteId: 3 }] }))),
    ).toEqual(['name']);
    expect(
      validateCreate(
        input(),
        facts({
          replicasOfVm: [
            { name: 'a', targetSiteId: 3 },
            { name: 'b', targetSiteId: 4 },
          ],
        }),
      )[0]!.message,
    ).toMatch(/limit is 2/);
    expect(
      validateCreate(input(), facts({}, { existingDatasets: ['zones/web01-disk1'] }))[0]!.message,
    ).toMatch(/already exists on the target/);
  });
  it('maps disks to target datasets by zpool', () => {
    expect(
      planDatasets(
        vm,
        'zones',
        { vdb: 'data' },
        { 'zones/web01-disk0': '/zones/web01-disk0', 'zones/web01-disk1': '/zones/web01-disk1' },
      ),
    ).toEqual([
      {
        device: 'vda',
        source: 'zones/web01-disk0',
        target: 'zones/web01-disk0',
        kind: 'file',
        file: 'disk.img',
      },
      {
        device: 'vdb',
        source: 'zones/web01-disk1',
        target: 'data/web01-disk1',
        kind: 'file',
        file: 'disk.img',
      },
    ]);
    const d = planDatasets(vm, 'data', {})[0]!;
    expect(diskPath(d, 'data/web01-disk0', '/data/web01-disk0')).toBe('/data/web01-disk0/disk.img');
    expect(diskPath({ ...d, kind: 'zvol', file: null }, 'data/web01-disk0', null)).toBe(
      '/dev/zvol/data/web01-disk0',
    );
  });
});

const snap = (name: string, guid: string, txg: number): SnapshotInfo => ({
  dataset: 'zones/d',
  name,
  guid,
  createTxg: String(txg),
  creation: txg,
  usedBytes: 0,
  referencedBytes: 0,
});

describe('snapshots', () => {
  it('names and parses replica snapshots', () => {
    const t = Date.UTC(2026, 10, 23, 9, 5, 7, 42);
    const n = snapshotName('r1', t);
    expect(n).toBe('tandem-r1-20261123T090507.042Z');
    expect(parseSnapshotName('r1', n)).toBe(t);
    // Two cycles started within the same second each get their own snapshot (a second cycle
    // must not find the first one's snapshot and report it as a newer recovery point).
    expect(snapshotName('r1', t + 300)).not.toBe(n);
    // Names from before milliseconds were added are still the replica's own (pruned, matched).
    expect(parseSnapshotName('r1', 'tandem-r1-20261123T090507Z')).toBe(Date.UTC(2026, 10, 23, 9, 5, 7));
    expect(parseSnapshotName('r2', n)).toBeNull();
    expect(parseSnapshotName('r1', 'tandem-r1-garbage')).toBeNull();
    expect(parseSnapshotName('r1', 'manual')).toBeNull();
  });
  it('finds the newest common snapshot by guid, not by name', () => {
    const src = [snap('a', '11', 1), snap('b', '18446744073709551610', 5), snap('c', '33', 9)];
    const dst = [snap('a', '11', 2), snap('b-renamed', '18446744073709551610', 6), snap('c', '999', 10)];
    expect(latestCommon(src, dst)?.name).toBe('b');
    expect(latestCommon(src, [])).toBeNull();
  });
  it('prunes all but the newest K of its own snapshots and never the protected one', () => {
    const names = [
      'tandem-r1-20260101T000000Z',
      'tandem-r1-20260101T000100Z',
      'manual',
      'tandem-r1-20260101T000200Z',
      'tandem-r2-20260101T000300Z',
      'tandem-r1-20260101T000400Z',
    ];
    const snaps = names.map((n, i) => snap(n, String(i), i + 1));
    expect(pruneList('r1', snaps, 2, null)).toEqual([
      'tandem-r1-20260101T000000Z',
      'tandem-r1-20260101T000100Z',
    ]);
    expect(pruneList('r1', snaps, 2, 'tandem-r1-20260101T000100Z')).toEqual(['tandem-r1-20260101T000000Z']);
    expect(pruneList('r1', snaps, 10, null)).toEqual([]);
  });
  it('schedules the next sync after the sleep time and backs off after failures', () => {
    expect(nextSyncAt(1000, 60, 0)).toBe(61_000);
    expect(nextSyncAt(0, 60, 1)).toBe(60_000);
    expect(nextSyncAt(0, 60, 3)).toBe(240_000);
    expect(nextSyncAt(0, 0, 1)).toBe(10_000);
    expect(nextSyncAt(0, 600, 20)).toBe(3_600_000);
  });
});
