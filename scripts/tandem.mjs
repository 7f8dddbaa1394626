#!/usr/bin/env node
// Tandem's command line: the jobs a runbook calls, over the public REST API (/api/v1) only.
// TANDEM_URL (e.g. https://tandem.example) and TANDEM_TOKEN (or --token-file FILE) say where and as whom.
import fs from 'node:fs';
import { parseArgs } from 'node:util';

const HELP = `usage: tandem <command> [arguments] [options]

VM replicas (a VM is its name on any node or its UUID):
  replicas <vm> [--full]                         list a VM's replicas
  replica <vm> <repname>                         show a replica
  replica-create <vm> <repname> --node NODE [--root-zpool Z] [--disk-zpool DISK=ZPOOL ...]
                 [--sleep-time S] [--bwlimit BYTES] [--disabled] [--no-reserve]
  replica-update <vm> <repname> [--sleep-time S] [--bwlimit BYTES|none] [--enable|--disable]
  replica-delete <vm> <repname> [--keep-data]
  failover <vm> <repname> [--force] [--reason TEXT]
  reinit <vm> <repname>
RBD mirroring (a cluster is its site name in Tandem):
  pools <cluster>                                every pool's mirroring
  token-create <cluster> <pool>                  print a bootstrap token (a secret: keep it out of logs)
  token-import <cluster> <pool> <token|-> [--direction rx_tx|rx_only] [--local-site-name NAME]
  schedules <cluster>
  schedule-add <cluster> --interval 1h [--pool P] [--namespace NS] [--image I] [--start-time HH:MM:SS]
  schedule-delete <cluster> --interval 1h [--pool P] [--namespace NS] [--image I] [--start-time HH:MM:SS]
  image-mirror <cluster> <pool> <image> (--mode snapshot|journal|disabled | --promote | --demote)
  mirror-snapshot <cluster> <pool> <image>       take a mirror snapshot now
  resync <cluster> <pool> <image>                flag a non-primary image for resync
Tasks:
  task <id>                                      show a task
  wait <id> [--timeout S]                        wait for a task to end; exit 0 if it finished
  answer <id> <token> <response>                 answer a task's question
  cancel <id>                                    cancel a task
Other:
  sites | history [--action A] [--target T] [--since ISO] | openapi

Long operations wait for their task unless --no-wait; the answer is printed as JSON.
Exit status: 0 done, 1 the task did not finish, 2 usage, 3 refused by the server.`;

const { values: o, positionals: args } = parseArgs({
  allowPositionals: true,
  options: {
    full: { type: 'boolean' },
    node: { type: 'string' },
    'root-zpool': { type: 'string' },
    'disk-zpool': { type: 'string', multiple: true },
    'sleep-time': { type: 'string' },
    bwlimit: { type: 'string' },
    disabled: { type: 'boolean' },
    disable: { type: 'boolean' },
    enable: { type: 'boolean' },
    'no-reserve': { type: 'boolean' },
    'keep-data': { type: 'boolean' },
    force: { type: 'boolean' },
    reason: { type: 'string' },
    timeout: { type: 'string' },
    'no-wait': { type: 'boolean' },
    action: { type: 'string' },
    target: { type: 'string' },
    since: { type: 'string' },
    'token-file': { type: 'string' },
    direction: { type: 'string' },
    'local-site-name': { type: 'string' },
    interval: { type: 'string' },
    pool: { type: 'string' },
    namespace: { type: 'string' },
    image: { type: 'string' },
    'start-time': { type: 'string' },
    mode: { type: 'string' },
    promote: { type: 'boolean' },
    demote: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});

function usage(message) {
  if (message) console.error(`tandem: ${message}`);
  console.error(HELP);
  process.exit(2);
}

if (o.help || !args.length) usage();
const base = (process.env.TANDEM_URL ?? '').replace(/\/+$/, '');
if (!base) usage('set TANDEM_URL to the console, e.g. https://tandem.example');
const token = o['token-file'] ? fs.readFileSync(o['token-file'], 'utf8').trim() : process.env.TANDEM_TOKEN;
if (!token && args[0] !== 'openapi')
  usage("set TANDEM_TOKEN (or --token-file FILE) to an API token (the console's API page)");

async function api(method, path, body) {
  const res = await fetch(`${base}/api/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    /* CSV */
  }
  if (!res.ok) {
    const e = data?.error;
    console.error(`tandem: ${res.status} ${e?.code ?? ''}: ${e?.message ?? text}`);
    for (const f of e?.fields ?? []) console.error(`  ${f.field}: ${f.message}`);
    process.exit(3);
  }
  return data;
}

const enc = encodeURIComponent;
const rep = (vm, name) => {
  if (!vm || !name) usage('name the VM and the replica');
  return `/vm/${enc(vm)}/replica/${enc(name)}`;
};
const int = (v, what) => {
  if (v === undefined) return undefined;
  if (what === 'bwlimit' && v === 'none') return null;
  if (!/^\d+$/.test(v)) usage(`--${what} takes a whole number`);
  return Number(v);
};

/** Follows a task until it ends (or `timeout` seconds pass), reporting progress on stderr. */
async function follow(task, timeoutS = Infinity) {
  const end = Date.now() + timeoutS * 1000;
  let last = '';
  while (!task.done && Date.now() < end) {
    const line = `task #${task.id} ${task.state} ${task.progress.complete}/${task.progress.total}${task.question ? ` — question: ${task.question.message} [${task.question.responseOptions.join('/')}] token ${task.question.token}` : ''}`;
    if (line !== last) console.error(line);
    last = line;
    const wait = Math.max(1, Math.min(60, Math.ceil((end - Date.now()) / 1000)));
    task = await api('GET', `/tasks/${task.id}?wait=${wait}`);
  }
  return task;
}

async function started(task) {
  const t = o['no-wait'] ? task : await follow(task, o.timeout ? int(o.timeout, 'timeout') : Infinity);
  console.log(JSON.stringify(t, null, 2));
  process.exit(t.done && t.state !== 'FINISHED' ? 1 : 0);
}

const ceph = (cluster, rest) => {
  if (!cluster) usage('name the Ceph cluster');
  return `/ceph/${enc(cluster)}${rest}`;
};
const img = (cluster, pool, image) => {
  if (!pool || !image) usage('name the pool and the image');
  return ceph(cluster, `/pools/${enc(pool)}/rbds/${enc(image)}`);
};
const schedule = () => {
  if (!o.interval) usage('--interval, e.g. 1h');
  return {
    pool: o.pool ?? null,
    namespace: o.namespace ?? null,
    rbd: o.image ?? null,
    interval: o.interval,
    startTime: o['start-time'] ?? null,
  };
};

const print = (x) => console.log(typeof x === 'string' ? x : JSON.stringify(x, null, 2));
const [cmd, a1, a2, a3] = args;
switch (cmd) {
  case 'replicas':
    if (!a1) usage('name the VM');
    print(await api('GET', `/vm/${enc(a1)}/replica${o.full ? '?full=true' : ''}`));
    break;
  case 'replica':
    print(await api('GET', rep(a1, a2)));
    break;
  case 'replica-create': {
    if (!o.node) usage('--node NODE: the node the replica goes to');
    const disk = Object.fromEntries(
      (o['disk-zpool'] ?? []).map((d) =>
        d.includes('=') ? d.split('=', 2) : usage(`--disk-zpool takes DISK=ZPOOL, not ${d}`),
      ),
    );
    const body = {
      node: o.node,
      root_zpool: o['root-zpool'],
      disk_zpools: disk,
      sleep_time: int(o['sleep-time'], 'sleep-time'),
      bwlimit: int(o.bwlimit, 'bwlimit'),
      enabled: o.disabled ? false : undefined,
      reserve_resources: o['no-reserve'] ? false : undefined,
    };
    await started(await api('POST', rep(a1, a2), body));
    break;
  }
  case 'replica-update':
    print(
      await api('PUT', rep(a1, a2), {
        sleep_time: int(o['sleep-time'], 'sleep-time'),
        bwlimit: int(o.bwlimit, 'bwlimit'),
        enabled: o.enable ? true : o.disable ? false : undefined,
      }),
    );
    break;
  case 'replica-delete':
    await started(await api('DELETE', `${rep(a1, a2)}?destroy_data=${o['keep-data'] ? 'false' : 'true'}`));
    break;
  case 'failover':
    await started(await api('PUT', `${rep(a1, a2)}/failover`, { force: !!o.force, reason: o.reason }));
    break;
  case 'reinit':
    await started(await api('PUT', `${rep(a1, a2)}/reinit`));
    break;
  case 'pools':
    print(await api('GET', ceph(a1, '/pools/rbd-mirror/all-infos')));
    break;
  case 'token-create':
    if (!a2) usage('name the pool');
    print(await api('GET', ceph(a1, `/pools/${enc(a2)}/rbd-mirror/token`)));
    break;
  case 'token-import': {
    if (!a2 || !a3) usage('token-import <cluster> <pool> <token|->');
    const peerToken = a3 === '-' ? fs.readFileSync(0, 'utf8').trim() : a3;
    await started(
      await api('POST', ceph(a1, `/pools/${enc(a2)}/rbd-mirror/peers`), {
        peerToken,
        direction: o.direction ?? 'rx_tx',
        localSiteName: o['local-site-name'],
      }),
    );
    break;
  }
  case 'schedules':
    print(await api('GET', ceph(a1, '/pools/rbd-mirror/schedules')));
    break;
  case 'schedule-add':
    await started(await api('POST', ceph(a1, '/pools/rbd-mirror/schedules'), schedule()));
    break;
  case 'schedule-delete':
    await started(await api('DELETE', ceph(a1, '/pools/rbd-mirror/schedules'), schedule()));
    break;
  case 'image-mirror': {
    const body = o.mode
      ? { imageMirrorMode: o.mode }
      : o.promote
        ? { primary: true }
        : o.demote
          ? { primary: false }
          : usage('--mode, --promote or --demote');
    await started(await api('PATCH', `${img(a1, a2, a3)}/rbd-mirror`, body));
    break;
  }
  case 'mirror-snapshot':
    await started(await api('POST', `${img(a1, a2, a3)}/rbd-mirror/snapshots`));
    break;
  case 'resync':
    await started(await api('POST', `${img(a1, a2, a3)}/rbd-mirror/resync`));
    break;
  case 'task':
    if (!a1) usage('name the task');
    print(await api('GET', `/tasks/${enc(a1)}`));
    break;
  case 'wait':
    if (!a1) usage('name the task');
    await started(await api('GET', `/tasks/${enc(a1)}`));
    break;
  case 'answer':
    if (!a1 || !a2 || !a3) usage('answer <task> <token> <response>');
    print(await api('POST', `/tasks/${enc(a1)}/answer`, { token: a2, response: a3 }));
    break;
  case 'cancel':
    if (!a1) usage('name the task');
    print(await api('DELETE', `/tasks/${enc(a1)}`));
    break;
  case 'sites':
    print(await api('GET', '/sites'));
    break;
  case 'history': {
    const q = new URLSearchParams(
      Object.entries({ action: o.action, target: o.target, from: o.since }).filter(
        ([, v]) => v !== undefined,
      ),
    );
    print(await api('GET', `/history?${q}`));
    break;
  }
  case 'openapi':
    print(await api('GET', '/openapi.json'));
    break;
  default:
    usage(`no command "${cmd}"`);
}
