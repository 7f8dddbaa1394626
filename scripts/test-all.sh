#!/usr/bin/env bash
# Runs every test of Tandem: static checks, unit tests, the production build, a fuzz of every
# procedure over HTTP and end-to-end tests on the demo sites, and integration and end-to-end tests
# against the real labs (two Ceph clusters and emulated ZFS compute nodes), which it installs,
# starts and stops itself.
# The last line is "N passed, N failed".
set -uo pipefail
source "$(dirname "$0")/lib/common.sh"
cd "$ROOT"

RESULTS="$(mktemp -d /tmp/tandem-results.XXXXXX)"
export TANDEM_LAB_DIR="${TANDEM_LAB_DIR:-/tmp/tandem-lab}"
# The labs below are this run's: tests that crash a node or a site need not ask for the locks.
export TANDEM_LABS_OWNED=1
started=$(date +%s)
stamp() { log "[$(( $(date +%s) - started ))s] $*"; }

# step NAME COMMAND… : runs a check whose exit code counts as one test.
step() {
  local name="$1"; shift
  stamp "$name"
  "$@"
  local rc=$?
  echo "$rc" > "$RESULTS/step-$name.rc"
  [ $rc -eq 0 ] || log "FAILED: $name (exit $rc)"
  return 0
}

labs_down() {
  stamp "stopping labs"
  bash scripts/lab/ceph-sites.sh down >/dev/null 2>&1 || true
  bash scripts/lab/nodes.sh down >/dev/null 2>&1 || true
}

require_node
had_prometheus=$(dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -c 'install ok installed')
apt_ensure chromium fonts-liberation g++ make python3 openssh-client prometheus
# The metrics test starts a Prometheus of its own (port 9091, a temporary store). Where systemd
# runs, Debian's package starts prometheus.service on port 9090 at install: stop the one we installed.
if [ "$had_prometheus" = 0 ] && [ -d /run/systemd/system ]; then systemctl disable --now prometheus >/dev/null 2>&1 || true; fi
tree_before="$(git status --porcelain 2>/dev/null || true)"
ensure_node_modules
# The install is pinned by what is committed: it must not change a tracked file (e.g. rewrite the lock).
step install-leaves-tree-unchanged bash -c '[ "$(git status --porcelain 2>/dev/null || true)" = "$1" ] || { git status --porcelain; echo "the install changed the working tree" >&2; exit 1; }' _ "$tree_before"

# The labs boot in the background while the fast tests and the build run.
trap labs_down EXIT
LAB_LOG="$RESULTS/labs.log"
( bash scripts/lab/nodes.sh install && bash scripts/lab/nodes.sh up 3 && bash scripts/lab/ceph-sites.sh install && bash scripts/lab/ceph-sites.sh up ) >"$LAB_LOG" 2>&1 &
LAB_PID=$!

step typecheck npx tsc --noEmit -p .
step lint npx eslint . --max-warnings 0
# Formatting is checked, not fixed: `npm run format` rewrites what this step names.
step format npx prettier --check .
stamp "unit tests"
npx vitest run --reporter=default --reporter=json --outputFile.json="$RESULTS/vitest-unit.json"
step build bash -c 'npx next build > /tmp/tandem-build.log 2>&1 || { tail -60 /tmp/tandem-build.log; exit 1; }'

# HTTP tests on the build and the demo sites: sign-in, setup and request checks (ports 3243-3245),
# and every procedure with generated and hostile inputs (port 3250; it prints how many calls it
# made and how many were answered 5xx).
stamp "HTTP tests against production servers (demo sites)"
npx vitest run -c vitest.http.config.ts --reporter=default --reporter=json --outputFile.json="$RESULTS/vitest-http.json"

stamp "end-to-end tests on the demo sites"
PLAYWRIGHT_JSON_OUTPUT_NAME="$RESULTS/playwright-demo.json" npx playwright test --reporter=list,json

stamp "waiting for the labs"
wait $LAB_PID
echo $? > "$RESULTS/step-labs-up.rc"
sed 's/^/  /' "$LAB_LOG" | tail -40 >&2

if [ "$(cat "$RESULTS/step-labs-up.rc")" = 0 ]; then
  # The two labs are independent: the files that use only the node lab and those that use only the
  # Ceph lab run side by side (each lane serially, one lab boot shared), then the files that use both.
  stamp "integration tests against the real labs (node and Ceph lanes side by side)"
  lane() { # lane NAME FILE… : one Vitest run, its output prefixed with the lane's name
    local name="$1"; shift
    [ $# -gt 0 ] || return 0
    npx vitest run -c vitest.integration.config.ts --reporter=default --reporter=json \
      --outputFile.json="$RESULTS/vitest-integration-$name.json" "$@" 2>&1 | sed -u "s/^/[$name] /"
  }
  node_only=(); ceph_only=(); both=()
  for f in tests/integration/*.test.ts; do
    n=0; c=0
    grep -qE "from '\./(lab|lab-app)'" "$f" && n=1
    grep -q "from './ceph-lab'" "$f" && c=1
    if [ $n = 1 ] && [ $c = 0 ]; then node_only+=("$f"); elif [ $c = 1 ] && [ $n = 0 ]; then ceph_only+=("$f"); else both+=("$f"); fi
  done
  lane node "${node_only[@]}" &
  node_lane=$!
  lane ceph "${ceph_only[@]}"
  wait $node_lane
  stamp "integration tests that use both labs"
  lane both "${both[@]}"
  if ls e2e-lab/*.spec.ts >/dev/null 2>&1; then
    stamp "end-to-end tests against the real labs"
    PLAYWRIGHT_JSON_OUTPUT_NAME="$RESULTS/playwright-lab.json" npx playwright test -c playwright.lab.config.ts --reporter=list,json
  fi
  # No secret of the labs (cephx keys, the peer key bootstrap tokens carry, the nodes' SSH key) in
  # clear in anything the tests left: data directories, logs, results.
  step no-secrets-left bash scripts/lib/no-secrets.sh "$RESULTS"
else
  log "the labs did not come up; integration tests count as failed"
fi

labs_down
trap - EXIT
stamp "done"
node scripts/lib/count-results.mjs "$RESULTS"
