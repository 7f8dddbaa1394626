import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import type { ReactNode } from 'react';
import { Shell } from '@/components/shell';
import { readyApp } from '@/server/app';
import type { SessionUser } from '@/server/domain/auth';
import { sessionCookie } from '@/server/domain/web-access';

export const dynamic = 'force-dynamic';

export default async function ConsoleLayout({ children }: { children: ReactNode }) {
  const app = await readyApp();
  if (app.auth.userCount() === 0) redirect('/setup');
  let user: SessionUser | null = null;
  let expired = false;
  try {
    user = app.auth.sessionUser((await cookies()).get(sessionCookie().name)?.value);
  } catch {
    expired = true;
  }
  if (!user) redirect(expired ? '/login?expired=1' : '/login');
  return (
    <Shell user={user} demo={app.demo.present()}>
      {children}
    </Shell>
  );
}
