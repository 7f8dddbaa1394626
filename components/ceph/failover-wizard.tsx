'use client';

import { useMutation, useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { DataTable, tableColumns } from '../data-table';
import { PrecheckList } from '../prechecks';
import { errorText, useTRPC, type RouterOutputs } from '../trpc';
import { Checkbox, Button, Card, ErrorBox, Select, formatTime } from '../ui';
import { DataLossBox, TypedConfirm, lossWindow, useOpenTask } from '../wizard';
import { ImagePicker } from './image-picker';

interface ClusterRef {
  id: number;
  name: string;
}

type PlanImage = RouterOutputs['ceph']['failoverPlan']['images'][number];
const imageCol = tableColumns<PlanImage>();

/** The images of a failover's plan: when each last synced to `to`, and what it loses. */
function dataLossColumns(to: string, planned: boolean) {
  return [
    imageCol.accessor('name', { header: 'Image' }),
    imageCol.accessor('lastSyncedAt', {
      header: `Last synced snapshot on ${to}`,
      cell: (c) => formatTime(c.getValue()),
    }),
    imageCol.accessor('dataLossWindowSec', {
      header: 'Data-loss window',
      cell: (c) => (planned ? 'none (demote first, then promote)' : lossWindow(c.getValue())),
    }),
  ];
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
  const openTask = useOpenTask();
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
  const run = useMutation(trpc.ceph.failover.mutationOptions(openTask));
  const resync = useMutation(trpc.ceph.resync.mutationOptions(openTask));
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
  const planned = p?.mode === 'planned';
  const lossColumns = useMemo(() => dataLossColumns(to.name, planned), [to.name, planned]);
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
          <Checkbox className="self-end" checked={unplanned} onChange={(e) => setUnplanned(e.target.checked)}>
            Unplanned: {from.name} is gone (force-promote on {to.name})
          </Checkbox>
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
          <DataLossBox
            planned={planned}
            unplannedLabel="Unplanned failover"
            testId="ceph-data-loss"
            data-mode={p.mode}
          >
            {p.imageCount > p.images.length && (
              <p className="mt-1 text-xs" data-testid="ceph-data-loss-summary">
                {p.imageCount.toLocaleString('en')} images
                {!planned && (
                  <>
                    : largest data-loss window {lossWindow(p.maxWindowSec)}
                    {p.unknownWindows > 0 ? `, ${p.unknownWindows} unknown` : ''}
                  </>
                )}
                . The {p.images.length} {planned ? 'first' : 'largest'} are listed; choose one image as the
                scope to see its own.
              </p>
            )}
            <DataTable
              columns={lossColumns}
              data={p.images}
              rowKey={(i) => i.name}
              rowProps={(i) => ({ 'data-testid': 'ceph-data-loss-row', 'data-image': i.name })}
              sortable={false}
              className="mt-2 w-full text-left text-xs"
            />
          </DataLossBox>
          {p.splitBrainRisk.length > 0 && (
            <Checkbox
              tone="danger"
              className="mb-2"
              checked={splitBrainOk}
              onChange={(e) => setSplitBrainOk(e.target.checked)}
              data-testid="confirm-split-brain"
            >
              {from.name} answers: I accept a split-brain ({p.splitBrainRisk.slice(0, 10).join(', ')}
              {p.splitBrainRiskCount > 10 ? ` and ${p.splitBrainRiskCount - 10} more` : ''} stay primary there
              too) instead of the planned failover
            </Checkbox>
          )}
          <TypedConfirm
            word={what}
            typed={typed}
            onTyped={setTyped}
            reason={{ value: reason, onChange: setReason }}
            disabled={!p.canProceed || (p.splitBrainRisk.length > 0 && !splitBrainOk)}
            busy={run.isPending}
            onConfirm={() =>
              run.mutate({
                ...input,
                unplanned,
                confirm: typed,
                confirmSplitBrain: p.splitBrainRisk.length > 0 ? splitBrainOk : undefined,
                expectMode: p.mode,
                reason,
              })
            }
            error={run.error}
          >
            Fail over {what} from {from.name} to {to.name}
          </TypedConfirm>
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
          <Checkbox className="mb-2" checked={failBack} onChange={(e) => setFailBack(e.target.checked)}>
            Then fail back: once {from.name} replays, demote on {to.name} and promote on {from.name} (planned,
            no data loss)
          </Checkbox>
          <TypedConfirm
            word={what}
            label={`Type ${what} to confirm the resync`}
            typed={staleTyped}
            onTyped={setStaleTyped}
            busy={resync.isPending}
            onConfirm={() =>
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
            error={resync.error}
          >
            {failBack ? `Resync ${from.name} and fail back` : `Demote and resync ${from.name}`}
          </TypedConfirm>
        </>
      )}
    </Card>
  );
}
