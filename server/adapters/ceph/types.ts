/**
 * What Tandem needs from a Ceph cluster for RBD mirroring. Implemented over the `rbd`/`ceph`
 * CLIs (`--format json`) and by the demo simulation.
 *
 * Names: every pool, namespace, image and site name must match NAME_PATTERNS.ceph; the default
 * namespace is the empty string. Images are addressed as (pool, namespace, image).
 */
export interface CephProbe {
  fsid: string;
  health: 'HEALTH_OK' | 'HEALTH_WARN' | 'HEALTH_ERR' | string;
  version: string;
}

export type MirrorMode = 'disabled' | 'image' | 'pool';
export type ImageMirrorMode = 'journal' | 'snapshot';
export type PeerDirection = 'rx-only' | 'rx-tx' | 'tx-only';
/** What `bootstrap import` accepts. */
export type BootstrapDirection = 'rx-only' | 'rx-tx';

export interface MirrorPeer {
  uuid: string;
  siteName: string;
  direction: PeerDirection | string;
  clientName: string;
  /** The peer cluster's mirror uuid (empty until its rbd-mirror daemon registered). */
  mirrorUuid?: string;
  /** Monitor addresses of the peer, when the cluster stores them (peers made by bootstrap). */
  monHost?: string;
}

export interface PoolMirrorSummary extends PoolStatusSummary {
  pool: string;
  namespace: string;
  mode: MirrorMode;
  siteName: string;
  peers: MirrorPeer[];
}

// ------------------------------------------------------------------ pools

export interface RbdPool {
  name: string;
  id: number;
  /** Namespaces other than the default one. */
  namespaces: string[];
}

export interface PoolMirrorInfo {
  pool: string;
  namespace: string;
  mode: MirrorMode;
  /** This cluster's site name; null when mirroring is disabled (Ceph does not report it then). */
  siteName: string | null;
  /** Peers are per pool; a namespace reports its pool's peers. */
  peers: MirrorPeer[];
}

export interface PoolStatusSummary {
  health: 'OK' | 'WARNING' | 'ERROR' | 'UNKNOWN' | string;
  daemonHealth: string;
  imageHealth: string;
  /** Counts by state, e.g. { replaying: 3, stopped: 1 }. */
  states: Record<string, number>;
}

export interface PoolMirrorStatus {
  pool: string;
  namespace: string;
  summary: PoolStatusSummary;
}

export interface PoolMirrorStatusVerbose extends PoolMirrorStatus {
  daemons: MirrorDaemonInstance[];
  images: ImageMirrorStatus[];
}

// ------------------------------------------------------------------ image status

/** `up+replaying` → { daemonUp: true, state: 'replaying' }. */
export type ImageMirrorState =
  'unknown' | 'error' | 'syncing' | 'starting_replay' | 'replaying' | 'stopping_replay' | 'stopped' | string;

/** What the `description` of an image status says, parsed. */
export interface MirrorDescription {
  /** Text before the first comma, e.g. `replaying`, `local image is primary`, `split-brain`. */
  phase: string;
  /** The JSON object after `replaying, ` (snapshot or journal replay details), when present. */
  details: Record<string, unknown> | null;
  /** Snapshot mode: `idle` or `syncing`. */
  replayState: string | null;
  /** Percent of the current sync (snapshot mode `syncing_percent`, or `… 45%` in the text). */
  syncPercent: number | null;
  bytesPerSecond: number | null;
  bytesPerSnapshot: number | null;
  lastSnapshotBytes: number | null;
  lastSnapshotSyncSeconds: number | null;
  /** Unix seconds of the newest snapshot copied here (non-primary side). */
  localSnapshotTimestamp: number | null;
  /** Unix seconds of the newest snapshot on the primary. */
  remoteSnapshotTimestamp: number | null;
  /** Unix seconds of the snapshot being synced. */
  syncingSnapshotTimestamp: number | null;
  /** Journal mode. */
  entriesBehindPrimary: number | null;
  entriesPerSecond: number | null;
  /** The status says this side is the primary (`local image is primary`). */
  localPrimary: boolean;
  splitBrain: boolean;
}

/** What `rbd mirror image status` says of one side of an image's mirroring. */
export interface MirrorSideStatus {
  rawState: string;
  daemonUp: boolean;
  state: ImageMirrorState;
  description: MirrorDescription;
  rawDescription: string;
  lastUpdate: string | null;
}

export interface PeerSiteStatus extends MirrorSideStatus {
  siteName: string;
  mirrorUuids: string;
}

/** A mirror snapshot as `mirror image status` lists it (primary side). */
export interface StatusSnapshot {
  id: string;
  name: string;
  demoted: boolean;
  mirrorPeerUuids: string[];
}

export interface ImageMirrorStatus {
  pool: string;
  namespace: string;
  name: string;
  globalId: string;
  /** As printed, e.g. `up+replaying`. */
  rawState: string;
  daemonUp: boolean;
  state: ImageMirrorState;
  rawDescription: string;
  description: MirrorDescription;
  /** `YYYY-MM-DD HH:MM:SS` as Ceph prints it, or null when never updated. */
  lastUpdate: string | null;
  daemon: { serviceId: string; instanceId: string; daemonId: string; hostname: string } | null;
  peerSites: PeerSiteStatus[];
  /** Snapshot mode, primary side (only `mirror image status` lists them). */
  snapshots: StatusSnapshot[];
}

// ------------------------------------------------------------------ images

export interface ImageMirroringInfo {
  mode: ImageMirrorMode | null;
  state: 'enabled' | 'disabled' | 'disabling' | string;
  globalId: string | null;
  primary: boolean | null;
}

export interface ImageInfo {
  pool: string;
  namespace: string;
  name: string;
  id: string;
  sizeBytes: number;
  objectSizeBytes: number;
  features: string[];
  /** Includes `non-primary` on the secondary side. */
  opFeatures: string[];
  snapshotCount: number;
  createdAt: string | null;
  mirroring: ImageMirroringInfo;
}

/** One row of an image list: built from `rbd ls -l` and `rbd mirror pool status --verbose`. */
export interface ImageSummary {
  pool: string;
  namespace: string;
  name: string;
  /** Null when the image is listed by mirroring but not (or no longer) in the pool, e.g. during a resync. */
  id: string | null;
  sizeBytes: number | null;
  mirroring:
    | (MirrorSideStatus & {
        globalId: string;
        /** True when this side is primary, false when not (from the status, else from `rbd info`), null when unknown. */
        primary: boolean | null;
        /** Inferred from the replay details (journal vs snapshot fields); null when they do not say. */
        mode: ImageMirrorMode | null;
        peerSites: PeerSiteStatus[];
      })
    | null;
}

export type MirrorSnapshotState = 'primary' | 'non-primary' | 'demoted' | string;

export interface ImageSnapshot {
  /** Exact decimal id (64-bit values do not fit a JS number). */
  id: string;
  name: string;
  sizeBytes: number;
  protected: boolean;
  timestamp: string | null;
  /** `user`, `mirror`, `trash`, `group`. */
  namespaceType: string;
  mirror: {
    state: MirrorSnapshotState;
    /** `.mirror.primary.*` vs `.mirror.non_primary.*` (the state `demoted` exists on both sides). */
    primary: boolean;
    demoted: boolean;
    complete: boolean;
    mirrorPeerUuids: string[];
    /** Non-primary copies: the primary's mirror uuid and snapshot id (exact string). */
    primaryMirrorUuid: string | null;
    primarySnapId: string | null;
    lastCopiedObjectNumber: number | null;
  } | null;
}

// ------------------------------------------------------------------ schedules

/** Where a schedule lives: nothing = global; pool; pool + namespace; pool + namespace + image. */
export interface ScheduleLevel {
  pool?: string;
  namespace?: string;
  image?: string;
}

export interface SnapshotScheduleItem {
  interval: string;
  /** Time of day as Ceph shows it (`HH:MM:SS[+HH:MM]`), or null. */
  startTime: string | null;
}

export interface SnapshotScheduleEntry {
  level: 'global' | 'pool' | 'namespace' | 'image';
  pool: string | null;
  namespace: string | null;
  image: string | null;
  items: SnapshotScheduleItem[];
}

export interface SnapshotScheduleStatus {
  /** `pool/[ns/]image` as Ceph prints it. */
  imageSpec: string;
  pool: string;
  namespace: string;
  image: string;
  /** `YYYY-MM-DD HH:MM:00` in the mgr's local time, as printed. */
  scheduleTime: string;
}

// ------------------------------------------------------------------ daemons

/** A daemon as one pool's `rbd mirror pool status --verbose` reports it. */
export interface MirrorDaemonInstance {
  serviceId: string;
  instanceId: string;
  clientId: string;
  hostname: string;
  version: string;
  leader: boolean;
  health: 'OK' | 'WARNING' | 'ERROR' | string;
}

export interface MirrorCallout {
  pool: string;
  level: 'info' | 'warning' | 'error' | string;
  text: string;
}

/** An rbd-mirror daemon of the cluster, merged from the service map and the pools' status. */
export interface MirrorDaemon {
  serviceId: string;
  /** The daemon's auth id, e.g. `lab` for client.rbd-mirror.lab. */
  daemonId: string;
  hostname: string | null;
  version: string | null;
  /** Pools it serves (by name) with its role there. */
  pools: { pool: string; leader: boolean; instanceId: string | null; imageCounts: Record<string, number> }[];
  leader: boolean;
  /** Worst of the callouts and the pools' daemon health. */
  health: 'OK' | 'WARNING' | 'ERROR' | 'UNKNOWN' | string;
  callouts: MirrorCallout[];
  lastBeacon: string | null;
}

// ------------------------------------------------------------------ refresh

export interface PoolMirrorState {
  pool: string;
  namespace: string;
  mode: MirrorMode;
  siteName: string | null;
  peers: MirrorPeer[];
  /** Null when mirroring is disabled. */
  summary: PoolStatusSummary | null;
  images: ImageSummary[];
}

export interface CephMirrorSnapshot {
  fetchedAt: string;
  pools: PoolMirrorState[];
  daemons: MirrorDaemon[];
  /** CLI invocations this refresh took. */
  cliCalls: number;
}

// ------------------------------------------------------------------ results

/** What createTestCopy made. */
export interface TestCopyResult {
  /**
   * Always a full copy: Ceph 16.2 cannot clone a mirror snapshot (`rbd clone` looks snapshots up
   * by name among user snapshots only and has no `--snap-id`), so the copy is an import of the
   * snapshot's data (see CephCliAdapter.createTestCopy).
   */
  method: 'copy';
  /** The mirror snapshot the content comes from (exact id, as given). */
  snapshotId: string;
  sizeBytes: number;
  /** Features the copy was created with (the source's, without journaling or mirroring ones). */
  features: string[];
}

export interface CephAdapter {
  readonly kind: 'ceph';
  /** CLI invocations made so far (the demo counts simulated ones). */
  readonly cliCalls: number;

  probe(signal?: AbortSignal): Promise<CephProbe>;
  /** Pools with the rbd application, with their mirroring summary. */
  listMirrorPools(): Promise<PoolMirrorSummary[]>;

  // pools
  listRbdPools(): Promise<RbdPool[]>;
  getPoolMirrorInfo(pool: string, namespace?: string): Promise<PoolMirrorInfo>;
  getPoolMirrorStatus(pool: string, namespace?: string): Promise<PoolMirrorStatus>;
  getPoolMirrorStatusVerbose(pool: string, namespace?: string): Promise<PoolMirrorStatusVerbose>;
  /** Disabling while peers exist or images are enabled fails with PRECONDITION_FAILED. */
  setPoolMirrorMode(
    pool: string,
    namespace: string,
    mode: MirrorMode,
    opts?: { siteName?: string },
  ): Promise<void>;

  // site name (cluster-wide in Ceph; read and written through a pool)
  getSiteName(pool: string): Promise<string | null>;
  /**
   * Stores the site name by enabling `pool` again in its `mode` (the pool's mirroring mode now:
   * Ceph has no command of its own for the site name).
   */
  setSiteName(pool: string, mode: Exclude<MirrorMode, 'disabled'>, siteName: string): Promise<void>;

  // bootstrap and peers (per pool)
  /** Returns the token: a secret (it holds a cephx key); never log it. */
  createBootstrapToken(pool: string, opts?: { siteName?: string }): Promise<string>;
  importBootstrapToken(
    pool: string,
    token: string,
    opts: { direction: BootstrapDirection; siteName?: string },
  ): Promise<void>;
  setPeerClient(pool: string, peerUuid: string, clientName: string): Promise<void>;
  setPeerMonHost(pool: string, peerUuid: string, monHost: string): Promise<void>;
  setPeerSiteName(pool: string, peerUuid: string, siteName: string): Promise<void>;
  setPeerDirection(pool: string, peerUuid: string, direction: PeerDirection): Promise<void>;
  removePeer(pool: string, peerUuid: string): Promise<void>;

  // journaling
  enableJournaling(pool: string, namespace: string, image: string): Promise<void>;
  disableJournaling(pool: string, namespace: string, image: string): Promise<void>;

  // snapshot schedules
  /** Schedules at `level` and below. */
  listSnapshotSchedules(level?: ScheduleLevel): Promise<SnapshotScheduleEntry[]>;
  addSnapshotSchedule(level: ScheduleLevel, interval: string, startTime?: string): Promise<void>;
  /** Without interval: every schedule at that level. */
  removeSnapshotSchedule(level: ScheduleLevel, interval?: string, startTime?: string): Promise<void>;
  getSnapshotScheduleStatus(level?: ScheduleLevel): Promise<SnapshotScheduleStatus[]>;

  // images
  /** O(1) CLI calls per pool/namespace. */
  listImages(pool: string, namespace?: string): Promise<ImageSummary[]>;
  getImageInfo(pool: string, namespace: string, image: string): Promise<ImageInfo>;
  getImageMirrorStatus(pool: string, namespace: string, image: string): Promise<ImageMirrorStatus>;
  enableImageMirroring(pool: string, namespace: string, image: string, mode: ImageMirrorMode): Promise<void>;
  disableImageMirroring(
    pool: string,
    namespace: string,
    image: string,
    opts?: { force?: boolean },
  ): Promise<void>;
  promoteImage(pool: string, namespace: string, image: string, opts?: { force?: boolean }): Promise<void>;
  demoteImage(pool: string, namespace: string, image: string): Promise<void>;
  resyncImage(pool: string, namespace: string, image: string): Promise<void>;
  /** Returns the new snapshot's id (exact string). */
  createMirrorSnapshot(pool: string, namespace: string, image: string): Promise<{ snapshotId: string }>;
  /** All snapshot namespaces (user, mirror, trash…). */
  listImageSnapshots(pool: string, namespace: string, image: string): Promise<ImageSnapshot[]>;
  removeImage(pool: string, namespace: string, name: string): Promise<void>;
  /**
   * A full, independent copy of `image` (content and user snapshots, `rbd deep cp`) as `dest` in
   * the same pool/namespace, created with `features` (the source's when omitted). Readable from a
   * non-primary image; the copy is an ordinary image, not mirrored unless the pool mirrors it.
   */
  copyImage(
    pool: string,
    namespace: string,
    image: string,
    dest: string,
    opts?: { features?: string[] },
  ): Promise<void>;
  renameImage(pool: string, namespace: string, image: string, dest: string): Promise<void>;
  /**
   * A writable copy of `image` as it was at its mirror snapshot `snapshotId` (the id
   * listImageSnapshots reports: a complete non-primary copy, or a primary mirror snapshot),
   * created as `dest` in the same pool/namespace, for a test failover. Works on the non-primary
   * side while replication keeps running: the copy is an independent image (no parent, nothing
   * on the source refers to it, so rbd-mirror copies and prunes mirror snapshots as before), has
   * no journaling feature (a pool-mode pool does not mirror it) and no mirroring enabled. User
   * snapshots the image had at that point come along. ALREADY_EXISTS when `dest` exists;
   * PRECONDITION_FAILED when the snapshot is not a usable mirror snapshot; CONFLICT (retryable)
   * when rbd-mirror pruned it before or during the copy (nothing is left behind): take the
   * newest one and try again.
   */
  createTestCopy(
    pool: string,
    namespace: string,
    image: string,
    snapshotId: string,
    dest: string,
  ): Promise<TestCopyResult>;
  /**
   * Removes a copy made by createTestCopy, also one cut off half-way: its snapshots, then the
   * image. Refuses (PRECONDITION_FAILED) an image with mirroring enabled, which no test copy
   * has; CONFLICT while something (a test VM) still has it open. Missing is not an error.
   */
  removeTestCopy(pool: string, namespace: string, dest: string): Promise<void>;

  // daemons and whole-cluster refresh
  listMirrorDaemons(): Promise<MirrorDaemon[]>;
  /** Pools (all rbd pools when omitted) with namespaces, images and daemons in O(pools + namespaces) calls. */
  refreshStatus(pools?: string[]): Promise<CephMirrorSnapshot>;
}
