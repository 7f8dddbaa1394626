import type { ComponentProps } from 'react';
import { TextInput } from '@/components/ui';

/** A new password (the first admin's, a new user's), with the rule the server applies as its hint. */
export function NewPasswordInput(
  props: Omit<ComponentProps<typeof TextInput>, 'type' | 'autoComplete' | 'hint'>,
) {
  return (
    <TextInput
      type="password"
      autoComplete="new-password"
      hint="At least 10 characters"
      required
      {...props}
    />
  );
}
