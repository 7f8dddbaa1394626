/**
 * Task events with many browsers open: 200 quick tasks with 0 and with 10 live streams
 * (`tasks.watch` over server-sent events, through the tRPC route handler as the browser calls it,
 * ten sessions), and the database reads each event costs.
 *   npx tsx scripts/bench/task-events.ts [--tasks 200] [--listeners 10] [--rounds 3]
 * Prints figures; asserts nothing.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createApp, type App } from '../../server/app';
import { systemClock } from '../../server/domain/clock';
import type { TaskEvent } from '../../server/tasks/engine';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const TASKS = arg('tasks', 200);
const LISTENERS = arg('listeners', 10);
const PW = 'bench password long enough';

/** Counts the statements that read the tasks and sessions tables. */
function countReads(app: App) {
  const client = app.db.$client;
  const prepare = client.prepare.bind(client);
  const counts = { tasks: 0, sessions: 0 };
  client.prepare = ((source: string) => {
    if (/^select\b/i.test(source) && /\bfrom "tasks"/.test(source)) counts.tasks++;
    if (/^select\b/i.test(source) && /\bfrom "sessions"/.test(source)) counts.sessions++;
    return prepare(source);
  }) as typeof client.prepare;
  return counts;
}

async function run(listeners: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-bench-events-'));
  const app = createApp({ dbFile: path.join(dir, 'tandem.db'), dataDir: dir, clock: systemClock, demoLatencyMs: 0, log: () => undefined });
  (globalThis as unknown as { __tandem?: unknown }).__tandem = { app, ready: Promise.resolve() };
  const { GET } = await import('../../app/api/trpc/[trpc]/route');
  await app.auth.createUser({ username: 'admin', password: PW, role: 'admin' });

  // Each stream counts the task ends it has received.
  const ends: number[] = [];
  const aborts: AbortController[] = [];
  for (let i = 0; i < listeners; i++) {
    const token = (await app.auth.login('admin', PW, `browser-${i}`)).token;
    const ac = new AbortController();
    aborts.push(ac);
    const res = await GET(
      new Request(`http://127.0.0.1/api/trpc/tasks.watch?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`, {
        headers: { host: '127.0.0.1', cookie: `tandem_session=${token}`, accept: 'text/event-stream' },
        signal: ac.signal,
      }),
    );
    ends.push(0);
    const reader = res.body!.getReader();
    const dec = new TextDecoder();
    void (async () => {
      let buf = '';
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true, value: undefined }));
        if (r.done) return;
        buf += dec.decode(r.value, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n\n')) >= 0) {
          const msg = buf.slice(0, nl);
          buf = buf.slice(nl + 2);
          ends[i]! += msg.split('"state":"finished"').length - 1;
        }
      }
    })();
  }
  await new Promise((r) => setTimeout(r, 50)); // every stream is listening

  let events = 0;
  const count = () => events++;
  app.tasks.events.on('change', count);
  const reads = countReads(app);
  // The counter above is itself a listener: with no stream, take it off so that the engine emits to nobody.
  if (listeners === 0) app.tasks.events.off('change', count);
  const t0 = performance.now();
  const started = Array.from({ length: TASKS }, (_, i) =>
    app.tasks.start({
      name: `quick ${i}`,
      kind: 'bench.quick',
      target: `bench/${i}`,
      username: 'admin',
      steps: ['one', 'two'],
      run: async (ctx) => {
        await ctx.step('one', () => ctx.progress(1, 2));
        await ctx.step('two', () => undefined);
      },
    }),
  );
  await Promise.all(started.map((t) => app.tasks.wait(t.id)));
  // Until every stream has received every end (observed).
  while (ends.some((n) => n < TASKS)) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - t0;
  const taskReads = reads.tasks;
  const sessionReads = reads.sessions;
  for (const ac of aborts) ac.abort();
  app.tasks.events.off('change', count);
  await app.tasks.shutdown();
  app.db.$client.close();
  fs.rmSync(dir, { recursive: true, force: true });
  return { ms, rate: (TASKS / ms) * 1000, events, taskReads, sessionReads };
}

async function main() {
  await run(0); // warm-up (module loading, JIT)
  // Alternating rounds, medians: the machine may be shared.
  const rounds = arg('rounds', 3);
  const none: Awaited<ReturnType<typeof run>>[] = [];
  const many: Awaited<ReturnType<typeof run>>[] = [];
  for (let i = 0; i < rounds; i++) {
    none.push(await run(0));
    many.push(await run(LISTENERS));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const r0 = median(none.map((x) => x.rate));
  const r10 = median(many.map((x) => x.rate));
  const last = many[many.length - 1]!;
  // Without listeners the engine's own reads; the difference is what the streams cost.
  const perEvent = (last.taskReads - none[none.length - 1]!.taskReads) / last.events;
  console.log(`${TASKS} quick tasks (2 steps each), tRPC route handler, file database, median of ${rounds} alternating rounds`);
  console.log(`  0 listeners:  ${r0.toFixed(0).padStart(5)} tasks/s  (rounds: ${none.map((x) => x.rate.toFixed(0)).join(', ')})`);
  console.log(`  ${LISTENERS} listeners: ${r10.toFixed(0).padStart(5)} tasks/s  (rounds: ${many.map((x) => x.rate.toFixed(0)).join(', ')})  ratio ${(r10 / r0).toFixed(2)}`);
  console.log(`  events: ${last.events} (${(last.events / TASKS).toFixed(1)} per task), each to ${LISTENERS} streams`);
  console.log(`  database reads of the task per event with ${LISTENERS} listeners: ${perEvent.toFixed(2)}; session reads during the run: ${last.sessionReads}`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
