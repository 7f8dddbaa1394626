'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { PrecheckList } from '../prechecks';
import { errorText, useTRPC } from '../trpc';
import { Badge, Button, Card, ErrorBox, Select, TextInput, formatDuration, formatTime } from '../ui';

/** Failover (planned or unplanned) of a pool or one image from this cluster to another, and failback by resync. */
export function CephFailoverWizard({
  siteId,
  siteName,
  pool,
  namespace = '',
  images,
  others,
  preset,
}: {
  siteId: number;
  siteName: string;
  pool: string;
  namespace?: string;
  images: string[];
  others: { id: number; name: string }[];
  /** The image and other cluster to start with (a split-brain row's "Resolve" opens the wizard so). */
  preset?: { image: string; toSiteId: number } | null;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const [toSiteId, setTo] = useState<number>(preset?.toSiteId ?? others[0]?.id ?? 0);
  const [image, setImage] = useState(preset?.image ?? '');
  const [unplanned, setUnplanned] = useState(false);
  const [typed, setTyped] = useState('');
  const [splitBrainOk, setSplitBrainOk] = useState(false);
  const [staleTyped, setStaleTyped] = useState('');
  const [failBack, setFailBack] = useState(true);
  const scope = namespace ? `${pool}/${namespace}` : pool;
  const what = image || scope;
  const input = { fromSiteId: siteId, toSiteId, pool, namespace, image: image || undefined };
  const plan = useQuery({ ...trpc.ceph.failoverPlan.queryOptions({ ...input, unplanned }), enabled: !!toSiteId, staleTime: 0 });
  const run = useMutation(trpc.ceph.failover.mutationOptions({ onSuccess: (r) => router.push(`/tasks/${r.taskId}`) }));
  const resync = useMutation(trpc.ceph.resync.mutationOptions({ onSuccess: (r) => router.push(`/tasks/${r.taskId}`) }));
  const other = others.find((o) => o.id === toSiteId);
  if (!others.length) return null;
  const p = plan.data;
  return (
    <Card title={`Failover and failback of ${namespace ? 'namespace' : 'pool'} ${scope}`}>
      <div className="mb-3 grid gap-2 md:grid-cols-3">
        <Select label={`From ${siteName} to`} value={String(toSiteId)} onChange={(e) => setTo(Number(e.target.value))}>
          {others.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
            </option>
          ))}
        </Select>
        <Select label="Scope" value={image} onChange={(e) => setImage(e.target.value)}>
          <option value="">every mirrored image of {scope}</option>
          {images.map((i) => (
            <option key={i} value={i}>
              image {i}
            </option>
          ))}
        </Select>
        <label className="flex items-center gap-2 self-end text-sm">
          <input type="checkbox" checked={unplanned} onChange={(e) => setUnplanned(e.target.checked)} />
          Unplanned: {siteName} is gone (force-promote on {other?.name})
        </label>
      </div>
      {plan.error && <ErrorBox error={errorText(plan.error)} />}
      {p && (
        <>
          <PrecheckList checks={p.checks} testId="ceph-precheck" />
          <div className="mb-3 rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700" data-testid="ceph-data-loss">
            <Badge tone={p.mode === 'planned' ? 'ok' : 'warn'}>{p.mode === 'planned' ? 'Planned failover' : 'Unplanned failover'}</Badge>
            <table className="mt-2 w-full text-left text-xs">
              <thead className="text-zinc-500 uppercase">
                <tr>
                  <th>Image</th>
                  <th>Last synced snapshot on {other?.name}</th>
                  <th>Data-loss window</th>
                </tr>
              </thead>
              <tbody>
                {p.images.map((i) => (
                  <tr key={i.name}>
                    <td>{i.name}</td>
                    <td>{formatTime(i.lastSyncedAt)}</td>
                    <td>{p.mode === 'planned' ? 'none (demote first, then promote)' : i.dataLossWindowSec !== null ? formatDuration(i.dataLossWindowSec * 1000) : 'unknown'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {p.splitBrainRisk.length > 0 && (
            <label className="mb-2 flex items-center gap-2 text-sm font-medium text-red-700 dark:text-red-400">
              <input type="checkbox" checked={splitBrainOk} onChange={(e) => setSplitBrainOk(e.target.checked)} data-testid="confirm-split-brain" />
              {siteName} answers: I accept a split-brain ({p.splitBrainRisk.join(', ')} stay primary there too) instead of the planned failover
            </label>
          )}
          <div className="flex flex-wrap items-end gap-2">
            <TextInput label={`Type ${what} to confirm`} value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
            <Button variant="danger" disabled={!p.canProceed || typed !== what || (p.splitBrainRisk.length > 0 && !splitBrainOk)} busy={run.isPending} onClick={() => run.mutate({ ...input, unplanned, confirm: typed, confirmSplitBrain: p.splitBrainRisk.length > 0 ? splitBrainOk : undefined })}>
              Fail over to {other?.name}
            </Button>
          </div>
          {run.error && <div className="mt-2"><ErrorBox error={errorText(run.error)} /></div>}
        </>
      )}
      <hr className="my-4 border-zinc-200 dark:border-zinc-700" />
      <h3 id="ceph-failback" className="mb-1 text-sm font-semibold">
        Failback / resolve split-brain
      </h3>
      <p className="mb-2 text-sm">
        Makes <b>{siteName}</b> the stale side: it is demoted and resynced from <b>{other?.name}</b>, which keeps its data. <span className="font-medium text-red-700 dark:text-red-400" data-testid="discard-warning">Writes made on {siteName} that {other?.name} does not have are discarded.</span>
      </p>
      <label className="mb-2 flex items-center gap-2 text-sm">
        <input type="checkbox" checked={failBack} onChange={(e) => setFailBack(e.target.checked)} />
        Then fail back: once {siteName} replays, demote on {other?.name} and promote on {siteName} (planned, no data loss)
      </label>
      <div className="flex flex-wrap items-end gap-2">
        <TextInput label={`Type ${what} to confirm the resync`} value={staleTyped} onChange={(e) => setStaleTyped(e.target.value)} autoComplete="off" />
        <Button variant="danger" disabled={staleTyped !== what} busy={resync.isPending} onClick={() => resync.mutate({ staleSiteId: siteId, goodSiteId: toSiteId, pool, namespace, image: image || undefined, confirm: staleTyped, failBack })}>
          {failBack ? `Resync ${siteName} and fail back` : `Demote and resync ${siteName}`}
        </Button>
      </div>
      {resync.error && <div className="mt-2"><ErrorBox error={errorText(resync.error)} /></div>}
    </Card>
  );
}
