'use client';

import { useMutation } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { errorText, fieldErrors, useTRPC } from '@/components/trpc';
import { Button, ErrorBox, TextInput } from '@/components/ui';

export function SetupForm() {
  const trpc = useTRPC();
  const router = useRouter();
  const [setupCode, setSetupCode] = useState('');
  const [username, setUsername] = useState('admin');
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const setup = useMutation(
    trpc.auth.setup.mutationOptions({
      meta: { errorToast: false },
      onSuccess: () => {
        router.replace('/');
        router.refresh();
      },
    }),
  );
  const fe = fieldErrors(setup.error);
  const mismatch = confirm.length > 0 && confirm !== password ? 'the two passwords differ' : undefined;
  return (
    <main className="flex min-h-screen items-center justify-center bg-zinc-50 p-4 dark:bg-zinc-950">
      <form
        className="w-full max-w-sm space-y-4 rounded-lg border border-zinc-200 bg-white p-6 shadow dark:border-zinc-700 dark:bg-zinc-900"
        onSubmit={(e) => {
          e.preventDefault();
          if (!mismatch) setup.mutate({ setupCode, username, password });
        }}
      >
        <h1 className="text-xl font-semibold">⇄ Set up Tandem</h1>
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          Create the first administrator. This page is available only until one exists.
        </p>
        {setup.error && !Object.keys(fe).length && <ErrorBox error={errorText(setup.error)} />}
        <TextInput
          label="Setup code"
          name="setupCode"
          autoComplete="off"
          spellCheck={false}
          value={setupCode}
          onChange={(e) => setSetupCode(e.target.value)}
          error={fe.setupCode}
          hint="Printed in the server's log at start, and kept in the file setup-code in its data directory"
          autoFocus
          required
        />
        <TextInput
          label="Admin username"
          name="username"
          autoComplete="username"
          value={username}
          onChange={(e) => setUsername(e.target.value)}
          error={fe.username}
          required
        />
        <TextInput
          label="Password"
          name="password"
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fe.password}
          hint="At least 10 characters"
          required
        />
        <TextInput
          label="Repeat password"
          name="confirm"
          type="password"
          autoComplete="new-password"
          value={confirm}
          onChange={(e) => setConfirm(e.target.value)}
          error={mismatch}
          required
        />
        <Button
          type="submit"
          variant="primary"
          busy={setup.isPending}
          disabled={!!mismatch}
          className="w-full justify-center"
        >
          Create admin and sign in
        </Button>
      </form>
    </main>
  );
}
