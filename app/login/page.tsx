import { redirect } from 'next/navigation';
import { readyApp } from '@/server/app';
import { LoginForm } from './login-form';

export const dynamic = 'force-dynamic';

export default async function LoginPage({ searchParams }: { searchParams: Promise<{ next?: string; expired?: string }> }) {
  const app = await readyApp();
  if (app.auth.userCount() === 0) redirect('/setup');
  const sp = await searchParams;
  const next = sp.next && sp.next.startsWith('/') && !sp.next.startsWith('//') ? sp.next : '/';
  return <LoginForm next={next} expired={sp.expired === '1'} />;
}
