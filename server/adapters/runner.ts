import { AppError } from '../core/errors';

export interface CommandSpec {
  /** Program and arguments; never a shell string. */
  argv: readonly string[];
  stdin?: string | Buffer;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Called with each complete stderr line as it arrives (progress meters such as `pv -n`). */
  onStderrLine?: (line: string) => void;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
}

/** Where commands run: this machine, or one SSH host over a reused connection. */
export interface CommandRunner {
  /** Human-readable target, e.g. `local` or `root@10.0.0.5:22`. */
  readonly target: string;
  run(spec: CommandSpec): Promise<CommandResult>;
  close(): Promise<void>;
  /** SSH runners: the host key (wire form) the host presented, which matched the pinned fingerprint. */
  hostKey?(): Promise<Buffer>;
}

export const DEFAULT_TIMEOUT_MS = 120_000;

/** A command that ran and failed, with everything an operator needs to see why. */
export class CommandError extends AppError {
  readonly argv: readonly string[];
  readonly exitCode: number | null;
  readonly stderr: string;
  readonly target: string;

  constructor(opts: {
    argv: readonly string[];
    exitCode: number | null;
    stderr: string;
    target: string;
    message?: string;
  }) {
    const cmd = opts.argv.slice(0, 4).join(' ');
    const reason = opts.message ?? summarizeStderr(opts.stderr, opts.exitCode);
    super(classifyExit(opts.exitCode, opts.stderr), `${cmd} on ${opts.target}: ${reason}`, {
      details: {
        argv: opts.argv,
        exitCode: opts.exitCode,
        stderr: opts.stderr.slice(0, 4000),
        target: opts.target,
      },
    });
    this.name = 'CommandError';
    this.argv = opts.argv;
    this.exitCode = opts.exitCode;
    this.stderr = opts.stderr;
    this.target = opts.target;
  }
}

function classifyExit(code: number | null, _stderr: string): 'COMMAND_FAILED' | 'TIMEOUT' {
  return code === null ? 'TIMEOUT' : 'COMMAND_FAILED';
}

/**
 * The bookkeeping of one running command, the same for every runner: it gathers stdout and
 * stderr (stderr also line by line to `spec.onStderrLine`), stops the command when it runs past its
 * timeout (`onTimeout`) or when its signal aborts (`onAbort`), and, once the command has ended,
 * judges it: the result, or the error its run rejects with — CANCELLED when its signal aborted
 * (`cancelled` says what), a CommandError when it timed out or exited non-zero (unless
 * `allowFailure`).
 */
export function commandCollector(
  spec: CommandSpec,
  target: string,
  o: { onTimeout: () => void; onAbort: () => void; cancelled: string },
) {
  const started = Date.now();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const lines = spec.onStderrLine ? lineSplitter(spec.onStderrLine) : null;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    o.onTimeout();
  }, spec.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  spec.signal?.addEventListener('abort', o.onAbort, { once: true });
  const stopWatching = () => {
    clearTimeout(timer);
    spec.signal?.removeEventListener('abort', o.onAbort);
  };
  return {
    stdout: (d: Buffer) => void out.push(d),
    stderr: (d: Buffer) => {
      err.push(d);
      lines?.push(d.toString('utf8'));
    },
    /** The command never started: stop its timer and abort listener. */
    abandon: stopWatching,
    /** The command ended with `code` (null: killed by a signal): its result, or throws its error. */
    ended(code: number | null): CommandResult {
      stopWatching();
      lines?.flush();
      const result: CommandResult = {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        exitCode: code ?? -1,
        durationMs: Date.now() - started,
      };
      if (spec.signal?.aborted) throw new AppError('CANCELLED', o.cancelled);
      if (timedOut)
        throw new CommandError({
          argv: spec.argv,
          exitCode: null,
          stderr: result.stderr,
          target,
          message: `timed out after ${spec.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`,
        });
      if (result.exitCode !== 0 && !spec.allowFailure)
        throw new CommandError({ argv: spec.argv, exitCode: result.exitCode, stderr: result.stderr, target });
      return result;
    },
  };
}

export function summarizeStderr(stderr: string, exitCode: number | null): string {
  if (exitCode === 127 || /command not found|No such file or directory.*exec|not found$/m.test(stderr)) {
    return `command not found (exit ${exitCode ?? '?'}): ${lastLines(stderr)}`;
  }
  if (/permission denied|EACCES|Operation not permitted/i.test(stderr)) {
    return `permission denied: ${lastLines(stderr)}`;
  }
  const text = lastLines(stderr);
  return text ? `exit ${exitCode ?? '?'}: ${text}` : `exit ${exitCode ?? '?'}`;
}

function lastLines(s: string, n = 3): string {
  return s.trim().split('\n').filter(Boolean).slice(-n).join(' | ').slice(0, 600);
}

/** Splits a stream of chunks into lines, calling `fn` per complete line. */
export function lineSplitter(fn: (line: string) => void): { push(chunk: string): void; flush(): void } {
  let buf = '';
  return {
    push(chunk) {
      buf += chunk;
      let i: number;
      while ((i = buf.search(/[\r\n]/)) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line) fn(line);
      }
    },
    flush() {
      if (buf) fn(buf);
      buf = '';
    },
  };
}
