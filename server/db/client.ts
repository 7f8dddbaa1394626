import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export function dataDir(): string {
  return path.resolve(/*turbopackIgnore: true*/ process.env.TANDEM_DATA_DIR || './data');
}

function migrationsDir(): string {
  // Works from the source tree, from the Next.js server bundle and from Vitest alike.
  const candidates = [path.resolve(/*turbopackIgnore: true*/ process.cwd(), 'drizzle'), path.resolve(/*turbopackIgnore: true*/ __dirname, '../../drizzle')];
  const found = candidates.find((d) => fs.existsSync(path.join(d, 'meta', '_journal.json')));
  if (!found) throw new Error(`migrations not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Opens (and migrates) a database file; `:memory:` for tests. */
export function openDb(file: string): Db {
  if (file !== ':memory:') fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder: migrationsDir() });
  return db;
}
