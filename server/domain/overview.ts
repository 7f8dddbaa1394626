import type { VmInfo } from '../adapters/node/types';
import {
  SiteAnswers,
  vmsKnownOnlyFromReplicas,
  vmsRunningTwice,
  type Answer,
  type LiveNode,
  type ReplicaFacts,
  type RunningTwice,
  type StoredVm,
} from './inventory';
import type { SiteService, SiteView } from './sites';

export interface SiteHealth {
  site: Pick<SiteView, 'id' | 'name' | 'kind' | 'demo'>;
  reachable: boolean;
  level: 'ok' | 'warn' | 'error';
  headline: string;
  error?: string;
  node?: {
    vms: number;
    running: number;
    pools: { name: string; freeBytes: number; sizeBytes: number }[];
    cpus: number;
    memoryMiB: number;
  };
  /** `splitBrain`: images seen primary on this cluster and on its peer at its last mirroring status. */
  ceph?: {
    health: string;
    pools: { pool: string; mode: string; peers: number; states: Record<string, number>; health: string }[];
    splitBrain: number;
  };
  /** The site did not answer within the wait: what is shown is its answer from this time (epoch ms). */
  staleSince?: number;
  /** The site has not answered the question asked at this time (epoch ms) yet. */
  waitingSince?: number;
}

export interface AskOptions {
  /** How long a caller waits for a site before it is shown as not answering (a page renders within 2 s). */
  waitMs?: number;
  /** How long a question to a site may run before the site counts as unreachable. */
  timeoutMs?: number;
  /** Split-brain images of a Ceph cluster, as its last mirroring status found them. */
  cephSplitBrain?: (siteId: number) => number;
}
const WAIT_MS = 1_500;
const TIMEOUT_MS = 10_000;

/**
 * What the sites answered, remembered per app (keyed by its SiteService) between calls. Kept on
 * globalThis under a registered symbol: Next.js may load this module once per bundle.
 */
interface Memory {
  health: SiteAnswers<SiteHealth>;
  vms: SiteAnswers<VmInfo[]>;
}
const MEMORY = Symbol.for('tandem.siteAnswers');
function memoryOf(sites: SiteService): Memory {
  const g = globalThis as unknown as { [MEMORY]?: WeakMap<SiteService, Memory> };
  const all = (g[MEMORY] ??= new WeakMap());
  let m = all.get(sites);
  if (!m) all.set(sites, (m = { health: new SiteAnswers(), vms: new SiteAnswers() }));
  return m;
}

function notAnswering(waitMs: number, timeoutMs: number): string {
  return `no answer within ${waitMs / 1000} s (still asking; unreachable after ${timeoutMs / 1000} s)`;
}

/** Health over all sites at a glance; each site is asked in parallel, and none is waited for longer than `waitMs`. */
export async function overview(sites: SiteService, opts: AskOptions = {}): Promise<SiteHealth[]> {
  const { waitMs = WAIT_MS, timeoutMs = TIMEOUT_MS } = opts;
  const mem = memoryOf(sites).health;
  const list = sites.list();
  mem.keepOnly(list.map((s) => s.id));
  return Promise.all(
    list.map(async (s): Promise<SiteHealth> => {
      const site = { id: s.id, name: s.name, kind: s.kind, demo: s.demo };
      const a = await mem.ask(s.id, s.name, () => siteHealth(sites, site, opts.cephSplitBrain), {
        waitMs,
        timeoutMs,
      });
      switch (a.kind) {
        case 'fresh':
          return a.value;
        case 'slow':
          return { ...a.value, staleSince: a.at };
        case 'failed':
          return { site, reachable: false, level: 'error', headline: 'unreachable', error: a.error };
        case 'waiting':
          return {
            site,
            reachable: false,
            level: 'error',
            headline: 'not answering',
            error: notAnswering(waitMs, timeoutMs),
            waitingSince: a.askedAt,
          };
      }
    }),
  );
}

/** What the console last learnt of whether a site answers (`up` null: nothing yet). */
export interface SiteReach {
  site: Pick<SiteView, 'id' | 'name' | 'kind'>;
  up: boolean | null;
  /** When that was learnt (epoch ms). */
  at: number | null;
  /** When the site last answered (epoch ms), where known. */
  lastSeenAt: number | null;
  error?: string;
}

/**
 * Whether each site answers, from what the console last learnt, without waiting for any site:
 * the overview's last answer or failure, the time the scheduler or a sync last reached a node
 * (`sites.lastSeenAt`), a Ceph cluster's last mirroring status (`cephAnswered`) and a cluster
 * recently found unreachable (`cephDown`). The newest
 * finding wins. A site whose newest finding is older than `refreshMs` is asked again in the
 * background (one question per site at a time, shared with the overview), so the next call knows.
 */
export function knownReach(
  sites: SiteService,
  rows: { id: number; name: string; kind: 'node' | 'ceph'; lastSeenAt: number | null }[],
  opts: AskOptions & {
    now?: number;
    refreshMs?: number;
    /** When a Ceph cluster last answered its mirroring status (epoch ms), if it has. */
    cephAnswered?: (siteId: number) => number | null;
    /** A Ceph cluster recently found unreachable. */
    cephDown?: (siteId: number) => { at: number; error: string } | null;
  } = {},
): SiteReach[] {
  const { timeoutMs = TIMEOUT_MS, refreshMs = 30_000, now = Date.now() } = opts;
  const mem = memoryOf(sites).health;
  return rows.map((r): SiteReach => {
    const site = { id: r.id, name: r.name, kind: r.kind };
    const last = mem.last(r.id);
    const findings: { up: boolean; at: number; error?: string }[] = [];
    if (last)
      findings.push(last.ok ? { up: true, at: last.at } : { up: false, at: last.at, error: last.error });
    if (r.lastSeenAt !== null) findings.push({ up: true, at: r.lastSeenAt });
    const answered = r.kind === 'ceph' ? opts.cephAnswered?.(r.id) : null;
    if (answered) findings.push({ up: true, at: answered });
    const down = r.kind === 'ceph' ? opts.cephDown?.(r.id) : null;
    if (down) findings.push({ up: false, at: down.at, error: down.error });
    // On a tie, a failure wins: it is the later of two findings of the same moment.
    const newest = findings.sort((a, b) => b.at - a.at || Number(a.up) - Number(b.up))[0];
    // A question already open is joined, not asked again.
    if (!newest || now - newest.at > refreshMs) {
      void mem
        .ask(
          r.id,
          r.name,
          () => siteHealth(sites, { ...site, demo: sites.get(r.id).demo }, opts.cephSplitBrain),
          { waitMs: 0, timeoutMs },
        )
        .catch(() => {});
    }
    const seen = [last?.ok ? last.at : null, r.lastSeenAt, answered ?? null].filter(
      (x): x is number => x !== null,
    );
    return {
      site,
      up: newest ? newest.up : null,
      at: newest?.at ?? null,
      lastSeenAt: seen.length ? Math.max(...seen) : null,
      error: newest?.up === false ? newest.error : undefined,
    };
  });
}

async function siteHealth(
  sites: SiteService,
  site: SiteHealth['site'],
  cephSplitBrain?: (siteId: number) => number,
): Promise<SiteHealth> {
  const a = sites.adapter(site.id);
  if (a.kind === 'node') {
    const [vms, pools, cap] = await Promise.all([a.listVms(), a.zfs.listZpools(), a.capacity()]);
    const lowPool = pools.find((p) => p.freeBytes / p.sizeBytes < 0.1);
    const degraded = pools.find((p) => p.health !== 'ONLINE');
    return {
      site,
      reachable: true,
      level: degraded ? 'error' : lowPool ? 'warn' : 'ok',
      headline: degraded
        ? `zpool ${degraded.name} is ${degraded.health}`
        : lowPool
          ? `zpool ${lowPool.name} is almost full`
          : `${vms.filter((v) => v.state === 'running').length}/${vms.length} VMs running`,
      node: {
        vms: vms.length,
        running: vms.filter((v) => v.state === 'running').length,
        pools: pools.map((p) => ({ name: p.name, freeBytes: p.freeBytes, sizeBytes: p.sizeBytes })),
        cpus: cap.cpus,
        memoryMiB: cap.memoryMiB,
      },
    };
  }
  const [probe, pools] = await Promise.all([a.probe(), a.listMirrorPools()]);
  const bad = pools.find((p) => p.mode !== 'disabled' && p.health === 'ERROR');
  const warn =
    probe.health !== 'HEALTH_OK' || pools.some((p) => p.mode !== 'disabled' && p.health === 'WARNING');
  const splitBrain = cephSplitBrain?.(site.id) ?? 0;
  return {
    site,
    reachable: true,
    level: splitBrain || bad || probe.health === 'HEALTH_ERR' ? 'error' : warn ? 'warn' : 'ok',
    headline: splitBrain
      ? `split-brain: ${splitBrain} image(s) primary here and on the peer`
      : bad
        ? `mirroring of ${bad.pool} is unhealthy`
        : `${probe.health}, ${pools.filter((p) => p.mode !== 'disabled').length} mirrored pool(s)`,
    ceph: {
      health: probe.health,
      pools: pools.map((p) => ({
        pool: p.pool,
        mode: p.mode,
        peers: p.peers.length,
        states: p.states,
        health: p.health,
      })),
      splitBrain,
    },
  };
}

/** Each node's VMs as last learnt (by the VM inventory or the Overview), without asking any node; null: never answered. */
export function lastVms(sites: SiteService, siteId: number): { vms: VmInfo[]; at: number } | null {
  const last = memoryOf(sites).vms.last(siteId);
  return last?.ok ? { vms: last.value, at: last.at } : null;
}

export interface NodeVms {
  site: Pick<SiteView, 'id' | 'name' | 'demo'>;
  /**
   * `answered`: `vms` is the node's live inventory. `slow`: the node has not answered within the
   * wait; `vms` is its inventory as of `at`. `unreachable`: the last question failed (`error`).
   * `waiting`: the node has not answered yet (asked at `askedAt`); `error` says so.
   */
  status: 'answered' | 'slow' | 'unreachable' | 'waiting';
  vms: VmInfo[];
  error?: string;
  /** When `vms` or `error` was learnt (epoch ms). */
  at: number | null;
  /** The open question's time, while the node is slow or has not answered yet. */
  askedAt: number | null;
  /** VMs whose master is this node that its live inventory does not show, known from their stored replicas. */
  stored: StoredVm[];
}

export interface VmInventory {
  nodes: NodeVms[];
  /** VMs running on their master and on a replica target at once. */
  runningTwice: RunningTwice[];
}

function nodeView(
  site: NodeVms['site'],
  a: Answer<VmInfo[]>,
  waitMs: number,
  timeoutMs: number,
): Omit<NodeVms, 'stored'> {
  switch (a.kind) {
    case 'fresh':
      return { site, status: 'answered', vms: a.value, at: a.at, askedAt: null };
    case 'slow':
      return { site, status: 'slow', vms: a.value, at: a.at, askedAt: a.askedAt };
    case 'failed':
      return { site, status: 'unreachable', vms: [], error: a.error, at: a.at, askedAt: null };
    case 'waiting':
      return {
        site,
        status: 'waiting',
        vms: [],
        error: notAnswering(waitMs, timeoutMs),
        at: null,
        askedAt: a.askedAt,
      };
  }
}

/**
 * Every VM on every node, and the VMs known only from their stored replicas (their master node
 * cannot be reached, or does not show them). No node is waited for longer than `waitMs`.
 */
export async function vmInventory(
  sites: SiteService,
  replicas: { list(): ReplicaFacts[] },
  opts: AskOptions = {},
): Promise<VmInventory> {
  const { waitMs = WAIT_MS, timeoutMs = TIMEOUT_MS } = opts;
  const mem = memoryOf(sites).vms;
  const list = sites.list().filter((s) => s.kind === 'node');
  mem.keepOnly(list.map((s) => s.id));
  const nodes = await Promise.all(
    list.map(async (s) => {
      const site = { id: s.id, name: s.name, demo: s.demo };
      const a = await mem.ask(
        s.id,
        s.name,
        async () => {
          const adapter = sites.adapter(s.id);
          return adapter.kind === 'node' ? adapter.listVms() : [];
        },
        { waitMs, timeoutMs },
      );
      return nodeView(site, a, waitMs, timeoutMs);
    }),
  );
  const live: LiveNode[] = nodes.map((n) => ({
    siteId: n.site.id,
    siteName: n.site.name,
    vms: n.status === 'answered' || n.status === 'slow' ? n.vms : null,
    unreachableReason: n.error,
  }));
  const rows = replicas.list();
  const stored = vmsKnownOnlyFromReplicas(live, rows);
  return {
    nodes: nodes.map((n) => ({ ...n, stored: stored.filter((v) => v.siteId === n.site.id) })),
    runningTwice: vmsRunningTwice(live, rows),
  };
}
