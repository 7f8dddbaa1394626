import { describe, expect, it } from 'vitest';
import { parseMirrorDescription } from '@/server/adapters/ceph/parse';
import type { ImageSummary, PeerSiteStatus } from '@/server/adapters/ceph/types';
import { classifyImage } from '@/server/domain/ceph/mirroring';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);
const ts = NOW / 1000 - 90;
const replaying = `replaying, {"bytes_per_second":0.0,"bytes_per_snapshot":0.0,"local_snapshot_timestamp":${ts},"remote_snapshot_timestamp":${ts},"replay_state":"idle"}`;

function peer(rawState: string, description: string): PeerSiteStatus {
  const [up, state] = rawState.split('+') as [string, string];
  return { siteName: 'site-b', mirrorUuids: 'u', rawState, daemonUp: up === 'up', state: state as PeerSiteStatus['state'], description: parseMirrorDescription(description), rawDescription: description, lastUpdate: null };
}

function image(rawState: string | null, description = '', primary: boolean | null = false, peers: PeerSiteStatus[] = []): ImageSummary {
  if (rawState === null) return { pool: 'rbd', namespace: '', name: 'vm1', id: '1', sizeBytes: 1, mirroring: null };
  const [up, state] = rawState.split('+') as [string, string];
  return {
    pool: 'rbd',
    namespace: '',
    name: 'vm1',
    id: '1',
    sizeBytes: 1,
    mirroring: { globalId: 'g', rawState, daemonUp: up === 'up', state: state as never, description: parseMirrorDescription(description), rawDescription: description, lastUpdate: null, primary, mode: 'snapshot', peerSites: peers },
  };
}

describe('classifyImage: Issues / Syncing / Ready with the lag', () => {
  it.each([
    ['not mirrored', image(null), 'ready', null, /mirroring disabled/],
    ['non-primary replaying', image('up+replaying', replaying), 'ready', 90, /replaying/],
    ['non-primary syncing', image('up+syncing', 'bootstrapping, IMAGE_SYNC/COPY_IMAGE 45%'), 'syncing', null, /45 % synced|syncing/],
    ['non-primary, status not reported yet', image('down+unknown', 'status not found'), 'issues', null, /daemon is down or has not reported/],
    ['role not known yet, status unknown', image('up+unknown', 'status not found', null), 'issues', null, /not replaying/],
    ['non-primary stopped', image('up+stopped', 'stopped'), 'issues', null, /up\+stopped: not replaying/],
    ['non-primary in error', image('up+error', 'error bootstrapping replay'), 'issues', null, /error bootstrapping/],
    ['split-brain', image('up+error', 'split-brain'), 'issues', null, /split-brain/],
    ['primary, peer replaying', image('up+stopped', 'local image is primary', true, [peer('up+replaying', replaying)]), 'ready', 90, /primary/],
    ['primary, peer not reporting', image('up+stopped', 'local image is primary', true, [peer('down+unknown', 'status not found')]), 'issues', null, /peer site-b reports down\+unknown/],
  ] as const)('%s', (_label, img, group, lag, reason) => {
    const c = classifyImage(img, NOW);
    expect(c.group).toBe(group);
    expect(c.lagSec).toBe(lag);
    expect(c.reason).toMatch(reason);
  });
});
