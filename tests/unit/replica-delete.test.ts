import { describe, expect, it } from 'vitest';
import { boot, finished, withReplica } from './demo-env';

/** Deleting a replica with its data removes the copy of the VM on the replica node, and only a copy. */

/** web01's replica, failed over to demo-node2 and reinitialised: demo-node1 (the old master) is now its replica node. */
async function afterFailoverAndReinit() {
  const env = boot();
  const id = await withReplica(env);
  await finished(
    env.app,
    (await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' })).taskId,
  );
  await finished(env.app, (await env.caller.replicas.reinit({ id, confirm: 'web01' })).taskId);
  return { env, id, n1: env.app.replicas.node(env.node('demo-node1')) };
}

describe('replica delete', () => {
  it('after a failover and reinit, deleting with its data leaves no VM without disks on the replica node', async () => {
    const { env, id, n1 } = await afterFailoverAndReinit();
    // The old master keeps the VM's definition, shut off.
    expect(await n1.getVmState('web01')).toBe('stopped');
    const del = await finished(env.app, (await env.caller.replicas.remove({ id, destroyData: true })).taskId);
    expect(await n1.getVmState('web01')).toBeNull();
    expect(env.app.tasks.logs(del.id).some((l) => /removed the VM web01/.test(l.message))).toBe(true);
    // The VM itself runs on its master.
    expect(await env.app.replicas.node(env.node('demo-node2')).getVmState('web01')).toBe('running');
  });

  it('keeps the VM on the replica node when its data is kept', async () => {
    const { env, id, n1 } = await afterFailoverAndReinit();
    await finished(env.app, (await env.caller.replicas.remove({ id, destroyData: false })).taskId);
    expect(await n1.getVmState('web01')).toBe('stopped');
  });
});
