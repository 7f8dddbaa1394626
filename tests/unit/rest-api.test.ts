import { describe, expect, it } from 'vitest';
import type { App } from '@/server/app';
import type { SessionUser } from '@/server/domain/auth';
import { restHandler, routeOf } from '@/server/rest/handle';
import { ROUTES } from '@/server/rest/routes';
import { boot, type Env } from './demo-env';

/**
 * Contract tests of /api/v1 on the demo sites: the seeds' paths and field names, the Task object,
 * `?wait=`, answers to questions, cancel, the one error shape and its statuses, and tokens.
 */
const handle = restHandler(ROUTES);
const BASE = 'http://127.0.0.1/api/v1';
/** The routes the tests below called (method and path template). */
const called = new Set<string>();

interface Api {
  env: Env;
  app: App;
  users: Record<'admin' | 'op' | 'viewer', SessionUser>;
  tokens: Record<'admin' | 'op' | 'viewer', string>;
  call: (
    method: string,
    path: string,
    opts?: { token?: string | null; body?: unknown; raw?: string; headers?: Record<string, string> },
  ) => Promise<Answer>;
}

interface Answer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, checked field by field
  body: any;
  res: Response;
}

async function setup(): Promise<Api> {
  const env = boot();
  const app = env.app;
  const mk = async (username: string, role: SessionUser['role']) => {
    const u = await app.auth.createUser({ username, password: `${username}-password-123`, role });
    return { id: u.id, username, role } as SessionUser;
  };
  const users = {
    admin: await mk('ada', 'admin'),
    op: await mk('otto', 'operator'),
    viewer: await mk('vera', 'viewer'),
  };
  const tok = (u: SessionUser) => app.apiTokens.create({ name: `${u.username}-ci`, scope: 'api' }, u).token;
  const tokens = { admin: tok(users.admin), op: tok(users.op), viewer: tok(users.viewer) };
  const call: Api['call'] = async (method, path, opts = {}) => {
    const token = opts.token === undefined ? tokens.op : opts.token;
    const headers: Record<string, string> = {
      host: '127.0.0.1',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...opts.headers,
    };
    let body: string | undefined = opts.raw;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = 'application/json';
    }
    const r = routeOf(ROUTES, method, path.split('?')[0]!);
    if (r) called.add(`${r.method} ${r.path}`);
    const res = await handle(app, new Request(BASE + path, { method, headers, body }));
    const text = await res.clone().text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* CSV */
    }
    return { status: res.status, body: parsed, res };
  };
  return { env, app, users, tokens, call };
}

const REP = '/vm/web01/replica/dr';
const create = { node: 'demo-node2', disk_zpools: { vdb: 'data' }, sleep_time: 30 };

describe('/api/v1: tokens', () => {
  it('refuses a call without a valid token with 401 and the error shape; a session cookie is no credential', async () => {
    const { call, app, tokens, users } = await setup();
    const none = await call('GET', '/sites', { token: null, headers: { cookie: 'tandem_session=x' } });
    expect(none.status).toBe(401);
    expect(none.res.headers.get('www-authenticate')).toBe('Bearer realm="tandem"');
    expect(none.body).toEqual({
      error: { code: 'UNAUTHENTICATED', message: expect.stringMatching(/no bearer token/), fields: [] },
    });
    expect((await call('GET', '/sites', { token: 'tdm_' + 'x'.repeat(43) })).body.error.message).toBe(
      'unknown token',
    );
    // A metrics token is not an API token.
    const metrics = app.apiTokens.create({ name: 'prom', scope: 'metrics' }, users.admin).token;
    expect((await call('GET', '/sites', { token: metrics })).body.error.message).toMatch(
      /for metrics, not api/,
    );
    // Revoked.
    const own = app.apiTokens.list(users.viewer)[0]!;
    app.apiTokens.revoke(own.id, users.viewer);
    expect((await call('GET', '/sites', { token: tokens.viewer })).body.error.message).toBe(
      'this token was revoked',
    );
    // Expired: 90 days by default.
    expect((await call('GET', '/sites', { token: tokens.op })).status).toBe(200);
    const expiring = app.apiTokens.create({ name: 'short', scope: 'api', expiresInDays: 1 }, users.op).token;
    expect((await call('GET', '/sites', { token: expiring })).status).toBe(200);
    (app.clock as unknown as { advance(ms: number): void }).advance(86_400_000 + 1);
    const expired = await call('GET', '/sites', { token: expiring });
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toMatch(/this token expired on/);
  });

  it('answers 429 after repeated wrong tokens from one address, and 503 when a cluster cannot be reached', async () => {
    const { call, env } = await setup();
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++)
      statuses.push((await call('GET', '/sites', { token: `tdm_${'y'.repeat(43)}` })).status);
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    const limited = await call('GET', '/sites', { token: `tdm_${'y'.repeat(43)}` });
    expect(limited.status).toBe(429);
    expect(limited.body.error.code).toBe('RATE_LIMITED');
    expect(Number(limited.res.headers.get('retry-after'))).toBeGreaterThan(0);
    // A valid token is not held back by others' failures.
    expect((await call('GET', '/sites')).status).toBe(200);
    env.world.down.add('demo-site-a');
    env.clock.advance(60_000);
    const down = await call('GET', '/ceph/demo-site-a/pools/rbd-mirror/all-infos');
    expect(down.status, JSON.stringify(down.body)).toBe(503);
    expect(down.body.error.code).toBe('UNREACHABLE');
  });

  it('gives a token at most its owner role, lowers it with the owner, and refuses a disabled owner', async () => {
    const { app, users, call } = await setup();
    expect(() => app.apiTokens.create({ name: 'up', scope: 'api', role: 'admin' }, users.op)).toThrow(
      /at most operator/,
    );
    expect(() => app.apiTokens.create({ name: 'other', scope: 'api', owner: 'ada' }, users.op)).toThrow(
      /only an admin makes tokens for another user/,
    );
    const forOtto = app.apiTokens.create(
      { name: 'for-otto', scope: 'api', owner: 'otto', role: 'viewer' },
      users.admin,
    );
    expect(forOtto.info).toMatchObject({ owner: 'otto', role: 'viewer', createdBy: 'ada' });
    // A viewer token cannot change anything: 403 from the procedure's role check.
    const refused = await call('POST', REP, { token: forOtto.token, body: create });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({
      code: 'FORBIDDEN',
      message: expect.stringMatching(/needs the operator role; you are viewer/),
    });
    // The owner demoted to viewer: the admin's operator-role token for them is a viewer's.
    const opTok = app.apiTokens.create({ name: 'ops', scope: 'api' }, users.op).token;
    app.auth.updateUser({ id: users.op.id, role: 'viewer' }, users.admin);
    expect((await call('POST', REP, { token: opTok, body: create })).status).toBe(403);
    app.auth.updateUser({ id: users.op.id, disabled: true }, users.admin);
    const disabled = await call('GET', '/sites', { token: opTok });
    expect(disabled.status).toBe(401);
    expect(disabled.body.error.message).toMatch(/"otto" is disabled/);
  });

  it('writes every call to history with the token name: a read, a refused change and a task start', async () => {
    const { app, call } = await setup();
    await call('GET', '/sites');
    await call('POST', REP, { body: { ...create, sleep_time: -1 } });
    const started = await call('POST', REP, { body: create });
    expect(started.status).toBe(202);
    const rows = app.history.list({}, { limit: 10, offset: 0 }).rows.reverse();
    expect(rows.map((r) => [r.action, r.outcome, r.username, r.via])).toEqual([
      ['api GET /sites', 'success', 'otto', 'api token "otto-ci"'],
      ['api POST /vm/{vm}/replica/{repname}', 'failure', 'otto', 'api token "otto-ci"'],
      ['replicas.create', 'success', 'otto', 'api token "otto-ci"'],
    ]);
    expect(rows[2]!.taskId).toBe(started.body.id);
    const csv = await call('GET', '/history/export?action=replicas.create');
    expect(csv.res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(String(csv.body).trim().split('\n')).toHaveLength(2);
    expect(String(csv.body)).toContain('api token ""otto-ci""');
  });
});

describe('/api/v1: VM replicas in Danube Cloud shape', () => {
  it('create → wait → list → update bwlimit → failover → reinit → delete, with Danube field names', async () => {
    const { call, app } = await setup();
    const created = await call('POST', REP, { body: create });
    expect(created.status).toBe(202);
    expect(created.res.headers.get('location')).toBe(`/api/v1/tasks/${created.body.id}`);
    expect(Object.keys(created.body).sort()).toEqual(
      [
        'id',
        'done',
        'name',
        'state',
        'object',
        'output',
        'result',
        'progress',
        'question',
        'startedAt',
        'startedBy',
        'statusCode',
        'interactive',
        'kind',
        'tandemState',
        'error',
        'finishedAt',
      ].sort(),
    );
    expect(created.body).toMatchObject({
      done: false,
      startedBy: 'otto',
      question: null,
      interactive: false,
      progress: { total: expect.any(Number), complete: expect.any(Number) },
    });
    expect(['WAITING', 'RUNNING']).toContain(created.body.state);
    const done = await call('GET', `/tasks/${created.body.id}?wait=60`);
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({
      done: true,
      state: 'FINISHED',
      statusCode: 200,
      tandemState: 'finished',
    });
    expect(done.body.output).toMatch(/\S/);

    expect((await call('GET', '/vm/web01/replica')).body).toEqual(['dr']);
    const full = await call('GET', '/vm/web01/replica?full=true');
    expect(full.body).toHaveLength(1);
    expect(full.body[0]).toMatchObject({
      hostname: 'web01',
      repname: 'dr',
      node: 'demo-node2',
      root_zpool: 'zones',
      disk_zpools: { vdb: 'data' },
      reserve_resources: true,
      sleep_time: 30,
      enabled: true,
      bwlimit: null,
      reinit_required: false,
      node_status: 'online',
      master_node: 'demo-node1',
    });
    expect(Date.parse(full.body[0].last_sync)).toBeGreaterThan(0);
    // By UUID, the same replica.
    const uuid = (await app.replicas.node(app.sites.byName('demo-node1')!.id).getVm('web01'))!.uuid;
    const byUuid = await call('GET', `/vm/${uuid}/replica/dr`);
    expect(byUuid.body, JSON.stringify(byUuid.body)).toMatchObject({ repname: 'dr' });

    const upd = await call('PUT', REP, { body: { bwlimit: 10_485_760 } });
    expect(upd.status).toBe(200);
    expect(upd.body).toMatchObject({ bwlimit: 10_485_760, sleep_time: 30 });

    const fo = await call('PUT', `${REP}/failover?wait=60`, { body: { force: false, reason: 'API test' } });
    expect(fo.body).toMatchObject({ state: 'FINISHED', kind: 'replica.failover' });
    const after = (await call('GET', REP)).body;
    expect(after).toMatchObject({
      hostname: 'web01',
      master_node: 'demo-node2',
      node: 'demo-node1',
      reinit_required: true,
    });
    const re = await call('PUT', `${REP}/reinit?wait=60`);
    expect(re.body).toMatchObject({ state: 'FINISHED' });
    expect((await call('GET', REP)).body).toMatchObject({ reinit_required: false, state: 'idle' });
    const del = await call('DELETE', `${REP}?wait=60`);
    expect(del.body).toMatchObject({ state: 'FINISHED' });
    const gone = await call('GET', '/vm/web01/replica');
    expect(gone.body, JSON.stringify(gone.body)).toEqual([]);
  });

  it('answers bad input with 400/422 and the fields in Danube names, and unknown things with 404', async () => {
    const { call } = await setup();
    const bad = await call('POST', REP, { body: { ...create, sleep_time: -1, bwlimit: 'fast' } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe('INVALID_INPUT');
    expect(bad.body.error.fields.map((f: { field: string }) => f.field).sort()).toEqual([
      'bwlimit',
      'sleep_time',
    ]);
    const unknownKey = await call('POST', REP, { body: { ...create, sleeptime: 5 } });
    expect(unknownKey.status).toBe(422);
    expect(unknownKey.body.error.message).toMatch(/sleeptime/);
    expect((await call('POST', REP, { body: { ...create, node: 'nowhere' } })).body.error.fields).toEqual([
      { field: 'node', message: 'no node named "nowhere"' },
    ]);
    // A domain rule's field, renamed: the RPO check of the sleep time.
    const slow = await call('POST', REP, { body: { ...create, sleep_time: 3600 } });
    expect(slow.status).toBe(422);
    expect(slow.body.error.fields[0].field).toBe('sleep_time');
    expect(
      (await call('POST', REP, { raw: '{"node":', headers: { 'content-type': 'application/json' } })).status,
    ).toBe(400);
    expect(
      (
        await call('POST', REP, {
          raw: 'node=x',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        })
      ).body.error.message,
    ).toMatch(/send the body as JSON/);
    const noVm = await call('GET', '/vm/nosuchvm/replica');
    expect(noVm.status).toBe(404);
    expect(noVm.body.error.message).toMatch(/no VM named "nosuchvm" on any node/);
    expect((await call('GET', '/vm/web01/replica/none')).status).toBe(404);
    expect((await call('GET', '/no/such/path')).status).toBe(404);
    const wrongMethod = await call('PATCH', REP);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.res.headers.get('allow')).toMatch(/GET/);
    expect((await call('GET', '/tasks/abc')).body.error.fields[0].field).toBe('path.id');
    expect((await call('GET', '/tasks/1?wait=9999')).status).toBe(422);
    // A second replica of one name: 409.
    expect((await call('POST', `${REP}?wait=60`, { body: create })).status).toBe(200);
    const again = await call('POST', REP, { body: { ...create, node: 'demo-node3', disk_zpools: {} } });
    expect([409, 422]).toContain(again.status);
  });

  it('refuses a failover that would lose data unless forced, naming the window', async () => {
    const { call, env } = await setup();
    expect((await call('POST', `${REP}?wait=60`, { body: create })).status).toBe(200);
    env.world.down.add('demo-node1');
    const refused = await call('PUT', `${REP}/failover`, { body: {} });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/send "force": true/);
    expect(refused.body.error.fields).toEqual([{ field: 'force', message: expect.any(String) }]);
    const forced = await call('PUT', `${REP}/failover?wait=60`, { body: { force: true } });
    expect(forced.body).toMatchObject({ state: 'FINISHED' });
  });
});

describe('/api/v1: tasks', () => {
  it('shows a question in croit shape, takes its answer, and cancels a task', async () => {
    const { app, call } = await setup();
    const t = app.tasks.start({
      name: 'Ask',
      kind: 'test.ask',
      target: 'test:ask',
      username: 'otto',
      run: (ctx) =>
        ctx.ask({
          message: 'Proceed?',
          options: [
            { value: 'yes', label: 'Yes, go on' },
            { value: 'no', label: 'No' },
          ],
          defaultValue: 'no',
          timeoutMs: 600_000,
        }),
    });
    let q = (await call('GET', `/tasks/${t.id}`)).body;
    for (let i = 0; i < 200 && !q.question; i++) {
      await new Promise((r) => setTimeout(r, 5));
      q = (await call('GET', `/tasks/${t.id}`)).body;
    }
    expect(q).toMatchObject({
      state: 'RUNNING',
      tandemState: 'question',
      interactive: true,
      done: false,
      statusCode: 202,
    });
    expect(q.question).toMatchObject({
      message: 'Proceed?',
      priority: 'Standard',
      defaultResponse: 'no',
      responseOptions: ['yes', 'no'],
      responseLabels: { yes: 'Yes, go on', no: 'No' },
      timeout: 600_000,
    });
    expect(q.question.timeLeft).toBeGreaterThan(0);
    expect(
      (await call('POST', `/tasks/${t.id}/answer`, { body: { token: 'wrong', response: 'yes' } })).status,
    ).toBeGreaterThanOrEqual(400);
    const viewerAnswer = await call('POST', `/tasks/${t.id}/answer`, {
      token: (await setupViewer(app)).token,
      body: { token: q.question.token, response: 'yes' },
    });
    expect(viewerAnswer.status).toBe(403);
    const answered = await call('POST', `/tasks/${t.id}/answer?wait=30`, {
      body: { token: q.question.token, response: 'yes' },
    });
    expect(answered.body).toMatchObject({ state: 'FINISHED', result: 'yes', question: null });

    const slow = app.tasks.start({
      name: 'Slow',
      kind: 'test.slow',
      target: 'test:slow',
      username: 'otto',
      run: (ctx) =>
        new Promise((_, reject) =>
          ctx.signal.addEventListener('abort', () => reject(new Error('cancelled'))),
        ),
    });
    expect((await call('GET', '/tasks/active')).body.map((x: { id: number }) => x.id)).toContain(slow.id);
    const cancelled = await call('DELETE', `/tasks/${slow.id}?wait=30`);
    expect(cancelled.body).toMatchObject({ done: true, state: 'CANCELED', statusCode: 409 });
    expect(
      (await call('GET', `/tasks/${slow.id}/logs`)).body.some((l: { message: string }) =>
        /cancel requested by otto/.test(l.message),
      ),
    ).toBe(true);
    expect((await call('GET', '/tasks/99999')).status).toBe(404);
  });
});

async function setupViewer(app: App) {
  const u = await app.auth.createUser({
    username: `v${Math.random().toString(36).slice(2, 8)}`,
    password: 'viewer-password-123',
    role: 'viewer',
  });
  return app.apiTokens.create(
    { name: 'v', scope: 'api' },
    { id: u.id, username: u.username, role: 'viewer' },
  );
}

describe('/api/v1: RBD mirroring in croit shape', () => {
  const A = '/ceph/demo-site-a';
  const B = '/ceph/demo-site-b';
  it('pool info, unpair and pair again by token, image mode and primary, journaling, schedules added and deleted by the same body, snapshots, resync', async () => {
    const { call, app } = await setup();
    const all = await call('GET', `${A}/pools/rbd-mirror/all-infos`);
    expect(all.status).toBe(200);
    const rbd = all.body.find(
      (p: { pool: string; namespace: string | null }) => p.pool === 'rbd' && p.namespace === null,
    );
    expect(rbd).toMatchObject({
      poolMirrorMode: expect.stringMatching(/image|pool/),
      siteName: 'demo-site-a',
      statusHealth: expect.any(String),
    });
    expect(rbd.peers).toEqual([
      { id: expect.any(String), siteName: 'demo-site-b', clientName: expect.any(String), direction: 'rx_tx' },
    ]);
    expect((await call('GET', `${A}/pools/rbd/rbd-mirror`)).body).toEqual(rbd);
    expect(Object.keys(rbd.statusStates ?? {}).length).toBeGreaterThan(0);

    // A peer's direction, then unpair both sides and pair again with a bootstrap token.
    expect(
      (
        await call('PATCH', `${A}/pools/rbd/rbd-mirror/peers/${rbd.peers[0].id}?wait=30`, {
          body: { direction: 'rx_only' },
        })
      ).body,
    ).toMatchObject({ state: 'FINISHED' });
    expect((await call('GET', `${A}/pools/rbd/rbd-mirror`)).body.peers[0].direction).toBe('rx_only');
    for (const side of [A, B]) {
      const info = (await call('GET', `${side}/pools/rbd/rbd-mirror`)).body;
      for (const peer of info.peers)
        expect(
          (await call('DELETE', `${side}/pools/rbd/rbd-mirror/peers/${peer.id}?wait=30`)).body,
        ).toMatchObject({ state: 'FINISHED' });
      expect((await call('GET', `${side}/pools/rbd/rbd-mirror`)).body.peers).toEqual([]);
    }
    const token = await call('GET', `${A}/pools/rbd/rbd-mirror/token`);
    expect(token.status).toBe(200);
    expect(typeof token.body).toBe('string');
    expect(
      (
        await call('POST', `${B}/pools/rbd/rbd-mirror/peers`, {
          body: { peerToken: token.body, direction: 'tx_only' },
        })
      ).body.error.fields[0].field,
    ).toBe('direction');
    const imported = await call('POST', `${B}/pools/rbd/rbd-mirror/peers?wait=30`, {
      body: { peerToken: token.body, direction: 'rx_tx', localSiteName: 'demo-site-b' },
    });
    expect(imported.body, JSON.stringify(imported.body)).toMatchObject({ state: 'FINISHED' });
    expect(
      (await call('GET', `${B}/pools/rbd/rbd-mirror`)).body.peers.map(
        (x: { siteName: string }) => x.siteName,
      ),
    ).toEqual(['demo-site-a']);
    // The token is nowhere in history.
    expect(JSON.stringify(app.history.list({}, { limit: 500, offset: 0 }).rows)).not.toContain(
      token.body.slice(10, 40),
    );

    // Schedules: add, list, delete with the same body.
    const slow = await call('POST', `${A}/pools/rbd-mirror/schedules`, {
      body: { pool: 'rbd', interval: '30m' },
    });
    expect(slow.status).toBe(422);
    expect(slow.body.error.fields[0]).toMatchObject({
      field: 'interval',
      message: expect.stringMatching(/cannot meet the RPO/),
    });
    const sched = { pool: 'rbd', interval: '30m', startTime: '14:00:00', acceptRpoRisk: true };
    expect(
      (await call('POST', `${A}/pools/rbd-mirror/schedules?wait=30`, { body: sched })).body,
    ).toMatchObject({ state: 'FINISHED' });
    expect((await call('GET', `${A}/pools/rbd-mirror/schedules`)).body).toContainEqual(
      expect.objectContaining({ pool: 'rbd', rbd: null, interval: '30m' }),
    );
    expect(
      (await call('DELETE', `${A}/pools/rbd-mirror/schedules?wait=30`, { body: sched })).body,
    ).toMatchObject({ state: 'FINISHED' });
    expect(
      (await call('GET', `${A}/pools/rbd-mirror/schedules`)).body.filter(
        (x: { interval: string; rbd: string | null }) => x.interval === '30m' && !x.rbd,
      ),
    ).toEqual([]);
    expect(
      (await call('POST', `${A}/pools/rbd-mirror/schedules`, { body: { pool: 'rbd', interval: 'soon' } }))
        .status,
    ).toBeGreaterThanOrEqual(400);

    // An image: its mirroring, a snapshot, mode off and on, journaling refused in snapshot mode.
    const img = `${A}/pools/rbd/rbds/vm-web01-root`;
    const info = (await call('GET', img)).body;
    expect(info).toMatchObject({
      name: 'vm-web01-root',
      pool: 'rbd',
      namespace: null,
      mirrorInfo: { mirrorState: 'primary', primary: true, imageMirrorMode: 'snapshot' },
    });
    const before = (await call('GET', `${img}/rbd-mirror/snapshots`)).body.length;
    expect((await call('POST', `${img}/rbd-mirror/snapshots?wait=30`)).body).toMatchObject({
      state: 'FINISHED',
    });
    expect((await call('GET', `${img}/rbd-mirror/snapshots`)).body.length).toBeGreaterThan(before);
    expect(
      (await call('PATCH', `${img}/rbd-mirror`, { body: { primary: false, journaling: true } })).body.error
        .message,
    ).toMatch(/one thing per request/);
    expect(
      (await call('POST', `${B}/pools/rbd/rbds/vm-app01-root/rbd-mirror/resync?wait=30`)).body,
    ).toMatchObject({ done: true });
    // Demote on A, promote on B: a planned switch of one image; then back.
    expect(
      (await call('PATCH', `${img}/rbd-mirror?wait=30`, { body: { primary: false } })).body,
    ).toMatchObject({ state: 'FINISHED' });
    // The promote is refused until the demotion has been copied to B (an observed state): retried as a script would.
    let promoted = await call('PATCH', `${B}/pools/rbd/rbds/vm-web01-root/rbd-mirror?wait=60`, {
      body: { primary: true },
    });
    for (
      let i = 0;
      i < 50 &&
      promoted.body.state === 'FAILED' &&
      /not been copied here completely/.test(promoted.body.error);
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
      promoted = await call('PATCH', `${B}/pools/rbd/rbds/vm-web01-root/rbd-mirror?wait=60`, {
        body: { primary: true },
      });
    }
    expect(promoted.body, `${promoted.body.error}\n${promoted.body.output}`).toMatchObject({
      state: 'FINISHED',
    });
    expect((await call('GET', `${B}/pools/rbd/rbds/vm-web01-root`)).body.mirrorInfo).toMatchObject({
      mirrorState: 'primary',
      primary: true,
    });
    // Pool-level: journaling for the images not in snapshot mode, and the mode.
    expect(
      (
        await call('POST', `${A}/pools/rbd/rbd-mirror/journaling?wait=30`, {
          body: { enableJournaling: false },
        })
      ).body,
    ).toMatchObject({ done: true });
    expect(
      (await call('PATCH', `${A}/pools/rbd/rbd-mirror?wait=30`, { body: { poolMirrorMode: 'image' } })).body,
    ).toMatchObject({ done: true });
    expect(
      (await call('PATCH', `${A}/pools/rbd/rbd-mirror/token`, { body: { siteName: 'bad name!' } })).body.error
        .fields[0].field,
    ).toBe('siteName');
    expect(
      (await call('PATCH', `${A}/pools/rbd/rbd-mirror/token`, { body: { siteName: 'demo-site-a' } })).body
        .error.message,
    ).toMatch(/already this cluster's site name/);
    const renamed = await call('PATCH', `${A}/pools/rbd/rbd-mirror/token?wait=30`, {
      body: { siteName: 'demo-a2' },
    });
    expect(renamed.body, JSON.stringify(renamed.body)).toMatchObject({ state: 'FINISHED' });
    expect((await call('GET', `${A}/pools/rbd/rbd-mirror`)).body.siteName).toBe('demo-a2');
    expect(
      (await call('PATCH', `${img}/rbd-mirror?wait=30`, { body: { imageMirrorMode: 'disabled' } })).body,
    ).toMatchObject({ done: true });
    const daemons = await call('GET', `${A}/rbd-mirror/daemons`);
    expect(daemons.status).toBe(200);
    expect(daemons.body.length).toBeGreaterThan(0);
    expect((await call('GET', '/ceph/nowhere/pools/rbd-mirror/all-infos')).status).toBe(404);
  });
});

describe('/api/v1: sites, history, protection, task lists', () => {
  it('lists sites without secrets, history with the same filters as the page, the protection overview and tasks', async () => {
    const { call } = await setup();
    const sites = (await call('GET', '/sites')).body;
    expect(sites.map((s: { name: string }) => s.name)).toEqual(
      expect.arrayContaining(['demo-node1', 'demo-node2']),
    );
    expect(JSON.stringify(sites)).not.toMatch(/PRIVATE KEY|AQ[A-Za-z0-9+/]{30,}==/);
    const created = await call('POST', `${REP}?wait=60`, { body: create });
    const h = await call(
      'GET',
      `/history?action=replicas.create&from=${encodeURIComponent('2026-01-01T00:00:00Z')}`,
    );
    expect(h.body).toMatchObject({ total: 1, page: 1, pageSize: 50 });
    expect(h.body.rows[0]).toMatchObject({
      action: 'replicas.create',
      username: 'otto',
      via: 'api token "otto-ci"',
      taskId: created.body.id,
    });
    const backwards = await call('GET', '/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z');
    expect(backwards.status).toBe(422);
    expect(backwards.body.error.fields[0]).toMatchObject({
      field: 'from',
      message: '"from" must be before "to"',
    });
    expect((await call('GET', '/history?from=yesterday')).body.error.fields[0].field).toBe('query.from');
    const prot = await call('GET', '/protection?kind=vm-replica');
    expect(prot.status).toBe(200);
    expect(JSON.stringify(prot.body)).toContain('web01');
    const tasks = (await call('GET', '/tasks?limit=5')).body;
    expect(tasks[0]).toMatchObject({ id: created.body.id, state: 'FINISHED' });
    expect((await call('POST', `/tasks/${created.body.id}/cancel`)).status).toBe(409);
  });
});

describe('/api/v1/openapi.json', () => {
  it('is a valid OpenAPI 3.1 document with every route, and every route is exercised by these tests', async () => {
    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const { openApiDocument } = await import('@/server/rest/openapi');
    const doc = openApiDocument(ROUTES, '1.0.0') as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string }>>;
    };
    const v = new Validator();
    const res = await v.validate(doc as never);
    expect(res.errors ?? [], JSON.stringify(res.errors)).toEqual([]);
    expect(res.valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.entries(doc.paths).flatMap(([p, m]) =>
      Object.keys(m).map((k) => `${k.toUpperCase()} ${p}`),
    );
    expect(ops.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    // Every route in the document was called by a test above.
    for (const op of ops) expect(called, `${op} is called by a test`).toContain(op);
  });
});
