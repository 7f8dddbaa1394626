import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect, type Page } from '@playwright/test';

export const ADMIN_PASSWORD = 'e2e-lab-admin-password';
const ROOT = path.resolve(__dirname, '..');

export async function register(baseURL: string, opts: { nodes?: boolean; ceph?: boolean }) {
  const { registerLab } = await import(path.join(ROOT, 'scripts/lab/register.mjs'));
  return registerLab(baseURL, 'admin', ADMIN_PASSWORD, opts) as Promise<string[]>;
}

export function nodeLab(...args: string[]): string {
  return execFileSync('bash', [path.join(ROOT, 'scripts/lab/nodes.sh'), ...args], { encoding: 'utf8', timeout: 180_000 });
}

export async function signIn(page: Page) {
  await page.goto('/login');
  await page.getByLabel('Username').fill('admin');
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('heading', { name: 'Overview' })).toBeVisible();
}

/** Waits on a task page until the task has finished, failing with its error otherwise. */
export async function waitForTask(page: Page, timeout = 240_000) {
  await expect(page).toHaveURL(/\/tasks\/\d+$/);
  const heading = page.getByRole('heading', { name: /Task #\d+/ });
  await expect(heading).toContainText(/finished|failed|cancelled/, { timeout });
  const text = await heading.textContent();
  if (!text?.includes('finished')) {
    const log = await page.getByTestId('task-log').textContent();
    throw new Error(`task did not finish: ${text}\n${log}`);
  }
  await expect(page.getByTestId('task-progress').getByRole('progressbar')).toHaveAttribute('aria-valuenow', '100');
}

const CEPH_SITES = path.join(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab', 'ceph', 'sites.json');

/** Runs the `rbd` CLI against one lab cluster. */
export function rbd(site: 'site-a' | 'site-b', ...args: string[]): string {
  const { sites } = JSON.parse(fs.readFileSync(CEPH_SITES, 'utf8')) as { sites: { name: string; conf: string; keyring: string }[] };
  const s = sites.find((x) => x.name === site)!;
  return execFileSync('rbd', ['--cluster', site, '-c', s.conf, '--keyring', s.keyring, '--id', 'admin', ...args], { encoding: 'utf8', timeout: 120_000 });
}

export function imageMd5(site: 'site-a' | 'site-b', spec: string): string {
  const { sites } = JSON.parse(fs.readFileSync(CEPH_SITES, 'utf8')) as { sites: { name: string; conf: string; keyring: string }[] };
  const s = sites.find((x) => x.name === site)!;
  return execFileSync('bash', ['-c', `rbd --cluster ${site} -c ${s.conf} --keyring ${s.keyring} --id admin export ${spec} - 2>/dev/null | md5sum`], { encoding: 'utf8', timeout: 120_000 }).split(/\s+/)[0]!;
}

export function cephLab(...args: string[]): string {
  return execFileSync('bash', [path.join(ROOT, 'scripts/lab/ceph-sites.sh'), ...args], { encoding: 'utf8', timeout: 180_000 });
}
