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
};

const LABEL: Record<string, string> = { question: 'waiting for answer' };

export function StateBadge({ state }: { state: string }) {
  return <Badge tone={TONE[state] ?? 'muted'}>{LABEL[state] ?? state}</Badge>;
}
