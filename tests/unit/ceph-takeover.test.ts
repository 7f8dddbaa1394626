import { describe, expect, it } from 'vitest';
import { clusterOfPeer, hasPrimaryHere, takeoverImages, takeoverSources, type TakeoverEntry } from '@/components/ceph/takeover';

const a = { id: 4, name: 'demo-site-a', config: { siteName: 'demo-site-a' } };
const b = { id: 5, name: 'demo-site-b', config: { siteName: 'demo-site-b' } };
const east = { id: 6, name: 'prague', config: { siteName: 'dr-east' } };
const clusters = [a, b, east];

const img = (name: string, primary: boolean | null, peerSites: string[] = []) => ({ name, mirroring: { primary, peerSites: peerSites.map((siteName) => ({ siteName })) } });
const plain = (name: string) => ({ name, mirroring: null });
const entry = (pool: string, namespace: string, peers: string[], images: TakeoverEntry['images']): TakeoverEntry => ({ pool, namespace, peers: peers.map((siteName) => ({ siteName })), images });

describe('which registered cluster a peer is', () => {
  it('is the cluster registered with that mirroring site name, else the one of that name', () => {
    expect(clusterOfPeer('dr-east', clusters, b.id)).toBe(east);
    expect(clusterOfPeer('demo-site-a', clusters, b.id)).toBe(a);
    // Registered under the name only (a config without a site name).
    expect(clusterOfPeer('lab', [{ id: 9, name: 'lab' }], b.id)).toMatchObject({ id: 9 });
  });

  it('prefers the site name over a registered name, and is never the cluster itself or an unknown one', () => {
    const renamed = { id: 7, name: 'dr-east', config: { siteName: 'old-east' } };
    expect(clusterOfPeer('dr-east', [renamed, east], b.id)).toBe(east);
    expect(clusterOfPeer('demo-site-b', clusters, b.id)).toBeNull();
    expect(clusterOfPeer('elsewhere', clusters, b.id)).toBeNull();
  });
});

describe('from which clusters a pool or namespace can be taken over', () => {
  const pool = entry('rbd', '', ['demo-site-a'], [img('vm1', false), img('vm2', false), plain('scratch')]);

  it('from the registered peer of the pool while its images are not primary here', () => {
    expect(takeoverSources([pool], pool, clusters, b.id)).toEqual([a]);
    expect(takeoverImages(pool)).toEqual(['vm1', 'vm2']);
    expect(hasPrimaryHere(pool)).toBe(false);
  });

  it('not when every mirrored image is primary here, or nothing is mirrored', () => {
    const done = entry('rbd', '', ['demo-site-a'], [img('vm1', true), img('vm2', true)]);
    expect(takeoverSources([done], done, clusters, b.id)).toEqual([]);
    expect(hasPrimaryHere(done)).toBe(true);
    const none = entry('rbd', '', ['demo-site-a'], [plain('scratch')]);
    expect(takeoverSources([none], none, clusters, b.id)).toEqual([]);
    // Some images already switched: the rest can still be taken over.
    const half = entry('rbd', '', ['demo-site-a'], [img('vm1', true), img('vm2', false)]);
    expect(takeoverSources([half], half, clusters, b.id)).toEqual([a]);
    expect(takeoverImages(half)).toEqual(['vm2']);
  });

  it('a namespace has the peers of its pool', () => {
    const ns = entry('rbd', 'tenant1', [], [img('mail', false)]);
    expect(takeoverSources([pool, ns], ns, clusters, b.id)).toEqual([a]);
    // Without its pool in the status, only what its images report.
    expect(takeoverSources([ns], ns, clusters, b.id)).toEqual([]);
  });

  it('only registered clusters, each once; the site an image replays from counts too', () => {
    const stranger = entry('rbd', '', ['elsewhere'], [img('vm1', false)]);
    expect(takeoverSources([stranger], stranger, clusters, b.id)).toEqual([]);
    const noPeer = entry('rbd', '', [], [img('vm1', false, ['dr-east']), img('vm2', null, ['dr-east', 'demo-site-a'])]);
    expect(takeoverSources([noPeer], noPeer, clusters, b.id)).toEqual([east, a]);
    const both = entry('rbd', '', ['demo-site-a', 'dr-east'], [img('vm1', false, ['demo-site-a'])]);
    expect(takeoverSources([both], both, clusters, b.id)).toEqual([a, east]);
  });
});
