import { describe, expect, it } from 'vitest';
import { childEnv } from '@/server/adapters/child-env';
import { LocalRunner } from '@/server/adapters/local-runner';

const parent: Record<string, string | undefined> = {
  PATH: process.env.PATH,
  HOME: '/home/tandem',
  LANG: 'C.UTF-8',
  LC_ALL: 'C.UTF-8',
  TZ: 'UTC',
  TMPDIR: '/tmp',
  CEPH_CONF: '/etc/ceph/other.conf',
  CEPH_ARGS: '--id admin',
  TANDEM_SECRET_KEY: 'ab'.repeat(32),
  TANDEM_ADMIN_PASSWORD: 'very secret admin password',
  TANDEM_BACKUP_PASSPHRASE: 'backup passphrase',
  AWS_SECRET_ACCESS_KEY: 'cloud secret',
  SSH_AUTH_SOCK: '/tmp/agent.sock',
  NODE_OPTIONS: '--require /tmp/evil.js',
  LD_PRELOAD: '/tmp/evil.so',
};

describe('environment of local commands', () => {
  it('passes only an allow-list: PATH, HOME, locale, TZ, TMPDIR and CEPH_*', () => {
    const env = childEnv(parent);
    expect(Object.keys(env).sort()).toEqual([
      'CEPH_ARGS',
      'CEPH_CONF',
      'HOME',
      'LANG',
      'LC_ALL',
      'PATH',
      'TMPDIR',
      'TZ',
    ]);
  });

  it('never hands TANDEM_SECRET_KEY or TANDEM_ADMIN_PASSWORD to a child such as ceph or rbd', async () => {
    const runner = new LocalRunner(parent);
    const { stdout } = await runner.run({ argv: ['env'] });
    expect(stdout).toContain('CEPH_CONF=/etc/ceph/other.conf');
    expect(stdout).toContain('HOME=/home/tandem');
    for (const leaked of [
      'TANDEM_SECRET_KEY',
      'TANDEM_ADMIN_PASSWORD',
      'TANDEM_BACKUP_PASSPHRASE',
      'very secret',
      'AWS_SECRET',
      'SSH_AUTH_SOCK',
      'NODE_OPTIONS',
      'LD_PRELOAD',
    ]) {
      expect(stdout).not.toContain(leaked);
    }
  });

  it('does so by default, from process.env', async () => {
    process.env.TANDEM_ADMIN_PASSWORD = 'from-the-real-environment';
    try {
      const { stdout } = await new LocalRunner().run({ argv: ['env'] });
      expect(stdout).not.toContain('from-the-real-environment');
      expect(stdout).toContain('PATH=');
    } finally {
      delete process.env.TANDEM_ADMIN_PASSWORD;
    }
  });
});
