import { describe, expect, it } from 'vitest';
import { isRetryableCephError } from '@/server/adapters/ceph/errors';
import { newestRecoveryPoint } from '@/server/adapters/ceph/parse';
import type { ImageSnapshot } from '@/server/adapters/ceph/types';
import { DEMO_NAMESPACE } from '@/server/adapters/demo/ceph';
import { demoCephPair as setup, rejection } from './ceph-demo-env';

/*
 * Test copies of a mirror snapshot on the demo clusters (the simulation of
 * CephCliAdapter.createTestCopy / removeTestCopy): made on the non-primary side from a complete
 * mirror snapshot, writable, not mirrored, listed like any other image, and without effect on
 * the replication of their source.
 */

const IMG = 'vm-web01-root';

/** The newest complete non-primary mirror snapshot. */
function newestComplete(snaps: ImageSnapshot[]): ImageSnapshot {
  const last = newestRecoveryPoint(snaps);
  if (!last?.mirror || last.mirror.primary)
    throw new Error(`no complete non-primary mirror snapshot in ${JSON.stringify(snaps)}`);
  return last;
}

describe('test copies on the demo clusters', () => {
  it('copies the content at a complete mirror snapshot on the non-primary side; writable, unmirrored, listed; replication goes on', async () => {
    const { a, b, clock } = setup();
    clock.advance(11 * 60_000);
    const snap = newestComplete(await b.listImageSnapshots('rbd', '', IMG));
    const atSnap = await b.imageChecksum('rbd', '', IMG);

    const made = await b.createTestCopy('rbd', '', IMG, snap.id, 'tc-web01');
    expect(made).toEqual({
      method: 'copy',
      snapshotId: snap.id,
      sizeBytes: (await b.getImageInfo('rbd', '', IMG)).sizeBytes,
      features: ['layering', 'exclusive-lock', 'object-map', 'fast-diff', 'deep-flatten'],
    });
    expect(await b.imageChecksum('rbd', '', 'tc-web01')).toBe(atSnap);

    const info = await b.getImageInfo('rbd', '', 'tc-web01');
    expect(info.mirroring).toEqual({ mode: null, state: 'disabled', globalId: null, primary: null });
    expect(info.features).not.toContain('journaling');
    expect(info.features).not.toContain('non-primary');
    const listed = (await b.listImages('rbd')).find((i) => i.name === 'tc-web01');
    expect(listed).toMatchObject({ name: 'tc-web01', mirroring: null });
    expect((await b.getPoolMirrorStatusVerbose('rbd')).images.map((i) => i.name)).not.toContain('tc-web01');
    // site-a knows nothing of it
    expect((await a.listImages('rbd')).map((i) => i.name)).not.toContain('tc-web01');

    // writable, unlike its non-primary source
    await b.writeImage('rbd', '', 'tc-web01', 0, Buffer.from('test boot'));
    expect(await b.imageChecksum('rbd', '', 'tc-web01')).not.toBe(atSnap);
    expect((await rejection(b.writeImage('rbd', '', IMG, 0, Buffer.from('x')))).code).toBe('CONFLICT');

    // replication goes on: a new write on the primary reaches site-b, the copy keeps its content
    const copyBefore = await b.imageChecksum('rbd', '', 'tc-web01');
    await a.writeImage('rbd', '', IMG, 4096, Buffer.from('after the test copy'));
    const { snapshotId } = await a.createMirrorSnapshot('rbd', '', IMG);
    clock.advance(30_000);
    expect(await b.imageChecksum('rbd', '', IMG)).toBe(await a.imageChecksum('rbd', '', IMG));
    expect(await b.imageChecksum('rbd', '', IMG)).not.toBe(atSnap);
    expect(newestComplete(await b.listImageSnapshots('rbd', '', IMG)).mirror!.primarySnapId).toBe(snapshotId);
    expect(await b.imageChecksum('rbd', '', 'tc-web01')).toBe(copyBefore);

    await b.removeTestCopy('rbd', '', 'tc-web01');
    expect((await b.listImages('rbd')).map((i) => i.name)).not.toContain('tc-web01');
    await b.removeTestCopy('rbd', '', 'tc-web01'); // missing is not an error
    expect((await b.listImages('rbd')).map((i) => i.name).sort()).toEqual([
      'archive-2025',
      'backup-staging',
      'vm-app01-root',
      'vm-db01-data',
      'vm-web01-root',
    ]);
  });

  it('works in a namespace, and from a primary mirror snapshot', async () => {
    const { a, b, clock } = setup();
    clock.advance(21 * 60_000);
    const snap = newestComplete(await b.listImageSnapshots('rbd', DEMO_NAMESPACE, 'vm-mail01-root'));
    const expected = await b.imageChecksum('rbd', DEMO_NAMESPACE, 'vm-mail01-root');
    await b.createTestCopy('rbd', DEMO_NAMESPACE, 'vm-mail01-root', snap.id, 'tc-mail01');
    expect(await b.imageChecksum('rbd', DEMO_NAMESPACE, 'tc-mail01')).toBe(expected);
    expect(
      (await b.listImages('rbd', DEMO_NAMESPACE)).find((i) => i.name === 'tc-mail01')?.mirroring,
    ).toBeNull();
    await b.removeTestCopy('rbd', DEMO_NAMESPACE, 'tc-mail01');

    const own = (await a.listImageSnapshots('rbd', '', IMG)).filter((s) => s.mirror?.primary);
    await a.createTestCopy('rbd', '', IMG, own[own.length - 1]!.id, 'tc-primary');
    expect((await a.getImageInfo('rbd', '', 'tc-primary')).mirroring.state).toBe('disabled');
    await a.removeTestCopy('rbd', '', 'tc-primary');
  });

  it('refuses what is not a recovery point, an existing name, hostile names; a pruned snapshot is a retryable conflict', async () => {
    const { a, b, clock } = setup();
    clock.advance(11 * 60_000);
    const snap = newestComplete(await b.listImageSnapshots('rbd', '', IMG));

    // a snapshot still being copied
    await a.writeImage('rbd', '', IMG, 0, Buffer.alloc(4096, 1));
    const { snapshotId } = await a.createMirrorSnapshot('rbd', '', IMG);
    clock.advance(1_500);
    const inFlight = (await b.listImageSnapshots('rbd', '', IMG)).find(
      (s) => s.mirror?.primarySnapId === snapshotId && !s.mirror.complete,
    );
    expect(inFlight).toBeDefined();
    const e1 = await rejection(b.createTestCopy('rbd', '', IMG, inFlight!.id, 'tc-x'));
    expect(e1.code).toBe('PRECONDITION_FAILED');
    expect(e1.message).toMatch(/still being copied/);

    // gone (pruned, or never there)
    const e2 = await rejection(b.createTestCopy('rbd', '', IMG, '999999', 'tc-x'));
    expect(e2.code).toBe('CONFLICT');
    expect(isRetryableCephError(e2)).toBe(true);
    expect(e2.message).toMatch(/no longer exists/);

    expect((await rejection(b.createTestCopy('rbd', '', IMG, snap.id, 'vm-app01-root'))).code).toBe(
      'ALREADY_EXISTS',
    );
    expect((await rejection(b.createTestCopy('rbd', '', IMG, snap.id, IMG))).code).toBe('INVALID_INPUT');
    expect((await rejection(b.createTestCopy('rbd', '', IMG, '12; rm -rf /', 'tc-x'))).code).toBe(
      'INVALID_INPUT',
    );
    expect((await rejection(b.createTestCopy('rbd', '', IMG, snap.id, '--force'))).code).toBe(
      'INVALID_INPUT',
    );
    expect((await rejection(b.createTestCopy('rbd', '', 'nope', snap.id, 'tc-x'))).code).toBe('NOT_FOUND');
    expect((await b.listImages('rbd')).map((i) => i.name)).not.toContain('tc-x');

    // removing is for test copies only: a mirrored image stays
    const e3 = await rejection(b.removeTestCopy('rbd', '', IMG));
    expect(e3.code).toBe('PRECONDITION_FAILED');
    expect((await b.listImages('rbd')).map((i) => i.name)).toContain(IMG);
    expect((await rejection(b.removeTestCopy('rbd', '', '../x'))).code).toBe('INVALID_INPUT');
  });
});

describe('newestRecoveryPoint', () => {
  const snap = (id: string, mirror: Partial<NonNullable<ImageSnapshot['mirror']>> | null): ImageSnapshot => ({
    id,
    name: `s${id}`,
    sizeBytes: 1,
    protected: false,
    timestamp: null,
    namespaceType: mirror ? 'mirror' : 'user',
    mirror: mirror
      ? {
          state: 'non-primary',
          primary: false,
          demoted: false,
          complete: true,
          mirrorPeerUuids: [],
          primaryMirrorUuid: null,
          primarySnapId: null,
          lastCopiedObjectNumber: null,
          ...mirror,
        }
      : null,
  });

  it('takes the newest complete copy (by exact id), skips user snapshots and copies in flight', () => {
    expect(newestRecoveryPoint([])).toBeNull();
    expect(newestRecoveryPoint([snap('3', null), snap('4', { complete: false })])).toBeNull();
    expect(
      newestRecoveryPoint([
        snap('9007199254740993', {}),
        snap('9007199254740995', { complete: false }),
        snap('12', {}),
        snap('20', null),
      ])?.id,
    ).toBe('9007199254740993');
    // the image's own (primary) snapshots count as they are
    expect(
      newestRecoveryPoint([snap('5', {}), snap('7', { primary: true, state: 'primary', complete: false })])
        ?.id,
    ).toBe('7');
  });
});
