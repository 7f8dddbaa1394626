import { sql } from 'drizzle-orm';
import { index, integer, sqliteTable, text, uniqueIndex } from 'drizzle-orm/sqlite-core';

/** Every state a task row can be in (the task engine moves it between them). */
export const TASK_STATES = [
  'waiting',
  'running',
  'question',
  'finished',
  'failed',
  'cancelled',
  'interrupted',
  'rolled-back',
] as const;

const createdAt = () =>
  integer('created_at', { mode: 'timestamp_ms' })
    .notNull()
    .default(sql`(unixepoch('subsec') * 1000)`);

export const users = sqliteTable(
  'users',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    username: text('username').notNull(),
    passwordHash: text('password_hash').notNull(),
    role: text('role', { enum: ['viewer', 'operator', 'admin'] }).notNull(),
    disabled: integer('disabled', { mode: 'boolean' }).notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('users_username_uq').on(t.username)],
);

export const sessions = sqliteTable(
  'sessions',
  {
    /** sha256 of the cookie token; the token itself is never stored. */
    id: text('id').primaryKey(),
    userId: integer('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    createdAt: createdAt(),
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }).notNull(),
  },
  (t) => [index('sessions_user_idx').on(t.userId)],
);

/** Encrypted secrets (private keys, keyrings). AES-256-GCM; see server/domain/secrets.ts. */
export const secrets = sqliteTable('secrets', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  ciphertext: text('ciphertext').notNull(),
  createdAt: createdAt(),
});

export const sites = sqliteTable(
  'sites',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    kind: text('kind', { enum: ['node', 'ceph'] }).notNull(),
    demo: integer('demo', { mode: 'boolean' }).notNull().default(false),
    /** Non-secret connection settings, validated by the domain's zod schemas. */
    config: text('config', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
    secretId: integer('secret_id').references(() => secrets.id, { onDelete: 'set null' }),
    /** When the site last answered a call (epoch ms): the end of the data-loss window once it is lost. */
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
  },
  (t) => [uniqueIndex('sites_name_uq').on(t.name)],
);

export const tasks = sqliteTable(
  'tasks',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    kind: text('kind').notNull(),
    /** Resource key the task locks, e.g. `replica:7`, `site/1/vm/web01` or `site/3/pool/rbd`. */
    target: text('target').notNull(),
    state: text('state', { enum: TASK_STATES }).notNull(),
    params: text('params', { mode: 'json' }).$type<Record<string, unknown>>(),
    /** Every resource the task locks (its target first); taken again when it is resumed. */
    locks: text('locks', { mode: 'json' }).$type<string[]>(),
    progressTotal: integer('progress_total').notNull().default(0),
    progressComplete: integer('progress_complete').notNull().default(0),
    result: text('result', { mode: 'json' }).$type<unknown>(),
    error: text('error'),
    question: text('question', { mode: 'json' }).$type<unknown>(),
    lastCompletedStep: text('last_completed_step'),
    cancelRequested: integer('cancel_requested', { mode: 'boolean' }).notNull().default(false),
    /** How many times the task was run: 1, then +1 for each resume. */
    attempts: integer('attempts').notNull().default(1),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
  },
  // tasks_kind_state_idx covers the metrics' count per kind and state (no table read).
  (t) => [
    index('tasks_state_idx').on(t.state),
    index('tasks_target_idx').on(t.target),
    index('tasks_kind_state_idx').on(t.kind, t.state),
  ],
);

export const taskSteps = sqliteTable(
  'task_steps',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    idx: integer('idx').notNull(),
    name: text('name').notNull(),
    state: text('state', {
      enum: ['pending', 'running', 'done', 'failed', 'skipped', 'cancelled'],
    }).notNull(),
    detail: text('detail'),
    /** What a done step returned (JSON), so that a resumed task skips it and still has its result. */
    result: text('result', { mode: 'json' }).$type<unknown>(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
  },
  (t) => [uniqueIndex('task_steps_task_idx').on(t.taskId, t.idx)],
);

export const taskLogs = sqliteTable(
  'task_logs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    taskId: integer('task_id')
      .notNull()
      .references(() => tasks.id, { onDelete: 'cascade' }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    level: text('level', { enum: ['info', 'warn', 'error'] }).notNull(),
    message: text('message').notNull(),
  },
  (t) => [index('task_logs_task_idx').on(t.taskId)],
);

export const history = sqliteTable(
  'history',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    username: text('username').notNull(),
    action: text('action').notNull(),
    target: text('target').notNull(),
    params: text('params', { mode: 'json' }).$type<Record<string, unknown>>(),
    outcome: text('outcome', { enum: ['success', 'failure', 'cancelled', 'started'] }).notNull(),
    error: text('error'),
    durationMs: integer('duration_ms'),
    taskId: integer('task_id'),
    /** How the call came in when not through the console: `api token "<name>"` for /api/v1. */
    via: text('via'),
  },
  (t) => [
    index('history_at_idx').on(t.at),
    index('history_target_idx').on(t.target),
    index('history_action_idx').on(t.action),
  ],
);

/** One row per replication run (VM replica sync or Ceph mirror snapshot). */
export const syncRuns = sqliteTable(
  'sync_runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** e.g. `replica:7` or `ceph-image:site-a/rbd/vol1`. */
    subject: text('subject').notNull(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
    bytes: integer('bytes'),
    bytesPerSecond: integer('bytes_per_second'),
    outcome: text('outcome', { enum: ['running', 'success', 'failure', 'cancelled'] }).notNull(),
    error: text('error'),
    snapshot: text('snapshot'),
  },
  (t) => [index('sync_runs_subject_idx').on(t.subject, t.startedAt)],
);

/** Small key/value settings (demo state, defaults an admin may change). */
export const settings = sqliteTable('settings', {
  key: text('key').primaryKey(),
  value: text('value', { mode: 'json' }).$type<unknown>(),
});

export type UserRow = typeof users.$inferSelect;
export type SiteRow = typeof sites.$inferSelect;
export type TaskRow = typeof tasks.$inferSelect;
export type TaskStepRow = typeof taskSteps.$inferSelect;
export type HistoryRow = typeof history.$inferSelect;

/**
 * A VM replica (Danube Cloud semantics): the VM `vmName` on the master node `sourceSiteId` is
 * replicated to `targetSiteId`. After a failover the two sites swap and `reinitRequired` is set
 * until the old master has been turned into the new replica.
 */
export const replicas = sqliteTable(
  'replicas',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    vmName: text('vm_name').notNull(),
    sourceSiteId: integer('source_site_id')
      .notNull()
      .references(() => sites.id),
    targetSiteId: integer('target_site_id')
      .notNull()
      .references(() => sites.id),
    rootZpool: text('root_zpool').notNull(),
    /** Disk device → zpool on the target, for disks that do not go to the root zpool. */
    diskZpools: text('disk_zpools', { mode: 'json' }).notNull().$type<Record<string, string>>(),
    /** Source dataset → target dataset, fixed at creation. */
    datasets: text('datasets', { mode: 'json' }).notNull().$type<ReplicaDataset[]>(),
    /**
     * The VM's definition and state as of the last sync, for a failover when the master is gone:
     * `text` without its secrets (console passwords), `sealed` the whole definition encrypted
     * (see server/domain/replicas/vm-definition.ts).
     */
    vmDefinition: text('vm_definition', { mode: 'json' }).$type<StoredVmDefinition | null>(),
    reserveResources: integer('reserve_resources', { mode: 'boolean' }).notNull(),
    vcpus: integer('vcpus').notNull(),
    memoryMiB: integer('memory_mib').notNull(),
    sleepTimeSec: integer('sleep_time_sec').notNull(),
    enabled: integer('enabled', { mode: 'boolean' }).notNull(),
    bandwidthLimit: integer('bandwidth_limit'),
    keepSnapshots: integer('keep_snapshots').notNull(),
    state: text('state', {
      enum: [
        'new',
        'idle',
        'syncing',
        'paused',
        'error',
        'failing-over',
        'reinit-required',
        'reinit-running',
      ],
    }).notNull(),
    lastSyncAt: integer('last_sync_at', { mode: 'timestamp_ms' }),
    lastSnapshot: text('last_snapshot'),
    lastSyncBytes: integer('last_sync_bytes'),
    nextSyncAt: integer('next_sync_at', { mode: 'timestamp_ms' }),
    failureCount: integer('failure_count').notNull().default(0),
    lastError: text('last_error'),
    /** The old master must be stopped when its node is reachable again (after a forced failover). */
    stopOldMasterPending: integer('stop_old_master_pending', { mode: 'boolean' }).notNull().default(false),
    /** The node on which the VM must be kept stopped (the old master), while stopOldMasterPending. */
    fenceSiteId: integer('fence_site_id'),
    /**
     * The failover or reinit in progress (written before its first side effect, cleared when it
     * ends or is rolled back). While set, no sync touches the replica.
     */
    operation: text('operation', { mode: 'json' }).$type<ReplicaOperation | null>(),
    /** Tandem paused the VM on its master for an atomic snapshot and has not resumed it yet. */
    pausedByTandem: integer('paused_by_tandem', { mode: 'boolean' }).notNull().default(false),
    /** Why syncing stopped for a reason outside the replica: the VM's master moved, or the VM runs on two nodes. */
    conflict: text('conflict', { mode: 'json' }).$type<ReplicaConflict | null>(),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
  },
  (t) => [
    uniqueIndex('replicas_vm_name_uq').on(t.sourceSiteId, t.vmName, t.name),
    index('replicas_target_idx').on(t.targetSiteId),
  ],
);

export type ReplicaRow = typeof replicas.$inferSelect;

export interface ReplicaOperation {
  kind: 'failover' | 'reinit' | 'resync' | 'repoint';
  taskId: number;
  mode?: 'planned' | 'forced';
  /** Epoch ms. */
  startedAt: number;
}

export type ReplicaConflict =
  /** Another replica of the VM was failed over: the VM's master is now `siteId`. */
  | { kind: 'master-moved'; siteId: number; byReplicaId: number; at: number }
  /** The VM is running on both nodes of this replica. */
  | { kind: 'dual-running'; siteIds: number[]; at: number };

/** A replica's stored VM definition (replicas.vm_definition). */
export interface StoredVmDefinition {
  format: 'libvirt-xml' | 'vmadm-json';
  name: string;
  /** The definition without its secrets (no `passwd` attributes): what may be shown. */
  text: string;
  /** The whole definition, secrets included, encrypted; absent or null when it has no secrets. */
  sealed?: string | null;
  state: string;
  disks: { device: string; path: string }[];
}

/** One replicated disk: its dataset on each side and the disk's path inside the dataset. */
export interface ReplicaDataset {
  device: string;
  source: string;
  target: string;
  kind: 'file' | 'zvol';
  /** For file disks: the image's path relative to the dataset's mountpoint (e.g. `disk.img`). */
  file: string | null;
}

/**
 * Recovery-point objectives. `scope` says what the target applies to, most general first:
 * `default` (the installation), `site:<id>`, `site:<id>/pool/<pool>`, `site:<id>/pool/<pool>/ns/<ns>`,
 * `replica:<id>`, `image:<siteId>/<pool>/<ns>/<image>` (see server/domain/protection/rpo.ts).
 */
export const rpoTargets = sqliteTable('rpo_targets', {
  scope: text('scope').primaryKey(),
  seconds: integer('seconds').notNull(),
  updatedBy: text('updated_by').notNull(),
  updatedAt: integer('updated_at', { mode: 'timestamp_ms' }).notNull(),
});

/**
 * What the collector measured per protected object (`subject`: `replica:<id>` or
 * `image:<siteId>/<pool>/<ns>/<image>`): raw samples, and 5-minute averages (`count` samples) kept longer.
 */
export const protectionSamples = sqliteTable(
  'protection_samples',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    subject: text('subject').notNull(),
    resolution: text('resolution', { enum: ['raw', '5m'] }).notNull(),
    at: integer('at', { mode: 'timestamp_ms' }).notNull(),
    windowSec: integer('window_sec'),
    bytesPerSecond: integer('bytes_per_second'),
    syncSeconds: integer('sync_seconds'),
    count: integer('count').notNull().default(1),
  },
  (t) => [
    index('protection_samples_subject_idx').on(t.subject, t.resolution, t.at),
    index('protection_samples_at_idx').on(t.resolution, t.at),
  ],
);

/**
 * Alerts: one row per firing (de-duplicated by `key`, the rule and its subject), resolved when the
 * condition ends. Kept as history.
 */
export const alerts = sqliteTable(
  'alerts',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    /** `rpo-warning`, `rpo-breach`, `rpo-predicted`, `sync-failures`, `daemon`, `split-brain`, `unreachable`, `task-failed`. */
    rule: text('rule').notNull(),
    subject: text('subject').notNull(),
    key: text('key').notNull(),
    severity: text('severity', { enum: ['warning', 'critical'] }).notNull(),
    state: text('state', { enum: ['firing', 'resolved'] }).notNull(),
    summary: text('summary').notNull(),
    detail: text('detail', { mode: 'json' }).$type<Record<string, unknown>>(),
    firedAt: integer('fired_at', { mode: 'timestamp_ms' }).notNull(),
    lastSeenAt: integer('last_seen_at', { mode: 'timestamp_ms' }).notNull(),
    resolvedAt: integer('resolved_at', { mode: 'timestamp_ms' }),
    ackedBy: text('acked_by'),
    ackedAt: integer('acked_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('alerts_key_idx').on(t.key, t.state), index('alerts_fired_idx').on(t.firedAt)],
);

/** Silences: alerts whose key matches (exactly, or a `*`-suffixed prefix) are not delivered until `until`. */
export const alertSilences = sqliteTable('alert_silences', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  matcher: text('matcher').notNull(),
  until: integer('until', { mode: 'timestamp_ms' }).notNull(),
  reason: text('reason'),
  createdBy: text('created_by').notNull(),
  createdAt: createdAt(),
});

/** Where alerts go: a webhook (JSON, HMAC-SHA256 signed with the secret) or e-mail over SMTP. */
export const alertChannels = sqliteTable('alert_channels', {
  id: integer('id').primaryKey({ autoIncrement: true }),
  kind: text('kind', { enum: ['webhook', 'email'] }).notNull(),
  name: text('name').notNull(),
  /** Webhook: `{ url }`; e-mail: `{ to: string[] }`. */
  config: text('config', { mode: 'json' }).notNull().$type<Record<string, unknown>>(),
  /**
   * The webhook's signing secret, or the SMTP password of an e-mail channel, encrypted with the
   * installation's key (associated data `alert-channel:<id>`; re-encrypted by a key rotation).
   */
  sealedSecret: text('sealed_secret'),
  enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
  createdAt: createdAt(),
});

/** One delivery of an alert event to a channel, retried with backoff until sent or given up. */
export const alertDeliveries = sqliteTable(
  'alert_deliveries',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    alertId: integer('alert_id').references(() => alerts.id, { onDelete: 'cascade' }),
    channelId: integer('channel_id')
      .notNull()
      .references(() => alertChannels.id, { onDelete: 'cascade' }),
    event: text('event', { enum: ['firing', 'resolved', 'test'] }).notNull(),
    state: text('state', { enum: ['pending', 'sent', 'failed'] }).notNull(),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: integer('next_attempt_at', { mode: 'timestamp_ms' }),
    lastError: text('last_error'),
    sentAt: integer('sent_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
  },
  (t) => [index('alert_deliveries_state_idx').on(t.state, t.nextAttemptAt)],
);

/**
 * Bearer tokens: `metrics` tokens for the Prometheus scrape, `api` tokens (personal, with a role no
 * higher than their owner's and an expiry) for /api/v1. Only a hash is stored.
 */
export const apiTokens = sqliteTable(
  'api_tokens',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    /** sha256 of the token. */
    hash: text('hash').notNull(),
    /** The token's first characters, to tell tokens apart. */
    prefix: text('prefix').notNull(),
    scope: text('scope', { enum: ['metrics', 'api'] }).notNull(),
    /** An `api` token's role (its owner's role caps it at each call). */
    role: text('role', { enum: ['viewer', 'operator', 'admin'] }),
    /** The user an `api` token acts as. */
    owner: text('owner'),
    createdBy: text('created_by').notNull(),
    /** After this an `api` token is refused. */
    expiresAt: integer('expires_at', { mode: 'timestamp_ms' }),
    createdAt: createdAt(),
    lastUsedAt: integer('last_used_at', { mode: 'timestamp_ms' }),
    revokedAt: integer('revoked_at', { mode: 'timestamp_ms' }),
  },
  (t) => [uniqueIndex('api_tokens_hash_uq').on(t.hash)],
);

/**
 * Recovery plans: protected objects in ordered priority groups (1 … 5), failed over together
 * (server/domain/plans/). The items are replaced as a whole when the plan is saved.
 */
export const recoveryPlans = sqliteTable(
  'recovery_plans',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    /** How many objects of one group fail over at the same time. */
    maxParallel: integer('max_parallel').notNull().default(4),
    /** How long a question of a run (retry / skip / abort) waits for the operator, and its default answer. */
    questionTimeoutSec: integer('question_timeout_sec').notNull().default(600),
    questionDefault: text('question_default', { enum: ['abort', 'skip'] })
      .notNull()
      .default('abort'),
    createdBy: text('created_by').notNull(),
    createdAt: createdAt(),
    updatedAt: integer('updated_at', { mode: 'timestamp_ms' }),
  },
  (t) => [uniqueIndex('recovery_plans_name_uq').on(t.name)],
);

/** Readiness of a VM after its start: running in the hypervisor, and optionally a TCP port answering from its node. */
export interface PlanReadiness {
  tcp?: { host: string; port: number } | null;
  timeoutSec: number;
}

export const recoveryPlanItems = sqliteTable(
  'recovery_plan_items',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    planId: integer('plan_id')
      .notNull()
      .references(() => recoveryPlans.id, { onDelete: 'cascade' }),
    groupNo: integer('group_no').notNull(),
    position: integer('position').notNull(),
    /** `replica:<id>` or `rbd:<site>,<site>/<pool>/<ns>/<image or *>`: an object is in one plan only. */
    objectKey: text('object_key').notNull(),
    kind: text('kind', { enum: ['replica', 'rbd'] }).notNull(),
    replicaId: integer('replica_id'),
    /** Where the object runs in production, and where the plan recovers it. */
    protectedSiteId: integer('protected_site_id').notNull(),
    recoverySiteId: integer('recovery_site_id').notNull(),
    pool: text('pool'),
    namespace: text('namespace'),
    image: text('image'),
    waitAfterStartSec: integer('wait_after_start_sec').notNull().default(0),
    readiness: text('readiness', { mode: 'json' }).$type<PlanReadiness | null>(),
    /** Object keys of items of earlier groups this one needs (a VM on the RBD pool holding its disks). */
    dependsOn: text('depends_on', { mode: 'json' }).notNull().$type<string[]>(),
  },
  (t) => [
    uniqueIndex('recovery_plan_items_object_uq').on(t.objectKey),
    index('recovery_plan_items_plan_idx').on(t.planId),
  ],
);

export type RecoveryPlanItemRow = typeof recoveryPlanItems.$inferSelect;

/**
 * One run of a plan (or of a single object): what was asked, by whom and why, the plan as it was,
 * and the measured figures. The run's work is its task (`taskId`: its state and end are the run's);
 * its items are plan_run_items.
 */
export const planRuns = sqliteTable(
  'plan_runs',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    planId: integer('plan_id').references(() => recoveryPlans.id, { onDelete: 'set null' }),
    planName: text('plan_name').notNull(),
    kind: text('kind', { enum: ['planned', 'disaster', 'reprotect', 'test', 'test-cleanup'] }).notNull(),
    /** `forward`: production → recovery site; `back`: the plan run back (fail back). */
    direction: text('direction', { enum: ['forward', 'back'] }).notNull(),
    taskId: integer('task_id'),
    reason: text('reason').notNull(),
    /** The plan as it was when the run started. */
    plan: text('plan', { mode: 'json' }).notNull().$type<unknown>(),
    prechecks: text('prechecks', { mode: 'json' }).$type<unknown>(),
    startedBy: text('started_by').notNull(),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }).notNull(),
    /** Measured: the largest data loss of an object (run start − recovery point used), seconds. */
    dataLossSec: integer('data_loss_sec'),
    /** Measured: run start → the last VM running and ready (or the last object done), milliseconds. */
    recoveryTimeMs: integer('recovery_time_ms'),
    /** A test failover's options (the network its VMs get). */
    options: text('options', { mode: 'json' }).$type<PlanRunOptions | null>(),
    /** A test-cleanup run: the test run it cleans up. */
    ofRunId: integer('of_run_id'),
    /** A test run: when its cleanup removed the last thing it created. */
    cleanedAt: integer('cleaned_at', { mode: 'timestamp_ms' }),
  },
  (t) => [index('plan_runs_plan_idx').on(t.planId, t.id)],
);

export interface PlanRunOptions {
  /** What the test VMs' network interfaces become: removed, or put on an isolated libvirt network. */
  network: { kind: 'none' } | { kind: 'isolated'; network: string };
}

export type PlanRunRow = typeof planRuns.$inferSelect;

export const planRunItems = sqliteTable(
  'plan_run_items',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    runId: integer('run_id')
      .notNull()
      .references(() => planRuns.id, { onDelete: 'cascade' }),
    objectKey: text('object_key').notNull(),
    label: text('label').notNull(),
    groupNo: integer('group_no').notNull(),
    state: text('state', { enum: ['pending', 'running', 'done', 'failed', 'skipped'] }).notNull(),
    /** The failover (reinit, resync…) task that does this object's work. */
    childTaskId: integer('child_task_id'),
    startedAt: integer('started_at', { mode: 'timestamp_ms' }),
    finishedAt: integer('finished_at', { mode: 'timestamp_ms' }),
    /** When the VM was running and ready (VM items). */
    readyAt: integer('ready_at', { mode: 'timestamp_ms' }),
    /** The recovery point the object was recovered from (epoch ms), and the data lost (seconds). */
    recoveryPointAt: integer('recovery_point_at', { mode: 'timestamp_ms' }),
    dataLossSec: integer('data_loss_sec'),
    error: text('error'),
    /** What the run created for this object (test clones, test VMs), for the cleanup. */
    created: text('created', { mode: 'json' }).$type<unknown>(),
  },
  (t) => [uniqueIndex('plan_run_items_uq').on(t.runId, t.objectKey)],
);

export type PlanRunItemRow = typeof planRunItems.$inferSelect;
