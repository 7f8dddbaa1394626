import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDomainXml } from '@/server/adapters/node/domain-xml';
import { SshNodeAdapter } from '@/server/adapters/node/ssh-node';
import type { SshRunner } from '@/server/adapters/ssh-runner';
import { cleanVm, LAB_DIR, labScript, openLab, type Lab } from './lab';

/*
 * A test VM beside its original on the node lab (zfs-fuse, one libvirtd per node): a VM of its
 * own on node1 with two disks, a network interface and SMBIOS data naming its uuid, running
 * (paused: the lab's guests have no OS). Its disks are snapshotted and cloned under test names, a
 * test VM is defined from the rewritten definition (new name, new uuid, no network) and
 * started; it has no interface and runs on the clones while the original runs on. A second
 * definition puts the interface on an isolated network instead. Then everything of the test is
 * removed and nothing of it is left in `zfs list` or `virsh list --all`.
 */

const VM = `tv-${crypto.randomBytes(3).toString('hex')}`;
const TEST = `${VM}-test`;
const ISO = `${VM}-iso`;
const SNAP = `tandem-test-${crypto.randomBytes(2).toString('hex')}`;
const DISKS = [0, 1].map((i) => `zones/${VM}-disk${i}`);
const CLONES = [0, 1].map((i) => `zones/${TEST}-disk${i}`);
const MAC = '52:54:00:7e:57:01';

let lab: Lab;
let r1: SshRunner;
let n1: SshNodeAdapter;
let originalUuid = '';
let testUuid = '';
const timings: Record<string, string> = {};
const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(2)} s`;

const virsh = async (...args: string[]) => (await r1.run({ argv: ['virsh', ...args] })).stdout;
const md5 = async (file: string) => (await r1.run({ argv: ['md5sum', file] })).stdout.split(/\s+/)[0]!;
const interfaces = (xml: string) => xml.match(/<interface\b[^>]*?(?:\/>|>[\s\S]*?<\/interface>)/g) ?? [];

beforeAll(async () => {
  lab = await openLab(1);
  r1 = lab.runner('node1');
  n1 = new SshNodeAdapter(r1, 'libvirt');
  await labScript('mkvm', 'node1', VM, '2', '16');
});

afterAll(async () => {
  if (!lab) return;
  const problems: string[] = [];
  for (const name of [TEST, ISO]) {
    await r1.run({ argv: ['virsh', 'destroy', name], allowFailure: true });
    await r1.run({ argv: ['virsh', 'undefine', name], allowFailure: true });
  }
  // the VM, its clones and its snapshots (every dataset named `<vm>-…`, clones first)
  problems.push(...(await cleanVm(r1, VM, [], ['zones'])).map((d) => `dataset ${d} is left`));
  fs.rmSync(path.join(LAB_DIR, 'nodes', 'node1', 'vms', `${VM}.xml`), { force: true });
  console.log(`[node-test-vm] timings: ${JSON.stringify(timings)}`);
  await lab.close();
  if (problems.length) throw new Error(`cleanup left things behind:\n${problems.join('\n')}`);
});

describe.sequential('a test VM from clones on the node lab', () => {
  it('gives the lab VM a network interface and SMBIOS data naming its uuid, and runs it', async () => {
    const def = await n1.dumpVm(VM);
    originalUuid = parseDomainXml(def.text).uuid!;
    const text = def.text
      .replace(
        '</devices>',
        `  <interface type='user'>\n      <mac address='${MAC}'/>\n      <model type='virtio'/>\n    </interface>\n  </devices>`,
      )
      .replace(
        '<os>',
        `<sysinfo type='smbios'>\n    <system>\n      <entry name='manufacturer'>Tandem lab</entry>\n      <entry name='uuid'>${originalUuid}</entry>\n    </system>\n  </sysinfo>\n  <os>\n    <smbios mode='sysinfo'/>`,
      );
    await n1.stopVm(VM, { graceMs: 0 });
    await n1.defineVm({ ...def, text });
    await n1.startVm(VM, { paused: true });
    expect(await n1.getVmState(VM)).toBe('paused');
    expect(await virsh('domiflist', VM)).toContain(MAC);
    const vm = (await n1.getVm(VM))!;
    expect(vm.disks.map((d) => d.dataset)).toEqual(DISKS);
  });

  it('snapshots and clones the disks, defines the test VM (new name, new uuid, no network) and starts it beside the original', async () => {
    const before = await Promise.all(DISKS.map((d) => md5(`/${d}/disk.img`)));
    const t0 = Date.now();
    await n1.zfs.createSnapshots(DISKS, SNAP);
    for (const [i, d] of DISKS.entries()) await n1.zfs.cloneSnapshot(d, SNAP, CLONES[i]!);
    timings['snapshot + clone 2 disks'] = secs(t0);
    for (const [i, c] of CLONES.entries()) {
      const info = (await n1.zfs.listDatasets(c))[0]!;
      expect(info.origin).toBe(`${DISKS[i]}@${SNAP}`);
      expect(info.readonly).toBe(false);
    }

    const t1 = Date.now();
    const def = await n1.dumpVm(VM);
    testUuid = crypto.randomUUID();
    const test = n1.rewriteVm(def, {
      disks: (await n1.getVm(VM))!.disks.map((d, i) => ({ from: d.path, to: `/${CLONES[i]}/disk.img` })),
      name: TEST,
      uuid: testUuid,
      network: { kind: 'none' },
    });
    expect(await n1.defineVm(test)).toBe(TEST);
    await n1.startVm(TEST, { paused: true });
    timings['define + start the test VM'] = secs(t1);

    const vm = (await n1.getVm(TEST))!;
    expect(vm).toMatchObject({ name: TEST, uuid: testUuid, state: 'paused' });
    expect(vm.disks.map((d) => [d.path, d.dataset])).toEqual(CLONES.map((c) => [`/${c}/disk.img`, c]));
    // what libvirt runs: the live definition
    const liveXml = await virsh('dumpxml', TEST);
    expect(interfaces(liveXml)).toEqual([]);
    expect((await virsh('domiflist', TEST)).split('\n').filter((l) => /52:54:00/.test(l))).toEqual([]);
    expect(parseDomainXml(liveXml).disks.map((d) => d.path)).toEqual(CLONES.map((c) => `/${c}/disk.img`));
    expect(liveXml).toContain(`<entry name='uuid'>${testUuid}</entry>`);
    expect(liveXml).not.toContain(originalUuid);
    expect((await virsh('domuuid', TEST)).trim()).toBe(testUuid);

    // the original runs on, unchanged
    const orig = (await n1.getVm(VM))!;
    expect(orig).toMatchObject({ uuid: originalUuid, state: 'paused' });
    expect(orig.disks.map((d) => d.dataset)).toEqual(DISKS);
    expect(await virsh('domiflist', VM)).toContain(MAC);
    const running = (await virsh('list', '--name')).split('\n').map((l) => l.trim());
    expect(running).toEqual(expect.arrayContaining([VM, TEST]));

    // the clones are writable and independent of the original disks
    await r1.run({
      argv: [
        'dd',
        'if=/dev/urandom',
        `of=/${CLONES[0]}/disk.img`,
        'bs=1M',
        'count=1',
        'conv=notrunc',
        'status=none',
      ],
    });
    expect(await md5(`/${CLONES[0]}/disk.img`)).not.toBe(before[0]);
    expect(await md5(`/${CLONES[1]}/disk.img`)).toBe(before[1]);
    expect(await Promise.all(DISKS.map((d) => md5(`/${d}/disk.img`)))).toEqual(before);
  });

  it('an isolated network instead: the interface on the named network, model kept, a new MAC from libvirt', async () => {
    const def = await n1.dumpVm(VM);
    const iso = n1.rewriteVm(def, {
      disks: (await n1.getVm(VM))!.disks.map((d, i) => ({ from: d.path, to: `/${CLONES[i]}/disk.img` })),
      name: ISO,
      uuid: crypto.randomUUID(),
      network: { kind: 'isolated', network: 'tandem-isolated' },
    });
    await n1.defineVm(iso);
    const nics = interfaces(await virsh('dumpxml', '--inactive', ISO));
    expect(nics).toHaveLength(1);
    expect(nics[0]).toMatch(/^<interface type='network'>/);
    expect(nics[0]).toContain("<source network='tandem-isolated'/>");
    expect(nics[0]).toContain("<model type='virtio'/>");
    const mac = /<mac address='([0-9a-f:]+)'\/>/.exec(nics[0]!)?.[1];
    expect(mac).toMatch(/^52:54:00:/);
    expect(mac).not.toBe(MAC);
    // the lab has no such network: libvirt refuses to start it, which is the admin's to provide
    await expect(n1.startVm(ISO, { paused: true })).rejects.toThrow(
      /no network with matching name 'tandem-isolated'/,
    );
    await n1.undefineVm(ISO);
    expect(await n1.getVm(ISO)).toBeNull();
  });

  it('stops and removes the test VM and its clones: nothing of the test is left, the original still runs', async () => {
    const t0 = Date.now();
    await n1.stopVm(TEST, { graceMs: 0 });
    await n1.undefineVm(TEST);
    for (const c of CLONES) await n1.zfs.destroyDataset(c);
    for (const d of DISKS) await n1.zfs.destroySnapshots(d, [SNAP]);
    timings['remove the test VM and clones'] = secs(t0);

    const all = (await virsh('list', '--all', '--name'))
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    expect(all).toContain(VM);
    expect(all.filter((n) => n.startsWith(`${VM}-`))).toEqual([]);
    const zfs = (
      await r1.run({ argv: ['zfs', 'list', '-H', '-t', 'all', '-o', 'name', '-r', 'zones'] })
    ).stdout
      .split('\n')
      .filter(Boolean);
    expect(zfs.filter((n) => n.includes(TEST) || n.includes(SNAP))).toEqual([]);
    expect(zfs).toEqual(expect.arrayContaining(DISKS));
    expect(await n1.getVm(VM)).toMatchObject({ uuid: originalUuid, state: 'paused' });
  });
});
