import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  parseDomainXml,
  renderDomainXml,
  rewriteDomainXml,
  stripDomainSecrets,
  xmlEscape,
  xmlUnescape,
} from '@/server/adapters/node/domain-xml';
import {
  LibvirtDriver,
  parseDomstats,
  parseNameList,
  parseNodeinfo,
  stateFromCode,
  stateFromText,
} from '@/server/adapters/node/libvirt';
import { datasetForPath, parseMountpoints, SshNodeAdapter } from '@/server/adapters/node/ssh-node';
import type { VmDefinition } from '@/server/adapters/node/types';
import {
  CommandError,
  type CommandResult,
  type CommandRunner,
  type CommandSpec,
} from '@/server/adapters/runner';
import { startVmOnWritableDisks } from '@/server/domain/replicas/start-vm';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '../fixtures/node', name), 'utf8');

function fakeRunner(answer: (argv: readonly string[], spec: CommandSpec) => Partial<CommandResult>) {
  const calls: (readonly string[])[] = [];
  const stdins: (string | Buffer | undefined)[] = [];
  const runner: CommandRunner = {
    target: 'root@fake:22',
    async run(spec) {
      calls.push(spec.argv);
      stdins.push(spec.stdin);
      const a = answer(spec.argv, spec);
      const r = { stdout: a.stdout ?? '', stderr: a.stderr ?? '', exitCode: a.exitCode ?? 0, durationMs: 1 };
      if (r.exitCode !== 0 && !spec.allowFailure)
        throw new CommandError({
          argv: spec.argv,
          exitCode: r.exitCode,
          stderr: r.stderr,
          target: 'root@fake:22',
        });
      return r;
    },
    async close() {},
  };
  return { runner, calls, stdins };
}

/** virsh sub-command of an argv (`virsh -c uri <cmd> …`). */
const sub = (argv: readonly string[]) => (argv[0] === 'virsh' ? argv[3] : undefined);

describe('virsh output parsing (real output)', () => {
  it('nodeinfo', () => {
    const cap = parseNodeinfo(fixture('virsh-nodeinfo.txt'));
    expect(cap.cpus).toBe(2);
    const kib = Number(/^Memory size:\s+(\d+) KiB/m.exec(fixture('virsh-nodeinfo.txt'))![1]);
    expect(cap.memoryMiB).toBe(Math.floor(kib / 1024));
    expect(() => parseNodeinfo('nothing')).toThrow();
  });

  it('domstats: states and disk capacities, running and shut-off domains', () => {
    const s = parseDomstats(fixture('virsh-domstats.txt'));
    expect([...s.keys()]).toEqual(['offvm', 'capvm']);
    expect(stateFromCode(s.get('capvm')!.state!)).toBe('paused');
    expect(stateFromCode(s.get('offvm')!.state!)).toBe('stopped');
    expect(s.get('capvm')!.capacity).toEqual({ vda: 16777216, vdb: 16777216 });
    expect(s.get('offvm')!.capacity).toEqual({ vda: 16777216 });
  });

  it('list --name and domstate words', () => {
    expect(parseNameList(fixture('virsh-list-names.txt'))).toEqual(['capvm', 'offvm']);
    expect(stateFromText('running')).toBe('running');
    expect(stateFromText('in shutdown')).toBe('running');
    expect(stateFromText('paused\n')).toBe('paused');
    expect(stateFromText('shut off')).toBe('stopped');
    expect(stateFromText('crashed')).toBe('unknown');
  });

  it('domain XML: name, uuid, vcpus, memory and disks (cdroms skipped, zvol detected)', () => {
    const live = parseDomainXml(fixture('virsh-dumpxml-live.xml'));
    expect(live).toEqual({
      name: 'capvm',
      uuid: 'ec5f7765-2a46-4d94-8e59-19c99054005e',
      vcpus: 1,
      memoryKiB: 131072,
      disks: [
        { device: 'vda', path: '/zones/capvm-disk0/disk.img', kind: 'file' },
        { device: 'vdb', path: '/zones/capvm-disk1/disk.img', kind: 'file' },
      ],
    });
    const off = parseDomainXml(fixture('virsh-dumpxml-offvm.xml'));
    expect(off.vcpus).toBe(2);
    expect(off.memoryKiB).toBe(65536);
    expect(off.disks).toEqual([
      { device: 'vda', path: '/zones/capvm-disk1/disk.img', kind: 'file' },
      { device: 'vdb', path: '/dev/zvol/zones/foo', kind: 'zvol' },
    ]);
    expect(
      parseDomainXml("<domain><name>a</name><memory unit='GiB'>2</memory><vcpu>4</vcpu></domain>").memoryKiB,
    ).toBe(2 * 1024 * 1024);
    expect(() => parseDomainXml('<vm/>')).toThrow(/no <domain>/);
  });

  it('XML escaping round-trips', () => {
    const s = `a&b<c>'d"e`;
    expect(xmlUnescape(xmlEscape(s))).toBe(s);
    expect(xmlUnescape('&#65;&#x42;')).toBe('AB');
  });
});

describe('rewriteDomainXml', () => {
  const live: VmDefinition = {
    format: 'libvirt-xml',
    name: 'capvm',
    text: fixture('virsh-dumpxml-live.xml'),
  };
  const disks = [
    { from: '/zones/capvm-disk0/disk.img', to: '/data/capvm-disk0/disk.img' },
    { from: '/zones/capvm-disk1/disk.img', to: '/data/capvm-disk1/disk.img' },
  ];

  it('maps disk paths and strips runtime-only markup from a live dump', () => {
    const out = rewriteDomainXml(live, { disks });
    expect(out.name).toBe('capvm');
    expect(out.text).not.toMatch(/<domain[^>]*\sid=/);
    expect(out.text).not.toMatch(/<source[^>]*index=/);
    expect(out.text).not.toMatch(/<alias/);
    expect(out.text).not.toMatch(/<address/);
    expect(out.text).toContain("<controller type='usb' index='0' model='none'>");
    expect(out.text).toContain("<source file='/data/capvm-disk0/disk.img'/>");
    expect(out.text).toContain("<source file='/data/capvm-disk1/disk.img'/>");
    expect(out.text).not.toContain('/zones/');
    expect(parseDomainXml(out.text).disks.map((d) => d.path)).toEqual([
      '/data/capvm-disk0/disk.img',
      '/data/capvm-disk1/disk.img',
    ]);
    expect(out.text).toContain('<uuid>ec5f7765-2a46-4d94-8e59-19c99054005e</uuid>');
    // still well-formed enough: every opened disk is closed, same element count
    expect(out.text.match(/<disk /g)).toHaveLength(2);
    expect(out.text.match(/<\/disk>/g)).toHaveLength(2);
  });

  it('keeps addresses on request, renames, and replaces or removes the uuid', () => {
    const inactive: VmDefinition = {
      format: 'libvirt-xml',
      name: 'capvm',
      text: fixture('virsh-dumpxml-inactive.xml'),
    };
    const kept = rewriteDomainXml(inactive, {
      disks,
      keepAddresses: true,
      name: 'capvm-replica',
      uuid: '11111111-2222-4333-8444-555555555555',
    });
    expect(kept.text.match(/<address /g)).toHaveLength(2);
    expect(kept.name).toBe('capvm-replica');
    expect(parseDomainXml(kept.text)).toMatchObject({
      name: 'capvm-replica',
      uuid: '11111111-2222-4333-8444-555555555555',
    });
    const noUuid = rewriteDomainXml(inactive, { disks, uuid: null });
    expect(noUuid.text).not.toContain('<uuid>');
    expect(parseDomainXml(noUuid.text).uuid).toBeNull();
    expect(() => rewriteDomainXml(inactive, { disks, uuid: 'nope' })).toThrow(/UUID/);
    expect(() => rewriteDomainXml(inactive, { disks, name: 'bad name; id' })).toThrow(/not a valid name/);
  });

  it('turns a file disk into a zvol block device and back', () => {
    const off: VmDefinition = {
      format: 'libvirt-xml',
      name: 'offvm',
      text: fixture('virsh-dumpxml-offvm.xml'),
    };
    const out = rewriteDomainXml(off, {
      disks: [
        { from: '/zones/capvm-disk1/disk.img', to: '/dev/zvol/tank/offvm-disk0' },
        { from: '/dev/zvol/zones/foo', to: '/tank/offvm-disk1/disk.img' },
      ],
    });
    expect(parseDomainXml(out.text).disks).toEqual([
      { device: 'vda', path: '/dev/zvol/tank/offvm-disk0', kind: 'zvol' },
      { device: 'vdb', path: '/tank/offvm-disk1/disk.img', kind: 'file' },
    ]);
    expect(out.text).toContain("<disk type='block' device='disk'>");
    expect(out.text).toContain("<source dev='/dev/zvol/tank/offvm-disk0'/>");
    // the cdrom is not a replicated disk and stays as it was
    expect(out.text).toContain("<source file='/data/x.iso'/>");
  });

  it('refuses unmapped or unknown disks and escapes paths', () => {
    expect(() => rewriteDomainXml(live, { disks: disks.slice(0, 1) })).toThrow(
      /no target path for \/zones\/capvm-disk1/,
    );
    expect(() =>
      rewriteDomainXml(live, { disks: [...disks, { from: '/zones/other/disk.img', to: '/x' }] }),
    ).toThrow(/has no disk/);
    expect(() => rewriteDomainXml(live, { disks: [{ ...disks[0]!, to: 'relative' }, disks[1]!] })).toThrow(
      /absolute/,
    );
    const odd = rewriteDomainXml(live, { disks: [{ ...disks[0]!, to: "/data/a'b&c/disk.img" }, disks[1]!] });
    expect(odd.text).toContain("<source file='/data/a&apos;b&amp;c/disk.img'/>");
    expect(parseDomainXml(odd.text).disks[0]!.path).toBe("/data/a'b&c/disk.img");
    expect(() => rewriteDomainXml({ ...live, format: 'vmadm-json' }, { disks })).toThrow(/cannot rewrite/);
  });

  it('keeps host device addresses inside <source>', () => {
    const xml = `<domain type='kvm' id='3'>
  <name>h</name>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x07' function='0x0'/>
    </hostdev>
  </devices>
</domain>`;
    const out = rewriteDomainXml({ format: 'libvirt-xml', name: 'h', text: xml }, { disks: [] });
    expect(out.text).toContain("<address domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>");
    expect(out.text).not.toContain("slot='0x07'");
    expect(out.text).not.toContain('alias');
    expect(out.text).toContain("<domain type='kvm'>");
  });

  it('renders a minimal definition the parser reads back (demo)', () => {
    const xml = renderDomainXml({
      name: 'web01',
      uuid: 'u',
      vcpus: 4,
      memoryMiB: 8192,
      disks: [{ device: 'vda', path: '/zones/web01-disk0/disk.img', kind: 'file' }],
    });
    expect(parseDomainXml(xml)).toEqual({
      name: 'web01',
      uuid: 'u',
      vcpus: 4,
      memoryKiB: 8192 * 1024,
      disks: [{ device: 'vda', path: '/zones/web01-disk0/disk.img', kind: 'file' }],
    });
  });
});

describe('disk → dataset resolution', () => {
  const mounts = parseMountpoints(fixture('zfs-get-mountpoints.txt'));
  it('reads filesystem mountpoints only', () => {
    expect(mounts).toEqual([
      { name: 'data', mountpoint: '/data' },
      { name: 'zones', mountpoint: '/zones' },
      { name: 'zones/capvm-disk0', mountpoint: '/zones/capvm-disk0' },
      { name: 'zones/capvm-disk1', mountpoint: '/zones/capvm-disk1' },
    ]);
  });
  it('picks the longest mountpoint for images and the device path for zvols', () => {
    expect(datasetForPath('/zones/capvm-disk0/disk.img', 'file', mounts)).toBe('zones/capvm-disk0');
    expect(datasetForPath('/zones/capvm-disk0x/disk.img', 'file', mounts)).toBe('zones');
    expect(datasetForPath('/var/lib/libvirt/images/a.qcow2', 'file', mounts)).toBeNull();
    expect(datasetForPath('/dev/zvol/zones/vm-disk0', 'zvol', mounts)).toBe('zones/vm-disk0');
    expect(datasetForPath('/dev/zvol/rdsk/zones/vm-disk0', 'zvol', mounts)).toBe('zones/vm-disk0');
    expect(datasetForPath('/dev/sdb', 'zvol', mounts)).toBeNull();
  });
});

describe('LibvirtDriver lifecycle', () => {
  it('a paused VM is destroyed at once (virsh shutdown would fail)', async () => {
    const { runner, calls } = fakeRunner((argv) => {
      if (sub(argv) === 'domstate')
        return { stdout: calls.some((c) => sub(c) === 'destroy') ? 'shut off\n' : 'paused\n' };
      return {};
    });
    await new LibvirtDriver(runner, 'qemu:///system', 1).stop('vm1', { graceMs: 1000 });
    expect(calls.map(sub)).toEqual(['domstate', 'domstate', 'destroy', 'domstate']);
  });

  it('a running VM that shuts down in time is not destroyed', async () => {
    let polls = 0;
    const { runner, calls } = fakeRunner((argv) => {
      if (sub(argv) === 'domstate')
        return {
          stdout: calls.some((c) => sub(c) === 'shutdown') && ++polls > 2 ? 'shut off\n' : 'running\n',
        };
      return {};
    });
    await new LibvirtDriver(runner, 'qemu:///system', 1).stop('vm1', { graceMs: 5000 });
    expect(calls.map(sub)).not.toContain('destroy');
    expect(calls.map(sub)).toContain('shutdown');
  });

  it('a guest that ignores shutdown is forced off after the grace period', async () => {
    const { runner, calls } = fakeRunner((argv) => {
      if (sub(argv) === 'domstate')
        return { stdout: calls.some((c) => sub(c) === 'destroy') ? 'shut off\n' : 'running\n' };
      return {};
    });
    const t0 = Date.now();
    await new LibvirtDriver(runner, 'qemu:///system', 5).stop('vm1', { graceMs: 50 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(50);
    expect(calls.map(sub).filter((c) => c !== 'domstate')).toEqual(['shutdown', 'destroy']);
  });

  it('start is a no-op when active, passes --paused, and NOT_FOUND when undefined', async () => {
    let state = 'running';
    const { runner, calls } = fakeRunner((argv) => {
      if (state === 'none') return { exitCode: 1, stderr: "error: failed to get domain 'vm1'" };
      if (sub(argv) === 'domstate') return { stdout: `${state}\n` };
      return {};
    });
    const d = new LibvirtDriver(runner);
    await d.start('vm1', { paused: false });
    expect(calls.map(sub)).toEqual(['domstate']);
    state = 'shut off';
    await d.start('vm1', { paused: true });
    expect(calls.at(-1)).toEqual(['virsh', '-c', 'qemu:///system', 'start', '--paused', 'vm1']);
    state = 'none';
    await expect(d.start('vm1', { paused: false })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await d.state('vm1')).toBeNull();
    expect(await d.get('vm1')).toBeNull();
    await d.undefine('vm1'); // absent: nothing to do
    state = 'running';
    await expect(d.undefine('vm1')).rejects.toMatchObject({ code: 'CONFLICT' });
    await d.stop('vm1', { graceMs: 0 }).catch(() => {});
  });

  it('dump keeps the console passwords (--security-info): a VM failed over must get them back', async () => {
    const xml =
      "<domain type='kvm'>\n  <name>vm1</name>\n  <devices>\n    <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret'/>\n  </devices>\n</domain>\n";
    const { runner, calls } = fakeRunner(() => ({ stdout: xml }));
    const def = await new LibvirtDriver(runner).dump('vm1');
    expect(calls[0]).toEqual([
      'virsh',
      '-c',
      'qemu:///system',
      'dumpxml',
      '--inactive',
      '--security-info',
      'vm1',
    ]);
    expect(def).toEqual({ format: 'libvirt-xml', name: 'vm1', text: xml });
  });

  it('define sends the XML on stdin and refuses a hostile name inside it', async () => {
    const { runner, calls, stdins } = fakeRunner(() => ({}));
    const d = new LibvirtDriver(runner);
    const xml = fixture('virsh-dumpxml-inactive.xml');
    expect(await d.define({ format: 'libvirt-xml', name: 'capvm', text: xml })).toBe('capvm');
    expect(calls[0]).toEqual(['virsh', '-c', 'qemu:///system', 'define', '/dev/stdin']);
    expect(stdins[0]).toBe(xml);
    await expect(
      d.define({
        format: 'libvirt-xml',
        name: 'x',
        text: xml.replace('<name>capvm</name>', '<name>$(reboot)</name>'),
      }),
    ).rejects.toMatchObject({
      code: 'INVALID_INPUT',
    });
    expect(calls).toHaveLength(1);
  });
});

describe('secrets in domain XML', () => {
  it('strips every passwd attribute (graphics of any type, either quote), and nothing else', () => {
    const xml = fixture('virsh-dumpxml-inactive.xml').replace(
      '</devices>',
      `    <graphics type='vnc' port='-1' autoport='yes' passwd='s3cret' passwdValidTo='2030-01-01T00:00:00'>\n      <listen type='address' address='0.0.0.0'/>\n    </graphics>\n    <graphics type="spice" autoport="yes" passwd="sp&amp;ice'pw" keymap='de'/>\n    <graphics type='rdp' passwd = 'rdp-pw'/>\n  </devices>`,
    );
    const out = stripDomainSecrets(xml);
    expect(out.secrets).toBe(3);
    expect(out.text).not.toMatch(/s3cret|sp&amp;ice|rdp-pw|\spasswd\s*=/);
    expect(out.text).toContain(
      "<graphics type='vnc' port='-1' autoport='yes' passwdValidTo='2030-01-01T00:00:00'>",
    );
    expect(out.text).toContain('<graphics type="spice" autoport="yes" keymap=\'de\'/>');
    expect(out.text).toContain("<graphics type='rdp'/>");
    expect(parseDomainXml(out.text)).toEqual(parseDomainXml(xml));
    const plain = fixture('virsh-dumpxml-inactive.xml');
    expect(stripDomainSecrets(plain)).toEqual({ text: plain, secrets: 0 });
  });
});

describe('SshNodeAdapter over virsh and zfs', () => {
  const answer = (ro: 'on' | 'off') => (argv: readonly string[]) => {
    const s = sub(argv);
    if (s === 'list') return { stdout: fixture('virsh-list-names.txt') };
    if (s === 'domstats') return { stdout: fixture('virsh-domstats.txt') };
    if (s === 'dumpxml')
      return {
        stdout: argv.includes('offvm')
          ? fixture('virsh-dumpxml-offvm.xml')
          : fixture('virsh-dumpxml-live.xml'),
      };
    if (s === 'domstate') return { stdout: argv.includes('offvm') ? 'shut off\n' : 'paused\n' };
    if (argv[0] === 'zfs' && argv.includes('type,mountpoint'))
      return { stdout: fixture('zfs-get-mountpoints.txt') };
    if (argv[0] === 'zfs' && argv.includes('readonly,tandem:readonly')) {
      const ds = argv.at(-1)!;
      return { stdout: `${ds}\treadonly\toff\n${ds}\ttandem:readonly\t${ro}\n` };
    }
    return {};
  };

  it('lists VMs with states, sizes and the datasets holding their disks', async () => {
    const { runner } = fakeRunner(answer('off'));
    const vms = await new SshNodeAdapter(runner).listVms();
    expect(vms.map((v) => [v.name, v.state])).toEqual([
      ['capvm', 'paused'],
      ['offvm', 'stopped'],
    ]);
    expect(vms[0]!.disks).toEqual([
      {
        device: 'vda',
        path: '/zones/capvm-disk0/disk.img',
        kind: 'file',
        dataset: 'zones/capvm-disk0',
        sizeBytes: 16777216,
      },
      {
        device: 'vdb',
        path: '/zones/capvm-disk1/disk.img',
        kind: 'file',
        dataset: 'zones/capvm-disk1',
        sizeBytes: 16777216,
      },
    ]);
    expect(vms[1]!.disks[1]).toEqual({
      device: 'vdb',
      path: '/dev/zvol/zones/foo',
      kind: 'zvol',
      dataset: 'zones/foo',
      sizeBytes: 0,
    });
    expect(vms[1]!.memoryMiB).toBe(64);
  });

  it('refuses to start a VM whose disk is on a read-only replica', async () => {
    const { runner, calls } = fakeRunner(answer('on'));
    const node = new SshNodeAdapter(runner);
    await expect(startVmOnWritableDisks(node, 'offvm')).rejects.toMatchObject({
      code: 'PRECONDITION_FAILED',
    });
    expect(calls.map(sub)).not.toContain('start');
    // The adapter itself only executes: started as asked (an operator's own start, outside Tandem).
    await node.startVm('offvm', { paused: true });
    expect(calls.at(-1)).toEqual(['virsh', '-c', 'qemu:///system', 'start', '--paused', 'offvm']);
  });

  it('validates VM names before virsh sees them', async () => {
    const { runner, calls } = fakeRunner(() => ({}));
    const node = new SshNodeAdapter(runner);
    for (const bad of ['vm;reboot', '-h', 'a b', '$(id)', '']) {
      await expect(node.stopVm(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(node.getVm(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(node.undefineVm(bad)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    }
    expect(calls).toHaveLength(0);
  });

  it('a vmadm node says clearly that its driver is missing', async () => {
    const { runner } = fakeRunner(() => ({ stdout: 'x\n' }));
    const node = new SshNodeAdapter(runner, 'vmadm');
    await expect(node.listVms()).rejects.toMatchObject({ code: 'PRECONDITION_FAILED' });
    expect((await node.probe()).hypervisorAvailable).toBe(false);
  });
});
