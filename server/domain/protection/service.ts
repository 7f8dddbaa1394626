import { and, eq, inArray, isNotNull, sql } from 'drizzle-orm';
import type { Db } from '../../db/client';
import { protectionSamples, replicas, sites, syncRuns, type ReplicaRow } from '../../db/schema';
import type { CephMirroring, CephStatus, StatusImage } from '../ceph/mirroring';
import type { Clock } from '../../core/clock';
import { AppError, errorMessage } from '../../core/errors';
import { lastVms } from '../overview';
import { dataLossWindow } from '../replicas/rules';
import type { SiteService } from '../sites';
import {
  copyProgress,
  imageLossWindow,
  predictedBreach,
  protectionHealth,
  replicaNextRecovery,
  stuckCopyReason,
} from './health';
import { effectiveRpo, pairKey, rpoChain, type RpoScope, type RpoTargets } from './rpo';
import {
  HEALTHS,
  type BytesAtRisk,
  type ProtectedObject,
  type ProtectionHealth,
  type ProtectionPage,
  type ProtectionQuery,
  type SiteRef,
} from './types';
import { cephTime } from './format';

export interface SiteExposure {
  site: SiteRef;
  kind: 'node' | 'ceph';
  protectedObjects: number;
  worstWindowSec: number | null;
  beyondRpo: number;
  unknown: number;
  unprotected: number;
}

/** A site that answered within this long counts as reachable (the scheduler asks every node every few seconds). */
const SEEN_FRESH_MS = 120_000;
/** A Ceph cluster's status older than this is asked again (in the background) when objects are read. */
const CEPH_REFRESH_MS = 30_000;
/** How long computed objects are reused as they are (one computation serves the pages, the metrics and the alerts). */
const FRESH_MS = 1_000;
/** How old computed objects may be while new ones are computed in the background. */
const MAX_STALE_MS = 5_000;
/** How long a measured bytes-at-risk figure is shown on the overview. */
const AT_RISK_FRESH_MS = 15 * 60_000;

interface Snapshot {
  at: number;
  objects: ProtectedObject[];
  counts: Record<ProtectionHealth, number>;
  /** Filtered and sorted lists of these objects, by query. */
  views: Map<string, ProtectedObject[]>;
}

/** Plain code-point order: fast on thousands of rows, and the same on every server. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
const rank = (h: ProtectionHealth) => HEALTHS.indexOf(h);
const byName = (a: ProtectedObject, b: ProtectedObject) =>
  byText(a.name, b.name) || byText(a.subject, b.subject);
const win = (o: ProtectedObject) => o.windowSec ?? -1;
const COMPARE: Record<
  NonNullable<ProtectionQuery['sort']>,
  (a: ProtectedObject, b: ProtectedObject) => number
> = {
  health: (a, b) => rank(a.health) - rank(b.health) || win(b) / b.rpoSec - win(a) / a.rpoSec || byName(a, b),
  name: byName,
  kind: (a, b) => byText(a.kind, b.kind) || byName(a, b),
  window: (a, b) => win(a) - win(b) || byName(a, b),
  rpo: (a, b) => a.rpoSec - b.rpoSec || byName(a, b),
  source: (a, b) => byText(a.source?.name ?? '', b.source?.name ?? '') || byName(a, b),
};
const RECENT_SYNCS = 10;

interface SiteInfo {
  id: number;
  name: string;
  kind: 'node' | 'ceph';
  lastSeenAt: number | null;
}

function ref(s: SiteInfo | undefined | null): SiteRef | null {
  return s ? { id: s.id, name: s.name } : null;
}

function replicaHref(siteId: number, vm: string): string {
  return `/replicas/${siteId}/${encodeURIComponent(vm)}`;
}

/** A pool or namespace on the Ceph page, on one of its tabs (`pools` when none is given). */
function cephHref(siteId: number, pool: string, ns: string, tab?: 'failover'): string {
  return `/ceph?site=${siteId}&pool=${encodeURIComponent(pool)}${ns ? `&ns=${encodeURIComponent(ns)}` : ''}${tab ? `&tab=${tab}` : ''}`;
}

/**
 * Every protected object of every site — VM replicas and mirrored RBD images — and what is not
 * protected (VMs without a replica, images of mirrored pools with mirroring disabled), each with
 * its RPO, data-loss window and health. Computed from stored state only: the replica rows, the
 * Ceph clusters' last mirroring status, the nodes' last VM inventory; no machine is waited for.
 */
export class ProtectionService {
  #snap: Snapshot | null = null;
  /** The newest copied mirror snapshot seen per image (subject@source site): the recovery point while rbd-mirror reports none. */
  readonly #lastCopied = new Map<string, number>();
  /** The percent of the running mirror-snapshot copy per image (subject@source site), and since when it has not moved. */
  readonly #copying = new Map<string, { percent: number; since: number }>();
  #computing: Promise<Snapshot> | null = null;
  /**
   * Asks the nodes for their VMs in the background (set by the app), so that VMs without a
   * replica are listed; called when a node's last inventory is older than CEPH_REFRESH_MS.
   */
  refreshVms: (() => void) | null = null;
  #vmsAskedAt = 0;
  /** Recent successful sync runs per replica, kept until the replica's last sync changes. */
  readonly #syncs = new Map<
    number,
    { lastSyncAt: number | null; runs: { at: number; seconds: number; bytesPerSecond: number | null }[] }
  >();

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly sites: SiteService,
    private readonly ceph: CephMirroring,
    readonly rpo: RpoTargets,
  ) {}

  /** Forgets the computed objects: the next read computes them again. */
  invalidate(): void {
    this.#snap = null;
  }

  /** Sets an RPO target; the objects show it at once. */
  setRpo(scope: RpoScope, seconds: number, by: string): { scope: string; seconds: number } {
    const r = this.rpo.set(scope, seconds, by);
    this.#snap = null;
    return r;
  }

  /** Removes an RPO target: its scope inherits again. */
  clearRpo(scope: RpoScope): { scope: string; removed: boolean } {
    const r = this.rpo.clear(scope);
    this.#snap = null;
    return r;
  }

  /** The RPO of what a Ceph snapshot schedule covers (a pool, namespace or image of the cluster), for the check of its interval. */
  rpoForCeph(o: { siteId: number; pool?: string; namespace?: string; image?: string }): {
    seconds: number;
    from: string;
  } {
    let peerId: number | null = null;
    const own = this.ceph.lastStatus(o.siteId);
    const peerName =
      own?.ok && o.pool
        ? own.status.pools.find((p) => p.pool === o.pool && p.namespace === '')?.peers[0]?.siteName
        : undefined;
    if (peerName) {
      for (const s of this.db.select({ id: sites.id, kind: sites.kind }).from(sites).all()) {
        const st = s.kind === 'ceph' && s.id !== o.siteId ? this.ceph.lastStatus(s.id) : null;
        if (st?.ok && st.status.pools.some((p) => p.siteName === peerName)) peerId = s.id;
      }
    }
    const pair = pairKey(o.siteId, peerId);
    const subject =
      o.pool && o.image ? `rbd:${pair}/${o.pool}/${o.namespace ?? ''}/${o.image}` : `rbd:${pair}/*`;
    return this.rpoFor({
      subject,
      sourceSiteId: o.siteId,
      pair: o.pool ? pair : undefined,
      pool: o.pool,
      namespace: o.namespace,
    });
  }

  /** The RPO an object of `subject` would have (for save-time checks of a cadence), and where it comes from. */
  rpoFor(o: {
    subject: string;
    sourceSiteId: number | null;
    pair?: string;
    pool?: string;
    namespace?: string;
  }): { seconds: number; from: string } {
    const byId = new Map(
      this.db
        .select({ id: sites.id, name: sites.name, kind: sites.kind, lastSeenAt: sites.lastSeenAt })
        .from(sites)
        .all()
        .map((s) => [s.id, { ...s, lastSeenAt: null }]),
    );
    const r = effectiveRpo(this.rpo.map(), rpoChain(o), (scope) => this.#scopeLabel(scope, byId));
    return { seconds: r.seconds, from: r.from.label };
  }

  /** Every object, as last computed (see #snapshot). */
  async objects(): Promise<ProtectedObject[]> {
    return (await this.#snapshot()).objects;
  }

  /**
   * The computed objects. Younger than FRESH_MS: used as they are. Younger than MAX_STALE_MS:
   * used, and computed again in the background for the next caller. Older (or none): computed
   * first. So a page is answered from memory, and the cost of computing (O(objects), no per-row
   * SQL) is paid about once a second whatever the number of readers, and once more at the first
   * read after a change (`invalidate`: a task moved, a replica's settings changed), which readers
   * arriving meanwhile share.
   */
  async #snapshot(): Promise<Snapshot> {
    const now = this.clock.now();
    const s = this.#snap;
    if (s && now >= s.at && now - s.at < FRESH_MS) return s;
    if (s && now >= s.at && now - s.at < MAX_STALE_MS) {
      void this.#refresh().catch(() => undefined);
      return s;
    }
    return this.#refresh();
  }

  #refresh(): Promise<Snapshot> {
    return (this.#computing ??= Promise.resolve()
      .then(() => this.#compute())
      .finally(() => (this.#computing = null)));
  }

  #compute(): Snapshot {
    const now = this.clock.now();
    const siteRows: SiteInfo[] = this.db
      .select({ id: sites.id, name: sites.name, kind: sites.kind, lastSeenAt: sites.lastSeenAt })
      .from(sites)
      .all()
      .map((s) => ({ ...s, lastSeenAt: s.lastSeenAt?.getTime() ?? null }));
    const byId = new Map(siteRows.map((s) => [s.id, s]));
    const targets = this.rpo.map();
    const labels = new Map<string, string>();
    const label = (scope: string) => {
      let l = labels.get(scope);
      if (l === undefined) labels.set(scope, (l = this.#scopeLabel(scope, byId)));
      return l;
    };
    const objects = [
      ...this.#replicaObjects(now, byId, targets, label),
      ...this.#imageObjects(now, siteRows, targets, label),
    ];
    const counts = Object.fromEntries(HEALTHS.map((h) => [h, 0])) as Record<ProtectionHealth, number>;
    for (const o of objects) counts[o.health]++;
    this.#snap = { at: now, objects, counts, views: new Map() };
    return this.#snap;
  }

  /** One page of objects, filtered and sorted, with the counts per health over all objects. */
  async list(q: ProtectionQuery = {}): Promise<ProtectionPage> {
    const snap = await this.#snapshot();
    const needle = q.q?.trim().toLowerCase() || undefined;
    const key = JSON.stringify([q.siteId, q.kind, q.health, needle, q.sort ?? 'health', q.dir ?? 'asc']);
    let rows = snap.views.get(key);
    if (!rows) {
      rows = snap.objects.filter(
        (o) =>
          (q.siteId === undefined || o.source?.id === q.siteId || o.target?.id === q.siteId) &&
          (q.kind === undefined || o.kind === q.kind) &&
          (q.health === undefined || o.health === q.health) &&
          (!needle ||
            o.name.toLowerCase().includes(needle) ||
            !!o.source?.name.toLowerCase().includes(needle) ||
            !!o.target?.name.toLowerCase().includes(needle)),
      );
      const sign = q.dir === 'desc' ? -1 : 1;
      const c = COMPARE[q.sort ?? 'health'];
      rows.sort((a, b) => sign * c(a, b));
      if (snap.views.size >= 32) snap.views.delete(snap.views.keys().next().value!);
      snap.views.set(key, rows);
    }
    const offset = q.offset ?? 0;
    const limit = q.limit ?? 50;
    return {
      rows: rows.slice(offset, offset + limit),
      total: rows.length,
      counts: snap.counts,
      stale: this.#stale(),
      at: snap.at,
    };
  }

  /**
   * What each site's loss would cost now: the objects written there (VMs whose master it is,
   * images primary there), the worst data-loss window among them, how many are beyond their RPO
   * or unmeasured, and how many have no copy at all.
   */
  async exposure(): Promise<SiteExposure[]> {
    const all = await this.objects();
    const rows = this.db
      .select({ id: sites.id, name: sites.name, kind: sites.kind })
      .from(sites)
      .orderBy(sites.kind, sites.name)
      .all();
    return rows.map((s) => {
      const mine = all.filter((o) => o.source?.id === s.id);
      const copied = mine.filter((o) => o.health !== 'unprotected');
      const windows = copied.map((o) => o.windowSec).filter((w): w is number => w !== null);
      return {
        site: { id: s.id, name: s.name },
        kind: s.kind,
        protectedObjects: copied.length,
        worstWindowSec: windows.length ? Math.max(...windows) : null,
        beyondRpo: copied.filter((o) => o.health === 'warning' || o.health === 'breach').length,
        unknown: copied.filter((o) => o.health === 'unknown').length,
        unprotected: mine.length - copied.length,
      };
    });
  }

  /**
   * Asks the master what it has written since the replica's recovery point (set by the app:
   * ReplicaService.writtenSinceRecoveryPoint).
   */
  writtenSince:
    | ((replicaId: number) => Promise<{ bytes: number; maxBytes: number; exact: boolean; snapshot: string }>)
    | null = null;
  /** The last bytes-at-risk measure per subject; the overview shows it while it is younger than AT_RISK_FRESH_MS and from the current recovery point. */
  readonly #atRisk = new Map<string, BytesAtRisk>();

  /** Measures the bytes at risk of one object now (see BytesAtRisk). */
  async bytesAtRisk(subject: string): Promise<BytesAtRisk> {
    const o = await this.get(subject);
    if (!o) throw new AppError('NOT_FOUND', `${subject} is not a protected object`);
    const now = this.clock.now();
    const none = (note: string): BytesAtRisk => ({
      subject,
      bytes: null,
      maxBytes: null,
      exact: false,
      snapshot: null,
      measuredAt: now,
      note,
    });
    if (o.kind === 'vm') return none('no replica: everything this VM holds is at risk');
    if (o.kind === 'rbd-image')
      return none(
        `Ceph 16.2 cannot measure it: \`rbd diff --from-snap\` finds only user snapshots, not mirror snapshots${o.bytesPerSecond ? `; rbd-mirror copies ${Math.round(o.bytesPerSecond)} B/s now` : ''}`,
      );
    const id = Number(subject.slice('replica:'.length));
    if (!this.writtenSince) return none('not measured here');
    try {
      const w = await this.writtenSince(id);
      const m: BytesAtRisk = {
        subject,
        bytes: w.bytes,
        maxBytes: w.maxBytes,
        exact: w.exact,
        snapshot: w.snapshot,
        measuredAt: now,
        note: w.exact
          ? `written on ${o.source?.name ?? 'the master'} since ${w.snapshot} (ZFS written@snapshot)`
          : `estimated on ${o.source?.name ?? 'the master'} since ${w.snapshot} from the space the datasets and the snapshot refer to (this ZFS has no written@snapshot), at most ${w.maxBytes} B`,
      };
      this.#atRisk.set(subject, m);
      this.#snap = null;
      return m;
    } catch (e) {
      if (AppError.is(e, 'NOT_FOUND'))
        return none(`the recovery point is not on the master: ${errorMessage(e)}`);
      return none(`${o.source?.name ?? 'the master'} did not answer: ${errorMessage(e)}`);
    }
  }

  /** The last measure of a replica's bytes at risk, when it is recent and measured from its recovery point now (`snapshot`). */
  #atRiskFor(subject: string, snapshot: string | null, now: number): number | null {
    const m = this.#atRisk.get(subject);
    if (!m || m.bytes === null || snapshot === null) return null;
    if (m.snapshot !== snapshot || now - m.measuredAt > AT_RISK_FRESH_MS) return null;
    return m.bytes;
  }

  /** One object, by subject (null when there is none). */
  async get(subject: string): Promise<ProtectedObject | null> {
    return (await this.objects()).find((o) => o.subject === subject) ?? null;
  }

  #scopeLabel(scope: string, byId: Map<number, SiteInfo>): string {
    if (scope === 'default') return 'installation default';
    const site = /^site:(\d+)$/.exec(scope);
    if (site) return `site ${byId.get(Number(site[1]))?.name ?? `#${site[1]}`}`;
    const pool = /^pool:([\d-]+)\/([^/]+)(?:\/(.+))?$/.exec(scope);
    if (pool) {
      const names = pool[1]!.split('-').map((id) => byId.get(Number(id))?.name ?? `#${id}`);
      return `${pool[3] ? `namespace ${pool[2]}/${pool[3]}` : `pool ${pool[2]}`} (${names.join(' ↔ ')})`;
    }
    return 'this object';
  }

  #stale(): ProtectionPage['stale'] {
    const out: ProtectionPage['stale'] = [];
    for (const s of this.db.select({ id: sites.id, name: sites.name, kind: sites.kind }).from(sites).all()) {
      if (s.kind !== 'ceph') continue;
      const last = this.ceph.lastStatus(s.id);
      if (!last)
        out.push({ site: { id: s.id, name: s.name }, reason: 'its mirroring status has not been read yet' });
      else if (!last.ok)
        out.push({ site: { id: s.id, name: s.name }, reason: `cannot be asked: ${last.error}` });
      else if (this.clock.now() - last.at > 5 * 60_000)
        out.push({
          site: { id: s.id, name: s.name },
          reason: `status from ${new Date(last.at).toISOString()}`,
        });
    }
    return out;
  }

  /** Recent successful syncs of the replicas whose last sync changed since they were read (one query). */
  /** The recovery point of each subject's newest collected sample with a window (for subjects not in memory). */
  #lastSampled(subjects: string[]): Map<string, number> {
    const out = new Map<string, number>();
    const known = new Set([...this.#lastCopied.keys()].map((k) => k.slice(0, k.lastIndexOf('@'))));
    const missing = subjects.filter((x) => !known.has(x));
    for (let i = 0; i < missing.length; i += 500) {
      const chunk = missing.slice(i, i + 500);
      const rows = this.db
        .select({
          subject: protectionSamples.subject,
          at: sql<number>`max(${protectionSamples.at})`,
          windowSec: protectionSamples.windowSec,
        })
        .from(protectionSamples)
        .where(
          and(
            inArray(protectionSamples.subject, chunk),
            eq(protectionSamples.resolution, 'raw'),
            isNotNull(protectionSamples.windowSec),
          ),
        )
        .groupBy(protectionSamples.subject)
        .all();
      for (const r of rows) if (r.windowSec !== null) out.set(r.subject, r.at - r.windowSec * 1000);
    }
    return out;
  }

  #recentSyncs(rows: ReplicaRow[]): void {
    const stale = rows.filter((r) => this.#syncs.get(r.id)?.lastSyncAt !== (r.lastSyncAt?.getTime() ?? null));
    for (const id of this.#syncs.keys()) if (!rows.some((r) => r.id === id)) this.#syncs.delete(id);
    if (!stale.length) return;
    for (let i = 0; i < stale.length; i += 500) {
      const chunk = stale.slice(i, i + 500);
      const subjects = chunk.map((r) => `replica:${r.id}`);
      const ranked = this.db
        .select({
          subject: syncRuns.subject,
          startedAt: syncRuns.startedAt,
          finishedAt: syncRuns.finishedAt,
          bytesPerSecond: syncRuns.bytesPerSecond,
          rn: sql<number>`row_number() over (partition by ${syncRuns.subject} order by ${syncRuns.startedAt} desc)`.as(
            'rn',
          ),
        })
        .from(syncRuns)
        .where(and(inArray(syncRuns.subject, subjects), sql`${syncRuns.outcome} = 'success'`))
        .as('ranked');
      const got = this.db
        .select()
        .from(ranked)
        .where(sql`${ranked.rn} <= ${RECENT_SYNCS}`)
        .all();
      const per = new Map<string, { at: number; seconds: number; bytesPerSecond: number | null }[]>();
      for (const g of got) {
        if (!g.finishedAt) continue;
        const list = per.get(g.subject) ?? [];
        list.push({
          at: g.startedAt.getTime(),
          seconds: (g.finishedAt.getTime() - g.startedAt.getTime()) / 1000,
          bytesPerSecond: g.bytesPerSecond,
        });
        per.set(g.subject, list);
      }
      for (const r of chunk)
        this.#syncs.set(r.id, {
          lastSyncAt: r.lastSyncAt?.getTime() ?? null,
          runs: (per.get(`replica:${r.id}`) ?? []).sort((a, b) => a.at - b.at),
        });
    }
  }

  #replicaObjects(
    now: number,
    byId: Map<number, SiteInfo>,
    targets: ReadonlyMap<string, number>,
    label: (s: string) => string,
  ): ProtectedObject[] {
    const rows = this.db.select().from(replicas).all();
    this.#recentSyncs(rows);
    const out: ProtectedObject[] = [];
    const replicated = new Set(rows.map((r) => `${r.sourceSiteId}/${r.vmName}`));
    for (const r of rows) {
      const subject = `replica:${r.id}`;
      const source = byId.get(r.sourceSiteId);
      const rpo = effectiveRpo(targets, rpoChain({ subject, sourceSiteId: r.sourceSiteId }), label);
      const seen = source?.lastSeenAt ?? null;
      const reachable = seen !== null && now - seen < SEEN_FRESH_MS;
      const w = dataLossWindow({
        lastSyncAt: r.lastSyncAt?.getTime() ?? null,
        masterReachable: reachable,
        masterLastSeenAt: seen,
        now,
      });
      const syncs = this.#syncs.get(r.id)?.runs ?? [];
      const latest = syncs.at(-1) ?? null;
      let reason: string | null = null;
      if (w.seconds === null)
        reason =
          r.state === 'new' || r.state === 'syncing'
            ? 'the first sync has not finished yet'
            : 'no sync has finished yet';
      else if (r.state === 'reinit-required')
        reason =
          'failed over: nothing is replicated until the old master is reinitialised as the new replica';
      else if (!r.enabled) reason = 'replication is paused';
      let health = protectionHealth(w.seconds, rpo.seconds);
      if (r.operation && (r.state === 'failing-over' || r.state === 'reinit-running')) {
        health = 'unknown';
        reason = `a ${r.operation.kind} is running (task #${r.operation.taskId})`;
      }
      const next = replicaNextRecovery({
        now,
        nextSyncAt: r.nextSyncAt?.getTime() ?? null,
        enabled: r.enabled && !r.conflict && r.state !== 'reinit-required',
        recentSyncs: syncs,
        sleepTimeSec: r.sleepTimeSec,
        rpoSec: rpo.seconds,
      });
      const predicted =
        health === 'ok'
          ? predictedBreach({
              now,
              recoveryPointAt: w.from,
              rpoSec: rpo.seconds,
              nextRecoveryAt: next.at ?? Number.POSITIVE_INFINITY,
              why: next.why,
            })
          : null;
      const conflict = r.conflict
        ? r.conflict.kind === 'master-moved'
          ? 'paused: the VM was failed over by another replica (re-point it)'
          : 'paused: the VM runs on two nodes'
        : null;
      out.push({
        subject,
        kind: 'vm-replica',
        name: r.name === r.vmName ? r.vmName : `${r.vmName} (${r.name})`,
        source: ref(source),
        target: ref(byId.get(r.targetSiteId)),
        rpoSec: rpo.seconds,
        rpoFrom: rpo.from,
        windowSec: w.seconds,
        recoveryPointAt: w.from,
        bytesAtRisk: this.#atRiskFor(subject, r.lastSnapshot, now),
        health,
        reason,
        predictedBreachAt: predicted?.at ?? null,
        predictedReason: predicted?.reason ?? null,
        state: r.enabled ? r.state : r.state === 'idle' ? 'paused' : r.state,
        lastError: conflict ?? r.lastError,
        failures: r.failureCount,
        syncSeconds: latest ? Math.round(latest.seconds) : null,
        bytesPerSecond: latest?.bytesPerSecond ?? null,
        href: replicaHref(r.sourceSiteId, r.vmName),
        failoverHref: `${replicaHref(r.sourceSiteId, r.vmName)}#replica-${r.id}`,
      });
    }
    // VMs with no replica, from each node's last inventory (asked again in the background when old).
    const nodes = [...byId.values()].filter((s) => s.kind === 'node');
    const oldest = Math.min(...nodes.map((s) => lastVms(this.sites, s.id)?.at ?? 0));
    if (nodes.length && now - oldest > CEPH_REFRESH_MS && now - this.#vmsAskedAt > CEPH_REFRESH_MS) {
      this.#vmsAskedAt = now;
      this.refreshVms?.();
    }
    for (const s of nodes) {
      for (const vm of lastVms(this.sites, s.id)?.vms ?? []) {
        if (replicated.has(`${s.id}/${vm.name}`)) continue;
        const subject = `vm:${s.id}/${vm.name}`;
        const rpo = effectiveRpo(targets, rpoChain({ subject, sourceSiteId: s.id }), label);
        out.push(
          unprotected({
            subject,
            kind: 'vm',
            name: vm.name,
            source: ref(s),
            rpo,
            reason: 'no replica',
            state: vm.state,
            href: replicaHref(s.id, vm.name),
          }),
        );
      }
    }
    return out;
  }

  #imageObjects(
    now: number,
    siteRows: SiteInfo[],
    targets: ReadonlyMap<string, number>,
    label: (s: string) => string,
  ): ProtectedObject[] {
    const clusters = siteRows.filter((s) => s.kind === 'ceph');
    const statuses = new Map<number, CephStatus>();
    for (const c of clusters) {
      const last = this.ceph.lastStatus(c.id);
      if (!last || now - last.at > CEPH_REFRESH_MS)
        void this.ceph.status(c.id, { waitMs: 0 }).catch(() => undefined);
      if (last?.ok) statuses.set(c.id, last.status);
    }
    // The clusters' own mirror site names (what their peers call them) → their site ids.
    const bySiteName = new Map<string, number>();
    for (const [id, st] of statuses) for (const p of st.pools) if (p.siteName) bySiteName.set(p.siteName, id);
    const byId = new Map(clusters.map((c) => [c.id, c]));

    interface Side {
      siteId: number;
      img: StatusImage;
      peerId: number | null;
      peerName: string | null;
    }
    const merged = new Map<
      string,
      {
        pair: string;
        pool: string;
        ns: string;
        name: string;
        primary: Side[];
        secondary: Side[];
        other: Side[];
      }
    >();
    const out: ProtectedObject[] = [];
    for (const [siteId, st] of statuses) {
      const site = byId.get(siteId)!;
      for (const p of st.pools) {
        const poolMode = st.pools.find((q) => q.pool === p.pool && q.namespace === '')?.mode ?? p.mode;
        if (p.mode === 'disabled' && poolMode === 'disabled') continue;
        const peers = (st.pools.find((q) => q.pool === p.pool && q.namespace === '') ?? p).peers;
        const peerName = peers[0]?.siteName ?? null;
        const peerId = peerName ? (bySiteName.get(peerName) ?? null) : null;
        for (const img of p.images) {
          const m = img.mirroring;
          const name = p.namespace ? `${p.pool}/${p.namespace}/${img.name}` : `${p.pool}/${img.name}`;
          if (!m || img.group === 'idle') {
            const subject = `rbd:${siteId}/${p.pool}/${p.namespace}/${img.name}`;
            const rpo = effectiveRpo(
              targets,
              rpoChain({
                subject,
                sourceSiteId: siteId,
                pair: String(siteId),
                pool: p.pool,
                namespace: p.namespace,
              }),
              label,
            );
            out.push({
              ...unprotected({
                subject,
                kind: 'rbd-image',
                name,
                source: ref(site),
                rpo,
                reason: m ? img.reason : 'mirroring is disabled for this image',
                state: m ? 'not replicating' : 'mirroring disabled',
                href: cephHref(siteId, p.pool, p.namespace),
              }),
              pool: p.pool,
              namespace: p.namespace,
            });
            continue;
          }
          const pair = pairKey(siteId, peerId);
          const key = `${pair}/${p.pool}/${p.namespace}/${img.name}`;
          let e = merged.get(key);
          if (!e)
            merged.set(
              key,
              (e = {
                pair,
                pool: p.pool,
                ns: p.namespace,
                name: img.name,
                primary: [],
                secondary: [],
                other: [],
              }),
            );
          const side = { siteId, img, peerId, peerName };
          (m.primary === true ? e.primary : m.primary === false ? e.secondary : e.other).push(side);
        }
      }
    }
    // After a restart, the last copy seen is the newest collected sample's recovery point (one query, only for images that report none).
    const unreported = [...merged.values()]
      .filter(
        (e) =>
          ![...e.secondary, ...e.primary].some(
            (x) =>
              (x.img.mirroring?.primary
                ? x.img.mirroring.peerSites[0]?.description
                : x.img.mirroring?.description
              )?.localSnapshotTimestamp,
          ),
      )
      .map((e) => `rbd:${e.pair}/${e.pool}/${e.ns}/${e.name}`);
    const lastSampled = this.#lastSampled(unreported);
    const copyingNow = new Set<string>();
    for (const e of merged.values()) {
      const subject = `rbd:${e.pair}/${e.pool}/${e.ns}/${e.name}`;
      const prim = e.primary[0] ?? null;
      const sec = e.secondary[0] ?? null;
      const any = prim ?? sec ?? e.other[0]!;
      const sourceId = prim?.siteId ?? sec?.peerId ?? null;
      const targetId = prim ? (prim.peerId ?? null) : (sec?.siteId ?? null);
      const targetName = prim && prim.peerId === null ? prim.peerName : null;
      const source =
        sourceId !== null ? ref(byId.get(sourceId)) : sec?.peerName ? { id: 0, name: sec.peerName } : null;
      const target =
        targetId !== null ? ref(byId.get(targetId)) : targetName ? { id: 0, name: targetName } : null;
      const rpo = effectiveRpo(
        targets,
        rpoChain({ subject, sourceSiteId: sourceId, pair: e.pair, pool: e.pool, namespace: e.ns }),
        label,
      );
      const m = any.img.mirroring!;
      // The measure of the copy: the non-primary side's own status, else the primary's view of its peer.
      const d = sec?.img.mirroring?.description ?? prim?.img.mirroring?.peerSites[0]?.description ?? null;
      const mode = sec?.img.mirroring?.mode ?? prim?.img.mirroring?.mode ?? m.mode;
      // A stopped or restarting rbd-mirror reports no copied snapshot (`down+stopped`), yet nothing
      // has been copied since the last one seen: the window runs on from it.
      const seenKey = `${subject}@${sourceId ?? '?'}`;
      const reported = d?.localSnapshotTimestamp ? d.localSnapshotTimestamp * 1000 : null;
      if (reported !== null) this.#lastCopied.set(seenKey, reported);
      const remembered =
        reported === null && mode !== 'journal'
          ? (this.#lastCopied.get(seenKey) ?? lastSampled.get(subject) ?? null)
          : null;
      const w = imageLossWindow({
        now,
        lastSyncedAt: reported ?? remembered,
        mode,
        entriesBehind: d?.entriesBehindPrimary,
        entriesPerSecond: d?.entriesPerSecond,
      });
      let health: ProtectionHealth = protectionHealth(w.seconds, rpo.seconds);
      let reason = w.reason;
      if (remembered !== null)
        reason = `${target?.name ?? 'the other cluster'} reports no copied snapshot now (${(sec ?? prim ?? any).img.mirroring!.rawState}): measured from the last copy seen, at ${new Date(remembered).toISOString()}`;
      const splitBrain =
        e.primary.length > 1 || e.primary.some((s) => s.img.splitBrainWith) || !!d?.splitBrain;
      if (splitBrain) {
        health = 'unknown';
        reason = 'split-brain: the image is primary on both clusters; resolve it with a failback';
      } else if (!prim && !sec) {
        health = 'unknown';
        reason = 'the image is primary on no cluster that answered';
      }
      const issue = [prim, sec].find((s) => s?.img.group === 'issues');
      // Snapshot mode: the next recovery point is the next scheduled mirror snapshot, copied.
      let predicted: { at: number; reason: string } | null = null;
      const copying = copyProgress(
        this.#copying.get(seenKey),
        d?.replayState === 'syncing' ? d.syncPercent : null,
        now,
      );
      if (copying) {
        this.#copying.set(seenKey, copying);
        copyingNow.add(seenKey);
      }
      const stuck = mode !== 'journal' ? stuckCopyReason(copying, now) : null;
      if (health === 'ok' && stuck) {
        predicted = predictedBreach({
          now,
          recoveryPointAt: w.from,
          rpoSec: rpo.seconds,
          nextRecoveryAt: Number.POSITIVE_INFINITY,
          why: stuck,
        });
      } else if (health === 'ok' && mode !== 'journal' && prim) {
        const next = cephTime(prim.img.nextSnapshotAt);
        const copySec = d?.lastSnapshotSyncSeconds ?? 0;
        predicted = predictedBreach({
          now,
          recoveryPointAt: w.from,
          rpoSec: rpo.seconds,
          nextRecoveryAt: next === null ? Number.POSITIVE_INFINITY : next + copySec * 1000,
          why:
            next === null
              ? 'no mirror-snapshot schedule applies to this image: no new recovery point is planned'
              : `the next scheduled mirror snapshot (${prim.img.nextSnapshotAt}) plus its copy (${Math.round(copySec)} s) comes after the RPO is reached`,
        });
      }
      out.push({
        subject,
        kind: 'rbd-image',
        name: e.ns ? `${e.pool}/${e.ns}/${e.name}` : `${e.pool}/${e.name}`,
        source,
        target,
        pool: e.pool,
        namespace: e.ns,
        mode,
        rpoSec: rpo.seconds,
        rpoFrom: rpo.from,
        windowSec: splitBrain ? null : w.seconds,
        recoveryPointAt: splitBrain ? null : w.from,
        bytesAtRisk: null,
        health,
        reason,
        predictedBreachAt: predicted?.at ?? null,
        predictedReason: predicted?.reason ?? null,
        state: (sec ?? prim ?? any).img.mirroring!.rawState,
        lastError: issue ? issue.img.reason : null,
        failures: 0,
        syncSeconds: d?.lastSnapshotSyncSeconds ?? null,
        bytesPerSecond: d?.bytesPerSecond ?? null,
        href: cephHref(sourceId ?? any.siteId, e.pool, e.ns),
        failoverHref: targetId !== null ? cephHref(targetId, e.pool, e.ns, 'failover') : null,
      });
    }
    for (const k of this.#copying.keys()) if (!copyingNow.has(k)) this.#copying.delete(k);
    return out;
  }
}

function unprotected(o: {
  subject: string;
  kind: ProtectedObject['kind'];
  name: string;
  source: SiteRef | null;
  rpo: { seconds: number; from: ProtectedObject['rpoFrom'] };
  reason: string;
  state: string;
  href: string;
}): ProtectedObject {
  return {
    subject: o.subject,
    kind: o.kind,
    name: o.name,
    source: o.source,
    target: null,
    rpoSec: o.rpo.seconds,
    rpoFrom: o.rpo.from,
    windowSec: null,
    recoveryPointAt: null,
    bytesAtRisk: null,
    health: 'unprotected',
    reason: o.reason,
    predictedBreachAt: null,
    predictedReason: null,
    state: o.state,
    lastError: null,
    failures: 0,
    syncSeconds: null,
    bytesPerSecond: null,
    href: o.href,
    failoverHref: null,
  };
}
