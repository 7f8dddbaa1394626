import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { createContext } from '@/server/trpc/init';
import { appRouter } from '@/server/trpc/root';

export const dynamic = 'force-dynamic';

/** This server process, sent with every answer: a browser that sees it change knows the server was restarted. */
const BOOT = Symbol.for('tandem.bootId');
const g = globalThis as unknown as { [BOOT]?: string };
const bootId = (g[BOOT] ??= crypto.randomUUID());

function handler(req: Request) {
  return fetchRequestHandler({
    endpoint: '/api/trpc',
    req,
    router: appRouter,
    createContext: (opts) => {
      opts.resHeaders.set('x-tandem-boot', bootId);
      return createContext(opts);
    },
  });
}

export { handler as GET, handler as POST };
