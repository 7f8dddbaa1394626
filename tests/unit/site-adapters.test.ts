import { afterEach, describe, expect, it, vi } from 'vitest';
import { countCliCalls } from '@/server/adapters/ceph/call-count';
import { testApp } from './helpers';

const apps: ReturnType<typeof testApp>[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const { app } of apps.splice(0)) await app.tasks.shutdown();
});

const KEYRING = '[client.admin]\n\tkey = AQBtandemtandemtandemtandemtandemtandemAA==\n';
const config = { access: 'local', siteName: 'east', confPath: '/etc/ceph/ceph.conf' };

function setup() {
  const t = testApp();
  apps.push(t);
  const site = t.app.sites.create({ name: 'east', kind: 'ceph', config, secret: { keyring: KEYRING } });
  const built = vi.spyOn(t.app.registry, 'forSite');
  return { app: t.app, id: site.id, built };
}

describe('a site’s adapter', () => {
  it('is built once (the secret decrypted once) and kept while the site stays as it is', () => {
    const { app, id, built } = setup();
    const a = app.sites.adapter(id);
    for (let i = 0; i < 20; i++) expect(app.sites.adapter(id)).toBe(a);
    expect(built).toHaveBeenCalledTimes(1);
  });

  it('is built again when the site’s configuration or secret changes, with the new settings', () => {
    const { app, id, built } = setup();
    const a = app.sites.adapter(id);
    app.sites.update(id, { config: { ...config, confPath: '/etc/ceph/other.conf' } });
    const b = app.sites.adapter(id);
    expect(b).not.toBe(a);
    expect(built.mock.calls[1]![0].config).toMatchObject({ confPath: '/etc/ceph/other.conf' });
    app.sites.update(id, { secret: { keyring: KEYRING.replace('tandemtandem', 'changedchang') } });
    expect(app.sites.adapter(id)).not.toBe(b);
    expect(built).toHaveBeenCalledTimes(3);
  });

  it('is gone with its site', () => {
    const { app, id } = setup();
    app.sites.adapter(id);
    app.sites.remove(id);
    expect(() => app.sites.adapter(id)).toThrow(/does not exist/);
  });

  it('shared by concurrent callers, each status counts only its own CLI calls', async () => {
    const t = testApp();
    apps.push(t);
    t.app.demo.create();
    const siteId = t.app.sites.byName('demo-site-a')!.id;
    const a = t.app.sites.adapter(siteId);
    if (a.kind !== 'ceph') throw new Error('not a cluster');
    const alone = (await a.refreshStatus()).cliCalls;
    expect(alone).toBeGreaterThan(0);
    const before = a.cliCalls;
    const [x, y, other] = await Promise.all([
      a.refreshStatus(),
      a.refreshStatus(),
      countCliCalls(() => a.listMirrorDaemons()),
    ]);
    expect([x.cliCalls, y.cliCalls]).toEqual([alone, alone]);
    expect(other.calls).toBeGreaterThan(0);
    // The adapter's own counter has all of them; the enclosing count sees the nested ones too.
    expect(a.cliCalls - before).toBe(2 * alone + other.calls);
    const outer = await countCliCalls(async () => (await a.refreshStatus()).cliCalls);
    expect(outer.calls).toBe(outer.value);
  });
});
