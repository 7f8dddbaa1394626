import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import type { App } from '@/server/app';
import type { createCaller } from '@/server/trpc/root';
import { cleanVm, labScript, openLab, type Lab } from './lab';
import { finishedTask, labApp } from './lab-app';

/**
 * A VM with a VNC console password on node1, replicated to node2 and failed over through the API
 * on the real node lab (libvirt): the VM defined on node2 has its password (Tandem dumps the
 * definition with --security-info), which Tandem stores only encrypted and never returns.
 * One VM with one 16 MiB disk.
 */
const VM = `khv${process.pid % 10000}`;
const TAG = 'tandem-kv';
/** VNC passwords have at most 8 characters. */
const PASSWORD = `s3${String(process.pid % 1_000_000).padStart(6, '0')}`;

let lab: Lab;
let app: App;
let caller: ReturnType<typeof createCaller>;
let site: Record<string, number>;
let n1: SshRunner;
let n2: SshRunner;
let id = 0;

const dumpxml = async (r: SshRunner, ...flags: string[]) =>
  (await r.run({ argv: ['virsh', 'dumpxml', '--inactive', ...flags, VM] })).stdout;
/** Every row of every table of Tandem's database, as text. */
function everything(): string {
  const db = app.db.$client;
  const tables = (
    db.prepare("select name from sqlite_master where type = 'table'").all() as { name: string }[]
  ).map((t) => t.name);
  return tables.map((t) => JSON.stringify(db.prepare(`select * from "${t}"`).all())).join('\n');
}

beforeAll(async () => {
  lab = await openLab(3);
  n1 = lab.runner('node1');
  n2 = lab.runner('node2');
  await labScript('mkvm', 'node1', VM, '1', '16');
  // the console password takes effect at the next start; the persistent definition has it now
  const xml = (await dumpxml(n1, '--security-info')).replace(
    '</devices>',
    `  <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' passwd='${PASSWORD}'/>\n  </devices>`,
  );
  await n1.run({ argv: ['virsh', 'define', '/dev/stdin'], stdin: xml });
  ({ app, caller, site } = await labApp(lab));
});

afterAll(async () => {
  await app?.tasks.shutdown();
  for (const runner of [n1, n2]) {
    if (!runner) continue;
    const left = await cleanVm(runner, VM, [TAG]);
    if (left.length) console.warn(`[console-password] could not remove ${left.join(', ')}`);
  }
  await app?.ssh.closeAll();
  await lab?.close();
});

describe('VM console passwords across a failover (real node lab)', () => {
  it('libvirt leaves the password out of a dump without --security-info', async () => {
    expect(await dumpxml(n1, '--security-info')).toContain(`passwd='${PASSWORD}'`);
    const plain = await dumpxml(n1);
    expect(plain).toContain("<graphics type='vnc'");
    expect(plain).not.toContain(PASSWORD);
  });

  it('a sync stores the definition without the password in clear, and the API shows none', async () => {
    const res = await caller.replicas.create({
      name: 'kv',
      vmName: VM,
      sourceSiteId: site.node1!,
      targetSiteId: site.node2!,
      rootZpool: 'zones',
      sleepTimeSec: 3600,
      acceptRpoRisk: true,
    });
    id = res.id;
    await finishedTask(app, res.taskId);
    const raw = app.db.$client.prepare('select vm_definition from replicas where id = ?').get(id) as {
      vm_definition: string;
    };
    expect(raw.vm_definition).toContain("<graphics type='vnc'");
    expect(everything()).not.toContain(PASSWORD);
    const answers = [
      await caller.replicas.get({ id }),
      await caller.replicas.list(),
      await caller.history.list({}),
    ];
    for (const a of answers) expect(JSON.stringify(a)).not.toContain(PASSWORD);
    expect(JSON.stringify(answers[0])).not.toMatch(/passwd=|sealed/);
  });

  it('a planned failover defines the VM on node2 with its console password, and nothing shows it', async () => {
    const t0 = Date.now();
    const { taskId } = await caller.replicas.failover({ id, confirm: VM, mode: 'planned' });
    await finishedTask(app, taskId);
    console.log(`[console-password] planned failover: ${Date.now() - t0} ms`);
    expect(await dumpxml(n2, '--security-info')).toContain(`passwd='${PASSWORD}'`);
    expect(['running', 'paused']).toContain(
      (await n2.run({ argv: ['virsh', 'domstate', VM] })).stdout.trim(),
    );
    expect(everything()).not.toContain(PASSWORD);
    for (const a of [
      await caller.replicas.get({ id }),
      await caller.history.list({}),
      await caller.tasks.get({ id: taskId }),
    ]) {
      expect(JSON.stringify(a)).not.toContain(PASSWORD);
    }
  });
});
