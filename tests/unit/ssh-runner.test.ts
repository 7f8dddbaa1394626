import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Server, utils } from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintOf, SshPool } from '@/server/adapters/ssh-runner';

/*
 * SshRunner against an in-process ssh2 server on 127.0.0.1 that answers every exec with the
 * command line it received and exit 0.
 */

let server: Server;
let port: number;
let fingerprint: string;
let clientKey: string;

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-ssh-runner-'));
  const f = path.join(dir, 'k');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  clientKey = fs.readFileSync(f, 'utf8');
  const hostKey = utils.generateKeyPairSync('ed25519');
  const pub = utils.parseKey(hostKey.public);
  if (pub instanceof Error) throw pub;
  fingerprint = fingerprintOf((Array.isArray(pub) ? pub[0] : pub).getPublicSSH());
  server = new Server({ hostKeys: [hostKey.private] }, (client) => {
    // The server side sends without delay (as sshd does), so only the client's own setting counts.
    (client as unknown as { setNoDelay(on: boolean): void }).setNoDelay(true);
    client.on('authentication', (ctx) => ctx.accept());
    client.on('ready', () => {
      client.on('session', (accept) => {
        accept().on('exec', (acc, _rej, info) => {
          const ch = acc();
          ch.write(info.command);
          ch.exit(0);
          ch.end();
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('SshRunner', () => {
  it('runs back-to-back commands on its pooled connection without waiting for delayed ACKs (Nagle off)', async () => {
    const pool = new SshPool();
    const runner = pool.runner({
      host: '127.0.0.1',
      port,
      username: 'root',
      privateKey: clientKey,
      hostKeySha256: fingerprint,
    });
    expect((await runner.run({ argv: ['echo', 'a b'] })).stdout).toBe("echo 'a b'");
    const times: number[] = [];
    for (let i = 0; i < 11; i++) {
      const t = performance.now();
      await runner.run({ argv: ['true'] });
      times.push(performance.now() - t);
    }
    await pool.closeAll();
    times.sort((a, b) => a - b);
    // With Nagle's algorithm on, each exec waits for the peer's delayed ACK (≥ 40 ms on Linux).
    expect(times[5]).toBeLessThan(30);
  });
});
