#!/usr/bin/env bash
# Tandem against the real labs: `up` (default) starts the node lab (3 nodes, VM web01 with two
# disks on node1) and the two Ceph sites, builds and serves Tandem on port 3000 with its own data
# directory, and registers every lab machine as a site. `down` stops the labs.
set -euo pipefail
source "$(dirname "$0")/../lib/common.sh"
cd "$ROOT"
export TANDEM_LAB_DIR="${TANDEM_LAB_DIR:-/tmp/tandem-lab}"
case "${1:-up}" in
  down)
    bash scripts/lab/nodes.sh down || true
    bash scripts/lab/ceph-sites.sh down || true
    exit 0 ;;
  up) ;;
  *) die "usage: npm run lab [-- up|down]" ;;
esac
require_node
ensure_node_modules
bash scripts/lab/nodes.sh up 3
ssh_vm=$(bash scripts/lab/nodes.sh ssh node1 virsh list --all --name 2>/dev/null || true)
grep -qx web01 <<<"$ssh_vm" || bash scripts/lab/nodes.sh mkvm node1 web01 2 64 >/dev/null
bash scripts/lab/ceph-sites.sh up
ensure_build
export TANDEM_DATA_DIR="${TANDEM_DATA_DIR:-$ROOT/data-lab}"
export TANDEM_ADMIN_PASSWORD="${TANDEM_ADMIN_PASSWORD:-tandem-lab-admin}"
export TANDEM_DEMO=0
PORT="${PORT:-3000}"
npx next start -p "$PORT" &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 60); do curl -fs -o /dev/null "http://127.0.0.1:$PORT/login" && break; sleep 1; done
node scripts/lab/register.mjs "http://127.0.0.1:$PORT" admin "$TANDEM_ADMIN_PASSWORD"
log "Tandem is serving the lab on http://localhost:$PORT (admin / $TANDEM_ADMIN_PASSWORD). Ctrl-C stops it; 'npm run lab -- down' stops the labs."
wait $server
