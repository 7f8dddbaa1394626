import { AppError } from '../../core/errors';
import { assertName } from '../../core/names';
import type { RewriteOptions, VmDefinition } from './types';

/*
 * Just enough libvirt domain XML handling for replicas: read name/uuid/vcpu/memory/disks and
 * rewrite a definition for another node. String based on purpose (no XML dependency): libvirt
 * writes a regular, predictable dialect; anything unexpected is refused rather than guessed.
 */

export interface DomainDisk {
  /** Guest device (`<target dev>`), e.g. `vda`. */
  device: string;
  /** Source path (`<source file>` or `<source dev>`), unescaped. */
  path: string;
  /** `file` for an image on a filesystem, `zvol` for a block device (`/dev/zvol/…`). */
  kind: 'file' | 'zvol';
}

export interface DomainSummary {
  name: string;
  uuid: string | null;
  vcpus: number;
  memoryKiB: number;
  /** Disks with device='disk' and a file or block source (cdroms and network disks are skipped). */
  disks: DomainDisk[];
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (m, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(
        e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10),
      );
    return ENTITIES[e.toLowerCase()] ?? m;
  });
}

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/'/g, '&apos;')
    .replace(/"/g, '&quot;');
}

/** Attributes of one start tag (`<x a='1' b="2">`), values unescaped. */
export function parseAttrs(tag: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  const re = /([A-Za-z_][\w:.-]*)\s*=\s*(?:'([^']*)'|"([^"]*)")/g;
  const body = tag.replace(/^<[\w:.-]+/, '');
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) attrs[m[1]!] = xmlUnescape(m[2] ?? m[3] ?? '');
  return attrs;
}

const UNIT_BYTES: Record<string, number> = {
  b: 1,
  bytes: 1,
  kb: 1000,
  k: 1024,
  kib: 1024,
  mb: 1000 ** 2,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1000 ** 3,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1000 ** 4,
  t: 1024 ** 4,
  tib: 1024 ** 4,
};

function elementText(xml: string, name: string): { attrs: Record<string, string>; text: string } | null {
  const m = new RegExp(`<${name}(\\s[^>]*)?>([^<]*)</${name}>`).exec(xml);
  if (!m) return null;
  return { attrs: parseAttrs(`<${name}${m[1] ?? ''}>`), text: xmlUnescape(m[2] ?? '').trim() };
}

/** The part of the document outside <devices> … </devices> (to read top-level elements only). */
function topLevel(xml: string): string {
  return xml.replace(/<devices>[\s\S]*<\/devices>/, '').replace(/<metadata>[\s\S]*?<\/metadata>/, '');
}

function diskBlocks(xml: string): string[] {
  return xml.match(/<disk\b[^>]*>[\s\S]*?<\/disk>/g) ?? [];
}

function diskOf(block: string): DomainDisk | null {
  const open = /^<disk\b[^>]*>/.exec(block)?.[0] ?? '<disk>';
  const a = parseAttrs(open);
  if ((a.device ?? 'disk') !== 'disk') return null;
  const src = /<source\b[^>]*>/.exec(block)?.[0];
  const target = /<target\b[^>]*>/.exec(block)?.[0];
  if (!src) return null;
  const s = parseAttrs(src);
  const path = a.type === 'block' ? s.dev : a.type === 'file' ? s.file : undefined;
  if (!path) return null;
  return {
    device: (target && parseAttrs(target).dev) || '',
    path,
    kind: a.type === 'block' ? 'zvol' : 'file',
  };
}

/** Reads the summary of a libvirt domain XML document. */
export function parseDomainXml(xml: string): DomainSummary {
  if (!/<domain\b/.test(xml))
    throw new AppError('INVALID_INPUT', 'not a libvirt domain definition (no <domain> element)');
  const top = topLevel(xml);
  const name = elementText(top, 'name')?.text;
  if (!name) throw new AppError('INVALID_INPUT', 'domain definition has no <name>');
  const uuid = elementText(top, 'uuid')?.text || null;
  const vcpu = elementText(top, 'vcpu');
  const mem = elementText(top, 'memory');
  const unit = (mem?.attrs.unit ?? 'KiB').toLowerCase();
  const factor = UNIT_BYTES[unit];
  if (factor === undefined) throw new AppError('INVALID_INPUT', `unknown memory unit ${mem?.attrs.unit}`);
  const memBytes = Number(mem?.text ?? 0) * factor;
  const disks = diskBlocks(xml)
    .map(diskOf)
    .filter((d): d is DomainDisk => d !== null);
  return { name, uuid, vcpus: Number(vcpu?.text ?? 0) || 0, memoryKiB: Math.floor(memBytes / 1024), disks };
}

/** Removes self-closing elements of a kind, leaving `<source>…</source>` contents alone (hostdev addresses). */
function stripElements(xml: string, name: string): string {
  const re = new RegExp(
    `(<source\\b[^>]*(?<!/)>[\\s\\S]*?</source>)|(?:\\r?\\n[ \\t]*)?<${name}\\b[^>]*/>`,
    'g',
  );
  return xml.replace(re, (m, keep: string | undefined) => keep ?? '');
}

function setAttr(tag: string, name: string, value: string): string {
  const re = new RegExp(`(\\s${name}\\s*=\\s*)(?:'[^']*'|"[^"]*")`);
  const v = `'${xmlEscape(value)}'`;
  if (re.test(tag)) return tag.replace(re, `$1${v}`);
  return tag.replace(/^(<[\w:.-]+)/, `$1 ${name}=${v}`);
}

function removeAttr(tag: string, name: string): string {
  return tag.replace(new RegExp(`\\s${name}\\s*=\\s*(?:'[^']*'|"[^"]*")`, 'g'), '');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** `<interface …/>` or `<interface …>…</interface>`, with the line break and indentation before it. */
const INTERFACE = /(\r?\n[ \t]*)?<interface\b[^>]*?(?:\/>|>[\s\S]*?<\/interface>)/g;

/** Applies `fn` to the `<devices>` section only (interfaces live there, nowhere else). */
function inDevices(xml: string, fn: (devices: string) => string): string {
  return xml.replace(/<devices>[\s\S]*<\/devices>/, fn);
}

/** Removes the interfaces, or puts each on `network` keeping its model, boot order and guest address. */
function rewriteInterfaces(xml: string, net: NonNullable<RewriteOptions['network']>): string {
  if (net.kind === 'none') return inDevices(xml, (d) => d.replace(INTERFACE, ''));
  if (net.kind !== 'isolated')
    throw AppError.invalid(
      'network',
      `unknown network rewrite ${JSON.stringify((net as { kind: unknown }).kind)}`,
    );
  const name = assertName('vm', net.network, 'network');
  return inDevices(xml, (d) =>
    d.replace(INTERFACE, (block: string, lead: string | undefined) => {
      const pad = lead ?? '\n';
      // a hostdev interface's <source> holds the host's PCI address: not the guest's
      const own = block.replace(/<source\b[^>]*(?<!\/)>[\s\S]*?<\/source>/g, '');
      const keep = [/<model\b[^>]*\/>/, /<boot\b[^>]*\/>/, /<address\b[^>]*\/>/]
        .map((re) => re.exec(own)?.[0])
        .filter((x): x is string => !!x);
      const children = [`<source network='${xmlEscape(name)}'/>`, ...keep]
        .map((c) => `${pad}  ${c}`)
        .join('');
      return `${pad}<interface type='network'>${children}${pad}</interface>`;
    }),
  );
}

/** Sets (or removes, with null) the SMBIOS system uuid of `<sysinfo>` blocks, if any. */
function rewriteSysinfoUuid(xml: string, uuid: string | null): string {
  return xml.replace(/<sysinfo\b[^>]*>[\s\S]*?<\/sysinfo>/g, (sys) =>
    sys.replace(/<system>[\s\S]*?<\/system>/g, (block) =>
      block.replace(
        /(\r?\n[ \t]*)?<entry\s+name\s*=\s*(['"])uuid\2\s*>[^<]*<\/entry>/g,
        (_m, lead: string | undefined) =>
          uuid === null ? '' : `${lead ?? ''}<entry name='uuid'>${uuid}</entry>`,
      ),
    ),
  );
}

/**
 * Rewrites a domain definition taken on the source node for the target node:
 *  - every disk source path is replaced per `opts.disks` (all disks must be mapped; a `/dev/…`
 *    target makes the disk `type='block'` with `<source dev>`, anything else `type='file'`);
 *  - runtime-only markup is removed: the domain `id`, `<source index>`, `<alias>`, and device
 *    `<address>` elements unless `keepAddresses` (hostdev source addresses are kept);
 *  - name and uuid are changed or removed on request (the SMBIOS system uuid with it);
 *  - network interfaces are removed or moved to another network on request.
 */
export function rewriteDomainXml(def: VmDefinition, opts: RewriteOptions): VmDefinition {
  if (def.format !== 'libvirt-xml')
    throw AppError.invalid('format', `cannot rewrite a ${def.format} definition as libvirt XML`);
  let xml = def.text;
  const summary = parseDomainXml(xml);
  const map = new Map<string, string>();
  for (const d of opts.disks) {
    if (!d.from.startsWith('/') || !d.to.startsWith('/'))
      throw AppError.invalid('disks', 'disk paths must be absolute');
    if (/[\x00-\x1f]/.test(d.to))
      throw AppError.invalid('disks', 'disk paths must not contain control characters');
    map.set(d.from, d.to);
  }
  const unmapped = summary.disks.filter((d) => !map.has(d.path)).map((d) => d.path);
  if (unmapped.length) throw AppError.invalid('disks', `no target path for ${unmapped.join(', ')}`);
  const unused = [...map.keys()].filter((p) => !summary.disks.some((d) => d.path === p));
  if (unused.length) throw AppError.invalid('disks', `the definition has no disk ${unused.join(', ')}`);

  xml = xml.replace(/<disk\b[^>]*>[\s\S]*?<\/disk>/g, (block) => {
    const disk = diskOf(block);
    if (!disk) return block;
    const to = map.get(disk.path)!;
    const block2 = to.startsWith('/dev/');
    return block
      .replace(/^<disk\b[^>]*>/, (open) => setAttr(open, 'type', block2 ? 'block' : 'file'))
      .replace(/<source\b[^>]*?(\/?)>/, (src, close: string) => {
        let t = removeAttr(removeAttr(removeAttr(src, 'file'), 'dev'), 'index');
        t = t.replace(/\s*\/?>$/, '');
        return `${t} ${block2 ? 'dev' : 'file'}='${xmlEscape(to)}'${close ? '/' : ''}>`;
      });
  });
  if (opts.network !== undefined) xml = rewriteInterfaces(xml, opts.network);
  // runtime-only markup
  xml = xml.replace(/<domain\b[^>]*>/, (open) => removeAttr(open, 'id'));
  xml = xml.replace(/<source\b[^>]*>/g, (t) => removeAttr(t, 'index'));
  xml = stripElements(xml, 'alias');
  if (!opts.keepAddresses) xml = stripElements(xml, 'address');

  let name = summary.name;
  if (opts.name !== undefined) {
    name = assertName('vm', opts.name, 'name');
    xml = xml.replace(/<name>[^<]*<\/name>/, `<name>${xmlEscape(name)}</name>`);
  }
  if (opts.uuid === null) {
    xml = xml.replace(/(?:\r?\n[ \t]*)?<uuid>[^<]*<\/uuid>/, '');
    xml = rewriteSysinfoUuid(xml, null);
  } else if (opts.uuid !== undefined) {
    if (!UUID.test(opts.uuid)) throw AppError.invalid('uuid', 'not a UUID');
    xml = /<uuid>/.test(xml)
      ? xml.replace(/<uuid>[^<]*<\/uuid>/, `<uuid>${opts.uuid}</uuid>`)
      : xml.replace(/(<\/name>)/, `$1\n  <uuid>${opts.uuid}</uuid>`);
    xml = rewriteSysinfoUuid(xml, opts.uuid);
  }
  return { format: 'libvirt-xml', name, text: xml };
}

/**
 * Removes the secrets that `virsh dumpxml --security-info` adds: every `passwd` attribute
 * (console passwords of `<graphics>` — vnc, spice, rdp — and any other element). The rest of
 * the document is left as it was. Returns how many were removed.
 */
export function stripDomainSecrets(xml: string): { text: string; secrets: number } {
  let secrets = 0;
  const text = xml.replace(/\spasswd\s*=\s*(?:'[^']*'|"[^"]*")/g, () => {
    secrets++;
    return '';
  });
  return { text, secrets };
}

/** A minimal persistent domain definition (the demo simulation's dumpVm). */
export function renderDomainXml(vm: {
  name: string;
  uuid: string;
  vcpus: number;
  memoryMiB: number;
  disks: { device: string; path: string; kind: 'file' | 'zvol' }[];
  /** Bridged network interfaces. */
  nics?: { mac: string; bridge: string }[];
}): string {
  const disks = vm.disks
    .map((d) =>
      d.kind === 'zvol'
        ? `    <disk type='block' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source dev='${xmlEscape(d.path)}'/>\n      <target dev='${xmlEscape(d.device)}' bus='virtio'/>\n    </disk>\n`
        : `    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'/>\n      <source file='${xmlEscape(d.path)}'/>\n      <target dev='${xmlEscape(d.device)}' bus='virtio'/>\n    </disk>\n`,
    )
    .join('');
  const nics = (vm.nics ?? [])
    .map(
      (n) =>
        `    <interface type='bridge'>\n      <mac address='${xmlEscape(n.mac)}'/>\n      <source bridge='${xmlEscape(n.bridge)}'/>\n      <model type='virtio'/>\n    </interface>\n`,
    )
    .join('');
  return (
    `<domain type='kvm'>\n  <name>${xmlEscape(vm.name)}</name>\n  <uuid>${xmlEscape(vm.uuid)}</uuid>\n` +
    `  <memory unit='KiB'>${vm.memoryMiB * 1024}</memory>\n  <currentMemory unit='KiB'>${vm.memoryMiB * 1024}</currentMemory>\n` +
    `  <vcpu placement='static'>${vm.vcpus}</vcpu>\n  <os>\n    <type arch='x86_64' machine='pc'>hvm</type>\n    <boot dev='hd'/>\n  </os>\n` +
    `  <devices>\n    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n${disks}${nics}  </devices>\n</domain>\n`
  );
}
