#!/usr/bin/env bash
# Installs what is missing, builds once, migrates (at start) and serves Tandem on port 3000.
# With no real site registered, the demo environment is created on the first start.
set -euo pipefail
source "$(dirname "$0")/lib/common.sh"
require_node
ensure_node_modules
ensure_build
cd "$ROOT"
export TANDEM_DATA_DIR="${TANDEM_DATA_DIR:-$ROOT/data}"
log "data directory: $TANDEM_DATA_DIR"
log "serving on http://localhost:${PORT:-3000}"
if [ -z "${TANDEM_ADMIN_PASSWORD:-}" ] && { [ ! -f "$TANDEM_DATA_DIR/tandem.db" ] || [ -f "$TANDEM_DATA_DIR/setup-code" ]; }; then
  log "no administrator yet: the setup code for the setup page is printed below and kept in $TANDEM_DATA_DIR/setup-code"
fi
exec npx next start -p "${PORT:-3000}" -H "${HOST:-0.0.0.0}"
