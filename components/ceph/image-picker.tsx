'use client';

import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { useEffect, useId, useState } from 'react';
import { useTRPC } from '../trpc';
import { Select, TextInput } from '../ui';

/** Up to this many images are offered as a list; more are found by typing part of a name. */
export const PICK_MAX = 200;
const SUGGESTIONS = 20;

/**
 * Chooses one image of a pool or namespace (or none: the whole scope), e.g. a schedule's or a
 * failover's scope. `count`: how many images there are to choose from (the status counts them):
 * up to PICK_MAX they are a list, beyond it a search with suggestions (`ceph.images`, a page at a
 * time), so that a pool of 10,000 images puts no 10,000 options on the page.
 */
export function ImagePicker({
  siteId,
  pool,
  namespace,
  role,
  count,
  label,
  wholeLabel,
  value,
  onChange,
}: {
  siteId: number;
  pool: string;
  namespace: string;
  role: 'any' | 'mirrored' | 'not-primary';
  count: number;
  label: string;
  /** What the empty choice stands for (e.g. "every mirrored image of rbd"). */
  wholeLabel: string;
  value: string;
  onChange: (image: string) => void;
}) {
  const trpc = useTRPC();
  const listId = useId();
  const many = count > PICK_MAX;
  // What is typed into the search (many images); the choice is made once it names an image.
  const [typed, setTyped] = useState(value);
  const images = useQuery({
    ...trpc.ceph.images.queryOptions({
      siteId,
      pool,
      namespace,
      role,
      search: many ? typed.trim() || undefined : undefined,
      limit: many ? SUGGESTIONS : PICK_MAX,
    }),
    // Many images: suggestions only once something is typed.
    enabled: count > 0 && (!many || typed.trim() !== ''),
    placeholderData: keepPreviousData,
  });
  const names = images.data?.rows.map((i) => i.name) ?? [];
  const t = typed.trim();
  const named = many && t !== '' && t !== value && names.includes(t);
  // A name typed in full (or chosen among the suggestions) is the choice.
  useEffect(() => {
    if (named) onChange(t);
  }, [named, t, onChange]);
  if (!many) {
    return (
      <Select label={label} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">{wholeLabel}</option>
        {value && !names.includes(value) && <option value={value}>image {value}</option>}
        {names.map((i) => (
          <option key={i} value={i}>
            image {i}
          </option>
        ))}
      </Select>
    );
  }
  const unknown = t !== '' && t !== value && images.data && !images.isPlaceholderData && !names.includes(t);
  return (
    <div>
      <TextInput
        label={label}
        list={listId}
        value={typed}
        placeholder={wholeLabel}
        autoComplete="off"
        error={
          unknown
            ? `no image named ${t}${images.data.total ? ` (${images.data.total} contain it)` : ''}`
            : undefined
        }
        hint={`${count.toLocaleString('en')} images: type a name, or leave empty for ${wholeLabel}`}
        onChange={(e) => {
          const v = e.target.value;
          setTyped(v);
          if (v.trim() === '') onChange('');
        }}
      />
      <datalist id={listId}>
        {names.map((n) => (
          <option key={n} value={n} />
        ))}
      </datalist>
    </div>
  );
}
