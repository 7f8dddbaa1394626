'use client';

import { useMutation } from '@tanstack/react-query';
import { AuthForm, useSignInOptions } from '@/app/_components/auth-form';
import { NewPasswordInput } from '@/app/_components/new-password-input';
import { useTextFields } from '@/components/text-fields';
import { fieldErrors, useTRPC } from '@/components/trpc';
import { TextInput } from '@/components/ui';

export function SetupForm() {
  const trpc = useTRPC();
  const setup = useMutation(trpc.auth.setup.mutationOptions(useSignInOptions('/')));
  const fe = fieldErrors(setup.error);
  const { values, field } = useTextFields(
    { setupCode: '', username: 'admin', password: '', confirm: '' },
    (k) => fe[k],
  );
  const { setupCode, username, password, confirm } = values;
  const mismatch = confirm.length > 0 && confirm !== password ? 'the two passwords differ' : undefined;
  return (
    <AuthForm
      title="⇄ Set up Tandem"
      note={
        <p className="text-sm text-zinc-600 dark:text-zinc-400">
          Create the first administrator. This page is available only until one exists.
        </p>
      }
      error={setup.error}
      busy={setup.isPending}
      submitLabel="Create admin and sign in"
      submitDisabled={!!mismatch}
      onSubmit={() => {
        if (!mismatch) setup.mutate({ setupCode, username, password });
      }}
    >
      <TextInput
        label="Setup code"
        autoComplete="off"
        spellCheck={false}
        {...field('setupCode')}
        hint="Printed in the server's log at start, and kept in the file setup-code in its data directory"
        autoFocus
        required
      />
      <TextInput label="Admin username" autoComplete="username" {...field('username')} required />
      <NewPasswordInput label="Password" {...field('password')} />
      <TextInput
        label="Repeat password"
        type="password"
        autoComplete="new-password"
        {...field('confirm')}
        error={mismatch}
        required
      />
    </AuthForm>
  );
}
