'use client';

import { useQuery } from '@tanstack/react-query';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, Card, DemoBadge, Empty, ErrorBox, PageTitle } from '@/components/ui';

export default function CephPage() {
  const trpc = useTRPC();
  const q = useQuery({ ...trpc.overview.get.queryOptions(), refetchInterval: 10_000 });
  const clusters = (q.data ?? []).filter((s) => s.site.kind === 'ceph');
  return (
    <>
      <PageTitle>Ceph mirroring</PageTitle>
      {q.error && <ErrorBox error={errorText(q.error)} />}
      {q.data && clusters.length === 0 && <Empty>No Ceph clusters are registered.</Empty>}
      <div className="grid gap-4 lg:grid-cols-2">
        {clusters.map((c) => (
          <Card key={c.site.id} title={<span className="flex items-center gap-2">{c.site.name} {c.site.demo && <DemoBadge />}</span>} actions={<Badge tone={c.level}>{c.ceph?.health ?? 'unreachable'}</Badge>}>
            {c.error && <ErrorBox error={c.error} />}
            <table className="w-full text-left text-sm">
              <thead className="text-xs text-zinc-500 uppercase">
                <tr>
                  <th className="py-1">Pool</th>
                  <th>Mode</th>
                  <th>Peers</th>
                  <th>Images</th>
                  <th>Health</th>
                </tr>
              </thead>
              <tbody>
                {c.ceph?.pools.map((p) => (
                  <tr key={p.pool} className="border-t border-zinc-100 dark:border-zinc-800">
                    <td className="py-1.5 font-medium">{p.pool}</td>
                    <td>{p.mode}</td>
                    <td>{p.peers}</td>
                    <td>{Object.entries(p.states).map(([k, v]) => `${v} ${k}`).join(', ') || '—'}</td>
                    <td>{p.mode === 'disabled' ? '—' : <Badge tone={p.health === 'OK' ? 'ok' : p.health === 'WARNING' ? 'warn' : 'error'}>{p.health}</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
        ))}
      </div>
    </>
  );
}
