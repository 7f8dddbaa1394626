import { readyApp } from '@/server/app';
import { bearerToken } from '@/server/domain/api-tokens';
import { errorMessage } from '@/server/core/errors';
import { scrapeMetrics } from '@/server/domain/metrics';
import { checkHost, requestHostAndProto } from '@/server/domain/web-access';

export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

const text = (body: string, status: number, headers: Record<string, string> = {}) =>
  new Response(`${body}\n`, {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers },
  });

/**
 * Prometheus metrics (exposition format), for a bearer token of scope `metrics` (Settings → API
 * tokens). No session: the token is the credential. Built from stored state; no site is asked.
 */
export async function GET(req: Request) {
  // proxy.ts answers 421 first; this keeps the rule should the path escape its matcher.
  const badHost = checkHost(requestHostAndProto(req.headers).host);
  if (badHost) return text(`Misdirected request: ${badHost.message}`, 421);
  const app = await readyApp();
  const given = bearerToken(req.headers.get('authorization'));
  const check = app.apiTokens.verify(given, 'metrics');
  if (!check.ok) {
    const challenge = given
      ? `Bearer realm="tandem", error="invalid_token", error_description="${check.reason}"`
      : 'Bearer realm="tandem"';
    return text(check.reason, 401, { 'www-authenticate': challenge });
  }
  try {
    const m = await scrapeMetrics({
      db: app.db,
      clock: app.clock,
      sites: app.sites,
      ceph: app.ceph,
      objects: () => app.protection.objects(),
    });
    return new Response(m.text, { headers: { 'content-type': m.contentType, 'cache-control': 'no-store' } });
  } catch (e) {
    console.error('[tandem] /api/metrics:', e);
    return text(`the metrics could not be gathered: ${errorMessage(e)}`, 500);
  }
}
