import { Badge, type Tone } from '../ui';

const TONE: Record<string, Tone> = {
  new: 'info',
  idle: 'ok',
  syncing: 'info',
  paused: 'muted',
  error: 'error',
  'reinit-required': 'warn',
  'failing-over': 'warn',
  'reinit-running': 'warn',
};
const LABEL: Record<string, string> = {
  new: 'initial sync pending',
  'reinit-required': 'needs reinit',
  'failing-over': 'failing over',
  'reinit-running': 'reinitialising',
};

export function ReplicaStateBadge({ state }: { state: string }) {
  return <Badge tone={TONE[state] ?? 'muted'}>{LABEL[state] ?? state}</Badge>;
}
