/*
 * What the Ceph page shows, as its URL says it: the cluster, the pool or namespace, the section
 * (tab), an image, the other cluster of a failback, and the pairing dialog. Every view of the page
 * is a link (`/ceph?site=4&pool=rbd&ns=tenant1&tab=images&image=vm-mail01-root`).
 */

export const CEPH_TABS = [
  { id: 'pools', label: 'Pools & peers' },
  { id: 'images', label: 'Images' },
  { id: 'schedules', label: 'Schedules' },
  { id: 'failover', label: 'Failover' },
] as const;

export type CephTab = (typeof CEPH_TABS)[number]['id'];

export type PairStep = 'create' | 'import';

export interface CephView {
  /** The cluster's site id; null: the first registered Ceph cluster. */
  site: number | null;
  /** The pool; null: the first mirrored pool. */
  pool: string | null;
  /** The namespace of `pool` ('' is its default namespace). */
  ns: string;
  tab: CephTab;
  /** The image shown (its details on Images) or chosen (the failover's scope on Failover). */
  image: string | null;
  /** The cluster a failback resyncs from (set by a split-brain row's "Resolve"). */
  to: number | null;
  /** The pairing dialog, open at this step. */
  pair: PairStep | null;
}

const isTab = (t: string | null): t is CephTab => CEPH_TABS.some((x) => x.id === t);
const id = (v: string | null) => (v && /^\d+$/.test(v) ? Number(v) : null);

/** The view a URL's search parameters describe; unknown values fall back to the defaults. */
export function readCephView(p: Pick<URLSearchParams, 'get'>): CephView {
  const image = p.get('image') || null;
  const tab = p.get('tab');
  const pair = p.get('pair');
  return {
    site: id(p.get('site')),
    pool: p.get('pool') || null,
    ns: p.get('ns') ?? '',
    // A link to an image opens its details.
    tab: isTab(tab) ? tab : image ? 'images' : 'pools',
    image,
    to: id(p.get('to')),
    pair: pair === 'create' || pair === 'import' ? pair : null,
  };
}

/** The link to a view; defaults are left out, the parameters always in the same order. */
export function cephHref(v: CephView): string {
  const q = new URLSearchParams();
  if (v.site !== null) q.set('site', String(v.site));
  if (v.pool !== null) {
    q.set('pool', v.pool);
    if (v.ns) q.set('ns', v.ns);
  }
  if (v.tab !== 'pools' || v.image) q.set('tab', v.tab);
  if (v.image) q.set('image', v.image);
  if (v.to !== null) q.set('to', String(v.to));
  if (v.pair) q.set('pair', v.pair);
  const s = q.toString();
  return s ? `/ceph?${s}` : '/ceph';
}
