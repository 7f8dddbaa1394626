import { NextResponse, type NextRequest } from 'next/server';
import { checkHost, requestHostAndProto, sessionCookie } from './server/domain/web-access';

const PUBLIC = ['/login', '/setup'];

/**
 * Refuses requests for a host name the console does not answer to (421, see `checkHost`), and
 * sends visitors without a session cookie to the sign-in page. The session itself is checked
 * server-side.
 */
export function proxy(req: NextRequest) {
  const refused = checkHost(requestHostAndProto(req.headers).host);
  if (refused)
    return new NextResponse(`Misdirected request: ${refused.message}\n`, {
      status: 421,
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    });
  const { pathname, search } = req.nextUrl;
  if (
    pathname.startsWith('/api/') ||
    PUBLIC.some((p) => pathname === p) ||
    req.cookies.has(sessionCookie().name)
  )
    return NextResponse.next();
  const url = req.nextUrl.clone();
  url.pathname = '/login';
  url.search = pathname === '/' ? '' : `?next=${encodeURIComponent(pathname + search)}`;
  return NextResponse.redirect(url);
}

export const config = {
  // Everything but the build's static files.
  matcher: ['/((?!_next/static/|_next/image|favicon.ico).*)'],
};
