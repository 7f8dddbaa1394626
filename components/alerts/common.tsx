'use client';

import { useQuery } from '@tanstack/react-query';
import { useTRPC } from '@/components/trpc';
import { Badge } from '@/components/ui';

export const RULE_LABELS: Record<string, string> = {
  'rpo-warning': 'RPO exceeded',
  'rpo-breach': 'RPO breached (over 2×)',
  'rpo-predicted': 'RPO breach predicted',
  'sync-failures': 'Consecutive sync failures',
  daemon: 'rbd-mirror daemon',
  'split-brain': 'Split-brain',
  unreachable: 'Site unreachable',
  'task-failed': 'Failover or resync task failed',
};

/** A rule's name for people (the rule's key when it has none). */
export const ruleLabel = (rule: string) => RULE_LABELS[rule] ?? rule;

/** How a notification's delivery stands: sent, failed, or still pending. */
export function DeliveryStateBadge({ state }: { state: string }) {
  return <Badge tone={state === 'sent' ? 'ok' : state === 'failed' ? 'error' : 'info'}>{state}</Badge>;
}

export function SeverityBadge({ severity }: { severity: 'warning' | 'critical' }) {
  return <Badge tone={severity === 'critical' ? 'error' : 'warn'}>{severity}</Badge>;
}

/** The signed-in user's role (null while loading). */
export function useRole(): 'viewer' | 'operator' | 'admin' | null {
  const trpc = useTRPC();
  return useQuery(trpc.auth.status.queryOptions()).data?.user?.role ?? null;
}

/** "3 h 5 min" since a time. */
export function since(at: Date | number, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - new Date(at).getTime()) / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}
