import { NextResponse, type NextRequest } from 'next/server';
import { contentSecurityPolicy, HSTS, newNonce, servedOverTls } from './server/http/csp';

const PUBLIC = ['/login', '/setup'];

/**
 * Sends visitors without a session cookie to the sign-in page (the session itself is checked
 * server-side), and gives every page its Content-Security-Policy with a fresh nonce (and HSTS
 * when served over TLS).
 */
export function proxy(req: NextRequest) {
  const { pathname, search } = req.nextUrl;
  if (!PUBLIC.some((p) => pathname === p) && !req.cookies.has('tandem_session')) {
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
  if (servedOverTls(req.headers.get('x-forwarded-proto'))) res.headers.set('strict-transport-security', HSTS);
  return res;
}

export const config = {
  matcher: ['/((?!api/|_next/|favicon.ico).*)'],
};
