import type { Metadata } from 'next';
import { headers } from 'next/headers';
import type { ReactNode } from 'react';
import { ToastProvider } from '@/components/toast';
import { TRPCReactProvider } from '@/components/trpc';
import './globals.css';

export const metadata: Metadata = {
  title: 'Tandem — disaster recovery console',
  description: 'VM replicas and Ceph RBD mirroring: replicate, fail over, fail back.',
};

const themeScript = `try{var t=localStorage.getItem('tandem-theme');if(t==='dark'||(!t&&matchMedia('(prefers-color-scheme: dark)').matches))document.documentElement.classList.add('dark')}catch(e){}`;

export default async function RootLayout({ children }: { children: ReactNode }) {
  // Set by proxy.ts with the page's Content-Security-Policy; reading it renders every page per request.
  const nonce = (await headers()).get('x-nonce') ?? undefined;
  return (
    <html lang="en" suppressHydrationWarning>
      <head>
        <script nonce={nonce} dangerouslySetInnerHTML={{ __html: themeScript }} />
      </head>
      <body className="bg-white text-zinc-900 antialiased dark:bg-zinc-950 dark:text-zinc-100">
        <TRPCReactProvider>
          <ToastProvider>{children}</ToastProvider>
        </TRPCReactProvider>
      </body>
    </html>
  );
}
