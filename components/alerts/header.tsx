'use client';

import { Badge } from '@/components/ui';

export function AlertsHeader({ counts }: { counts?: { critical: number; warning: number } }) {
  if (!counts) return null;
  if (!counts.critical && !counts.warning) return <Badge tone="ok">nothing firing</Badge>;
  return (
    <span className="flex gap-2" data-testid="alert-counts">
      {!!counts.critical && <Badge tone="error">{counts.critical} critical</Badge>}
      {!!counts.warning && <Badge tone="warn">{counts.warning} warning</Badge>}
    </span>
  );
}
