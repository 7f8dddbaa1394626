import { afterEach, describe, expect, it, vi } from 'vitest';
import { DemoNodeAdapter } from '@/server/adapters/demo/adapters';
import { hostKeyAliasFor, hostKeyFingerprint, knownHostsLine } from '@/server/adapters/node/known-hosts';
import { boot, finished, withReplica } from './demo-env';

/**
 * Node-to-node pulls trust only the host key Tandem pinned for the source node: Tandem writes it
 * into its own known_hosts file on the target (simulated by the demo nodes) before pulling, and
 * the pull's ssh checks the source against that entry alone.
 */
afterEach(() => vi.restoreAllMocks());

describe('pinned source host keys for node-to-node pulls (demo nodes)', () => {
  it("a sync writes the source's pinned key into Tandem's known_hosts on the target, and the pull checks it", async () => {
    const env = boot();
    const pulls = vi.spyOn(DemoNodeAdapter.prototype, 'pull');
    await withReplica(env);
    const n1 = env.node('demo-node1');
    const alias = hostKeyAliasFor(n1);
    const key = await env.app.replicas.node(n1).hostKey();
    expect(env.world.node('demo-node2')!.knownHosts).toEqual({ [alias]: knownHostsLine(alias, key) });
    expect(pulls.mock.calls.length).toBeGreaterThan(0);
    for (const [opts] of pulls.mock.calls) expect(opts.source.hostKeyAlias).toBe(alias);
  });

  it('a wrong entry refuses the pull with the classified error; the next sync rewrites it from the pinned key', async () => {
    const env = boot();
    const id = await withReplica(env);
    const n1 = env.node('demo-node1');
    const n2 = env.node('demo-node2');
    const alias = hostKeyAliasFor(n1);
    const good = env.world.node('demo-node2')!.knownHosts[alias]!;
    const other = await env.app.replicas.node(env.node('demo-node3')).hostKey();
    env.world.node('demo-node2')!.knownHosts[alias] = knownHostsLine(alias, other);

    const node1 = env.app.replicas.node(n1);
    await node1.zfs.createSnapshots(['zones/web01-disk0'], 'probe');
    const base = env.app.replicas.row(id).lastSnapshot!;
    await expect(
      env.app.replicas.node(n2).pull({
        source: { ...env.app.replicas.sourceSpec(n1), hostKeyAlias: alias },
        sourceDataset: 'zones/web01-disk0',
        fromSnapshot: base,
        toSnapshot: 'probe',
        targetDataset: 'zones/web01-disk0',
        intermediates: false,
        recursive: false,
        bandwidthLimitBytesPerSec: null,
      }),
    ).rejects.toMatchObject({
      code: 'HOST_KEY_UNKNOWN',
      message: expect.stringMatching(/does not trust the host key of root@demo-node1:22/),
    });

    const s = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s.taskId);
    expect(env.world.node('demo-node2')!.knownHosts[alias]).toBe(good);
  });

  it('reads the source key once per pinned fingerprint, and refuses a key that is not the pinned one', async () => {
    const env = boot();
    const reads = vi.spyOn(DemoNodeAdapter.prototype, 'hostKey');
    const id = await withReplica(env);
    const s1 = await env.caller.replicas.syncNow({ id });
    await finished(env.app, s1.taskId);
    expect(reads).toHaveBeenCalledTimes(1);

    // The admin pins another key for demo-node1: the node's real key is refused, nothing is pulled.
    const n1 = env.node('demo-node1');
    const other = hostKeyFingerprint(env.world.hostKey('demo-node3'));
    env.app.db.$client
      .prepare(`update sites set config = json_set(config, '$.hostKeySha256', ?) where id = ?`)
      .run(other, n1);
    const pulls = vi.spyOn(DemoNodeAdapter.prototype, 'pull');
    const s2 = await env.caller.replicas.syncNow({ id });
    const t = await env.app.tasks.wait(s2.taskId);
    expect(t.state).toBe('failed');
    expect(t.error).toMatch(/host key of demo-node1 .*does not match the pinned key/);
    expect(pulls).not.toHaveBeenCalled();
    expect(reads).toHaveBeenCalledTimes(2);
  });
});
