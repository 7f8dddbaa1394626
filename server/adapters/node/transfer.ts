import crypto from 'node:crypto';
import { AppError } from '../../core/errors';
import { shellJoin, shellPipeline } from '../quote';
import { assertName } from '../../core/names';
import { assertHostKeyAlias, TANDEM_KNOWN_HOSTS } from './known-hosts';
import { CommandError, type CommandRunner } from '../runner';
import type { PullOptions, SourceSpec, TransferResult } from './types';
import { assertSnapshotRef } from './zfs';

/*
 * Node-to-node replication stream, run on the TARGET node as one remote pipeline:
 *
 *   ssh <source> 'zfs send [-R|-p] [-I|-i src@from] src@to' | pv -n -b -i 0.5 [-L rate] | zfs recv -F target
 *
 * On the source the send runs inside SEND_WRAPPER (see below). The data never passes through
 * Tandem. What a real deployment needs on every node that pulls:
 *  - an SSH key that the source node's root (or the configured user) accepts (authorized_keys);
 *  - nothing for the source's host key: Tandem writes the key it pinned for the source site into
 *    its own known_hosts file on the target (`~/.ssh/tandem_known_hosts`, see known-hosts.ts)
 *    before pulling, and the pull's ssh checks the source against that entry alone
 *    (SourceSpec.hostKeyAlias: StrictHostKeyChecking=yes, HostKeyAlias=tandem-site-<id>, no
 *    global or personal known_hosts), so a node's own known_hosts is never trusted; the command
 *    runs with BatchMode=yes and never answers prompts;
 *  - `pv` installed (progress and bandwidth limit);
 *  - optionally a Host alias in ~/.ssh/config (SourceSpec.alias) carrying port, user, key and
 *    ciphers, as the lab does for node1..nodeN;
 *  - bash on both nodes (pipefail on the target, the SIGPIPE wrapper on the source).
 *
 * Cancelling (PullOptions.signal) kills the pipeline's session on the target (stopPull): closing
 * the SSH channel alone leaves sshd's children running to the end. zfs-fuse has no resume
 * tokens: an interrupted stream leaves the target at its last complete snapshot (or a
 * half-received tree with -R), which the next pull from the last common snapshot with
 * `recv -F` repairs.
 */

const SSH_USER = /^[a-z_][a-z0-9_.-]{0,31}$/i;
const DEFAULT_TRANSFER_TIMEOUT_MS = 12 * 3600_000;
/** pv prints the byte count this often (seconds). */
export const PV_INTERVAL = '0.5';

/**
 * ssh options that make the source's entry in Tandem's known_hosts file the only key trusted
 * for it. Given before the host (and a Host alias's settings): ssh keeps the first value of an
 * option, so the node's ssh_config cannot loosen them.
 */
export function pinnedHostKeyOptions(hostKeyAlias: string): string[] {
  const alias = assertHostKeyAlias(hostKeyAlias, 'source.hostKeyAlias');
  return [
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${TANDEM_KNOWN_HOSTS}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    `HostKeyAlias=${alias}`,
    '-o',
    'CheckHostIP=no',
    '-o',
    'UpdateHostKeys=no',
  ];
}

/** The `ssh …` prefix that reaches the source from the target node. */
export function sourceSshArgv(source: SourceSpec): string[] {
  const base = ['ssh', '-o', 'BatchMode=yes'];
  if (source.hostKeyAlias !== undefined && source.hostKeyAlias !== null)
    base.push(...pinnedHostKeyOptions(source.hostKeyAlias));
  if (source.alias) {
    return [...base, assertName('host', source.alias, 'source.alias')];
  }
  const host = assertName('host', source.host, 'source.host').replace(/^\[(.*)\]$/, '$1');
  if (!Number.isInteger(source.port) || source.port < 1 || source.port > 65535)
    throw AppError.invalid('source.port', '1–65535');
  if (!SSH_USER.test(source.user))
    throw AppError.invalid('source.user', `${JSON.stringify(source.user)} is not a valid user name`);
  return [...base, '-p', String(source.port), '-l', source.user, host];
}

/**
 * Runs the source's `zfs send` with SIGPIPE ignored. When a pull is cancelled the source's sshd
 * closes the send's stdout and stderr; zfs-fuse's `zfs send` then dies of SIGPIPE while printing
 * its "Broken pipe" warning, before it releases the temporary holds (`.send-<pid>-0`) it put on
 * the snapshots — they stay held ("dataset is busy" on destroy) until the pool is re-imported.
 * Ignoring SIGPIPE lets it clean up and exit. The script is constant; arguments pass as "$@".
 */
export const SEND_WRAPPER = ['bash', '-c', 'trap "" PIPE; exec "$@"', 'tandem-send'] as const;

/** Argument arrays of the three pipeline stages (validated). */
export function pullStages(opts: PullOptions): {
  send: string[];
  ssh: string[];
  pv: string[];
  recv: string[];
} {
  const to = assertSnapshotRef(opts.sourceDataset, opts.toSnapshot);
  const from = opts.fromSnapshot === null ? null : assertSnapshotRef(opts.sourceDataset, opts.fromSnapshot);
  assertName('zfsDataset', opts.targetDataset, 'targetDataset');
  const recursive = opts.recursive !== false;
  const send = ['zfs', 'send', recursive ? '-R' : '-p'];
  if (from) send.push(opts.intermediates === false ? '-i' : '-I', from);
  send.push(to);

  const pv = ['pv', '-n', '-b', '-i', PV_INTERVAL];
  const limit = opts.bandwidthLimitBytesPerSec;
  if (limit !== null) {
    if (!Number.isFinite(limit) || limit < 1024)
      throw AppError.invalid(
        'bandwidthLimitBytesPerSec',
        'at least 1024 bytes per second, or null for no limit',
      );
    pv.push('-L', String(Math.floor(limit)));
  }
  return {
    send,
    ssh: [...sourceSshArgv(opts.source), shellJoin([...SEND_WRAPPER, ...send])],
    pv,
    recv: ['zfs', 'recv', '-F', opts.targetDataset],
  };
}

/**
 * The argv the target node's runner executes: `bash -o pipefail -c '<pipeline>' <marker>`.
 * The marker becomes the shell's `$0`, visible in its command line, so that a cancel can find
 * the pipeline's session and end every process in it (see stopPull).
 */
export function pullArgv(opts: PullOptions, marker = 'tandem-pull'): string[] {
  const s = pullStages(opts);
  if (!/^tandem-pull(-[0-9a-f]+)?$/.test(marker)) throw AppError.invalid('marker', 'not a pull marker');
  return ['bash', '-o', 'pipefail', '-c', shellPipeline([s.ssh, s.pv, s.recv]), marker];
}

/**
 * Ends a running pull on the target node. Closing the SSH channel is not enough: sshd keeps the
 * session's processes (ssh, pv, zfs recv) running until they finish. The pipeline's shell leads
 * its own session (sshd starts every session with setsid), so the session is killed as a whole.
 */
export async function stopPull(runner: CommandRunner, marker: string): Promise<void> {
  const hex = /^tandem-pull-([0-9a-f]+)$/.exec(marker)?.[1];
  if (!hex) throw AppError.invalid('marker', 'not a pull marker');
  // `[t]` keeps the pattern from matching a shell that runs this very pgrep
  const found = await runner.run({
    argv: ['pgrep', '-f', `[t]andem-pull-${hex}$`],
    allowFailure: true,
    timeoutMs: 15_000,
  });
  for (const pid of found.stdout.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
    const sid = (
      await runner.run({ argv: ['ps', '-o', 'sid=', '-p', pid], allowFailure: true, timeoutMs: 15_000 })
    ).stdout.trim();
    if (/^\d+$/.test(sid) && sid !== '0' && sid !== '1') {
      await runner.run({ argv: ['pkill', '-KILL', '-s', sid], allowFailure: true, timeoutMs: 15_000 });
    }
  }
}

/** A `pv -n -b` progress line: the byte count so far, or null for any other stderr line. */
export function parsePvLine(line: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(line);
  return m ? Number(m[1]) : null;
}

/** Explains the failures an operator can fix. */
export function classifyPullError(e: CommandError, opts: PullOptions): AppError {
  const err = e.stderr;
  const src = opts.source.alias ?? `${opts.source.user}@${opts.source.host}:${opts.source.port}`;
  const base = { cause: e, details: e.details };
  if (
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(err)
  ) {
    const alias = opts.source.hostKeyAlias;
    return new AppError(
      'HOST_KEY_UNKNOWN',
      alias
        ? `${e.target} does not trust the host key of ${src}: it is not the key pinned for that node in Tandem (entry ${alias} of ${TANDEM_KNOWN_HOSTS} on ${e.target}, which Tandem writes from the pinned key before each sync); if the source node was reinstalled, confirm its new key on the Sites page`
        : `${e.target} does not trust the host key of ${src}: add it to the target node's known_hosts`,
      base,
    );
  }
  if (/Permission denied \(|Too many authentication failures/i.test(err)) {
    return new AppError(
      'AUTH_FAILED',
      `${e.target} cannot log in to ${src}: the source must accept the target node's SSH key`,
      base,
    );
  }
  if (
    /Could not resolve hostname|Connection refused|Connection timed out|No route to host|Network is unreachable/i.test(
      err,
    )
  ) {
    return new AppError(
      'UNREACHABLE',
      `${e.target} cannot reach ${src} over SSH: ${lastLine(err, /^ssh:/)}`,
      base,
    );
  }
  if (/pv: (command )?not found|bash: pv:|pv: No such file/i.test(err)) {
    return new AppError('PRECONDITION_FAILED', `pv is not installed on ${e.target}`, base);
  }
  if (/could not send .*does not exist|could not find any snapshots/i.test(err)) {
    return new AppError(
      'NOT_FOUND',
      `snapshot missing on the source ${src}: ${lastLine(err, /could not send/)}`,
      base,
    );
  }
  if (
    /cannot receive incremental stream|does not match incremental source|destination has snapshots|destination .* exists|has been modified|must destroy them/i.test(
      err,
    )
  ) {
    return new AppError(
      'CONFLICT',
      `the target ${opts.targetDataset} does not continue from ${opts.fromSnapshot ?? '(full send)'}: ${lastLine(err, /cannot receive/)}`,
      base,
    );
  }
  // Anything else: the pipeline's own error line, never pv's byte counts that share its stderr.
  return new AppError(
    e.code,
    `pulling ${opts.sourceDataset}@${opts.toSnapshot} into ${opts.targetDataset} on ${e.target} failed (exit ${e.exitCode ?? '?'}): ${lastLine(err, /cannot|error|failed|invalid|denied/i) || 'no error message'}`,
    base,
  );
}

/** The most telling stderr line: the last one matching `prefer`, else the last non-progress line. */
function lastLine(s: string, prefer?: RegExp): string {
  const lines = s
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && parsePvLine(l) === null);
  const pick = (prefer && lines.filter((l) => prefer.test(l)).pop()) || lines.pop() || '';
  return pick.slice(0, 300);
}

/** How long a cancelled pull may take to end before the channel itself is dropped. */
const CANCEL_GRACE_MS = 15_000;

/** Runs the pull pipeline on the target node's runner. */
export async function runPull(runner: CommandRunner, opts: PullOptions): Promise<TransferResult> {
  const marker = `tandem-pull-${crypto.randomBytes(8).toString('hex')}`;
  const argv = pullArgv(opts, marker);
  if (opts.signal?.aborted) throw new AppError('CANCELLED', 'transfer cancelled before it started');
  let bytes = 0;
  const started = Date.now();
  // The runner only sees `channel`: on cancel the remote session is killed first (stopPull), and
  // the channel is dropped only if that did not end the command.
  const channel = new AbortController();
  let grace: NodeJS.Timeout | undefined;
  const onAbort = () => {
    void stopPull(runner, marker)
      .catch(() => undefined)
      .finally(() => {
        grace = setTimeout(() => channel.abort(), CANCEL_GRACE_MS);
        grace.unref?.();
      });
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const cancelled = () =>
    new AppError('CANCELLED', `transfer to ${opts.targetDataset} on ${runner.target} was cancelled`);
  try {
    await runner.run({
      argv,
      signal: channel.signal,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TRANSFER_TIMEOUT_MS,
      onStderrLine: (line) => {
        const n = parsePvLine(line);
        if (n === null || n < bytes) return;
        bytes = n;
        opts.onProgress?.(n);
      },
    });
  } catch (e) {
    if (opts.signal?.aborted) throw cancelled();
    if (e instanceof CommandError) throw classifyPullError(e, opts);
    throw e;
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    if (grace) clearTimeout(grace);
  }
  return { bytes, seconds: (Date.now() - started) / 1000 };
}
