import { NextResponse, type NextRequest } from 'next/server';

const PUBLIC = ['/login', '/setup'];

/** Sends visitors without a session cookie to the sign-in page. The session itself is checked server-side. */
export function proxy(req: NextRequest) {
  const { pathname, search } = req.nextUrl;
  if (PUBLIC.some((p) => pathname === p) || req.cookies.has('tandem_session')) return NextResponse.next();
  const url = req.nextUrl.clone();
  url.pathname = '/login';
  url.search = pathname === '/' ? '' : `?next=${encodeURIComponent(pathname + search)}`;
  return NextResponse.redirect(url);
}

export const config = {
  matcher: ['/((?!api/|_next/|favicon.ico).*)'],
};
