import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '@/server/app';
import { ManualClock } from '@/server/core/clock';

const mode = (f: string) => fs.statSync(f).mode & 0o777;

describe('data directory on disk', () => {
  let oldUmask: number;
  beforeAll(() => {
    oldUmask = process.umask(0o022);
  });
  afterAll(() => {
    process.umask(oldUmask);
  });

  it('creates the directory 0700 and every file in it 0600, SQLite -wal and -shm included', () => {
    const dir = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-modes-')), 'data');
    const app = createApp({
      dataDir: dir,
      clock: new ManualClock(Date.UTC(2026, 0, 1)),
      demoLatencyMs: 0,
      log: () => {},
    });
    app.history.record({ username: 'test', action: 'test.write', target: 'x', outcome: 'success' });
    expect(mode(dir)).toBe(0o700);
    for (const f of ['tandem.db', 'tandem.db-wal', 'tandem.db-shm', 'secret.key']) {
      expect(fs.existsSync(path.join(dir, f)), f).toBe(true);
      expect(mode(path.join(dir, f)).toString(8), f).toBe('600');
    }
    app.db.$client.close();
  });

  it('fixes the modes of an existing directory at start and says what it fixed', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-modes-'));
    const first = createApp({ dataDir: dir, demoLatencyMs: 0, log: () => {} });
    first.history.record({ username: 'test', action: 'test.write', target: 'x', outcome: 'success' });
    first.db.$client.close();
    fs.mkdirSync(path.join(dir, 'run'), { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'run', 'site-9.keyring'), '[client.x]\nkey = y\n', { mode: 0o644 });
    fs.chmodSync(dir, 0o755);
    fs.chmodSync(path.join(dir, 'run'), 0o755);
    for (const f of ['tandem.db', 'secret.key']) fs.chmodSync(path.join(dir, f), 0o644);
    const lines: string[] = [];
    const app = createApp({ dataDir: dir, demoLatencyMs: 0, log: (l) => lines.push(l) });
    expect(mode(dir)).toBe(0o700);
    expect(mode(path.join(dir, 'run'))).toBe(0o700);
    expect(mode(path.join(dir, 'tandem.db'))).toBe(0o600);
    expect(mode(path.join(dir, 'secret.key'))).toBe(0o600);
    const said = lines.join('\n');
    expect(said).toContain(`${dir} 0755 → 0700`);
    expect(said).toContain('tandem.db 0644 → 0600');
    expect(said).toContain('secret.key 0644 → 0600');
    expect(said).toContain('run 0755 → 0700');
    app.db.$client.close();
  });
});
