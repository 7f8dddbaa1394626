/**
 * Soak: a real Tandem server (production build) with the scheduler syncing three VM replicas every
 * few seconds on the node lab and a Ceph status refresh of both lab clusters every 10 s, for a
 * while (default 30 min). Prints, every minute, the server's RSS and the latency of a light API
 * call (a stand-in for event-loop delay), the syncs done and failed; at the end the first and last
 * five minutes side by side and any MaxListenersExceededWarning from the server's log.
 *
 *   npx next build && npx tsx scripts/bench/soak.ts [minutes]      (both labs up)
 *
 * SOAK_PORT picks the server's port (default 3217); the script refuses to start when something
 * already listens there, rather than talking to a stranger (e.g. a server left by a killed run).
 * Whatever happens, the server is stopped and the soak VMs (soak1..3, on every node) are removed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanVm, openLab } from '../../tests/integration/lab';
import { TandemServer } from '../../tests/integration/server';

const minutes = Number(process.argv[2] ?? 30);
const PORT = Number(process.env.SOAK_PORT ?? 3217);
const ROOT = path.resolve(__dirname, '../..');
const PASSWORD = 'soak-admin-password';
const VMS = [1, 2, 3].map((i) => `soak${i}`);
/** Replica name = VM name, so each replica has its own hold tag (`tandem-soak1`…). */
const replicaName = (vm: string) => vm;
/** Hold tags to release when cleaning: this script's, and the single `soak` replica name of older versions. */
const HOLD_TAGS = ['tandem-soak', ...VMS.map((vm) => `tandem-${replicaName(vm)}`)];
const nodes = (...args: string[]) =>
  execFileSync('bash', [path.join(ROOT, 'scripts/lab/nodes.sh'), ...args], {
    encoding: 'utf8',
    timeout: 180_000,
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
}

/** The process listening on the port (next start may fork), or 0 when none. */
function listenerPid(port: number): number {
  const out = execFileSync(
    'bash',
    ['-c', `ss -ltnpH 'sport = :${port}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2`],
    { encoding: 'utf8' },
  ).trim();
  return Number(out) || 0;
}
const portTaken = (port: number) =>
  execFileSync('bash', ['-c', `ss -ltnH 'sport = :${port}'`], { encoding: 'utf8' }).trim() !== '';

let server: TandemServer | null = null;
/** The listener of our own server (found once it is up): killed by id if SIGTERM left it running. */
let ourPid = 0;

async function main() {
  if (!Number.isFinite(minutes) || minutes < 1)
    throw new Error(`minutes must be a number ≥ 1, not ${process.argv[2]}`);
  if (portTaken(PORT)) {
    const pid = listenerPid(PORT);
    throw new Error(
      `port ${PORT} is already in use${pid ? ` by pid ${pid} (${fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim()})` : ''}: stop it or pick another port with SOAK_PORT`,
    );
  }
  const left = await cleanVms();
  if (left.length) throw new Error(`datasets of earlier soak runs could not be removed: ${left.join(', ')}`);
  let failed = false;
  try {
    await soak();
  } catch (e) {
    failed = true;
    throw e;
  } finally {
    await stopServer();
    const rest = await cleanVms();
    if (rest.length) console.error(`[soak] could not remove: ${rest.join(', ')}`);
    else console.log('[soak] soak VMs and their datasets removed from every node');
    if (failed && server)
      console.error(`[soak] server log (last 3000 characters):\n${server.log.slice(-3000)}`);
  }
}

async function soak() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-soak-'));
  server = new TandemServer(PORT, dataDir, PASSWORD, { TANDEM_SCHEDULER_INTERVAL_MS: '2000' });
  await server.start();
  ourPid = listenerPid(PORT);
  if (!ourPid) throw new Error(`the server answers but no process listens on port ${PORT}`);
  await server.login();
  const { registerLab } = await import(path.join(ROOT, 'scripts/lab/register.mjs'));
  await registerLab(server.base, 'admin', PASSWORD, { nodes: true, ceph: true });
  const sites = await server.query<{ id: number; name: string; kind: string }[]>('sites.list');
  const id = (n: string) => {
    const s = sites.find((x) => x.name === n);
    if (!s) throw new Error(`site ${n} was not registered`);
    return s.id;
  };
  const replicaIds: number[] = [];
  for (const [i, vm] of VMS.entries()) {
    nodes('mkvm', 'node1', vm, '2', '16');
    // reserveResources: false — the soak measures steady syncing, not capacity planning; the lab's
    // nodes have 2 vCPUs and are shared, so reserving would depend on the other tests' VMs.
    const r = await server.call<{ id: number }>('replicas.create', {
      name: replicaName(vm),
      vmName: vm,
      sourceSiteId: id('node1'),
      targetSiteId: id(i % 2 ? 'node3' : 'node2'),
      rootZpool: 'zones',
      sleepTimeSec: 5,
      reserveResources: false,
    });
    replicaIds.push(r.id);
  }
  await waitInitialSyncs(replicaIds);
  const pid = ourPid;
  const ceph = sites.filter((s) => s.kind === 'ceph');
  const samples: { min: number; rss: number; latencyMs: number }[] = [];
  const start = Date.now();
  let nextCeph = 0;
  let nextSample = start + 60_000;
  let lat: number[] = [];
  let cephCalls = 0;
  let cephErrors = 0;
  let lastCephError = '';
  let runs = { total: 0, failed: 0, per: [] as string[] };
  console.log(
    `[soak] server pid ${pid} on port ${PORT}, RSS ${rssMiB(pid)} MiB at start; replicas ${replicaIds.join(', ')}; ${minutes} min`,
  );
  // One sample per minute, the last one at the end of the last minute.
  while (samples.length < minutes) {
    const t = performance.now();
    await server.query('replicas.list', {});
    lat.push(performance.now() - t);
    if (Date.now() >= nextCeph) {
      nextCeph = Date.now() + 10_000;
      await Promise.all(
        ceph.map((c) =>
          server!.query('ceph.status', { siteId: c.id }).then(
            () => cephCalls++,
            (e) => {
              cephCalls++;
              cephErrors++;
              lastCephError = (e as Error).message;
            },
          ),
        ),
      );
    }
    if (Date.now() >= nextSample) {
      nextSample += 60_000;
      lat.sort((a, b) => a - b);
      const s = {
        min: samples.length + 1,
        rss: rssMiB(pid),
        latencyMs: Math.round(lat[Math.floor(lat.length * 0.95)] ?? 0),
      };
      samples.push(s);
      lat = [];
      runs = await syncRunCounts(replicaIds);
      console.log(
        `[soak] ${s.min} min: RSS ${s.rss} MiB, p95 API latency ${s.latencyMs} ms, sync runs ${runs.total} (${runs.failed} failed) [${runs.per.join(', ')}], ceph status calls ${cephCalls} (${cephErrors} failed)`,
      );
    }
    await sleep(1000);
  }
  const avg = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  const first = samples.slice(0, 5);
  const last = samples.slice(-5);
  runs = await syncRunCounts(replicaIds);
  console.log(
    `[soak] first 5 min: RSS ${avg(first.map((s) => s.rss))} MiB, p95 ${avg(first.map((s) => s.latencyMs))} ms; last 5 min: RSS ${avg(last.map((s) => s.rss))} MiB, p95 ${avg(last.map((s) => s.latencyMs))} ms`,
  );
  console.log(
    `[soak] sync runs: ${runs.total} (${runs.failed} failed) [${runs.per.join(', ')}]; ceph status calls: ${cephCalls} (${cephErrors} failed${lastCephError ? `, last: ${lastCephError}` : ''})`,
  );
  const failures = (
    await Promise.all(
      replicaIds.map((rid) =>
        server!.query<{ outcome: string; error?: string | null }[]>('replicas.syncRuns', {
          id: rid,
          limit: 1000,
        }),
      ),
    )
  )
    .flat()
    .filter((r) => r.outcome === 'failure');
  if (failures.length)
    console.log(
      `[soak] failed sync runs, first 3:\n${failures
        .slice(0, 3)
        .map((f) => JSON.stringify(f))
        .join('\n')}`,
    );
  const warnings = server.log.split('\n').filter((l) => /MaxListenersExceeded/.test(l));
  console.log(
    `[soak] MaxListenersExceededWarning lines in the server log: ${warnings.length}${warnings.length ? `\n${warnings.slice(0, 3).join('\n')}` : ''}`,
  );
  // Stop replicating before the server goes, so that no send/recv is cut off (busy datasets).
  await quiesce(replicaIds);
}

/** Waits until every replica finished its initial full sync (so the soak measures steady state). */
async function waitInitialSyncs(ids: number[]) {
  const deadline = Date.now() + 5 * 60_000;
  for (;;) {
    const rs = await server!.query<
      { id: number; state: string; lastSyncAt: string | null; lastError?: string | null }[]
    >('replicas.list', {});
    const mine = rs.filter((r) => ids.includes(r.id));
    if (mine.every((r) => r.lastSyncAt)) return;
    if (Date.now() > deadline)
      throw new Error(
        `initial syncs did not finish within 5 min: ${JSON.stringify(mine.map((r) => ({ id: r.id, state: r.state, lastError: r.lastError })))}`,
      );
    await sleep(2000);
  }
}

async function syncRunCounts(ids: number[]) {
  const per = await Promise.all(
    ids.map((rid) => server!.query<{ outcome: string }[]>('replicas.syncRuns', { id: rid, limit: 1000 })),
  );
  return {
    total: per.reduce((a, r) => a + r.length, 0),
    failed: per.reduce((a, r) => a + r.filter((x) => x.outcome === 'failure').length, 0),
    per: per.map((r, i) => `#${ids[i]}: ${r.length}/${r.filter((x) => x.outcome === 'failure').length}`),
  };
}

/** Disables the replicas and waits (up to a minute) for syncs in flight to end. */
async function quiesce(ids: number[]) {
  for (const rid of ids) await server!.call('replicas.update', { id: rid, enabled: false }).catch(() => null);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const rs = await server!
      .query<{ id: number; activeTaskId: number | null }[]>('replicas.list', {})
      .catch(() => []);
    if (!rs.some((r) => ids.includes(r.id) && r.activeTaskId)) return;
    await sleep(1000);
  }
}

/** Stops our server; if its listener survives SIGTERM (a forked child), kills that pid. */
async function stopServer() {
  if (!server) return;
  await server.stop().catch(() => null);
  if (ourPid && listenerPid(PORT) === ourPid) {
    try {
      process.kill(ourPid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/**
 * Removes the soak VMs and their datasets from every node (left by an earlier run, or at the end),
 * with the lab tests' helper: releases the replication holds, retries a busy destroy. Returns what
 * could not be removed.
 */
async function cleanVms(): Promise<string[]> {
  const lab = await openLab(3);
  const left: string[] = [];
  try {
    for (const n of ['node1', 'node2', 'node3'])
      for (const vm of VMS)
        left.push(
          ...(await cleanVm(lab.runner(n), vm, HOLD_TAGS, ['zones', 'data'])).map((d) => `${n}:${d}`),
        );
  } finally {
    await lab.close();
  }
  return left;
}

async function onSignal(sig: NodeJS.Signals) {
  console.error(`[soak] ${sig}: stopping the server and removing the soak VMs`);
  await stopServer();
  const rest = await cleanVms().catch((e) => [`(cleanup failed: ${(e as Error).message})`]);
  if (rest.length) console.error(`[soak] could not remove: ${rest.join(', ')}`);
  process.exit(130);
}
process.once('SIGINT', (s) => void onSignal(s));
process.once('SIGTERM', (s) => void onSignal(s));

main().then(
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
