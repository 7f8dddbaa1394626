import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  mergeImageList,
  parseImageInfo,
  parseImageStatus,
  parseMirrorDescription,
  parsePoolInfo,
  parsePoolStatus,
  parseSnapLs,
} from '@/server/adapters/ceph/parse';
import type { ImageSummary, PeerSiteStatus } from '@/server/adapters/ceph/types';
import { classifyImage } from '@/server/domain/ceph/mirroring';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const ts = NOW / 1000 - 90;
const replaying = `replaying, {"bytes_per_second":0.0,"bytes_per_snapshot":0.0,"local_snapshot_timestamp":${ts},"remote_snapshot_timestamp":${ts},"replay_state":"idle"}`;

function peer(rawState: string, description: string): PeerSiteStatus {
  const [up, state] = rawState.split('+') as [string, string];
  return {
    siteName: 'site-b',
    mirrorUuids: 'u',
    rawState,
    daemonUp: up === 'up',
    state: state as PeerSiteStatus['state'],
    description: parseMirrorDescription(description),
    rawDescription: description,
    lastUpdate: null,
  };
}

function image(
  rawState: string | null,
  description = '',
  primary: boolean | null = false,
  peers: PeerSiteStatus[] = [],
): ImageSummary {
  if (rawState === null)
    return { pool: 'rbd', namespace: '', name: 'vm1', id: '1', sizeBytes: 1, mirroring: null };
  const [up, state] = rawState.split('+') as [string, string];
  return {
    pool: 'rbd',
    namespace: '',
    name: 'vm1',
    id: '1',
    sizeBytes: 1,
    mirroring: {
      globalId: 'g',
      rawState,
      daemonUp: up === 'up',
      state: state as never,
      description: parseMirrorDescription(description),
      rawDescription: description,
      lastUpdate: null,
      primary,
      mode: 'snapshot',
      peerSites: peers,
    },
  };
}

describe('classifyImage: Issues / Syncing / Ready with the lag', () => {
  it.each([
    ['not mirrored', image(null), 'ready', null, /mirroring disabled/],
    ['non-primary replaying', image('up+replaying', replaying), 'ready', 90, /replaying/],
    [
      'non-primary syncing',
      image('up+syncing', 'bootstrapping, IMAGE_SYNC/COPY_IMAGE 45%'),
      'syncing',
      null,
      /45 % synced|syncing/,
    ],
    [
      'non-primary, status not reported yet',
      image('down+unknown', 'status not found'),
      'issues',
      null,
      /daemon is down or has not reported/,
    ],
    [
      'role not known yet, status unknown',
      image('up+unknown', 'status not found', null),
      'issues',
      null,
      /not replaying/,
    ],
    ['non-primary stopped', image('up+stopped', 'stopped'), 'issues', null, /up\+stopped: not replaying/],
    [
      'non-primary in error',
      image('up+error', 'error bootstrapping replay'),
      'issues',
      null,
      /error bootstrapping/,
    ],
    ['split-brain', image('up+error', 'split-brain'), 'issues', null, /split-brain/],
    [
      'primary, peer replaying',
      image('up+stopped', 'local image is primary', true, [peer('up+replaying', replaying)]),
      'ready',
      90,
      /primary/,
    ],
    [
      'primary, peer not reporting',
      image('up+stopped', 'local image is primary', true, [peer('down+unknown', 'status not found')]),
      'issues',
      null,
      /peer site-b reports down\+unknown/,
    ],
  ] as const)('%s', (_label, img, group, lag, reason) => {
    const c = classifyImage(img, NOW);
    expect(c.group).toBe(group);
    expect(c.lagSec).toBe(lag);
    expect(c.reason).toMatch(reason);
  });
});

describe('classifyImage after an unpair (real Ceph 16.2 outputs, tests/fixtures/ceph/lab-unpaired-*)', () => {
  const DIR = path.resolve(__dirname, '../fixtures/ceph');
  const fx = (name: string) => fs.readFileSync(path.join(DIR, name), 'utf8');
  const POOL = 'unpairtest';

  /** One image of a verbose pool status, with the role `rbd info` gives (what the CLI adapter adds when the status does not say). */
  function unpaired(statusFile: string, name: string, infoFile?: string): ImageSummary {
    const st = parsePoolStatus(fx(statusFile), POOL);
    const img = mergeImageList(POOL, '', [{ name, id: 'x', sizeBytes: 33554432 }], st.images).find(
      (i) => i.name === name,
    )!;
    if (!infoFile) return img;
    const info = parseImageInfo(fx(infoFile), POOL);
    return {
      ...img,
      mirroring: { ...img.mirroring!, primary: info.mirroring.primary, mode: info.mirroring.mode },
    };
  }
  const noPeers = parsePoolInfo(fx('lab-unpaired-pool-info-b.json'), POOL);
  const txOnly = parsePoolInfo(fx('lab-unpaired-pool-info-txonly-b.json'), POOL);

  it('reads what Ceph prints: a stale `down+stopped` / `stopped`, or no state at all; the role only from `rbd info`', () => {
    const stopped = unpaired('lab-unpaired-pool-status-verbose-b.json', 'unp-img5');
    expect(stopped.mirroring).toMatchObject({
      rawState: 'down+stopped',
      daemonUp: false,
      state: 'stopped',
      rawDescription: 'stopped',
      primary: null,
      mode: null,
      peerSites: [],
    });
    const bare = unpaired('lab-unpaired-pool-status-verbose-txonly-b.json', 'unp-img4b');
    expect(bare.mirroring).toMatchObject({
      rawState: 'down+unknown',
      daemonUp: false,
      rawDescription: '',
      primary: null,
      mode: null,
      peerSites: [],
    });
    expect(parseImageInfo(fx('lab-unpaired-info-b.json'), POOL).mirroring).toEqual({
      mode: 'snapshot',
      state: 'enabled',
      globalId: '8d95ddef-a7b1-413d-8e14-756fbc15ca1e',
      primary: false,
    });
    expect(parseImageInfo(fx('lab-unpaired-info-a.json'), POOL).mirroring).toMatchObject({
      mode: 'snapshot',
      state: 'enabled',
      primary: true,
    });
    // `rbd mirror image status` says as little; on site-a only the primary's snapshot list is left.
    expect(parseImageStatus(fx('lab-unpaired-image-status-b.json'), POOL)).toMatchObject({
      rawState: 'down+stopped',
      rawDescription: 'stopped',
      daemon: null,
      peerSites: [],
    });
    expect(parseImageStatus(fx('lab-unpaired-image-status-txonly-b.json'), POOL)).toMatchObject({
      rawState: 'down+unknown',
      rawDescription: '',
      lastUpdate: null,
      peerSites: [],
      snapshots: [],
    });
    expect(parseImageStatus(fx('lab-unpaired-image-status-txonly-a.json'), POOL)).toMatchObject({
      rawState: 'down+unknown',
      description: { localPrimary: false },
      snapshots: [
        { id: '6', demoted: true },
        { id: '10', demoted: false },
      ],
    });
    // The demotion snapshot on site-b still names the peer removed there (the one Ceph could not unlink).
    expect(
      parseSnapLs(fx('lab-unpaired-snap-ls-b.json')).find((x) => x.mirror?.demoted)?.mirror,
    ).toMatchObject({ primary: true, mirrorPeerUuids: ['fd5307ea-625d-431d-a904-0ab5e376009a'] });
    expect(noPeers).toMatchObject({ mode: 'image', siteName: 'site-b', peers: [] });
    expect(txOnly.peers).toMatchObject([{ siteName: 'site-a', direction: 'tx-only' }]);
  });

  it.each([
    [
      'non-primary, stale status, pool without peers',
      'lab-unpaired-pool-status-verbose-b.json',
      'unp-img5',
      'lab-unpaired-info-b.json',
      () => noPeers,
      /^no peer: not replicating \(mirroring is enabled, but pool unpairtest has no peer cluster\)$/,
    ],
    [
      'non-primary, no state, only a tx-only peer (re-registered by the other rbd-mirror)',
      'lab-unpaired-pool-status-verbose-txonly-b.json',
      'unp-img4b',
      'lab-unpaired-info-txonly-b.json',
      () => txOnly,
      /^no peer to receive from: not replicating \(the peers of pool unpairtest are tx-only\)$/,
    ],
    [
      'primary, stale status, pool without peers',
      'lab-unpaired-pool-status-verbose-a.json',
      'unp-img5',
      undefined,
      () => ({ peers: [] }),
      /^no peer: not replicating/,
    ],
    [
      'role unknown (no `rbd info`), pool without peers',
      'lab-unpaired-pool-status-verbose-txonly-b.json',
      'unp-img4a',
      undefined,
      () => noPeers,
      /^no peer: not replicating/,
    ],
  ] as const)('%s: not replicating, not an issue', (_label, statusFile, name, infoFile, pool, reason) => {
    const c = classifyImage(unpaired(statusFile, name, infoFile), NOW, pool());
    expect(c).toEqual({ group: 'idle', lagSec: null, reason: expect.stringMatching(reason) });
  });

  it('keeps the daemon issue where a peer should make rbd-mirror report', () => {
    const img = unpaired('lab-unpaired-pool-status-verbose-b.json', 'unp-img5', 'lab-unpaired-info-b.json');
    expect(classifyImage(img, NOW, { peers: [{ direction: 'rx-tx' }] })).toMatchObject({
      group: 'issues',
      reason: /daemon is down or has not reported/,
    });
    // A primary image without peers here is still copied when the other cluster's rbd-mirror reports it (one-way pairing).
    const pulled = image('down+stopped', 'local image is primary', true, [peer('up+replaying', replaying)]);
    expect(classifyImage(pulled, NOW, { peers: [] })).toMatchObject({ group: 'ready', lagSec: 90 });
    // Without the pool, peers are not judged (as before).
    expect(classifyImage(img, NOW).group).toBe('issues');
  });
});
