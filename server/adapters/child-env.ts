/**
 * The environment a local command (`ceph`, `rbd`, `ssh-keygen`…) gets: an allow-list, never the
 * whole of Tandem's own environment, which holds TANDEM_SECRET_KEY, TANDEM_ADMIN_PASSWORD and
 * whatever else the service manager passes in.
 *
 * What the Ceph CLIs read: `CEPH_CONF` and `CEPH_ARGS` (librados, the `ceph` script), `PATH` (the
 * `ceph` script is run by python3), `HOME` and the locale (python's start-up), `TZ`, `TMPDIR`.
 * Tandem passes the cluster, conf, id and keyring as arguments, so none of CEPH_* is needed; they
 * are kept for an admin who relies on them.
 */
const NAMES = new Set(['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR']);
const PREFIXES = ['LC_', 'CEPH_'];

export type Env = Record<string, string | undefined>;

export function childEnv(source: Env = process.env): Env {
  const env: Env = {};
  for (const [k, v] of Object.entries(source)) {
    if (v === undefined) continue;
    if (NAMES.has(k) || PREFIXES.some((p) => k.startsWith(p))) env[k] = v;
  }
  return env;
}
