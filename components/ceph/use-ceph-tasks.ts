'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { useTaskEventBus, useTaskEvents } from '../task-events';
import { useToast } from '../toast';
import { useTRPC } from '../trpc';
import type { Task, TaskHandlers, TrackTask } from './types';

const ENDED = new Set(['finished', 'failed', 'cancelled', 'interrupted']);

/**
 * Follows the Ceph tasks started on the page. The tab's task stream refetches the Ceph queries a
 * task's locks touch (its cluster, pool or image; never another cluster's); a task started here
 * also says how it ended (a failure toast carries the task's error, e.g. why Ceph refused) and
 * runs its handlers once the data it changed has been refetched.
 */
export function useCephTasks(): TrackTask {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const bus = useTaskEventBus();
  // Bookkeeping outside React state: nothing renders from it.
  const [{ waiting, ended }] = useState(() => ({
    waiting: new Map<number, TaskHandlers>(),
    /** Tasks that ended before the page learnt their id (a fast task, a slow response). */
    ended: new Map<number, Task>(),
  }));

  const settle = (t: Task, h: TaskHandlers) => {
    if (t.state === 'finished') {
      toast.success(h.successText ? h.successText(t) : `Done: ${t.name}`);
      h.onFinished?.(t);
    } else {
      toast.error(
        `${t.name} ${t.state === 'failed' ? 'failed' : `was ${t.state}`}: ${t.error ?? 'see Tasks for details'}`,
      );
      h.onFailed?.(t);
    }
  };

  const ended$ = (t: Task) => {
    const h = waiting.get(t.id);
    if (h) {
      waiting.delete(t.id);
      h.onEnded?.(t);
      void bus.refresh(t).finally(() => settle(t, h));
    } else if (!ended.has(t.id)) {
      // Another page's or operator's task, or one whose id is not known here yet.
      ended.set(t.id, t);
      if (ended.size > 50) ended.delete(ended.keys().next().value!);
    }
  };

  useTaskEvents((t) => {
    if (ENDED.has(t.state) && t.kind.startsWith('ceph.')) ended$(t);
  });

  // Should the live stream miss an end (a reconnect), ask for the tasks still awaited.
  const latest = useRef(ended$);
  useEffect(() => {
    latest.current = ended$;
  });
  useEffect(() => {
    const timer = setInterval(() => {
      for (const id of waiting.keys()) {
        void qc
          .fetchQuery({ ...trpc.tasks.get.queryOptions({ id }), staleTime: 0 })
          .then((r) => {
            if (ENDED.has(r.task.state) && waiting.has(id)) latest.current(r.task);
          })
          .catch(() => undefined);
      }
    }, 5_000);
    return () => clearInterval(timer);
  }, [qc, trpc, waiting]);

  return (taskId, handlers = {}) => {
    toast.info(`Task #${taskId} started — see Tasks for its progress`);
    const t = ended.get(taskId);
    if (t) {
      ended.delete(taskId);
      handlers.onEnded?.(t);
      void bus.refresh(t).finally(() => settle(t, handlers));
    } else waiting.set(taskId, handlers);
  };
}
