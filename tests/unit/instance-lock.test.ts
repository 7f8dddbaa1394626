import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '@/server/core/errors';
import {
  acquireInstanceLock,
  instanceHolder,
  tryInstanceLock,
  type InstanceLock,
} from '@/server/db/instance-lock';

const dirs: string[] = [];
const locks: InstanceLock[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-lock-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const l of locks.splice(0)) l.release();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('one Tandem process per data directory', () => {
  it('a second holder is refused while the first holds the directory, and served once it lets go', () => {
    const dir = tmpDir();
    const first = tryInstanceLock(dir)!;
    locks.push(first);
    expect(first).not.toBeNull();
    expect(instanceHolder(dir)).toBe(process.pid);
    expect(tryInstanceLock(dir)).toBeNull();
    // Another directory is another installation.
    const other = tryInstanceLock(tmpDir());
    expect(other).not.toBeNull();
    locks.push(other!);
    first.release();
    expect(instanceHolder(dir)).toBeNull();
    const second = tryInstanceLock(dir);
    expect(second).not.toBeNull();
    locks.push(second!);
    // The lock file and the holder's pid are for this user only.
    expect(fs.statSync(path.join(dir, 'tandem.lock')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, 'tandem.pid')).mode & 0o777).toBe(0o600);
  });

  it('waits for the holder to stop, saying so once', async () => {
    const dir = tmpDir();
    const first = tryInstanceLock(dir)!;
    const lines: string[] = [];
    const waiting = acquireInstanceLock(dir, { waitMs: 10_000, pollMs: 20, log: (l) => lines.push(l) });
    await new Promise((r) => setTimeout(r, 200));
    expect(lines).toEqual([
      `another Tandem process (pid ${process.pid}) is using ${dir}: waiting for it to stop (up to 10 s)`,
    ]);
    first.release();
    const lock = await waiting;
    locks.push(lock);
    expect(lines[1]).toBe(`the data directory ${dir} is free: starting`);
    expect(tryInstanceLock(dir)).toBeNull();
  });

  it('gives up after its wait with CONFLICT naming the holder', async () => {
    const dir = tmpDir();
    locks.push(tryInstanceLock(dir)!);
    const err = await acquireInstanceLock(dir, { waitMs: 100, pollMs: 20 }).catch((e: unknown) => e);
    expect(AppError.is(err, 'CONFLICT')).toBe(true);
    expect((err as Error).message).toBe(
      `another Tandem process (pid ${process.pid}) is using ${dir}: stop it first, or give this one another TANDEM_DATA_DIR (waited 0 s)`,
    );
  });
});
