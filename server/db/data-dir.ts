import fs from 'node:fs';
import path from 'node:path';

/** Modes of everything Tandem keeps in its data directory: only the user it runs as may read it. */
export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

const octal = (m: number) => (m & 0o777).toString(8).padStart(4, '0');

/**
 * Creates the data directory 0700, or tightens an existing one: the directory and its
 * subdirectories to 0700, every file in them to 0600 (the database, its -wal and -shm, the key
 * file, the keyrings in `run/`). Symbolic links are left alone. Returns what it changed, as
 * `<path> 0755 → 0700` (paths inside the directory relative to it), and logs one line if anything
 * was changed.
 */
export function secureDataDir(dir: string, log: (line: string) => void = console.warn): string[] {
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
    fs.chmodSync(dir, DIR_MODE);
    return [];
  }
  const fixed: string[] = [];
  const tighten = (p: string, want: number, label: string) => {
    const st = fs.lstatSync(p);
    if (st.isSymbolicLink()) return;
    if ((st.mode & 0o777) !== want) {
      fs.chmodSync(p, want);
      fixed.push(`${label} ${octal(st.mode)} → ${octal(want)}`);
    }
  };
  const walk = (d: string, rel: string, depth: number) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      const label = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) {
        tighten(p, DIR_MODE, label);
        if (depth < 4) walk(p, label, depth + 1);
      } else if (entry.isFile()) tighten(p, FILE_MODE, label);
    }
  };
  tighten(dir, DIR_MODE, dir);
  walk(dir, '', 0);
  if (fixed.length) log(`[tandem] tightened the modes in the data directory ${dir}: ${fixed.join(', ')}`);
  return fixed;
}

/** Runs `fn` under a umask (restored after it); where the umask cannot be set (a worker thread), just runs it. */
export function withUmask<T>(mask: number, fn: () => T): T {
  let old: number | undefined;
  try {
    old = process.umask(mask);
  } catch {
    old = undefined;
  }
  try {
    return fn();
  } finally {
    if (old !== undefined) process.umask(old);
  }
}

/**
 * Creates an empty file 0600 if it is missing (SQLite gives its -wal, -shm and -journal files the
 * mode of the database file), and tightens an existing one.
 */
export function ensurePrivateFile(file: string): void {
  try {
    fs.writeFileSync(file, '', { mode: FILE_MODE, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  if ((fs.statSync(file).mode & 0o077) !== 0) fs.chmodSync(file, FILE_MODE);
}

/** Writes a file 0600 atomically: a temporary file in the same directory, fsync, rename, fsync of the directory. */
export function writePrivateFileAtomic(file: string, data: string | Buffer): void {
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}`;
  const fd = fs.openSync(tmp, 'wx', FILE_MODE);
  let written = false;
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    fs.fchmodSync(fd, FILE_MODE);
    fs.fsyncSync(fd);
    written = true;
  } finally {
    fs.closeSync(fd);
    if (!written) fs.rmSync(tmp, { force: true });
  }
  fs.renameSync(tmp, file);
  syncDir(path.dirname(file));
}

/** fsync of a directory, so that a rename in it survives a power loss (a no-op where not supported). */
export function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // some file systems refuse fsync on a directory
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
