import { spawn } from 'node:child_process';
import { childEnv, type Env } from './child-env';
import {
  commandOutcome,
  CommandError,
  DEFAULT_TIMEOUT_MS,
  lineSplitter,
  type CommandResult,
  type CommandRunner,
  type CommandSpec,
} from './runner';

/**
 * Runs argument arrays on this machine with no shell in between, in an environment reduced to
 * an allow-list (`childEnv`): no secret of Tandem's own environment reaches a child.
 */
export class LocalRunner implements CommandRunner {
  readonly target = 'local';
  private readonly env: Env;

  constructor(env: Env = process.env) {
    this.env = env;
  }

  run(spec: CommandSpec): Promise<CommandResult> {
    const [file, ...args] = spec.argv;
    if (!file) return Promise.reject(new Error('empty command'));
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        env: childEnv(this.env) as NodeJS.ProcessEnv,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      const lines = spec.onStderrLine ? lineSplitter(spec.onStderrLine) : null;
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, spec.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const onAbort = () => child.kill('SIGTERM');
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => {
        err.push(d);
        lines?.push(d.toString('utf8'));
      });
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
        if (e.code === 'ENOENT') {
          reject(
            new CommandError({
              argv: spec.argv,
              exitCode: 127,
              stderr: `${file}: command not found`,
              target: this.target,
            }),
          );
        } else reject(e);
      });
      child.on('close', (code) => {
        clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
        lines?.flush();
        try {
          resolve(
            commandOutcome(spec, this.target, {
              out,
              err,
              code,
              started,
              timedOut,
              cancelled: `${file} was cancelled`,
            }),
          );
        } catch (e) {
          reject(e);
        }
      });
      child.stdin.on('error', () => {});
      if (spec.stdin !== undefined) child.stdin.end(spec.stdin);
      else child.stdin.end();
    });
  }

  async close(): Promise<void> {}
}
