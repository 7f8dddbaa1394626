import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { SshPool, type SshRunner } from '@/server/adapters/ssh-runner';

/**
 * The node lab (scripts/lab/nodes.sh) as the integration tests see it: nodes.json parsed, one
 * SshRunner per node over a shared pool. A missing or broken lab is a test FAILURE with the
 * command that fixes it, never a skip.
 */
export const LAB_DIR = path.resolve(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab');
export const NODES_JSON = path.join(LAB_DIR, 'nodes', 'nodes.json');
export const NODES_SH = path.resolve(__dirname, '../../scripts/lab/nodes.sh');

const labNode = z.object({
  name: z.string(),
  host: z.string(),
  port: z.number().int(),
  user: z.string(),
  privateKeyPath: z.string(),
  hostKeySha256: z.string(),
  zpools: z.array(z.string()),
  hypervisor: z.enum(['libvirt', 'vmadm']),
});
export type LabNode = z.infer<typeof labNode>;

const notUp = (why: string) =>
  new Error(
    `node lab is not usable: ${why}. Start it with \`bash scripts/lab/nodes.sh up 3\` (TANDEM_LAB_DIR=${LAB_DIR}).`,
  );

export interface Lab {
  nodes: LabNode[];
  pool: SshPool;
  node(name: string): LabNode;
  runner(name: string): SshRunner;
  close(): Promise<void>;
}

/** Reads nodes.json and checks that every node answers over SSH. */
export async function openLab(minNodes = 3): Promise<Lab> {
  if (!fs.existsSync(NODES_JSON)) throw notUp(`${NODES_JSON} does not exist`);
  let nodes: LabNode[];
  try {
    nodes = z
      .object({ nodes: z.array(labNode) })
      .parse(JSON.parse(fs.readFileSync(NODES_JSON, 'utf8'))).nodes;
  } catch (e) {
    throw notUp(`${NODES_JSON} cannot be read (${(e as Error).message})`);
  }
  if (nodes.length < minNodes) throw notUp(`it has ${nodes.length} node(s), these tests need ${minNodes}`);
  const pool = new SshPool();
  const runners = new Map<string, SshRunner>();
  for (const n of nodes) {
    let privateKey: string;
    try {
      privateKey = fs.readFileSync(n.privateKeyPath, 'utf8');
    } catch {
      throw notUp(`the client key ${n.privateKeyPath} is missing`);
    }
    runners.set(
      n.name,
      pool.runner({
        host: n.host,
        port: n.port,
        username: n.user,
        privateKey,
        hostKeySha256: n.hostKeySha256,
      }),
    );
  }
  const lab: Lab = {
    nodes,
    pool,
    node: (name) =>
      nodes.find((n) => n.name === name) ??
      (() => {
        throw notUp(`no node ${name}`);
      })(),
    runner: (name) =>
      runners.get(name) ??
      (() => {
        throw notUp(`no node ${name}`);
      })(),
    close: () => pool.closeAll(),
  };
  await Promise.all(
    nodes.slice(0, minNodes).map(async (n) => {
      try {
        const r = await lab.runner(n.name).run({ argv: ['hostname'], timeoutMs: 15_000 });
        if (r.stdout.trim() !== n.name) throw new Error(`hostname is ${JSON.stringify(r.stdout.trim())}`);
      } catch (e) {
        await pool.closeAll();
        throw notUp(`${n.name} (${n.host}:${n.port}) does not answer over SSH: ${(e as Error).message}`);
      }
    }),
  );
  return lab;
}

/** Runs `scripts/lab/nodes.sh ARGS…` and returns its stdout. */
export function labScript(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [NODES_SH, ...args],
      { timeout: 180_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`nodes.sh ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/**
 * Removes a test VM from a node: its domain, the replication holds on its snapshots, and every
 * dataset named after it (zfs-fuse may answer "dataset is busy" right after the VM stopped, so
 * each destroy is tried a few times). Returns the datasets that could not be removed.
 */
export async function cleanVm(
  runner: SshRunner,
  vm: string,
  tags: string[],
  pools = ['zones', 'data'],
): Promise<string[]> {
  await runner.run({ argv: ['virsh', 'destroy', vm], allowFailure: true });
  await runner.run({ argv: ['virsh', 'undefine', vm], allowFailure: true });
  const mine = (out: string) => out.split('\n').filter((l) => l.includes(`/${vm}-`));
  const snaps = await runner.run({
    argv: ['zfs', 'list', '-H', '-t', 'snapshot', '-o', 'name', '-r', ...pools],
    allowFailure: true,
  });
  for (const sn of mine(snaps.stdout))
    for (const tag of tags) await runner.run({ argv: ['zfs', 'release', tag, sn], allowFailure: true });
  const left: string[] = [];
  const list = await runner.run({
    argv: ['zfs', 'list', '-H', '-o', 'name', '-r', ...pools],
    allowFailure: true,
  });
  for (const ds of mine(list.stdout).reverse()) {
    let ok = false;
    for (let i = 0; i < 5 && !ok; i++) {
      ok = (await runner.run({ argv: ['zfs', 'destroy', '-R', ds], allowFailure: true })).exitCode === 0;
      if (!ok) await new Promise((r) => setTimeout(r, 1000));
    }
    if (!ok) left.push(ds);
  }
  return left;
}
