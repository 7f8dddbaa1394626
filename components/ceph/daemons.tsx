'use client';

import { errorText, type RouterOutputs } from '../trpc';
import { Badge, Card, ErrorBox } from '../ui';

type Daemon = RouterOutputs['ceph']['daemons'][number];

/** `demo on demo-site-a-mirror1`: how a restart notice names the daemons. */
export function daemonNames(daemons: Daemon[] | undefined): string {
  return (daemons ?? []).map((d) => `${d.daemonId} on ${d.hostname ?? '?'}`).join(', ');
}

export function Daemons({ daemons, error }: { daemons: Daemon[] | undefined; error: unknown }) {
  return (
    <Card title="rbd-mirror daemons">
      {!!error && <ErrorBox error={errorText(error)} />}
      {daemons?.length === 0 && (
        <p className="text-sm text-zinc-500">No rbd-mirror daemon reports to this cluster.</p>
      )}
      <ul className="space-y-1 text-sm">
        {daemons?.map((d) => (
          <li key={d.serviceId}>
            <b>{d.daemonId}</b> on {d.hostname ?? '?'}{' '}
            <Badge tone={d.health === 'OK' ? 'ok' : d.health === 'WARNING' ? 'warn' : 'error'}>
              {d.health}
            </Badge>{' '}
            {d.leader && <Badge tone="info">leader</Badge>}
            {d.callouts.map((c, k) => (
              <div key={k} className="text-xs text-amber-700 dark:text-amber-400">
                {c.pool}: {c.text}
              </div>
            ))}
          </li>
        ))}
      </ul>
    </Card>
  );
}
