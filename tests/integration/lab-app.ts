import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import { createApp, type App } from '@/server/app';
import type { SessionUser } from '@/server/domain/auth';
import { createCaller } from '@/server/trpc/root';
import type { Context } from '@/server/trpc/init';
import type { Lab } from './lab';

/** The API as an admin of `app` calls it (no session, no HTTP). */
export function adminCaller(app: App): ReturnType<typeof createCaller> {
  const admin: SessionUser = { id: 1, username: 'it-admin', role: 'admin' };
  const ctx: Context = {
    app,
    user: admin,
    sessionError: null,
    token: undefined,
    origin: 'http://it',
    host: 'it',
    secure: false,
    clientKey: 'it',
    resHeaders: new Headers(),
  };
  return createCaller(ctx);
}

/**
 * A Tandem app (no scheduler) with every lab node registered as a site through the API and its
 * host key pinned, as the replica lab tests use it. The database is in memory, or with `dataDir`
 * in `<dataDir>/tandem.db`, where a production server (./server) can take it over.
 */
export async function labApp(
  lab: Lab,
  opts: { dataDir?: string } = {},
): Promise<{ app: App; caller: ReturnType<typeof createCaller>; site: Record<string, number> }> {
  const app = createApp(
    opts.dataDir
      ? { dbFile: path.join(opts.dataDir, 'tandem.db'), dataDir: opts.dataDir }
      : { dbFile: ':memory:', dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-it-')) },
  );
  const caller = adminCaller(app);
  const site: Record<string, number> = {};
  for (const node of lab.nodes) {
    const s = await caller.sites.create({
      name: node.name,
      kind: 'node',
      config: {
        host: node.host,
        port: node.port,
        user: node.user,
        hypervisor: 'libvirt',
        zpools: node.zpools,
      },
      secret: { privateKey: fs.readFileSync(node.privateKeyPath, 'utf8') },
    });
    await caller.sites.pinHostKey({ id: s.id, fingerprint: node.hostKeySha256 });
    site[node.name] = s.id;
  }
  return { app, caller, site };
}

/** Waits for a task and fails with its log unless it finished. */
export async function finishedTask(app: App, id: number) {
  const t = await app.tasks.wait(id);
  if (t.state !== 'finished')
    throw new Error(
      `task #${id} ${t.name} ${t.state}: ${t.error}\n${app.tasks
        .logs(id)
        .map((l) => l.message)
        .join('\n')}`,
    );
  return t;
}

export async function md5(r: SshRunner, file: string): Promise<string> {
  return (await r.run({ argv: ['md5sum', file] })).stdout.split(/\s+/)[0]!;
}

/** Writes `mib` MiB of random data into a disk image at `seekMiB`, flushed. */
export async function writeDisk(r: SshRunner, file: string, mib: number, seekMiB: number) {
  await r.run({
    argv: [
      'dd',
      'if=/dev/urandom',
      `of=${file}`,
      'bs=1M',
      `count=${mib}`,
      `seek=${seekMiB}`,
      'conv=notrunc',
      'status=none',
    ],
  });
  await r.run({ argv: ['sync'] });
}

/** The number of holds on a snapshot (`zfs holds` needs pyzfs on zfs-fuse; `userrefs` is always there). */
export async function userrefs(r: SshRunner, snap: string): Promise<number> {
  return Number(
    (await r.run({ argv: ['zfs', 'get', '-H', '-p', '-o', 'value', 'userrefs', snap] })).stdout.trim(),
  );
}

/**
 * Whether `snap` carries the hold `tag`: zfs-fuse cannot list holds by tag, so it is asked to
 * place the same hold again, which it refuses while the tag is there ("tag already exists").
 * A snapshot without the tag would get it: callers expect true, and cleanVm releases the tag.
 */
export async function hasHold(r: SshRunner, snap: string, tag: string): Promise<boolean> {
  const res = await r.run({ argv: ['zfs', 'hold', tag, snap], allowFailure: true });
  return res.exitCode !== 0 && /tag already exists/i.test(res.stderr);
}

export async function snapshotsOf(r: SshRunner, ds: string): Promise<string[]> {
  const out = await r.run({
    argv: ['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', ds],
    allowFailure: true,
  });
  return out.stdout
    .split('\n')
    .filter((l) => l.startsWith(`${ds}@`))
    .map((l) => l.slice(ds.length + 1));
}

export async function datasetExists(r: SshRunner, ds: string): Promise<boolean> {
  return (await r.run({ argv: ['zfs', 'list', '-H', '-o', 'name', ds], allowFailure: true })).exitCode === 0;
}
