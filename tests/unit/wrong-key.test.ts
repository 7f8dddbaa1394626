import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApp } from '@/server/app';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor } from './helpers';

const UNREADABLE = 'the secret of this site cannot be decrypted with the current key: re-enter it';

function keypair(dir: string): string {
  const f = path.join(dir, 'k');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  return fs.readFileSync(f, 'utf8');
}

/** An installation with the demo sites, a real node with a private key and a Ceph cluster with a pasted keyring. */
async function installation() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-wrongkey-'));
  const app = createApp({ dataDir: dir, demoLatencyMs: 0, log: () => {}, secretKey: '' });
  app.demo.create();
  const caller = createCaller(ctxFor(app, admin));
  const key = keypair(dir);
  const node = await caller.sites.create({
    name: 'node-real',
    kind: 'node',
    config: { host: '127.0.0.1', port: 1, zpools: ['zones'] },
    secret: { privateKey: key },
  });
  const ceph = await caller.sites.create({
    name: 'ceph-real',
    kind: 'ceph',
    config: { access: 'local', siteName: 'real', confPath: '/etc/ceph/real.conf' },
    secret: { keyring: '[client.admin]\n\tkey = AQBkZXZlbG9wZXItb25seS1rZXlyaW5nLWI=\n' },
  });
  app.history.record({ username: 'admin', action: 'test.before', target: 'x', outcome: 'success' });
  app.db.$client.close();
  return { dir, key, ids: { node: node.id, ceph: ceph.id } };
}

describe('a lost or wrong secret key', () => {
  it('leaves the console working: the sites whose secret cannot be decrypted say so, and only they', async () => {
    const { dir, key, ids } = await installation();
    const lines: string[] = [];
    const app = createApp({
      dataDir: dir,
      demoLatencyMs: 0,
      log: (l) => lines.push(l),
      secretKey: 'cd'.repeat(32),
    });
    expect(lines.join('\n')).toMatch(
      /the secret of 2 site\(s\) \(ceph-real, node-real\) cannot be decrypted with the current key \(TANDEM_SECRET_KEY\)/,
    );
    const caller = createCaller(ctxFor(app, admin));

    const list = await caller.sites.list();
    expect(list).toHaveLength(7);
    for (const s of list) {
      if (s.id === ids.node || s.id === ids.ceph) {
        expect(s.secretError).toBe(UNREADABLE);
        expect(s.hasPrivateKey || s.hasKeyring).toBe(false);
      } else expect(s.secretError).toBeNull();
    }
    expect((await caller.sites.get({ id: ids.node })).secretError).toBe(UNREADABLE);

    // Every other page works; the affected sites are shown as not usable, with the reason.
    const overview = await caller.overview.get();
    expect(overview.filter((s) => s.site.demo).every((s) => s.reachable)).toBe(true);
    const bad = overview.find((s) => s.site.id === ids.node)!;
    expect(bad.reachable).toBe(false);
    expect(bad.error).toMatch(/cannot be decrypted with the current key: re-enter it/);
    const vms = await caller.overview.vms();
    expect(vms.nodes.find((n) => n.site.id === ids.node)?.error).toMatch(/cannot be decrypted/);
    expect(vms.nodes.filter((n) => n.site.demo && n.status === 'answered')).toHaveLength(3);
    const demoA = list.find((s) => s.name === 'demo-site-a')!;
    expect((await caller.ceph.status({ siteId: demoA.id, waitMs: 5000 })).pools.length).toBeGreaterThan(0);
    expect((await caller.history.list({})).rows.some((r) => r.action === 'test.before')).toBe(true);
    expect(await caller.replicas.list()).toEqual([]);
    await caller.tasks.list({});
    await expect(caller.sites.testConnection({ id: ids.node })).resolves.toMatchObject({ ok: false });

    // Re-entering the secret makes the site usable again.
    await caller.sites.update({ id: ids.node, secret: { privateKey: key } });
    expect((await caller.sites.get({ id: ids.node })).secretError).toBeNull();
    expect(app.sites.spec(ids.node).secret.privateKey).toBe(key.trim() + '\n');
    app.db.$client.close();
  });

  it('a deleted key file: a new key is made, the start says which secrets are lost, the rest works', async () => {
    const { dir, ids } = await installation();
    fs.rmSync(path.join(dir, 'secret.key'));
    const lines: string[] = [];
    const app = createApp({ dataDir: dir, demoLatencyMs: 0, log: (l) => lines.push(l), secretKey: '' });
    expect(lines.join('\n')).toMatch(/no secret\.key .* 2 stored secret\(s\)/);
    const caller = createCaller(ctxFor(app, admin));
    expect((await caller.sites.get({ id: ids.ceph })).secretError).toBe(UNREADABLE);
    expect((await caller.overview.get()).filter((s) => s.reachable)).toHaveLength(5);
    app.db.$client.close();
  });
});
