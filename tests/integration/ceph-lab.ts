import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { CephCliAdapter } from '@/server/adapters/ceph/cli';
import { LocalRunner } from '@/server/adapters/local-runner';

/**
 * The Ceph lab (scripts/lab/ceph-sites.sh) as the integration tests see it: sites.json parsed
 * and one CephCliAdapter per site over a LocalRunner. A missing or broken lab is a test
 * FAILURE with the command that fixes it, never a skip.
 */
export const LAB_DIR = path.resolve(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab');
export const SITES_JSON = path.join(LAB_DIR, 'ceph', 'sites.json');
export const CEPH_SITES_SH = path.resolve(__dirname, '../../scripts/lab/ceph-sites.sh');

const labSite = z.object({
  name: z.string(),
  cluster: z.string(),
  conf: z.string(),
  keyring: z.string(),
  clientId: z.string(),
  pools: z.array(z.string()),
  monHost: z.string(),
});
export type CephLabSite = z.infer<typeof labSite>;

const notUp = (why: string) =>
  new Error(
    `Ceph lab is not usable: ${why}. Start it with \`bash scripts/lab/ceph-sites.sh up\` (TANDEM_LAB_DIR=${LAB_DIR}).`,
  );

export interface CephLab {
  sites: CephLabSite[];
  site(name: string): CephLabSite;
  adapter(name: string): CephCliAdapter;
}

/** Reads sites.json and checks that both clusters answer. */
export async function openCephLab(): Promise<CephLab> {
  if (!fs.existsSync(SITES_JSON)) throw notUp(`${SITES_JSON} does not exist`);
  let sites: CephLabSite[];
  try {
    sites = z
      .object({ sites: z.array(labSite) })
      .parse(JSON.parse(fs.readFileSync(SITES_JSON, 'utf8'))).sites;
  } catch (e) {
    throw notUp(`${SITES_JSON} cannot be read (${(e as Error).message})`);
  }
  if (sites.length < 2) throw notUp(`it describes ${sites.length} site(s), these tests need 2`);
  const runner = new LocalRunner();
  const adapters = new Map<string, CephCliAdapter>();
  for (const s of sites) {
    for (const f of [s.conf, s.keyring]) if (!fs.existsSync(f)) throw notUp(`${f} of ${s.name} is missing`);
    adapters.set(
      s.name,
      new CephCliAdapter(runner, {
        cluster: s.cluster,
        confPath: s.conf,
        clientId: s.clientId,
        keyringPath: s.keyring,
      }),
    );
  }
  const lab: CephLab = {
    sites,
    site: (name) =>
      sites.find((s) => s.name === name) ??
      (() => {
        throw notUp(`no site ${name}`);
      })(),
    adapter: (name) =>
      adapters.get(name) ??
      (() => {
        throw notUp(`no site ${name}`);
      })(),
  };
  await Promise.all(
    sites.map(async (s) => {
      try {
        const p = await lab.adapter(s.name).probe(AbortSignal.timeout(30_000));
        if (p.health !== 'HEALTH_OK') throw new Error(`health is ${p.health}`);
      } catch (e) {
        throw notUp(`${s.name} does not answer healthy: ${(e as Error).message}`);
      }
    }),
  );
  return lab;
}

/** Runs `scripts/lab/ceph-sites.sh ARGS…` and returns its stdout. */
export function cephLabScript(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [CEPH_SITES_SH, ...args],
      { timeout: 300_000, maxBuffer: 8 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`ceph-sites.sh ${args.join(' ')} failed: ${err.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

/**
 * Removes a test image from both clusters: mirroring off (forced), then the image, retried while
 * Ceph still holds it (rbd-mirror lets go of a just-disabled image within seconds).
 */
export async function removeTestImage(
  adapters: (CephCliAdapter | undefined)[],
  pool: string,
  image: string,
): Promise<void> {
  for (const ad of adapters)
    await ad?.disableImageMirroring(pool, '', image, { force: true }).catch(() => undefined);
  for (const ad of adapters) {
    for (let i = 0; ad && i < 15; i++) {
      try {
        await ad.removeImage(pool, '', image);
        break;
      } catch (e) {
        if (/does not exist|not found/i.test((e as Error).message)) break;
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
  }
}

/** Polls until `ok(value)`; errors count as "not yet" until the deadline, then name the last value and error. */
export async function pollUntil<T>(
  label: string,
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 90_000,
  everyMs = 1_000,
  onReached?: (ms: number) => void,
): Promise<T> {
  const t0 = Date.now();
  let last: T | undefined;
  let lastErr: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      last = await fn();
      lastErr = undefined;
      if (ok(last)) {
        onReached?.(Date.now() - t0);
        return last;
      }
    } catch (e) {
      lastErr = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(
    `${label}: not reached within ${timeoutMs / 1000} s; last value ${JSON.stringify(last)?.slice(0, 800)}${lastErr ? `; last error ${(lastErr as Error).message}` : ''}`,
  );
}
