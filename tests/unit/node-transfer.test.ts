import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalRunner } from '@/server/adapters/local-runner';
import {
  classifyPullError,
  parsePvLine,
  pullArgv,
  pullStages,
  runPull,
  sourceSshArgv,
  stopPull,
} from '@/server/adapters/node/transfer';
import type { PullOptions } from '@/server/adapters/node/types';
import { CommandError, type CommandRunner } from '@/server/adapters/runner';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/node', name), 'utf8');

const base: PullOptions = {
  source: { host: '10.0.0.5', port: 22, user: 'root', alias: null },
  sourceDataset: 'zones/vm1-disk0',
  fromSnapshot: null,
  toSnapshot: 'tandem-1',
  targetDataset: 'zones/vm1-disk0',
  bandwidthLimitBytesPerSec: null,
};

describe('pull pipeline construction', () => {
  it('builds ssh | pv | zfs recv from argument arrays', () => {
    const s = pullStages({ ...base, fromSnapshot: 'tandem-0', bandwidthLimitBytesPerSec: 2 * 1024 * 1024 });
    expect(s.send).toEqual([
      'zfs',
      'send',
      '-R',
      '-I',
      'zones/vm1-disk0@tandem-0',
      'zones/vm1-disk0@tandem-1',
    ]);
    expect(s.ssh).toEqual([
      'ssh',
      '-o',
      'BatchMode=yes',
      '-p',
      '22',
      '-l',
      'root',
      '10.0.0.5',
      `bash -c 'trap "" PIPE; exec "$@"' tandem-send zfs send -R -I zones/vm1-disk0@tandem-0 zones/vm1-disk0@tandem-1`,
    ]);
    expect(s.pv).toEqual(['pv', '-n', '-b', '-i', '0.5', '-L', '2097152']);
    expect(s.recv).toEqual(['zfs', 'recv', '-F', 'zones/vm1-disk0']);
    const argv = pullArgv(
      { ...base, fromSnapshot: 'tandem-0', bandwidthLimitBytesPerSec: 2 * 1024 * 1024 },
      'tandem-pull-ab12',
    );
    expect(argv.slice(0, 4)).toEqual(['bash', '-o', 'pipefail', '-c']);
    expect(argv[5]).toBe('tandem-pull-ab12');
    expect(argv[4]).toBe(
      `ssh -o BatchMode=yes -p 22 -l root 10.0.0.5 'bash -c '\\''trap "" PIPE; exec "$@"'\\'' tandem-send zfs send -R -I zones/vm1-disk0@tandem-0 zones/vm1-disk0@tandem-1' | pv -n -b -i 0.5 -L 2097152 | zfs recv -F zones/vm1-disk0`,
    );
  });

  it('uses the ssh alias when given, -i without intermediates and -p without -R', () => {
    const s = pullStages({
      ...base,
      source: { ...base.source, alias: 'node1' },
      fromSnapshot: 'a',
      intermediates: false,
      recursive: false,
    });
    expect(s.ssh.slice(0, 4)).toEqual(['ssh', '-o', 'BatchMode=yes', 'node1']);
    expect(s.send).toEqual(['zfs', 'send', '-p', '-i', 'zones/vm1-disk0@a', 'zones/vm1-disk0@tandem-1']);
    expect(sourceSshArgv({ host: '[fe80::1]', port: 2222, user: 'tandem', alias: null })).toEqual([
      'ssh',
      '-o',
      'BatchMode=yes',
      '-p',
      '2222',
      '-l',
      'tandem',
      'fe80::1',
    ]);
  });

  it('rejects hostile names, hosts and limits before anything runs', async () => {
    let ran = 0;
    const runner: CommandRunner = {
      target: 'fake',
      run: async () => {
        ran++;
        return { stdout: '', stderr: '', exitCode: 0, durationMs: 0 };
      },
      close: async () => {},
    };
    const hostile: Partial<PullOptions>[] = [
      { sourceDataset: 'zones/x; rm -rf /' },
      { sourceDataset: 'zones/$(reboot)' },
      { sourceDataset: '-R' },
      { sourceDataset: "zones/it's" },
      { sourceDataset: 'zones/a|b' },
      { sourceDataset: 'zones/a\nb' },
      { targetDataset: 'zones/x`id`' },
      { targetDataset: 'zones/x && zfs destroy -r zones' },
      { targetDataset: '../../etc' },
      { toSnapshot: 'snap; id' },
      { toSnapshot: 'a@b' },
      { fromSnapshot: '$(id)' },
      { fromSnapshot: '-F' },
      { source: { host: '-oProxyCommand=touch /tmp/pwned', port: 22, user: 'root' } },
      { source: { host: 'node1 -oProxyCommand=id', port: 22, user: 'root' } },
      { source: { host: 'node1', port: 22, user: 'root;id' } },
      { source: { host: 'node1', port: 0, user: 'root' } },
      { source: { host: 'node1', port: 22.5, user: 'root' } },
      { source: { host: 'node1', port: 22, user: 'root', alias: '-oProxyCommand=id' } },
      { source: { host: 'node1', port: 22, user: 'root', alias: 'node1;id' } },
      { bandwidthLimitBytesPerSec: -1 },
      { bandwidthLimitBytesPerSec: Number.NaN },
      { bandwidthLimitBytesPerSec: 10 },
    ];
    for (const h of hostile) {
      await expect(runPull(runner, { ...base, ...h }), JSON.stringify(h)).rejects.toMatchObject({
        code: 'INVALID_INPUT',
      });
    }
    expect(ran).toBe(0);
  });

  it('reads pv -n -b progress lines (captured from a real 1 MiB/s pull)', () => {
    const lines = fixture('pv-progress.stderr').split('\n').filter(Boolean);
    const values = lines.map(parsePvLine);
    expect(values.every((v) => v !== null)).toBe(true);
    expect(values.at(-1)).toBe(4212036);
    expect(parsePvLine('cannot receive: failed to read from stream')).toBeNull();
    expect(parsePvLine('  1048576 ')).toBe(1048576);
  });

  it('passes a long timeout, reports progress, and refuses an aborted signal up front', async () => {
    const seen: { argv: readonly string[]; timeoutMs?: number }[] = [];
    const runner: CommandRunner = {
      target: 'fake',
      run: async (spec) => {
        seen.push({ argv: spec.argv, timeoutMs: spec.timeoutMs });
        for (const l of ['1000', '2000', 'some warning', '1500', '3000']) spec.onStderrLine?.(l);
        return { stdout: '', stderr: '', exitCode: 0, durationMs: 0 };
      },
      close: async () => {},
    };
    const ac = new AbortController();
    const progress: number[] = [];
    const r = await runPull(runner, { ...base, signal: ac.signal, onProgress: (b) => progress.push(b) });
    expect(seen[0]!.timeoutMs).toBeGreaterThanOrEqual(3600_000);
    expect(seen[0]!.argv.at(-1)).toMatch(/^tandem-pull-[0-9a-f]{16}$/);
    expect(progress).toEqual([1000, 2000, 3000]);
    expect(r.bytes).toBe(3000);
    ac.abort();
    await expect(runPull(runner, { ...base, signal: ac.signal })).rejects.toMatchObject({
      code: 'CANCELLED',
    });
    expect(seen).toHaveLength(1);
  });

  it('cancels by killing the remote session of the pipeline (closing the channel does not stop sshd children)', async () => {
    const calls: (readonly string[])[] = [];
    let killed: () => void = () => {};
    const runner: CommandRunner = {
      target: 'fake',
      run: async (spec) => {
        calls.push(spec.argv);
        if (spec.argv[0] === 'bash') {
          spec.onStderrLine?.('65536');
          await new Promise<void>((resolve) => (killed = resolve));
          throw new CommandError({ argv: spec.argv, exitCode: 137, stderr: '65536\n', target: 'fake' });
        }
        if (spec.argv[0] === 'pgrep') return { stdout: '4242\n', stderr: '', exitCode: 0, durationMs: 0 };
        if (spec.argv[0] === 'ps') return { stdout: ' 4242\n', stderr: '', exitCode: 0, durationMs: 0 };
        if (spec.argv[0] === 'pkill') killed();
        return { stdout: '', stderr: '', exitCode: 0, durationMs: 0 };
      },
      close: async () => {},
    };
    const ac = new AbortController();
    const p = runPull(runner, { ...base, signal: ac.signal, onProgress: () => ac.abort() });
    await expect(p).rejects.toMatchObject({ code: 'CANCELLED' });
    const marker = calls[0]!.at(-1)!;
    const hex = marker.replace('tandem-pull-', '');
    expect(calls.slice(1)).toEqual([
      ['pgrep', '-f', `[t]andem-pull-${hex}$`],
      ['ps', '-o', 'sid=', '-p', '4242'],
      ['pkill', '-KILL', '-s', '4242'],
    ]);
    await expect(stopPull(runner, 'tandem-pull-; reboot')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('explains pull failures captured from the lab', () => {
    const err = (file: string) =>
      classifyPullError(
        new CommandError({
          argv: ['bash'],
          exitCode: 1,
          stderr: fixture(file),
          target: 'root@127.0.0.1:2202',
        }),
        { ...base, source: { ...base.source, alias: 'node1' } },
      );
    expect(err('pull-error-no-base.stderr')).toMatchObject({ code: 'CONFLICT' });
    expect(err('pull-error-full-exists.stderr')).toMatchObject({ code: 'CONFLICT' });
    expect(err('pull-error-full-exists.stderr').message).toMatch(/destination has snapshots/);
    expect(err('pull-error-unreachable.stderr')).toMatchObject({ code: 'UNREACHABLE' });
    expect(err('pull-error-unreachable.stderr').message).toMatch(/Could not resolve hostname/);
    expect(err('pull-error-no-snapshot.stderr')).toMatchObject({ code: 'NOT_FOUND' });
    const auth = classifyPullError(
      new CommandError({
        argv: ['bash'],
        exitCode: 255,
        stderr: 'root@node1: Permission denied (publickey).',
        target: 't',
      }),
      base,
    );
    expect(auth.code).toBe('AUTH_FAILED');
    const hk = classifyPullError(
      new CommandError({
        argv: ['bash'],
        exitCode: 255,
        stderr: 'Host key verification failed.',
        target: 't',
      }),
      base,
    );
    expect(hk.code).toBe('HOST_KEY_UNKNOWN');
  });
});

/*
 * The pipeline string executed by a real bash with stub `ssh` and `zfs` (and the real `pv` when
 * installed): proves that every argument arrives intact through two levels of shell parsing.
 */
describe('pull pipeline through a real shell', () => {
  let dir: string;
  let runner: LocalRunner;
  const hasPv = fs.existsSync('/usr/bin/pv');

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-pull-'));
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    const rec = (name: string) => `printf '%s\\0' "$@" > "${dir}/${name}.$$.args"\n`;
    // ssh: record, then run the remote command string like sshd would (with a shell)
    fs.writeFileSync(path.join(bin, 'ssh'), `#!/bin/bash\n${rec('ssh')}exec bash -c "\${@: -1}"\n`, {
      mode: 0o755,
    });
    fs.writeFileSync(
      path.join(bin, 'zfs'),
      `#!/bin/bash\n${rec('zfs')}case "$1" in\n  send) head -c "\${STUB_SEND_BYTES:-300000}" /dev/zero ;;\n  recv) wc -c > "${dir}/received" ;;\nesac\n`,
      { mode: 0o755 },
    );
    if (!hasPv)
      fs.writeFileSync(path.join(bin, 'pv'), `#!/bin/bash\n${rec('pv')}exec cat\n`, { mode: 0o755 });
    runner = new LocalRunner({ ...process.env, PATH: `${bin}:${process.env.PATH}` });
  });

  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const recorded = (name: string): string[][] =>
    fs
      .readdirSync(dir)
      .filter((f) => f.startsWith(`${name}.`) && f.endsWith('.args'))
      .map((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\0').slice(0, -1));

  it('passes odd-but-valid names through unchanged and counts bytes', async () => {
    const progress: number[] = [];
    const r = await runPull(runner, {
      ...base,
      sourceDataset: 'zones/vm.1:a_b-c/disk-0',
      targetDataset: 'data/replicas/vm.1:a_b-c-disk-0',
      fromSnapshot: 'tandem:2026-01-01T00.00.00',
      toSnapshot: 'tandem:2026-01-01T00.05.00',
      bandwidthLimitBytesPerSec: 64 * 1024 * 1024,
      onProgress: (b) => progress.push(b),
    });
    expect(recorded('ssh')[0]).toEqual([
      '-o',
      'BatchMode=yes',
      '-p',
      '22',
      '-l',
      'root',
      '10.0.0.5',
      `bash -c 'trap "" PIPE; exec "$@"' tandem-send zfs send -R -I zones/vm.1:a_b-c/disk-0@tandem:2026-01-01T00.00.00 zones/vm.1:a_b-c/disk-0@tandem:2026-01-01T00.05.00`,
    ]);
    const zfsCalls = recorded('zfs');
    expect(zfsCalls).toContainEqual([
      'send',
      '-R',
      '-I',
      'zones/vm.1:a_b-c/disk-0@tandem:2026-01-01T00.00.00',
      'zones/vm.1:a_b-c/disk-0@tandem:2026-01-01T00.05.00',
    ]);
    expect(zfsCalls).toContainEqual(['recv', '-F', 'data/replicas/vm.1:a_b-c-disk-0']);
    expect(fs.readFileSync(path.join(dir, 'received'), 'utf8').trim()).toBe('300000');
    if (hasPv) {
      expect(r.bytes).toBe(300000);
      expect(progress.at(-1)).toBe(300000);
    }
    expect(r.seconds).toBeGreaterThan(0);
  });

  it('reports a failing stage (pipefail) as an error', async () => {
    const failing = new LocalRunner({ ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` });
    fs.writeFileSync(
      path.join(dir, 'bin', 'zfs'),
      `#!/bin/bash\n[ "$1" = recv ] && { cat >/dev/null; echo "cannot receive incremental stream: most recent snapshot of x does not match incremental source" >&2; exit 1; }\nhead -c 1000 /dev/zero\n`,
      { mode: 0o755 },
    );
    await expect(runPull(failing, { ...base, fromSnapshot: 'tandem-0' })).rejects.toMatchObject({
      code: 'CONFLICT',
    });
  });
});
