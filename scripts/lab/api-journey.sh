#!/usr/bin/env bash
# The REST API as a runbook uses it: curl and an API token only (jq reads the answers).
#   TANDEM_URL=http://127.0.0.1:3000 TANDEM_TOKEN=tdm_… bash scripts/lab/api-journey.sh danube VM [FROM_NODE TO_NODE]
#   TANDEM_URL=… TANDEM_TOKEN=… bash scripts/lab/api-journey.sh croit IMAGE [POOL CLUSTER_A CLUSTER_B]
# danube: create a replica of VM (on FROM_NODE, default node1) on TO_NODE (node2) → wait for the
#   task → update bwlimit → fail over → reinit → delete.
# croit: a bootstrap token on CLUSTER_A (site-a) imported on CLUSTER_B (site-b) → enable snapshot
#   mirroring of IMAGE (on CLUSTER_A, in POOL, default rbd) → add and delete a schedule → a mirror
#   snapshot → the resync flag on CLUSTER_B.
# Each step's HTTP status and answer are checked; the first that differs stops the script (exit 1).
set -euo pipefail
: "${TANDEM_URL:?set TANDEM_URL}" "${TANDEM_TOKEN:?set TANDEM_TOKEN}"
API="${TANDEM_URL%/}/api/v1"
WAIT=300
BODY=""
STEP=0
T0=$(date +%s%N)

say() { echo "[api-journey] $(( ($(date +%s%N) - T0) / 1000000 )) ms: $*"; }
fail() { echo "[api-journey] FAILED at step $STEP: $*" >&2; echo "[api-journey] last answer: $BODY" >&2; exit 1; }

# call METHOD PATH [JSON_BODY]: one call; BODY holds the answer, STATUS its HTTP status.
call() {
  local method=$1 path=$2 data=${3:-} out
  out=$(mktemp)
  if [ -n "$data" ]; then
    STATUS=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TANDEM_TOKEN" -H 'content-type: application/json' --data "$data" "$API$path")
  else
    STATUS=$(curl -sS -o "$out" -w '%{http_code}' -X "$method" -H "Authorization: Bearer $TANDEM_TOKEN" "$API$path")
  fi
  BODY=$(cat "$out")
  rm -f "$out"
}

# req EXPECTED_STATUS METHOD PATH [JSON_BODY]: one checked call.
req() {
  local want=$1 method=$2 path=$3
  STEP=$((STEP + 1))
  call "$method" "$path" "${4:-}"
  [ "$STATUS" = "$want" ] || fail "$method $path answered $STATUS, not $want"
}

# expect JQ_EXPR [WHAT]: the last answer satisfies the jq expression.
expect() { jq -e "$1" >/dev/null <<<"$BODY" || fail "${2:-$1} does not hold"; }

# until_true EXPECTED_STATUS METHOD PATH JQ_EXPR WHAT: polls (observed state) for at most 180 s
# until the answer has that status and satisfies the expression. Until then any answer is a
# "not yet": an image the peer has not created yet is a 404 on the peer.
until_true() {
  local i
  STEP=$((STEP + 1))
  for ((i = 0; i < 180; i++)); do
    call "$2" "$3"
    if [ "$STATUS" = "$1" ] && jq -e "$4" >/dev/null <<<"$BODY"; then say "$5"; return 0; fi
    sleep 1
  done
  fail "$5: not within 180 s (last status $STATUS)"
}

finished() { expect '.done == true and .state == "FINISHED"' "the task finished"; }

danube() {
  local vm=$1 from=${2:-node1} to=${3:-node2} rep=dr
  local R="/vm/$vm/replica/$rep"
  STEP=$((STEP + 1))
  local status; status=$(curl -sS -o /dev/null -w '%{http_code}' "$API/vm/$vm/replica")
  [ "$status" = 401 ] || fail "no token: $status, not 401"
  say "no token: 401"
  req 200 GET "/vm/$vm/replica"
  expect '. == []' "no replica yet"
  req 422 POST "$R" '{"node": "'"$to"'", "sleep_time": -1}'
  expect '.error.code == "INVALID_INPUT" and (.error.fields | map(.field) | index("sleep_time")) != null' "sleep_time named at fault"
  req 200 POST "$R?wait=$WAIT" '{"node": "'"$to"'", "sleep_time": 600}'
  finished
  expect '.kind == "replica.sync" and .statusCode == 200'
  say "replica created, initial sync done (task $(jq .id <<<"$BODY"))"
  req 200 GET "/vm/$vm/replica"
  expect '. == ["'"$rep"'"]'
  req 200 GET "/vm/$vm/replica?full=true"
  expect '.[0].repname == "'"$rep"'" and .[0].node == "'"$to"'" and .[0].master_node == "'"$from"'" and .[0].sleep_time == 600 and .[0].enabled == true and .[0].reinit_required == false and (.[0].last_sync | type) == "string"'
  req 200 PUT "$R" '{"bwlimit": 10485760}'
  expect '.bwlimit == 10485760 and .sleep_time == 600'
  say "bwlimit updated"
  req 200 PUT "$R/failover?wait=$WAIT" '{"force": false, "reason": "api journey"}'
  finished
  expect '.kind == "replica.failover"'
  req 200 GET "$R"
  expect '.master_node == "'"$to"'" and .node == "'"$from"'" and .reinit_required == true'
  say "failed over to $to"
  req 200 PUT "$R/reinit?wait=$WAIT"
  finished
  req 200 GET "$R"
  expect '.reinit_required == false and .state == "idle"'
  say "reinitialised: $from is the replica"
  req 200 DELETE "$R?wait=$WAIT"
  finished
  req 200 GET "/vm/$vm/replica"
  expect '. == []'
  say "replica deleted"
}

croit() {
  local img=$1 pool=${2:-rbd} a=${3:-site-a} b=${4:-site-b}
  local A="/ceph/$a/pools/$pool" B="/ceph/$b/pools/$pool"
  req 200 GET "$A/rbd-mirror"
  expect '.pool == "'"$pool"'" and .poolMirrorMode == "image" and .peers == []' "$a's pool is in image mode, unpaired"
  req 200 GET "$A/rbd-mirror/token"
  expect 'type == "string" and length > 40' "a token"
  local token; token=$(jq -r . <<<"$BODY")
  say "token created on $a"
  req 422 POST "$B/rbd-mirror/peers" "$(jq -nc --arg t "$token" '{peerToken: $t, direction: "tx_only"}')"
  expect '.error.fields[0].field == "direction"'
  req 200 POST "$B/rbd-mirror/peers?wait=$WAIT" "$(jq -nc --arg t "$token" '{peerToken: $t, direction: "rx_tx"}')"
  finished
  token=""
  # (A status question to $b asked before the import may still be open: its answer can lag the import.)
  until_true 200 GET "$B/rbd-mirror" '.peers | map(.siteName) == ["'"$a"'"]' "$b has $a as its peer"
  until_true 200 GET "$A/rbd-mirror" '.peers | map(.siteName) == ["'"$b"'"]' "$a has $b as its peer"
  req 200 PATCH "$A/rbds/$img/rbd-mirror?wait=$WAIT" '{"imageMirrorMode": "snapshot"}'
  finished
  req 200 GET "$A/rbds/$img"
  expect '.mirrorInfo.imageMirrorMode == "snapshot" and .mirrorInfo.mirrorState == "primary" and .mirrorInfo.primary == true'
  say "snapshot mirroring enabled on $img"
  local sched='{"pool": "'"$pool"'", "rbd": "'"$img"'", "interval": "5m"}'
  req 200 POST "/ceph/$a/pools/rbd-mirror/schedules?wait=$WAIT" "$sched"
  finished
  req 200 GET "/ceph/$a/pools/rbd-mirror/schedules"
  expect 'map(select(.pool == "'"$pool"'" and .rbd == "'"$img"'" and .interval == "5m")) | length == 1' "the schedule is listed"
  req 200 DELETE "/ceph/$a/pools/rbd-mirror/schedules?wait=$WAIT" "$sched"
  finished
  req 200 GET "/ceph/$a/pools/rbd-mirror/schedules"
  expect 'map(select(.rbd == "'"$img"'")) | length == 0' "the schedule is gone"
  say "schedule added and deleted"
  req 200 POST "$A/rbds/$img/rbd-mirror/snapshots?wait=$WAIT"
  finished
  req 200 GET "$A/rbds/$img/rbd-mirror/snapshots"
  expect 'map(select(.name | startswith(".mirror.primary"))) | length >= 1' "a primary mirror snapshot"
  say "mirror snapshot taken"
  until_true 200 GET "$B/rbds/$img" '.mirrorInfo.mirrorState == "mirror" and .mirrorInfo.primary == false' "$b has the image, not primary"
  req 200 POST "$B/rbds/$img/rbd-mirror/resync?wait=$WAIT"
  finished
  say "resync flagged on $b"
}

case "${1:-}" in
  danube) shift; danube "$@" ;;
  croit) shift; croit "$@" ;;
  *) echo "usage: $0 danube VM [FROM TO] | croit IMAGE [POOL A B]" >&2; exit 2 ;;
esac
say "journey done: $STEP calls checked"
