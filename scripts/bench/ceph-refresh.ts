/**
 * Cost of a Ceph mirroring status refresh: CLI calls and server time for P pools holding N images.
 *   npx tsx scripts/bench/ceph-refresh.ts [--lab]
 * Simulated cluster (demo adapter, which counts the CLI calls a real cluster would take) for
 * N = 10, 100, 1000; with --lab also the real site-a of scripts/lab/ceph-sites.sh with 50 images.
 * Prints figures; asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CephCliAdapter } from '../../server/adapters/ceph/cli';
import type { CephAdapter } from '../../server/adapters/ceph/types';
import { LocalRunner } from '../../server/adapters/local-runner';
import { createApp } from '../../server/app';
import { systemClock } from '../../server/core/clock';
import { addMirroredImages } from './demo-images';

async function measure(a: CephAdapter, label: string, runs = 5) {
  await a.refreshStatus(); // warm-up
  const times: number[] = [];
  let calls = 0;
  let images = 0;
  let pools = 0;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    const s = await a.refreshStatus();
    times.push(Number(process.hrtime.bigint() - t) / 1e6);
    calls = s.cliCalls;
    pools = s.pools.length;
    images = s.pools.reduce((n, p) => n + p.images.length, 0);
  }
  times.sort((x, y) => x - y);
  console.log(
    `${label.padEnd(28)} pools ${String(pools).padStart(2)}  images ${String(images).padStart(5)}  CLI calls ${String(calls).padStart(3)}  median ${times[Math.floor(runs / 2)]!.toFixed(1)} ms  max ${times[runs - 1]!.toFixed(1)} ms`,
  );
}

async function simulated() {
  for (const n of [10, 100, 1000]) {
    const app = createApp({
      dbFile: ':memory:',
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-')),
      clock: systemClock,
      demoLatencyMs: 0,
    });
    app.demo.create();
    const a = app.sites.adapter(app.sites.byName('demo-site-a')!.id) as CephAdapter;
    await addMirroredImages(a, n);
    await measure(a, `simulated, N=${n}`);
  }
}

async function lab() {
  const sites = JSON.parse(
    fs.readFileSync(path.join(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab', 'ceph', 'sites.json'), 'utf8'),
  ).sites;
  const s = sites.find((x: { name: string }) => x.name === 'site-a');
  const a = new CephCliAdapter(new LocalRunner(), {
    cluster: s.cluster,
    confPath: s.conf,
    clientId: s.clientId,
    keyringPath: s.keyring,
  });
  const names = Array.from({ length: 50 }, (_, i) => `bench-${i}`);
  const rbd = (...args: string[]) =>
    execFileSync(
      'rbd',
      ['--cluster', s.cluster, '-c', s.conf, '--keyring', s.keyring, '--id', 'admin', ...args],
      { stdio: 'ignore' },
    );
  try {
    for (const n of names) {
      rbd('create', '--size', '16M', '--image-feature', 'layering,exclusive-lock', `rbd/${n}`);
      rbd('mirror', 'image', 'enable', `rbd/${n}`, 'snapshot');
    }
    await measure(a, 'real lab site-a, 50 images');
  } finally {
    for (const n of names) {
      try {
        rbd('mirror', 'image', 'disable', '--force', `rbd/${n}`);
        rbd('rm', '--no-progress', `rbd/${n}`);
      } catch {
        /* already gone */
      }
    }
  }
}

simulated()
  .then(() => (process.argv.includes('--lab') ? lab() : undefined))
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
