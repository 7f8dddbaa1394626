/**
 * What the Protection overview, the collector, the alerts and the metrics share: one row per
 * protected (or unprotected) object, computed from stored state (replica rows, the Ceph
 * clusters' last mirroring status) without asking any machine.
 */

/** `vm-replica`: a VM replica; `rbd-image`: a mirrored (or, unprotected, not mirrored) RBD image; `vm`: a VM with no replica (unprotected). */
export type ProtectedKind = 'vm-replica' | 'rbd-image' | 'vm';

/**
 * `ok`: data-loss window ≤ RPO; `warning`: > RPO; `breach`: > 2 × RPO; `unknown`: no measure
 * (`unknownReason` says why); `unprotected`: nothing replicates it.
 */
export type ProtectionHealth = 'ok' | 'warning' | 'breach' | 'unknown' | 'unprotected';

export const HEALTHS: readonly ProtectionHealth[] = ['breach', 'warning', 'unknown', 'ok', 'unprotected'];

export interface SiteRef {
  id: number;
  name: string;
}

/** Where an effective RPO comes from: the scope key (`default`, `site:3`, `pool:3-4/rbd`, `replica:7`, …) and its label. */
export interface RpoSource {
  scope: string;
  label: string;
}

export interface ProtectedObject {
  /**
   * Stable key: `replica:<id>`, `rbd:<pair>/<pool>/<ns>/<image>` (`<pair>`: the registered clusters'
   * site ids, ascending, joined by `-`; stays the same across failovers), `vm:<siteId>/<vm>`.
   */
  subject: string;
  kind: ProtectedKind;
  /** The VM's name, or `pool/image` / `pool/ns/image`. */
  name: string;
  /** Where the data is written now (master node, primary cluster). */
  source: SiteRef | null;
  /** Where it is copied to (replica node, secondary cluster); null when unprotected or not known. */
  target: SiteRef | null;
  /** For images: pool and namespace ('' for the default one). */
  pool?: string;
  namespace?: string;
  /** Snapshot or journal (images). */
  mode?: 'snapshot' | 'journal' | null;
  rpoSec: number;
  rpoFrom: RpoSource;
  /** The current data-loss window (the same figure the failover wizard quotes), or null when unknown. */
  windowSec: number | null;
  /** The recovery point the window starts at (epoch ms). */
  recoveryPointAt: number | null;
  /** Bytes written since the recovery point, where known. */
  bytesAtRisk: number | null;
  health: ProtectionHealth;
  /** Why the health is `unknown` (or `unprotected`). */
  reason: string | null;
  /** When the window will cross the RPO if the trend goes on (epoch ms), and why it is predicted. */
  predictedBreachAt: number | null;
  predictedReason: string | null;
  /** Replica state (`idle`, `paused`, …) or image state (`replaying`, `syncing`, …). */
  state: string;
  lastError: string | null;
  /** Consecutive failed syncs (replicas). */
  failures: number;
  /** Latest sync duration and throughput, where known. */
  syncSeconds: number | null;
  bytesPerSecond: number | null;
  /** The console page of the object, and its failover wizard (null where none applies). */
  href: string;
  failoverHref: string | null;
}

export type ProtectionSort = 'health' | 'name' | 'kind' | 'window' | 'rpo' | 'source';

export interface ProtectionQuery {
  siteId?: number;
  kind?: ProtectedKind;
  health?: ProtectionHealth;
  /** Case-insensitive substring of the name or a site name. */
  q?: string;
  sort?: ProtectionSort;
  dir?: 'asc' | 'desc';
  offset?: number;
  limit?: number;
}

export interface ProtectionPage {
  rows: ProtectedObject[];
  /** Rows matching the filter (before paging). */
  total: number;
  /** Objects per health over everything (not only the filter). */
  counts: Record<ProtectionHealth, number>;
  /** Sites whose state is older than a refresh or unknown, with why (the rows shown may be stale). */
  stale: { site: SiteRef; reason: string }[];
  /** When the state shown was computed (epoch ms). */
  at: number;
}

/**
 * What a failover now would lose in bytes: what the source has written since the recovery point,
 * measured on demand (it asks a machine), or why it is not known.
 */
export interface BytesAtRisk {
  subject: string;
  bytes: number | null;
  /** Upper bound of an estimate (equal to `bytes` when exact). */
  maxBytes: number | null;
  exact: boolean;
  /** The recovery point measured from (snapshot name), where there is one. */
  snapshot: string | null;
  measuredAt: number;
  /** How it was measured, or why it cannot be. */
  note: string;
}
