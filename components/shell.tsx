'use client';

import { useMutation } from '@tanstack/react-query';
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import type { ReactNode } from 'react';
import { ConnectionBanner, useConnection } from './connection';
import { TasksPanel } from './tasks-panel';
import { useTRPC, type RouterOutputs } from './trpc';
import { Badge, Button, cx } from './ui';

const NAV: { href: string; label: string; admin?: boolean }[] = [
  { href: '/', label: 'Overview' },
  { href: '/alerts', label: 'Alerts' },
  { href: '/replicas', label: 'Replicas (VMs)' },
  { href: '/ceph', label: 'Ceph mirroring' },
  { href: '/plans', label: 'Recovery plans' },
  { href: '/tasks', label: 'Tasks' },
  { href: '/history', label: 'History' },
  { href: '/sites', label: 'Sites' },
  { href: '/api-docs', label: 'API' },
  { href: '/users', label: 'Users', admin: true },
  { href: '/settings', label: 'Settings', admin: true },
];

function ThemeToggle() {
  return (
    <Button
      variant="ghost"
      aria-label="Toggle dark mode"
      onClick={() => {
        const dark = document.documentElement.classList.toggle('dark');
        localStorage.setItem('tandem-theme', dark ? 'dark' : 'light');
      }}
    >
      <span className="dark:hidden">☾ Dark</span>
      <span className="hidden dark:inline">☀ Light</span>
    </Button>
  );
}

/** The signed-in user, as the layout hands it over (the roles are the users list's). */
type ShellUser = { username: string; role: RouterOutputs['users']['list'][number]['role'] };

export function Shell({ user, demo, children }: { user: ShellUser; demo: boolean; children: ReactNode }) {
  const path = usePathname();
  const trpc = useTRPC();
  // While the server does not answer, what the pages show is its last known state: greyed out.
  const stale = useConnection().lostSince !== null;
  const staleCls = stale ? 'opacity-60 grayscale transition' : 'transition';
  const router = useRouter();
  const logout = useMutation(
    trpc.auth.logout.mutationOptions({
      onSettled: () => {
        router.replace('/login');
        router.refresh();
      },
    }),
  );
  return (
    <div className="flex min-h-screen">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50 focus:rounded focus:bg-white focus:p-2"
      >
        Skip to content
      </a>
      <aside className="flex w-60 shrink-0 flex-col border-r print:hidden border-zinc-200 bg-zinc-50 dark:border-zinc-700 dark:bg-zinc-900">
        <div className="flex items-center gap-2 px-4 py-4">
          <span className="text-lg font-bold tracking-tight">⇄ Tandem</span>
          {demo && <Badge tone="demo">Demo</Badge>}
        </div>
        <nav aria-label="Main" className="flex-1 px-2">
          <ul className="space-y-0.5">
            {NAV.filter((n) => !n.admin || user.role === 'admin').map((n) => {
              const active = n.href === '/' ? path === '/' : path.startsWith(n.href);
              return (
                <li key={n.href}>
                  <Link
                    href={n.href}
                    aria-current={active ? 'page' : undefined}
                    className={cx(
                      'block rounded-md px-3 py-1.5 text-sm',
                      active
                        ? 'bg-brand-600 font-medium text-white'
                        : 'text-zinc-700 hover:bg-zinc-200 dark:text-zinc-300 dark:hover:bg-zinc-800',
                    )}
                  >
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className={staleCls} data-stale={stale || undefined}>
          <TasksPanel />
        </div>
        <div className="border-t border-zinc-200 p-3 text-sm dark:border-zinc-700">
          <div className="mb-2">
            <span className="font-medium" data-testid="current-user">
              {user.username}
            </span>{' '}
            <Badge>{user.role}</Badge>
          </div>
          <div className="flex gap-1">
            <ThemeToggle />
            <Button variant="ghost" busy={logout.isPending} onClick={() => logout.mutate()}>
              Sign out
            </Button>
          </div>
        </div>
      </aside>
      <main id="main" className="min-w-0 flex-1 p-6 print:p-0">
        <ConnectionBanner />
        <div className={staleCls} data-stale={stale || undefined} data-testid="page-content">
          {children}
        </div>
      </main>
    </div>
  );
}
