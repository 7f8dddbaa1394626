import { spawn } from 'node:child_process';
import { childEnv, type Env } from './child-env';
import {
  commandCollector,
  CommandError,
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
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, {
        env: childEnv(this.env) as NodeJS.ProcessEnv,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const run = commandCollector(spec, this.target, {
        onTimeout: () => child.kill('SIGKILL'),
        onAbort: () => child.kill('SIGTERM'),
        cancelled: `${file} was cancelled`,
      });
      child.stdout.on('data', run.stdout);
      child.stderr.on('data', run.stderr);
      child.on('error', (e: NodeJS.ErrnoException) => {
        run.abandon();
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
        try {
          resolve(run.ended(code));
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
