/**
 * Replica throughput and bandwidth-limit accuracy on the node lab (scripts/lab/nodes.sh up 3).
 *   npx tsx scripts/bench/replica-throughput.ts [sizeMiB=128]   (the lab's pools hold 512 MiB)
 * 1. raw: `ssh node1 zfs send ds@s | ssh node2 zfs recv -F ds` run from this host (the bytes pass through it);
 * 2. Tandem: the initial sync of a replica of the same VM, node to node (node2 pulls from node1, pv meters);
 * 3. limit: incremental syncs of 32 MiB of writes at 2, 4 and 8 MiB/s.
 * Prints figures; asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp } from '../../server/app';
import { createCaller } from '../../server/trpc/root';

const LAB = path.resolve(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab', 'nodes');
const SIZE = Number(process.argv[2] ?? 128);
const VM = `bench${process.pid % 10000}`;
const cfg = path.join(LAB, 'ssh_config');
const ssh = (node: string, cmd: string) => execFileSync('ssh', ['-F', cfg, node, cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
const nodes = JSON.parse(fs.readFileSync(path.join(LAB, 'nodes.json'), 'utf8')).nodes as { name: string; host: string; port: number; user: string; privateKeyPath: string; hostKeySha256: string; zpools: string[] }[];
const mib = (b: number) => (b / 1048576).toFixed(1);

async function main() {
  execFileSync('bash', [path.resolve(__dirname, '../lab/nodes.sh'), 'mkvm', 'node1', VM, '1', String(SIZE)], { stdio: 'ignore' });
  ssh('node1', `dd if=/dev/urandom of=/zones/${VM}-disk0/disk.img bs=1M count=${SIZE} conv=notrunc status=none && sync && zfs snapshot zones/${VM}-disk0@raw`);
  const bytesOf = Number(ssh('node1', `zfs get -Hp -o value referenced zones/${VM}-disk0@raw`).trim());

  // 1. Raw pipe through this host.
  let t = process.hrtime.bigint();
  execFileSync('bash', ['-c', `ssh -F ${cfg} node1 zfs send zones/${VM}-disk0@raw | ssh -F ${cfg} node2 zfs recv -F zones/${VM}-raw`]);
  const rawSec = Number(process.hrtime.bigint() - t) / 1e9;
  ssh("node2", `for i in 1 2 3 4 5 6; do zfs destroy -r zones/${VM}-raw && break; sleep 1; done`);
  ssh('node1', `zfs destroy zones/${VM}-disk0@raw`);

  // 2. Tandem's initial sync of the same data.
  const app = createApp({ dbFile: ':memory:', dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')) });
  const caller = createCaller({ app, user: { id: 1, username: 'bench', role: 'admin' }, sessionError: null, token: undefined, origin: 'http://b', host: 'b', secure: false, clientKey: 'b', resHeaders: new Headers() });
  const ids: Record<string, number> = {};
  for (const n of nodes.slice(0, 2)) {
    const s = await caller.sites.create({ name: n.name, kind: 'node', config: { host: n.host, port: n.port, user: n.user, zpools: n.zpools }, secret: { privateKey: fs.readFileSync(n.privateKeyPath, 'utf8') } });
    await caller.sites.pinHostKey({ id: s.id, fingerprint: n.hostKeySha256 });
    ids[n.name] = s.id;
  }
  t = process.hrtime.bigint();
  const created = await caller.replicas.create({ name: 'bench', vmName: VM, sourceSiteId: ids.node1!, targetSiteId: ids.node2!, rootZpool: 'zones', sleepTimeSec: 86400, acceptRpoRisk: true });
  const task = await app.tasks.wait(created.taskId);
  const taskSec = Number(process.hrtime.bigint() - t) / 1e9;
  const step = app.tasks.steps(created.taskId).find((s) => s.name === 'Transfer to the replica')!;
  const xferSec = (step.finishedAt!.getTime() - step.startedAt!.getTime()) / 1000;
  const sent = app.replicas.get(created.id).lastSyncBytes ?? 0;
  console.log(`data: ${mib(bytesOf)} MiB referenced, ${mib(sent)} MiB sent by Tandem (task ${task.state})`);
  console.log(`raw ssh|ssh pipe via this host: ${rawSec.toFixed(2)} s = ${mib(bytesOf / rawSec)} MiB/s`);
  console.log(`Tandem transfer step (node to node): ${xferSec.toFixed(2)} s = ${mib(sent / xferSec)} MiB/s; ratio to raw ${(sent / xferSec / (bytesOf / rawSec)).toFixed(2)}`);
  console.log(`Tandem whole sync task (snapshot, transfer, protect, prune): ${taskSec.toFixed(2)} s = ${mib(sent / taskSec)} MiB/s; ratio to raw ${(sent / taskSec / (bytesOf / rawSec)).toFixed(2)}`);

  // 3. Bandwidth limit accuracy.
  for (const limitMiB of [2, 4, 8]) {
    ssh('node1', `dd if=/dev/urandom of=/zones/${VM}-disk0/disk.img bs=1M count=32 conv=notrunc status=none && sync`);
    await caller.replicas.update({ id: created.id, bandwidthLimit: limitMiB * 1048576 });
    const { taskId } = await caller.replicas.syncNow({ id: created.id });
    await app.tasks.wait(taskId);
    const s = app.tasks.steps(taskId).find((x) => x.name === 'Transfer to the replica')!;
    const sec = (s.finishedAt!.getTime() - s.startedAt!.getTime()) / 1000;
    const b = app.replicas.get(created.id).lastSyncBytes ?? 0;
    const rate = b / sec / 1048576;
    console.log(`limit ${limitMiB} MiB/s: ${mib(b)} MiB in ${sec.toFixed(2)} s = ${rate.toFixed(2)} MiB/s (${(((rate - limitMiB) / limitMiB) * 100).toFixed(1)} %)`);
  }

  const del = await caller.replicas.remove({ id: created.id, destroyData: true });
  await app.tasks.wait(del.taskId);
  await app.ssh.closeAll();
}

function cleanup() {
  for (const n of ['node1', 'node2']) {
    try {
      ssh(n, `virsh destroy ${VM} >/dev/null 2>&1; virsh undefine ${VM} >/dev/null 2>&1; for d in $(zfs list -H -o name -r zones data | grep ${VM} | sort -r); do zfs destroy -R $d || { sleep 2; zfs destroy -R $d; }; done; true`);
    } catch {
      /* best effort */
    }
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(cleanup);
