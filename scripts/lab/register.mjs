// Registers the lab's nodes and Ceph clusters as sites of a running Tandem, through its API.
// Usage: node scripts/lab/register.mjs [baseUrl] [username] [password]
//   (defaults: http://127.0.0.1:3000, admin, $TANDEM_ADMIN_PASSWORD)
// Sites that already exist (by name) are left as they are. Host keys are pinned from the lab's
// own record of them. Exits non-zero with the API's message on any failure.
import fs from 'node:fs';
import path from 'node:path';

const LAB = path.resolve(process.env.TANDEM_LAB_DIR ?? '/tmp/tandem-lab');

export async function registerLab(base, username, password, { nodes = true, ceph = true } = {}) {
  let cookie = '';
  async function call(proc, input, type = 'mutation') {
    const url =
      `${base}/api/trpc/${proc}` +
      (type === 'query' ? `?input=${encodeURIComponent(JSON.stringify({ json: input ?? null }))}` : '');
    const res = await fetch(url, {
      method: type === 'query' ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', origin: base, cookie },
      body: type === 'query' ? undefined : JSON.stringify({ json: input ?? null }),
    });
    const setCookie = res.headers.get('set-cookie');
    if (setCookie) cookie = setCookie.split(';')[0];
    const body = await res.json();
    if (body.error) throw new Error(`${proc}: ${body.error.json?.message ?? JSON.stringify(body.error)}`);
    return body.result.data.json;
  }
  await call('auth.login', { username, password });
  const existing = new Set((await call('sites.list', undefined, 'query')).map((s) => s.name));
  const created = [];
  if (nodes) {
    const file = path.join(LAB, 'nodes', 'nodes.json');
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run scripts/lab/nodes.sh up`);
    for (const n of JSON.parse(fs.readFileSync(file, 'utf8')).nodes) {
      if (existing.has(n.name)) continue;
      const site = await call('sites.create', {
        name: n.name,
        kind: 'node',
        config: { host: n.host, port: n.port, user: n.user, hypervisor: n.hypervisor, zpools: n.zpools },
        secret: { privateKey: fs.readFileSync(n.privateKeyPath, 'utf8') },
      });
      await call('sites.pinHostKey', { id: site.id, fingerprint: n.hostKeySha256 });
      created.push(n.name);
    }
  }
  if (ceph) {
    const file = path.join(LAB, 'ceph', 'sites.json');
    if (!fs.existsSync(file)) throw new Error(`${file} is missing: run scripts/lab/ceph-sites.sh up`);
    for (const s of JSON.parse(fs.readFileSync(file, 'utf8')).sites) {
      if (existing.has(s.name)) continue;
      await call('sites.create', {
        name: s.name,
        kind: 'ceph',
        config: {
          access: 'local',
          siteName: s.name,
          cluster: s.cluster,
          confPath: s.conf,
          clientId: s.clientId,
          keyringPath: s.keyring,
        },
      });
      created.push(s.name);
    }
  }
  return created;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [base = 'http://127.0.0.1:3000', user = 'admin', pw = process.env.TANDEM_ADMIN_PASSWORD] =
    process.argv.slice(2);
  if (!pw) {
    console.error('give the admin password as the third argument or in TANDEM_ADMIN_PASSWORD');
    process.exit(2);
  }
  registerLab(base, user, pw, { ceph: process.env.LAB_CEPH !== '0', nodes: process.env.LAB_NODES !== '0' })
    .then((c) => console.log(`[lab] registered: ${c.join(', ') || 'nothing new'}`))
    .catch((e) => {
      console.error(`[lab] ${e.message}`);
      process.exit(1);
    });
}
