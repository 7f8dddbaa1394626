import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseJsonExact, quoteLongIntegers } from '@/server/adapters/ceph/json';
import {
  inferMirrorMode,
  mergeImageList,
  parseImageInfo,
  parseImageStatus,
  parseLsLong,
  parseMirrorDescription,
  parseMirrorState,
  parseNamespaceLs,
  parsePoolInfo,
  parsePoolStatus,
  parseRbdPools,
  parseScheduleLsRecursive,
  parseScheduleStatus,
  parseServiceDump,
  parseServiceStatus,
  parseSnapLs,
  parseSnapshotIdLine,
  redactKeys,
} from '@/server/adapters/ceph/parse';
import { promoteReadiness } from '@/server/domain/ceph/failover';
import type { AppError } from '@/server/core/errors';

const DIR = path.resolve(__dirname, '../fixtures/ceph');
const fx = (name: string) => fs.readFileSync(path.join(DIR, name), 'utf8');

describe('bigint-safe JSON', () => {
  it('keeps 64-bit integers exact as strings and leaves everything else alone', () => {
    const v = parseJsonExact(
      '{"a":18446744073709551614,"b":6,"c":"18446744073709551614x","d":[9007199254740993],"e":1.5,"f":0.12345678901234567,"g":-18446744073709551614}',
    ) as Record<string, unknown>;
    expect(v.a).toBe('18446744073709551614');
    expect(v.b).toBe(6);
    expect(v.c).toBe('18446744073709551614x');
    expect(v.d).toEqual(['9007199254740993']);
    expect(v.e).toBe(1.5);
    expect(typeof v.f).toBe('number');
    expect(v.g).toBe('-18446744073709551614');
  });

  it('does not touch digits inside strings, even with escaped quotes', () => {
    const s = '{"x":"say \\"12345678901234567890\\", ok","y":12345678901234567890}';
    expect(quoteLongIntegers(s)).toBe(
      '{"x":"say \\"12345678901234567890\\", ok","y":"12345678901234567890"}',
    );
  });

  it('parses empty output as null', () => {
    expect(parseJsonExact('  \n')).toBeNull();
  });
});

describe('rbd mirror pool info', () => {
  it('parses both sites', () => {
    const a = parsePoolInfo(fx('pool-info-site-a.json'), 'rbd');
    expect(a).toEqual({
      pool: 'rbd',
      namespace: '',
      mode: 'image',
      siteName: 'site-a',
      peers: [
        {
          uuid: '70af7eb9-cf67-4cd1-9dfa-d7275f5be909',
          siteName: 'site-b',
          direction: 'rx-tx',
          clientName: 'client.rbd-mirror-peer',
          mirrorUuid: '56669c2c-5efd-4001-a540-0b512403ede8',
        },
      ],
    });
    const b = parsePoolInfo(fx('pool-info-site-b.json'), 'rbd');
    expect(b.siteName).toBe('site-b');
    expect(b.peers[0]?.siteName).toBe('site-a');
  });

  it('reads mon_host from --all and never returns the key', () => {
    const raw = fx('lab-pool-info-all.json').replace(
      '<redacted>',
      'AQCfLQRrURhLNBAAM4kxaqea6rR15+Ye4jaBtA==',
    );
    const info = parsePoolInfo(raw, 'rbd');
    expect(info.peers[0]?.monHost).toBe('[v2:127.0.0.1:13301/0,v1:127.0.0.1:16790/0]');
    expect(JSON.stringify(info)).not.toContain('AQCf');
    expect(info.peers[0]).not.toHaveProperty('key');
  });

  it('handles a disabled pool and an unpaired one', () => {
    expect(parsePoolInfo('{"mode":"disabled"}', 'rbd2')).toEqual({
      pool: 'rbd2',
      namespace: '',
      mode: 'disabled',
      siteName: null,
      peers: [],
    });
    expect(parsePoolInfo('{"mode":"image","site_name":"site-a","peers":[]}', 'rbd', 'ns1').namespace).toBe(
      'ns1',
    );
  });

  it('keeps keys out of the diagnostics of a refused output', () => {
    try {
      parsePoolInfo('{"mode":"odd","peers":[{"uuid":"u","key":"AQSECRET=="}]}', 'rbd');
      throw new Error('expected a failure');
    } catch (e) {
      expect(JSON.stringify((e as AppError).details)).not.toContain('AQSECRET');
      expect(JSON.stringify((e as AppError).details)).toContain('<redacted>');
    }
    expect(redactKeys('[client.x]\n\tkey = AQabc==\n')).toBe('[client.x]\n\tkey = <redacted>\n');
  });

  it('refuses an unknown mode with a clear error', () => {
    expect(() => parsePoolInfo('{"mode":"sideways"}', 'rbd')).toThrow(/unexpected output shape.*mode/);
    expect(() => parsePoolInfo('not json', 'rbd')).toThrow(/not JSON/);
  });
});

describe('descriptions and states', () => {
  it('splits the daemon state', () => {
    expect(parseMirrorState('up+replaying')).toEqual({ daemonUp: true, state: 'replaying' });
    expect(parseMirrorState('down+unknown')).toEqual({ daemonUp: false, state: 'unknown' });
    expect(parseMirrorState('up+starting_replay')).toEqual({ daemonUp: true, state: 'starting_replay' });
  });

  it('parses the nested JSON of a snapshot replay', () => {
    const d = parseMirrorDescription(
      'replaying, {"bytes_per_second":66764800.0,"bytes_per_snapshot":33382400.0,"last_snapshot_bytes":0,"last_snapshot_sync_seconds":3,"local_snapshot_timestamp":1795426466,"remote_snapshot_timestamp":1795426467,"replay_state":"idle"}',
    );
    expect(d.phase).toBe('replaying');
    expect(d.replayState).toBe('idle');
    expect(d.bytesPerSecond).toBe(66764800);
    expect(d.bytesPerSnapshot).toBe(33382400);
    expect(d.lastSnapshotSyncSeconds).toBe(3);
    expect(d.localSnapshotTimestamp).toBe(1795426466);
    expect(d.remoteSnapshotTimestamp).toBe(1795426467);
    expect(d.localPrimary).toBe(false);
    expect(inferMirrorMode(d)).toBe('snapshot');
  });

  it('parses a snapshot sync in progress', () => {
    const d = parseMirrorDescription(
      'replaying, {"bytes_per_second":1048576.0,"remote_snapshot_timestamp":1795426467,"replay_state":"syncing","syncing_percent":42,"syncing_snapshot_timestamp":1795426467}',
    );
    expect(d.replayState).toBe('syncing');
    expect(d.syncPercent).toBe(42);
    expect(d.syncingSnapshotTimestamp).toBe(1795426467);
  });

  it('parses journal replay details, a bootstrap percentage and plain texts', () => {
    const j = parseMirrorDescription(JSON.parse(fx('lab-image-status-journal-nonprimary.json')).description);
    expect(j.entriesBehindPrimary).toBe(3);
    expect(inferMirrorMode(j)).toBe('journal');
    const boot = parseMirrorDescription('bootstrapping, IMAGE_SYNC/COPY_IMAGE 45%');
    expect(boot.phase).toBe('bootstrapping');
    expect(boot.syncPercent).toBe(45);
    expect(parseMirrorDescription('local image is primary').localPrimary).toBe(true);
    expect(parseMirrorDescription('split-brain').splitBrain).toBe(true);
    const broken = parseMirrorDescription('replaying, {"bytes_per_second":');
    expect(broken.details).toBeNull();
    expect(broken.phase).toBe('replaying');
  });
});

describe('rbd mirror image status', () => {
  it('primary on site-a, with its mirror snapshots and the peer replaying', () => {
    const s = parseImageStatus(fx('image-status-primary-site-a.json'), 'rbd');
    expect(s.name).toBe('img1');
    expect(s.globalId).toBe('00ce5690-2e64-4b96-934e-657ce0c6c5b4');
    expect(s.state).toBe('stopped');
    expect(s.daemonUp).toBe(true);
    expect(s.description.localPrimary).toBe(true);
    expect(s.daemon).toEqual({ serviceId: '4141', instanceId: '4143', daemonId: 'lab', hostname: 'vm' });
    expect(s.snapshots.map((x) => x.id)).toEqual(['5', '6']);
    expect(s.snapshots[1]?.mirrorPeerUuids).toEqual(['70af7eb9-cf67-4cd1-9dfa-d7275f5be909']);
    const peer = s.peerSites[0]!;
    expect(peer.siteName).toBe('site-b');
    expect(peer.state).toBe('replaying');
    expect(peer.description.replayState).toBe('idle');
    expect(peer.description.localSnapshotTimestamp).toBe(1795426393);
  });

  it('non-primary on site-b', () => {
    const s = parseImageStatus(fx('image-status-nonprimary-site-b.json'), 'rbd');
    expect(s.state).toBe('replaying');
    expect(s.description.remoteSnapshotTimestamp).toBe(1795426393);
    expect(s.snapshots).toEqual([]);
    expect(s.peerSites[0]?.description.localPrimary).toBe(true);
  });

  it('after a planned failover', () => {
    const a = parseImageStatus(fx('failover-1-image-status-site-a-nonprimary.json'), 'rbd');
    const b = parseImageStatus(fx('failover-1-image-status-site-b-primary.json'), 'rbd');
    expect(a.state).toBe('replaying');
    expect(a.description.localSnapshotTimestamp).toBeNull();
    expect(a.description.remoteSnapshotTimestamp).toBe(1795426445);
    expect(b.description.localPrimary).toBe(true);
    expect(b.snapshots).toEqual([
      {
        id: '13',
        name: expect.stringMatching(/^\.mirror\.primary\./),
        demoted: false,
        mirrorPeerUuids: ['ed02438c-f277-4c2d-869b-cb202f968776'],
      },
    ]);
  });

  it('split-brain: both primary, then the error state', () => {
    const a = parseImageStatus(fx('failover-2-splitbrain-site-a.json'), 'rbd');
    const b = parseImageStatus(fx('failover-2-splitbrain-site-b.json'), 'rbd');
    expect(a.description.localPrimary && b.description.localPrimary).toBe(true);
    expect(b.snapshots.map((x) => x.demoted)).toEqual([true, false]);
    const err = parseImageStatus(fx('lab-image-status-splitbrain-error-b.json'), 'rbd');
    expect(err.state).toBe('error');
    expect(err.description.splitBrain).toBe(true);
    const seen = parseImageStatus(fx('lab-image-status-splitbrain-error-a.json'), 'rbd');
    expect(seen.peerSites[0]?.state).toBe('error');
    expect(seen.peerSites[0]?.description.splitBrain).toBe(true);
    expect(parseImageStatus(fx('lab-image-status-both-primary-b.json'), 'rbd').snapshots).toHaveLength(3);
  });

  it('after demote and after resync', () => {
    const d = parseImageStatus(fx('failover-3-after-demote-site-a.json'), 'rbd');
    expect(d.state).toBe('stopped');
    const r = parseImageStatus(fx('failover-3-resynced-site-a.json'), 'rbd');
    expect(r.state).toBe('replaying');
    expect(r.description.bytesPerSecond).toBe(66764800);
    expect(r.description.localSnapshotTimestamp).toBe(1795426466);
    const rb = parseImageStatus(fx('lab-image-status-resynced-b.json'), 'rbd');
    expect(rb.description.bytesPerSecond).toBeCloseTo(529.6);
    const fa = parseImageStatus(fx('failover-4-final-site-a.json'), 'rbd');
    const fb = parseImageStatus(fx('failover-4-final-site-b.json'), 'rbd');
    expect(fa.description.localPrimary).toBe(true);
    expect(fb.state).toBe('replaying');
  });

  it('an image that has no status yet', () => {
    const s = parseImageStatus(
      '{"name":"t1","global_id":"795e7ac4-6d9e-4b94-8c9c-e07236ace1df","state":"down+unknown","description":"status not found","last_update":""}',
      'rbd',
    );
    expect(s.daemonUp).toBe(false);
    expect(s.state).toBe('unknown');
    expect(s.lastUpdate).toBeNull();
    expect(s.daemon).toBeNull();
  });

  it('journal mode on both sides', () => {
    const p = parseImageStatus(fx('lab-image-status-journal-primary.json'), 'rbd');
    expect(p.description.localPrimary).toBe(true);
    expect(inferMirrorMode(p.peerSites[0]!.description)).toBe('journal');
  });
});

describe('rbd mirror pool status --verbose', () => {
  for (const f of [
    'pool-status-site-a.json',
    'pool-status-site-b.json',
    'lab-pool-status-verbose-primary.json',
    'lab-pool-status-verbose-nonprimary.json',
  ]) {
    it(f, () => {
      const s = parsePoolStatus(fx(f), 'rbd');
      expect(s.summary).toEqual({
        health: 'OK',
        daemonHealth: 'OK',
        imageHealth: 'OK',
        states: { replaying: 1 },
      });
      expect(s.daemons).toHaveLength(1);
      expect(s.daemons[0]).toMatchObject({
        clientId: 'lab',
        hostname: 'vm',
        version: '16.2.15',
        leader: true,
        health: 'OK',
      });
      expect(s.images).toHaveLength(1);
    });
  }

  it('an empty, unpaired pool', () => {
    const s = parsePoolStatus(
      '{"summary":{"health":"WARNING","daemon_health":"WARNING","image_health":"OK","states":{}},"daemons":[{"service_id":"4120","instance_id":"","client_id":"lab","hostname":"vm","ceph_version":"16.2.15","leader":false,"health":"OK"}],"images":[]}',
      'rbd',
    );
    expect(s.summary.health).toBe('WARNING');
    expect(s.daemons[0]?.leader).toBe(false);
    expect(s.images).toEqual([]);
  });

  it('the non-verbose form has only the summary', () => {
    const s = parsePoolStatus(
      '{"summary":{"health":"OK","daemon_health":"OK","image_health":"OK","states":{"replaying":2,"stopped":1}}}',
      'rbd',
    );
    expect(s.summary.states).toEqual({ replaying: 2, stopped: 1 });
    expect(s.daemons).toEqual([]);
  });
});

describe('images', () => {
  it('rbd ls -l (snapshot rows are dropped)', () => {
    expect(parseLsLong(fx('lab-ls-long.json'))).toEqual([
      { name: 'x1', id: '10d1bac80488', sizeBytes: 67108864 },
    ]);
    expect(
      parseLsLong(
        '[{"image":"p1","id":"115325e7f3ea","size":8388608,"format":2},{"image":"p1","id":"115325e7f3ea","snapshot":"s1","snapshot_id":4,"size":8388608,"format":2,"protected":"false"}]',
      ),
    ).toHaveLength(1);
    expect(parseLsLong('')).toEqual([]);
  });

  it('merges the listing with the mirror status in one pass', () => {
    const ls = parseLsLong(
      '[{"image":"img1","id":"a1","size":67108864,"format":2},{"image":"plain","id":"a2","size":1024,"format":2}]',
    );
    const st = parsePoolStatus(fx('pool-status-site-b.json'), 'rbd').images;
    const gone = parseImageStatus(
      '{"name":"ghost","global_id":"g","state":"up+syncing","description":"bootstrapping, IMAGE_SYNC/COPY_IMAGE 10%"}',
      'rbd',
    );
    const list = mergeImageList('rbd', '', ls, [...st, gone]);
    expect(list.map((i) => i.name)).toEqual(['ghost', 'img1', 'plain']);
    expect(list[1]?.mirroring).toMatchObject({
      state: 'replaying',
      primary: false,
      mode: 'snapshot',
      globalId: '00ce5690-2e64-4b96-934e-657ce0c6c5b4',
    });
    expect(list[2]?.mirroring).toBeNull();
    expect(list[0]).toMatchObject({
      id: null,
      sizeBytes: null,
      mirroring: { state: 'syncing', primary: false },
    });
    const primary = mergeImageList(
      'rbd',
      '',
      ls,
      parsePoolStatus(fx('pool-status-site-a.json'), 'rbd').images,
    );
    expect(primary[0]?.mirroring).toMatchObject({ primary: true, mode: 'snapshot' });
  });

  it('rbd info, primary and non-primary', () => {
    const p = parseImageInfo(fx('lab-info-primary.json'), 'rbd');
    expect(p).toMatchObject({
      name: 'x1',
      sizeBytes: 67108864,
      objectSizeBytes: 4194304,
      snapshotCount: 2,
      mirroring: {
        mode: 'snapshot',
        state: 'enabled',
        primary: true,
        globalId: 'ca1c92a1-7c35-44e9-b787-55e58f9385f7',
      },
    });
    expect(p.features).toContain('exclusive-lock');
    const n = parseImageInfo(fx('lab-info-nonprimary.json'), 'rbd');
    expect(n.mirroring.primary).toBe(false);
    expect(n.features).toContain('non-primary');
  });

  it('rbd info of an unmirrored image, with and without journaling', () => {
    const plain = parseImageInfo(
      '{"name":"p1","id":"1","size":8388608,"objects":2,"order":22,"object_size":4194304,"snapshot_count":1,"format":2,"features":["layering"],"op_features":[],"flags":[]}',
      'rbd2',
    );
    expect(plain.mirroring).toEqual({ mode: null, state: 'disabled', globalId: null, primary: null });
    const j = parseImageInfo(
      '{"name":"t3","id":"1","size":16777216,"features":["layering","exclusive-lock","journaling"],"journal":"1","mirroring":{"mode":"journal","state":"disabled"}}',
      'rbd',
    );
    expect(j.mirroring.mode).toBeNull();
    expect(j.mirroring.state).toBe('disabled');
  });
});

describe('rbd snap ls --all', () => {
  it('keeps 18446744073709551614 exact', () => {
    const snaps = parseSnapLs(fx('snap-ls-big-ids.json'));
    expect(snaps[0]?.id).toBe('18446744073709551610');
    expect(snaps[0]?.mirror?.primarySnapId).toBe('18446744073709551614');
    expect(snaps[0]?.mirror).toMatchObject({
      state: 'non-primary',
      primary: false,
      complete: false,
      lastCopiedObjectNumber: 3,
    });
    expect(snaps[1]).toMatchObject({
      id: '9007199254740993',
      name: 'user-snap',
      protected: true,
      namespaceType: 'user',
      mirror: null,
    });
  });

  it('primary snapshots on site-a (before and after a scheduled one)', () => {
    for (const f of [
      'snap-ls-site-a.json',
      'snap-ls-site-a-after-schedule.json',
      'lab-snap-ls-primary.json',
    ]) {
      const snaps = parseSnapLs(fx(f));
      expect(snaps).toHaveLength(2);
      for (const s of snaps)
        expect(s.mirror).toMatchObject({
          state: 'primary',
          primary: true,
          demoted: false,
          complete: true,
          primaryMirrorUuid: null,
          primarySnapId: null,
        });
    }
    expect(parseSnapLs(fx('snap-ls-site-a-after-schedule.json'))[1]?.mirror?.mirrorPeerUuids).toEqual([
      '70af7eb9-cf67-4cd1-9dfa-d7275f5be909',
    ]);
  });

  it('non-primary copies on site-b', () => {
    for (const f of ['snap-ls-site-b.json', 'lab-snap-ls-nonprimary.json']) {
      const [s] = parseSnapLs(fx(f));
      expect(s?.mirror).toMatchObject({
        state: 'non-primary',
        primary: false,
        demoted: false,
        complete: true,
      });
      expect(s?.mirror?.primarySnapId).toMatch(/^\d+$/);
      expect(s?.mirror?.primaryMirrorUuid).toMatch(/^[0-9a-f-]{36}$/);
    }
  });

  it('a demoted primary, and when a promote is safe', () => {
    const snaps = parseSnapLs(fx('lab-snap-ls-demoted.json'));
    expect(snaps[1]?.mirror).toMatchObject({ state: 'demoted', primary: true, demoted: true });
    expect(promoteReadiness(snaps)).toMatchObject({
      ready: false,
      reason: expect.stringMatching(/own demotion/),
    });
    expect(promoteReadiness(parseSnapLs(fx('snap-ls-site-a.json'))).reason).toMatch(/already primary/);
    expect(promoteReadiness(parseSnapLs(fx('snap-ls-site-b.json'))).reason).toMatch(/not been demoted/);
    expect(promoteReadiness(parseSnapLs(fx('snap-ls-big-ids.json')).slice(0, 1)).reason).toMatch(
      /still being copied/,
    );
    const demotedCopy = parseSnapLs(
      fx('snap-ls-site-b.json').replace('"state":"non-primary"', '"state":"demoted"'),
    );
    expect(promoteReadiness(demotedCopy)).toMatchObject({ ready: true });
    expect(promoteReadiness([])).toMatchObject({ ready: false });
  });

  it('the id printed by `rbd mirror image snapshot`', () => {
    expect(parseSnapshotIdLine('Snapshot ID: 16\n')).toBe('16');
    expect(parseSnapshotIdLine('Snapshot ID: 18446744073709551614\n')).toBe('18446744073709551614');
    expect(() => parseSnapshotIdLine('')).toThrow(/no snapshot id/);
  });
});

describe('snapshot schedules', () => {
  it('ls --recursive at every level', () => {
    expect(parseScheduleLsRecursive(fx('schedule-ls.json'))).toEqual([
      {
        level: 'pool',
        pool: 'rbd',
        namespace: null,
        image: null,
        items: [{ interval: '1m', startTime: null }],
      },
    ]);
    expect(parseScheduleLsRecursive(fx('schedule-ls-image-via-api.json'))).toEqual([
      {
        level: 'image',
        pool: 'rbd',
        namespace: '',
        image: 'img1',
        items: [{ interval: '2m', startTime: null }],
      },
    ]);
    const all = parseScheduleLsRecursive(fx('lab-schedule-ls-recursive.json'));
    expect(all.map((e) => e.level)).toEqual(['global', 'pool', 'namespace']);
    expect(all[0]).toEqual({
      level: 'global',
      pool: null,
      namespace: null,
      image: null,
      items: [{ interval: '1h', startTime: null }],
    });
    expect(all[1]?.items).toEqual([
      { interval: '5m', startTime: '12:03:00' },
      { interval: '1d', startTime: '14:00:00' },
    ]);
    expect(all[2]).toMatchObject({ pool: 'rbd', namespace: 'ns2', image: null });
    expect(parseScheduleLsRecursive('')).toEqual([]);
    expect(parseScheduleLsRecursive('[]')).toEqual([]);
  });

  it('status', () => {
    expect(parseScheduleStatus(fx('schedule-status.json'))).toEqual([
      {
        imageSpec: 'rbd/img1',
        pool: 'rbd',
        namespace: '',
        image: 'img1',
        scheduleTime: '2026-11-23 09:34:00',
      },
    ]);
    expect(parseScheduleStatus(fx('schedule-status-pool.json'))[0]?.image).toBe('img1');
    expect(
      parseScheduleStatus('[{"schedule_time":"2026-11-23 09:35:00","image":"rbd/ns1/vol"}]')[0],
    ).toMatchObject({ pool: 'rbd', namespace: 'ns1', image: 'vol' });
    expect(parseScheduleStatus('[]')).toEqual([]);
  });
});

describe('daemons and pools', () => {
  it('ceph service status: callouts, leader and image counts per pool', () => {
    const [d] = parseServiceStatus(fx('lab-service-status.json'));
    expect(d).toMatchObject({ serviceId: '4120', lastBeacon: '2026-11-23T12:12:56.541328+0000' });
    expect(d?.pools).toEqual([
      {
        poolId: '3',
        pool: 'rbd',
        leader: true,
        instanceId: '4277',
        imageCounts: { assigned: 1, error: 0, local: 1, remote: 1, warning: 0 },
        callouts: [],
      },
    ]);
    const withCallout = JSON.stringify({
      'rbd-mirror': {
        '4120': {
          status: {
            json: JSON.stringify({
              '3': {
                name: 'rbd',
                callouts: { '1': { level: 'error', text: 'unable to connect to local cluster' } },
              },
            }),
          },
        },
      },
    });
    expect(parseServiceStatus(withCallout)[0]?.pools[0]?.callouts).toEqual([
      { pool: 'rbd', level: 'error', text: 'unable to connect to local cluster' },
    ]);
    expect(parseServiceStatus('{}')).toEqual([]);
  });

  it('ceph service dump: rbd-mirror metadata', () => {
    expect(parseServiceDump(fx('lab-service-dump.json'))).toEqual([
      { serviceId: '4120', daemonId: 'lab', hostname: 'vm', version: '16.2.15' },
    ]);
  });

  it('rbd pools from ceph osd pool ls detail, and namespaces', () => {
    const pools = parseRbdPools(
      '[{"pool_id":1,"pool_name":"rbd2","application_metadata":{"rbd":{}}},{"pool_id":2,"pool_name":"device_health_metrics","application_metadata":{"mgr_devicehealth":{}}},{"pool_id":3,"pool_name":"rbd","application_metadata":{"rbd":{}}}]',
    );
    expect(pools).toEqual([
      { name: 'rbd2', id: 1 },
      { name: 'rbd', id: 3 },
    ]);
    expect(parseNamespaceLs('[{"name":"ns1"},{"name":"ns2"}]')).toEqual(['ns1', 'ns2']);
    expect(parseNamespaceLs('[]')).toEqual([]);
  });
});
