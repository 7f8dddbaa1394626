import { z } from 'zod';
import { TASK_STATES, type TaskRow } from '../db/schema';
import type { TaskQuestion } from '../tasks/engine';

/**
 * A task as the public API answers it: croit's Task object (`id, done, name, state, object, output,
 * result, progress, question, startedAt, startedBy, statusCode, interactive`), with Tandem's own
 * state and error beside it so that nothing is lost in the mapping.
 *
 * | Tandem state | `state` | `done` | `statusCode` |
 * |---|---|---|---|
 * | waiting | WAITING | false | 202 |
 * | running | RUNNING | false | 202 |
 * | question | RUNNING (`question` set, `interactive` true) | false | 202 |
 * | finished | FINISHED | true | 200 |
 * | failed | FAILED | true | 500 |
 * | interrupted (server stopped; resumable) | FAILED | true | 503 |
 * | rolled-back (undone after a failure) | FAILED | true | 409 |
 * | cancelled | CANCELED | true | 409 |
 */
export const TASK_STATE_MAP = {
  waiting: { state: 'WAITING', statusCode: 202 },
  running: { state: 'RUNNING', statusCode: 202 },
  question: { state: 'RUNNING', statusCode: 202 },
  finished: { state: 'FINISHED', statusCode: 200 },
  failed: { state: 'FAILED', statusCode: 500 },
  interrupted: { state: 'FAILED', statusCode: 503 },
  'rolled-back': { state: 'FAILED', statusCode: 409 },
  cancelled: { state: 'CANCELED', statusCode: 409 },
} as const satisfies Record<TaskRow['state'], { state: string; statusCode: number }>;

/** How many of a task's last log lines `output` carries (all of them: GET /tasks/{id}/logs). */
export const OUTPUT_LINES = 1000;

export const taskQuestionSchema = z
  .object({
    token: z.string().describe('Send it back with the answer.'),
    message: z.string(),
    timeout: z.number().int().nullable().describe('How long the question waits in all, in milliseconds.'),
    timeLeft: z.number().int().describe('Milliseconds until the default answer is taken.'),
    priority: z.enum(['Standard', 'Urgent']),
    defaultResponse: z.string(),
    responseOptions: z.array(z.string()),
    responseLabels: z.record(z.string(), z.string()).describe('What each response means, for a person.'),
  })
  .meta({ id: 'TaskQuestion' });

export const taskObjectSchema = z
  .object({
    id: z.number().int(),
    done: z.boolean(),
    name: z.string(),
    state: z.enum(['WAITING', 'RUNNING', 'FINISHED', 'FAILED', 'CANCELED']),
    object: z.string().describe('What the task works on and locks, e.g. `replica:7` or `site/3/pool/rbd`.'),
    output: z.string().describe(`The task's log, one line per entry (its last ${OUTPUT_LINES} lines).`),
    result: z.unknown().describe('What the task produced, once finished.'),
    progress: z.object({ total: z.number().int(), complete: z.number().int() }),
    question: taskQuestionSchema.nullable(),
    startedAt: z.string().describe('ISO 8601 date-time.'),
    startedBy: z.string(),
    statusCode: z.number().int(),
    interactive: z.boolean().describe('Whether the task waits for an answer now.'),
    kind: z.string().describe("Tandem's task kind, e.g. `replica.failover`."),
    tandemState: z.enum(TASK_STATES),
    error: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .meta({ id: 'Task' });
export type TaskObject = z.infer<typeof taskObjectSchema>;

export function taskObject(t: TaskRow, logLines: readonly { message: string }[], now: number): TaskObject {
  const m = TASK_STATE_MAP[t.state];
  const q = t.state === 'question' ? (t.question as TaskQuestion | null) : null;
  return {
    id: t.id,
    done: m.state !== 'WAITING' && m.state !== 'RUNNING',
    name: t.name,
    state: m.state,
    object: t.target,
    output: logLines.map((l) => l.message).join('\n'),
    result: t.result ?? null,
    progress: { total: t.progressTotal, complete: t.progressComplete },
    question: q
      ? {
          token: q.id,
          message: q.message,
          timeout: q.timeoutMs ?? null,
          timeLeft: Math.max(0, q.deadline - now),
          priority: 'Standard',
          defaultResponse: q.defaultValue,
          responseOptions: q.options.map((o) => o.value),
          responseLabels: Object.fromEntries(q.options.map((o) => [o.value, o.label])),
        }
      : null,
    startedAt: (t.startedAt ?? t.createdAt).toISOString(),
    startedBy: t.createdBy,
    statusCode: m.statusCode,
    interactive: !!q,
    kind: t.kind,
    tandemState: t.state,
    error: t.error,
    finishedAt: t.finishedAt?.toISOString() ?? null,
  };
}
