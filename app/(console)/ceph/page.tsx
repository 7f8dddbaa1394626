'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSubscription } from '@trpc/tanstack-react-query';
import Link from 'next/link';
import { useState } from 'react';
import { CephFailoverWizard } from '@/components/ceph/failover-wizard';
import { Schedules } from '@/components/ceph/schedules';
import { TokenPanel } from '@/components/ceph/token-panel';
import { useToast } from '@/components/toast';
import { errorText, useTRPC } from '@/components/trpc';
import { Badge, Button, Card, ConfirmDialog, DemoBadge, Empty, ErrorBox, PageTitle, formatDuration, type Tone } from '@/components/ui';

const GROUPS = [
  { id: 'issues', title: 'Issues', tone: 'error' },
  { id: 'syncing', title: 'Syncing', tone: 'info' },
  { id: 'ready', title: 'Ready', tone: 'ok' },
] as const;

type Op = 'enable' | 'disable' | 'promote' | 'demote' | 'resync' | 'snapshot' | 'journaling-on' | 'journaling-off';

export default function CephPage() {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const sites = useQuery(trpc.sites.list.queryOptions());
  const clusters = (sites.data ?? []).filter((s) => s.kind === 'ceph');
  const [chosen, setChosen] = useState<number | null>(null);
  const siteId = chosen ?? clusters[0]?.id ?? null;
  const [poolName, setPoolName] = useState<string | null>(null);
  const [confirm, setConfirm] = useState<null | { op: Op; image: string; force?: boolean; title: string; body: string; typed?: string }>(null);
  const status = useQuery({ ...trpc.ceph.status.queryOptions({ siteId: siteId ?? 0 }), enabled: !!siteId, refetchInterval: 10_000 });
  const daemons = useQuery({ ...trpc.ceph.daemons.queryOptions({ siteId: siteId ?? 0 }), enabled: !!siteId, refetchInterval: 30_000 });
  useSubscription(trpc.tasks.watch.subscriptionOptions(undefined, { onData: (t) => ['finished', 'failed'].includes(t.state) && t.kind.startsWith('ceph.') && void qc.invalidateQueries({ queryKey: trpc.ceph.pathKey() }) }));
  const onTask = (taskId: number) => toast.info(`Task #${taskId} started — see Tasks for its progress`);
  const onError = (e: unknown) => toast.error(errorText(e));
  const mode = useMutation(trpc.ceph.setPoolMode.mutationOptions({ onSuccess: (r) => onTask(r.taskId), onError }));
  const image = useMutation(trpc.ceph.image.mutationOptions({ onSuccess: (r) => (onTask(r.taskId), setConfirm(null)), onError }));
  const removePeer = useMutation(trpc.ceph.removePeer.mutationOptions({ onSuccess: (r) => onTask(r.taskId), onError }));
  const pair = useMutation(trpc.ceph.pair.mutationOptions({ onSuccess: (r) => onTask(r.taskId), onError }));

  const pools = status.data?.pools ?? [];
  const pool = pools.find((p) => p.pool === poolName) ?? pools.find((p) => p.mode !== 'disabled') ?? pools[0];
  const others = clusters.filter((c) => c.id !== siteId);
  const act = (op: Op, img: string, extra: { force?: boolean; mode?: 'journal' | 'snapshot' } = {}) =>
    siteId && pool && image.mutate({ siteId, pool: pool.pool, namespace: '', image: img, op, ...extra, confirmSplitBrain: extra.force ? true : undefined });

  return (
    <>
      <PageTitle>Ceph mirroring</PageTitle>
      {clusters.length === 0 && sites.data && <Empty>No Ceph clusters are registered. <Link className="text-brand-600 underline" href="/sites">Add one on the Sites page.</Link></Empty>}
      <div className="mb-4 flex flex-wrap gap-2" role="tablist" aria-label="Clusters">
        {clusters.map((c) => (
          <Button key={c.id} role="tab" aria-selected={c.id === siteId} variant={c.id === siteId ? 'primary' : 'secondary'} onClick={() => (setChosen(c.id), setPoolName(null))}>
            {c.name} {c.demo && <DemoBadge />}
          </Button>
        ))}
      </div>
      {status.error && <ErrorBox error={errorText(status.error)} />}
      {status.data && (
        <div className="space-y-4">
          <Card title="Pools">
            <table className="w-full text-left text-sm">
              <thead className="text-xs text-zinc-500 uppercase">
                <tr>
                  <th className="py-1">Pool</th>
                  <th>Mirror mode</th>
                  <th>Site name</th>
                  <th>Peers</th>
                  <th>Health</th>
                  <th>Images</th>
                </tr>
              </thead>
              <tbody>
                {pools.map((p) => (
                  <tr key={p.pool} className="border-t border-zinc-100 align-top dark:border-zinc-800" data-testid="pool-row">
                    <td className="py-1.5">
                      <button type="button" className="font-medium text-brand-600 hover:underline" onClick={() => setPoolName(p.pool)} aria-pressed={p.pool === pool?.pool}>
                        {p.pool}
                      </button>
                    </td>
                    <td>
                      <label className="sr-only" htmlFor={`mode-${p.pool}`}>Mirror mode of {p.pool}</label>
                      <select id={`mode-${p.pool}`} className="rounded border border-zinc-300 bg-transparent px-1 dark:border-zinc-600" value={p.mode} onChange={(e) => siteId && mode.mutate({ siteId, pool: p.pool, namespace: '', mode: e.target.value as 'disabled' | 'image' | 'pool' })}>
                        <option value="disabled">disabled</option>
                        <option value="image">image</option>
                        <option value="pool">pool</option>
                      </select>
                    </td>
                    <td>{p.siteName ?? '—'}</td>
                    <td>
                      {p.peers.length === 0 && <span className="text-zinc-500">none</span>}
                      {p.peers.map((peer) => (
                        <div key={peer.uuid} className="flex items-center gap-1">
                          {peer.siteName} <Badge>{peer.direction}</Badge>
                          <Button variant="ghost" className="px-1 py-0 text-xs" onClick={() => siteId && removePeer.mutate({ siteId, pool: p.pool, peerUuid: peer.uuid })}>
                            remove
                          </Button>
                        </div>
                      ))}
                      {p.mode !== 'disabled' &&
                        others.map((o) => (
                          <Button key={o.id} className="mt-1 text-xs" busy={pair.isPending} onClick={() => siteId && pair.mutate({ fromSiteId: o.id, toSiteId: siteId, pool: p.pool, direction: 'rx-tx' })}>
                            Pair with {o.name}
                          </Button>
                        ))}
                    </td>
                    <td>{p.mode === 'disabled' ? '—' : <Badge tone={(p.summary?.health === 'OK' ? 'ok' : p.summary?.health === 'WARNING' ? 'warn' : 'error') as Tone}>{p.summary?.health ?? 'unknown'}</Badge>}</td>
                    <td>{p.images.length}</td>
                  </tr>
                ))}
              </tbody>
            </table>
            <p className="mt-2 text-xs text-zinc-500">Status of {pools.length} pool(s) read in {status.data.cliCalls} CLI call(s).</p>
          </Card>

          {pool && siteId && pool.mode !== 'disabled' && <TokenPanel siteId={siteId} pool={pool.pool} onTask={onTask} />}

          {pool &&
            GROUPS.map((g) => {
              const imgs = pool.images.filter((i) => i.group === g.id);
              return (
                <Card key={g.id} title={<span className="flex items-center gap-2">{g.title} <Badge tone={g.tone}>{imgs.length}</Badge></span>}>
                  {imgs.length === 0 && <p className="text-sm text-zinc-500">None.</p>}
                  {imgs.length > 0 && (
                    <table className="w-full text-left text-sm" data-testid={`images-${g.id}`}>
                      <thead className="text-xs text-zinc-500 uppercase">
                        <tr>
                          <th className="py-1">Image</th>
                          <th>Mode</th>
                          <th>Role</th>
                          <th>State</th>
                          <th>Lag</th>
                          <th>Next snapshot</th>
                          <th>Peers</th>
                          <th>Actions</th>
                        </tr>
                      </thead>
                      <tbody>
                        {imgs.map((i) => {
                          const m = i.mirroring;
                          return (
                            <tr key={i.name} className="border-t border-zinc-100 align-top dark:border-zinc-800" data-testid="image-row" data-image={i.name}>
                              <td className="py-1.5 font-medium">{i.name}</td>
                              <td>{m?.mode ?? 'off'}</td>
                              <td>{m ? (m.primary ? <Badge tone="info">primary</Badge> : <Badge>non-primary</Badge>) : '—'}</td>
                              <td className="text-xs">
                                {m?.rawState ?? '—'}
                                <div className="text-zinc-500">{i.reason}</div>
                              </td>
                              <td>{i.lagSec !== null ? formatDuration(i.lagSec * 1000) : '—'}</td>
                              <td className="text-xs" data-testid="next-snapshot">{i.nextSnapshotAt ?? '—'}</td>
                              <td className="text-xs">{m?.peerSites.map((ps) => `${ps.siteName}: ${ps.rawState}`).join(', ') || '—'}</td>
                              <td className="flex flex-wrap gap-1 py-1">
                                {!m && (
                                  <>
                                    <Button className="text-xs" onClick={() => act('enable', i.name, { mode: 'snapshot' })}>Enable (snapshot)</Button>
                                    <Button className="text-xs" onClick={() => act('enable', i.name, { mode: 'journal' })}>Enable (journal)</Button>
                                  </>
                                )}
                                {m?.primary && (
                                  <>
                                    <Button className="text-xs" onClick={() => act('snapshot', i.name)}>Snapshot</Button>
                                    <Button className="text-xs" onClick={() => act('demote', i.name)}>Demote</Button>
                                  </>
                                )}
                                {m && m.primary === false && (
                                  <>
                                    <Button className="text-xs" onClick={() => act('promote', i.name)}>Promote</Button>
                                    <Button className="text-xs" variant="danger" onClick={() => setConfirm({ op: 'promote', image: i.name, force: true, title: `Force-promote ${i.name}?`, body: 'Forcing the promotion while the other site may still be primary causes split-brain: both sides accept writes and one side’s newer writes must later be discarded by a resync.', typed: i.name })}>
                                      Force promote…
                                    </Button>
                                    <Button className="text-xs" onClick={() => setConfirm({ op: 'resync', image: i.name, title: `Resync ${i.name} on this cluster?`, body: `This cluster’s copy of ${i.name} is thrown away and copied again from the primary. Any writes that exist only here are discarded.` })}>
                                      Resync…
                                    </Button>
                                  </>
                                )}
                                {m && (
                                  <Button className="text-xs" variant="ghost" onClick={() => setConfirm({ op: 'disable', image: i.name, title: `Disable mirroring of ${i.name}?`, body: 'The peer’s copy stops being updated and is removed by rbd-mirror.' })}>
                                    Disable
                                  </Button>
                                )}
                              </td>
                            </tr>
                          );
                        })}
                      </tbody>
                    </table>
                  )}
                </Card>
              );
            })}

          {pool && siteId && pool.mode !== 'disabled' && (
            <CephFailoverWizard siteId={siteId} siteName={clusters.find((c) => c.id === siteId)?.name ?? ''} pool={pool.pool} images={pool.images.filter((i) => i.mirroring).map((i) => i.name)} others={others.map((o) => ({ id: o.id, name: o.name }))} />
          )}

          {pool && siteId && <Schedules siteId={siteId} pool={pool.pool} images={pool.images.map((i) => i.name)} onTask={onTask} />}

          <Card title="rbd-mirror daemons">
            {daemons.error && <ErrorBox error={errorText(daemons.error)} />}
            {daemons.data?.length === 0 && <p className="text-sm text-zinc-500">No rbd-mirror daemon reports to this cluster.</p>}
            <ul className="space-y-1 text-sm">
              {daemons.data?.map((d) => (
                <li key={d.serviceId}>
                  <b>{d.daemonId}</b> on {d.hostname ?? '?'} <Badge tone={d.health === 'OK' ? 'ok' : d.health === 'WARNING' ? 'warn' : 'error'}>{d.health}</Badge> {d.leader && <Badge tone="info">leader</Badge>}
                  {d.callouts.map((c, k) => (
                    <div key={k} className="text-xs text-amber-700 dark:text-amber-400">
                      {c.pool}: {c.text}
                    </div>
                  ))}
                </li>
              ))}
            </ul>
          </Card>
        </div>
      )}
      <ConfirmDialog open={!!confirm} title={confirm?.title ?? ''} confirmLabel="Proceed" danger typeToConfirm={confirm?.typed} busy={image.isPending} onConfirm={() => confirm && act(confirm.op, confirm.image, { force: confirm.force })} onCancel={() => setConfirm(null)}>
        <p>{confirm?.body}</p>
      </ConfirmDialog>
    </>
  );
}
