'use client';

import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { useTaskEventBus, useTaskEvents } from './task-events';
import { isActiveState } from './task-state';
import { useToast } from './toast';
import { useTRPC, type RouterOutputs } from './trpc';

export type TrackedTask = Omit<RouterOutputs['tasks']['get']['task'], 'params' | 'question'> & {
  question: unknown;
};

export interface TaskHandlers {
  /** The toast when the task starts; "Task #N started — see Tasks for its progress" when omitted. */
  startedText?: string;
  /**
   * As soon as the task's end is known, before the queries it touched are refreshed (they go out
   * together and come back with the slowest): for what the task's own result shows at once.
   */
  onEnded?: (t: TrackedTask) => void;
  onFinished?: (t: TrackedTask) => void;
  onFailed?: (t: TrackedTask) => void;
  /** Text of the success toast; the task's name when omitted. */
  successText?: (t: TrackedTask) => string;
}

export type TrackTask = (taskId: number, handlers?: TaskHandlers) => void;

/**
 * The one way a page follows a task it started in place (the Ceph Dashboard's task wrapper): a
 * mutation that returns `{ taskId }` hands it to `track`. The start is toasted; the task's
 * progress shows in the active-tasks panel; the tab's task stream refetches, while it runs, the
 * queries its locks touch (a cluster's, a pool's, an image's, a VM's and its replicas', never
 * another's); when it ends, those queries are refreshed and then the outcome is toasted (a failure
 * with the task's error) and the handlers run. Wizards whose work deserves a page of its own go to
 * `/tasks/<id>` instead.
 */
export function useTaskTracker(): TrackTask {
  const trpc = useTRPC();
  const qc = useQueryClient();
  const toast = useToast();
  const bus = useTaskEventBus();
  // Bookkeeping outside React state: nothing renders from it.
  const [{ waiting, ended }] = useState(() => ({
    waiting: new Map<number, TaskHandlers>(),
    /** Tasks that ended before the page learnt their id (a fast task, a slow response). */
    ended: new Map<number, TrackedTask>(),
  }));

  const settle = (t: TrackedTask, h: TaskHandlers) => {
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

  const ended$ = (t: TrackedTask) => {
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
    if (!isActiveState(t.state)) ended$(t);
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
            if (!isActiveState(r.task.state) && waiting.has(id)) latest.current(r.task);
          })
          .catch(() => undefined);
      }
    }, 5_000);
    return () => clearInterval(timer);
  }, [qc, trpc, waiting]);

  return (taskId, handlers = {}) => {
    toast.info(handlers.startedText ?? `Task #${taskId} started — see Tasks for its progress`);
    const t = ended.get(taskId);
    if (t) {
      ended.delete(taskId);
      handlers.onEnded?.(t);
      void bus.refresh(t).finally(() => settle(t, handlers));
    } else waiting.set(taskId, handlers);
  };
}
