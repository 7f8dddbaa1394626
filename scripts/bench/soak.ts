/**
 * Soak: a real Tandem server (production build) with the scheduler syncing three VM replicas every
 * few seconds on the node lab and a Ceph status refresh of both lab clusters every 10 s, for a
 * while (default 30 min). Prints, every minute, the server's RSS and the latency of a light API
 * call (a stand-in for event-loop delay), the syncs done and failed; at the end the first and last
 * five minutes side by side and any MaxListenersExceededWarning from the server's log.
 *
 *   npx next build && npx tsx scripts/bench/soak.ts [minutes]      (both labs up)
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TandemServer } from '../../tests/integration/server';

const minutes = Number(process.argv[2] ?? 30);
const ROOT = path.resolve(__dirname, '../..');
const PASSWORD = 'soak-admin-password';
const VMS = [1, 2, 3].map((i) => `soak${i}`);
const nodes = (...args: string[]) => execFileSync('bash', [path.join(ROOT, 'scripts/lab/nodes.sh'), ...args], { encoding: 'utf8', timeout: 180_000 });

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** The Next.js server process: the node process listening on the port (next start may fork). */
function serverPid(port: number): number {
  const out = execFileSync('bash', ['-c', `ss -ltnpH 'sport = :${port}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2`], { encoding: 'utf8' }).trim();
  return Number(out);
}

async function main() {
  cleanVms();
  try {
    await soak();
  } finally {
    cleanVms();
  }
}

async function soak() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-soak-'));
  const server = new TandemServer(3217, dataDir, PASSWORD, { TANDEM_SCHEDULER_INTERVAL_MS: '2000' });
  await server.start();
  await server.login();
  const { registerLab } = await import(path.join(ROOT, 'scripts/lab/register.mjs'));
  await registerLab(server.base, 'admin', PASSWORD, { nodes: true, ceph: true });
  const sites = await server.query<{ id: number; name: string; kind: string }[]>('sites.list');
  const id = (n: string) => sites.find((s) => s.name === n)!.id;
  for (const [i, vm] of VMS.entries()) {
    nodes('mkvm', 'node1', vm, '2', '16');
    await server.call('replicas.create', { name: 'soak', vmName: vm, sourceSiteId: id('node1'), targetSiteId: id(i % 2 ? 'node3' : 'node2'), rootZpool: 'zones', sleepTimeSec: 5 });
  }
  const pid = serverPid(3217);
  const ceph = sites.filter((s) => s.kind === 'ceph');
  const samples: { min: number; rss: number; latencyMs: number }[] = [];
  const end = Date.now() + minutes * 60_000;
  let nextCeph = 0;
  let nextSample = Date.now() + 60_000;
  let lat: number[] = [];
  while (Date.now() < end) {
    const t = performance.now();
    await server.query('replicas.list', {});
    lat.push(performance.now() - t);
    if (Date.now() >= nextCeph) {
      nextCeph = Date.now() + 10_000;
      await Promise.all(ceph.map((c) => server.query('ceph.status', { siteId: c.id }).catch(() => null)));
    }
    if (Date.now() >= nextSample) {
      nextSample += 60_000;
      lat.sort((a, b) => a - b);
      const s = { min: samples.length + 1, rss: rssMiB(pid), latencyMs: Math.round(lat[Math.floor(lat.length * 0.95)] ?? 0) };
      samples.push(s);
      lat = [];
      const runs = await server.query<{ outcome: string }[]>('replicas.syncRuns', { id: 1, limit: 1000 });
      console.log(`[soak] ${s.min} min: RSS ${s.rss} MiB, p95 API latency ${s.latencyMs} ms, replica 1 runs ${runs.length} (${runs.filter((r) => r.outcome === 'failure').length} failed)`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  const avg = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length));
  const first = samples.slice(0, 5);
  const last = samples.slice(-5);
  console.log(`[soak] first 5 min: RSS ${avg(first.map((s) => s.rss))} MiB, p95 ${avg(first.map((s) => s.latencyMs))} ms; last 5 min: RSS ${avg(last.map((s) => s.rss))} MiB, p95 ${avg(last.map((s) => s.latencyMs))} ms`);
  const warnings = server.log.split('\n').filter((l) => /MaxListenersExceeded/.test(l));
  console.log(`[soak] MaxListenersExceededWarning lines in the server log: ${warnings.length}${warnings.length ? `\n${warnings.slice(0, 3).join('\n')}` : ''}`);
  await server.stop();
}

/** Removes the soak VMs and their datasets from every node (left by an earlier run, or at the end). */
function cleanVms() {
  for (const vm of VMS) {
    for (const n of ['node1', 'node2', 'node3']) {
      try {
        nodes('ssh', n, `virsh destroy ${vm} >/dev/null 2>&1; virsh undefine ${vm} >/dev/null 2>&1; for s in $(zfs list -H -t snapshot -o name -r zones | grep /${vm}-); do zfs release tandem-soak $s >/dev/null 2>&1; done; for d in $(zfs list -H -o name -r zones | grep /${vm}- | sort -r); do zfs destroy -R $d; done; true`);
      } catch {
        /* best effort */
      }
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
