import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { secrets } from '@/server/db/schema';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, testApp } from './helpers';

function keypair(dir: string): string {
  const f = path.join(dir, 'k');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', f]);
  return fs.readFileSync(f, 'utf8');
}

describe('sites', () => {
  it('encrypts secrets at rest and never returns them', async () => {
    const { app, dir } = testApp();
    const key = keypair(dir);
    const caller = createCaller(ctxFor(app, admin));
    const site = await caller.sites.create({
      name: 'node-a',
      kind: 'node',
      config: { host: '127.0.0.1', port: 2299, zpools: ['zones'] },
      secret: { privateKey: key },
    });
    expect(JSON.stringify(site)).not.toContain('PRIVATE KEY');
    expect(site.hasPrivateKey).toBe(true);
    const listed = await caller.sites.list();
    expect(JSON.stringify(listed)).not.toContain('PRIVATE KEY');
    const stored = app.db.select().from(secrets).all();
    expect(stored).toHaveLength(1);
    expect(stored[0]!.ciphertext).not.toContain('PRIVATE KEY');
    expect(app.sites.spec(site.id).secret.privateKey).toBe(key.trim() + '\n');
    // History of the create keeps no secret.
    const h = app.history.list({ action: 'sites.create' }, { limit: 5, offset: 0 });
    expect(JSON.stringify(h.rows)).not.toContain('PRIVATE KEY');
  });

  it('refuses a duplicate name with its own message and keeps the first site', async () => {
    const { app, dir } = testApp();
    const key = keypair(dir);
    const caller = createCaller(ctxFor(app, admin));
    await caller.sites.create({
      name: 'dup',
      kind: 'node',
      config: { host: 'a.example', zpools: [] },
      secret: { privateKey: key },
    });
    await expect(
      caller.sites.create({
        name: 'dup',
        kind: 'node',
        config: { host: 'b.example', zpools: [] },
        secret: { privateKey: key },
      }),
    ).rejects.toThrow('a site named "dup" already exists');
    const sites = await caller.sites.list();
    expect(sites).toHaveLength(1);
    expect((sites[0]!.config as { host: string }).host).toBe('a.example');
  });

  it('reports an unreachable host and a refused port precisely', async () => {
    const { app, dir } = testApp();
    const key = keypair(dir);
    const caller = createCaller(ctxFor(app, admin));
    const refused = await caller.sites.create({
      name: 'refused',
      kind: 'node',
      config: { host: '127.0.0.1', port: 1, zpools: [] },
      secret: { privateKey: key },
    });
    await expect(caller.sites.hostKey({ id: refused.id })).rejects.toThrow(
      /connection refused by 127.0.0.1:1/,
    );
    const dns = await caller.sites.create({
      name: 'nxdomain',
      kind: 'node',
      config: { host: 'no-such-host.invalid', zpools: [] },
      secret: { privateKey: key },
    });
    const r = await caller.sites.testConnection({ id: dns.id });
    expect(r.ok).toBe(false);
    expect(r.checks[0]!.message).toMatch(
      /host key of no-such-host.invalid:22 is not pinned|DNS lookup of no-such-host.invalid failed/,
    );
  });

  it('creates, shows and removes the demo environment', async () => {
    const { app } = testApp();
    expect(app.demo.ensureOnFirstStart()).toBe(true);
    const sites = app.sites.list();
    expect(sites.filter((s) => s.demo)).toHaveLength(5);
    expect(app.demo.ensureOnFirstStart()).toBe(false);
    const caller = createCaller(ctxFor(app, admin));
    const ov = await caller.overview.get();
    expect(ov.every((s) => s.reachable)).toBe(true);
    expect(ov.find((s) => s.site.name === 'demo-site-b')?.ceph?.pools[0]?.mode).toBe('image');
    expect((await caller.demo.remove()).removed).toBe(5);
    expect(app.sites.list()).toHaveLength(0);
    // Removing it is remembered: no re-creation at the next start.
    expect(app.demo.ensureOnFirstStart()).toBe(false);
  });

  it('says a demo node has no SSH host key instead of looking its name up in DNS', async () => {
    const { app } = testApp();
    app.demo.create();
    const caller = createCaller(ctxFor(app, admin));
    const id = app.sites.byName('demo-node1')!.id;
    for (const call of [
      () => caller.sites.hostKey({ id }),
      () => caller.sites.pinHostKey({ id, fingerprint: `SHA256:${'A'.repeat(43)}` }),
    ]) {
      await expect(call()).rejects.toMatchObject({
        code: 'PRECONDITION_FAILED',
        message: expect.stringMatching(/demo-node1 is simulated/),
      });
    }
  });

  it('runs a demo site check as a task with progress', async () => {
    const { app } = testApp();
    app.demo.create();
    const site = app.sites.byName('demo-node1')!;
    const caller = createCaller(ctxFor(app, admin));
    const { taskId } = await caller.sites.check({ id: site.id });
    const t = await app.tasks.wait(taskId);
    expect(t.state).toBe('finished');
    expect(t.progressComplete).toBe(t.progressTotal);
    expect(t.progressTotal).toBe(4);
  });
});
