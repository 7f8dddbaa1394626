const MARK = { pass: '✓', warn: '!', block: '✗' } as const;
const TONE = {
  pass: 'text-emerald-700 dark:text-emerald-400',
  warn: 'text-amber-700 dark:text-amber-400',
  block: 'text-red-700 dark:text-red-400',
} as const;

export interface PrecheckItem {
  id: string;
  label: string;
  status: 'pass' | 'warn' | 'block';
  message: string;
}

/** A wizard's pre-checks: each passes, warns or blocks, with its reason. */
export function PrecheckList({ checks, testId }: { checks: PrecheckItem[]; testId: string }) {
  return (
    <ul className="mb-3 space-y-1 text-sm" aria-label="Pre-checks">
      {checks.map((c) => (
        <li key={c.id} className={TONE[c.status]} data-testid={testId} data-status={c.status}>
          {MARK[c.status]} <b>{c.label}</b>: {c.message}
        </li>
      ))}
    </ul>
  );
}
