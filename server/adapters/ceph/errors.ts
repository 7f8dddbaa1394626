import { AppError, type AppErrorCode } from '../../core/errors';
import { CommandError } from '../runner';

/**
 * Turns the `rbd`/`ceph` CLI's failures into AppErrors an operator can act on. The CLI's own
 * message stays in the text (after the explanation) and the CommandError is the cause.
 */
export interface CephErrorContext {
  /** What was being done, e.g. `promote rbd/vm1`. */
  action: string;
  pool?: string;
  namespace?: string;
  image?: string;
  /** Filled in by the adapter: the cluster and how long its CLI calls look for a monitor. */
  cluster?: string;
  connectTimeoutSec?: number;
}

interface Rule {
  test: RegExp;
  code: AppErrorCode;
  explain: (c: CephErrorContext) => string;
  /** Trying again shortly may succeed (e.g. promote right after the peer's demote). */
  retryable?: boolean;
}

const spec = (c: CephErrorContext) => [c.pool, c.namespace || undefined, c.image].filter(Boolean).join('/');

const RULES: Rule[] = [
  {
    test: /mirror peers still registered/,
    code: 'PRECONDITION_FAILED',
    explain: (c) =>
      `mirroring of pool ${c.pool ?? ''} cannot be disabled while peers are registered: remove the peers first`,
  },
  {
    test: /still images with mirroring enabled/,
    code: 'PRECONDITION_FAILED',
    explain: (c) =>
      `mirroring of ${spec(c)} cannot be disabled while images have mirroring enabled: disable mirroring on those images first`,
  },
  {
    test: /namespace '[^']*' does not exist|namespace [^ ]+ does not exist/,
    code: 'NOT_FOUND',
    explain: (c) => `namespace ${c.namespace ?? ''} does not exist in pool ${c.pool ?? ''}`,
  },
  {
    test: /error opening pool|pool [^ ]+ does not exist/,
    code: 'NOT_FOUND',
    explain: (c) => `pool ${c.pool ?? ''} does not exist on this cluster`,
  },
  {
    test: /error opening image [^:]*: \(2\)|image [^ ]+ does not exist|\(2\) No such file or directory.*image|image not found/i,
    code: 'NOT_FOUND',
    explain: (c) => `image ${spec(c)} does not exist`,
  },
  {
    test: /(?:delete|remove) error: \(2\)|error removing image[^:]*: \(2\)/,
    code: 'NOT_FOUND',
    explain: (c) => `image ${spec(c)} does not exist`,
  },
  {
    test: /mirror peer [^ ]+ does not exist|peer_site_\w+: failed to update [^\n]*: \(2\)|failed to update mirroring peer config: \(2\)/,
    code: 'NOT_FOUND',
    explain: () => 'that mirror peer does not exist',
  },
  {
    test: /mirroring (?:is )?not enabled on (?:the|a) pool/,
    code: 'PRECONDITION_FAILED',
    explain: (c) =>
      `mirroring is not enabled on pool ${spec({ action: '', pool: c.pool, namespace: c.namespace })}: set its mirror mode to image or pool first`,
  },
  {
    test: /mirroring is not enabled|mirroring not enabled on the image|image is not mirrored|mirroring is disabled/i,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `mirroring is not enabled for ${spec(c)}`,
  },
  {
    test: /image is already primary/,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `${spec(c)} is already primary on this cluster`,
  },
  {
    test: /image is not primary|not primary/,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `${spec(c)} is not primary on this cluster`,
  },
  {
    test: /previous primary snapshot is demoted/,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `${spec(c)} is demoted on this cluster: promote it before taking mirror snapshots`,
  },
  {
    test: /non-primary snapshot not complete|previous snapshot is non-primary|not cleanly demoted|remote image is not demoted|image is (?:still )?primary within a remote cluster|demotion is not propagated yet/,
    code: 'CONFLICT',
    retryable: true,
    explain: (c) =>
      `${spec(c)} cannot be promoted yet: the demotion of the other site has not been copied here completely; retry in a few seconds (or force the promotion, accepting a split-brain)`,
  },
  {
    test: /\(30\) Read-only file system/,
    code: 'CONFLICT',
    retryable: true,
    explain: (c) =>
      `${spec(c)} is read-only here (it is not primary, or its demotion is still being processed); writes and promotion need the image to be primary, or a retry after the demotion snapshot has been copied`,
  },
  {
    test: /\(16\) Device or resource busy|image is busy|RBD image is busy/i,
    code: 'CONFLICT',
    retryable: true,
    explain: (c) => `${spec(c)} is busy (in use, or mirroring is still switching); retry in a few seconds`,
  },
  {
    test: /not in snapshot mirror mode/,
    code: 'PRECONDITION_FAILED',
    explain: (c) =>
      `${spec(c)} is not in snapshot mirroring mode: snapshot schedules apply only to snapshot-mirrored images`,
  },
  {
    test: /cannot disable journaling: journal-based mirroring enabled/,
    code: 'PRECONDITION_FAILED',
    explain: (c) =>
      `journaling of ${spec(c)} cannot be turned off while journal-based mirroring is enabled for it: disable its mirroring first`,
  },
  {
    test: /exclusive-lock must be enabled before enabling journaling/,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `${spec(c)} lacks the exclusive-lock feature that journaling needs`,
  },
  {
    test: /journaling feature is required|journaling must be enabled/i,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `${spec(c)} needs the journaling feature for journal-based mirroring`,
  },
  {
    test: /image has snapshots/,
    code: 'PRECONDITION_FAILED',
    explain: (c) =>
      `${spec(c)} still has snapshots: remove them (or disable mirroring, which removes its mirror snapshots) first`,
  },
  {
    test: /image still has watchers|image has watchers/,
    code: 'CONFLICT',
    explain: (c) => `${spec(c)} is still open somewhere (it has watchers)`,
  },
  {
    test: /mirroring is enabled|image is mirrored|mirroring enabled on the image/i,
    code: 'PRECONDITION_FAILED',
    explain: (c) => `${spec(c)} has mirroring enabled: disable its mirroring first`,
  },
  {
    test: /already exists|\(17\) File exists/,
    code: 'ALREADY_EXISTS',
    explain: (c) => `${spec(c) || 'it'} already exists`,
  },
  {
    test: /Invalid interval|Invalid start time|Invalid level spec/,
    code: 'INVALID_INPUT',
    explain: (c) => `${c.action}: Ceph refused the schedule`,
  },
  {
    test: /invalid token|failed to decode peer bootstrap token|failed to import peer bootstrap token/i,
    code: 'INVALID_INPUT',
    explain: () => 'the bootstrap token was refused by the cluster',
  },
  {
    test: /\(1\) Operation not permitted|\(13\) Permission denied|EACCES/,
    code: 'FORBIDDEN',
    explain: (c) => `${c.action}: the Ceph user lacks the permissions (caps) for this`,
  },
  {
    test: /\(110\) Connection timed out|timed out|error connecting to the cluster|couldn't connect to the cluster|\(108\) Cannot send after transport endpoint shutdown/,
    code: 'UNREACHABLE',
    explain: (c) =>
      `the monitors of ${c.cluster ? `cluster ${c.cluster}` : 'the cluster'} did not answer${c.connectTimeoutSec ? ` within ${c.connectTimeoutSec} s` : ''} (down, unreachable from here, or refusing this client)`,
  },
];

/** The CLI's own words: stderr lines without the timestamped librbd log prefix, deduplicated. */
export function cliMessage(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.replace(/^\S+T\S+\s+[0-9a-f]+\s+-?\d+\s+/, '').trim())
    .filter(
      (l) => l && !/did not load config file|Errors while parsing config file|can't open ceph.conf/.test(l),
    );
  return [...new Set(lines)].slice(-3).join(' | ').slice(0, 500);
}

/** The CLI's own words of a failed call (its stderr, see cliMessage), or the error's message when it has none. */
export function cliWords(e: unknown): string {
  const cause = e instanceof Error ? e.cause : undefined;
  const cmd = e instanceof CommandError ? e : cause instanceof CommandError ? cause : null;
  return (cmd && cliMessage(cmd.stderr)) || (e instanceof Error ? e.message : String(e));
}

export function mapCephError(e: unknown, ctx: CephErrorContext): unknown {
  if (!(e instanceof CommandError)) return e;
  if (e.exitCode === null || e.exitCode === 127) return e;
  const text = e.stderr;
  for (const r of RULES) {
    if (r.test.test(text)) {
      const msg = cliMessage(text);
      return new AppError(r.code, `${r.explain(ctx)}${msg ? ` (${msg})` : ''}`, {
        cause: e,
        details: { ...e.details, action: ctx.action, retryable: r.retryable === true },
      });
    }
  }
  return e;
}

/** True for the transient refusals (busy, read-only, demotion not copied yet). */
export function isRetryableCephError(e: unknown): boolean {
  return e instanceof AppError && e.details?.retryable === true;
}
