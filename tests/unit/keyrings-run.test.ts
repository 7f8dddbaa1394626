import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApp } from '@/server/app';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor } from './helpers';

const KEYRING = '[client.admin]\n\tkey = AQBkZXZlbG9wZXItb25seS1rZXlyaW5nLWE=\n';
const KEYRING_2 = '[client.admin]\n\tkey = AQBkZXZlbG9wZXItb25seS1rZXlyaW5nLWI=\n';
const PRIVATE_KEY = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----';
const mode = (f: string) => fs.statSync(f).mode & 0o777;

describe('pasted keyrings in data/run', () => {
  it('are removed with their site or when it changes, and rewritten 0600 at every start', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-run-'));
    const app = createApp({ dataDir: dir, demoLatencyMs: 0, log: () => {}, secretKey: '' });
    const caller = createCaller(ctxFor(app, admin));
    const config = { access: 'local', siteName: 'x', confPath: '/etc/ceph/x.conf' };
    const one = await caller.sites.create({
      name: 'ceph-one',
      kind: 'ceph',
      config,
      secret: { keyring: KEYRING },
    });
    const two = await caller.sites.create({
      name: 'ceph-two',
      kind: 'ceph',
      config: { ...config, siteName: 'y' },
      secret: { keyring: KEYRING },
    });
    const fileOf = (id: number) => path.join(dir, 'run', `site-${id}.keyring`);
    app.sites.adapter(one.id);
    app.sites.adapter(two.id);
    expect(fs.readFileSync(fileOf(one.id), 'utf8')).toBe(KEYRING);
    expect(mode(fileOf(one.id))).toBe(0o600);

    // A changed keyring: the file holds the new one at once (0600), none of the old is left.
    await caller.sites.update({ id: one.id, secret: { keyring: KEYRING_2 } });
    expect(fs.readFileSync(fileOf(one.id), 'utf8')).toBe(KEYRING_2);
    expect(mode(fileOf(one.id))).toBe(0o600);
    expect(fs.readdirSync(path.join(dir, 'run')).sort()).toEqual(
      [`site-${one.id}.keyring`, `site-${two.id}.keyring`].sort(),
    );

    // A site that no longer uses its pasted keyring (now reached over SSH): the file goes.
    await caller.sites.update({
      id: two.id,
      config: { access: 'ssh', siteName: 'y', host: 'admin.example' },
      secret: { privateKey: PRIVATE_KEY },
    });
    expect(fs.existsSync(fileOf(two.id))).toBe(false);
    await caller.sites.update({ id: two.id, config: { ...config, siteName: 'y' } });
    expect(fs.readFileSync(fileOf(two.id), 'utf8')).toBe(KEYRING);

    // A removed site: its keyring goes.
    await caller.sites.remove({ id: two.id });
    expect(fs.existsSync(fileOf(two.id))).toBe(false);
    app.db.$client.close();

    // At the next start: stale keyrings (no such site any more) are deleted, the others rewritten 0600.
    fs.writeFileSync(fileOf(99), KEYRING, { mode: 0o644 });
    fs.writeFileSync(fileOf(one.id), 'stale content', { mode: 0o644 });
    const next = createApp({ dataDir: dir, demoLatencyMs: 0, log: () => {}, secretKey: '' });
    expect(fs.existsSync(fileOf(99))).toBe(false);
    expect(fs.readFileSync(fileOf(one.id), 'utf8')).toBe(KEYRING_2);
    expect(mode(fileOf(one.id))).toBe(0o600);
    expect(mode(path.join(dir, 'run'))).toBe(0o700);
    next.db.$client.close();
  });
});
