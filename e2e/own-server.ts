import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { expect, type Browser, type Page } from '@playwright/test';

/**
 * A spec's own production server on a fresh data directory, for specs that change the demo
 * simulation for good: started in `beforeAll` (it answers within 90 s) with an admin signed in
 * on a page of its own, stopped with its process group in `afterAll`.
 */
export class OwnServer {
  #proc: ChildProcess | null = null;
  page!: Page;
  readonly base: string;

  constructor(
    readonly port: number,
    readonly dataDir: string,
    readonly password: string,
    readonly env: Record<string, string> = {},
  ) {
    this.base = `http://127.0.0.1:${port}`;
  }

  async start(browser: Browser): Promise<Page> {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    this.#proc = spawn('npx', ['next', 'start', '-p', String(this.port), '-H', '127.0.0.1'], {
      env: {
        ...process.env,
        TANDEM_DATA_DIR: this.dataDir,
        TANDEM_DEMO_LATENCY_MS: '100',
        TANDEM_ADMIN_PASSWORD: this.password,
        ...this.env,
      },
      detached: true,
      stdio: 'ignore',
    });
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        if ((await fetch(`${this.base}/login`)).ok) break;
      } catch {
        /* not listening yet */
      }
      if (Date.now() > deadline)
        throw new Error(`the server on port ${this.port} did not answer within 90 s`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const context = await browser.newContext({ baseURL: this.base });
    this.page = await context.newPage();
    await this.page.goto('/login');
    await this.page.getByLabel('Username').fill('admin');
    await this.page.getByLabel('Password').fill(this.password);
    await this.page.getByRole('button', { name: 'Sign in' }).click();
    await expect(this.page.getByRole('heading', { name: 'Overview' })).toBeVisible();
    return this.page;
  }

  async stop(): Promise<void> {
    await this.page?.context().close();
    const p = this.#proc;
    if (p?.pid) {
      const exited = new Promise((r) => p.once('exit', r));
      process.kill(-p.pid, 'SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
    }
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Adds a replica of a demo VM through its VM page's form; leaves the page on the sync task. */
export async function addReplica(
  page: Page,
  opts: { vm: string; name: string; target: string; zpool?: string },
): Promise<void> {
  await page.goto('/replicas');
  await page.getByRole('link', { name: opts.vm }).first().click();
  await page.getByRole('button', { name: 'Add replica' }).click();
  await page.getByLabel('Replica name').fill(opts.name);
  await page.getByLabel('Target node').selectOption({ label: opts.target });
  await page.getByLabel('Root zpool').selectOption(opts.zpool ?? 'zones');
  await page.getByRole('button', { name: /Create replica/ }).click();
  await expect(page).toHaveURL(/\/tasks\/\d+$/);
}
