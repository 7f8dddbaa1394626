import type { VmInfo, VmState } from '../adapters/node/types';
import type { ReplicaRow } from '../db/schema';
import { errorMessage } from '../core/errors';
import { dualRunning } from './replicas/rules';
import { withTimeout } from './deadline';

/*
 * What the console knows about VMs when some nodes do not answer: the rules are pure (facts in,
 * findings out); `SiteAnswers` bounds how long a page waits for a node.
 */

/** A node's live inventory as far as it is known: `vms` is null while the node cannot be reached. */
export interface LiveNode {
  siteId: number;
  siteName: string;
  vms: Pick<VmInfo, 'name' | 'state'>[] | null;
  /** Why `vms` is null (the node's error, or that it has not answered yet). */
  unreachableReason?: string;
}

export type ReplicaFacts = Pick<
  ReplicaRow,
  | 'id'
  | 'name'
  | 'vmName'
  | 'sourceSiteId'
  | 'targetSiteId'
  | 'vcpus'
  | 'memoryMiB'
  | 'vmDefinition'
  | 'lastSyncAt'
>;

/** A VM known only from its stored replicas: its master node does not show it. */
export interface StoredVm {
  /** The master node (the replicas' source). */
  siteId: number;
  vmName: string;
  /** False when the master node cannot be reached; true when it answers without the VM. */
  nodeReachable: boolean;
  /** Why the live inventory does not show the VM. */
  reason: string;
  vcpus: number;
  memoryMiB: number;
  /** The VM's state and disks as of the last sync that stored its definition (null before the first). */
  lastKnownState: string | null;
  disks: { device: string; path: string }[];
  /** When the definition was stored (the replica's last sync), epoch ms. */
  definitionAt: number | null;
  replicaIds: number[];
}

/** A VM that runs on more than one node of one replication set (its master and a replica target). */
export interface RunningTwice {
  vmName: string;
  /** The master first, then the targets where it also runs. */
  sites: { id: number; name: string; state: VmState; role: 'master' | 'replica target' }[];
}

function groupByMaster(replicas: ReplicaFacts[]): Map<string, ReplicaFacts[]> {
  const groups = new Map<string, ReplicaFacts[]>();
  for (const r of replicas) {
    const key = `${r.sourceSiteId}/${r.vmName}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return groups;
}

/**
 * VMs that the live inventory does not show on their master node (the node is unreachable, or
 * answers without them), described from the replicas stored for them: one entry per master node
 * and VM name, with the newest stored definition.
 */
export function vmsKnownOnlyFromReplicas(nodes: LiveNode[], replicas: ReplicaFacts[]): StoredVm[] {
  const byId = new Map(nodes.map((n) => [n.siteId, n]));
  const out: StoredVm[] = [];
  for (const group of groupByMaster(replicas).values()) {
    const first = group[0]!;
    const node = byId.get(first.sourceSiteId);
    if (node?.vms?.some((v) => v.name === first.vmName)) continue;
    const newest = [...group].sort(
      (a, b) => (b.lastSyncAt?.getTime() ?? 0) - (a.lastSyncAt?.getTime() ?? 0),
    )[0]!;
    const reachable = !!node?.vms;
    out.push({
      siteId: first.sourceSiteId,
      vmName: first.vmName,
      nodeReachable: reachable,
      reason: !node
        ? `site #${first.sourceSiteId} is not a registered compute node`
        : reachable
          ? `VM ${first.vmName} is not defined on ${node.siteName}`
          : (node.unreachableReason ?? `${node.siteName} does not answer`),
      vcpus: newest.vcpus,
      memoryMiB: newest.memoryMiB,
      lastKnownState: newest.vmDefinition?.state ?? null,
      disks: newest.vmDefinition?.disks ?? [],
      definitionAt: newest.vmDefinition && newest.lastSyncAt ? newest.lastSyncAt.getTime() : null,
      replicaIds: group.map((r) => r.id).sort((a, b) => a - b),
    });
  }
  return out.sort((a, b) => a.siteId - b.siteId || a.vmName.localeCompare(b.vmName));
}

/**
 * A VM whose name is running (or paused) in the live inventory of both its master node and one
 * of its replica targets: two copies write to diverging disks. Nodes that cannot be reached say
 * nothing, and nodes outside the VM's replicas are not compared.
 */
export function vmsRunningTwice(nodes: LiveNode[], replicas: ReplicaFacts[]): RunningTwice[] {
  const byId = new Map(nodes.map((n) => [n.siteId, n]));
  const seen = new Set<string>();
  const out: RunningTwice[] = [];
  for (const group of groupByMaster(replicas).values()) {
    const { vmName, sourceSiteId } = group[0]!;
    const roles = new Map<number, 'master' | 'replica target'>([[sourceSiteId, 'master']]);
    for (const r of group) if (!roles.has(r.targetSiteId)) roles.set(r.targetSiteId, 'replica target');
    const known = [...roles].flatMap(([id, role]) => {
      const node = byId.get(id);
      return node?.vms
        ? [{ id, role, name: node.siteName, state: node.vms.find((v) => v.name === vmName)?.state ?? null }]
        : [];
    });
    const both = dualRunning(known.map((k) => ({ siteId: k.id, state: k.state })));
    if (!both) continue;
    const live = known
      .filter((k) => both.includes(k.id))
      .map((k) => ({ id: k.id, name: k.name, state: k.state!, role: k.role }));
    const key = `${vmName}:${live
      .map((s) => s.id)
      .sort((a, b) => a - b)
      .join(',')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ vmName, sites: live });
  }
  return out.sort((a, b) => a.vmName.localeCompare(b.vmName));
}

// ---------------------------------------------------------------- bounded waits

/**
 * What is known of one site's answer to a question. `fresh`: it answered now. `slow`: the value
 * it gave last time (at `at`); the current question has not been answered within the wait.
 * `failed`: the last question failed (`error` says why), and no newer answer has come. `waiting`:
 * it has never answered, and the question asked at `askedAt` is still open.
 */
export type Answer<T> =
  | { kind: 'fresh'; value: T; at: number }
  | { kind: 'slow'; value: T; at: number; askedAt: number }
  | { kind: 'failed'; error: string; at: number }
  | { kind: 'waiting'; askedAt: number };

interface Entry<T> {
  inflight: Promise<void> | null;
  askedAt: number;
  last: { ok: true; value: T; at: number } | { ok: false; error: string; at: number } | null;
}

/**
 * Asks sites a question with two deadlines: a caller waits at most `waitMs` (a page must not hang
 * on a node that does not answer), while the question itself runs on for up to `timeoutMs` and its
 * answer (or failure) is remembered for the next caller. One question per site is in flight at a
 * time, shared by concurrent callers.
 */
export class SiteAnswers<T> {
  readonly #entries = new Map<number, Entry<T>>();

  constructor(private readonly now: () => number = Date.now) {}

  async ask(
    siteId: number,
    what: string,
    question: () => Promise<T>,
    opts: { waitMs: number; timeoutMs: number },
  ): Promise<Answer<T>> {
    let e = this.#entries.get(siteId);
    if (!e) {
      e = { inflight: null, askedAt: 0, last: null };
      this.#entries.set(siteId, e);
    }
    const entry = e;
    if (!entry.inflight) {
      entry.askedAt = this.now();
      entry.inflight = withTimeout(Promise.resolve().then(question), opts.timeoutMs, what)
        .then(
          (value) => void (entry.last = { ok: true, value, at: this.now() }),
          (err: unknown) => void (entry.last = { ok: false, error: errorMessage(err), at: this.now() }),
        )
        .finally(() => (entry.inflight = null));
    }
    let timer: NodeJS.Timeout | undefined;
    const answered = await Promise.race([
      entry.inflight.then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), opts.waitMs))),
    ]);
    clearTimeout(timer);
    const last = entry.last;
    if (answered && last)
      return last.ok
        ? { kind: 'fresh', value: last.value, at: last.at }
        : { kind: 'failed', error: last.error, at: last.at };
    if (last?.ok) return { kind: 'slow', value: last.value, at: last.at, askedAt: entry.askedAt };
    if (last) return { kind: 'failed', error: last.error, at: last.at };
    return { kind: 'waiting', askedAt: entry.askedAt };
  }

  /** The last answer of a site, without asking it. */
  last(siteId: number): { ok: true; value: T; at: number } | { ok: false; error: string; at: number } | null {
    return this.#entries.get(siteId)?.last ?? null;
  }

  /** Drops what is remembered of sites that are no longer registered. */
  keepOnly(siteIds: Iterable<number>): void {
    const keep = new Set(siteIds);
    for (const id of this.#entries.keys()) if (!keep.has(id)) this.#entries.delete(id);
  }
}
