import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../core/errors';
import { DIR_MODE, withUmask } from './data-dir';

/**
 * One Tandem process per data directory. Two would each hold their own task locks and run their
 * own schedulers on one database: the same replica synced twice, a failover started by a process
 * about to exit, and a task of the old process marked interrupted while it still runs.
 *
 * The lock is an exclusive SQLite transaction on `tandem.lock`, held for the life of the process:
 * the operating system releases it when the process ends, however it ends (a crash, SIGKILL), so
 * a stale lock cannot stay behind. `tandem.pid` names the holder for the messages.
 */
export interface InstanceLock {
  readonly dir: string;
  release(): void;
}

const LOCK_FILE = 'tandem.lock';
const PID_FILE = 'tandem.pid';

/** The process id the holder wrote, if any (it may be stale once the lock is free). */
export function instanceHolder(dir: string): number | null {
  try {
    const pid = Number(fs.readFileSync(path.join(dir, PID_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Takes the lock now, or returns null when another process holds it. */
export function tryInstanceLock(dir: string): InstanceLock | null {
  fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
  const db = withUmask(0o077, () => new Database(path.join(dir, LOCK_FILE), { timeout: 0 }));
  try {
    db.exec('BEGIN EXCLUSIVE'); // never committed: held until release() or the process's end
  } catch (e) {
    db.close();
    if ((e as { code?: string }).code === 'SQLITE_BUSY') return null;
    throw e;
  }
  withUmask(0o077, () => fs.writeFileSync(path.join(dir, PID_FILE), `${process.pid}\n`, { mode: 0o600 }));
  let held = true;
  return {
    dir,
    release() {
      if (!held) return;
      held = false;
      if (instanceHolder(dir) === process.pid) fs.rmSync(path.join(dir, PID_FILE), { force: true });
      db.close();
    },
  };
}

/** Who holds `dir`, for a message. */
export function holderText(dir: string): string {
  const pid = instanceHolder(dir);
  return `another Tandem process${pid ? ` (pid ${pid})` : ''} is using ${dir}`;
}

/**
 * Takes the lock, waiting up to `waitMs` for the process that holds it to stop (a restart whose
 * old process is still finishing its last requests). Says once that it waits. Past `waitMs` it
 * throws CONFLICT naming the holder.
 */
export async function acquireInstanceLock(
  dir: string,
  opts: { waitMs: number; log?: (line: string) => void; pollMs?: number },
): Promise<InstanceLock> {
  const deadline = Date.now() + opts.waitMs;
  let told = false;
  for (;;) {
    const lock = tryInstanceLock(dir);
    if (lock) {
      if (told) opts.log?.(`the data directory ${dir} is free: starting`);
      return lock;
    }
    if (Date.now() >= deadline)
      throw new AppError(
        'CONFLICT',
        `${holderText(dir)}: stop it first, or give this one another TANDEM_DATA_DIR (waited ${Math.round(opts.waitMs / 1000)} s)`,
      );
    if (!told) {
      opts.log?.(`${holderText(dir)}: waiting for it to stop (up to ${Math.round(opts.waitMs / 1000)} s)`);
      told = true;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 250));
  }
}
