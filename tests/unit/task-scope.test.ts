import { describe, expect, it } from 'vitest';
import {
  patchTaskList,
  parseLock,
  splitQueryKey,
  taskTouchesQuery,
  reapplyNewer,
  rowIsNewer,
} from '@/components/task-scope';
import { cephLock } from '@/server/domain/ceph/locks';
import { replicaLock, replicaVmLock } from '@/server/domain/replicas/service';

const cephTask = (
  siteId: number,
  scope: { pool?: string; namespace?: string; image?: string } = {},
  state = 'finished',
  kind = 'ceph.image',
) => ({
  id: 7,
  kind,
  state,
  target: cephLock(siteId, scope),
  locks: [cephLock(siteId, scope)],
});
const syncTask = (replicaId: number, siteId: number, vm: string, state = 'running') => ({
  id: 9,
  kind: 'replica.sync',
  state,
  target: replicaLock(replicaId),
  locks: [replicaLock(replicaId), replicaVmLock({ id: replicaId, sourceSiteId: siteId, vmName: vm })],
});

describe('lock names', () => {
  it('are read as the resources they name', () => {
    expect(parseLock('site/3')).toEqual({ type: 'ceph', siteId: 3 });
    expect(parseLock('site/3/pool/rbd')).toEqual({ type: 'ceph', siteId: 3, pool: 'rbd' });
    expect(parseLock('site/3/pool/rbd/ns/team/image/disk-1')).toEqual({
      type: 'ceph',
      siteId: 3,
      pool: 'rbd',
      namespace: 'team',
      image: 'disk-1',
    });
    expect(parseLock('site/3/pool/rbd/image/disk-1')).toEqual({
      type: 'ceph',
      siteId: 3,
      pool: 'rbd',
      image: 'disk-1',
    });
    expect(parseLock('site/2/vm/web01/replica/5')).toEqual({
      type: 'vm',
      siteId: 2,
      vm: 'web01',
      replicaId: 5,
    });
    expect(parseLock('site/2/vm/web01')).toEqual({ type: 'vm', siteId: 2, vm: 'web01' });
    expect(parseLock('replica:12')).toEqual({ type: 'replica', replicaId: 12 });
    expect(parseLock('site:demo-node1')).toEqual({ type: 'other', name: 'site:demo-node1' });
  });
});

describe('which queries a task touches', () => {
  const status = (siteId: number) => [['ceph', 'status'], { siteId, waitMs: 2000 }] as const;

  it('a Ceph task: its own cluster only', () => {
    expect(taskTouchesQuery(cephTask(1, { pool: 'rbd' }), 'state', ...status(1))).toBe(true);
    expect(taskTouchesQuery(cephTask(2, { pool: 'rbd' }), 'state', ...status(1))).toBe(false);
    expect(taskTouchesQuery(cephTask(1), 'state', ['ceph', 'daemons'], { siteId: 1 })).toBe(true);
    expect(taskTouchesQuery(cephTask(2), 'state', ['ceph', 'daemons'], { siteId: 1 })).toBe(false);
  });

  it('a Ceph task: queries of one pool, namespace or image only when the task holds them', () => {
    const snaps = (pool: string, namespace: string, image: string) =>
      [['ceph', 'snapshots'], { siteId: 1, pool, namespace, image }] as const;
    expect(
      taskTouchesQuery(cephTask(1, { pool: 'rbd', image: 'a' }), 'state', ...snaps('rbd', '', 'a')),
    ).toBe(true);
    expect(
      taskTouchesQuery(cephTask(1, { pool: 'rbd', image: 'a' }), 'state', ...snaps('rbd', '', 'b')),
    ).toBe(false);
    expect(
      taskTouchesQuery(cephTask(1, { pool: 'rbd', image: 'a' }), 'state', ...snaps('other', '', 'a')),
    ).toBe(false);
    expect(
      taskTouchesQuery(
        cephTask(1, { pool: 'rbd', namespace: 'team', image: 'a' }),
        'state',
        ...snaps('rbd', '', 'a'),
      ),
    ).toBe(false);
    // The pool's lock holds every namespace and image; the site's lock everything on the cluster.
    expect(taskTouchesQuery(cephTask(1, { pool: 'rbd' }), 'state', ...snaps('rbd', 'team', 'a'))).toBe(true);
    expect(taskTouchesQuery(cephTask(1), 'state', ...snaps('rbd', 'team', 'a'))).toBe(true);
    // A failover plan between two clusters follows tasks on either.
    const plan = [
      ['ceph', 'failoverPlan'],
      { fromSiteId: 1, toSiteId: 2, pool: 'rbd', namespace: '' },
    ] as const;
    expect(taskTouchesQuery(cephTask(2, { pool: 'rbd' }), 'state', ...plan)).toBe(true);
    expect(taskTouchesQuery(cephTask(3, { pool: 'rbd' }), 'state', ...plan)).toBe(false);
  });

  it('the data of machines follows state and step changes, not progress ticks or log lines', () => {
    expect(taskTouchesQuery(cephTask(1, {}, 'running'), 'state', ...status(1))).toBe(true);
    expect(taskTouchesQuery(cephTask(1, {}, 'running'), 'progress', ...status(1))).toBe(false);
  });

  it('a replica task: its VM and replica, nothing of Ceph', () => {
    expect(
      taskTouchesQuery(syncTask(5, 2, 'web01'), 'state', ['replicas', 'list'], { vmName: 'web01' }),
    ).toBe(true);
    expect(taskTouchesQuery(syncTask(5, 2, 'web01'), 'state', ['replicas', 'list'], { vmName: 'db01' })).toBe(
      false,
    );
    expect(taskTouchesQuery(syncTask(5, 2, 'web01'), 'state', ['replicas', 'list'], undefined)).toBe(true);
    expect(
      taskTouchesQuery(syncTask(5, 2, 'web01'), 'state', ['replicas', 'syncRuns'], { id: 5, limit: 100 }),
    ).toBe(true);
    expect(
      taskTouchesQuery(syncTask(5, 2, 'web01'), 'state', ['replicas', 'syncRuns'], { id: 6, limit: 100 }),
    ).toBe(false);
    expect(taskTouchesQuery(syncTask(5, 2, 'web01'), 'state', ...status(2))).toBe(false);
    expect(taskTouchesQuery(cephTask(2), 'state', ['replicas', 'list'], undefined)).toBe(false);
  });

  it('a plan run: its plan, the plan lists and the reports, on state and step changes', () => {
    const run = { id: 11, kind: 'plan.run', state: 'running', target: 'plan/3', locks: ['plan/3'] };
    expect(taskTouchesQuery(run, 'state', ['plans', 'get'], { id: 3 })).toBe(true);
    expect(taskTouchesQuery(run, 'state', ['plans', 'get'], { id: 4 })).toBe(false);
    expect(taskTouchesQuery(run, 'state', ['plans', 'precheck'], { id: 3, kind: 'planned' })).toBe(true);
    expect(taskTouchesQuery(run, 'state', ['plans', 'list'], undefined)).toBe(true);
    expect(taskTouchesQuery(run, 'state', ['plans', 'report'], { id: 1 })).toBe(true);
    expect(taskTouchesQuery(run, 'progress', ['plans', 'report'], { id: 1 })).toBe(false);
    expect(taskTouchesQuery(cephTask(1), 'state', ['plans', 'list'], undefined)).toBe(false);
    expect(taskTouchesQuery(run, 'state', ...status(1))).toBe(false);
  });

  it('a task page follows every change of its own task only; task lists are patched, not refetched', () => {
    expect(taskTouchesQuery(cephTask(1), 'progress', ['tasks', 'get'], { id: 7 })).toBe(true);
    expect(taskTouchesQuery(cephTask(1), 'progress', ['tasks', 'recovery'], { id: 7 })).toBe(true);
    expect(taskTouchesQuery(cephTask(1), 'state', ['tasks', 'get'], { id: 8 })).toBe(false);
    expect(taskTouchesQuery(cephTask(1), 'state', ['tasks', 'list'], { active: true, limit: 20 })).toBe(
      false,
    );
  });

  it('the list of unfinished Ceph failovers follows the end of Ceph tasks; other queries never', () => {
    expect(
      taskTouchesQuery(
        cephTask(1, {}, 'failed', 'ceph.failover'),
        'state',
        ['ceph', 'unfinished'],
        undefined,
      ),
    ).toBe(true);
    expect(
      taskTouchesQuery(
        cephTask(1, {}, 'running', 'ceph.failover'),
        'state',
        ['ceph', 'unfinished'],
        undefined,
      ),
    ).toBe(false);
    expect(
      taskTouchesQuery(syncTask(5, 2, 'web01', 'failed'), 'state', ['ceph', 'unfinished'], undefined),
    ).toBe(false);
    expect(taskTouchesQuery(cephTask(1), 'state', ['ceph', 'previewSchedule'], { interval: '1h' })).toBe(
      false,
    );
    expect(taskTouchesQuery(cephTask(1), 'state', ['sites', 'list'], undefined)).toBe(false);
    expect(taskTouchesQuery(cephTask(1), 'state', ['overview', 'vms'], undefined)).toBe(false);
  });

  it('reads tRPC query keys', () => {
    expect(splitQueryKey([['ceph', 'status'], { input: { siteId: 1 }, type: 'query' }])).toEqual({
      path: ['ceph', 'status'],
      input: { siteId: 1 },
    });
    expect(splitQueryKey(['not-trpc'])).toBeNull();
  });
});

describe('task lists kept current from events', () => {
  const row = (id: number, state = 'running') => ({ id, state });

  it('replaces a listed task, puts a new one first within the limit, drops an ended one from the active list', () => {
    const list = [row(3), row(2)];
    expect(patchTaskList(list, row(2, 'finished'), { limit: 50 })).toEqual([row(3), row(2, 'finished')]);
    expect(patchTaskList(list, row(4, 'waiting'), { limit: 2 })).toEqual([row(4, 'waiting'), row(3)]);
    expect(patchTaskList(list, row(3, 'finished'), { active: true, limit: 20 })).toEqual([row(2)]);
    expect(patchTaskList(list, row(9, 'finished'), { active: true, limit: 20 })).toBe(list);
    // An older page does not take new tasks.
    expect(patchTaskList(list, row(4), { limit: 2, before: 4 })).toBe(list);
    expect(patchTaskList(undefined, row(4), { limit: 2 })).toBeUndefined();
  });
});

describe('a task list fetched before an event and answered after it', () => {
  const row = (state: string, progressComplete: number, attempts = 1) => ({
    id: 9,
    state,
    progressComplete,
    attempts,
    name: 'Check demo-node1',
  });
  it('gets the newer rows the stream delivered put back', () => {
    expect(rowIsNewer(row('finished', 4), row('running', 3))).toBe(true);
    expect(rowIsNewer(row('running', 3), row('running', 2))).toBe(true);
    expect(rowIsNewer(row('running', 2), row('running', 3))).toBe(false);
    expect(rowIsNewer(row('running', 3), row('finished', 4))).toBe(false);
    // A resume (a later attempt) is newer than the end of the earlier one, and the other way round.
    expect(rowIsNewer(row('running', 0, 2), row('failed', 2, 1))).toBe(true);
    expect(rowIsNewer(row('failed', 2, 1), row('running', 0, 2))).toBe(false);
    const latest = new Map([[9, row('finished', 4)]]);
    expect(reapplyNewer([row('running', 3)], latest, undefined)).toEqual([row('finished', 4)]);
    expect(reapplyNewer([row('running', 3)], latest, { active: true })).toEqual([]);
    const same = [row('finished', 4)];
    expect(reapplyNewer(same, latest, undefined)).toBe(same);
  });
});
