import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { sites } from '../db/schema';
import { AppError } from '../core/errors';
import { getSetting, setSetting } from './settings';
import type { SiteService } from './sites';

const DEMO_SITES = [
  {
    name: 'demo-node1',
    kind: 'node',
    config: {
      host: 'demo-node1',
      port: 22,
      user: 'root',
      hypervisor: 'libvirt',
      zpools: ['zones', 'data'],
      hostKeySha256: null,
    },
  },
  {
    name: 'demo-node2',
    kind: 'node',
    config: {
      host: 'demo-node2',
      port: 22,
      user: 'root',
      hypervisor: 'libvirt',
      zpools: ['zones', 'data'],
      hostKeySha256: null,
    },
  },
  {
    name: 'demo-node3',
    kind: 'node',
    config: {
      host: 'demo-node3',
      port: 22,
      user: 'root',
      hypervisor: 'libvirt',
      zpools: ['zones'],
      hostKeySha256: null,
    },
  },
  {
    name: 'demo-site-a',
    kind: 'ceph',
    config: {
      access: 'local',
      siteName: 'demo-site-a',
      cluster: 'demo-site-a',
      confPath: '/demo/site-a.conf',
      clientId: 'admin',
      keyringPath: null,
    },
  },
  {
    name: 'demo-site-b',
    kind: 'ceph',
    config: {
      access: 'local',
      siteName: 'demo-site-b',
      cluster: 'demo-site-b',
      confPath: '/demo/site-b.conf',
      clientId: 'admin',
      keyringPath: null,
    },
  },
] as const;

/** The demo environment as registered sites: created on first start, removable, re-creatable. */
export class DemoService {
  constructor(
    private readonly db: Db,
    private readonly sites: SiteService,
  ) {}

  present(): boolean {
    return !!this.db.select({ id: sites.id }).from(sites).where(eq(sites.demo, true)).get();
  }

  create(): number {
    if (this.present()) throw new AppError('CONFLICT', 'the demo environment already exists');
    const clash = DEMO_SITES.find((s) => this.sites.byName(s.name));
    if (clash) throw new AppError('ALREADY_EXISTS', `a real site is already named "${clash.name}"`);
    for (const s of DEMO_SITES) this.sites.create({ name: s.name, kind: s.kind, config: s.config }, true);
    setSetting(this.db, 'demo.created', true);
    return DEMO_SITES.length;
  }

  remove(): number {
    const rows = this.db.select({ id: sites.id }).from(sites).where(eq(sites.demo, true)).all();
    for (const r of rows) this.sites.remove(r.id, { withReplicas: true });
    return rows.length;
  }

  /** On the very first start with no sites at all, the demo environment appears. */
  ensureOnFirstStart(): boolean {
    if (getSetting(this.db, 'demo.created') || process.env.TANDEM_DEMO === '0') return false;
    if (this.sites.list().length > 0) return false;
    this.create();
    return true;
  }
}
