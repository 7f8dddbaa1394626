import { afterEach, describe, expect, it, vi } from 'vitest';
import { DemoNodeAdapter } from '@/server/adapters/demo/adapters';
import { rotateSecretKey } from '@/server/domain/keys';
import { finished, boot, withReplica } from './demo-env';

/**
 * A VM's definition is stored at each sync with its console passwords (virsh dumpxml
 * --security-info), so that the VM failed over gets them back; the passwords are kept only
 * encrypted and never reach the browser, the logs or the history.
 */
afterEach(() => vi.restoreAllMocks());

const GRAPHICS = "<graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>";

describe('console passwords in stored VM definitions (demo nodes)', () => {
  it('are stored encrypted, left out of every API answer, history and log, and given back to define on failover', async () => {
    const env = boot();
    const node1 = env.app.replicas.node(env.node('demo-node1'));
    const def = await node1.dumpVm('web01');
    await node1.defineVm({ ...def, text: def.text.replace('</devices>', `  ${GRAPHICS}\n  </devices>`) });
    // the demo hypervisor answers like `virsh dumpxml --security-info`
    expect((await node1.dumpVm('web01')).text).toContain(GRAPHICS);

    const id = await withReplica(env);
    const raw = env.app.db.$client.prepare('select vm_definition from replicas where id = ?').get(id) as {
      vm_definition: string;
    };
    expect(raw.vm_definition).toContain("<graphics type='vnc' port='-1' autoport='yes'/>");
    expect(raw.vm_definition).not.toContain('s3cret');

    const got = await env.caller.replicas.get({ id });
    expect(got.vmDefinition?.text).toContain("<graphics type='vnc' port='-1' autoport='yes'/>");
    expect(got.vmDefinition).not.toHaveProperty('sealed');
    for (const answer of [
      got,
      await env.caller.replicas.list(),
      await env.caller.replicas.update({ id, sleepTimeSec: 45 }),
    ]) {
      expect(JSON.stringify(answer)).not.toMatch(/s3cret|passwd=/);
    }

    const defines = vi.spyOn(DemoNodeAdapter.prototype, 'defineVm');
    const { taskId } = await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'planned' });
    await finished(env.app, taskId);
    expect(defines).toHaveBeenCalledTimes(1);
    expect(defines.mock.calls[0]![0].text).toContain(GRAPHICS);
    const node2 = env.app.replicas.node(env.node('demo-node2'));
    expect((await node2.dumpVm('web01')).text).toContain(GRAPHICS);
    expect(await node2.getVmState('web01')).toBe('running');

    // Nothing stored in plain text anywhere: replicas, tasks, their steps and logs, history.
    const db = env.app.db.$client;
    const tables = (
      db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]
    ).map((t) => t.name);
    expect(tables).toEqual(
      expect.arrayContaining(['replicas', 'tasks', 'task_steps', 'task_logs', 'history']),
    );
    for (const t of tables)
      expect(JSON.stringify(db.prepare(`select * from "${t}"`).all()), t).not.toContain('s3cret');
    const history = await env.caller.history.list({});
    expect(history.total).toBeGreaterThan(0);
    expect(JSON.stringify(history)).not.toContain('s3cret');
    expect(JSON.stringify(await env.caller.tasks.get({ id: taskId }))).not.toContain('s3cret');
  });

  it('a key rotation re-encrypts the sealed definition, so that a failover after it still defines the VM with its password', async () => {
    const env = boot();
    const node1 = env.app.replicas.node(env.node('demo-node1'));
    const def = await node1.dumpVm('web01');
    await node1.defineVm({ ...def, text: def.text.replace('</devices>', `  ${GRAPHICS}\n  </devices>`) });
    const id = await withReplica(env);
    const before = (
      env.app.db.$client.prepare('select vm_definition from replicas where id = ?').get(id) as {
        vm_definition: string;
      }
    ).vm_definition;
    const r = rotateSecretKey(env.app.db, env.app.keys);
    expect(r.count).toBeGreaterThanOrEqual(1);
    const after = (
      env.app.db.$client.prepare('select vm_definition from replicas where id = ?').get(id) as {
        vm_definition: string;
      }
    ).vm_definition;
    expect(JSON.parse(after).sealed).not.toBe(JSON.parse(before).sealed);
    // Forced: no final sync, so the VM is defined from the definition stored before the rotation.
    const defines = vi.spyOn(DemoNodeAdapter.prototype, 'defineVm');
    await finished(
      env.app,
      (await env.caller.replicas.failover({ id, confirm: 'web01', mode: 'forced' })).taskId,
    );
    expect(defines.mock.calls[0]![0].text).toContain(GRAPHICS);
  });
});
