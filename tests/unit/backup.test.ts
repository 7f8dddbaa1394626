import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { type App } from '@/server/app';
import { history } from '@/server/db/schema';
import { tryInstanceLock } from '@/server/db/instance-lock';
import { readBackup, restoreBackup, writeBackup } from '@/server/domain/backup';
import { installation, KEYRING, open, PASSPHRASE, PRIVATE_KEY, tmp } from './installation';

function snapshot(app: App) {
  return {
    sites: app.sites.list().map((s) => ({
      name: s.name,
      kind: s.kind,
      config: s.config,
      hasPrivateKey: s.hasPrivateKey,
      hasKeyring: s.hasKeyring,
      secretError: s.secretError,
    })),
    replicas: app.replicas
      .list()
      .map((r) => ({ id: r.id, name: r.name, state: r.state, lastSnapshot: r.lastSnapshot })),
    tasks: app.tasks.list({ limit: 200 }).map((t) => ({ id: t.id, kind: t.kind, state: t.state })),
  };
}

describe('backup and restore', () => {
  it('backs up online while history is written, and a restore into a fresh directory has every site, replica, task and history row', async () => {
    const { app } = await installation();
    const file = path.join(tmp('tandem-backup-out-'), 'tandem.backup');
    const before = app.db.select({ id: history.id }).from(history).all().length;

    // A writer that keeps adding history rows between the steps of the backup.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        app.history.record({
          username: 'writer',
          action: 'test.during-backup',
          target: `w-${written}`,
          outcome: 'success',
        });
        written++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    const summary = await writeBackup({
      db: app.db,
      keys: app.keys,
      passphrase: PASSPHRASE,
      file,
      pagesPerStep: 8,
    });
    writing = false;
    await writer;
    expect(written).toBeGreaterThan(0);
    expect(summary.steps).toBeGreaterThan(1);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);

    // Nothing readable in the archive without the passphrase.
    const text = fs.readFileSync(file, 'utf8');
    for (const leak of ['OPENSSH', 'client.admin', 'test.filler', 'demo-node1', 'SQLite format'])
      expect(text).not.toContain(leak);
    expect(JSON.parse(text)).toMatchObject({ format: 'tandem-backup', version: 1 });
    expect(readBackup(file).keyId).toBe(app.keys.keyId);

    const expected = snapshot(app);
    const target = path.join(tmp('tandem-backup-dst-'), 'data');
    const restored = await restoreBackup({ file, dataDir: target, passphrase: PASSPHRASE, env: '' });
    expect(restored.secrets).toBe(2);
    expect(fs.statSync(target).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(target, 'secret.key')).mode & 0o777).toBe(0o600);

    const copy = open(target);
    expect(snapshot(copy)).toEqual(expected);
    expect(copy.sites.spec(copy.sites.byName('node-real')!.id).secret.privateKey).toBe(PRIVATE_KEY);
    expect(copy.sites.spec(copy.sites.byName('ceph-real')!.id).secret.keyring).toBe(KEYRING);
    expect(copy.replicas.syncRuns(expected.replicas[0]!.id).length).toBeGreaterThan(0);
    // A consistent copy: every history row up to the newest one it has, nothing torn.
    const ids = copy.db
      .select({ id: history.id })
      .from(history)
      .all()
      .map((r) => r.id);
    expect(ids.length).toBeGreaterThanOrEqual(before);
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    expect(copy.db.$client.pragma('integrity_check', { simple: true })).toBe('ok');
    const original = new Map(
      app.db
        .select()
        .from(history)
        .all()
        .map((r) => [r.id, r]),
    );
    for (const row of copy.db.select().from(history).all()) expect(row).toEqual(original.get(row.id));
  });

  it('refuses a wrong passphrase with a clear message, and leaves the directory as it was', async () => {
    const { app } = await installation();
    const file = path.join(tmp('tandem-backup-out-'), 'tandem.backup');
    await writeBackup({ db: app.db, keys: app.keys, passphrase: PASSPHRASE, file });
    const target = path.join(tmp('tandem-backup-dst-'), 'data');
    await expect(
      restoreBackup({ file, dataDir: target, passphrase: 'not the passphrase at all', env: '' }),
    ).rejects.toThrow('the passphrase does not open this backup (wrong passphrase, or the file was changed)');
    expect(fs.existsSync(target) ? fs.readdirSync(target) : []).toEqual([]);
    // A changed archive is refused the same way.
    const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
    doc.createdAt = '2020-01-01T00:00:00.000Z';
    fs.writeFileSync(file + '.changed', JSON.stringify(doc));
    await expect(
      restoreBackup({ file: file + '.changed', dataDir: target, passphrase: PASSPHRASE, env: '' }),
    ).rejects.toThrow(/does not open this backup/);
    fs.writeFileSync(file + '.junk', '{"hello": 1}');
    await expect(
      restoreBackup({ file: file + '.junk', dataDir: target, passphrase: PASSPHRASE, env: '' }),
    ).rejects.toThrow(/is not a Tandem backup/);
  });

  it('refuses to overwrite a non-empty data directory without force, or while Tandem runs on it', async () => {
    const { dir, app } = await installation();
    const file = path.join(tmp('tandem-backup-out-'), 'tandem.backup');
    await writeBackup({ db: app.db, keys: app.keys, passphrase: PASSPHRASE, file });
    const target = tmp('tandem-backup-dst-');
    fs.writeFileSync(path.join(target, 'tandem.db'), 'something else');
    await expect(restoreBackup({ file, dataDir: target, passphrase: PASSPHRASE, env: '' })).rejects.toThrow(
      /is not empty .*--force/,
    );
    expect(fs.readFileSync(path.join(target, 'tandem.db'), 'utf8')).toBe('something else');
    // Not even with force while a Tandem process holds the directory.
    const running = tryInstanceLock(target)!;
    await expect(
      restoreBackup({ file, dataDir: target, passphrase: PASSPHRASE, env: '', force: true }),
    ).rejects.toThrow(
      `another Tandem process (pid ${process.pid}) is using ${target}: stop it, then restore`,
    );
    expect(fs.readFileSync(path.join(target, 'tandem.db'), 'utf8')).toBe('something else');
    running.release();
    await restoreBackup({ file, dataDir: target, passphrase: PASSPHRASE, env: '', force: true });
    expect(
      open(target)
        .sites.list()
        .map((s) => s.name)
        .sort(),
    ).toEqual(
      app.sites
        .list()
        .map((s) => s.name)
        .sort(),
    );
    expect(dir).not.toBe(target);
  });

  it('restores an installation whose key is a passphrase in TANDEM_SECRET_KEY, and warns when the environment holds another key', async () => {
    const pass = 'the console passphrase of the admin';
    const { app } = await installation(pass);
    const file = path.join(tmp('tandem-backup-out-'), 'tandem.backup');
    await writeBackup({ db: app.db, keys: app.keys, passphrase: PASSPHRASE, file });
    const target = path.join(tmp('tandem-backup-dst-'), 'data');
    const r = await restoreBackup({
      file,
      dataDir: target,
      passphrase: PASSPHRASE,
      env: 'another passphrase entirely',
    });
    expect(r.warnings.join('\n')).toMatch(/TANDEM_SECRET_KEY is set to another key than the backup's/);
    // With the same passphrase, or with none (the restored secret.key), every secret reads.
    for (const secretKey of [pass, '']) {
      const copy = open(target, { secretKey });
      expect(copy.sites.list().every((s) => s.secretError === null)).toBe(true);
      expect(copy.sites.spec(copy.sites.byName('node-real')!.id).secret.privateKey).toBe(PRIVATE_KEY);
      await copy.tasks.shutdown();
      copy.db.$client.close();
    }
  });
});
