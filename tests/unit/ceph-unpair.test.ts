import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mapCephError } from '@/server/adapters/ceph/errors';
import type { CephAdapter } from '@/server/adapters/ceph/types';
import { CommandError } from '@/server/adapters/runner';
import type { App } from '@/server/app';
import { removePeerChecked } from '@/server/domain/ceph/mirroring';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator, testApp } from './helpers';

/*
 * `rbd mirror pool peer remove` on Ceph 16.2 deletes the peer, then unlinks it from the mirror
 * snapshots of the pool's snapshot-mirrored images; on a non-primary image that fails with
 * `(30) Read-only file system` and the command exits 30 with the peer gone (stderr captured on the
 * lab: tests/fixtures/ceph/lab-peer-remove-unlink-erofs.stderr.txt). Tandem judges by the peer list.
 */

const STDERR = fs.readFileSync(
  path.resolve(__dirname, '../fixtures/ceph/lab-peer-remove-unlink-erofs.stderr.txt'),
  'utf8',
);
const CEPH_LINES =
  /UnlinkPeerRequest: .*\(30\) Read-only file system \| rbd: error removing mirror peer \| librbd::api::Mirror: peer_site_remove: error unlinking peer for image 1585ba632517: \(30\) Read-only file system/;

/** What the CLI adapter throws for that command. */
const cliFailure = (pool: string, uuid: string, stderr = STDERR, exitCode = 30) =>
  mapCephError(
    new CommandError({
      argv: ['rbd', 'mirror', 'pool', 'peer', 'remove', pool, uuid],
      exitCode,
      stderr,
      target: 'local',
    }),
    { action: `remove peer ${uuid} from ${pool}`, pool, cluster: 'demo-site-b' },
  );

let cleanup: (() => Promise<void>) | null = null;
afterEach(async () => {
  await cleanup?.();
  cleanup = null;
});

/** Demo clusters; site-b's peer removal behaves as `how` says. */
function setup(how: 'removes-then-fails' | 'fails') {
  const { app } = testApp();
  app.demo.create();
  cleanup = () => app.tasks.shutdown();
  app.ceph.unpairQuietMs = 30;
  app.ceph.unpairCheckMs = 5;
  const a = app.sites.byName('demo-site-a')!.id;
  const b = app.sites.byName('demo-site-b')!.id;
  const real = app.ceph.adapter.bind(app.ceph);
  app.ceph.adapter = ((id: number) => {
    const ad = real(id);
    if (id !== b) return ad;
    return new Proxy(ad, {
      get(t, prop, r) {
        if (prop === 'removePeer') {
          return async (pool: string, uuid: string) => {
            if (how === 'removes-then-fails') await t.removePeer(pool, uuid);
            throw cliFailure(
              pool,
              uuid,
              how === 'fails'
                ? '2026-12-03T14:30:05.689+0000 7ff927fff6c0 -1 librbd::api::Mirror: peer_site_remove: failed to remove peer: (1) Operation not permitted\nrbd: error removing mirror peer\n'
                : STDERR,
              how === 'fails' ? 1 : 30,
            );
          };
        }
        const v: unknown = Reflect.get(t, prop, r);
        return typeof v === 'function' ? v.bind(t) : v;
      },
    });
  }) as never;
  return { app, a, b, caller: createCaller(ctxFor(app, operator)), real };
}

const peersOf = async (app: App, siteId: number) =>
  (await app.ceph.adapter(siteId).getPoolMirrorInfo('rbd')).peers;

describe('unpair when Ceph reports an error after removing the peer', () => {
  it('finishes: both peers gone, Ceph’s words as a warning naming the cluster, the quiet check still runs, history says success', async () => {
    const { app, a, b, caller } = setup('removes-then-fails');
    const { taskId } = await caller.ceph.unpair({ siteId: a, otherSiteId: b, pool: 'rbd' });
    const t = await app.tasks.wait(taskId);
    const logs = app.tasks.logs(taskId);
    expect(t.state, `${t.error}\n${logs.map((l) => l.message).join('\n')}`).toBe('finished');
    expect(t.result).toMatchObject({ removed: 2, removedAgain: 0 });
    expect((t.result as { rounds: number }).rounds).toBeGreaterThanOrEqual(1);
    const warn = logs.find(
      (l) =>
        l.level === 'warn' &&
        l.message.startsWith('demo-site-b/rbd: Ceph removed peer demo-site-a but then reported an error'),
    );
    expect(warn?.message).toMatch(CEPH_LINES);
    expect(warn?.message).toMatch(/its peer list no longer has it, so the unpair goes on/);
    expect(
      logs.some((l) => /^checking for \d+ s that no rbd-mirror registers itself again$/.test(l.message)),
    ).toBe(true);
    for (const id of [a, b]) expect(await peersOf(app, id)).toEqual([]);
    expect(
      app.history
        .list({ action: 'ceph.unpair' }, { limit: 5, offset: 0 })
        .rows.find((h) => h.taskId === taskId),
    ).toMatchObject({ outcome: 'success' });
  });

  it('fails with the command’s own error line when the peer is still there, before the quiet check', async () => {
    const { app, a, b, caller } = setup('fails');
    const { taskId } = await caller.ceph.unpair({ siteId: a, otherSiteId: b, pool: 'rbd' });
    const t = await app.tasks.wait(taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(
      /peer_site_remove: failed to remove peer: \(1\) Operation not permitted \| rbd: error removing mirror peer/,
    );
    expect(app.tasks.logs(taskId).some((l) => /^checking for/.test(l.message))).toBe(false);
    expect(await peersOf(app, b)).toHaveLength(1);
    expect(
      app.history
        .list({ action: 'ceph.unpair' }, { limit: 5, offset: 0 })
        .rows.find((h) => h.taskId === taskId),
    ).toMatchObject({ outcome: 'failure' });
  });

  it('the single peer removal judges the same way; a peer that does not exist is still an error', async () => {
    const { app, b, caller } = setup('removes-then-fails');
    const [peer] = await peersOf(app, b);
    const ok = await app.tasks.wait(
      (await caller.ceph.removePeer({ siteId: b, pool: 'rbd', peerUuid: peer!.uuid })).taskId,
    );
    expect(ok.state, ok.error ?? '').toBe('finished');
    expect(
      app.tasks
        .logs(ok.id)
        .find(
          (l) => l.level === 'warn' && /^Ceph removed the peer but then reported an error/.test(l.message),
        )?.message,
    ).toMatch(CEPH_LINES);
    expect(await peersOf(app, b)).toEqual([]);
    const missing = await app.tasks.wait(
      (await caller.ceph.removePeer({ siteId: b, pool: 'rbd', peerUuid: peer!.uuid })).taskId,
    );
    expect(missing.state).toBe('failed');
  });
});

describe('removePeerChecked', () => {
  const adapter = (removes: boolean, infoFails = false) => {
    let peers = [{ uuid: 'u1', siteName: 'site-a', direction: 'rx-tx', clientName: 'client.x' }];
    return {
      removePeer: async (pool: string, uuid: string) => {
        if (removes) peers = peers.filter((p) => p.uuid !== uuid);
        throw cliFailure(pool, uuid);
      },
      getPoolMirrorInfo: async (pool: string) => {
        if (infoFails) throw new Error('monitors gone');
        return { pool, namespace: '', mode: 'image' as const, siteName: 'site-b', peers };
      },
    } as unknown as CephAdapter;
  };

  it('returns Ceph’s words when the peer is gone, throws the command’s error when it is not or cannot be checked', async () => {
    expect(await removePeerChecked(adapter(true), 'rbd', 'u1')).toMatch(CEPH_LINES);
    await expect(removePeerChecked(adapter(false), 'rbd', 'u1')).rejects.toThrow(
      /error removing mirror peer/,
    );
    await expect(removePeerChecked(adapter(true, true), 'rbd', 'u1')).rejects.toThrow(
      /error removing mirror peer/,
    );
  });
});
