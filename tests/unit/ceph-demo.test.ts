import { describe, expect, it } from 'vitest';
import { decodeBootstrapToken } from '@/server/adapters/ceph/token';
import { isRetryableCephError } from '@/server/adapters/ceph/errors';
import { demoCephPair as setup, DEMO_START as START, rejection } from './ceph-demo-env';

describe('DemoCephAdapter', () => {
  it('starts paired: rbd in image mode with the world images primary on site-a and replaying on site-b', async () => {
    const { a, b, clock } = setup();
    clock.advance(60_000);
    expect((await a.probe()).fsid).toBe('7d3f6a2e-0b1c-4d5e-9f80-a1b2c3d4e5f6');
    const pools = await a.listRbdPools();
    expect(pools.map((p) => p.name)).toEqual(['rbd', 'rbd2']);
    const info = await a.getPoolMirrorInfo('rbd');
    expect(info).toMatchObject({
      mode: 'image',
      siteName: 'demo-site-a',
      peers: [{ siteName: 'demo-site-b', direction: 'rx-tx', clientName: 'client.rbd-mirror-peer' }],
    });
    const la = await a.listImages('rbd');
    const lb = await b.listImages('rbd');
    expect(la.map((i) => i.name)).toEqual([
      'archive-2025',
      'backup-staging',
      'vm-app01-root',
      'vm-db01-data',
      'vm-web01-root',
    ]);
    expect(la.every((i) => i.mirroring?.primary === true && i.mirroring.state === 'stopped')).toBe(true);
    expect(
      lb.every(
        (i) =>
          i.mirroring?.primary === false &&
          i.mirroring.state === 'replaying' &&
          i.mirroring.mode === 'snapshot',
      ),
    ).toBe(true);
    const summary = (await b.getPoolMirrorStatus('rbd')).summary;
    expect(summary.states).toEqual({ replaying: 5 });
    const pm = await a.listMirrorPools();
    expect(pm.find((p) => p.pool === 'rbd2')).toMatchObject({ mode: 'disabled', health: 'UNKNOWN' });
  });

  it('runs the snapshot schedules on the clock and reports the next ones', async () => {
    const { a, b, clock } = setup();
    const schedules = await a.listSnapshotSchedules();
    expect(schedules.find((s) => s.image === 'vm-web01-root')).toMatchObject({
      level: 'image',
      pool: 'rbd',
      namespace: '',
      items: [{ interval: '5m', startTime: null }],
    });
    const status = await a.getSnapshotScheduleStatus({ pool: 'rbd' });
    expect(status.find((s) => s.image === 'vm-web01-root')?.scheduleTime).toBe('2026-11-23 12:05:00');
    expect(await b.getSnapshotScheduleStatus()).toEqual([]);
    clock.advance(11 * 60_000);
    const snaps = await a.listImageSnapshots('rbd', '', 'vm-web01-root');
    expect(snaps.filter((s) => s.mirror?.primary).length).toBeGreaterThanOrEqual(3);
    const copies = await b.listImageSnapshots('rbd', '', 'vm-web01-root');
    expect(copies.every((s) => s.mirror && !s.mirror.primary && s.mirror.primarySnapId !== null)).toBe(true);
    // the db image writes 12 MiB/s: a 5-minute delta takes ~45 s to copy
    clock.set(START + 15 * 60_000 + 10_000);
    const db = await b.getImageMirrorStatus('rbd', '', 'vm-db01-data');
    expect(db.description.replayState).toBe('syncing');
    expect(db.description.syncPercent).toBeGreaterThan(0);
  });

  it('schedules at every level, validated', async () => {
    const { a } = setup();
    await a.addSnapshotSchedule({}, '1h');
    await a.addSnapshotSchedule({ pool: 'rbd' }, '15m', '00:05');
    await a.addSnapshotSchedule({ pool: 'rbd', image: 'archive-2025' }, '2h');
    const all = await a.listSnapshotSchedules();
    expect(all.find((e) => e.level === 'global')?.items).toEqual([{ interval: '1h', startTime: null }]);
    expect(all.find((e) => e.level === 'pool')?.items).toEqual([{ interval: '15m', startTime: '00:05:00' }]);
    expect(all.find((e) => e.image === 'archive-2025')?.items).toEqual([
      { interval: '1h', startTime: null },
      { interval: '2h', startTime: null },
    ]);
    await a.removeSnapshotSchedule({ pool: 'rbd' }, '15m', '00:05');
    await a.removeSnapshotSchedule({}, '1h');
    expect((await a.listSnapshotSchedules()).some((e) => e.level !== 'image')).toBe(false);
    expect((await rejection(a.addSnapshotSchedule({ pool: 'rbd' }, '5'))).code).toBe('INVALID_INPUT');
    expect((await rejection(a.addSnapshotSchedule({ pool: 'nope' }, '5m'))).code).toBe('NOT_FOUND');
  });

  it('bootstrap: a demo token decodes, and importing it pairs the pools', async () => {
    const { a, b } = setup();
    for (const [side, other] of [
      [a, b],
      [b, a],
    ] as const) {
      for (const p of (await side.getPoolMirrorInfo('rbd')).peers) await side.removePeer('rbd', p.uuid);
      void other;
    }
    expect((await a.getPoolMirrorInfo('rbd')).peers).toEqual([]);
    const token = await a.createBootstrapToken('rbd', { siteName: 'demo-site-a' });
    expect(decodeBootstrapToken(token)).toEqual({
      fsid: '7d3f6a2e-0b1c-4d5e-9f80-a1b2c3d4e5f6',
      clientId: 'rbd-mirror-peer',
      monHost: '[v2:10.20.1.11:3300/0,v1:10.20.1.11:6789/0]',
    });
    await b.importBootstrapToken('rbd', token, { direction: 'rx-tx', siteName: 'demo-site-b' });
    const pa = (await a.getPoolMirrorInfo('rbd')).peers;
    const pb = (await b.getPoolMirrorInfo('rbd')).peers;
    expect(pa).toMatchObject([{ siteName: 'demo-site-b', direction: 'rx-tx' }]);
    expect(pb).toMatchObject([
      { siteName: 'demo-site-a', direction: 'rx-tx', monHost: '[v2:10.20.1.11:3300/0,v1:10.20.1.11:6789/0]' },
    ]);
    await b.setPeerSiteName('rbd', pb[0]!.uuid, 'renamed');
    await b.setPeerClient('rbd', pb[0]!.uuid, 'other');
    await b.setPeerDirection('rbd', pb[0]!.uuid, 'rx-only');
    await b.setPeerMonHost('rbd', pb[0]!.uuid, '10.0.0.1,10.0.0.2');
    expect((await b.getPoolMirrorInfo('rbd')).peers[0]).toMatchObject({
      siteName: 'renamed',
      clientName: 'client.other',
      direction: 'rx-only',
      monHost: '10.0.0.1,10.0.0.2',
    });
    expect((await rejection(a.importBootstrapToken('rbd', token, { direction: 'rx-tx' }))).code).toBe(
      'INVALID_INPUT',
    );
    expect((await rejection(b.removePeer('rbd', '00000000-0000-4000-a000-000000000000'))).code).toBe(
      'NOT_FOUND',
    );
  });

  it('site name, pool modes and their preconditions', async () => {
    const { a } = setup();
    await a.setSiteName('rbd', 'image', 'alpha');
    expect(await a.getSiteName('rbd')).toBe('alpha');
    expect(await a.getSiteName('rbd2')).toBeNull();
    expect((await rejection(a.setPoolMirrorMode('rbd', '', 'disabled'))).message).toMatch(
      /peers are registered/,
    );
    await a.setPoolMirrorMode('rbd2', '', 'image');
    await a.setPoolMirrorMode('rbd2', '', 'pool');
    expect((await a.getPoolMirrorInfo('rbd2')).mode).toBe('pool');
    await a.setPoolMirrorMode('rbd2', '', 'disabled');
    expect((await a.getPoolMirrorInfo('rbd2')).mode).toBe('disabled');
    expect((await rejection(a.getPoolMirrorStatus('rbd2'))).code).toBe('PRECONDITION_FAILED');
  });

  it('new image: mirror, write, snapshot, failover with the promote retry, failback', async () => {
    const { a, b, clock } = setup();
    await a.createImage('rbd', '', 'vol1', 64 * 1024 ** 2);
    await a.enableImageMirroring('rbd', '', 'vol1', 'snapshot');
    await a.writeImage('rbd', '', 'vol1', 4096, Buffer.from('hello'));
    const { snapshotId } = await a.createMirrorSnapshot('rbd', '', 'vol1');
    expect(snapshotId).toMatch(/^\d+$/);
    expect((await b.getImageMirrorStatus('rbd', '', 'vol1')).description.replayState).toBe('syncing');
    clock.advance(5_000);
    const sb = await b.getImageMirrorStatus('rbd', '', 'vol1');
    expect(sb.rawState).toBe('up+replaying');
    expect(sb.description.replayState).toBe('idle');
    expect(await b.imageChecksum('rbd', '', 'vol1')).toBe(await a.imageChecksum('rbd', '', 'vol1'));
    expect((await b.getImageInfo('rbd', '', 'vol1')).mirroring).toMatchObject({
      mode: 'snapshot',
      primary: false,
    });

    expect((await rejection(b.writeImage('rbd', '', 'vol1', 0, Buffer.from('x')))).code).toBe('CONFLICT');
    expect((await rejection(b.promoteImage('rbd', '', 'vol1'))).message).toMatch(
      /still primary on demo-site-a/,
    );
    await a.demoteImage('rbd', '', 'vol1');
    const refused = await rejection(b.promoteImage('rbd', '', 'vol1'));
    expect(isRetryableCephError(refused)).toBe(true);
    clock.advance(3_000);
    expect((await b.listImageSnapshots('rbd', '', 'vol1')).at(-1)?.mirror).toMatchObject({
      demoted: true,
      complete: true,
      primary: false,
    });
    await b.promoteImage('rbd', '', 'vol1');
    await b.writeImage('rbd', '', 'vol1', 0, Buffer.from('on b'));
    await b.createMirrorSnapshot('rbd', '', 'vol1');
    clock.advance(3_000);
    expect((await a.getImageMirrorStatus('rbd', '', 'vol1')).state).toBe('replaying');
    expect(await a.imageChecksum('rbd', '', 'vol1')).toBe(await b.imageChecksum('rbd', '', 'vol1'));

    await b.demoteImage('rbd', '', 'vol1');
    clock.advance(3_000);
    await a.promoteImage('rbd', '', 'vol1');
    clock.advance(3_000);
    expect((await b.getImageMirrorStatus('rbd', '', 'vol1')).state).toBe('replaying');

    expect((await rejection(a.removeImage('rbd', '', 'vol1'))).code).toBe('PRECONDITION_FAILED');
    await a.disableImageMirroring('rbd', '', 'vol1');
    expect((await b.listImages('rbd')).some((i) => i.name === 'vol1')).toBe(false);
    await a.removeImage('rbd', '', 'vol1');
    expect((await rejection(a.getImageInfo('rbd', '', 'vol1'))).code).toBe('NOT_FOUND');
  });

  it('forced promote, split-brain, resync', async () => {
    const { a, b, clock } = setup();
    await b.promoteImage('rbd', '', 'vm-web01-root', { force: true });
    expect(
      (await a.getImageMirrorStatus('rbd', '', 'vm-web01-root')).peerSites[0]?.description.localPrimary,
    ).toBe(true);
    await b.demoteImage('rbd', '', 'vm-web01-root');
    const sb = await b.getImageMirrorStatus('rbd', '', 'vm-web01-root');
    expect(sb.rawState).toBe('up+error');
    expect(sb.description.splitBrain).toBe(true);
    expect((await a.getPoolMirrorStatus('rbd')).summary.health).toBe('OK');
    expect((await b.getPoolMirrorStatus('rbd')).summary.health).toBe('ERROR');
    await b.resyncImage('rbd', '', 'vm-web01-root');
    expect((await b.getImageMirrorStatus('rbd', '', 'vm-web01-root')).state).toBe('syncing');
    clock.advance(30_000);
    expect(
      (await b.getImageMirrorStatus('rbd', '', 'vm-web01-root')).description.syncPercent,
    ).toBeGreaterThan(0);
    clock.advance(90_000); // 15 s + 4 GiB at 80 MiB/s
    expect((await b.getImageMirrorStatus('rbd', '', 'vm-web01-root')).state).toBe('replaying');
    expect(await b.imageChecksum('rbd', '', 'vm-web01-root')).toBe(
      await a.imageChecksum('rbd', '', 'vm-web01-root'),
    );
    expect((await rejection(a.resyncImage('rbd', '', 'vm-web01-root'))).code).toBe('PRECONDITION_FAILED');
  });

  it('journaling per image and per pool', async () => {
    const { a, b, clock } = setup();
    await a.createImage('rbd', '', 'j1', 1024 ** 2, ['layering', 'exclusive-lock']);
    await a.createImage('rbd', '', 'nolock', 1024 ** 2, ['layering']);
    await a.enableJournaling('rbd', '', 'j1');
    expect((await a.getImageInfo('rbd', '', 'j1')).features).toContain('journaling');
    await a.enableImageMirroring('rbd', '', 'j1', 'journal');
    clock.advance(1_000);
    const st = await b.getImageMirrorStatus('rbd', '', 'j1');
    expect(st.description.entriesBehindPrimary).toBe(0);
    expect((await rejection(a.disableJournaling('rbd', '', 'j1'))).message).toMatch(
      /disable its mirroring first/,
    );
    await a.disableImageMirroring('rbd', '', 'j1');
    await a.disableJournaling('rbd', '', 'j1');
    expect((await a.getImageInfo('rbd', '', 'j1')).features).not.toContain('journaling');
  });

  it('has a namespace with a snapshot-mirrored, a journal-mirrored and a local image; its mode is its own', async () => {
    const { a, b, clock } = setup();
    clock.advance(60_000);
    expect((await a.listRbdPools()).find((p) => p.name === 'rbd')?.namespaces).toEqual(['tenant1']);
    expect(await a.getPoolMirrorInfo('rbd', 'tenant1')).toMatchObject({
      namespace: 'tenant1',
      mode: 'image',
      siteName: 'demo-site-a',
    });
    const la = await a.listImages('rbd', 'tenant1');
    expect(la.map((i) => [i.name, i.mirroring?.primary ?? null])).toEqual([
      ['scratch01', null],
      ['vm-erp01-data', true],
      ['vm-mail01-root', true],
    ]);
    const lb = await b.listImages('rbd', 'tenant1');
    expect(lb.map((i) => [i.name, i.mirroring?.state, i.mirroring?.mode])).toEqual([
      ['vm-erp01-data', 'replaying', 'journal'],
      ['vm-mail01-root', 'replaying', 'snapshot'],
    ]);
    expect((await a.getImageInfo('rbd', 'tenant1', 'vm-erp01-data')).features).toContain('journaling');
    expect(
      (await a.getSnapshotScheduleStatus({ pool: 'rbd' })).find((s) => s.image === 'vm-mail01-root'),
    ).toMatchObject({
      namespace: 'tenant1',
      imageSpec: 'rbd/tenant1/vm-mail01-root',
      scheduleTime: '2026-11-23 12:10:00',
    });
    // a namespace's mode changes alone; the pool cannot be disabled while a namespace mirrors
    await a.setPoolMirrorMode('rbd', 'tenant1', 'pool');
    expect((await a.getPoolMirrorInfo('rbd', 'tenant1')).mode).toBe('pool');
    expect((await a.getPoolMirrorInfo('rbd')).mode).toBe('image');
    // in pool mode an image is mirrored (journal-based) as soon as it has the journaling feature
    await a.enableJournaling('rbd', 'tenant1', 'scratch01');
    expect((await a.getImageInfo('rbd', 'tenant1', 'scratch01')).mirroring).toMatchObject({
      mode: 'journal',
      primary: true,
    });
    expect((await rejection(a.disableJournaling('rbd', 'tenant1', 'scratch01'))).message).toMatch(
      /disable its mirroring first/,
    );
    expect((await rejection(a.setPoolMirrorMode('rbd', 'tenant1', 'disabled'))).message).toMatch(
      /rbd\/tenant1 cannot be disabled while images have mirroring enabled/,
    );
    await a.removePeer('rbd', (await a.getPoolMirrorInfo('rbd')).peers[0]!.uuid);
    for (const img of ['vm-web01-root', 'vm-db01-data', 'vm-app01-root', 'backup-staging', 'archive-2025'])
      await a.disableImageMirroring('rbd', '', img);
    expect((await rejection(a.setPoolMirrorMode('rbd', '', 'disabled'))).message).toMatch(
      /namespace\(s\) tenant1 mirror: disable mirroring of those namespaces first/,
    );
  });

  it('lists mirror snapshots with their copy progress, and a new one on the primary at once', async () => {
    const { a, b, clock } = setup();
    clock.advance(10 * 60_000 + 1_500); // the 12:10 scheduled snapshot of vm-mail01-root is on its way
    const copies = (await b.listImageSnapshots('rbd', 'tenant1', 'vm-mail01-root')).filter((s) => s.mirror);
    const last = copies[copies.length - 1]!;
    expect(last.mirror).toMatchObject({ state: 'non-primary', primary: false, complete: false });
    const objects = Math.ceil((80 * 1024 ** 3) / (4 * 1024 ** 2));
    expect(last.mirror!.lastCopiedObjectNumber).toBeGreaterThan(0);
    expect(last.mirror!.lastCopiedObjectNumber).toBeLessThan(objects);
    expect(copies[0]!.mirror).toMatchObject({ complete: true, lastCopiedObjectNumber: objects });
    const { snapshotId } = await a.createMirrorSnapshot('rbd', 'tenant1', 'vm-mail01-root');
    const mine = (await a.listImageSnapshots('rbd', 'tenant1', 'vm-mail01-root')).find(
      (s) => s.id === snapshotId,
    );
    expect(mine?.mirror).toMatchObject({ state: 'primary', primary: true, complete: true, demoted: false });
    expect((await rejection(a.createMirrorSnapshot('rbd', 'tenant1', 'vm-erp01-data'))).message).toMatch(
      /not in snapshot mirroring mode/,
    );
  });

  it('daemons and a whole refresh', async () => {
    const { a } = setup();
    const d = await a.listMirrorDaemons();
    expect(d[0]).toMatchObject({ daemonId: 'demo', leader: true, health: 'OK' });
    const before = a.cliCalls;
    const snap = await a.refreshStatus();
    expect(snap.pools.map((p) => `${p.pool}/${p.namespace}:${p.mode}`)).toEqual([
      'rbd/:image',
      'rbd/tenant1:image',
      'rbd2/:disabled',
    ]);
    expect(snap.pools[0]?.images).toHaveLength(5);
    expect(snap.pools[1]?.images.map((i) => i.name)).toEqual([
      'scratch01',
      'vm-erp01-data',
      'vm-mail01-root',
    ]);
    expect(snap.pools[1]?.peers).toEqual(snap.pools[0]?.peers);
    // the daemon counts the mirrored images of every namespace
    expect(snap.daemons[0]?.pools.find((p) => p.pool === 'rbd')?.imageCounts.assigned).toBe(7);
    expect(snap.cliCalls).toBe(a.cliCalls - before);
    expect(snap.cliCalls).toBeGreaterThan(0);
  });

  it('is deterministic for the same clock', async () => {
    const one = setup();
    const two = setup();
    for (const w of [one, two]) {
      w.clock.advance(17 * 60_000);
      await w.a.createImage('rbd', '', 'v', 1024 ** 2);
      await w.a.enableImageMirroring('rbd', '', 'v', 'snapshot');
    }
    expect(await one.b.refreshStatus()).toEqual(await two.b.refreshStatus());
    expect(await one.b.listImageSnapshots('rbd', '', 'vm-db01-data')).toEqual(
      await two.b.listImageSnapshots('rbd', '', 'vm-db01-data'),
    );
  });

  it('refuses hostile names', async () => {
    const { a } = setup();
    for (const p of [
      a.getImageInfo('rbd', '', '--all'),
      a.createImage('rbd;x', '', 'v', 1),
      a.listImages('rbd', '../x'),
      a.setSiteName('rbd', 'image', '-x'),
    ]) {
      expect((await rejection(p)).code).toBe('INVALID_INPUT');
    }
  });
});
