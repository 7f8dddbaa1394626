import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp, type App } from '@/server/app';
import { ManualClock } from '@/server/core/clock';
import type { SessionUser } from '@/server/domain/auth';
import type { Context } from '@/server/trpc/init';

export function testApp(): { app: App; clock: ManualClock; dir: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-test-'));
  const clock = new ManualClock(Date.UTC(2026, 10, 23, 12, 0, 0));
  const app = createApp({ dbFile: ':memory:', dataDir: dir, clock, demoLatencyMs: 0 });
  return { app, clock, dir };
}

export function ctxFor(
  app: App,
  user: SessionUser | null,
  origin: string | null = 'http://tandem.test',
): Context {
  return {
    app,
    user,
    sessionError: null,
    token: undefined,
    origin,
    host: 'tandem.test',
    secure: false,
    clientKey: 'test',
    resHeaders: new Headers(),
  };
}

export const admin: SessionUser = { id: 1, username: 'root-admin', role: 'admin' };
export const operator: SessionUser = { id: 2, username: 'op', role: 'operator' };
export const viewer: SessionUser = { id: 3, username: 'view', role: 'viewer' };
