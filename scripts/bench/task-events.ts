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
import { createApp, setProcessApp, type App } from '../../server/app';
import { systemClock } from '../../server/core/clock';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const TASKS = arg('tasks', 200);
const LISTENERS = arg('listeners', 10);
const PW = 'bench password long enough';
const turn = () => new Promise<void>((r) => setImmediate(r));

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
  const app = createApp({
    dbFile: path.join(dir, 'tandem.db'),
    dataDir: dir,
    clock: systemClock,
    demoLatencyMs: 0,
    log: () => undefined,
  });
  setProcessApp(app);
  const { GET } = await import('../../app/api/trpc/[trpc]/route');
  await app.auth.createUser({ username: 'admin', password: PW, role: 'admin' });

  let messages = 0;
  let bytes = 0;
  // Each stream counts the task ends it has received.
  const ends: number[] = [];
  const aborts: AbortController[] = [];
  for (let i = 0; i < listeners; i++) {
    const token = (await app.auth.login('admin', PW, `browser-${i}`)).token;
    const ac = new AbortController();
    aborts.push(ac);
    const res = await GET(
      new Request(
        `http://127.0.0.1/api/trpc/tasks.watch?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`,
        {
          headers: { host: '127.0.0.1', cookie: `tandem_session=${token}`, accept: 'text/event-stream' },
          signal: ac.signal,
        },
      ),
    );
    ends.push(0);
    const reader = res.body!.getReader();
    // As little work as a client can do here (browsers decode in their own process): count the
    // ends in the raw bytes, keeping a chunk's tail for a match across chunks.
    const pattern = Buffer.from('"state":"finished"');
    void (async () => {
      let tail = Buffer.alloc(0);
      for (;;) {
        const r = await reader.read().catch(() => ({ done: true as const, value: undefined }));
        if (r.done) return;
        const chunk = Buffer.concat([
          tail,
          Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength),
        ]);
        for (let at = chunk.indexOf(pattern); at >= 0; at = chunk.indexOf(pattern, at + pattern.length))
          ends[i]!++;
        if (i === 0) {
          bytes += r.value.byteLength;
          messages +=
            Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength)
              .toString('latin1')
              .split('\n\n').length - 1;
        }
        tail = chunk.subarray(Math.max(0, chunk.length - pattern.length + 1));
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
  const cpu0 = process.cpuUsage();
  const started = Array.from({ length: TASKS }, (_, i) =>
    app.tasks.start({
      name: `quick ${i}`,
      kind: 'bench.quick',
      target: `bench/${i}`,
      username: 'admin',
      steps: ['one', 'two'],
      // Each step waits for the event loop once, as a call to a machine would.
      run: async (ctx) => {
        await ctx.step('one', async () => (await turn(), ctx.progress(1, 2)));
        await ctx.step('two', turn);
      },
    }),
  );
  await Promise.all(started.map((t) => app.tasks.wait(t.id)));
  const doneMs = performance.now() - t0;
  // Until every stream has received every end (observed).
  while (ends.some((n) => n < TASKS)) await new Promise((r) => setImmediate(r));
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const taskReads = reads.tasks;
  const sessionReads = reads.sessions;
  for (const ac of aborts) ac.abort();
  app.tasks.events.off('change', count);
  await app.tasks.shutdown();
  app.db.$client.close();
  fs.rmSync(dir, { recursive: true, force: true });
  if (process.env.BENCH_DEBUG)
    console.log(
      `listeners ${listeners}: tasks done at ${doneMs.toFixed(0)} ms, delivered at ${ms.toFixed(0)} ms`,
    );
  return {
    ms,
    rate: (TASKS / ms) * 1000,
    cpuRate: (TASKS / cpuMs) * 1000,
    events,
    taskReads,
    sessionReads,
    messages,
    bytes,
  };
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
  const c0 = median(none.map((x) => x.cpuRate));
  const c10 = median(many.map((x) => x.cpuRate));
  const last = many[many.length - 1]!;
  // Without listeners the engine's own reads; the difference is what the streams cost.
  const perEvent = (last.taskReads - none[none.length - 1]!.taskReads) / last.events;
  console.log(
    `${TASKS} quick tasks started at once (2 steps, each waiting for the event loop once), tRPC route handler, file database, median of ${rounds} alternating rounds`,
  );
  console.log(
    `  (per CPU second: the process's own CPU time, which other load on the machine changes less than wall time)`,
  );
  console.log(
    `  0 listeners:  ${r0.toFixed(0).padStart(5)} tasks/s wall, ${c0.toFixed(0).padStart(5)} per CPU second  (wall rounds: ${none.map((x) => x.rate.toFixed(0)).join(', ')})`,
  );
  console.log(
    `  ${LISTENERS} listeners: ${r10.toFixed(0).padStart(5)} tasks/s wall, ${c10.toFixed(0).padStart(5)} per CPU second  (wall rounds: ${many.map((x) => x.rate.toFixed(0)).join(', ')})`,
  );
  console.log(
    `  ratio ${LISTENERS} / 0 listeners: ${(r10 / r0).toFixed(2)} wall, ${(c10 / c0).toFixed(2)} CPU`,
  );
  console.log(
    `  events: ${last.events} (${(last.events / TASKS).toFixed(1)} per task), each to ${LISTENERS} streams in ${last.messages} messages of ${(last.bytes / 1024).toFixed(0)} KiB in all per stream`,
  );
  console.log(
    `  database reads of the task per event with ${LISTENERS} listeners: ${perEvent.toFixed(2)}; session reads during the run: ${last.sessionReads}`,
  );
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
