import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { isRetryableCephError } from '@/server/adapters/ceph/errors';
import type { ImageSnapshot } from '@/server/adapters/ceph/types';
import { AppError } from '@/server/core/errors';
import { openCephLab, pollUntil, type CephLab } from './ceph-lab';

/*
 * A test copy of a non-primary image's latest complete mirror snapshot on the two-site lab
 * (CephCliAdapter.createTestCopy / removeTestCopy). The test has pools of its own: `testcopy`,
 * created on both clusters, paired site-a ↔ site-b, with a snapshot-mirrored 64 MiB image primary
 * on site-a; and `testcopy2` on site-b alone, switched to pool mode with a snapshot-mirrored
 * image in it. Both are deleted at the end, also after a failure. Checked: the copy holds the
 * data of the snapshot and is writable and unmirrored; replication goes on while it exists (a
 * newer snapshot is copied and the older one pruned); a pruned snapshot is a retryable conflict
 * that leaves nothing; the removal leaves no image, trash entry or snapshot behind.
 */

const POOL = 'testcopy';
const POOL2 = 'testcopy2';
const SUFFIX = crypto.randomBytes(3).toString('hex');
const IMG = `tc-src-${SUFFIX}`;
const COPY = `tc-copy-${SUFFIX}`;
const MiB = 1024 * 1024;
const SIZE = 64 * MiB;

let lab: CephLab;
let a: CephCliAdapter;
let b: CephCliAdapter;
const timings: Record<string, string> = {};
const md5 = (d: Uint8Array) => crypto.createHash('md5').update(d).digest('hex');
const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(2)} s`;

function poll<T>(
  label: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 120_000,
): Promise<T> {
  return pollUntil(label, fn, ok, timeoutMs, 500, (ms) => (timings[label] = `${(ms / 1000).toFixed(1)} s`));
}

const ceph = (ad: CephCliAdapter, args: string[]) =>
  ad.exec('ceph', args, { action: `ceph ${args.slice(0, 3).join(' ')}` });
const rbd = (ad: CephCliAdapter, args: string[]) =>
  ad.exec('rbd', args, { action: `rbd ${args.slice(0, 3).join(' ')}` });

async function poolExists(ad: CephCliAdapter, pool: string): Promise<boolean> {
  return (
    JSON.parse((await ceph(ad, ['osd', 'pool', 'ls', '--format', 'json'])).stdout) as string[]
  ).includes(pool);
}

async function dropPool(ad: CephCliAdapter, pool: string): Promise<void> {
  // Unpaired first (a daemon that still has the pool as a peer would keep an old pool replayer).
  for (let i = 0; i < 3; i++) {
    const peers = await ad.getPoolMirrorInfo(pool).then(
      (x) => x.peers,
      () => [],
    );
    for (const p of peers) await ad.removePeer(pool, p.uuid).catch(() => undefined);
    if (!peers.length) break;
  }
  await ceph(ad, ['osd', 'pool', 'rm', pool, pool, '--yes-i-really-really-mean-it']);
}

async function makePool(ad: CephCliAdapter, pool: string, siteName: string): Promise<void> {
  await ceph(ad, ['osd', 'pool', 'create', pool, '8', '8']);
  await rbd(ad, ['pool', 'init', pool]);
  await ad.setPoolMirrorMode(pool, '', 'image', { siteName });
}

/** site-b's complete copy of site-a's mirror snapshot `primaryId`. */
const copyOf = (primaryId: string) => (snaps: ImageSnapshot[]) =>
  snaps.find(
    (s) => s.mirror && !s.mirror.primary && s.mirror.complete && s.mirror.primarySnapId === primaryId,
  );

async function trashOf(ad: CephCliAdapter, pool: string): Promise<unknown[]> {
  return JSON.parse((await rbd(ad, ['trash', 'ls', '--all', pool, '--format', 'json'])).stdout) as unknown[];
}

beforeAll(async () => {
  lab = await openCephLab();
  a = lab.adapter('site-a');
  b = lab.adapter('site-b');
  // Left over from an interrupted run: the pools are this test's own.
  for (const ad of [a, b]) for (const p of [POOL, POOL2]) if (await poolExists(ad, p)) await dropPool(ad, p);
});

afterAll(async () => {
  const problems: string[] = [];
  for (const [ad, pools] of [
    [a, [POOL]],
    [b, [POOL, POOL2]],
  ] as const) {
    if (!ad) continue;
    for (const p of pools) {
      if (await poolExists(ad, p).catch(() => false))
        await dropPool(ad, p).catch((e: Error) => problems.push(`remove pool ${p}: ${e.message}`));
    }
  }
  console.log(`[ceph-test-copy] timings: ${JSON.stringify(timings)}`);
  if (problems.length) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
});

describe.sequential('test copies of a mirror snapshot on the lab', () => {
  const d1 = crypto.randomBytes(SIZE);
  let s1 = ''; // site-a's snapshot id
  let s1OnB = ''; // its copy on site-b

  it('sets up the pair: a 64 MiB image with known data, primary on site-a, a complete mirror snapshot of it on site-b', async () => {
    const t0 = Date.now();
    await makePool(a, POOL, 'site-a');
    await makePool(b, POOL, 'site-b');
    const token = await a.createBootstrapToken(POOL, { siteName: 'site-a' });
    await b.importBootstrapToken(POOL, token, { direction: 'rx-tx', siteName: 'site-b' });
    await a.createImage(POOL, '', IMG, SIZE);
    for (let off = 0; off < SIZE; off += 16 * MiB)
      await a.writeImage(POOL, '', IMG, off, d1.subarray(off, off + 16 * MiB));
    await a.enableImageMirroring(POOL, '', IMG, 'snapshot');
    await poll(
      'site-b replays the image',
      () => b.getImageMirrorStatus(POOL, '', IMG),
      (s) => s.rawState === 'up+replaying',
      180_000,
    );
    s1 = (await a.createMirrorSnapshot(POOL, '', IMG)).snapshotId;
    const snap = await poll(
      'site-b has a complete copy of snapshot 1',
      () => b.listImageSnapshots(POOL, '', IMG),
      (s) => !!copyOf(s1)(s),
    );
    s1OnB = copyOf(s1)(snap)!.id;
    expect((await b.getImageInfo(POOL, '', IMG)).mirroring).toMatchObject({
      mode: 'snapshot',
      primary: false,
    });
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(md5(d1));
    timings['setup'] = secs(t0);
  });

  it('makes the copy on site-b: the data of the snapshot, writable, not mirrored, no parent, listed like any other image', async () => {
    // Written on the primary after snapshot 1 and not sent yet: the copy must not have it.
    await a.writeImage(POOL, '', IMG, 0, crypto.randomBytes(4 * MiB));
    const t0 = Date.now();
    const made = await b.createTestCopy(POOL, '', IMG, s1OnB, COPY);
    timings['createTestCopy (64 MiB)'] = secs(t0);
    expect(made).toMatchObject({ method: 'copy', snapshotId: s1OnB, sizeBytes: SIZE });
    expect(made.features).not.toContain('journaling');
    const t1 = Date.now();
    expect(await b.imageChecksum(POOL, '', COPY)).toBe(md5(d1));
    timings['md5 of the copy'] = secs(t1);

    const info = await b.getImageInfo(POOL, '', COPY);
    expect(info.mirroring.state).toBe('disabled');
    expect(info.features).not.toContain('journaling');
    expect(info.features).not.toContain('non-primary');
    expect(info.features).not.toContain('migrating');
    expect(info.objectSizeBytes).toBe((await b.getImageInfo(POOL, '', IMG)).objectSizeBytes);
    const raw = JSON.parse((await rbd(b, ['info', `${POOL}/${COPY}`, '--format', 'json'])).stdout) as Record<
      string,
      unknown
    >;
    expect(raw.parent).toBeUndefined();
    const listed = (await b.listImages(POOL)).find((i) => i.name === COPY);
    expect(listed).toMatchObject({ name: COPY, sizeBytes: SIZE, mirroring: null });
    expect((await b.getPoolMirrorStatusVerbose(POOL)).images.map((i) => i.name)).toEqual([IMG]);
    expect((await a.listImages(POOL)).map((i) => i.name)).toEqual([IMG]);

    const w = crypto.randomBytes(MiB);
    await b.writeImage(POOL, '', COPY, 8 * MiB, w);
    const expected = Buffer.from(d1);
    w.copy(expected, 8 * MiB);
    expect(await b.imageChecksum(POOL, '', COPY)).toBe(md5(expected));
    // the non-primary source is untouched and still read-only
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(md5(d1));
    expect((await b.writeImage(POOL, '', IMG, 0, w).catch((e: unknown) => e)) as AppError).toMatchObject({
      code: 'CONFLICT',
    });
  });

  it('replication goes on while the copy exists: a newer snapshot is copied to site-b and the older one pruned', async () => {
    const t0 = Date.now();
    const s2 = (await a.createMirrorSnapshot(POOL, '', IMG)).snapshotId;
    await poll(
      'site-b has a complete copy of snapshot 2',
      () => b.listImageSnapshots(POOL, '', IMG),
      (s) => !!copyOf(s2)(s),
    );
    await poll(
      'site-b pruned its copy of snapshot 1',
      () => b.listImageSnapshots(POOL, '', IMG),
      (s) => !s.some((x) => x.id === s1OnB),
    );
    timings['snapshot 2 copied, snapshot 1 pruned'] = secs(t0);
    expect(await b.imageChecksum(POOL, '', IMG)).toBe(await a.imageChecksum(POOL, '', IMG));
    expect(await b.imageChecksum(POOL, '', IMG)).not.toBe(md5(d1));
    const st = await b.getImageMirrorStatus(POOL, '', IMG);
    expect(st.rawState).toBe('up+replaying');
    expect(st.description.replayState).toBe('idle');
    // and once more, with the copy still there
    const s3 = (await a.createMirrorSnapshot(POOL, '', IMG)).snapshotId;
    await poll(
      'site-b has a complete copy of snapshot 3',
      () => b.listImageSnapshots(POOL, '', IMG),
      (s) => !!copyOf(s3)(s),
    );
    expect((await b.listImages(POOL)).map((i) => i.name).sort()).toEqual([COPY, IMG].sort());
  });

  it('a snapshot rbd-mirror pruned is a retryable conflict and leaves nothing behind', async () => {
    const e = await b.createTestCopy(POOL, '', IMG, s1OnB, `${COPY}-late`).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('CONFLICT');
    expect(isRetryableCephError(e)).toBe(true);
    expect((await b.listImages(POOL)).map((i) => i.name).sort()).toEqual([COPY, IMG].sort());
  });

  it('removes the copy: no image, no trash entry, no snapshot left of it; the source keeps replaying', async () => {
    const t0 = Date.now();
    await b.removeTestCopy(POOL, '', COPY);
    timings['removeTestCopy'] = secs(t0);
    await b.removeTestCopy(POOL, '', COPY); // missing is not an error
    const ls = JSON.parse((await rbd(b, ['ls', '--long', POOL, '--format', 'json'])).stdout) as {
      image: string;
      snapshot?: string;
    }[];
    expect(ls.map((x) => x.image)).toEqual([IMG]);
    expect(await trashOf(b, POOL)).toEqual([]);
    const snaps = await b.listImageSnapshots(POOL, '', IMG);
    expect(snaps.length).toBeGreaterThan(0);
    expect(snaps.every((s) => s.namespaceType === 'mirror' && s.mirror && !s.mirror.primary)).toBe(true);
    expect((await b.getImageMirrorStatus(POOL, '', IMG)).rawState).toBe('up+replaying');
    // refuses what is not a test copy
    expect((await b.removeTestCopy(POOL, '', IMG).catch((x: unknown) => x)) as AppError).toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect((await b.listImages(POOL)).map((i) => i.name)).toEqual([IMG]);
  });

  it('in a pool-mode pool the copy is not mirrored either (librbd’s commit tries journal mirroring there and fails)', async () => {
    await makePool(b, POOL2, 'site-b');
    const d = crypto.randomBytes(8 * MiB);
    await b.createImage(POOL2, '', IMG, d.length);
    await b.writeImage(POOL2, '', IMG, 0, d);
    await b.enableImageMirroring(POOL2, '', IMG, 'snapshot');
    await b.setPoolMirrorMode(POOL2, '', 'pool');
    expect((await b.getPoolMirrorInfo(POOL2)).mode).toBe('pool');
    const snap = (await b.listImageSnapshots(POOL2, '', IMG)).filter((s) => s.mirror?.primary).at(-1)!;
    await b.createTestCopy(POOL2, '', IMG, snap.id, COPY);
    expect(await b.imageChecksum(POOL2, '', COPY)).toBe(md5(d));
    expect((await b.getImageInfo(POOL2, '', COPY)).mirroring.state).toBe('disabled');
    expect((await b.getPoolMirrorStatusVerbose(POOL2)).images.map((i) => i.name)).toEqual([IMG]);
    await b.removeTestCopy(POOL2, '', COPY);
    expect((await b.listImages(POOL2)).map((i) => i.name)).toEqual([IMG]);
    expect(await trashOf(b, POOL2)).toEqual([]);
  });
});
