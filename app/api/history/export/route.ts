import { historyFilterSchema } from '@/server/domain/history';
import { readyApp } from '@/server/app';
import { csvResponse } from '@/server/http/csv';
import { sessionCookie } from '@/server/domain/web-access';
import { readCookie } from '@/server/trpc/init';

export const dynamic = 'force-dynamic';

/** CSV export of the history, with the same filters as the History page. Requires a session. */
export async function GET(req: Request) {
  const app = await readyApp();
  let user = null;
  try {
    user = app.auth.sessionUser(readCookie(req.headers.get('cookie'), sessionCookie().name));
  } catch {
    user = null;
  }
  if (!user) return new Response('sign in first\n', { status: 401 });
  const q = new URL(req.url).searchParams;
  const num = (k: string) => (q.get(k) ? Number(q.get(k)) : undefined);
  const parsed = historyFilterSchema.safeParse({
    target: q.get('target') || undefined,
    action: q.get('action') || undefined,
    username: q.get('username') || undefined,
    outcome: q.get('outcome') || undefined,
    from: num('from'),
    to: num('to'),
  });
  if (!parsed.success) {
    return new Response(
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n') + '\n',
      { status: 400 },
    );
  }
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  return csvResponse(app.history.csv(parsed.data), `tandem-history-${stamp}.csv`);
}
