/*
 * The images of a cluster's stored status as the console reads them: per (pool, namespace) counts
 * for the status, and pages of one pool or namespace (filtered by group, role and name, sorted) for
 * the image table. Pure: the status is computed once per answer (see CephMirroring), and the
 * sorted and grouped views of its images are kept with it, so that a page is a slice.
 */
import type { CephStatus, ImageGroup, StatusImage } from './mirroring';

export const IMAGE_GROUPS = ['issues', 'idle', 'syncing', 'ready'] as const satisfies readonly ImageGroup[];
export const IMAGE_SORTS = ['name', 'lag', 'size', 'state'] as const;
export type ImageSort = (typeof IMAGE_SORTS)[number];
/** `mirrored`: images with mirroring enabled; `not-primary`: mirrored and not primary here (what a takeover promotes). */
export const IMAGE_ROLES = ['any', 'mirrored', 'not-primary'] as const;
export type ImageRole = (typeof IMAGE_ROLES)[number];

/** Whether an image name is a protective copy kept by a resync (`<image>-diverged-<UTC time>`), and of which image. */
export function keptCopyOf(name: string): { image: string; stamp: string } | null {
  const m = /^(.+)-diverged-(\d{8}T\d{6}Z)$/.exec(name);
  return m ? { image: m[1]!, stamp: m[2]! } : null;
}

export type GroupCounts = Record<ImageGroup, number>;

/** What the console needs of a pool's images without the images themselves. */
export interface ImageCounts extends GroupCounts {
  total: number;
  /** Mirroring enabled. */
  mirrored: number;
  /** Mirrored and primary on this cluster. */
  primary: number;
  /** Mirrored and not primary here (non-primary or unknown): what a takeover would promote. */
  notPrimary: number;
}

type Pool = CephStatus['pools'][number];

/**
 * A (pool, namespace) of the status without its images: per-group and per-role counts, the site
 * names its not-primary images report (the clusters a takeover can come from) and its kept copies.
 */
export type PoolOverview = Omit<Pool, 'images'> & {
  counts: ImageCounts;
  /** Peer site names reported by the images that are not primary here, each once. */
  imagePeerSites: string[];
  /** Protective copies kept by resyncs (few; listed until the operator deletes them). */
  kept: { name: string; of: string; stamp: string; sizeBytes: number | null }[];
};

const overviews = new WeakMap<Pool, PoolOverview>();

export function poolOverview(p: Pool): PoolOverview {
  const known = overviews.get(p);
  if (known) return known;
  const counts: ImageCounts = {
    total: p.images.length,
    mirrored: 0,
    primary: 0,
    notPrimary: 0,
    issues: 0,
    idle: 0,
    syncing: 0,
    ready: 0,
  };
  const sites = new Set<string>();
  const kept: PoolOverview['kept'] = [];
  for (const i of p.images) {
    counts[i.group]++;
    const m = i.mirroring;
    if (m) {
      counts.mirrored++;
      if (m.primary === true) counts.primary++;
      else {
        counts.notPrimary++;
        for (const s of m.peerSites) sites.add(s.siteName);
      }
    }
    const k = keptCopyOf(i.name);
    if (k) kept.push({ name: i.name, of: k.image, stamp: k.stamp, sizeBytes: i.sizeBytes });
  }
  const { images: _images, ...rest } = p;
  const o = { ...rest, counts, imagePeerSites: [...sites], kept };
  overviews.set(p, o);
  return o;
}

export interface ImageQuery {
  pool: string;
  namespace: string;
  group?: ImageGroup;
  role?: ImageRole;
  /** Part of the image name (case-insensitive). */
  search?: string;
  sort?: ImageSort;
  dir?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
}

export interface ImagePage {
  rows: StatusImage[];
  /** Images that match the query without its group and paging. */
  matching: number;
  /** Images that match the query and its group: the rows' paging runs over these. */
  total: number;
  /** The matching images per group (the group filter's counts). */
  counts: GroupCounts;
  offset: number;
  limit: number;
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });
const byName = (a: StatusImage, b: StatusImage) => collator.compare(a.name, b.name);
/** Nulls (unknown lag or size) last in either direction. */
const numeric =
  (get: (i: StatusImage) => number | null) => (dir: 1 | -1) => (a: StatusImage, b: StatusImage) => {
    const x = get(a);
    const y = get(b);
    if (x === y) return byName(a, b);
    if (x === null) return 1;
    if (y === null) return -1;
    return (x - y) * dir || byName(a, b);
  };
const COMPARE: Record<ImageSort, (dir: 1 | -1) => (a: StatusImage, b: StatusImage) => number> = {
  name: (dir) => (a, b) => byName(a, b) * dir,
  lag: numeric((i) => i.lagSec),
  size: numeric((i) => i.sizeBytes),
  state: (dir) => (a, b) =>
    collator.compare(a.mirroring?.rawState ?? '', b.mirroring?.rawState ?? '') * dir || byName(a, b),
};

function hasRole(i: StatusImage, role: ImageRole): boolean {
  if (role === 'any') return true;
  if (!i.mirroring) return false;
  return role === 'mirrored' || i.mirroring.primary !== true;
}

interface View {
  all: StatusImage[];
  byGroup: Record<ImageGroup, StatusImage[]>;
}

/** Sorted (and role-filtered) views of a pool's images, with their groups; kept as long as the images are. */
const views = new WeakMap<readonly StatusImage[], Map<string, View>>();

function view(images: readonly StatusImage[], sort: ImageSort, dir: 'asc' | 'desc', role: ImageRole): View {
  let m = views.get(images);
  if (!m) views.set(images, (m = new Map()));
  const key = `${sort}/${dir}/${role}`;
  let v = m.get(key);
  if (!v) {
    const all = images.filter((i) => hasRole(i, role)).sort(COMPARE[sort](dir === 'asc' ? 1 : -1));
    const byGroup: View['byGroup'] = { issues: [], idle: [], syncing: [], ready: [] };
    for (const i of all) byGroup[i.group].push(i);
    m.set(key, (v = { all, byGroup }));
  }
  return v;
}

/**
 * One page of a pool's (or namespace's) images: those of `role`, whose name contains `search`, in
 * `group`, sorted (name by default; ties by name), `limit` from `offset`. Without a search a page
 * is a slice of a view computed once per status answer.
 */
export function pageImages(
  images: readonly StatusImage[],
  q: Omit<ImageQuery, 'pool' | 'namespace'>,
): ImagePage {
  const offset = Math.max(0, q.offset ?? 0);
  const limit = Math.max(1, q.limit ?? 50);
  const v = view(images, q.sort ?? 'name', q.dir ?? 'asc', q.role ?? 'any');
  const needle = q.search?.trim().toLowerCase();
  let list: StatusImage[];
  let counts: GroupCounts;
  let matching: number;
  if (needle) {
    const found = (q.group ? v.byGroup[q.group] : v.all).filter((i) => i.name.toLowerCase().includes(needle));
    list = found;
    counts = { issues: 0, idle: 0, syncing: 0, ready: 0 };
    for (const i of q.group ? v.all.filter((x) => x.name.toLowerCase().includes(needle)) : found)
      counts[i.group]++;
    matching = counts.issues + counts.idle + counts.syncing + counts.ready;
  } else {
    list = q.group ? v.byGroup[q.group] : v.all;
    counts = {
      issues: v.byGroup.issues.length,
      idle: v.byGroup.idle.length,
      syncing: v.byGroup.syncing.length,
      ready: v.byGroup.ready.length,
    };
    matching = v.all.length;
  }
  return { rows: list.slice(offset, offset + limit), matching, total: list.length, counts, offset, limit };
}
