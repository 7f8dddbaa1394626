import { redirect } from 'next/navigation';
import { readyApp } from '@/server/app';
import { safeNextPath } from '@/server/domain/web-access';
import { LoginForm } from './login-form';

export const dynamic = 'force-dynamic';

export default async function LoginPage({
  searchParams,
}: {
  searchParams: Promise<{ next?: string; expired?: string }>;
}) {
  const app = await readyApp();
  if (app.auth.userCount() === 0) redirect('/setup');
  const sp = await searchParams;
  return <LoginForm next={safeNextPath(sp.next)} expired={sp.expired === '1'} />;
}
