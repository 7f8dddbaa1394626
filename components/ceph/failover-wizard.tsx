'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useRouter } from 'next/navigation';
import { useState } from 'react';
import { ReasonField, reasonGiven } from '../plans/run-state';
import { PrecheckList } from '../prechecks';
import { errorText, useTRPC } from '../trpc';
import { Badge, Button, Card, ErrorBox, Select, TextInput, formatDuration, formatTime } from '../ui';
import { ImagePicker } from './image-picker';

interface ClusterRef {
  id: number;
  name: string;
}

/**
 * Failover (planned or unplanned) of a pool, a namespace or one image from the cluster whose images
 * are primary now (`from`) to the one that takes over (`to`), and — with `failback` — the failback
 * by resync that makes `from` the stale side. The same wizard serves both directions of the Ceph
 * page: from the cluster shown to another (`targets` to choose among), and onto the cluster shown
 * from a peer ("Fail over from <peer>"), which works while the peer cannot be reached.
 */
export function CephFailoverWizard({
  from,
  to: initialTo,
  targets,
  pool,
  namespace = '',
  images,
  preset,
  failback = false,
  failbackOpen = true,
  offer = true,
  idleText,
  ready = true,
}: {
  /** The cluster whose images are primary now. */
  from: ClusterRef;
  /** The cluster that takes over (the first choice when `targets` are given). */
  to: ClusterRef;
  /** Clusters the one that takes over can be chosen among (shown as a choice when more than one). */
  targets?: ClusterRef[];
  pool: string;
  namespace?: string;
  /** The images of the scope choice: those of `role` on cluster `siteId`, `count` of them (see ImagePicker). */
  images: { siteId: number; role: 'mirrored' | 'not-primary'; count: number };
  /** The image and other cluster to start with (a split-brain row's "Resolve" opens the wizard so). */
  preset?: { image: string; toSiteId: number } | null;
  /** Also the failback / split-brain resolution that resyncs `from` from `to`. */
  failback?: boolean;
  /** Whether the failback shows at first (else it opens on request): when it applies, e.g. a split-brain. */
  failbackOpen?: boolean;
  /** Whether the failover itself is offered; when not, `idleText` says why (the failback stays). */
  offer?: boolean;
  idleText?: string;
  /** False holds the plans back (they ask both clusters for every image) until the page has shown what it shows first. */
  ready?: boolean;
}) {
  const trpc = useTRPC();
  const router = useRouter();
  const choices = targets?.length ? targets : [initialTo];
  const [toSiteId, setTo] = useState<number>(preset?.toSiteId ?? initialTo.id);
  const [image, setImage] = useState(preset?.image ?? '');
  const [unplanned, setUnplanned] = useState(false);
  const [typed, setTyped] = useState('');
  const [reason, setReason] = useState('');
  const [splitBrainOk, setSplitBrainOk] = useState(false);
  const [staleTyped, setStaleTyped] = useState('');
  const [failBack, setFailBack] = useState(true);
  const [showFailback, setShowFailback] = useState(failbackOpen);
  const to = choices.find((o) => o.id === toSiteId) ?? initialTo;
  const scope = namespace ? `${pool}/${namespace}` : pool;
  const what = image || scope;
  const input = { fromSiteId: from.id, toSiteId: to.id, pool, namespace, image: image || undefined };
  // Its own request: the plan waits for a cluster that is gone (about 5 s), the page's other queries must not.
  const plan = useQuery({
    ...trpc.ceph.failoverPlan.queryOptions(
      { ...input, unplanned },
      { trpc: { context: { unbatched: true } } },
    ),
    enabled: offer && ready,
    staleTime: 0,
  });
  const run = useMutation(
    trpc.ceph.failover.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => router.push(`/tasks/${r.taskId}`),
    }),
  );
  const resync = useMutation(
    trpc.ceph.resync.mutationOptions({
      meta: { errorToast: false },
      onSuccess: (r) => router.push(`/tasks/${r.taskId}`),
    }),
  );
  // What the resync keeps: a protective copy of each image on the stale side, named before it starts.
  const resyncPlan = useQuery({
    ...trpc.ceph.resyncPlan.queryOptions(
      { staleSiteId: from.id, goodSiteId: to.id, pool, namespace, image: image || undefined, failBack },
      { trpc: { context: { unbatched: true } } },
    ),
    enabled: failback && showFailback && ready,
    retry: false,
  });
  const kind = namespace ? 'namespace' : 'pool';
  const p = plan.data;
  return (
    <Card
      title={
        offer
          ? `Fail over ${kind} ${scope} from ${from.name} to ${to.name}`
          : `Failback and resync of ${kind} ${scope} on ${from.name}`
      }
    >
      <div className="mb-3 grid gap-2 md:grid-cols-3">
        {choices.length > 1 && (
          <Select
            label={`From ${from.name} to`}
            value={String(to.id)}
            onChange={(e) => setTo(Number(e.target.value))}
          >
            {choices.map((o) => (
              <option key={o.id} value={o.id}>
                {o.name}
              </option>
            ))}
          </Select>
        )}
        <ImagePicker
          siteId={images.siteId}
          pool={pool}
          namespace={namespace}
          role={images.role}
          count={images.count}
          label="Scope"
          wholeLabel={`every mirrored image of ${scope}`}
          value={image}
          onChange={setImage}
        />
        {offer && (
          <label className="flex items-center gap-2 self-end text-sm">
            <input type="checkbox" checked={unplanned} onChange={(e) => setUnplanned(e.target.checked)} />
            Unplanned: {from.name} is gone (force-promote on {to.name})
          </label>
        )}
      </div>
      {!offer && idleText && (
        <p className="mb-2 text-sm text-zinc-600 dark:text-zinc-300" data-testid="ceph-failover-idle">
          {idleText}
        </p>
      )}
      {offer && plan.isPending && (
        <p
          role="status"
          className="mb-3 flex items-center gap-2 text-sm text-zinc-600 dark:text-zinc-300"
          data-testid="ceph-plan-pending"
        >
          <span
            className="size-3 animate-spin rounded-full border-2 border-current border-t-transparent"
            aria-hidden
          />
          Asking {from.name}… (a cluster that is gone is known to be so within about 5 s)
        </p>
      )}
      {offer && plan.error && <ErrorBox error={errorText(plan.error)} />}
      {offer && p && (
        <>
          <PrecheckList checks={p.checks} testId="ceph-precheck" />
          <div
            className="mb-3 rounded-md border border-zinc-200 p-3 text-sm dark:border-zinc-700"
            data-testid="ceph-data-loss"
            data-mode={p.mode}
          >
            <Badge tone={p.mode === 'planned' ? 'ok' : 'warn'}>
              {p.mode === 'planned' ? 'Planned failover' : 'Unplanned failover'}
            </Badge>
            {p.imageCount > p.images.length && (
              <p className="mt-1 text-xs" data-testid="ceph-data-loss-summary">
                {p.imageCount.toLocaleString('en')} images
                {p.mode === 'unplanned' && (
                  <>
                    : largest data-loss window{' '}
                    {p.maxWindowSec !== null ? formatDuration(p.maxWindowSec * 1000) : 'unknown'}
                    {p.unknownWindows > 0 ? `, ${p.unknownWindows} unknown` : ''}
                  </>
                )}
                . The {p.images.length} {p.mode === 'unplanned' ? 'largest' : 'first'} are listed; choose one
                image as the scope to see its own.
              </p>
            )}
            <table className="mt-2 w-full text-left text-xs">
              <thead className="text-zinc-500 uppercase">
                <tr>
                  <th>Image</th>
                  <th>Last synced snapshot on {to.name}</th>
                  <th>Data-loss window</th>
                </tr>
              </thead>
              <tbody>
                {p.images.map((i) => (
                  <tr key={i.name} data-testid="ceph-data-loss-row" data-image={i.name}>
                    <td>{i.name}</td>
                    <td>{formatTime(i.lastSyncedAt)}</td>
                    <td>
                      {p.mode === 'planned'
                        ? 'none (demote first, then promote)'
                        : i.dataLossWindowSec !== null
                          ? formatDuration(i.dataLossWindowSec * 1000)
                          : 'unknown'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {p.splitBrainRisk.length > 0 && (
            <label className="mb-2 flex items-center gap-2 text-sm font-medium text-red-700 dark:text-red-400">
              <input
                type="checkbox"
                checked={splitBrainOk}
                onChange={(e) => setSplitBrainOk(e.target.checked)}
                data-testid="confirm-split-brain"
              />
              {from.name} answers: I accept a split-brain ({p.splitBrainRisk.slice(0, 10).join(', ')}
              {p.splitBrainRiskCount > 10 ? ` and ${p.splitBrainRiskCount - 10} more` : ''} stay primary there
              too) instead of the planned failover
            </label>
          )}
          <div className="mb-2 max-w-xl">
            <ReasonField value={reason} onChange={setReason} />
          </div>
          <div className="flex flex-wrap items-end gap-2">
            <TextInput
              label={`Type ${what} to confirm`}
              value={typed}
              onChange={(e) => setTyped(e.target.value)}
              autoComplete="off"
            />
            <Button
              variant="danger"
              disabled={
                !p.canProceed ||
                typed !== what ||
                (p.splitBrainRisk.length > 0 && !splitBrainOk) ||
                !reasonGiven(reason)
              }
              busy={run.isPending}
              onClick={() =>
                run.mutate({
                  ...input,
                  unplanned,
                  confirm: typed,
                  confirmSplitBrain: p.splitBrainRisk.length > 0 ? splitBrainOk : undefined,
                  expectMode: p.mode,
                  reason,
                })
              }
            >
              Fail over {what} from {from.name} to {to.name}
            </Button>
          </div>
          {run.error && (
            <div className="mt-2">
              <ErrorBox error={errorText(run.error)} />
            </div>
          )}
        </>
      )}
      {failback && !showFailback && (
        <>
          <hr className="my-4 border-zinc-200 dark:border-zinc-700" />
          <div className="flex flex-wrap items-center gap-2 text-sm" data-testid="failback-closed">
            <span className="text-zinc-600 dark:text-zinc-300">
              No image of {scope} is in split-brain: a failback that resyncs {from.name} is not needed now.
            </span>
            <Button
              variant="ghost"
              className="px-2 py-0.5 text-xs"
              aria-expanded={false}
              onClick={() => setShowFailback(true)}
            >
              Failback / resync anyway…
            </Button>
          </div>
        </>
      )}
      {failback && showFailback && (
        <>
          <hr className="my-4 border-zinc-200 dark:border-zinc-700" />
          <h3 id="ceph-failback" className="mb-1 text-sm font-semibold">
            Failback / resolve split-brain
          </h3>
          <p className="mb-2 text-sm">
            Makes <b>{from.name}</b> the stale side: it is demoted and resynced from <b>{to.name}</b>, which
            keeps its data.{' '}
            <span className="font-medium text-red-700 dark:text-red-400" data-testid="discard-warning">
              Writes made on {from.name} that {to.name} does not have are discarded.
            </span>
          </p>
          <div className="mb-2 text-sm" data-testid="kept-copy-plan">
            {resyncPlan.data ? (
              <>
                First a full copy of{' '}
                {resyncPlan.data.imageCount === 1
                  ? 'the image'
                  : `each of the ${resyncPlan.data.imageCount.toLocaleString('en')} images`}{' '}
                as it is on {from.name} is kept there, so nothing is lost for good:
                <ul className="ml-5 list-disc font-mono text-xs">
                  {resyncPlan.data.images.map((i) => (
                    <li key={i.name}>
                      {i.name} → {i.keepAs.replace(/\d{8}T\d{6}Z$/, '<UTC time of the resync>')}
                    </li>
                  ))}
                  {resyncPlan.data.imageCount > resyncPlan.data.images.length && (
                    <li>
                      and {(resyncPlan.data.imageCount - resyncPlan.data.images.length).toLocaleString('en')}{' '}
                      more, each named so
                    </li>
                  )}
                </ul>
                Kept copies are listed on this page until you delete them.
              </>
            ) : resyncPlan.error ? (
              <span className="text-zinc-500">
                {from.name} cannot list the images to copy: {errorText(resyncPlan.error)}
              </span>
            ) : (
              <span className="text-zinc-500">Asking {from.name} which images it would copy…</span>
            )}
          </div>
          <label className="mb-2 flex items-center gap-2 text-sm">
            <input type="checkbox" checked={failBack} onChange={(e) => setFailBack(e.target.checked)} />
            Then fail back: once {from.name} replays, demote on {to.name} and promote on {from.name} (planned,
            no data loss)
          </label>
          <div className="flex flex-wrap items-end gap-2">
            <TextInput
              label={`Type ${what} to confirm the resync`}
              value={staleTyped}
              onChange={(e) => setStaleTyped(e.target.value)}
              autoComplete="off"
            />
            <Button
              variant="danger"
              disabled={staleTyped !== what}
              busy={resync.isPending}
              onClick={() =>
                resync.mutate({
                  staleSiteId: from.id,
                  goodSiteId: to.id,
                  pool,
                  namespace,
                  image: image || undefined,
                  confirm: staleTyped,
                  failBack,
                })
              }
            >
              {failBack ? `Resync ${from.name} and fail back` : `Demote and resync ${from.name}`}
            </Button>
          </div>
          {resync.error && (
            <div className="mt-2">
              <ErrorBox error={errorText(resync.error)} />
            </div>
          )}
        </>
      )}
    </Card>
  );
}
