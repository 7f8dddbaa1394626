import crypto from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { AppError } from '../core/errors';
import { shellJoin } from './quote';
import { commandCollector, type CommandResult, type CommandRunner, type CommandSpec } from './runner';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  /** Pinned host key fingerprint `SHA256:…`. Without one the connection is refused (HOST_KEY_UNKNOWN). */
  hostKeySha256?: string | null;
}

export function fingerprintOf(rawKey: Buffer): string {
  return 'SHA256:' + crypto.createHash('sha256').update(rawKey).digest('base64').replace(/=+$/, '');
}

const MAX_CHANNELS_PER_CONNECTION = 8;
const IDLE_CLOSE_MS = 5 * 60_000;

interface PooledConnection {
  client: Client;
  ready: Promise<Client>;
  /** The host key the server presented (wire form), once it matched the pinned fingerprint. */
  hostKey: Buffer | null;
  active: number;
  waiters: (() => void)[];
  idleTimer: NodeJS.Timeout | null;
  closed: boolean;
}

function connectionKey(t: SshTarget): string {
  return `${t.username}@${t.host}:${t.port}#${t.hostKeySha256 ?? ''}#${crypto.createHash('sha256').update(t.privateKey).digest('hex').slice(0, 16)}`;
}

/**
 * One reused SSH connection per host (keyed by user, host, port, pinned key and credential),
 * with keepalives, TCP_NODELAY, a bound on concurrent channels and an idle close.
 */
export class SshPool {
  readonly #conns = new Map<string, PooledConnection>();

  runner(target: SshTarget): SshRunner {
    return new SshRunner(this, target);
  }

  async acquire(target: SshTarget): Promise<{ client: Client; hostKey: Buffer; release: () => void }> {
    const key = connectionKey(target);
    let conn = this.#conns.get(key);
    if (!conn || conn.closed) {
      conn = this.#open(key, target);
      this.#conns.set(key, conn);
    }
    const c = conn;
    try {
      await c.ready;
    } catch (e) {
      if (this.#conns.get(key) === c) this.#conns.delete(key);
      throw e;
    }
    while (c.active >= MAX_CHANNELS_PER_CONNECTION) await new Promise<void>((r) => c.waiters.push(r));
    c.active++;
    if (c.idleTimer) clearTimeout(c.idleTimer);
    c.idleTimer = null;
    let released = false;
    return {
      client: c.client,
      hostKey: c.hostKey!,
      release: () => {
        if (released) return;
        released = true;
        c.active--;
        c.waiters.shift()?.();
        if (c.active === 0 && !c.closed) {
          c.idleTimer = setTimeout(() => {
            c.closed = true;
            c.client.end();
            if (this.#conns.get(key) === c) this.#conns.delete(key);
          }, IDLE_CLOSE_MS);
          c.idleTimer.unref();
        }
      },
    };
  }

  #open(key: string, target: SshTarget): PooledConnection {
    const client = new Client();
    let seenFingerprint: string | null = null;
    const conn: PooledConnection = {
      client,
      ready: null as unknown as Promise<Client>,
      hostKey: null,
      active: 0,
      waiters: [],
      idleTimer: null,
      closed: false,
    };
    conn.ready = new Promise<Client>((resolve, reject) => {
      const where = `${target.host}:${target.port}`;
      const cfg: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.username,
        readyTimeout: 10_000,
        keepaliveInterval: 15_000,
        keepaliveCountMax: 3,
        hostVerifier: (rawKey: Buffer) => {
          seenFingerprint = fingerprintOf(rawKey);
          const ok = !!target.hostKeySha256 && seenFingerprint === target.hostKeySha256;
          if (ok) conn.hostKey = Buffer.from(rawKey);
          return ok;
        },
      };
      try {
        cfg.privateKey = target.privateKey;
      } catch {
        /* set below */
      }
      client.on('ready', () => resolve(client));
      client.on('error', (err: Error & { code?: string; level?: string }) => {
        conn.closed = true;
        reject(classifyConnectError(err, where, target, seenFingerprint));
      });
      client.on('close', () => {
        conn.closed = true;
        if (this.#conns.get(key) === conn) this.#conns.delete(key);
        reject(new AppError('UNREACHABLE', `SSH connection to ${where} closed`));
      });
      try {
        client.connect(cfg);
        // Every command is a few small packets answered by the server (channel open, exec
        // request, EOF, close): with Nagle's algorithm each exchange also waits for the server's
        // delayed ACK (~40 ms on Linux), about 85 ms per command.
        client.setNoDelay(true);
      } catch (err) {
        conn.closed = true;
        reject(
          /privateKey|parse/i.test(String(err))
            ? new AppError(
                'INVALID_INPUT',
                `private key for ${where} cannot be read: ${(err as Error).message}`,
                {
                  fields: [
                    { field: 'privateKey', message: 'not a valid unencrypted OpenSSH or PEM private key' },
                  ],
                },
              )
            : err,
        );
      }
    });
    conn.ready.catch(() => {});
    return conn;
  }

  async closeAll(): Promise<void> {
    for (const c of this.#conns.values()) {
      c.closed = true;
      if (c.idleTimer) clearTimeout(c.idleTimer);
      c.client.end();
    }
    this.#conns.clear();
  }
}

function classifyConnectError(
  err: Error & { code?: string; level?: string },
  where: string,
  target: SshTarget,
  seen: string | null,
): AppError {
  const msg = err.message ?? String(err);
  if (
    /host key verification failed|Host denied/i.test(msg) ||
    (seen && target.hostKeySha256 && seen !== target.hostKeySha256)
  ) {
    if (!target.hostKeySha256) {
      return new AppError(
        'HOST_KEY_UNKNOWN',
        `host key of ${where} is not pinned yet: it presents ${seen}; confirm it to continue`,
        {
          details: { presented: seen },
        },
      );
    }
    return new AppError(
      'HOST_KEY_MISMATCH',
      `host key of ${where} does not match the pinned key: expected ${target.hostKeySha256}, got ${seen}. Someone may be intercepting the connection, or the host was reinstalled.`,
      { details: { expected: target.hostKeySha256, presented: seen } },
    );
  }
  switch (err.code) {
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new AppError('UNREACHABLE', `DNS lookup of ${target.host} failed (${err.code})`, {
        details: { stage: 'dns' },
      });
    case 'ECONNREFUSED':
      return new AppError('UNREACHABLE', `connection refused by ${where} (is sshd running on that port?)`, {
        details: { stage: 'connect' },
      });
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new AppError('UNREACHABLE', `no route to ${where} (${err.code})`, {
        details: { stage: 'connect' },
      });
    case 'ETIMEDOUT':
      return new AppError('UNREACHABLE', `connection to ${where} timed out`, {
        details: { stage: 'connect' },
      });
    case 'ECONNRESET':
      return new AppError('UNREACHABLE', `connection to ${where} was reset`, {
        details: { stage: 'connect' },
      });
  }
  if (err.level === 'client-authentication') {
    return new AppError(
      'AUTH_FAILED',
      `authentication as ${target.username} on ${where} failed: the server refused the private key`,
      {
        details: { stage: 'auth' },
      },
    );
  }
  if (err.level === 'client-timeout' || /Timed out while waiting for handshake/i.test(msg)) {
    return new AppError('UNREACHABLE', `SSH handshake with ${where} timed out`, {
      details: { stage: 'handshake' },
    });
  }
  if (/privateKey|Cannot parse/i.test(msg)) {
    return new AppError('INVALID_INPUT', `private key for ${where} cannot be read: ${msg}`, {
      fields: [{ field: 'privateKey', message: 'not a valid unencrypted OpenSSH or PEM private key' }],
    });
  }
  return new AppError('UNREACHABLE', `SSH to ${where} failed: ${msg}`);
}

/** Runs argument arrays on one SSH host; the single exec string is built with shellJoin. */
export class SshRunner implements CommandRunner {
  readonly target: string;

  constructor(
    private readonly pool: SshPool,
    private readonly ssh: SshTarget,
  ) {
    this.target = `${ssh.username}@${ssh.host}:${ssh.port}`;
  }

  async run(spec: CommandSpec): Promise<CommandResult> {
    const command = shellJoin(spec.argv);
    const { client, release } = await this.pool.acquire(this.ssh);
    try {
      return await new Promise<CommandResult>((resolve, reject) => {
        client.exec(command, (err, stream: ClientChannel) => {
          if (err)
            return reject(
              new AppError('UNREACHABLE', `cannot open a channel on ${this.target}: ${err.message}`),
            );
          const stop = () => {
            try {
              stream.signal('KILL');
            } catch {
              /* not supported by every server */
            }
            stream.close();
          };
          const run = commandCollector(spec, this.target, {
            onTimeout: stop,
            onAbort: stop,
            cancelled: `${spec.argv[0]} on ${this.target} was cancelled`,
          });
          stream.on('data', run.stdout);
          stream.stderr.on('data', run.stderr);
          stream.on('close', (code: number | null) => {
            try {
              resolve(run.ended(code));
            } catch (e) {
              reject(e);
            }
          });
          if (spec.stdin !== undefined) stream.end(spec.stdin);
          else stream.end();
        });
      });
    } finally {
      release();
    }
  }

  /** The host key this host presented (wire form): the pinned one, or the connection fails. */
  async hostKey(): Promise<Buffer> {
    const { hostKey, release } = await this.pool.acquire(this.ssh);
    release();
    return hostKey;
  }

  async close(): Promise<void> {}
}

/** Connects once without a pinned key to learn the fingerprint the host presents. */
export function probeHostKey(host: string, port: number, timeoutMs = 8000): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let done = false;
    const finish = (fn: () => void) => {
      if (done) return;
      done = true;
      client.end();
      fn();
    };
    client.on('error', (err: Error & { code?: string }) => {
      finish(() =>
        reject(
          err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
            ? new AppError('UNREACHABLE', `DNS lookup of ${host} failed (${err.code})`)
            : err.code === 'ECONNREFUSED'
              ? new AppError(
                  'UNREACHABLE',
                  `connection refused by ${host}:${port} (is sshd running on that port?)`,
                )
              : new AppError('UNREACHABLE', `cannot reach ${host}:${port}: ${err.message}`),
        ),
      );
    });
    client.connect({
      host,
      port,
      username: 'probe',
      readyTimeout: timeoutMs,
      hostVerifier: (key: Buffer) => {
        const fp = fingerprintOf(key);
        finish(() => resolve(fp));
        return false;
      },
    });
  });
}
