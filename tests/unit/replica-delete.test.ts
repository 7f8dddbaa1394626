import { describe, expect, it } from 'vitest';
import { boot, finished, withReplica } from './demo-env';

/** Deleting a replica with its data removes the copy of the VM on the replica node, and only a copy. */
describe('replica delete', () => {
  it('after a failover and reinit, deleting with its data leaves no VM without disks on the replica node', async () => {
    const env = boot();
    const id = await withReplica(env);
    const n1 = env.app.replicas.node(env.node('demo-node1'));
    await finished(
      env.app,
      (await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' })).taskId,
    );
    await finished(env.app, (await env.caller.replicas.reinit({ id, confirm: 'web01' })).taskId);
    // The old master (demo-node1) is now the replica node and keeps the VM's definition, shut off.
    expect(await n1.getVmState('web01')).toBe('stopped');
    const del = await finished(env.app, (await env.caller.replicas.remove({ id, destroyData: true })).taskId);
    expect(await n1.getVmState('web01')).toBeNull();
    expect(
      env.app.tasks.logs(del.id).some((l) => /web01.*undefined|removed the VM web01/.test(l.message)),
    ).toBe(true);
    // The VM itself runs on on its master.
    expect(await env.app.replicas.node(env.node('demo-node2')).getVmState('web01')).toBe('running');
  });

  it('keeps the VM on the replica node when its data is kept, or when it is not shut off', async () => {
    const env = boot();
    const id = await withReplica(env);
    const n1 = env.app.replicas.node(env.node('demo-node1'));
    await finished(
      env.app,
      (await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' })).taskId,
    );
    await finished(env.app, (await env.caller.replicas.reinit({ id, confirm: 'web01' })).taskId);
    await finished(env.app, (await env.caller.replicas.remove({ id, destroyData: false })).taskId);
    expect(await n1.getVmState('web01')).toBe('stopped');
  });
});
