import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A real Tandem server (the production build, `next start`) for tests that kill it: started with
 * an optional TANDEM_FAULT, followed until it exits, restarted on the same data directory. Without
 * demo sites unless `env` sets TANDEM_DEMO. Calls
 * go through its HTTP API like the browser's (tRPC with superjson, session cookie, Origin).
 */
const ROOT = path.resolve(__dirname, '../..');
const NEXT_BIN = path.join(ROOT, 'node_modules/next/dist/bin/next');

export class TandemServer {
  #proc: ChildProcess | null = null;
  #exited: Promise<number | string | null> | null = null;
  #cookie = '';
  #log = '';
  readonly base: string;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly password: string,
    readonly env: Record<string, string> = {},
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  get log(): string {
    return this.#log;
  }

  /** The server process's id (while it runs). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** Starts the server (with `faults` as TANDEM_FAULT) and waits until it answers. */
  async start(faults = ''): Promise<void> {
    const proc = this.spawn(faults);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`the server exited at start:\n${this.#log}`);
      try {
        const res = await fetch(`${this.base}/login`, { redirect: 'manual' });
        if (res.status < 500) return;
      } catch {
        /* not listening yet */
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`the server did not answer within 60 s:\n${this.#log}`);
  }

  /** Starts the server process without waiting for it to answer. */
  spawn(faults = ''): ChildProcess {
    if (!fs.existsSync(path.join(ROOT, '.next', 'BUILD_ID')))
      throw new Error('no production build: run `npx next build` first');
    this.#log = '';
    const proc = spawn(process.execPath, [NEXT_BIN, 'start', '-p', String(this.port), '-H', '127.0.0.1'], {
      cwd: ROOT,
      env: {
        ...process.env,
        TANDEM_DEMO: '0',
        ...this.env,
        TANDEM_DATA_DIR: this.dataDir,
        TANDEM_ADMIN_PASSWORD: this.password,
        TANDEM_FAULT: faults,
        NODE_ENV: 'production',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    proc.stdout!.on('data', (b: Buffer) => (this.#log += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (this.#log += b.toString()));
    this.#proc = proc;
    this.#exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve(signal ?? code)));
    return proc;
  }

  /** Sends a signal to the server process (SIGTERM: stopped as a service manager stops it). */
  signal(sig: NodeJS.Signals): void {
    this.#proc?.kill(sig);
  }

  /** Resolves with the exit signal or code once the process has gone (e.g. killed by a fault). */
  async exited(timeoutMs = 300_000): Promise<number | string | null> {
    if (!this.#exited) return null;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#exited,
        new Promise<never>(
          (_, rej) =>
            (timer = setTimeout(
              () =>
                rej(
                  new Error(
                    `the server is still running after ${timeoutMs / 1000} s:\n${this.#log.slice(-3000)}`,
                  ),
                ),
              timeoutMs,
            )),
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
    await this.#exited;
    clearTimeout(t);
  }

  /** One tRPC call; throws with the server's message. */
  async call<T = unknown>(
    proc: string,
    input?: unknown,
    type: 'query' | 'mutation' = 'mutation',
  ): Promise<T> {
    const url =
      `${this.base}/api/trpc/${proc}` +
      (type === 'query' ? `?input=${encodeURIComponent(JSON.stringify({ json: input ?? null }))}` : '');
    const res = await fetch(url, {
      method: type === 'query' ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', origin: this.base, cookie: this.#cookie },
      body: type === 'query' ? undefined : JSON.stringify({ json: input ?? null }),
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) this.#cookie = setCookie.split(';')[0]!;
    const body = (await res.json()) as {
      error?: { json?: { message?: string } };
      result?: { data: { json: T } };
    };
    if (body.error) throw new Error(`${proc}: ${body.error.json?.message ?? JSON.stringify(body.error)}`);
    return body.result!.data.json;
  }

  query<T = unknown>(proc: string, input?: unknown): Promise<T> {
    return this.call<T>(proc, input, 'query');
  }

  async login(): Promise<void> {
    await this.call('auth.login', { username: 'admin', password: this.password });
  }
}
