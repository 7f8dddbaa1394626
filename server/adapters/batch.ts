import crypto from 'node:crypto';
import { AppError } from '../core/errors';
import { CommandError, type CommandRunner } from './runner';

/*
 * Several commands in one round trip: `bash -c BATCH_SCRIPT tandem-batch <nonce> <stop> <n1>
 * <argv1…> <n2> <argv2…> …`. The script is constant; every command stays an argument array
 * (the runner quotes each argument), run one after the other with stdin closed. After each
 * command the script prints `\n<nonce> <exit code>\n` on stdout and `\n<nonce>\n` on stderr,
 * so each command's own output is returned exactly; the nonce is random per call, so no output
 * can fake a boundary. With `stop` = 1 the script ends at the first command that fails.
 */
export const BATCH_SCRIPT = [
  'n=$1; stop=$2; shift 2',
  'while [ $# -gt 0 ]; do',
  '  c=$1; shift',
  '  "${@:1:c}" </dev/null',
  '  rc=$?',
  '  shift "$c"',
  '  printf \'\\n%s %s\\n\' "$n" "$rc"',
  '  printf \'\\n%s\\n\' "$n" >&2',
  '  if [ "$stop" = 1 ] && [ "$rc" != 0 ]; then break; fi',
  'done',
  'exit 0',
].join('\n');

export interface BatchResult {
  argv: readonly string[];
  stdout: string;
  stderr: string;
  exitCode: number;
}

export function batchArgv(
  commands: readonly (readonly string[])[],
  nonce: string,
  stopOnError: boolean,
): string[] {
  const argv = ['bash', '-c', BATCH_SCRIPT, 'tandem-batch', nonce, stopOnError ? '1' : '0'];
  for (const c of commands) {
    if (c.length === 0) throw new Error('empty command in a batch');
    argv.push(String(c.length), ...c);
  }
  return argv;
}

/** Splits the batch's output into one result per command that ran. */
export function parseBatch(
  commands: readonly (readonly string[])[],
  nonce: string,
  stdout: string,
  stderr: string,
): BatchResult[] {
  const outMarker = new RegExp(`\\n${nonce} (\\d+)\\n`, 'g');
  const results: BatchResult[] = [];
  let from = 0;
  for (let m = outMarker.exec(stdout); m; m = outMarker.exec(stdout)) {
    results.push({
      argv: commands[results.length] ?? [],
      stdout: stdout.slice(from, m.index),
      stderr: '',
      exitCode: Number(m[1]),
    });
    from = m.index + m[0].length;
  }
  const errs = stderr.split(`\n${nonce}\n`);
  results.forEach((r, i) => (r.stderr = errs[i] ?? ''));
  return results.slice(0, commands.length);
}

/**
 * Runs `commands` in order in one remote call and returns one result per command that ran (all
 * of them, unless `stopOnError` ended the batch at a failure: that one is the last result).
 */
export async function runBatch(
  runner: CommandRunner,
  commands: readonly (readonly string[])[],
  opts: { stopOnError?: boolean; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<BatchResult[]> {
  if (commands.length === 0) return [];
  const nonce = `tandem-batch-${crypto.randomBytes(12).toString('hex')}`;
  const argv = batchArgv(commands, nonce, !!opts.stopOnError);
  const r = await runner.run({ argv, timeoutMs: opts.timeoutMs, signal: opts.signal, allowFailure: true });
  const results = parseBatch(commands, nonce, r.stdout, r.stderr);
  const complete = results.length === commands.length || (opts.stopOnError && results.at(-1)?.exitCode !== 0);
  if (r.exitCode !== 0 || !complete) {
    throw new CommandError({
      argv,
      exitCode: r.exitCode,
      stderr: r.stderr,
      target: runner.target,
      message: `a batch of ${commands.length} commands ended after ${results.length}`,
    });
  }
  return results;
}

/** The failure of one command of a batch, as if it had been run alone. */
export function batchError(r: BatchResult, target: string): CommandError {
  if (r.exitCode === 0) throw new AppError('INTERNAL', 'not a failed command');
  return new CommandError({ argv: r.argv, exitCode: r.exitCode, stderr: r.stderr, target });
}
