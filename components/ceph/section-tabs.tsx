'use client';

import type { KeyboardEvent, ReactNode } from 'react';
import { cx } from '../ui';

/**
 * The key handler of a tablist: arrow keys, Home and End move between its tabs and select the tab
 * reached (the selected tab is the only one in the Tab order).
 */
export function tabKeys<T extends string | number>(ids: readonly T[], current: T, select: (id: T) => void) {
  return (e: KeyboardEvent<HTMLElement>) => {
    const i = ids.indexOf(current);
    const to =
      e.key === 'ArrowRight'
        ? (i + 1) % ids.length
        : e.key === 'ArrowLeft'
          ? (i - 1 + ids.length) % ids.length
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? ids.length - 1
              : -1;
    if (to < 0 || !ids.length) return;
    e.preventDefault();
    select(ids[to]!);
    e.currentTarget.querySelectorAll<HTMLElement>('[role=tab]')[to]?.focus();
  };
}

/** The ids a tab and its panel share (aria-controls, aria-labelledby). */
export const tabId = (group: string, id: string | number) => `${group}-tab-${id}`;
export const panelId = (group: string, id: string | number) => `${group}-panel-${id}`;

/** A row of tabs under the cluster header; each controls a panel of the same `group`. */
export function SectionTabs<T extends string>({
  group,
  label,
  tabs,
  current,
  onSelect,
}: {
  group: string;
  label: string;
  tabs: readonly { id: T; label: string; badge?: ReactNode }[];
  current: T;
  onSelect: (id: T) => void;
}) {
  return (
    <div
      role="tablist"
      aria-label={label}
      onKeyDown={tabKeys(
        tabs.map((t) => t.id),
        current,
        onSelect,
      )}
      className="mb-4 flex flex-wrap gap-1 border-b border-zinc-200 dark:border-zinc-700"
    >
      {tabs.map((t) => {
        const selected = t.id === current;
        return (
          <button
            key={t.id}
            type="button"
            role="tab"
            id={tabId(group, t.id)}
            aria-selected={selected}
            aria-controls={panelId(group, t.id)}
            tabIndex={selected ? 0 : -1}
            onClick={() => onSelect(t.id)}
            className={cx(
              '-mb-px inline-flex items-center gap-1.5 border-b-2 px-3 py-2 text-sm font-medium transition',
              selected
                ? 'border-brand-600 text-brand-700 dark:border-brand-500 dark:text-zinc-100'
                : 'border-transparent text-zinc-600 hover:border-zinc-300 hover:text-zinc-900 dark:text-zinc-400 dark:hover:text-zinc-100',
            )}
          >
            {t.label}
            {t.badge}
          </button>
        );
      })}
    </div>
  );
}

/** The panel of one tab: always in the page (the tab points at it), its content only while selected. */
export function TabPanel({
  group,
  id,
  current,
  children,
}: {
  group: string;
  id: string;
  current: string;
  children: ReactNode;
}) {
  const selected = id === current;
  return (
    <div
      role="tabpanel"
      id={panelId(group, id)}
      aria-labelledby={tabId(group, id)}
      hidden={!selected}
      data-testid={`ceph-panel-${id}`}
      className="space-y-4"
    >
      {selected && children}
    </div>
  );
}
