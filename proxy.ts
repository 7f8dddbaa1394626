import { NextResponse, type NextRequest } from 'next/server';
import { contentSecurityPolicy, HSTS, newNonce, servedOverTls } from './server/http/csp';
import { checkHost, requestHostAndProto, sessionCookie } from './server/domain/web-access';

const PUBLIC = ['/login', '/setup'];

/**
 * Refuses requests for a host name the console does not answer to (421, see `checkHost`), sends
 * visitors without a session cookie to the sign-in page (the session itself is checked
 * server-side), and gives every page its Content-Security-Policy with a fresh nonce (and HSTS
 * when served over TLS).
 */
export function proxy(req: NextRequest) {
  const refused = checkHost(requestHostAndProto(req.headers).host);
  if (refused)
    return new NextResponse(`Misdirected request: ${refused.message}\n`, {
      status: 421,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  const { pathname, search } = req.nextUrl;
  if (pathname.startsWith('/api/')) return NextResponse.next();
  if (!PUBLIC.some((p) => pathname === p) && !req.cookies.has(sessionCookie().name)) {
    const url = req.nextUrl.clone();
    url.pathname = '/login';
    url.search = pathname === '/' ? '' : `?next=${encodeURIComponent(pathname + search)}`;
    return NextResponse.redirect(url);
  }
  const nonce = newNonce();
  const csp = contentSecurityPolicy(nonce, { dev: process.env.NODE_ENV !== 'production' });
  const headers = new Headers(req.headers);
  headers.set('x-nonce', nonce);
  headers.set('content-security-policy', csp);
  const res = NextResponse.next({ request: { headers } });
  res.headers.set('content-security-policy', csp);
  if (servedOverTls(requestHostAndProto(req.headers).proto))
    res.headers.set('strict-transport-security', HSTS);
  return res;
}

export const config = {
  // Everything but the build's static files.
  matcher: ['/((?!_next/static/|_next/image|favicon.ico).*)'],
};
