import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect, type Page } from '@playwright/test';

export const ADMIN_PASSWORD = 'e2e-lab-admin-password';
const ROOT = path.resolve(__dirname, '..');

export async function register(baseURL: string, opts: { nodes?: boolean; ceph?: boolean }) {
  const { registerLab } = await import(path.join(ROOT, 'scripts/lab/register.mjs'));
  return registerLab(baseURL, 'admin', ADMIN_PASSWORD, opts) as Promise<string[]>;
}

/** Signs in as the lab admin and returns a tRPC caller over HTTP (for set-up the spec does not test). */
export async function apiSession(baseURL: string) {
  let cookie = '';
  const call = async <T = unknown>(
    proc: string,
    input: unknown,
    type: 'query' | 'mutation' = 'mutation',
  ): Promise<T> => {
    const url =
      `${baseURL}/api/trpc/${proc}` +
      (type === 'query' ? `?input=${encodeURIComponent(JSON.stringify({ json: input ?? null }))}` : '');
    const res = await fetch(url, {
      method: type === 'query' ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', origin: baseURL, cookie },
      body: type === 'query' ? undefined : JSON.stringify({ json: input ?? null }),
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) cookie = setCookie.split(';')[0]!;
    const body = (await res.json()) as {
      error?: { json?: { message?: string } };
      result?: { data: { json: T } };
    };
    if (body.error) throw new Error(`${proc}: ${body.error.json?.message ?? JSON.stringify(body.error)}`);
    return body.result!.data.json;
  };
  await call('auth.login', { username: 'admin', password: ADMIN_PASSWORD });
  return call;
}

export function nodeLab(...args: string[]): string {
  return execFileSync('bash', [path.join(ROOT, 'scripts/lab/nodes.sh'), ...args], {
    encoding: 'utf8',
    timeout: 180_000,
  });
}

export async function signIn(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  // Right after a spec registers the labs, their first checks can keep both cores busy for a while.
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible({ timeout: 60_000 });
}

/** Waits on a task page until the task has finished, failing with its error otherwise. */
export async function waitForTask(page: Page, timeout = 240_000) {
  // A failover is answered once both clusters were asked again (seconds on a busy machine).
  await expect(page).toHaveURL(/\/tasks\/\d+$/, { timeout: 60_000 });
  const heading = page.getByRole('heading', { name: /Task #\d+/ });
  await expect(heading).toContainText(/finished|failed|cancelled/, { timeout });
  const text = await heading.textContent();
  if (!text?.includes('finished')) {
    const log = await page.getByTestId('task-log').textContent();
    throw new Error(`task did not finish: ${text}\n${log}`);
  }
  await expect(page.getByTestId('task-progress').getByRole('progressbar')).toHaveAttribute(
    'aria-valuenow',
    '100',
  );
}

const CEPH_SITES = path.join(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab', 'ceph', 'sites.json');

function cephArgs(site: 'site-a' | 'site-b'): string[] {
  const { sites } = JSON.parse(fs.readFileSync(CEPH_SITES, 'utf8')) as {
    sites: { name: string; cluster: string; conf: string; keyring: string; clientId: string }[];
  };
  const s = sites.find((x) => x.name === site);
  if (!s) throw new Error(`${CEPH_SITES} does not describe ${site}: run scripts/lab/ceph-sites.sh up`);
  return ['--cluster', s.cluster, '-c', s.conf, '--keyring', s.keyring, '--id', s.clientId];
}

/** Runs the `rbd` CLI against one lab cluster. */
export function rbd(site: 'site-a' | 'site-b', ...args: string[]): string {
  return execFileSync('rbd', [...cephArgs(site), ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** md5 of `rbd export <spec> -`: the image's whole content. */
export function imageMd5(site: 'site-a' | 'site-b', spec: string): string {
  const data = execFileSync('rbd', [...cephArgs(site), 'export', '--no-progress', spec, '-'], {
    timeout: 120_000,
    maxBuffer: 512 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return crypto.createHash('md5').update(data).digest('hex');
}

export function cephLab(...args: string[]): string {
  return execFileSync('bash', [path.join(ROOT, 'scripts/lab/ceph-sites.sh'), ...args], {
    encoding: 'utf8',
    timeout: 180_000,
  });
}

/**
 * Removes images from a lab cluster, whatever state they are in: mirroring disabled first (forced),
 * then `rbd rm`, retried while rbd-mirror still holds them. Missing images are fine.
 */
export function dropImages(site: 'site-a' | 'site-b', names: string[]) {
  for (const name of names) {
    try {
      rbd(site, 'mirror', 'image', 'disable', '--force', `rbd/${name}`);
    } catch {
      /* not mirrored, or not there */
    }
  }
  for (const name of names) {
    for (let i = 0; i < 15; i++) {
      try {
        rbd(site, 'rm', '--no-progress', `rbd/${name}`);
        break;
      } catch (e) {
        if (/No such file|does not exist/.test(String((e as { stderr?: unknown }).stderr ?? e))) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2000);
      }
    }
  }
}
