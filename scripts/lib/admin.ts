/**
 * Shared bits of the admin scripts (backup, restore, rotate-key): the data directory, a
 * passphrase from TANDEM_BACKUP_PASSPHRASE or typed without echo, and failures printed as one line.
 */
import fs from 'node:fs';
import path from 'node:path';
import { dataDir } from '../../server/db/client';
import { AppError } from '../../server/core/errors';

export function dataDirWithDatabase(): { dir: string; dbFile: string } {
  const dir = dataDir();
  const dbFile = path.join(dir, 'tandem.db');
  if (!fs.existsSync(dbFile))
    fail(`there is no Tandem database in ${dir} (set TANDEM_DATA_DIR to the data directory)`);
  return { dir, dbFile };
}

/** Reads a line from the terminal without echoing it. */
function ask(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    return Promise.reject(
      new AppError('INVALID_INPUT', 'no terminal to ask for the passphrase: set TANDEM_BACKUP_PASSPHRASE'),
    );
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let line = '';
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    const done = (err: Error | null) => {
      stdin.setRawMode(false);
      stdin.pause();
      stdin.removeListener('data', onData);
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(line);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new AppError('CANCELLED', 'cancelled'));
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch >= ' ') line += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** The backup passphrase: TANDEM_BACKUP_PASSPHRASE, else typed (twice when `confirm`). */
export async function backupPassphrase(confirm: boolean): Promise<string> {
  const env = process.env.TANDEM_BACKUP_PASSPHRASE;
  if (env) return env;
  const first = await ask('Backup passphrase: ');
  if (confirm && (await ask('Same passphrase again: ')) !== first)
    throw new AppError('INVALID_INPUT', 'the two passphrases differ');
  return first;
}

export function fail(message: string): never {
  process.stderr.write(`error: ${message}\n`);
  process.exit(1);
}

/** Runs a script's main, printing an AppError as its message and anything else with its stack. */
export function main(fn: () => Promise<void>): void {
  fn().catch((e: unknown) => {
    if (e instanceof AppError) fail(e.message);
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}

export const log = (line: string) => process.stderr.write(`${line}\n`);
