/**
 * Replica throughput, cycle cost and bandwidth-limit accuracy on the node lab (scripts/lab/nodes.sh up 3).
 *   npx tsx scripts/bench/replica-throughput.ts [sizeMiB=128]   (the lab's pools hold 512 MiB)
 *   TANDEM_BENCH_TRACE=1 … also prints every remote command of the measured syncs with its duration.
 * 1. raw node to node (the reference): `ssh node2 "ssh node1 zfs send ds@s | zfs recv -F ds"`, the path
 *    Tandem's pull takes (node2 pulls from node1); for comparison the same pipe through this host,
 *    `ssh node1 zfs send | ssh node2 zfs recv`.
 * 2. Tandem: the initial sync of a replica of the same VM (node2 pulls from node1, pv meters):
 *    the transfer step and the whole task (snapshot, transfer, protect and prune) against (1).
 *    (1) and (2) run in turn ROUNDS times; medians are printed, ratios taken within a round.
 * 3. incremental cycles: with nothing written (median of NOCHANGE_RUNS), and after 32 MiB of writes
 *    (with the raw node-to-node incremental pipe of the same writes for reference); per-step times.
 * 4. limit: incremental syncs of 32 MiB of writes at 2, 4 and 8 MiB/s.
 * Prints figures; asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SshRunner } from '../../server/adapters/ssh-runner';
import { createApp } from '../../server/app';
import { createCaller } from '../../server/trpc/root';

const LAB = path.resolve(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab', 'nodes');
const SIZE = Number(process.argv[2] ?? 128);
const ROUNDS = 3;
const NOCHANGE_RUNS = 5;
const VM = `bench${process.pid % 10000}`;
const DS = `zones/${VM}-disk0`;
const cfg = path.join(LAB, 'ssh_config');
const ssh = (node: string, cmd: string) =>
  execFileSync('ssh', ['-F', cfg, node, cmd], { encoding: 'utf8', maxBuffer: 64 << 20 });
const nodes = JSON.parse(fs.readFileSync(path.join(LAB, 'nodes.json'), 'utf8')).nodes as {
  name: string;
  host: string;
  port: number;
  user: string;
  privateKeyPath: string;
  hostKeySha256: string;
  zpools: string[];
}[];
const mib = (b: number) => (b / 1048576).toFixed(1);
const secs = (from: bigint) => Number(process.hrtime.bigint() - from) / 1e9;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const destroyRaw = () =>
  ssh('node2', `for i in 1 2 3 4 5 6; do zfs destroy -r zones/${VM}-raw && break; sleep 1; done`);
const write = (n: number) =>
  ssh(
    'node1',
    `dd if=/dev/urandom of=/zones/${VM}-disk0/disk.img bs=1M count=${n} conv=notrunc status=none && sync`,
  );

/** Best wall time of `runs` runs of a shell command run on this host (`after` cleans up between runs). */
function bestOf(runs: number, cmd: string, after: () => void): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    execFileSync('bash', ['-o', 'pipefail', '-c', cmd]);
    best = Math.min(best, secs(t));
    after();
  }
  return best;
}

let trace = false;
if (process.env.TANDEM_BENCH_TRACE) {
  const run = SshRunner.prototype.run;
  SshRunner.prototype.run = async function (this: SshRunner, spec) {
    const t = process.hrtime.bigint();
    try {
      return await run.call(this, spec);
    } finally {
      if (trace)
        console.log(
          `    ${(secs(t) * 1000).toFixed(0).padStart(5)} ms  ${this.target.replace(/^.*:/, ':')}  ${spec.argv.join(' ').replace(/\s+/g, ' ').slice(0, 110)}`,
        );
    }
  };
}

async function main() {
  execFileSync('bash', [path.resolve(__dirname, '../lab/nodes.sh'), 'mkvm', 'node1', VM, '1', String(SIZE)], {
    stdio: 'ignore',
  });
  ssh(
    'node1',
    `dd if=/dev/urandom of=/zones/${VM}-disk0/disk.img bs=1M count=${SIZE} conv=notrunc status=none && sync`,
  );
  const bytesOf = Number(ssh('node1', `zfs get -Hp -o value referenced ${DS}`).trim());

  // 1 and 2, ROUNDS times in turn (the load of a shared machine moves): the raw pipes, then
  // Tandem's initial sync of the same data (the replica is deleted between rounds).
  const app = createApp({
    dbFile: ':memory:',
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')),
  });
  const caller = createCaller({
    app,
    user: { id: 1, username: 'bench', role: 'admin' },
    sessionError: null,
    token: undefined,
    origin: 'http://b',
    host: 'b',
    secure: false,
    clientKey: 'b',
    resHeaders: new Headers(),
  });
  const ids: Record<string, number> = {};
  for (const n of nodes.slice(0, 2)) {
    const s = await caller.sites.create({
      name: n.name,
      kind: 'node',
      config: { host: n.host, port: n.port, user: n.user, zpools: n.zpools },
      secret: { privateKey: fs.readFileSync(n.privateKeyPath, 'utf8') },
    });
    await caller.sites.pinHostKey({ id: s.id, fingerprint: n.hostKeySha256 });
    ids[n.name] = s.id;
  }
  const stepTimes = (taskId: number) =>
    app.tasks.steps(taskId).map((s) => ({
      name: s.name,
      sec: s.startedAt && s.finishedAt ? (s.finishedAt.getTime() - s.startedAt.getTime()) / 1000 : NaN,
    }));
  const fmtSteps = (st: { name: string; sec: number }[], whole: number) =>
    `${st.map((s) => `${s.name} ${s.sec.toFixed(2)}`).join(', ')}; outside steps ${(whole - st.reduce((a, s) => a + s.sec, 0)).toFixed(2)} s`;
  const rate = (b: number, s: number) => `${s.toFixed(2)} s = ${mib(b / s)} MiB/s`;

  const rounds: {
    n2n: number;
    viaHost: number;
    createSec: number;
    taskSec: number;
    xferSec: number;
    sent: number;
    steps: { name: string; sec: number }[];
  }[] = [];
  let created: { id: number; taskId: number } | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    if (created) {
      const del = await caller.replicas.remove({ id: created.id, destroyData: true });
      await app.tasks.wait(del.taskId);
    }
    ssh('node1', `zfs snapshot ${DS}@raw`);
    const n2n = bestOf(
      1,
      `ssh -F ${cfg} node2 "ssh node1 zfs send ${DS}@raw | zfs recv -F zones/${VM}-raw"`,
      destroyRaw,
    );
    const viaHost = bestOf(
      1,
      `ssh -F ${cfg} node1 zfs send ${DS}@raw | ssh -F ${cfg} node2 zfs recv -F zones/${VM}-raw`,
      destroyRaw,
    );
    ssh('node1', `zfs destroy ${DS}@raw`);
    const traced = !!process.env.TANDEM_BENCH_TRACE && round === ROUNDS - 1;
    if (traced) console.log('  the initial sync (replicas.create included), traced:');
    const t = process.hrtime.bigint();
    trace = traced;
    const c = await caller.replicas.create({
      name: 'bench',
      vmName: VM,
      sourceSiteId: ids.node1!,
      targetSiteId: ids.node2!,
      rootZpool: 'zones',
      sleepTimeSec: 86400,
      acceptRpoRisk: true,
    });
    const task = await app.tasks.wait(c.taskId);
    const createSec = secs(t);
    trace = false;
    if (task.state !== 'finished') throw new Error(`initial sync ${task.state}: ${task.error}`);
    created = { id: c.id, taskId: c.taskId };
    const steps = stepTimes(c.taskId);
    rounds.push({
      n2n,
      viaHost,
      createSec,
      taskSec: (task.finishedAt!.getTime() - task.startedAt!.getTime()) / 1000,
      xferSec: steps.find((s) => s.name === 'Transfer to the replica')!.sec,
      sent: app.replicas.get(c.id).lastSyncBytes ?? 0,
      steps,
    });
  }
  const replica = created!;
  const med = (f: (r: (typeof rounds)[number]) => number) => median(rounds.map(f));
  const sent = med((r) => r.sent);
  const last = rounds.at(-1)!;
  console.log(
    `data: ${mib(bytesOf)} MiB referenced, ${mib(sent)} MiB sent by Tandem; medians of ${ROUNDS} rounds (raw pipes, then Tandem's initial sync)`,
  );
  console.log(
    `raw node-to-node pipe (ssh node2 "ssh node1 zfs send | zfs recv"), the reference: ${rate(
      bytesOf,
      med((r) => r.n2n),
    )} (${rounds.map((r) => r.n2n.toFixed(2)).join(', ')})`,
  );
  console.log(
    `raw pipe via this host (ssh node1 zfs send | ssh node2 zfs recv): ${rate(
      bytesOf,
      med((r) => r.viaHost),
    )}; ratio to node-to-node ${med((r) => r.n2n / r.viaHost).toFixed(2)}`,
  );
  console.log(
    `Tandem transfer step (node to node): ${rate(
      sent,
      med((r) => r.xferSec),
    )}; ratio to node-to-node ${med((r) => r.sent / r.xferSec / (bytesOf / r.n2n)).toFixed(2)}`,
  );
  console.log(
    `Tandem whole initial sync task (snapshot, transfer, protect and prune): ${rate(
      sent,
      med((r) => r.taskSec),
    )} (${rounds.map((r) => r.taskSec.toFixed(2)).join(', ')}); ratio to node-to-node ${med((r) => r.sent / r.taskSec / (bytesOf / r.n2n)).toFixed(2)} (${rounds.map((r) => (r.sent / r.taskSec / (bytesOf / r.n2n)).toFixed(2)).join(', ')})`,
  );
  console.log(
    `  with replicas.create's checks before it: ${med((r) => r.createSec).toFixed(2)} s; ratio ${med((r) => r.sent / r.createSec / (bytesOf / r.n2n)).toFixed(2)}`,
  );
  console.log(`  steps of the last round (s): ${fmtSteps(last.steps, last.taskSec)}`);

  // 3. Incremental cycles.
  const cycle = async (traced: boolean) => {
    trace = traced;
    const t0 = process.hrtime.bigint();
    const { taskId } = await caller.replicas.syncNow({ id: replica.id });
    const done = await app.tasks.wait(taskId);
    const whole = secs(t0);
    trace = false;
    if (done.state !== 'finished') throw new Error(`sync task ${done.state}: ${done.error}`);
    const r = app.replicas.get(replica.id);
    return { whole, steps: stepTimes(taskId), bytes: r.lastSyncBytes ?? 0, snapshot: r.lastSnapshot };
  };
  const lastSyncBefore = app.replicas.get(replica.id).lastSyncAt!.getTime();
  if (process.env.TANDEM_BENCH_TRACE) console.log('  one no-change cycle, traced:');
  const nochange = [await cycle(!!process.env.TANDEM_BENCH_TRACE)];
  for (let i = 1; i < NOCHANGE_RUNS; i++) nochange.push(await cycle(false));
  const mid = [...nochange].sort((a, b) => a.whole - b.whole)[Math.floor(nochange.length / 2)]!;
  const advanced =
    app.replicas.get(replica.id).lastSyncAt!.getTime() > lastSyncBefore &&
    new Set(nochange.map((c) => c.snapshot)).size === nochange.length;
  console.log(
    `no-change cycle (nothing written): median ${mid.whole.toFixed(2)} s of ${nochange.map((c) => c.whole.toFixed(2)).join(', ')}; ${mib(mid.bytes)} MiB sent; recovery point advanced (new snapshot each cycle, last sync time later): ${advanced ? 'yes' : 'NO'}`,
  );
  console.log(`  steps (s): ${fmtSteps(mid.steps, mid.whole)}`);

  // Raw node-to-node incremental pipe of 32 MiB of writes, then Tandem's cycle after the same amount.
  write(32);
  ssh('node1', `zfs snapshot ${DS}@raw1`);
  ssh('node2', `ssh node1 zfs send ${DS}@raw1 | zfs recv -F zones/${VM}-raw`);
  write(32);
  ssh('node1', `zfs snapshot ${DS}@raw2`);
  const t = process.hrtime.bigint();
  ssh('node2', `ssh node1 zfs send -i ${DS}@raw1 ${DS}@raw2 | zfs recv -F zones/${VM}-raw`);
  const rawInc = secs(t);
  destroyRaw();
  ssh('node1', `zfs destroy ${DS}@raw2 && zfs destroy ${DS}@raw1`);
  write(32);
  if (process.env.TANDEM_BENCH_TRACE) console.log('  the 32 MiB cycle, traced:');
  const inc = await cycle(!!process.env.TANDEM_BENCH_TRACE);
  console.log(
    `cycle after 32 MiB of writes: ${rate(inc.bytes, inc.whole)} (${mib(inc.bytes)} MiB); raw node-to-node incremental pipe of 32 MiB ${rawInc.toFixed(2)} s; ratio ${(rawInc / inc.whole).toFixed(2)}`,
  );
  console.log(`  steps (s): ${fmtSteps(inc.steps, inc.whole)}`);

  // 4. Bandwidth limit accuracy.
  for (const limitMiB of [2, 4, 8]) {
    write(32);
    await caller.replicas.update({ id: replica.id, bandwidthLimit: limitMiB * 1048576 });
    const { taskId } = await caller.replicas.syncNow({ id: replica.id });
    await app.tasks.wait(taskId);
    const s = app.tasks.steps(taskId).find((x) => x.name === 'Transfer to the replica')!;
    const sec = (s.finishedAt!.getTime() - s.startedAt!.getTime()) / 1000;
    const b = app.replicas.get(replica.id).lastSyncBytes ?? 0;
    const r = b / sec / 1048576;
    console.log(
      `limit ${limitMiB} MiB/s: ${mib(b)} MiB in ${sec.toFixed(2)} s = ${r.toFixed(2)} MiB/s (${(((r - limitMiB) / limitMiB) * 100).toFixed(1)} %)`,
    );
  }

  const del = await caller.replicas.remove({ id: replica.id, destroyData: true });
  await app.tasks.wait(del.taskId);
  await app.ssh.closeAll();
}

function cleanup() {
  for (const n of ['node1', 'node2']) {
    try {
      ssh(
        n,
        `virsh destroy ${VM} >/dev/null 2>&1; virsh undefine ${VM} >/dev/null 2>&1; for d in $(zfs list -H -o name -r zones data | grep ${VM} | sort -r); do zfs destroy -R $d || { sleep 2; zfs destroy -R $d; }; done; true`,
      );
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
