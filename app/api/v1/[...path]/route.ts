import { readyApp } from '@/server/app';
import { checkHost, requestHostAndProto } from '@/server/domain/web-access';
import { restHandler } from '@/server/rest/handle';
import { openApiDocument } from '@/server/rest/openapi';
import { ROUTES } from '@/server/rest/routes';
import pkg from '@/package.json';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const handle = restHandler(ROUTES);
let doc: string | null = null;

/** The public REST API (server/rest): bearer tokens only, JSON in and out. */
async function handler(req: Request): Promise<Response> {
  // proxy.ts answers 421 first; this keeps the rule should the path escape its matcher.
  const badHost = checkHost(requestHostAndProto(req.headers).host);
  if (badHost)
    return Response.json(
      { error: { code: 'BAD_ORIGIN', message: badHost.message, fields: [] } },
      { status: 421 },
    );
  if (req.method === 'GET' && new URL(req.url).pathname.replace(/\/$/, '') === '/api/v1/openapi.json') {
    doc ??= JSON.stringify(openApiDocument(ROUTES, pkg.version));
    return new Response(doc, {
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache' },
    });
  }
  const app = await readyApp();
  const res = await handle(app, req);
  // As /api/trpc: a stopping process closes the connection after the answer.
  if (app.tasks.draining) res.headers.set('connection', 'close');
  return res;
}

export { handler as GET, handler as POST, handler as PUT, handler as DELETE, handler as PATCH };
