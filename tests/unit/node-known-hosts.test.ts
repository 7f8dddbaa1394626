import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  hostKeyAliasFor,
  hostKeyFingerprint,
  knownHostsLine,
  parseHostKeyBlob,
  parseHostKeyLine,
  TANDEM_KNOWN_HOSTS,
  trustHostKey,
} from '@/server/adapters/node/known-hosts';
import { classifyPullError, pullStages, sourceSshArgv } from '@/server/adapters/node/transfer';
import type { PullOptions } from '@/server/adapters/node/types';
import { LocalRunner } from '@/server/adapters/local-runner';
import { CommandError } from '@/server/adapters/runner';
import { fingerprintOf } from '@/server/adapters/ssh-runner';

// node1's host key in the node lab (scripts/lab/nodes.sh writes it into nodes.json)
const NODE1_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMPxyanWXLeIRtlRXpbhWOo82SGdi+obqXIAObqfUpz9';
const NODE2_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBU0m3yObmORJY/KVu+W9rPVxrzWYu/MZZucnJiJf9Ps';

const STRICT = (alias: string) => [
  '-o',
  'StrictHostKeyChecking=yes',
  '-o',
  `UserKnownHostsFile=${TANDEM_KNOWN_HOSTS}`,
  '-o',
  'GlobalKnownHostsFile=/dev/null',
  '-o',
  `HostKeyAlias=${alias}`,
  '-o',
  'CheckHostIP=no',
  '-o',
  'UpdateHostKeys=no',
];

describe('the pull trusts only the host key Tandem pinned for the source', () => {
  it("checks the source against Tandem's own known_hosts file under the site's alias, with or without a Host alias", () => {
    expect(TANDEM_KNOWN_HOSTS).toBe('~/.ssh/tandem_known_hosts');
    expect(hostKeyAliasFor(7)).toBe('tandem-site-7');
    expect(
      sourceSshArgv({ host: '10.0.0.5', port: 2201, user: 'root', hostKeyAlias: 'tandem-site-7' }),
    ).toEqual([
      'ssh',
      '-o',
      'BatchMode=yes',
      ...STRICT('tandem-site-7'),
      '-p',
      '2201',
      '-l',
      'root',
      '10.0.0.5',
    ]);
    expect(
      sourceSshArgv({
        host: '10.0.0.5',
        port: 22,
        user: 'root',
        alias: 'node1',
        hostKeyAlias: 'tandem-site-7',
      }),
    ).toEqual(['ssh', '-o', 'BatchMode=yes', ...STRICT('tandem-site-7'), 'node1']);
    // without a pinned alias: the node's own ssh configuration decides (direct adapter use)
    expect(sourceSshArgv({ host: '10.0.0.5', port: 22, user: 'root' })).toEqual([
      'ssh',
      '-o',
      'BatchMode=yes',
      '-p',
      '22',
      '-l',
      'root',
      '10.0.0.5',
    ]);
    for (const bad of [
      '-oProxyCommand=id',
      'tandem-site-1 -oProxyCommand=id',
      'tandem-site-1;id',
      'x/y',
      '',
    ]) {
      expect(
        () => sourceSshArgv({ host: '10.0.0.5', port: 22, user: 'root', hostKeyAlias: bad }),
        bad,
      ).toThrow(/hostKeyAlias/);
    }
  });

  it('reads host keys as OpenSSH writes them and builds known_hosts lines', () => {
    const k = parseHostKeyLine(NODE1_KEY + ' node1');
    expect(k).toEqual({ type: 'ssh-ed25519', base64: NODE1_KEY.split(' ')[1] });
    expect(hostKeyFingerprint(k)).toBe(
      fingerprintOf(Buffer.from(NODE1_KEY.trim().split(/\s+/)[1]!, 'base64')),
    );
    expect(parseHostKeyBlob(Buffer.from(k.base64, 'base64'))).toEqual(k);
    expect(knownHostsLine('tandem-site-3', k)).toBe(`tandem-site-3 ${NODE1_KEY}`);
    // the key type must be the one inside the blob, and a known one
    expect(() => parseHostKeyLine(`ssh-rsa ${k.base64}`)).toThrow(/hostKey/);
    expect(() => parseHostKeyLine('ssh-ed25519 !!!')).toThrow(/hostKey/);
    expect(() => parseHostKeyBlob(crypto.randomBytes(40))).toThrow(/hostKey/);
    expect(() => knownHostsLine('tandem-site-3\n@cert-authority *', k)).toThrow(/hostKeyAlias/);
  });

  it('says which node does not trust which source when the key differs', () => {
    const opts: PullOptions = {
      source: { host: '127.0.0.1', port: 2201, user: 'root', hostKeyAlias: 'tandem-site-1' },
      sourceDataset: 'zones/vm-disk0',
      fromSnapshot: null,
      toSnapshot: 's1',
      targetDataset: 'zones/vm-disk0',
      bandwidthLimitBytesPerSec: null,
    };
    pullStages(opts);
    const e = classifyPullError(
      new CommandError({
        argv: ['bash'],
        exitCode: 255,
        stderr: 'Host key verification failed.\n',
        target: 'root@127.0.0.1:2202',
      }),
      opts,
    );
    expect(e.code).toBe('HOST_KEY_UNKNOWN');
    expect(e.message).toMatch(
      /^root@127\.0\.0\.1:2202 does not trust the host key of root@127\.0\.0\.1:2201: /,
    );
    expect(e.message).toContain('tandem-site-1');
  });
});

describe("Tandem's known_hosts file on a node (written by a constant script, run here with a scratch HOME)", () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-kh-'));
  const runner = new LocalRunner({ ...process.env, HOME: home });
  const file = path.join(home, '.ssh', 'tandem_known_hosts');
  const k1 = parseHostKeyLine(NODE1_KEY);
  const k2 = parseHostKeyLine(NODE2_KEY);
  afterAll(() => fs.rmSync(home, { recursive: true, force: true }));

  it("creates it with mode 0600, rewrites only what differs, keeps other sources' entries, leaves no temporary file", async () => {
    expect(await trustHostKey(runner, 'tandem-site-1', k1)).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(`tandem-site-1 ${NODE1_KEY}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o077).toBe(0);
    const ino = fs.statSync(file).ino;
    expect(await trustHostKey(runner, 'tandem-site-1', k1)).toBe(false);
    expect(fs.statSync(file).ino).toBe(ino);

    expect(await trustHostKey(runner, 'tandem-site-2', k2)).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(`tandem-site-1 ${NODE1_KEY}\ntandem-site-2 ${NODE2_KEY}\n`);

    // A wrong entry (and a duplicate) for site 1 is replaced by the pinned key; site 2 is kept.
    fs.writeFileSync(
      file,
      `tandem-site-1 ${NODE2_KEY}\ntandem-site-2 ${NODE2_KEY}\ntandem-site-1 ${NODE1_KEY}\n`,
      { mode: 0o644 },
    );
    const before = fs.statSync(file).ino;
    expect(await trustHostKey(runner, 'tandem-site-1', k1)).toBe(true);
    expect(fs.readFileSync(file, 'utf8')).toBe(`tandem-site-2 ${NODE2_KEY}\ntandem-site-1 ${NODE1_KEY}\n`);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(file).ino).not.toBe(before); // replaced by rename, never written in place
    expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(['tandem_known_hosts']);
  });

  it('refuses a hostile alias or key before anything runs', async () => {
    let ran = 0;
    const counting = {
      target: 'fake',
      run: async () => (ran++, { stdout: '', stderr: '', exitCode: 0, durationMs: 0 }),
      close: async () => {},
    };
    await expect(trustHostKey(counting, 'tandem-site-1 x', k1)).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    await expect(
      trustHostKey(counting, 'tandem-site-1', { type: 'ssh-ed25519', base64: 'AAAA\nx' }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(
      trustHostKey(counting, 'tandem-site-1', { type: 'ssh-rsa', base64: k1.base64 }),
    ).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(ran).toBe(0);
  });
});
