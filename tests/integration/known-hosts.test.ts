import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  hostKeyAliasFor,
  knownHostsLine,
  parseHostKeyBlob,
  parseHostKeyLine,
} from '@/server/adapters/node/known-hosts';
import type { PullOptions } from '@/server/adapters/node/types';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import type { App } from '@/server/app';
import type { createCaller } from '@/server/trpc/root';
import { cleanVm, labScript, NODES_JSON, openLab, type Lab } from './lab';
import { finishedTask, labApp, md5, writeDisk } from './lab-app';

/**
 * Node-to-node pulls on the real node lab trust only the host key Tandem pinned for the source:
 * Tandem writes it into its own known_hosts file on the target (~/.ssh/tandem_known_hosts of the
 * SSH user, here /root/.ssh inside node2) and the target's `ssh node1 zfs send …` checks node1
 * against that entry alone. A wrong or missing entry refuses the pull, although node2's own
 * ~/.ssh/known_hosts knows node1; the next sync writes the entry again from the pinned key.
 * One VM with one 16 MiB disk on node1, replicated to node2.
 */
const VM = `kh${process.pid % 10000}`;
const TAG = 'tandem-kh';
const DS = `zones/${VM}-disk0`;
const IMG = `/zones/${VM}-disk0/disk.img`;

let lab: Lab;
let app: App;
let caller: ReturnType<typeof createCaller>;
let site: Record<string, number>;
let n1: SshRunner;
let n2: SshRunner;
let id = 0;
let alias = '';
const labKeys: Record<string, string> = {};

const KH = ['sh', '-c', 'cat "$HOME/.ssh/tandem_known_hosts"'];
/** Replaces the entry of `a` in Tandem's known_hosts file on node2 (line omitted: removes it). */
async function setEntry(a: string, line: string | null) {
  await n2.run({
    argv: [
      'sh',
      '-c',
      'f="$HOME/.ssh/tandem_known_hosts"; { awk -v a="$1" \'$1 != a\' "$f"; [ -z "$2" ] || printf "%s\\n" "$2"; } >"$f.t" && mv -f "$f.t" "$f"',
      'set-entry',
      a,
      line ?? '',
    ],
  });
}
async function entries(): Promise<string[]> {
  return (await n2.run({ argv: KH })).stdout.split('\n').filter((l) => l.startsWith(`${alias} `));
}
async function sync() {
  const { taskId } = await caller.replicas.syncNow({ id });
  const t0 = Date.now();
  const t = await finishedTask(app, taskId);
  return { task: t, ms: Date.now() - t0 };
}
/** A pull of a fresh snapshot of the disk straight through node2's adapter, as a sync runs it. */
async function directPull(probe: string, over: Partial<PullOptions> = {}) {
  await n1.run({ argv: ['zfs', 'snapshot', `${DS}@${probe}`] });
  const last = (await caller.replicas.get({ id })).lastSnapshot!;
  return app.replicas.node(site.node2!).pull({
    source: { ...app.replicas.sourceSpec(site.node1!), hostKeyAlias: alias },
    sourceDataset: DS,
    fromSnapshot: last,
    toSnapshot: probe,
    targetDataset: DS,
    recursive: false,
    intermediates: false,
    bandwidthLimitBytesPerSec: null,
    timeoutMs: 60_000,
    ...over,
  });
}

beforeAll(async () => {
  lab = await openLab(3);
  n1 = lab.runner('node1');
  n2 = lab.runner('node2');
  for (const n of JSON.parse(fs.readFileSync(NODES_JSON, 'utf8')).nodes as {
    name: string;
    hostKey: string;
  }[])
    labKeys[n.name] = n.hostKey;
  await labScript('mkvm', 'node1', VM, '1', '16');
  ({ app, caller, site } = await labApp(lab));
  alias = hostKeyAliasFor(site.node1!);
});

afterAll(async () => {
  await app?.tasks.shutdown();
  for (const runner of [n1, n2]) {
    if (!runner) continue;
    const left = await cleanVm(runner, VM, [TAG]);
    if (left.length) console.warn(`[known-hosts] could not remove ${left.join(', ')}`);
  }
  await app?.ssh.closeAll();
  await lab?.close();
});

describe('node-to-node pulls trust only the pinned source host key (real node lab)', () => {
  it("reads node1's key from Tandem's own pinned connection; the first sync writes it on node2 (0600) and replicates", async () => {
    expect(parseHostKeyBlob(await n1.hostKey())).toEqual(parseHostKeyLine(labKeys.node1!));
    const t0 = Date.now();
    const res = await caller.replicas.create({
      name: 'kh',
      vmName: VM,
      sourceSiteId: site.node1!,
      targetSiteId: site.node2!,
      rootZpool: 'zones',
      sleepTimeSec: 3600,
      acceptRpoRisk: true,
    });
    id = res.id;
    await finishedTask(app, res.taskId);
    console.log(`[known-hosts] initial sync: ${Date.now() - t0} ms`);
    expect(await entries()).toEqual([knownHostsLine(alias, parseHostKeyLine(labKeys.node1!))]);
    expect(
      (await n2.run({ argv: ['sh', '-c', 'stat -c %a "$HOME/.ssh/tandem_known_hosts"'] })).stdout.trim(),
    ).toBe('600');
    expect(await md5(n2, IMG)).toBe(await md5(n1, IMG));
  });

  it("a wrong key in Tandem's known_hosts refuses the pull (with or without a Host alias); the next sync writes the pinned key again", async () => {
    await setEntry(alias, knownHostsLine(alias, parseHostKeyLine(labKeys.node3!)));
    const refused = /^root@127\.0\.0\.1:2202 does not trust the host key of root@127\.0\.0\.1:2201: /;
    await expect(directPull('khprobe1')).rejects.toMatchObject({
      code: 'HOST_KEY_UNKNOWN',
      message: expect.stringMatching(refused),
    });
    // through node2's Host alias `node1` (HostName and Port from its ~/.ssh/config): the same check
    await expect(
      directPull('khprobe2', {
        source: { host: '127.0.0.1', port: 2201, user: 'root', alias: 'node1', hostKeyAlias: alias },
      }),
    ).rejects.toMatchObject({
      code: 'HOST_KEY_UNKNOWN',
      message: expect.stringMatching(/does not trust the host key of node1: /),
    });

    await writeDisk(n1, IMG, 2, 4);
    const { task, ms } = await sync();
    console.log(`[known-hosts] sync that repaired the entry: ${task.progressComplete} bytes in ${ms} ms`);
    expect(await entries()).toEqual([knownHostsLine(alias, parseHostKeyLine(labKeys.node1!))]);
    expect(
      (await n2.run({ argv: ['sh', '-c', 'stat -c %a "$HOME/.ssh/tandem_known_hosts"'] })).stdout.trim(),
    ).toBe('600');
    expect(await md5(n2, IMG)).toBe(await md5(n1, IMG));
  });

  it("node2's own known_hosts is not trusted: without Tandem's entry the pull is refused; with it, a pull through the Host alias works", async () => {
    // node2's ~/.ssh/known_hosts knows node1 (the lab's nodes trust each other)
    const own = (await n2.run({ argv: ['sh', '-c', 'cat "$HOME/.ssh/known_hosts"'] })).stdout;
    expect(own).toContain(`[127.0.0.1]:2201 ${labKeys.node1}`);
    await setEntry(alias, null);
    expect(await entries()).toEqual([]);
    await expect(directPull('khprobe3')).rejects.toMatchObject({
      code: 'HOST_KEY_UNKNOWN',
      message: expect.stringMatching(/does not trust the host key of root@127\.0\.0\.1:2201/),
    });

    // Tandem writes the entry (as a sync does first), then the same pull through `node1` runs.
    const source = await app.replicas.pullSource(site.node1!, site.node2!);
    expect(await entries()).toEqual([knownHostsLine(alias, parseHostKeyLine(labKeys.node1!))]);
    const res = await directPull('khprobe4', {
      source: { ...source, alias: 'node1' },
      fromSnapshot: null,
      targetDataset: `zones/${VM}-khcopy`,
    });
    expect(res.bytes).toBeGreaterThan(0);
    expect(await md5(n2, `/zones/${VM}-khcopy/disk.img`)).toBe(await md5(n1, IMG));
    const { ms } = await sync();
    console.log(`[known-hosts] sync with the entry in place: ${ms} ms`);
  });
});
