import { Badge, type Tone } from '@/components/ui';

const TONE: Record<string, Tone> = { finished: 'ok', failed: 'error', interrupted: 'warn', cancelled: 'warn', running: 'info', waiting: 'info', question: 'warn', 'rolled-back': 'muted' };

/** A run's state: its task's. */
export function RunStateBadge({ state }: { state: string | null }) {
  return <Badge tone={TONE[state ?? ''] ?? 'muted'}>{state === 'question' ? 'waiting for an answer' : (state ?? 'unknown')}</Badge>;
}

export const RUN_KIND_LABEL: Record<string, string> = {
  planned: 'Planned migration',
  disaster: 'Disaster recovery',
  reprotect: 'Reprotect',
  test: 'Test failover',
  'test-cleanup': 'Test cleanup',
};

export function runTitle(kind: string, direction: string): string {
  if (kind === 'planned' && direction === 'back') return 'Fail back';
  return `${RUN_KIND_LABEL[kind] ?? kind}${direction === 'back' && kind !== 'reprotect' ? ' (back)' : ''}`;
}
