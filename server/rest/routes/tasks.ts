import { z } from 'zod';
import { route, type RestCall, type RouteDef } from '../define';
import { taskAnswer } from '../handle';
import { taskObjectSchema } from '../task-object';
import { bool } from './query';

/** Tasks in croit's shape: follow one (`?wait=N`), answer its question, cancel it. */
const params = z.object({ id: z.coerce.number().int('a task number').positive('a task number') });

const listQuery = z.object({
  active: bool(false).describe('Only tasks that have not ended.'),
  limit: z.coerce.number().int().min(1, '1–200').max(200, '1–200').default(50),
  before: z.coerce.number().int().positive().optional().describe('Tasks older than this id (the next page).'),
});

const answerBody = z
  .object({
    token: z.string().min(1, 'required').max(64, 'at most 64 characters').describe("The question's token."),
    response: z
      .string()
      .min(1, 'required')
      .max(256, 'at most 256 characters')
      .describe('One of the question’s responseOptions.'),
  })
  .strict();

/** Cancels a task and answers it (both of croit's and the REST forms). */
const cancel = async ({
  caller,
  params: p,
}: {
  caller: RestCall<{ id: number }, unknown, unknown>['caller'];
  params: { id: number };
}) => {
  await caller.tasks.cancel({ id: p.id });
  return { taskId: p.id };
};

export const taskRoutes: RouteDef[] = [
  route({
    method: 'GET',
    path: '/tasks/active',
    id: 'tasks.active',
    tag: 'Tasks',
    summary: 'Tasks that have not ended',
    response: z.array(taskObjectSchema),
    run: async ({ app, caller }) =>
      (await caller.tasks.list({ active: true, limit: 200 })).map((t) => taskAnswer(app, t.id)),
  }),
  route({
    method: 'GET',
    path: '/tasks',
    id: 'tasks.list',
    tag: 'Tasks',
    summary: 'Tasks, newest first',
    query: listQuery,
    response: z.array(taskObjectSchema),
    run: async ({ app, caller, query }) => (await caller.tasks.list(query)).map((t) => taskAnswer(app, t.id)),
  }),
  route({
    method: 'GET',
    path: '/tasks/{id}',
    id: 'tasks.get',
    tag: 'Tasks',
    summary: 'A task',
    description:
      'With `?wait=N`, the answer waits up to N seconds for the task to end (200 once ended, 202 while it runs).',
    params,
    task: true,
    run: async ({ caller, params: p }) => {
      await caller.tasks.get({ id: p.id });
      return { taskId: p.id };
    },
  }),
  route({
    method: 'GET',
    path: '/tasks/{id}/logs',
    id: 'tasks.logs',
    tag: 'Tasks',
    summary: "A task's log, a page at a time",
    params,
    query: z.object({
      after: z.coerce.number().int().min(0).default(0).describe('The last line id already read.'),
      limit: z.coerce.number().int().min(1, '1–1000').max(1000, '1–1000').default(500),
    }),
    response: z.array(
      z.object({
        id: z.number().int(),
        at: z.string(),
        level: z.enum(['info', 'warn', 'error']),
        message: z.string(),
      }),
    ),
    run: async ({ app, caller, params: p, query }) => {
      await caller.tasks.get({ id: p.id });
      return app.tasks
        .logs(p.id, query.after, query.limit)
        .map((l) => ({ id: l.id, at: l.at.toISOString(), level: l.level, message: l.message }));
    },
  }),
  route({
    method: 'POST',
    path: '/tasks/{id}/answer',
    id: 'tasks.answer',
    tag: 'Tasks',
    summary: "Answer a task's question",
    params,
    body: answerBody,
    task: true,
    run: async ({ caller, params: p, body }) => {
      await caller.tasks.answer({ id: p.id, questionId: body.token, value: body.response });
      return { taskId: p.id };
    },
  }),
  route({
    method: 'DELETE',
    path: '/tasks/{id}',
    id: 'tasks.cancel',
    tag: 'Tasks',
    summary: 'Cancel a task',
    description:
      'The task stops at its next safe point; a failover cancelled mid-way is rolled back or left resumable, as its steps allow.',
    params,
    task: true,
    run: cancel,
  }),
  route({
    method: 'POST',
    path: '/tasks/{id}/cancel',
    id: 'tasks.cancelPost',
    tag: 'Tasks',
    summary: 'Cancel a task (croit’s form)',
    params,
    task: true,
    run: cancel,
  }),
];
