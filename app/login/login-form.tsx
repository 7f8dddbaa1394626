'use client';

import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { errorText, fieldErrors, useTRPC } from '@/components/trpc';
import { Button, ErrorBox, TextInput } from '@/components/ui';

export function LoginForm({ next, expired }: { next: string; expired: boolean }) {
  const trpc = useTRPC();
  const router = useRouter();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const login = useMutation(
    trpc.auth.login.mutationOptions({
      meta: { errorToast: false },
      onSuccess: () => {
        router.replace(next);
        router.refresh();
      },
    }),
  );
  const fe = fieldErrors(login.error);
  return (
    <main className="flex min-h-screen items-center justify-center bg-zinc-50 p-4 dark:bg-zinc-950">
      <form
        className="w-full max-w-sm space-y-4 rounded-lg border border-zinc-200 bg-white p-6 shadow dark:border-zinc-700 dark:bg-zinc-900"
        onSubmit={(e) => {
          e.preventDefault();
          login.mutate({ username, password });
        }}
      >
        <h1 className="text-xl font-semibold">⇄ Sign in to Tandem</h1>
        {expired && !login.error && (
          <p className="text-sm text-amber-700 dark:text-amber-300">
            Your session has expired. Sign in again.
          </p>
        )}
        {login.error && !Object.keys(fe).length && <ErrorBox error={errorText(login.error)} />}
        <TextInput
          label="Username"
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={fe.username}
          autoFocus
          required
        />
        <TextInput
          label="Password"
          name="password"
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fe.password}
          required
        />
        <Button type="submit" variant="primary" busy={login.isPending} className="w-full justify-center">
          Sign in
        </Button>
      </form>
    </main>
  );
}
