'use client';

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';
import { RpoRiskOverride, rpoRiskRefused } from '../protection/rpo-risk';
import { errorText, fieldErrors, useTRPC } from '../trpc';
import { Button, Card, Empty, TextInput, formatTime } from '../ui';
import { ImagePicker } from './image-picker';
import type { Task, TrackTask } from './types';

/**
 * Mirror snapshot schedules at every level, with a preview of the next runs before saving. An add
 * or remove task ends with the cluster's schedules, which the list shows as soon as the task ends
 * (not after every other Ceph query of the page has been refreshed).
 */
export function Schedules({
  siteId,
  pool,
  namespace = '',
  imageCount,
  track,
}: {
  siteId: number;
  pool: string;
  namespace?: string;
  imageCount: number;
  track: TrackTask;
}) {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const [interval, setInterval] = useState('1h');
  const [startTime, setStartTime] = useState('');
  const [image, setImage] = useState('');
  const listOptions = trpc.ceph.schedules.queryOptions({ siteId, level: {} });
  const list = useQuery(listOptions);
  const showResult = (t: Task) => {
    const schedules = (t.result as { schedules?: unknown } | null)?.schedules;
    if (t.state === 'finished' && Array.isArray(schedules))
      qc.setQueryData(listOptions.queryKey, schedules as NonNullable<typeof list.data>);
  };
  const onTask = (taskId: number) => track(taskId, { onEnded: showResult });
  const preview = useQuery({
    ...trpc.ceph.previewSchedule.queryOptions({ interval, startTime: startTime || undefined, count: 3 }),
    enabled: !!interval,
    retry: false,
  });
  const [acceptRpoRisk, setAcceptRpoRisk] = useState(false);
  const add = useMutation(
    trpc.ceph.addSchedule.mutationOptions({
      onSuccess: (r) => onTask(r.taskId),
    }),
  );
  const remove = useMutation(
    trpc.ceph.removeSchedule.mutationOptions({
      onSuccess: (r) => onTask(r.taskId),
    }),
  );
  const level = { pool, ...(namespace ? { namespace } : {}), ...(image ? { image } : {}) };
  const scope = namespace ? `${pool}/${namespace}` : pool;
  return (
    <Card title="Snapshot schedules">
      {list.data?.length === 0 && <Empty>No schedules at any level.</Empty>}
      <ul
        className="mb-3 space-y-1 text-sm"
        data-testid="schedules"
        data-loaded={list.isSuccess ? 'true' : 'false'}
      >
        {list.data?.flatMap((e) =>
          e.items.map((it) => (
            <li
              key={`${e.level}-${e.pool}-${e.namespace}-${e.image}-${it.interval}-${it.startTime}`}
              className="flex items-center justify-between gap-2"
            >
              <span>
                <b>
                  {e.level === 'global'
                    ? 'all pools'
                    : [e.pool, e.namespace, e.image].filter(Boolean).join('/')}
                </b>
                : every {it.interval}
                {it.startTime ? ` from ${it.startTime}` : ''}
              </span>
              <Button
                variant="ghost"
                onClick={() =>
                  remove.mutate({
                    siteId,
                    level: {
                      pool: e.pool ?? undefined,
                      namespace: e.namespace || undefined,
                      image: e.image ?? undefined,
                    },
                    interval: it.interval,
                    startTime: it.startTime ?? undefined,
                  })
                }
              >
                Remove
              </Button>
            </li>
          )),
        )}
      </ul>
      <form
        className="grid items-end gap-2 md:grid-cols-4"
        onSubmit={(e) => {
          e.preventDefault();
          add.mutate({
            siteId,
            level,
            interval,
            startTime: startTime || undefined,
            acceptRpoRisk: acceptRpoRisk || undefined,
          });
        }}
      >
        <div className="flex flex-col gap-1">
          <TextInput
            label="Interval"
            value={interval}
            onChange={(e) => setInterval(e.target.value)}
            hint="<n>m, <n>h or <n>d"
            error={
              preview.error
                ? errorText(preview.error)
                : rpoRiskRefused(add.error)
                  ? fieldErrors(add.error).interval
                  : undefined
            }
          />
          <RpoRiskOverride error={add.error} checked={acceptRpoRisk} onChange={setAcceptRpoRisk} />
        </div>
        <TextInput
          label="Start time (optional)"
          value={startTime}
          onChange={(e) => setStartTime(e.target.value)}
          hint="ISO, e.g. 14:00 or 2026-11-24T02:00"
        />
        <ImagePicker
          siteId={siteId}
          pool={pool}
          namespace={namespace}
          role="any"
          count={imageCount}
          label={namespace ? 'Image (empty: whole namespace)' : 'Image (empty: whole pool)'}
          wholeLabel={namespace ? `namespace ${scope}` : `pool ${pool}`}
          value={image}
          onChange={setImage}
        />
        <Button type="submit" variant="primary" busy={add.isPending} disabled={!preview.data}>
          Add schedule
        </Button>
      </form>
      {preview.data && (
        <p className="mt-2 text-xs text-zinc-500" data-testid="schedule-preview">
          Next runs: {preview.data.map((d) => formatTime(new Date(d))).join(' · ')}
        </p>
      )}
    </Card>
  );
}
