import { z } from 'zod';
import { AppError } from '../../core/errors';
import { parseJsonExact } from './json';
import type {
  ImageInfo,
  ImageMirrorStatus,
  ImageSnapshot,
  ImageSummary,
  MirrorCallout,
  MirrorDaemonInstance,
  MirrorDescription,
  MirrorMode,
  MirrorPeer,
  PeerSiteStatus,
  PoolMirrorInfo,
  PoolStatusSummary,
  SnapshotScheduleEntry,
  SnapshotScheduleStatus,
  StatusSnapshot,
} from './types';

/**
 * Parsers for the JSON the `rbd` and `ceph` CLIs print (Ceph 16.2). Each takes the raw stdout,
 * parses it with large integers kept exact, validates it with zod (unknown fields pass) and
 * returns Tandem's shape. A shape Ceph did not promise throws INTERNAL with the zod issues.
 */

/** A 64-bit id: a JSON number, or a string after parseJsonExact quoted it. */
const exactId = z.union([z.string().regex(/^-?\d+$/), z.number().int()]).transform((v) => String(v));
const num = z.union([
  z.number(),
  z
    .string()
    .regex(/^-?\d+(\.\d+)?$/)
    .transform(Number),
]);

/** Removes cephx keys (`"key":"…"`, `key = …`) from CLI output kept for diagnostics. */
export function redactKeys(text: string): string {
  return text
    .replace(/("key"\s*:\s*")[^"]*(")/g, '$1<redacted>$2')
    .replace(/(\bkey\s*=\s*)\S+/g, '$1<redacted>');
}

export function parseWith<S extends z.ZodType>(schema: S, stdout: string, what: string): z.output<S> {
  let raw: unknown;
  try {
    raw = parseJsonExact(stdout);
  } catch (e) {
    throw new AppError(
      'INTERNAL',
      `${what}: the CLI printed something that is not JSON (${(e as Error).message}): ${redactKeys(stdout).slice(0, 200)}`,
    );
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new AppError('INTERNAL', `${what}: unexpected output shape (${issues.join('; ')})`, {
      details: { output: redactKeys(stdout).slice(0, 2000) },
    });
  }
  return r.data;
}

// ------------------------------------------------------------------ pool info

const peerSchema = z.looseObject({
  uuid: z.string(),
  direction: z.string().optional(),
  site_name: z.string().default(''),
  mirror_uuid: z.string().optional(),
  client_name: z.string().default(''),
  mon_host: z.string().optional(),
  // `--all` also prints the peer's cephx key: read past it, never return it.
  key: z.string().optional(),
});

export const poolInfoSchema = z.looseObject({
  mode: z.enum(['disabled', 'image', 'pool']),
  site_name: z.string().optional(),
  peers: z.array(peerSchema).optional(),
});

export function parsePoolInfo(stdout: string, pool: string, namespace = ''): PoolMirrorInfo {
  const d = parseWith(poolInfoSchema, stdout, 'rbd mirror pool info');
  return {
    pool,
    namespace,
    mode: d.mode as MirrorMode,
    siteName: d.site_name ?? null,
    peers: (d.peers ?? []).map((p): MirrorPeer => ({
      uuid: p.uuid,
      siteName: p.site_name,
      direction: p.direction ?? 'rx-tx',
      clientName: p.client_name,
      ...(p.mirror_uuid !== undefined ? { mirrorUuid: p.mirror_uuid } : {}),
      ...(p.mon_host ? { monHost: p.mon_host } : {}),
    })),
  };
}

// ------------------------------------------------------------------ descriptions and states

const n = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v)
      ? Number(v)
      : null;

/** Parses `replaying, {json}`, `local image is primary`, `bootstrapping, IMAGE_SYNC/… 45%`, … */
export function parseMirrorDescription(description: string): MirrorDescription {
  const text = description.trim();
  const comma = text.indexOf(',');
  const phase = (comma >= 0 ? text.slice(0, comma) : text).trim();
  const rest = comma >= 0 ? text.slice(comma + 1).trim() : '';
  let details: Record<string, unknown> | null = null;
  if (rest.startsWith('{')) {
    try {
      const v = parseJsonExact(rest);
      if (v && typeof v === 'object' && !Array.isArray(v)) details = v as Record<string, unknown>;
    } catch {
      details = null;
    }
  }
  const d = details ?? {};
  let syncPercent = n(d.syncing_percent);
  if (syncPercent === null && !details) {
    const m = /(\d+(?:\.\d+)?)\s*%/.exec(rest);
    if (m) syncPercent = Number(m[1]);
  }
  return {
    phase,
    details,
    replayState: typeof d.replay_state === 'string' ? d.replay_state : null,
    syncPercent,
    bytesPerSecond: n(d.bytes_per_second),
    bytesPerSnapshot: n(d.bytes_per_snapshot),
    lastSnapshotBytes: n(d.last_snapshot_bytes),
    lastSnapshotSyncSeconds: n(d.last_snapshot_sync_seconds),
    localSnapshotTimestamp: n(d.local_snapshot_timestamp),
    remoteSnapshotTimestamp: n(d.remote_snapshot_timestamp),
    syncingSnapshotTimestamp: n(d.syncing_snapshot_timestamp),
    entriesBehindPrimary: n(d.entries_behind_primary),
    entriesPerSecond: n(d.entries_per_second),
    localPrimary: /^local image is primary$/i.test(text),
    splitBrain: /split-brain/i.test(text),
  };
}

/** `up+replaying` → { daemonUp: true, state: 'replaying' }. */
export function parseMirrorState(raw: string): { daemonUp: boolean; state: string } {
  const m = /^(up|down)\+(.+)$/.exec(raw.trim());
  if (!m) return { daemonUp: false, state: raw.trim() || 'unknown' };
  return { daemonUp: m[1] === 'up', state: m[2]! };
}

/** Which mirroring mode replay details reveal (journal positions vs snapshot timestamps). */
export function inferMirrorMode(d: MirrorDescription): 'journal' | 'snapshot' | null {
  if (!d.details) return null;
  if ('primary_position' in d.details || 'entries_behind_primary' in d.details) return 'journal';
  if ('replay_state' in d.details || 'remote_snapshot_timestamp' in d.details) return 'snapshot';
  return null;
}

const daemonServiceSchema = z.looseObject({
  service_id: z.string().default(''),
  instance_id: z.string().default(''),
  daemon_id: z.string().default(''),
  hostname: z.string().default(''),
});

const peerSiteSchema = z.looseObject({
  site_name: z.string().default(''),
  mirror_uuids: z.string().default(''),
  state: z.string().default('down+unknown'),
  description: z.string().default(''),
  last_update: z.string().default(''),
});

const statusSnapshotSchema = z.looseObject({
  id: exactId,
  name: z.string(),
  demoted: z.boolean().default(false),
  mirror_peer_uuids: z.array(z.string()).default([]),
});

export const imageStatusSchema = z.looseObject({
  name: z.string(),
  global_id: z.string().default(''),
  state: z.string().default('down+unknown'),
  description: z.string().default(''),
  daemon_service: daemonServiceSchema.optional(),
  last_update: z.string().default(''),
  peer_sites: z.array(peerSiteSchema).default([]),
  snapshots: z.array(statusSnapshotSchema).optional(),
});

function toPeerSite(p: z.output<typeof peerSiteSchema>): PeerSiteStatus {
  const st = parseMirrorState(p.state);
  return {
    siteName: p.site_name,
    mirrorUuids: p.mirror_uuids,
    rawState: p.state,
    daemonUp: st.daemonUp,
    state: st.state,
    description: parseMirrorDescription(p.description),
    rawDescription: p.description,
    lastUpdate: p.last_update || null,
  };
}

function toImageStatus(
  s: z.output<typeof imageStatusSchema>,
  pool: string,
  namespace: string,
): ImageMirrorStatus {
  const st = parseMirrorState(s.state);
  return {
    pool,
    namespace,
    name: s.name,
    globalId: s.global_id,
    rawState: s.state,
    daemonUp: st.daemonUp,
    state: st.state,
    rawDescription: s.description,
    description: parseMirrorDescription(s.description),
    lastUpdate: s.last_update || null,
    daemon: s.daemon_service
      ? {
          serviceId: s.daemon_service.service_id,
          instanceId: s.daemon_service.instance_id,
          daemonId: s.daemon_service.daemon_id,
          hostname: s.daemon_service.hostname,
        }
      : null,
    peerSites: s.peer_sites.map(toPeerSite),
    snapshots: (s.snapshots ?? []).map((x): StatusSnapshot => ({
      id: x.id,
      name: x.name,
      demoted: x.demoted,
      mirrorPeerUuids: x.mirror_peer_uuids,
    })),
  };
}

export function parseImageStatus(stdout: string, pool: string, namespace = ''): ImageMirrorStatus {
  return toImageStatus(parseWith(imageStatusSchema, stdout, 'rbd mirror image status'), pool, namespace);
}

// ------------------------------------------------------------------ pool status

const summarySchema = z.looseObject({
  health: z.string().default('UNKNOWN'),
  daemon_health: z.string().default('UNKNOWN'),
  image_health: z.string().default('UNKNOWN'),
  states: z.record(z.string(), num).default({}),
});

const daemonSchema = z.looseObject({
  service_id: z.string().default(''),
  instance_id: z.string().default(''),
  client_id: z.string().default(''),
  hostname: z.string().default(''),
  ceph_version: z.string().default(''),
  leader: z.boolean().default(false),
  health: z.string().default('UNKNOWN'),
});

export const poolStatusSchema = z.looseObject({
  summary: summarySchema,
  daemons: z.array(daemonSchema).default([]),
  images: z.array(imageStatusSchema).default([]),
});

export interface ParsedPoolStatus {
  summary: PoolStatusSummary;
  daemons: MirrorDaemonInstance[];
  images: ImageMirrorStatus[];
}

export function parsePoolStatus(stdout: string, pool: string, namespace = ''): ParsedPoolStatus {
  const d = parseWith(poolStatusSchema, stdout, 'rbd mirror pool status');
  return {
    summary: {
      health: d.summary.health,
      daemonHealth: d.summary.daemon_health,
      imageHealth: d.summary.image_health,
      states: d.summary.states,
    },
    daemons: d.daemons.map((x) => ({
      serviceId: x.service_id,
      instanceId: x.instance_id,
      clientId: x.client_id,
      hostname: x.hostname,
      version: x.ceph_version,
      leader: x.leader,
      health: x.health,
    })),
    images: d.images.map((s) => toImageStatus(s, pool, namespace)),
  };
}

// ------------------------------------------------------------------ images

const lsLongSchema = z.array(
  z.looseObject({
    image: z.string(),
    id: z.string().optional(),
    size: num.default(0),
    format: z.number().optional(),
    snapshot: z.string().optional(),
  }),
);

export function parseLsLong(stdout: string): { name: string; id: string | null; sizeBytes: number }[] {
  const rows = stdout.trim() === '' ? [] : parseWith(lsLongSchema, stdout, 'rbd ls -l');
  return rows
    .filter((r) => r.snapshot === undefined)
    .map((r) => ({ name: r.image, id: r.id ?? null, sizeBytes: r.size }));
}

/** Joins `rbd ls -l` and the verbose pool status into one list (images of either source). */
export function mergeImageList(
  pool: string,
  namespace: string,
  ls: { name: string; id: string | null; sizeBytes: number }[],
  statuses: ImageMirrorStatus[],
): ImageSummary[] {
  const byName = new Map(statuses.map((s) => [s.name, s]));
  const out: ImageSummary[] = [];
  const seen = new Set<string>();
  const mirroring = (s: ImageMirrorStatus | undefined): ImageSummary['mirroring'] => {
    if (!s) return null;
    const replaying = ['replaying', 'syncing', 'starting_replay', 'stopping_replay'].includes(s.state);
    return {
      globalId: s.globalId,
      rawState: s.rawState,
      daemonUp: s.daemonUp,
      state: s.state,
      description: s.description,
      rawDescription: s.rawDescription,
      lastUpdate: s.lastUpdate,
      primary: s.description.localPrimary ? true : replaying ? false : null,
      mode:
        inferMirrorMode(s.description) ??
        s.peerSites.map((p) => inferMirrorMode(p.description)).find((m) => m !== null) ??
        null,
      peerSites: s.peerSites,
    };
  };
  for (const img of ls) {
    seen.add(img.name);
    out.push({
      pool,
      namespace,
      name: img.name,
      id: img.id,
      sizeBytes: img.sizeBytes,
      mirroring: mirroring(byName.get(img.name)),
    });
  }
  for (const s of statuses) {
    if (seen.has(s.name)) continue;
    out.push({ pool, namespace, name: s.name, id: null, sizeBytes: null, mirroring: mirroring(s) });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

const infoSchema = z.looseObject({
  name: z.string(),
  id: z.string().default(''),
  size: num,
  object_size: num.optional(),
  snapshot_count: z.number().default(0),
  features: z.array(z.string()).default([]),
  op_features: z.array(z.string()).default([]),
  create_timestamp: z.string().optional(),
  mirroring: z
    .looseObject({
      mode: z.string().optional(),
      state: z.string().default('disabled'),
      global_id: z.string().optional(),
      primary: z.boolean().optional(),
    })
    .optional(),
});

export function parseImageInfo(stdout: string, pool: string, namespace = ''): ImageInfo {
  const d = parseWith(infoSchema, stdout, 'rbd info');
  const m = d.mirroring;
  const mode = m?.mode === 'journal' || m?.mode === 'snapshot' ? m.mode : null;
  return {
    pool,
    namespace,
    name: d.name,
    id: d.id,
    sizeBytes: d.size,
    objectSizeBytes: d.object_size ?? 0,
    features: d.features,
    opFeatures: d.op_features,
    snapshotCount: d.snapshot_count,
    createdAt: d.create_timestamp ?? null,
    mirroring: {
      // `mode` is reported for a disabled image that has journaling: it is only the default then.
      mode: m?.state === 'enabled' || m?.state === 'disabling' ? mode : null,
      state: m?.state ?? 'disabled',
      globalId: m?.global_id ?? null,
      primary: m?.primary ?? null,
    },
  };
}

const snapLsSchema = z.array(
  z.looseObject({
    id: exactId,
    name: z.string(),
    size: num.default(0),
    protected: z.union([z.string(), z.boolean()]).default('false'),
    timestamp: z.string().optional(),
    namespace: z
      .looseObject({
        type: z.string(),
        state: z.string().optional(),
        mirror_peer_uuids: z.array(z.string()).optional(),
        complete: z.boolean().optional(),
        primary_mirror_uuid: z.string().optional(),
        primary_snap_id: exactId.optional(),
        last_copied_object_number: num.optional(),
      })
      .optional(),
  }),
);

export function parseSnapLs(stdout: string): ImageSnapshot[] {
  const rows = stdout.trim() === '' ? [] : parseWith(snapLsSchema, stdout, 'rbd snap ls');
  return rows.map((r): ImageSnapshot => {
    const ns = r.namespace;
    const isMirror = ns?.type === 'mirror';
    const state = ns?.state ?? '';
    const primary = isMirror
      ? r.name.startsWith('.mirror.non_primary.')
        ? false
        : r.name.startsWith('.mirror.primary.')
          ? true
          : state === 'primary'
      : false;
    return {
      id: r.id,
      name: r.name,
      sizeBytes: r.size,
      protected: r.protected === true || r.protected === 'true',
      timestamp: r.timestamp ?? null,
      namespaceType: ns?.type ?? 'user',
      mirror: isMirror
        ? {
            state,
            primary: ns?.primary_mirror_uuid !== undefined ? false : primary,
            demoted: state === 'demoted',
            complete: ns?.complete ?? false,
            mirrorPeerUuids: ns?.mirror_peer_uuids ?? [],
            primaryMirrorUuid: ns?.primary_mirror_uuid ?? null,
            primarySnapId: ns?.primary_snap_id ?? null,
            lastCopiedObjectNumber: ns?.last_copied_object_number ?? null,
          }
        : null,
    };
  });
}

/**
 * The newest mirror snapshot of an image that is a whole point in time: on the non-primary side
 * the newest completely copied one, on the primary side its newest own one (what
 * CephAdapter.createTestCopy takes). Null when there is none yet.
 */
export function newestRecoveryPoint(snaps: ImageSnapshot[]): ImageSnapshot | null {
  const usable = snaps.filter((s) => s.mirror && (s.mirror.primary || s.mirror.complete));
  usable.sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
  return usable[usable.length - 1] ?? null;
}

// ------------------------------------------------------------------ snapshot id from `mirror image snapshot`

export function parseSnapshotIdLine(stdout: string): string {
  const m = /Snapshot ID:\s*(\d+)/.exec(stdout);
  if (!m)
    throw new AppError(
      'INTERNAL',
      `rbd mirror image snapshot: no snapshot id in its output: ${stdout.slice(0, 200)}`,
    );
  return m[1]!;
}

// ------------------------------------------------------------------ schedules

const scheduleItemSchema = z.looseObject({
  interval: z.string(),
  start_time: z.string().nullable().default(''),
});
const scheduleLsRecursiveSchema = z.array(
  z.looseObject({
    pool: z.string(),
    namespace: z.string(),
    image: z.string(),
    items: z.array(scheduleItemSchema).default([]),
  }),
);

export function parseScheduleLsRecursive(stdout: string): SnapshotScheduleEntry[] {
  const rows =
    stdout.trim() === ''
      ? []
      : parseWith(scheduleLsRecursiveSchema, stdout, 'rbd mirror snapshot schedule ls');
  return rows.map((r) => {
    const pool = r.pool === '-' || r.pool === '' ? null : r.pool;
    const namespace = pool === null || r.namespace === '-' ? null : r.namespace;
    const image = pool === null || r.image === '-' ? null : r.image;
    const level: SnapshotScheduleEntry['level'] =
      pool === null ? 'global' : image !== null ? 'image' : namespace !== null ? 'namespace' : 'pool';
    return {
      level,
      pool,
      namespace: image !== null ? (namespace ?? '') : namespace,
      image,
      items: r.items.map((i) => ({ interval: i.interval, startTime: i.start_time ? i.start_time : null })),
    };
  });
}

const scheduleStatusSchema = z.array(z.looseObject({ schedule_time: z.string(), image: z.string() }));

export function parseScheduleStatus(stdout: string): SnapshotScheduleStatus[] {
  const rows =
    stdout.trim() === ''
      ? []
      : parseWith(scheduleStatusSchema, stdout, 'rbd mirror snapshot schedule status');
  return rows.map((r) => {
    const parts = r.image.split('/');
    const [pool = '', a = '', b] = parts;
    return {
      imageSpec: r.image,
      pool,
      namespace: b === undefined ? '' : a,
      image: b === undefined ? a : b,
      scheduleTime: r.schedule_time,
    };
  });
}

// ------------------------------------------------------------------ daemons (ceph service status / dump)

const serviceStatusSchema = z.looseObject({
  'rbd-mirror': z
    .record(
      z.string(),
      z.looseObject({
        status_stamp: z.string().optional(),
        last_beacon: z.string().optional(),
        status: z.looseObject({ json: z.string().optional() }).optional(),
      }),
    )
    .optional(),
});

const daemonPoolStatusSchema = z.record(
  z.string(),
  z.looseObject({
    name: z.string().default(''),
    callouts: z
      .record(z.string(), z.looseObject({ level: z.string().default('error'), text: z.string().default('') }))
      .default({}),
    leader: z.boolean().optional(),
    instance_id: z.string().optional(),
  }),
);

export interface ServiceStatusDaemon {
  serviceId: string;
  lastBeacon: string | null;
  pools: {
    poolId: string;
    pool: string;
    leader: boolean;
    instanceId: string | null;
    imageCounts: Record<string, number>;
    callouts: MirrorCallout[];
  }[];
}

/** `ceph service status`: per rbd-mirror daemon, per pool id: callouts, leader, image counts. */
export function parseServiceStatus(stdout: string): ServiceStatusDaemon[] {
  const d = parseWith(serviceStatusSchema, stdout, 'ceph service status');
  return Object.entries(d['rbd-mirror'] ?? {}).map(([serviceId, v]) => {
    let pools: ServiceStatusDaemon['pools'] = [];
    if (v.status?.json) {
      const inner = daemonPoolStatusSchema.safeParse(parseJsonExact(v.status.json));
      if (inner.success) {
        pools = Object.entries(inner.data).map(([poolId, p]) => {
          const counts: Record<string, number> = {};
          for (const [k, val] of Object.entries(p)) {
            const m = /^image_(\w+)_count$/.exec(k);
            if (m && typeof val === 'number') counts[m[1]!] = val;
          }
          return {
            poolId,
            pool: p.name,
            leader: p.leader ?? false,
            instanceId: p.instance_id ?? null,
            imageCounts: counts,
            callouts: Object.values(p.callouts).map((c) => ({ pool: p.name, level: c.level, text: c.text })),
          };
        });
      }
    }
    return { serviceId, lastBeacon: v.last_beacon ?? null, pools };
  });
}

const serviceDumpSchema = z.looseObject({
  services: z
    .looseObject({
      'rbd-mirror': z
        .looseObject({
          daemons: z.record(z.string(), z.unknown()).default({}),
        })
        .optional(),
    })
    .default({}),
});

const serviceDaemonSchema = z.looseObject({
  gid: z.number().optional(),
  metadata: z
    .looseObject({
      id: z.string().optional(),
      hostname: z.string().optional(),
      ceph_version_short: z.string().optional(),
    })
    .default({}),
});

/** `ceph service dump`: the rbd-mirror daemons' metadata (id, host, version) by service id. */
export function parseServiceDump(
  stdout: string,
): { serviceId: string; daemonId: string; hostname: string | null; version: string | null }[] {
  const d = parseWith(serviceDumpSchema, stdout, 'ceph service dump');
  const out: { serviceId: string; daemonId: string; hostname: string | null; version: string | null }[] = [];
  for (const [key, val] of Object.entries(d.services['rbd-mirror']?.daemons ?? {})) {
    if (key === 'summary') continue;
    const r = serviceDaemonSchema.safeParse(val);
    if (!r.success) continue;
    out.push({
      serviceId: key,
      daemonId: r.data.metadata.id ?? key,
      hostname: r.data.metadata.hostname ?? null,
      version: r.data.metadata.ceph_version_short ?? null,
    });
  }
  return out;
}

// ------------------------------------------------------------------ pools

const poolLsDetailSchema = z.array(
  z.looseObject({
    pool_id: z.number(),
    pool_name: z.string(),
    application_metadata: z.record(z.string(), z.unknown()).default({}),
  }),
);

export function parseRbdPools(stdout: string): { name: string; id: number }[] {
  return parseWith(poolLsDetailSchema, stdout, 'ceph osd pool ls detail')
    .filter((p) => 'rbd' in p.application_metadata)
    .map((p) => ({ name: p.pool_name, id: p.pool_id }));
}

export function parseNamespaceLs(stdout: string): string[] {
  if (stdout.trim() === '') return [];
  return parseWith(z.array(z.looseObject({ name: z.string() })), stdout, 'rbd namespace ls').map(
    (x) => x.name,
  );
}

export function worstHealth(values: string[]): string {
  const rank = (h: string) => (h === 'ERROR' ? 3 : h === 'WARNING' ? 2 : h === 'OK' ? 0 : 1);
  let best = 'OK';
  for (const v of values) if (rank(v) > rank(best)) best = v;
  return values.length === 0 ? 'UNKNOWN' : best;
}
