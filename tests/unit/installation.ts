import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { createApp, type App } from '@/server/app';
import { ManualClock } from '@/server/core/clock';
import { createCaller } from '@/server/trpc/root';
import { admin, ctxFor, operator } from './helpers';

/** Installations on disk for the backup, restore and rotation tests; every app opened is closed after each test. */
export const PASSPHRASE = 'a long backup passphrase for the tests';
export const PRIVATE_KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAtestkey\n-----END OPENSSH PRIVATE KEY-----\n';
export const KEYRING = '[client.admin]\n\tkey = AQBkZXZlbG9wZXItb25seS1rZXlyaW5nLWE=\n';

export const tmp = (p: string) => fs.mkdtempSync(path.join(os.tmpdir(), p));
export const quiet = { log: () => {}, secretKey: '', demoLatencyMs: 0 };
export const opened: App[] = [];
const timers: NodeJS.Timeout[] = [];

export function open(dir: string, extra: { secretKey?: string } = {}): App {
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const app = createApp({ ...quiet, ...extra, dataDir: dir, clock });
  timers.push(setInterval(() => clock.advance(2_000), 2));
  opened.push(app);
  return app;
}

afterEach(async () => {
  for (const t of timers.splice(0)) clearInterval(t);
  for (const app of opened.splice(0)) {
    await app.tasks.shutdown();
    if (app.db.$client.open) app.db.$client.close();
  }
});

/** The demo sites, a replica with its initial sync (a task, sync runs, history), two real sites with secrets, and many history rows. */
export async function installation(secretKey = ''): Promise<{ dir: App['dataDir']; app: App }> {
  const dir = tmp('tandem-backup-src-');
  const app = open(dir, { secretKey });
  app.demo.create();
  const op = createCaller(ctxFor(app, operator));
  const ad = createCaller(ctxFor(app, admin));
  const node = (name: string) => app.sites.byName(name)!.id;
  const r = await op.replicas.create({
    name: 'dr',
    vmName: 'web01',
    sourceSiteId: node('demo-node1'),
    targetSiteId: node('demo-node2'),
    rootZpool: 'zones',
    diskZpools: { vdb: 'data' },
    sleepTimeSec: 30,
    bandwidthLimit: null,
  });
  expect((await app.tasks.wait(r.taskId)).state).toBe('finished');
  await ad.sites.create({
    name: 'node-real',
    kind: 'node',
    config: { host: 'node-real.example', zpools: ['zones'] },
    secret: { privateKey: PRIVATE_KEY },
  });
  await ad.sites.create({
    name: 'ceph-real',
    kind: 'ceph',
    config: { access: 'local', siteName: 'real', confPath: '/etc/ceph/real.conf' },
    secret: { keyring: KEYRING },
  });
  app.db.transaction(() => {
    for (let i = 0; i < 3000; i++)
      app.history.record({
        username: 'filler',
        action: 'test.filler',
        target: `row-${i}`,
        params: { text: 'x'.repeat(200) },
        outcome: 'success',
      });
  });
  return { dir, app };
}
