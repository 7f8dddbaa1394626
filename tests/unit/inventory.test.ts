import { afterEach, describe, expect, it } from 'vitest';
import type { SiteAdapter } from '@/server/adapters/types';
import type { VmInfo } from '@/server/adapters/node/types';
import type { App } from '@/server/app';
import { AppError } from '@/server/core/errors';
import {
  SiteAnswers,
  vmsKnownOnlyFromReplicas,
  vmsRunningTwice,
  type LiveNode,
  type ReplicaFacts,
} from '@/server/domain/inventory';
import { overview, vmInventory } from '@/server/domain/overview';
import { createCaller } from '@/server/trpc/root';
import { ctxFor, operator, testApp } from './helpers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function replica(
  p: Partial<ReplicaFacts> & Pick<ReplicaFacts, 'id' | 'vmName' | 'sourceSiteId' | 'targetSiteId'>,
): ReplicaFacts {
  return { name: `r${p.id}`, vcpus: 2, memoryMiB: 2048, vmDefinition: null, lastSyncAt: null, ...p };
}
const node = (
  siteId: number,
  vms: [string, VmInfo['state']][] | null,
  unreachableReason?: string,
): LiveNode => ({
  siteId,
  siteName: `n${siteId}`,
  vms: vms && vms.map(([name, state]) => ({ name, state })),
  unreachableReason,
});

describe('inventory rules (pure)', () => {
  it('describes VMs whose master node is unreachable, or does not show them, from their stored replicas', () => {
    const def = (state: string) => ({
      format: 'libvirt-xml' as const,
      name: 'web01',
      text: '<domain/>',
      state,
      disks: [{ device: 'vda', path: '/dev/zvol/zones/web01-disk0' }],
    });
    const reps = [
      replica({
        id: 1,
        vmName: 'web01',
        sourceSiteId: 1,
        targetSiteId: 2,
        vcpus: 4,
        memoryMiB: 8192,
        vmDefinition: def('paused'),
        lastSyncAt: new Date(1000),
      }),
      replica({
        id: 2,
        vmName: 'web01',
        sourceSiteId: 1,
        targetSiteId: 3,
        vcpus: 4,
        memoryMiB: 8192,
        vmDefinition: def('running'),
        lastSyncAt: new Date(2000),
      }),
      replica({ id: 3, vmName: 'app01', sourceSiteId: 2, targetSiteId: 3 }),
      replica({ id: 4, vmName: 'gone01', sourceSiteId: 2, targetSiteId: 1 }),
    ];
    const nodes = [
      node(1, null, 'SSH connection to 10.0.0.1:22 refused'),
      node(2, [['app01', 'running']]),
      node(3, []),
    ];
    expect(vmsKnownOnlyFromReplicas(nodes, reps)).toEqual([
      {
        siteId: 1,
        vmName: 'web01',
        nodeReachable: false,
        reason: 'SSH connection to 10.0.0.1:22 refused',
        vcpus: 4,
        memoryMiB: 8192,
        lastKnownState: 'running',
        disks: [{ device: 'vda', path: '/dev/zvol/zones/web01-disk0' }],
        definitionAt: 2000,
        replicaIds: [1, 2],
      },
      {
        siteId: 2,
        vmName: 'gone01',
        nodeReachable: true,
        reason: 'VM gone01 is not defined on n2',
        vcpus: 2,
        memoryMiB: 2048,
        lastKnownState: null,
        disks: [],
        definitionAt: null,
        replicaIds: [4],
      },
    ]);
    // The master answers with the VM: nothing is stored-only.
    expect(vmsKnownOnlyFromReplicas([node(1, [['web01', 'stopped']])], reps.slice(0, 2))).toEqual([]);
    // A master that is not a registered node at all.
    expect(vmsKnownOnlyFromReplicas([], [reps[2]!])[0]!.reason).toBe(
      'site #2 is not a registered compute node',
    );
  });

  it('flags a VM running (or paused) on its master and on a replica target at once', () => {
    const reps = [
      replica({ id: 1, vmName: 'web01', sourceSiteId: 1, targetSiteId: 2 }),
      replica({ id: 2, vmName: 'web01', sourceSiteId: 1, targetSiteId: 3 }),
    ];
    expect(
      vmsRunningTwice([node(1, [['web01', 'running']]), node(2, [['web01', 'paused']]), node(3, [])], reps),
    ).toEqual([
      {
        vmName: 'web01',
        sites: [
          { id: 1, name: 'n1', state: 'running', role: 'master' },
          { id: 2, name: 'n2', state: 'paused', role: 'replica target' },
        ],
      },
    ]);
    // three copies at once are one finding
    expect(
      vmsRunningTwice(
        [node(1, [['web01', 'running']]), node(2, [['web01', 'running']]), node(3, [['web01', 'running']])],
        reps,
      )[0]!.sites.map((s) => s.id),
    ).toEqual([1, 2, 3]);
    // stopped copies, unreachable nodes and nodes outside the VM's replicas say nothing
    expect(
      vmsRunningTwice(
        [node(1, [['web01', 'running']]), node(2, [['web01', 'stopped']]), node(3, null)],
        reps,
      ),
    ).toEqual([]);
    expect(vmsRunningTwice([node(1, [['web01', 'running']]), node(4, [['web01', 'running']])], reps)).toEqual(
      [],
    );
    // the same pair seen from both directions (replicas both ways) is reported once
    const both = [
      replica({ id: 1, vmName: 'web01', sourceSiteId: 1, targetSiteId: 2 }),
      replica({ id: 2, vmName: 'web01', sourceSiteId: 2, targetSiteId: 1 }),
    ];
    expect(
      vmsRunningTwice([node(1, [['web01', 'running']]), node(2, [['web01', 'running']])], both),
    ).toHaveLength(1);
  });
});

describe('SiteAnswers: bounded waits for sites', () => {
  it('says "waiting" until a first answer, then answers fresh, slow (last value) or failed', async () => {
    const a = new SiteAnswers<string>();
    const o = { waitMs: 30, timeoutMs: 300 };
    expect(await a.ask(1, 'n1', () => sleep(80).then(() => 'one'), o)).toMatchObject({ kind: 'waiting' });
    await sleep(80);
    // the answer to the first question was remembered; the next question is quick
    expect(await a.ask(1, 'n1', async () => 'two', o)).toMatchObject({ kind: 'fresh', value: 'two' });
    // a slow answer: the last value, with its time
    const t0 = Date.now();
    const slow = await a.ask(1, 'n1', () => new Promise<string>(() => {}), o);
    expect(Date.now() - t0).toBeLessThan(200);
    expect(slow).toMatchObject({ kind: 'slow', value: 'two' });
    // the hanging question times out: from then on the site counts as failed, with the reason
    await sleep(320);
    expect(await a.ask(1, 'n1', () => new Promise<string>(() => {}), o)).toMatchObject({
      kind: 'failed',
      error: 'n1: no answer within 0.3 s',
    });
    // a refusal is a failure at once
    expect(
      await a.ask(2, 'n2', () => Promise.reject(new AppError('UNREACHABLE', 'refused')), o),
    ).toMatchObject({ kind: 'failed', error: 'refused' });
    // concurrent callers share one question
    let asked = 0;
    const q = () => (asked++, sleep(20).then(() => 'x'));
    await Promise.all([a.ask(3, 'n3', q, o), a.ask(3, 'n3', q, o)]);
    expect(asked).toBe(1);
  });
});

/** Replaces one site's adapter: every call is refused at once, or never answered. */
function breakSite(app: App, siteId: number, how: 'refuse' | 'hang') {
  const real = app.sites.adapter.bind(app.sites);
  const dead: SiteAdapter = new Proxy({ kind: 'node' } as unknown as SiteAdapter, {
    get: (target, key) =>
      key === 'kind'
        ? 'node'
        : key === 'then'
          ? undefined
          : key === 'zfs'
            ? dead
            : () =>
                how === 'hang'
                  ? new Promise(() => {})
                  : Promise.reject(new AppError('UNREACHABLE', 'SSH connection to 10.0.0.1:22 refused')),
  });
  app.sites.adapter = (id: number) => (id === siteId ? dead : real(id));
}

/** Makes a node's live inventory also show a VM (as if it had been started there). */
function alsoRuns(app: App, siteId: number, vm: Pick<VmInfo, 'name' | 'state'>) {
  const real = app.sites.adapter.bind(app.sites);
  app.sites.adapter = (id: number) => {
    const a = real(id);
    if (id !== siteId || a.kind !== 'node') return a;
    return Object.assign(Object.create(a) as typeof a, {
      listVms: async () => [
        ...(await a.listVms()),
        { uuid: 'x', vcpus: 1, memoryMiB: 1024, disks: [], ...vm },
      ],
    });
  };
}

function setup() {
  const t = testApp();
  t.app.demo.create();
  const id = (name: string) => t.app.sites.byName(name)!.id;
  return { ...t, id, caller: createCaller(ctxFor(t.app, operator)) };
}
let env: ReturnType<typeof setup> | null = null;
afterEach(async () => {
  if (env) {
    await env.app.tasks.shutdown();
  }
  env = null;
});

async function withSyncedReplica() {
  env = setup();
  const { app, caller, id } = env;
  const created = await caller.replicas.create({
    name: 'dr',
    vmName: 'web01',
    sourceSiteId: id('demo-node1'),
    targetSiteId: id('demo-node2'),
    rootZpool: 'zones',
    diskZpools: { vdb: 'data' },
  });
  const t = await app.tasks.wait(created.taskId);
  expect(t.state).toBe('finished');
  return { ...env, replicaId: created.id };
}

describe('the outage path (demo nodes)', () => {
  it('a refused master node: its VM is listed from its stored replica, marked unreachable with the reason, and its replica stays one click away', async () => {
    const { app, caller, id, replicaId } = await withSyncedReplica();
    breakSite(app, id('demo-node1'), 'refuse');
    const inv = await caller.overview.vms();
    const n1 = inv.nodes.find((n) => n.site.name === 'demo-node1')!;
    expect(n1).toMatchObject({
      status: 'unreachable',
      vms: [],
      error: 'SSH connection to 10.0.0.1:22 refused',
    });
    expect(n1.stored).toEqual([
      {
        siteId: id('demo-node1'),
        vmName: 'web01',
        nodeReachable: false,
        reason: 'SSH connection to 10.0.0.1:22 refused',
        vcpus: 4,
        memoryMiB: 8192,
        lastKnownState: 'running',
        disks: [
          { device: 'vda', path: expect.stringContaining('web01') },
          { device: 'vdb', path: expect.stringContaining('web01') },
        ],
        definitionAt: expect.any(Number),
        replicaIds: [replicaId],
      },
    ]);
    expect(inv.nodes.find((n) => n.site.name === 'demo-node2')).toMatchObject({
      status: 'answered',
      stored: [],
    });
    expect(inv.runningTwice).toEqual([]);
    // What the VM page shows besides the inventory comes from the database.
    expect((await caller.replicas.list({ vmName: 'web01' })).map((r) => r.id)).toEqual([replicaId]);
    expect((await caller.replicas.syncRuns({ id: replicaId })).length).toBeGreaterThan(0);
    const ov = await caller.overview.get();
    expect(ov.find((s) => s.site.name === 'demo-node1')).toMatchObject({
      reachable: false,
      headline: 'unreachable',
      error: 'SSH connection to 10.0.0.1:22 refused',
    });
    expect(ov.filter((s) => s.reachable)).toHaveLength(4);
  });

  it('a master node that never answers: every page gets its answer within 2 s, saying so', async () => {
    const { app, caller, id } = await withSyncedReplica();
    breakSite(app, id('demo-node1'), 'hang');
    const t0 = Date.now();
    const [inv, ov] = await Promise.all([caller.overview.vms(), caller.overview.get()]);
    expect(Date.now() - t0).toBeLessThan(2_000);
    const n1 = inv.nodes.find((n) => n.site.name === 'demo-node1')!;
    expect(n1.status).toBe('waiting');
    expect(n1.error).toMatch(/no answer within 1\.5 s \(still asking; unreachable after 10 s\)/);
    expect(n1.stored.map((v) => [v.vmName, v.nodeReachable, v.reason])).toEqual([['web01', false, n1.error]]);
    expect(ov.find((s) => s.site.name === 'demo-node1')).toMatchObject({
      reachable: false,
      level: 'error',
      headline: 'not answering',
      waitingSince: expect.any(Number),
    });
    expect(ov.filter((s) => s.reachable)).toHaveLength(4);
  });

  it('a node that stops answering counts as unreachable after the timeout; before that its last inventory is shown as slow', async () => {
    env = setup();
    const { app, id } = env;
    const fast = { waitMs: 100, timeoutMs: 400 };
    const n1 = id('demo-node1');
    expect(
      (await vmInventory(app.sites, app.replicas, fast)).nodes.find((n) => n.site.id === n1),
    ).toMatchObject({ status: 'answered' });
    expect((await overview(app.sites, fast)).find((s) => s.site.id === n1)).toMatchObject({
      reachable: true,
    });
    breakSite(app, n1, 'hang');
    const slow = (await vmInventory(app.sites, app.replicas, fast)).nodes.find((n) => n.site.id === n1)!;
    expect(slow.status).toBe('slow');
    expect(slow.vms.map((v) => v.name)).toEqual(['web01', 'db01', 'mail01']);
    expect((await overview(app.sites, fast)).find((s) => s.site.id === n1)).toMatchObject({
      reachable: true,
      staleSince: expect.any(Number),
    });
    await new Promise((r) => setTimeout(r, 450));
    expect(
      (await vmInventory(app.sites, app.replicas, fast)).nodes.find((n) => n.site.id === n1),
    ).toMatchObject({ status: 'unreachable', error: 'demo-node1: no answer within 0.4 s' });
  });

  it('flags a VM running on its master and its replica target at once', async () => {
    const { app, caller, id } = await withSyncedReplica();
    expect((await caller.overview.vms()).runningTwice).toEqual([]);
    alsoRuns(app, id('demo-node2'), { name: 'web01', state: 'running' });
    expect((await caller.overview.vms()).runningTwice).toEqual([
      {
        vmName: 'web01',
        sites: [
          { id: id('demo-node1'), name: 'demo-node1', state: 'running', role: 'master' },
          { id: id('demo-node2'), name: 'demo-node2', state: 'running', role: 'replica target' },
        ],
      },
    ]);
  });
});
