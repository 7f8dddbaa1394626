# Shared helpers for Tandem's scripts. Source it; do not run it.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

log() { printf '[tandem] %s\n' "$*" >&2; }
die() { printf '[tandem] error: %s\n' "$*" >&2; exit 1; }

require_node() {
  command -v node >/dev/null 2>&1 || die "Node.js 20.19 or newer is required (not found)"
  local v
  v="$(node -p 'process.versions.node')"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js 20.19 or newer is required (found $v)"
}

# apt-get install the given packages when any of them is missing (root only).
apt_ensure() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm install (from the committed lock file) when node_modules is missing or older than it.
# Not `npm ci`: this npm leaves other platforms' optional packages out of the lock file and
# `npm ci` then refuses it as out of sync.
ensure_node_modules() {
  cd "$ROOT"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    # better-sqlite3 compiles from source with node-gyp when no prebuilt binary can be fetched.
    command -v g++ >/dev/null 2>&1 && command -v make >/dev/null 2>&1 || apt_ensure g++ make python3
    log "installing npm packages (npm ci: exactly what package-lock.json pins)"
    npm ci --no-audit --no-fund >/tmp/tandem-npm-install.log 2>&1 || { tail -20 /tmp/tandem-npm-install.log >&2; die "npm ci failed (log: /tmp/tandem-npm-install.log)"; }
  fi
}

# next build when there is no build or any source is newer than it.
ensure_build() {
  cd "$ROOT"
  if [ ! -f .next/BUILD_ID ] || [ -n "$(find app components server drizzle proxy.ts instrumentation.ts next.config.js package-lock.json -newer .next/BUILD_ID -print -quit 2>/dev/null)" ]; then
    log "building"
    npx next build >/tmp/tandem-build.log 2>&1 || { tail -50 /tmp/tandem-build.log >&2; die "build failed (full log: /tmp/tandem-build.log)"; }
  fi
}
