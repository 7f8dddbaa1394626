import { redirect } from 'next/navigation';
import { readyApp } from '@/server/app';
import { SetupForm } from './setup-form';

export const dynamic = 'force-dynamic';

export default async function SetupPage() {
  const app = await readyApp();
  if (app.auth.userCount() > 0) redirect('/login');
  return <SetupForm />;
}
