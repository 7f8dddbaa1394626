import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { readyApp } from '@/server/app';
import { createContext } from '@/server/trpc/init';
import { limitRequest, MAX_BATCH_CALLS } from '@/server/trpc/limits';
import { appRouter } from '@/server/trpc/root';

export const dynamic = 'force-dynamic';

/** This server process, sent with every answer: a browser that sees it change knows the server was restarted. */
const BOOT = Symbol.for('tandem.bootId');
const g = globalThis as unknown as { [BOOT]?: string };
const bootId = (g[BOOT] ??= crypto.randomUUID());

async function handler(incoming: Request) {
  // Bodies over 1 MiB and batches over 10 calls are refused before tRPC reads them.
  const req = await limitRequest(incoming);
  if (req instanceof Response) {
    req.headers.set('x-tandem-boot', bootId);
    return req;
  }
  const res = await fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    maxBatchSize: MAX_BATCH_CALLS,
    // Answers carry sessions' data (and tokens, once): no cache may keep them.
    responseMeta: () => ({ headers: { 'cache-control': 'no-store' } }),
    createContext: (opts) => {
      opts.resHeaders.set('x-tandem-boot', bootId);
      return createContext(opts);
    },
  });
  // A stopping process closes each connection after its answer: the browser's next request opens a
  // new one, to the next process, instead of reaching this one on a connection it kept open.
  if ((await readyApp()).tasks.draining) res.headers.set('connection', 'close');
  return res;
}

export { handler as GET, handler as POST };
