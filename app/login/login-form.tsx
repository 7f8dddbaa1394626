'use client';

import { useMutation } from '@tanstack/react-query';
import { AuthForm, useSignInOptions } from '@/app/_components/auth-form';
import { useTextFields } from '@/components/text-fields';
import { fieldErrors, useTRPC } from '@/components/trpc';
import { TextInput } from '@/components/ui';

export function LoginForm({ next, expired }: { next: string; expired: boolean }) {
  const trpc = useTRPC();
  const login = useMutation(trpc.auth.login.mutationOptions(useSignInOptions(next)));
  const fe = fieldErrors(login.error);
  const { values, field } = useTextFields({ username: '', password: '' }, (k) => fe[k]);
  return (
    <AuthForm
      title="⇄ Sign in to Tandem"
      note={
        expired &&
        !login.error && (
          <p className="text-sm text-amber-700 dark:text-amber-300">
            Your session has expired. Sign in again.
          </p>
        )
      }
      error={login.error}
      busy={login.isPending}
      submitLabel="Sign in"
      onSubmit={() => login.mutate(values)}
    >
      <TextInput label="Username" autoComplete="username" {...field('username')} autoFocus required />
      <TextInput
        label="Password"
        type="password"
        autoComplete="current-password"
        {...field('password')}
        required
      />
    </AuthForm>
  );
}
