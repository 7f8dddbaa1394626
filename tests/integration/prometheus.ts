import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * A real Prometheus (Debian's `prometheus`) for the metrics tests: scrapes one Tandem server's
 * /api/metrics every second with a bearer token (from a file), loads the README's alerting rules,
 * keeps its store in a temporary directory and listens on loopback only.
 */
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN || '/usr/bin/prometheus';
export const RULES_FILE = path.resolve(__dirname, '../../docs/metrics/tandem.rules.yml');

export interface PromTarget {
  health: 'up' | 'down' | 'unknown';
  lastError: string;
  lastScrapeDuration: number;
  scrapeUrl: string;
}
export interface PromRule {
  name: string;
  health: string;
  lastError?: string;
  state: string;
  alerts: { labels: Record<string, string>; state: string }[];
}
export interface PromSeries {
  metric: Record<string, string>;
  value: [number, string];
}

export class Prometheus {
  #proc: ChildProcess | null = null;
  #log = '';

  constructor(
    readonly port: number,
    /** A directory of the test's own (config, token file, store). */
    readonly dir: string,
    /** The Tandem server scraped, `host:port`. */
    readonly target: string,
  ) {}

  get log(): string {
    return this.#log;
  }

  /** Writes the config (the token in a 0600 file), checks it with promtool and starts Prometheus. */
  start(token: string): void {
    if (!fs.existsSync(PROMETHEUS_BIN))
      throw new Error(`${PROMETHEUS_BIN} is missing: apt-get install prometheus`);
    const tokenFile = path.join(this.dir, 'tandem-token');
    fs.writeFileSync(tokenFile, token, { mode: 0o600 });
    const config = path.join(this.dir, 'prometheus.yml');
    fs.writeFileSync(
      config,
      [
        'global:',
        '  scrape_interval: 1s',
        '  scrape_timeout: 1s',
        '  evaluation_interval: 1s',
        'rule_files:',
        `  - ${RULES_FILE}`,
        'scrape_configs:',
        '  - job_name: tandem',
        '    metrics_path: /api/metrics',
        '    authorization:',
        '      type: Bearer',
        `      credentials_file: ${tokenFile}`,
        '    static_configs:',
        `      - targets: ['${this.target}']`,
        '',
      ].join('\n'),
    );
    const check = spawnSync('promtool', ['check', 'config', config], { encoding: 'utf8' });
    if (check.error === undefined && check.status !== 0)
      throw new Error(`promtool check config: ${check.stdout}${check.stderr}`);
    const proc = spawn(
      PROMETHEUS_BIN,
      [
        `--config.file=${config}`,
        `--storage.tsdb.path=${path.join(this.dir, 'tsdb')}`,
        `--web.listen-address=127.0.0.1:${this.port}`,
        '--log.level=warn',
      ],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    proc.stdout!.on('data', (b: Buffer) => (this.#log += b.toString()));
    proc.stderr!.on('data', (b: Buffer) => (this.#log += b.toString()));
    this.#proc = proc;
  }

  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }

  async api<T>(p: string): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${this.port}${p}`);
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${p}: ${body.error}`);
    return body.data;
  }

  /** The Tandem target, as Prometheus last scraped it. */
  async scraped(): Promise<PromTarget | undefined> {
    return (await this.api<{ activeTargets: PromTarget[] }>('/api/v1/targets')).activeTargets.find((t) =>
      t.scrapeUrl.includes(`${this.target}/api/metrics`),
    );
  }

  async rules(): Promise<PromRule[]> {
    return (await this.api<{ groups: { rules: PromRule[] }[] }>('/api/v1/rules')).groups.flatMap(
      (g) => g.rules,
    );
  }

  async query(q: string): Promise<PromSeries[]> {
    return (await this.api<{ result: PromSeries[] }>(`/api/v1/query?query=${encodeURIComponent(q)}`)).result;
  }
}

/** Polls `fn` until it returns a value (not undefined), or fails with what was last seen. */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 60_000,
  log: () => string = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const tail = log();
  throw new Error(
    `${what}: not seen within ${timeoutMs / 1000} s${last ? ` (last error: ${String(last)})` : ''}${tail ? `\nprometheus log:\n${tail.slice(-3000)}` : ''}`,
  );
}
