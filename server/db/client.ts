import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { ensurePrivateFile, withUmask } from './data-dir';
import * as schema from './schema';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export function dataDir(): string {
  return path.resolve(/*turbopackIgnore: true*/ process.env.TANDEM_DATA_DIR || './data');
}

function migrationsDir(): string {
  // Works from the source tree, from the Next.js server bundle and from Vitest alike.
  const candidates = [
    path.resolve(/*turbopackIgnore: true*/ process.cwd(), 'drizzle'),
    path.resolve(/*turbopackIgnore: true*/ __dirname, '../../drizzle'),
  ];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'meta', '_journal.json')));
  if (!found) throw new Error(`migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}

/**
 * Opens (and migrates) a database file; `:memory:` for tests. The file is created 0600 before
 * SQLite opens it (SQLite creates its -wal and -shm with the database file's mode), under a 077
 * umask for anything SQLite creates meanwhile.
 */
export function openDb(file: string): Db {
  let sqlite: Database.Database;
  if (file === ':memory:') sqlite = new Database(file);
  else {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    sqlite = withUmask(0o077, () => {
      ensurePrivateFile(file);
      return new Database(file);
    });
  }
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: migrationsDir() });
  return db;
}
