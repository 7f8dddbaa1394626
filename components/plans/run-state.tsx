import { Badge, TextArea, type Tone } from '@/components/ui';
import type { FieldProps } from '@/components/wizard';
import { formatSeconds } from '@/server/domain/protection/format';

const TONE: Record<string, Tone> = {
  finished: 'ok',
  failed: 'error',
  interrupted: 'warn',
  cancelled: 'warn',
  running: 'info',
  waiting: 'info',
  question: 'warn',
  'rolled-back': 'muted',
};

/** A run's state: its task's. */
export function RunStateBadge({ state }: { state: string | null }) {
  return (
    <Badge tone={TONE[state ?? ''] ?? 'muted'}>
      {state === 'question' ? 'waiting for an answer' : (state ?? 'unknown')}
    </Badge>
  );
}

export const RUN_KIND_LABEL: Record<string, string> = {
  planned: 'Planned migration',
  disaster: 'Disaster recovery',
  reprotect: 'Reprotect',
  test: 'Test failover',
  'test-cleanup': 'Test cleanup',
};

/** `objectRun`: one object's failover started on its own, not a plan's run. */
export function runTitle(kind: string, direction: string, objectRun = false): string {
  if (objectRun && (kind === 'planned' || kind === 'disaster'))
    return kind === 'planned' ? 'Planned failover' : 'Forced failover';
  if (kind === 'planned' && direction === 'back') return 'Fail back';
  return `${RUN_KIND_LABEL[kind] ?? kind}${direction === 'back' && kind !== 'reprotect' ? ' (back)' : ''}`;
}

/** The data a run lost (or may lose): none, unknown, or how long a window. */
export const dataLoss = (sec: number | null) =>
  sec === null ? 'unknown' : sec === 0 ? 'none' : formatSeconds(sec);

/** A time of a run report, in UTC to the second (— when there is none). */
export const isoTime = (ms: number | null) =>
  ms === null
    ? '—'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, ' UTC');

/** Whether a typed reason is enough for a run report (the server takes what it is given). */
export const reasonGiven = (reason: string) => reason.trim().length >= 3;

/** The reason a run or failover is made: required by the wizards, kept in its run report. */
export function ReasonField({ value, onChange, error }: FieldProps<string>) {
  return (
    <TextArea
      label="Reason (goes into the run report)"
      value={value}
      onChange={(e) => onChange(e.target.value)}
      rows={2}
      maxLength={2000}
      error={error}
    />
  );
}
