'use client';

import { useState } from 'react';

/**
 * The text of a form's fields, held in one state: `field('username')` gives an input (or a select)
 * its name, value, onChange and, with `errorOf`, the server's complaint about it, so a field names
 * its key once. `reset()` restores the initial text.
 */
export function useTextFields<Key extends string>(
  initial: Record<Key, string>,
  errorOf?: (name: NoInfer<Key>) => string | undefined,
) {
  const [values, setValues] = useState(initial);
  const field = (name: Key) => ({
    name,
    value: values[name],
    onChange: (e: { target: { value: string } }) => setValues((v) => ({ ...v, [name]: e.target.value })),
    error: errorOf?.(name),
  });
  return { values, field, reset: () => setValues(initial) };
}
