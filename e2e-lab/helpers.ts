import { execFileSync } from 'node:child_process';
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
