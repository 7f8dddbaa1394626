import { Badge, type Tone } from './ui';

const TONE: Record<string, Tone> = {
  waiting: 'muted',
  running: 'info',
  question: 'warn',
  finished: 'ok',
  failed: 'error',
  cancelled: 'muted',
  interrupted: 'warn',
  pending: 'muted',
  done: 'ok',
  skipped: 'muted',
  'rolled-back': 'warn',
};

const LABEL: Record<string, string> = { question: 'waiting for answer', 'rolled-back': 'rolled back' };

export function StateBadge({ state }: { state: string }) {
  return <Badge tone={TONE[state] ?? 'muted'}>{LABEL[state] ?? state}</Badge>;
}
