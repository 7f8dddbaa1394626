import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { cliMessage, cliWords, isRetryableCephError } from '@/server/adapters/ceph/errors';
import { encodeBootstrapToken } from '@/server/adapters/ceph/token';
import {
  CommandError,
  type CommandResult,
  type CommandRunner,
  type CommandSpec,
} from '@/server/adapters/runner';
import { classifyImage, planPoolJournaling } from '@/server/domain/ceph/mirroring';
import { AppError } from '@/server/core/errors';
import { rejection } from './ceph-demo-env';

const DIR = path.resolve(__dirname, '../fixtures/ceph');
const fx = (name: string) => fs.readFileSync(path.join(DIR, name), 'utf8');

type Reply = Partial<CommandResult> | ((spec: CommandSpec) => Partial<CommandResult>);

/** Answers by the first rule whose pattern matches the joined argv (after the base args). */
class FakeRunner implements CommandRunner {
  readonly target = 'fake';
  readonly calls: CommandSpec[] = [];
  constructor(private readonly rules: [RegExp, Reply][]) {}
  async run(spec: CommandSpec): Promise<CommandResult> {
    this.calls.push(spec);
    const line = spec.argv.join(' ');
    const rule = this.rules.find(([re]) => re.test(line));
    if (!rule) throw new Error(`unexpected command: ${line}`);
    const r = typeof rule[1] === 'function' ? rule[1](spec) : rule[1];
    const res: CommandResult = {
      stdout: r.stdout ?? '',
      stderr: r.stderr ?? '',
      exitCode: r.exitCode ?? 0,
      durationMs: 1,
    };
    if (res.exitCode !== 0 && !spec.allowFailure)
      throw new CommandError({
        argv: spec.argv,
        exitCode: res.exitCode,
        stderr: res.stderr,
        target: this.target,
      });
    return res;
  }
  async close() {}
  /** argv without the program and the cluster arguments. */
  args(i: number): string[] {
    const argv = this.calls[i]!.argv;
    const at = argv.indexOf('admin.keyring');
    return argv.slice(at + 1);
  }
}

const TARGET = {
  cluster: 'site-a',
  confPath: '/etc/ceph/site-a.conf',
  clientId: 'admin',
  keyringPath: 'admin.keyring',
};

function adapter(rules: [RegExp, Reply][]) {
  const runner = new FakeRunner(rules);
  return { runner, ceph: new CephCliAdapter(runner, TARGET) };
}

const fail = (stderr: string, exitCode = 22): Partial<CommandResult> => ({ exitCode, stderr });

describe('argument vectors', () => {
  it('points every command at the cluster and asks for JSON', async () => {
    const { runner, ceph } = adapter([[/mirror pool info/, { stdout: fx('pool-info-site-a.json') }]]);
    await ceph.getPoolMirrorInfo('rbd');
    expect(runner.calls[0]!.argv).toEqual([
      'rbd',
      '--cluster',
      'site-a',
      '--id',
      'admin',
      '--client_mount_timeout',
      '5',
      '--rados_mon_op_timeout',
      '10',
      '-c',
      '/etc/ceph/site-a.conf',
      '--keyring',
      'admin.keyring',
      'mirror',
      'pool',
      'info',
      'rbd',
      '--all',
      '--format',
      'json',
    ]);
  });

  it('uses pool/namespace/image specs everywhere', async () => {
    const { runner, ceph } = adapter([[/./, { stdout: '{}' }]]);
    await ceph.promoteImage('rbd', 'ns1', 'vol', { force: true }).catch(() => {});
    await ceph.demoteImage('rbd', '', 'vol');
    await ceph.resyncImage('rbd', 'ns1', 'vol');
    await ceph.disableImageMirroring('rbd', 'ns1', 'vol', { force: true });
    await ceph.enableImageMirroring('rbd', 'ns1', 'vol', 'snapshot');
    await ceph.enableJournaling('rbd', 'ns1', 'vol');
    await ceph.disableJournaling('rbd', '', 'vol');
    await ceph.setPoolMirrorMode('rbd', 'ns1', 'image');
    await ceph.setPoolMirrorMode('rbd2', '', 'pool', { siteName: 'site-a' });
    await ceph.setPoolMirrorMode('rbd2', '', 'disabled');
    await ceph.createImage('rbd', 'ns1', 'vol', 64 * 1024 * 1024, [
      'layering',
      'exclusive-lock',
      'journaling',
    ]);
    await ceph.removeImage('rbd', 'ns1', 'vol');
    expect(runner.calls.map((_, i) => runner.args(i).join(' '))).toEqual([
      'mirror image promote --force rbd/ns1/vol',
      'mirror image demote rbd/vol',
      'mirror image resync rbd/ns1/vol',
      'mirror image disable --force rbd/ns1/vol',
      'mirror image enable rbd/ns1/vol snapshot',
      'feature enable rbd/ns1/vol journaling',
      'feature disable rbd/vol journaling',
      'mirror pool enable rbd/ns1 image',
      'mirror pool enable --site-name site-a rbd2 pool',
      'mirror pool disable rbd2',
      'create --size 67108864B --image-feature layering,exclusive-lock,journaling rbd/ns1/vol',
      'rm --no-progress rbd/ns1/vol',
    ]);
  });

  it('peer settings, one verb each', async () => {
    const { runner, ceph } = adapter([[/./, {}]]);
    const uuid = '31bf64cd-78d1-4996-8baa-939f5cd33197';
    await ceph.setPeerClient('rbd', uuid, 'rbd-mirror-peer');
    await ceph.setPeerClient('rbd', uuid, 'client.other');
    await ceph.setPeerMonHost('rbd', uuid, '[v2:127.0.0.1:13301/0,v1:127.0.0.1:16790/0]');
    await ceph.setPeerSiteName('rbd', uuid, 'site-b');
    await ceph.setPeerDirection('rbd', uuid, 'rx-only');
    await ceph.removePeer('rbd', uuid);
    expect(runner.calls.map((_, i) => runner.args(i).join(' '))).toEqual([
      `mirror pool peer set rbd ${uuid} client client.rbd-mirror-peer`,
      `mirror pool peer set rbd ${uuid} client client.other`,
      `mirror pool peer set rbd ${uuid} mon-host [v2:127.0.0.1:13301/0,v1:127.0.0.1:16790/0]`,
      `mirror pool peer set rbd ${uuid} site-name site-b`,
      `mirror pool peer set rbd ${uuid} direction rx-only`,
      `mirror pool peer remove rbd ${uuid}`,
    ]);
  });

  it('schedules at every level', async () => {
    const { runner, ceph } = adapter([[/./, { stdout: '[]' }]]);
    await ceph.addSnapshotSchedule({}, '1h');
    await ceph.addSnapshotSchedule({ pool: 'rbd' }, '5m', '2026-11-23T12:03:00Z');
    await ceph.addSnapshotSchedule({ pool: 'rbd', namespace: 'ns1' }, '30m');
    await ceph.addSnapshotSchedule({ pool: 'rbd', namespace: 'ns1', image: 'vol' }, '2m');
    await ceph.removeSnapshotSchedule({ pool: 'rbd' }, '5m', '12:03:00');
    await ceph.removeSnapshotSchedule({ pool: 'rbd', image: 'vol' });
    await ceph.listSnapshotSchedules({ pool: 'rbd' });
    await ceph.getSnapshotScheduleStatus({ pool: 'rbd', image: 'vol' });
    expect(runner.calls.map((_, i) => runner.args(i).join(' '))).toEqual([
      'mirror snapshot schedule add 1h',
      'mirror snapshot schedule add --pool rbd 5m 2026-11-23T12:03:00Z',
      'mirror snapshot schedule add --pool rbd --namespace ns1 30m',
      'mirror snapshot schedule add --pool rbd --namespace ns1 --image vol 2m',
      'mirror snapshot schedule remove --pool rbd 5m 12:03:00',
      'mirror snapshot schedule remove --pool rbd --image vol',
      'mirror snapshot schedule ls --pool rbd --recursive --format json',
      'mirror snapshot schedule status --pool rbd --image vol --format json',
    ]);
  });

  it('validates schedules before running anything', async () => {
    const { runner, ceph } = adapter([[/./, {}]]);
    expect((await rejection(ceph.addSnapshotSchedule({ pool: 'rbd' }, '5'))).code).toBe('INVALID_INPUT');
    expect((await rejection(ceph.addSnapshotSchedule({ pool: 'rbd' }, '5m', 'tomorrow'))).code).toBe(
      'INVALID_INPUT',
    );
    expect((await rejection(ceph.addSnapshotSchedule({ image: 'vol' }, '5m'))).message).toMatch(
      /needs a pool/,
    );
    expect(
      (await rejection(ceph.removeSnapshotSchedule({ pool: 'rbd' }, undefined, '10:00'))).message,
    ).toMatch(/needs its interval/);
    expect(runner.calls).toHaveLength(0);
  });
});

describe('hostile names never reach a command', () => {
  const HOSTILE = [
    '--all',
    '-p',
    'rbd;rm -rf /',
    'a/b',
    'img@snap',
    '$(id)',
    '',
    ' rbd',
    'x'.repeat(200),
    'ns\nx',
    '../etc',
  ];
  it.each(HOSTILE)('refuses %j', async (bad) => {
    const { runner, ceph } = adapter([[/./, { stdout: '{}' }]]);
    const calls: Promise<unknown>[] = [
      ceph.getPoolMirrorInfo(bad),
      ceph.getPoolMirrorStatus('rbd', bad || '-x'),
      ceph.promoteImage('rbd', '', bad),
      ceph.createImage(bad, '', 'vol', 1024),
      ceph.imageChecksum('rbd', '', bad),
      ceph.writeImage('rbd', bad || '-', 'vol', 0, Buffer.from('x')),
      ceph.setSiteName('rbd', 'image', bad),
      ceph.setPeerSiteName('rbd', '31bf64cd-78d1-4996-8baa-939f5cd33197', bad),
      ceph.addSnapshotSchedule({ pool: 'rbd', image: bad || '-' }, '5m'),
      ceph.refreshStatus([bad]),
    ];
    for (const p of calls) expect((await rejection(p)).code).toBe('INVALID_INPUT');
    expect(runner.calls).toHaveLength(0);
  });

  it('refuses bad peer uuids, clients, mon hosts, directions, features and sizes', async () => {
    const { runner, ceph } = adapter([[/./, {}]]);
    const uuid = '31bf64cd-78d1-4996-8baa-939f5cd33197';
    for (const p of [
      ceph.removePeer('rbd', '--force'),
      ceph.setPeerClient('rbd', uuid, 'client.--x'),
      ceph.setPeerMonHost('rbd', uuid, '-m evil'),
      ceph.setPeerMonHost('rbd', uuid, 'a b'),
      ceph.setPeerDirection('rbd', uuid, 'both' as never),
      ceph.createImage('rbd', '', 'vol', 1024, ['layering', '--thick-provision']),
      ceph.createImage('rbd', '', 'vol', -1),
      ceph.createImage('rbd', '', 'vol', 1.5),
      ceph.writeImage('rbd', '', 'vol', -1, Buffer.from('x')),
      ceph.writeImage('rbd', '', 'vol', 0, Buffer.alloc(0)),
      ceph.enableImageMirroring('rbd', '', 'vol', 'mirror' as never),
      ceph.setPoolMirrorMode('rbd', '', 'all' as never),
      ceph.importBootstrapToken('rbd', 'garbage!', { direction: 'rx-tx' }),
    ]) {
      expect((await rejection(p)).code).toBe('INVALID_INPUT');
    }
    expect(runner.calls).toHaveLength(0);
  });
});

describe('bootstrap tokens', () => {
  const token = encodeBootstrapToken({
    fsid: 'c914c152-a5d7-4c24-9509-c704b5e13a28',
    clientId: 'rbd-mirror-peer',
    key: 'AQSECRETKEY==',
    monHost: '[v2:127.0.0.1:13300/0]',
  });

  it('create returns the token; import passes it on stdin, never in argv', async () => {
    const { runner, ceph } = adapter([
      [/bootstrap create/, { stdout: `${token}\n` }],
      [/bootstrap import/, {}],
    ]);
    expect(await ceph.createBootstrapToken('rbd', { siteName: 'site-a' })).toBe(token);
    await ceph.importBootstrapToken('rbd', token, { direction: 'rx-tx', siteName: 'site-b' });
    expect(runner.args(0)).toEqual([
      'mirror',
      'pool',
      'peer',
      'bootstrap',
      'create',
      '--site-name',
      'site-a',
      'rbd',
    ]);
    expect(runner.args(1)).toEqual([
      'mirror',
      'pool',
      'peer',
      'bootstrap',
      'import',
      '--site-name',
      'site-b',
      '--direction',
      'rx-tx',
      'rbd',
      '-',
    ]);
    expect(runner.calls[1]!.stdin).toBe(`${token}\n`);
    expect(runner.calls.every((c) => !c.argv.join(' ').includes(token))).toBe(true);
  });

  it('a bootstrap on a pool without mirroring is a precondition failure', async () => {
    const { ceph } = adapter([[/bootstrap create/, fail('rbd: mirroring not enabled on the pool\n')]]);
    const e = await rejection(ceph.createBootstrapToken('rbd2'));
    expect(e.code).toBe('PRECONDITION_FAILED');
    expect(e.message).toMatch(
      /mirroring is not enabled on pool rbd2.*\(rbd: mirroring not enabled on the pool\)/,
    );
  });
});

describe('error mapping (stderr captured from Ceph 16.2)', () => {
  const cases: [string, () => (c: CephCliAdapter) => Promise<unknown>, string, RegExp, boolean?][] = [
    [
      'rbd: error opening image nope: (2) No such file or directory\n',
      () => (c) => c.getImageInfo('rbd', '', 'nope'),
      'NOT_FOUND',
      /image rbd\/nope does not exist \(rbd: error opening image nope/,
    ],
    [
      "rbd: error opening pool 'nope': (2) No such file or directory\n",
      () => (c) => c.getImageInfo('nope', '', 'x'),
      'NOT_FOUND',
      /pool nope does not exist/,
    ],
    [
      "rbd: namespace 'ns1' does not exist.\n",
      () => (c) => c.getPoolMirrorInfo('rbd2', 'ns1'),
      'NOT_FOUND',
      /namespace ns1 does not exist in pool rbd2/,
    ],
    [
      '2026-11-23T12:12:16.058+0000 7fdad488f380 -1 librbd::api::Mirror: mode_set: mirror peers still registered\n',
      () => (c) => c.setPoolMirrorMode('rbd', '', 'disabled'),
      'PRECONDITION_FAILED',
      /cannot be disabled while peers are registered: remove the peers first \(librbd::api::Mirror: mode_set: mirror peers still registered\)/,
    ],
    [
      '2026-11-23T12:11:53.710+0000 7fbd23f48380 -1 librbd::api::Mirror: mode_set: failed to disable mirror mode: there are still images with mirroring enabled\n',
      () => (c) => c.setPoolMirrorMode('rbd', '', 'disabled'),
      'PRECONDITION_FAILED',
      /while images have mirroring enabled/,
    ],
    [
      '2026-11-23T12:14:55.174+0000 7fe738c736c0 -1 librbd::mirror::DemoteRequest: 0x7fe7180058d0 handle_get_info: image is not primary\n\n2026-11-23T12:14:55.174+0000 7fe73c88d380 -1 librbd::api::Mirror: image_demote: failed to demote image\n\nrbd: error demoting image to non-primary\n',
      () => (c) => c.demoteImage('rbd', '', 'x1'),
      'PRECONDITION_FAILED',
      /rbd\/x1 is not primary on this cluster/,
    ],
    [
      '2026-11-23T12:14:54.838+0000 7fb78a1cf6c0 -1 librbd::mirror::PromoteRequest: 0x7fb7700174e0 handle_get_info: image is already primary\n\nrbd: error promoting image to primary\n',
      () => (c) => c.promoteImage('rbd', '', 'x1'),
      'PRECONDITION_FAILED',
      /already primary/,
    ],
    [
      'rbd: import-diff failed: (30) Read-only file system\n2026-11-23T12:13:03.822+0000 7f204f8c6380 -1 librbd::io::AioCompletion: 0x55be334d9920 fail: (30) Read-only file system\n',
      () => (c) => c.writeImage('rbd', '', 'x1', 0, Buffer.from('x')),
      'CONFLICT',
      /read-only here/,
      true,
    ],
    [
      'rbd: error promoting image to primary: (16) Device or resource busy\n',
      () => (c) => c.promoteImage('rbd', '', 'x1'),
      'CONFLICT',
      /busy/,
      true,
    ],
    [
      'rbd: rbd mirror snapshot schedule add failed: (22) Invalid argument: Invalid level spec rbd/j1: image j1 is not in snapshot mirror mode\n',
      () => (c) => c.addSnapshotSchedule({ pool: 'rbd', image: 'j1' }, '2m'),
      'PRECONDITION_FAILED',
      /not in snapshot mirroring mode/,
    ],
    [
      'rbd: failed to update image features: (22) Invalid argument\n2026-11-23T12:12:09.210+0000 7f160132a6c0 -1 librbd::DisableFeaturesRequest: cannot disable journaling: journal-based mirroring enabled and mirror pool mode set to image\n',
      () => (c) => c.disableJournaling('rbd', '', 't3'),
      'PRECONDITION_FAILED',
      /disable its mirroring first/,
    ],
    [
      'rbd: failed to update image features: (22) Invalid argument\n2026-11-23T12:12:08.870+0000 7f9f5b7fe6c0 -1 librbd::EnableFeaturesRequest: cannot enable journaling. exclusive-lock must be enabled before enabling journaling.\n',
      () => (c) => c.enableJournaling('rbd', '', 't2'),
      'PRECONDITION_FAILED',
      /exclusive-lock/,
    ],
    [
      'rbd: delete error: (2) No such file or directory\n',
      () => (c) => c.removeImage('rbd', '', 'gone'),
      'NOT_FOUND',
      /image rbd\/gone does not exist/,
    ],
    [
      "rbd: image has snapshots - these must be deleted with 'rbd snap purge' before the image can be removed.\n",
      () => (c) => c.removeImage('rbd2', '', 'p1'),
      'PRECONDITION_FAILED',
      /still has snapshots/,
    ],
    [
      'rbd: create error: (17) File exists\n2026-11-23T12:17:17.546+0000 7fcb9b48d380 -1 librbd: rbd image dup already exists\n',
      () => (c) => c.createImage('rbd', '', 'dup', 1024),
      'ALREADY_EXISTS',
      /rbd\/dup already exists/,
    ],
    [
      'rbd: mirror peer 00000000-0000-0000-0000-000000000000 does not exist\n',
      () => (c) => c.setPeerSiteName('rbd', '00000000-0000-0000-0000-000000000000', 'x'),
      'NOT_FOUND',
      /mirror peer does not exist/,
    ],
    [
      // rbd writes its message in pieces to an unbuffered stderr; librbd's log line can land in between
      "rbd: mirror peer 2026-11-23T13:44:58.878+0000 7efca7490380 -1 librbd::api::Mirror: peer_site_set_name: failed to update site '00000000-0000-0000-0000-000000000000': (2) No such file or directory\n00000000-0000-0000-0000-000000000000 does not exist",
      () => (c) => c.setPeerSiteName('rbd', '00000000-0000-0000-0000-000000000000', 'x'),
      'NOT_FOUND',
      /mirror peer does not exist/,
    ],
    [
      'rbd: failed to update mirroring peer config: (2) No such file or directory\nrbd: mirror peer 00000000-0000-0000-0000-000000000000 does not exist\n',
      () => (c) => c.setPeerMonHost('rbd', '00000000-0000-0000-0000-000000000000', '1.2.3.4'),
      'NOT_FOUND',
      /mirror peer does not exist/,
    ],
    [
      '2026-11-23T12:11:53.710+0000 7fbd23f48380 -1 librbd::api::Mirror: image_enable: cannot enable mirroring: mirroring is not enabled on a pool\n',
      () => (c) => c.enableImageMirroring('rbd2', '', 'p1', 'snapshot'),
      'PRECONDITION_FAILED',
      /mirroring is not enabled on pool rbd2/,
    ],
  ];

  it.each(cases.map((c, i) => [i, ...c] as const))(
    'case %i',
    async (_i, stderr, call, code, re, retryable) => {
      const { ceph } = adapter([[/./, fail(stderr)]]);
      const e = await rejection(call()(ceph));
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
      expect(e.cause).toBeInstanceOf(CommandError);
      expect(isRetryableCephError(e)).toBe(retryable === true);
    },
  );

  it('keeps an unknown failure as the CommandError with the CLI message', async () => {
    const { ceph } = adapter([[/./, fail('rbd: something new went wrong\n', 5)]]);
    const e = await rejection(ceph.resyncImage('rbd', '', 'x'));
    expect(e).toBeInstanceOf(CommandError);
    expect(e.message).toMatch(/something new went wrong/);
  });

  it('peer remove that fails after removing the peer (non-primary image): the CLI’s own lines are kept', async () => {
    const { ceph } = adapter([
      [/mirror pool peer remove/, fail(fx('lab-peer-remove-unlink-erofs.stderr.txt'), 30)],
    ]);
    const e = await rejection(ceph.removePeer('unpairtest', 'fd5307ea-625d-431d-a904-0ab5e376009a'));
    expect(cliWords(e)).toBe(
      'librbd::mirror::snapshot::UnlinkPeerRequest: 0x55ffac839560 handle_remove_snapshot: failed to remove snapshot: (30) Read-only file system | rbd: error removing mirror peer | librbd::api::Mirror: peer_site_remove: error unlinking peer for image 1585ba632517: (30) Read-only file system',
    );
    expect(e.message).toContain(cliWords(e));
    expect(cliWords(new Error('plain'))).toBe('plain');
  });

  it('cliMessage drops timestamps and config noise', () => {
    expect(
      cliMessage(
        "did not load config file, using default settings.\n2026-11-23T12:11:23.230+0000 7f290c290380 -1 can't open ceph.conf: (2) No such file or directory\nrbd: boom\n",
      ),
    ).toBe('rbd: boom');
  });
});

describe('listing is O(1) CLI calls per pool', () => {
  it('listImages = rbd ls -l + one verbose pool status', async () => {
    const { runner, ceph } = adapter([
      [
        / ls --long rbd/,
        {
          stdout:
            '[{"image":"img1","id":"a1","size":67108864,"format":2},{"image":"plain","id":"a2","size":1024,"format":2}]',
        },
      ],
      [/mirror pool status rbd --verbose/, { stdout: fx('pool-status-site-a.json') }],
    ]);
    const list = await ceph.listImages('rbd');
    expect(runner.calls).toHaveLength(2);
    expect(ceph.cliCalls).toBe(2);
    expect(list.map((i) => [i.name, i.mirroring?.primary ?? null])).toEqual([
      ['img1', true],
      ['plain', null],
    ]);
  });

  it('listImages on a pool without mirroring', async () => {
    const { ceph } = adapter([
      [/ ls --long/, { stdout: '[{"image":"p1","id":"a","size":1,"format":2}]' }],
      [/mirror pool status/, fail('rbd: mirroring not enabled on the pool\n')],
    ]);
    expect((await ceph.listImages('rbd2'))[0]?.mirroring).toBeNull();
  });

  it('refreshStatus: pools, namespaces, images and daemons in 2 + 4·pools + 3·namespaces calls', async () => {
    const { runner, ceph } = adapter([
      [
        /osd pool ls detail/,
        {
          stdout:
            '[{"pool_id":1,"pool_name":"rbd2","application_metadata":{"rbd":{}}},{"pool_id":3,"pool_name":"rbd","application_metadata":{"rbd":{}}}]',
        },
      ],
      [/namespace ls rbd2/, { stdout: '[]' }],
      [/namespace ls rbd /, { stdout: '[{"name":"ns1"}]' }],
      [/mirror pool info rbd2 --all/, { stdout: '{"mode":"disabled"}' }],
      [/mirror pool info rbd --all/, { stdout: fx('pool-info-site-a.json') }],
      [/mirror pool info rbd\/ns1 /, { stdout: '{"mode":"image"}' }],
      [/ ls --long rbd2 /, { stdout: '[]' }],
      [/ ls --long rbd /, { stdout: '[{"image":"img1","id":"a1","size":67108864,"format":2}]' }],
      [/ ls --long rbd\/ns1 /, { stdout: '[]' }],
      [/mirror pool status rbd --verbose/, { stdout: fx('pool-status-site-a.json') }],
      [
        /mirror pool status rbd\/ns1 --verbose/,
        {
          stdout:
            '{"summary":{"health":"OK","daemon_health":"OK","image_health":"OK","states":{}},"daemons":[],"images":[]}',
        },
      ],
      [/service status/, { stdout: fx('lab-service-status.json') }],
      [/service dump/, { stdout: fx('lab-service-dump.json') }],
    ]);
    const snap = await ceph.refreshStatus();
    // 1 discovery + rbd2 (ns ls, info, ls) + rbd (ns ls, info, status, ls) + ns1 (info, status, ls) + 2 service
    expect(snap.cliCalls).toBe(1 + 3 + 4 + 3 + 2);
    expect(runner.calls).toHaveLength(snap.cliCalls);
    expect(snap.pools.map((p) => `${p.pool}/${p.namespace}:${p.mode}`)).toEqual([
      'rbd2/:disabled',
      'rbd/:image',
      'rbd/ns1:image',
    ]);
    expect(snap.pools[1]?.images[0]?.mirroring?.state).toBe('stopped');
    expect(snap.pools[2]?.peers).toHaveLength(1);
    expect(snap.daemons).toHaveLength(2); // 4120 from the service map, 4141 from the pool status fixture
    expect(snap.daemons.find((d) => d.serviceId === '4120')).toMatchObject({
      daemonId: 'lab',
      hostname: 'vm',
      leader: true,
      health: 'OK',
    });
    const again = await ceph.refreshStatus(['rbd']);
    expect(again.cliCalls).toBe(4 + 3 + 2);
    expect(ceph.cliCalls).toBe(snap.cliCalls + again.cliCalls);
  });

  it('refreshStatus after an unpair: role and mode of images whose status does not say them come from `rbd info` (at most roleLookups calls)', async () => {
    const info = (name: string) => ({
      stdout: fx('lab-unpaired-info-txonly-b.json').replace('"unp-img4b"', JSON.stringify(name)),
    });
    const { runner, ceph } = adapter([
      [/namespace ls unpairtest/, { stdout: '[]' }],
      [/mirror pool info unpairtest --all/, { stdout: fx('lab-unpaired-pool-info-b.json') }],
      [
        / ls --long unpairtest /,
        {
          stdout:
            '[{"image":"unp-img4a","id":"a1","size":33554432,"format":2},{"image":"unp-img4b","id":"b1","size":33554432,"format":2}]',
        },
      ],
      [
        /mirror pool status unpairtest --verbose/,
        { stdout: fx('lab-unpaired-pool-status-verbose-txonly-b.json') },
      ],
      [/ info unpairtest\/unp-img4a /, info('unp-img4a')],
      [/ info unpairtest\/unp-img4b /, info('unp-img4b')],
      [/service status/, { stdout: '{}' }],
      [/service dump/, { stdout: '{"services":{}}' }],
    ]);
    const snap = await ceph.refreshStatus(['unpairtest']);
    expect(snap.cliCalls).toBe(4 + 2 + 2);
    const [pool] = snap.pools;
    expect(
      pool!.images.map((i) => [i.name, i.mirroring?.primary, i.mirroring?.mode, i.mirroring?.rawState]),
    ).toEqual([
      ['unp-img4a', false, 'snapshot', 'down+unknown'],
      ['unp-img4b', false, 'snapshot', 'down+unknown'],
    ]);
    expect(pool!.images.map((i) => classifyImage(i, Date.now(), pool).group)).toEqual(['idle', 'idle']);

    ceph.roleLookups = 1;
    const capped = await ceph.refreshStatus(['unpairtest']);
    expect(capped.cliCalls).toBe(4 + 1 + 2);
    expect(capped.pools[0]!.images.map((i) => i.mirroring?.primary)).toEqual([false, null]);
    expect(runner.calls.filter((_, i) => runner.args(i)[0] === 'info')).toHaveLength(3);
  });

  it('refreshStatus after an unpair, primary side: the status says primary, `rbd info` the mode', async () => {
    const { runner, ceph } = adapter([
      [/namespace ls unpairtest/, { stdout: '[]' }],
      [/mirror pool info unpairtest --all/, { stdout: '{"mode":"image","site_name":"site-a","peers":[]}' }],
      [
        / ls --long unpairtest /,
        { stdout: '[{"image":"unp-img5","id":"13a153d240e8","size":33554432,"format":2}]' },
      ],
      [/mirror pool status unpairtest --verbose/, { stdout: fx('lab-unpaired-pool-status-verbose-a.json') }],
      [/ info unpairtest\/unp-img5 /, { stdout: fx('lab-unpaired-info-a.json') }],
      [/service status/, { stdout: '{}' }],
      [/service dump/, { stdout: '{"services":{}}' }],
    ]);
    const [pool] = (await ceph.refreshStatus(['unpairtest'])).pools;
    expect(pool!.images[0]!.mirroring).toMatchObject({
      rawState: 'down+stopped',
      primary: true,
      mode: 'snapshot',
    });
    expect(classifyImage(pool!.images[0]!, Date.now(), pool)).toMatchObject({
      group: 'idle',
      reason: expect.stringMatching(/^no peer: not replicating/),
    });
    expect(runner.calls).toHaveLength(4 + 1 + 2);
  });

  it('daemon health follows the callouts', async () => {
    const status = JSON.stringify({
      'rbd-mirror': {
        '7': {
          last_beacon: 'x',
          status: {
            json: JSON.stringify({
              '3': {
                name: 'rbd',
                callouts: { '0': { level: 'error', text: 'unable to connect to remote cluster' } },
                leader: true,
              },
            }),
          },
        },
      },
    });
    const { ceph } = adapter([
      [/service status/, { stdout: status }],
      [/service dump/, { stdout: '{"services":{}}' }],
    ]);
    const [d] = await ceph.listMirrorDaemons();
    expect(d).toMatchObject({
      serviceId: '7',
      health: 'ERROR',
      leader: true,
      callouts: [{ pool: 'rbd', level: 'error', text: 'unable to connect to remote cluster' }],
    });
  });
});

describe('schedules: empty results and exit codes', () => {
  it('exit 2 with no output is an empty list', async () => {
    const { ceph } = adapter([[/schedule/, { exitCode: 2 }]]);
    expect(await ceph.listSnapshotSchedules({ pool: 'rbd2' })).toEqual([]);
    expect(await ceph.getSnapshotScheduleStatus({ pool: 'rbd2' })).toEqual([]);
  });

  it('other failures are errors', async () => {
    const { ceph } = adapter([
      [
        /schedule/,
        fail(
          'rbd: rbd mirror snapshot schedule list failed: (22) Invalid argument: Invalid level spec nopool/: pool nopool does not exist\n',
        ),
      ],
    ]);
    expect((await rejection(ceph.listSnapshotSchedules({ pool: 'nopool' }))).code).toBe('NOT_FOUND');
  });

  it('parses the recursive listing', async () => {
    const { ceph } = adapter([[/schedule ls/, { stdout: fx('lab-schedule-ls-recursive.json') }]]);
    expect((await ceph.listSnapshotSchedules()).map((e) => e.level)).toEqual(['global', 'pool', 'namespace']);
  });
});

describe('data helpers', () => {
  it('imageChecksum pipes rbd export into md5sum through sh -c', async () => {
    const { runner, ceph } = adapter([[/^sh -c/, { stdout: '92b4fa644b9f5418e038970021848adf  -\n' }]]);
    expect(await ceph.imageChecksum('rbd', 'ns1', 'vol')).toBe('92b4fa644b9f5418e038970021848adf');
    expect(runner.calls[0]!.argv).toEqual([
      'sh',
      '-c',
      'rbd --cluster site-a --id admin --client_mount_timeout 5 --rados_mon_op_timeout 10 -c /etc/ceph/site-a.conf --keyring admin.keyring export --no-progress rbd/ns1/vol - | md5sum',
    ]);
  });

  it('imageChecksum notices a failed export despite md5sum succeeding', async () => {
    const { ceph } = adapter([
      [
        /^sh -c/,
        {
          stdout: 'd41d8cd98f00b204e9800998ecf8427e  -\n',
          stderr: 'rbd: error opening image vol: (2) No such file or directory\n',
        },
      ],
    ]);
    expect((await rejection(ceph.imageChecksum('rbd', '', 'vol'))).code).toBe('NOT_FOUND');
  });

  it('writeImage sends one rbd diff v1 write record to import-diff', async () => {
    const { runner, ceph } = adapter([[/import-diff/, {}]]);
    await ceph.writeImage('rbd', '', 'vol', 4096, Buffer.from('hello'));
    expect(runner.args(0)).toEqual(['import-diff', '--no-progress', '-', 'rbd/vol']);
    const s = runner.calls[0]!.stdin as Buffer;
    expect(s.subarray(0, 12).toString('latin1')).toBe('rbd diff v1\n');
    expect(s.subarray(12, 13).toString('latin1')).toBe('w');
    expect(s.readBigUInt64LE(13)).toBe(4096n);
    expect(s.readBigUInt64LE(21)).toBe(5n);
    expect(s.subarray(29, 34).toString()).toBe('hello');
    expect(s.subarray(34).toString('latin1')).toBe('e');
  });

  it('createMirrorSnapshot returns the exact id', async () => {
    const { ceph } = adapter([[/mirror image snapshot/, { stdout: 'Snapshot ID: 18446744073709551614\n' }]]);
    expect(await ceph.createMirrorSnapshot('rbd', '', 'vol')).toEqual({ snapshotId: '18446744073709551614' });
  });

  it('listImageSnapshots keeps big ids exact', async () => {
    const { ceph } = adapter([[/snap ls --all/, { stdout: fx('snap-ls-big-ids.json') }]]);
    expect((await ceph.listImageSnapshots('rbd', '', 'img1'))[0]?.mirror?.primarySnapId).toBe(
      '18446744073709551614',
    );
  });
});

describe('site name and pool journaling', () => {
  it('setSiteName re-enables the pool in the mode it is given', async () => {
    const { runner, ceph } = adapter([
      [/mirror pool info rbd /, { stdout: '{"mode":"image","site_name":"site-a","peers":[]}' }],
      [/mirror pool info rbd2 /, { stdout: '{"mode":"disabled"}' }],
      [/mirror pool enable/, {}],
    ]);
    expect(await ceph.getSiteName('rbd')).toBe('site-a');
    expect(await ceph.getSiteName('rbd2')).toBeNull();
    await ceph.setSiteName('rbd', 'image', 'site-x');
    expect(runner.args(2)).toEqual(['mirror', 'pool', 'enable', '--site-name', 'site-x', 'rbd', 'image']);
  });

  it('the journaling plan over parsed `rbd info` skips snapshot-mirrored, non-primary and lock-less images', async () => {
    const info = (name: string, features: string[], mirroring?: object) =>
      JSON.stringify({ name, id: name, size: 1, features, ...(mirroring ? { mirroring } : {}) });
    const { runner, ceph } = adapter([
      [/ ls rbd /, { stdout: '["a","b","c","d","e"]' }],
      [/info rbd\/a /, { stdout: info('a', ['layering', 'exclusive-lock']) }],
      [
        /info rbd\/b /,
        {
          stdout: info('b', ['layering', 'exclusive-lock'], {
            mode: 'snapshot',
            state: 'enabled',
            global_id: 'g',
            primary: true,
          }),
        },
      ],
      [/info rbd\/c /, { stdout: info('c', ['layering']) }],
      [
        /info rbd\/d /,
        {
          stdout: info('d', ['layering', 'exclusive-lock', 'journaling', 'non-primary'], {
            mode: 'journal',
            state: 'enabled',
            global_id: 'g',
            primary: false,
          }),
        },
      ],
      [/info rbd\/e /, { stdout: info('e', ['layering', 'exclusive-lock', 'journaling']) }],
    ]);
    const infos = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => ceph.getImageInfo('rbd', '', n)));
    const r = planPoolJournaling(infos, true);
    expect(r.change).toEqual(['a']);
    expect(r.skipped).toEqual([
      { image: 'b', reason: 'snapshot mirroring mode' },
      { image: 'c', reason: 'no exclusive-lock feature' },
      { image: 'd', reason: 'not primary here' },
      { image: 'e', reason: 'journaling already on' },
    ]);
    expect(runner.calls.filter((c) => c.argv.includes('feature'))).toHaveLength(0);
  });
});

describe('a cluster whose monitors do not answer', () => {
  // What Ceph 16.2 prints when no monitor answers (captured on the lab with a crashed site).
  const RBD_STDERR =
    "2026-12-03T11:16:39.440+0000 7f4334a78380  0 monclient(hunting): authenticate timed out after 5\nrbd: couldn't connect to the cluster!\nrbd: listing images failed: (110) Connection timed out\n";
  const CEPH_STDERR =
    '2026-12-03T11:16:33.260+0000 7ff2b5dff6c0  0 monclient(hunting): authenticate timed out after 5\n\n[errno 110] RADOS timed out (error connecting to the cluster)\n';
  const fromFlag = (argv: readonly string[], flag: string) =>
    argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined;

  it('every rbd and ceph call bounds the search for a monitor (without it: client_mount_timeout, 300 s by default)', async () => {
    const { runner, ceph } = adapter([
      [/osd pool ls detail/, { stdout: '[]' }],
      [/sh -c/, { stdout: 'd41d8cd98f00b204e9800998ecf8427e  -\n' }],
      [/./, { stdout: '{"mode":"image","site_name":"site-a","peers":[]}' }],
    ]);
    await ceph.getPoolMirrorInfo('rbd');
    await ceph.listRbdPools();
    await ceph.imageChecksum('rbd', '', 'vol');
    const [rbd, cephCall, sh] = runner.calls.map((c) => c.argv);
    for (const argv of [rbd!, cephCall!]) {
      expect(fromFlag(argv, '--client_mount_timeout')).toBe('5');
      expect(fromFlag(argv, '--rados_mon_op_timeout')).toBe('10');
    }
    // Only the ceph CLI knows --connect-timeout (rbd refuses it); it is a backstop behind librados' own timeout.
    expect(rbd).not.toContain('--connect-timeout');
    expect(fromFlag(cephCall!, '--connect-timeout')).toBe('7');
    expect(sh!.join(' ')).toContain(
      'rbd --cluster site-a --id admin --client_mount_timeout 5 --rados_mon_op_timeout 10 -c /etc/ceph/site-a.conf --keyring admin.keyring export --no-progress rbd/vol -',
    );
  });

  it('takes another connect timeout from its options', async () => {
    const runner = new FakeRunner([[/./, { stdout: '[]' }]]);
    await new CephCliAdapter(runner, TARGET, { connectTimeoutSec: 2 }).listRbdPools();
    const argv = runner.calls[0]!.argv;
    expect([
      fromFlag(argv, '--client_mount_timeout'),
      fromFlag(argv, '--rados_mon_op_timeout'),
      fromFlag(argv, '--connect-timeout'),
    ]).toEqual(['2', '4', '4']);
  });

  it.each([
    ['rbd', RBD_STDERR, 110],
    ['ceph', CEPH_STDERR, 1],
    ['ceph (--connect-timeout)', 'timed out\n', 1],
  ])('is UNREACHABLE with the CLI’s words (%s)', async (_tool, stderr, exitCode) => {
    const { ceph } = adapter([[/./, fail(stderr, exitCode)]]);
    const e = await rejection(ceph.refreshStatus());
    expect(e.code).toBe('UNREACHABLE');
    expect(e.message).toMatch(/did not answer within 5 s/);
    expect(e.message).toMatch(/timed out/);
  });
});

describe('test copies of a mirror snapshot (import-only migration by snapshot id)', () => {
  // stderr captured on the lab (Ceph 16.2.15)
  const PRUNED_PREPARE =
    '2026-12-04T04:26:10.826+0000 7fd37ab9b6c0 -1 librbd::migration::NativeFormat: 0x564af1d352e0 handle_snap_set: failed to set snapshot 5: (2) No such file or directory\n\n' +
    '2026-12-04T04:26:10.826+0000 7fd36a7fc6c0 -1 librbd::migration::OpenSourceImageRequest: 0x564af1db3f30 handle_open_source: failed to open migration source: (2) No such file or directory\n\n' +
    '2026-12-04T04:26:10.826+0000 7fd37e695380 -1 librbd::Migration: prepare_import: failed to open source image: (2) No such file or directory\n\n' +
    'rbd: preparing import migration failed: (2) No such file or directory\n';
  const PRUNED_EXECUTE =
    '2026-12-04T04:26:37.262+0000 7f0646ce26c0 -1 librbd::migration::NativeFormat: 0x7f062404e940 handle_snap_set: failed to set snapshot 5: (2) No such file or directory\n\n' +
    '2026-12-04T04:26:37.386+0000 7f0646ce26c0 -1 librbd::image::OpenRequest: failed to refresh image: (2) No such file or directory\n\n' +
    '2026-12-04T04:26:37.386+0000 7f064a098380 -1 librbd::Migration: open_images: failed to re-open destination image: (2) No such file or directory\n\n' +
    'rbd: migration failed: (2) No such file or directory\n';
  const POOL_MODE_COMMIT =
    '2026-12-04T04:28:08.070+0000 7f471a7fc6c0 -1 librbd::Journal: 0x7f4704023750 C_IsTagOwner::finish: failed to get tag owner: (2) No such file or directory\n\n' +
    '2026-12-04T04:28:08.070+0000 7f471a7fc6c0 -1 librbd::mirror::EnableRequest: 0x555a0568fbd0 handle_get_tag_owner: failed to check tag ownership: (2) No such file or directory\n\n' +
    '2026-12-04T04:28:08.070+0000 7f472269c380 -1 librbd::Migration: enable_mirroring: failed to enable mirroring: (2) No such file or directory\n\n' +
    'rbd: committing migration failed: (2) No such file or directory\n';
  const EXISTS_PREPARE =
    '2026-12-04T04:26:10.966+0000 7fc7f2c92380 -1 librbd::Migration: create_dst_image: header creation failed: (17) File exists\n\n' +
    '2026-12-04T04:26:10.966+0000 7fc7f2c92380 -1 librbd::api::Trash: restore: error getting image id 1037ee2e0193 info from trash: (2) No such file or directory\n\n' +
    'rbd: preparing import migration failed: (17) File exists\n';
  const ABORT_NOT_MIGRATING =
    '2026-12-04T04:26:54.542+0000 7f933da9c380 -1 librbd::Migration: open_images: failed retrieving migration header: (22) Invalid argument\n\nrbd: aborting migration failed: (22) Invalid argument\n';
  const ABORT_MISSING =
    '2026-12-04T04:26:54.574+0000 7f942992a380 -1 librbd::Migration: open_images: failed to determine image id: (2) No such file or directory\n\nrbd: aborting migration failed: (2) No such file or directory\n';
  const OPEN_MISSING = 'rbd: error opening image tc1: (2) No such file or directory\n';

  const srcInfo = fx('lab-info-nonprimary.json');
  const copyInfo = (extra: { features?: string[]; mirroring?: unknown } = {}) => {
    const d = JSON.parse(srcInfo) as Record<string, unknown>;
    delete d.mirroring;
    return JSON.stringify({
      ...d,
      name: 'tc1',
      features: ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'],
      snapshot_count: 0,
      ...extra,
    });
  };
  const PREPARE = [
    'migration',
    'prepare',
    '--import-only',
    '--image-feature',
    'layering,exclusive-lock,object-map,fast-diff,deep-flatten',
    '--object-size',
    '4194304B',
    '--source-spec',
    '{"type":"native","pool_name":"rbd","image_name":"x1","snap_id":5}',
    'rbd/tc1',
  ];

  /** The lab's non-primary image x1 (complete mirror snapshot 5); `tc1` missing until prepared. */
  function copyRunner(over: [RegExp, Reply][] = [], opts: { snapsAfter?: string } = {}) {
    let prepared = false;
    let snapLs = 0;
    return adapter([
      ...over,
      [
        /snap ls --all rbd\/x1 /,
        () => ({
          stdout:
            snapLs++ === 0 || opts.snapsAfter === undefined
              ? fx('lab-snap-ls-nonprimary.json')
              : opts.snapsAfter,
        }),
      ],
      [/ info rbd\/x1 /, { stdout: srcInfo }],
      [/ info rbd\/tc1 /, () => (prepared ? { stdout: copyInfo() } : fail(OPEN_MISSING, 2))],
      [/migration prepare/, () => ((prepared = true), {})],
      [/migration (execute|commit|abort)/, {}],
      [/snap ls --all rbd\/tc1 /, { stdout: '[]' }],
      [/ rm --no-progress rbd\/tc1$/, {}],
    ]);
  }
  const verbs = (runner: FakeRunner) => runner.calls.map((_, i) => runner.args(i).slice(0, 2).join(' '));

  it('prepares an import of the snapshot by id (source features without non-primary, its object size), executes, checks the snapshot is still there, commits', async () => {
    const { runner, ceph } = copyRunner();
    expect(await ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1')).toEqual({
      method: 'copy',
      snapshotId: '5',
      sizeBytes: 67108864,
      features: ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'],
    });
    expect(verbs(runner)).toEqual([
      'snap ls',
      'info rbd/x1',
      'info rbd/tc1',
      'migration prepare',
      'migration execute',
      'snap ls',
      'migration commit',
      'info rbd/tc1',
    ]);
    expect(runner.args(3)).toEqual(PREPARE);
    expect(runner.args(4)).toEqual(['migration', 'execute', '--no-progress', 'rbd/tc1']);
    expect(runner.args(6)).toEqual(['migration', 'commit', '--no-progress', 'rbd/tc1']);
    expect(runner.calls[4]!.timeoutMs).toBe(3_600_000);
  });

  it('names the namespace in both specs and keeps 64-bit snapshot ids exact', async () => {
    const big = fx('lab-snap-ls-nonprimary.json').replace('"id":5', '"id":18446744073709551614');
    const { runner, ceph } = adapter([
      [/snap ls --all rbd\/ns1\/x1 /, { stdout: big }],
      [/ info rbd\/ns1\/x1 /, { stdout: srcInfo }],
      [
        / info rbd\/ns1\/tc1 /,
        () =>
          runner.calls.filter((c) => c.argv.includes('prepare')).length
            ? { stdout: copyInfo() }
            : fail(OPEN_MISSING, 2),
      ],
      [/migration/, {}],
    ]);
    await ceph.createTestCopy('rbd', 'ns1', 'x1', '18446744073709551614', 'tc1');
    const prepare = runner.calls.find((c) => c.argv.includes('prepare'))!.argv;
    expect(prepare[prepare.indexOf('--source-spec') + 1]).toBe(
      '{"type":"native","pool_name":"rbd","pool_namespace":"ns1","image_name":"x1","snap_id":18446744073709551614}',
    );
    expect(prepare[prepare.length - 1]).toBe('rbd/ns1/tc1');
  });

  it('a pool-mode pool: commit exits 2 (librbd tries journal mirroring) but the copy is complete and unmirrored, so it succeeds', async () => {
    const { ceph } = copyRunner([[/migration commit/, fail(POOL_MODE_COMMIT, 2)]]);
    expect((await ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1')).method).toBe('copy');
  });

  it('a snapshot pruned before the prepare: CONFLICT, retryable, with Ceph’s words; whatever prepare left is aborted', async () => {
    const { runner, ceph } = copyRunner([[/migration prepare/, fail(PRUNED_PREPARE, 2)]]);
    const e = await rejection(ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1'));
    expect(e.code).toBe('CONFLICT');
    expect(isRetryableCephError(e)).toBe(true);
    expect(e.message).toMatch(/mirror snapshot 5 of rbd\/x1 no longer exists .*copy the newest one/);
    expect(e.message).toMatch(/preparing import migration failed: \(2\)/);
    expect(verbs(runner).slice(3)).toEqual(['migration prepare', 'migration abort']);
  });

  it('a snapshot pruned during the execute, or found gone after it: CONFLICT and the import is removed', async () => {
    const r1 = copyRunner([[/migration execute/, fail(PRUNED_EXECUTE, 2)]]);
    expect((await rejection(r1.ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1'))).code).toBe('CONFLICT');
    expect(verbs(r1.runner)).toContain('migration abort');
    expect(verbs(r1.runner)).not.toContain('migration commit');

    const r2 = copyRunner([], { snapsAfter: '[]' });
    const e = await rejection(r2.ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1'));
    expect(e.code).toBe('CONFLICT');
    expect(verbs(r2.runner)).not.toContain('migration commit');
    expect(verbs(r2.runner)).toContain('migration abort');
  });

  it('refuses user snapshots, incomplete copies, an existing destination and hostile input before any migration', async () => {
    const incomplete = fx('lab-snap-ls-nonprimary.json').replace('"complete":true', '"complete":false');
    const user =
      '[{"id":5,"name":"before-upgrade","size":67108864,"protected":"false","timestamp":"Mon Nov 23 12:12:44 2026","namespace":{"type":"user"}}]';
    for (const [snaps, re] of [
      [incomplete, /still being copied/],
      [user, /user snapshot, not a mirror snapshot/],
    ] as const) {
      const { runner, ceph } = copyRunner([[/snap ls --all rbd\/x1 /, { stdout: snaps }]]);
      const e = await rejection(ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1'));
      expect(e.code).toBe('PRECONDITION_FAILED');
      expect(e.message).toMatch(re);
      expect(verbs(runner).some((v) => v.startsWith('migration'))).toBe(false);
    }
    const missing = copyRunner();
    expect((await rejection(missing.ceph.createTestCopy('rbd', '', 'x1', '6', 'tc1'))).code).toBe('CONFLICT');
    expect(verbs(missing.runner).some((v) => v.startsWith('migration'))).toBe(false);

    const exists = copyRunner([[/ info rbd\/tc1 /, { stdout: copyInfo() }]]);
    expect((await rejection(exists.ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1'))).code).toBe(
      'ALREADY_EXISTS',
    );
    expect(verbs(exists.runner).some((v) => v.startsWith('migration'))).toBe(false);

    // created between the check and the prepare: the existing image is left alone
    const raced = copyRunner([[/migration prepare/, fail(EXISTS_PREPARE, 17)]]);
    expect((await rejection(raced.ceph.createTestCopy('rbd', '', 'x1', '5', 'tc1'))).code).toBe(
      'ALREADY_EXISTS',
    );
    expect(verbs(raced.runner)).not.toContain('migration abort');

    const none = copyRunner();
    for (const [args, field] of [
      [['rbd', '', 'x1', '5; rm -rf /', 'tc1'], 'snapshotId'],
      [['rbd', '', 'x1', '-5', 'tc1'], 'snapshotId'],
      [['rbd', '', 'x1', '18446744073709551616', 'tc1'], 'snapshotId'],
      [['rbd', '', 'x1', '5', '--dest=x'], 'image'],
      [['rbd', '', 'x1', '5', 'x1'], 'dest'],
      [['rbd', 'ns/../x', 'x1', '5', 'tc1'], 'namespace'],
    ] as const) {
      const e = await rejection(
        none.ceph.createTestCopy(...(args as unknown as [string, string, string, string, string])),
      );
      expect(e.code).toBe('INVALID_INPUT');
      expect(e.details?.field ?? e.message).toMatch(new RegExp(field));
    }
    expect(none.runner.calls).toHaveLength(0);
  });

  it('removeTestCopy: protected snapshots unprotected by name, the rest purged, then the image', async () => {
    const snaps =
      '[{"id":12,"name":"before upgrade","size":67108864,"protected":"true","timestamp":"Fri Dec  4 04:30:37 2026","namespace":{"type":"user"}},{"id":13,"name":"s2","size":67108864,"protected":"false","timestamp":"Fri Dec  4 04:30:38 2026","namespace":{"type":"user"}}]';
    const { runner, ceph } = adapter([
      [/ info rbd\/tc1 /, { stdout: copyInfo() }],
      [/snap ls --all rbd\/tc1 /, { stdout: snaps }],
      [/snap (unprotect|purge)/, {}],
      [/ rm --no-progress rbd\/tc1$/, {}],
    ]);
    await ceph.removeTestCopy('rbd', '', 'tc1');
    expect(runner.calls.map((_, i) => runner.args(i))).toEqual([
      ['info', 'rbd/tc1', '--format', 'json'],
      ['snap', 'ls', '--all', 'rbd/tc1', '--format', 'json'],
      ['snap', 'unprotect', '--pool', 'rbd', '--image', 'tc1', '--snap=before upgrade'],
      ['snap', 'purge', '--no-progress', 'rbd/tc1'],
      ['rm', '--no-progress', 'rbd/tc1'],
    ]);
  });

  it('removeTestCopy: missing is fine, an import cut off half-way is aborted, a mirrored image is refused, an open one is a CONFLICT', async () => {
    const missing = adapter([
      [/ info /, fail(OPEN_MISSING, 2)],
      [/migration abort/, fail(ABORT_MISSING, 2)],
    ]);
    await missing.ceph.removeTestCopy('rbd', '', 'tc1');
    expect(missing.runner.args(1)).toEqual(['migration', 'abort', '--no-progress', 'rbd/tc1']);

    // its source snapshot gone: the image cannot be opened, `migration abort` removes it
    const broken = adapter([
      [/ info /, fail(OPEN_MISSING, 2)],
      [/migration abort/, {}],
    ]);
    await broken.ceph.removeTestCopy('rbd', '', 'tc1');
    expect(broken.runner.calls).toHaveLength(2);

    const migrating = adapter([
      [/ info /, { stdout: copyInfo({ features: ['layering', 'migrating'] }) }],
      [/migration abort/, {}],
    ]);
    await migrating.ceph.removeTestCopy('rbd', '', 'tc1');
    expect(migrating.runner.args(1)[1]).toBe('abort');

    const abortFails = adapter([
      [/ info /, { stdout: copyInfo({ features: ['layering', 'migrating'] }) }],
      [/migration abort/, fail(ABORT_NOT_MIGRATING, 22)],
    ]);
    expect(await rejection(abortFails.ceph.removeTestCopy('rbd', '', 'tc1'))).toBeInstanceOf(AppError);

    const mirrored = adapter([[/ info /, { stdout: srcInfo }]]);
    const e = await rejection(mirrored.ceph.removeTestCopy('rbd', '', 'x1'));
    expect(e.code).toBe('PRECONDITION_FAILED');
    expect(e.message).toMatch(/not a test copy/);
    expect(mirrored.runner.calls).toHaveLength(1);

    const open = adapter([
      [/ info /, { stdout: copyInfo() }],
      [/snap ls/, { stdout: '[]' }],
      [
        / rm /,
        fail(
          'rbd: error: image still has watchers\nThis means the image is still open or the client using it crashed. Try again after closing/unmapping it or waiting 30s for the crashed client to timeout.\n',
          16,
        ),
      ],
    ]);
    expect((await rejection(open.ceph.removeTestCopy('rbd', '', 'tc1'))).code).toBe('CONFLICT');
  });
});
