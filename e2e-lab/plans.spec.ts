import { expect, test } from '@playwright/test';
import { apiSession, cephLab, dropImages, nodeLab, rbd, register, signIn, waitForTask } from './helpers';

/*
 * A recovery plan on the real labs, in the browser: made in the editor (a mirrored image on
 * site-a in group 1, a replicated VM of node1 in group 2), a test failover from its wizard (the
 * image copied on site-b, the VM's disks cloned on node2 and a test VM started there without its
 * network, production untouched), the run report with its measured figures, and the cleanup from
 * the report, after which nothing of the test is left on node2 or site-b.
 */
const ID = process.pid % 10000;
const VM = `e2pl${ID}`;
const IMG = `e2pl-img${ID}`;
const PLAN = `lab plan ${ID}`;

test.describe.configure({ mode: 'serial' });

test.beforeAll(async ({ baseURL }) => {
  test.setTimeout(300_000);
  cephLab('unpair');
  nodeLab('mkvm', 'node1', VM, '2', '32');
  await register(baseURL!, { nodes: true, ceph: true });
  cephLab('pair');
  rbd('site-a', 'create', '--size', '32M', '--image-feature', 'layering,exclusive-lock', `rbd/${IMG}`);
  rbd('site-a', 'mirror', 'image', 'enable', `rbd/${IMG}`, 'snapshot');
  rbd(
    'site-a',
    'bench',
    '--io-type',
    'write',
    '--io-size',
    '1M',
    '--io-total',
    '4M',
    '--io-pattern',
    'rand',
    `rbd/${IMG}`,
  );
  rbd('site-a', 'mirror', 'image', 'snapshot', `rbd/${IMG}`);
  // The replica (made and tested through its own form in replicas.spec), synced once.
  const call = await apiSession(baseURL!);
  const sites = await call<{ id: number; name: string }[]>('sites.list', undefined, 'query');
  const id = (n: string) => sites.find((s) => s.name === n)!.id;
  const c = await call<{ id: number; taskId: number }>('replicas.create', {
    name: 'dr',
    vmName: VM,
    sourceSiteId: id('node1'),
    targetSiteId: id('node2'),
    rootZpool: 'zones',
    sleepTimeSec: 3600,
    acceptRpoRisk: true,
  });
  await expect
    .poll(
      async () =>
        (await call<{ task: { state: string } }>('tasks.get', { id: c.taskId }, 'query')).task.state,
      { timeout: 180_000 },
    )
    .toBe('finished');
  // The image's first copy complete on site-b.
  const status = () => {
    try {
      return rbd('site-b', 'mirror', 'image', 'status', `rbd/${IMG}`);
    } catch (e) {
      return String(e); // not there yet
    }
  };
  await expect
    .poll(status, { timeout: 180_000, intervals: [1000] })
    .toMatch(/state:\s+up\+replaying[\s\S]*"replay_state":"idle"/);
});

test.afterAll(() => {
  for (const node of ['node1', 'node2']) {
    const script = `for v in $(virsh list --all --name | grep ${VM}); do virsh destroy $v >/dev/null 2>&1; virsh undefine $v >/dev/null 2>&1; done; for s in $(zfs list -H -t snapshot -o name -r zones | grep ${VM}); do for t in tandem-dr $(seq -f 'tandem-test-%g' 1 100); do zfs release $t $s >/dev/null 2>&1; done; done; for d in $(zfs list -H -o name -r zones | grep ${VM} | sort -r); do zfs destroy -R $d || { sleep 1; zfs destroy -R $d; }; done; true`;
    try {
      nodeLab('ssh', node, script);
    } catch {
      /* best effort */
    }
  }
  for (const site of ['site-a', 'site-b'] as const) {
    const copies = rbd(site, 'ls', 'rbd')
      .split('\n')
      .filter((n) => n.startsWith('tandem-test-') && n.endsWith(IMG));
    dropImages(site, [...copies, IMG]);
  }
  cephLab('unpair');
});

test('make a plan, test it without touching production, read the report, clean up: nothing is left', async ({
  page,
}) => {
  test.setTimeout(600_000);
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Recovery plans' }).click();
  await page.getByRole('link', { name: 'New plan' }).click();
  await page.getByLabel('Name', { exact: true }).fill(PLAN);
  await page.getByLabel('Production cluster').selectOption({ label: 'site-a' });
  await page.getByLabel('Recovery cluster').selectOption({ label: 'site-b' });
  await page.getByLabel('Pool or namespace').selectOption('rbd');
  await page.getByLabel('Image (optional)').fill(IMG);
  await page.getByLabel('RBD group').selectOption('1');
  await page.getByRole('button', { name: 'Add RBD object' }).click();
  await page.getByLabel('VM replica').selectOption({ label: `${VM} (node1 → node2)` });
  await page.getByLabel('VM group').selectOption('2');
  await page.getByRole('button', { name: 'Add VM' }).click();
  await page.getByRole('button', { name: 'Create plan' }).click();
  await expect(page.getByRole('heading', { name: `Plan ${PLAN}` })).toBeVisible();
  const planUrl = page.url();

  // The test failover's wizard: every object's recovery point and its age, no network.
  await page.getByRole('button', { name: 'Test failover…' }).click();
  const wizard = page.getByRole('dialog', { name: `Test failover: ${PLAN}` });
  await expect(wizard.getByTestId('run-object')).toHaveCount(2);
  await expect(wizard.getByText('pre-checks pass')).toBeVisible({ timeout: 60_000 });
  await expect(wizard.getByTestId('run-max-loss')).toContainText('Oldest recovery point');
  await expect(wizard.locator(`[data-testid=run-object][data-label="VM ${VM}"]`)).toContainText(
    'clone 2 disk(s) on node2',
  );
  await expect(wizard.getByLabel(/None: their network interfaces are removed/)).toBeChecked();
  await wizard.getByLabel('Reason (goes into the run report)').fill('quarterly DR test');
  await wizard.getByLabel(`Type ${PLAN} to confirm`).fill(PLAN);
  await wizard.getByRole('button', { name: 'Start test failover' }).click();
  await waitForTask(page);
  await expect(page.getByTestId('task-step')).toHaveCount(3);

  // On the recovery side: the test VM (no interface) and the image copy; production untouched.
  const vms2 = nodeLab('ssh', 'node2', 'virsh', 'list', '--all', '--name');
  const testVm = vms2
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(`${VM}-test-`))!;
  expect(testVm).toBeTruthy();
  expect(nodeLab('ssh', 'node2', 'virsh', 'domstate', testVm).trim()).toMatch(/paused|running/);
  expect(nodeLab('ssh', 'node2', 'virsh', 'domiflist', testVm)).not.toMatch(/network|bridge|user/);
  expect(nodeLab('ssh', 'node1', 'virsh', 'domstate', VM).trim()).toMatch(/paused|running/);
  expect(rbd('site-b', 'ls', 'rbd')).toMatch(new RegExp(`^tandem-test-\\d+-${IMG}$`, 'm'));

  // The report: its measured figures, as the API has them.
  await page.goto(planUrl);
  await page.getByTestId('open-test').getByRole('link').click();
  const report = page.getByTestId('run-report');
  await expect(
    report.getByRole('heading', { name: new RegExp(`Run report #\\d+: Test failover of ${PLAN}`) }),
  ).toContainText('finished');
  const runId = Number(/\/reports\/(\d+)/.exec(page.url())![1]);
  const api = await (
    await page.request.get(
      `/api/trpc/plans.report?input=${encodeURIComponent(JSON.stringify({ json: { id: runId } }))}`,
    )
  ).json();
  const r = api.result.data.json as {
    recoveryTimeMs: number;
    dataLossSec: number;
    items: { readyAt: number | null; recoveryPointAt: number | null }[];
    startedAt: number;
  };
  expect(r.recoveryTimeMs).toBeGreaterThan(0);
  expect(r.recoveryTimeMs).toBe(r.items[1]!.readyAt! - r.startedAt);
  expect(r.items.every((i) => i.recoveryPointAt !== null)).toBe(true);
  // Shown as the console formats durations (under a minute: `850 ms`, `4 s`).
  expect(r.recoveryTimeMs).toBeLessThan(60_000);
  await expect(report.getByTestId('report-recovery-time')).toHaveText(
    r.recoveryTimeMs < 1000 ? `${r.recoveryTimeMs} ms` : `${Math.round(r.recoveryTimeMs / 1000)} s`,
  );
  await expect(report.getByTestId('report-data-loss')).not.toHaveText('unknown');
  await expect(report.getByTestId('report-reason')).toHaveText('quarterly DR test');
  await expect(report.getByTestId('test-created')).toContainText(`test VM ${testVm}`);
  await expect(report.getByTestId('test-created')).toContainText(
    `image copy rbd/tandem-test-${runId}-${IMG}`,
  );
  await expect(report.getByTestId('test-cleanup-state')).toContainText('not yet');

  // The cleanup, from the report: what it destroys is listed before.
  await report.getByRole('button', { name: 'Clean up test…' }).click();
  const confirm = page.getByRole('dialog', { name: `Clean up test run #${runId}?` });
  await expect(confirm).toContainText(`zones/tandem-test-${runId}-${VM}-disk0`);
  await confirm.getByRole('button', { name: "Destroy the test's resources" }).click();
  await waitForTask(page);
  expect(nodeLab('ssh', 'node2', 'zfs', 'list', '-H', '-o', 'name', '-r', 'zones')).not.toContain(
    `tandem-test-${runId}`,
  );
  expect(nodeLab('ssh', 'node2', 'virsh', 'list', '--all', '--name')).not.toContain(testVm);
  expect(rbd('site-b', 'ls', 'rbd')).not.toContain(`tandem-test-${runId}-`);
  expect(nodeLab('ssh', 'node1', 'virsh', 'domstate', VM).trim()).toMatch(/paused|running/);
  await page.goto(`/reports/${runId}`);
  await expect(page.getByTestId('test-cleanup-state')).toContainText('done');
  await page.goto(planUrl);
  await expect(page.getByTestId('open-test')).toHaveCount(0);
});
