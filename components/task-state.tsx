import { Badge, type Tone } from './ui';

/** Whether a task in this state is still under way (waiting, running, or asking a question). */
export const isActiveState = (state: string) =>
  state === 'waiting' || state === 'running' || state === 'question';

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
