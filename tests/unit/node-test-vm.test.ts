import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DemoNodeAdapter } from '@/server/adapters/demo/adapters';
import { DemoWorld } from '@/server/adapters/demo/world';
import { parseDomainXml, rewriteDomainXml } from '@/server/adapters/node/domain-xml';
import type { NetworkRewrite, NodeAdapter, VmDefinition } from '@/server/adapters/node/types';
import { ManualClock } from '@/server/core/clock';
import { AppError } from '@/server/core/errors';

/*
 * A test VM's definition (rewriteDomainXml with a new name and uuid and `network`), and a test VM
 * on the demo nodes: clones of its disks' snapshots, defined beside the original, started,
 * stopped and removed without touching the original.
 */

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/node', name), 'utf8');

/** The lab VM of the fixtures with the interfaces and SMBIOS data a real VM may have. */
const NICS = `    <interface type='bridge'>
      <mac address='52:54:00:12:34:56'/>
      <source bridge='br-prod'/>
      <target dev='vnet3'/>
      <model type='virtio'/>
      <driver name='vhost' queues='2'/>
      <virtualport type='openvswitch'>
        <parameters interfaceid='09b11c53-8b5c-4eeb-8f00-d84eaa0aaa4f'/>
      </virtualport>
      <vlan>
        <tag id='42'/>
      </vlan>
      <filterref filter='clean-traffic'/>
      <boot order='2'/>
      <alias name='net0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:ab:cd:ef'/>
      <source network='default' portid='8a1a4e5c-9b1a-4f44-a8a1-6a3f3b5f0b11' bridge='virbr0'/>
      <model type='e1000e'/>
    </interface>
    <interface type='user'/>
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x3b' slot='0x10' function='0x2'/>
      </source>
    </interface>
`;
const SYSINFO = `  <sysinfo type='smbios'>
    <system>
      <entry name='manufacturer'>Tandem</entry>
      <entry name='uuid'>ec5f7765-2a46-4d94-8e59-19c99054005e</entry>
    </system>
  </sysinfo>
`;

const live: VmDefinition = {
  format: 'libvirt-xml',
  name: 'capvm',
  text: fixture('virsh-dumpxml-live.xml')
    .replace("    <memballoon model='none'/>\n", `${NICS}    <memballoon model='none'/>\n`)
    .replace('  <os>\n', `${SYSINFO}  <os>\n`),
};
const disks = [
  { from: '/zones/capvm-disk0/disk.img', to: '/data/capvm-test-disk0/disk.img' },
  { from: '/zones/capvm-disk1/disk.img', to: '/data/capvm-test-disk1/disk.img' },
];
const NEW_UUID = '11111111-2222-4333-8444-555555555555';
const interfaces = (xml: string) => xml.match(/<interface\b[^>]*?(?:\/>|>[\s\S]*?<\/interface>)/g) ?? [];

describe('rewriteDomainXml: a test VM’s definition', () => {
  it('network none: every interface goes, everything else stays', () => {
    const out = rewriteDomainXml(live, {
      disks,
      name: 'capvm-test',
      uuid: NEW_UUID,
      network: { kind: 'none' },
    });
    expect(interfaces(live.text)).toHaveLength(4);
    expect(interfaces(out.text)).toEqual([]);
    expect(out.text).not.toMatch(/interface|52:54:00|br-prod|virtualport|filterref/);
    expect(out.text).toContain("<memballoon model='none'/>");
    expect(out.text.match(/<disk /g)).toHaveLength(2);
    expect(out.text.trimEnd()).not.toMatch(/\n[ \t]*\n/); // no blank lines left where they were
    expect(parseDomainXml(out.text)).toMatchObject({
      name: 'capvm-test',
      uuid: NEW_UUID,
      disks: [{ path: disks[0]!.to }, { path: disks[1]!.to }],
    });
  });

  it('network isolated: each interface on the named network, model and boot order kept, MAC and the rest dropped', () => {
    const out = rewriteDomainXml(live, { disks, network: { kind: 'isolated', network: 'tandem-isolated' } });
    expect(interfaces(out.text)).toEqual([
      "<interface type='network'>\n      <source network='tandem-isolated'/>\n      <model type='virtio'/>\n      <boot order='2'/>\n    </interface>",
      "<interface type='network'>\n      <source network='tandem-isolated'/>\n      <model type='e1000e'/>\n    </interface>",
      "<interface type='network'>\n      <source network='tandem-isolated'/>\n    </interface>",
      "<interface type='network'>\n      <source network='tandem-isolated'/>\n    </interface>",
    ]);
    expect(out.text).not.toMatch(
      /<mac |br-prod|vnet3|virtualport|<vlan|filterref|portid|virbr0|vhost|managed=|bus='0x3b'/,
    );
  });

  it('network isolated with keepAddresses keeps each interface’s guest PCI address (not a hostdev’s host address)', () => {
    const out = rewriteDomainXml(live, {
      disks,
      keepAddresses: true,
      network: { kind: 'isolated', network: 'lab.isolated_1' },
    });
    const nics = interfaces(out.text);
    expect(nics[0]).toContain("<address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>");
    expect(nics[3]).not.toContain('<address');
    expect(nics[0]).toContain("<source network='lab.isolated_1'/>");
  });

  it('no network option: interfaces untouched (only runtime markup goes)', () => {
    const out = rewriteDomainXml(live, { disks });
    expect(interfaces(out.text)).toHaveLength(4);
    expect(out.text).toContain("<mac address='52:54:00:12:34:56'/>");
    expect(out.text).toContain("<source bridge='br-prod'/>");
  });

  it('refuses network names that are not names, and unknown kinds', () => {
    for (const network of [
      "x'/><interface type='bridge'><source bridge='br-prod'/>",
      'a b',
      '-x',
      'net/../y',
      '',
      'n'.repeat(65),
    ]) {
      let err: unknown;
      try {
        rewriteDomainXml(live, { disks, network: { kind: 'isolated', network } });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe('INVALID_INPUT');
      expect((err as AppError).message).toMatch(/network/);
    }
    expect(() =>
      rewriteDomainXml(live, { disks, network: { kind: 'bridge' } as unknown as NetworkRewrite }),
    ).toThrow(/unknown network rewrite/);
  });

  it('a new or removed uuid changes or removes the SMBIOS system uuid (libvirt refuses a mismatch, and takes it when <uuid> is missing)', () => {
    const renewed = rewriteDomainXml(live, { disks, uuid: NEW_UUID });
    expect(renewed.text).toContain(`<entry name='uuid'>${NEW_UUID}</entry>`);
    expect(renewed.text).not.toContain('ec5f7765');
    expect(renewed.text).toContain("<entry name='manufacturer'>Tandem</entry>");
    const removed = rewriteDomainXml(live, { disks, uuid: null });
    expect(removed.text).not.toContain('ec5f7765');
    expect(removed.text).toContain("<entry name='manufacturer'>Tandem</entry>");
    expect(removed.text.trimEnd()).not.toMatch(/\n[ \t]*\n/);
    const kept = rewriteDomainXml(live, { disks });
    expect(kept.text.match(/ec5f7765-2a46-4d94-8e59-19c99054005e/g)).toHaveLength(2);
  });
});

describe('a test VM on the demo nodes', () => {
  function setup() {
    const clock = new ManualClock(Date.UTC(2026, 0, 1, 12));
    const world = new DemoWorld(clock, 0);
    const n1: NodeAdapter = new DemoNodeAdapter(world, 'demo-node1');
    return { clock, world, n1 };
  }

  it('clones of the disks’ snapshots, defined beside the original with a new name and uuid and no network, started, then removed', async () => {
    const { n1 } = setup();
    const original = (await n1.getVm('web01'))!;
    expect(original.state).toBe('running');
    const dsets = original.disks.map((d) => d.dataset!);
    await n1.zfs.createSnapshots(dsets, 'tandem-test-1');
    const clones = dsets.map((d) => `${d.split('/')[0]}/web01-test-${d.split('-').pop()}`);
    for (const [i, d] of dsets.entries()) await n1.zfs.cloneSnapshot(d, 'tandem-test-1', clones[i]!);

    const def = await n1.dumpVm('web01');
    expect(interfaces(def.text)).toHaveLength(1); // the demo's VMs have a bridged NIC
    const test = n1.rewriteVm(def, {
      disks: original.disks.map((d, i) => ({ from: d.path, to: `/${clones[i]}/disk.img` })),
      name: 'web01-test',
      uuid: NEW_UUID,
      network: { kind: 'none' },
    });
    // the uuid of the original is refused beside it, as libvirt does
    await expect(
      n1.defineVm({ ...test, text: test.text.replace(NEW_UUID, original.uuid) }),
    ).rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await n1.defineVm(test)).toBe('web01-test');
    await n1.startVm('web01-test');
    const vm = (await n1.getVm('web01-test'))!;
    expect(vm).toMatchObject({ name: 'web01-test', uuid: NEW_UUID, state: 'running' });
    expect(vm.disks.map((d) => d.dataset)).toEqual(clones);
    expect(interfaces((await n1.dumpVm('web01-test')).text)).toEqual([]);
    expect(await n1.getVm('web01')).toMatchObject({
      uuid: original.uuid,
      state: 'running',
      disks: original.disks,
    });
    expect((await n1.zfs.listDatasets(clones[0]!))[0]!.origin).toBe(`${dsets[0]}@tandem-test-1`);

    // the clone holds its origin snapshot
    await expect(n1.zfs.destroySnapshots(dsets[0]!, ['tandem-test-1'])).rejects.toMatchObject({
      code: 'COMMAND_FAILED',
      message: expect.stringMatching(/dependent clones/),
    });

    await n1.stopVm('web01-test');
    await n1.undefineVm('web01-test');
    for (const c of clones) await n1.zfs.destroyDataset(c);
    for (const d of dsets) await n1.zfs.destroySnapshots(d, ['tandem-test-1']);
    expect(await n1.getVm('web01-test')).toBeNull();
    expect((await n1.listVms()).map((v) => v.name)).not.toContain('web01-test');
    const left = Object.values(await n1.zfs.listSnapshots('zones'))
      .flat()
      .filter((s) => s.name === 'tandem-test-1');
    expect(left).toEqual([]);
    expect(
      (await n1.zfs.listDatasets('zones')).map((d) => d.name).filter((n) => n.includes('-test-')),
    ).toEqual([]);
    expect(await n1.getVmState('web01')).toBe('running');
  });
});
