#!/usr/bin/env bash
# Two local Ceph (Pacific 16.2) clusters, "site-a" and "site-b", on 127.0.0.1 for
# RBD mirroring development and end-to-end tests.
#
# Each site: 1 mon, 1 mgr, 1 OSD (bluestore on a 2 GiB sparse file, so that its objects survive
# a kill -9), 1 rbd-mirror daemon. Cluster name == site name.
# Pools: "rbd" (mirroring enabled in image mode, NOT paired) and "rbd2" (mirroring disabled).
#
# Usage: scripts/lab/ceph-sites.sh <command>
#   install   install the Debian packages if the binaries are missing
#   up        create and start both sites, write $DIR/sites.json. Idempotent: healthy sites are
#             left alone, a crashed site whose state dir is intact is started again with its
#             data; only a state dir that cannot be restarted is wiped and both sites recreated
#   down      stop every daemon this script started (by recorded PID) and remove the state dir
#   status    show daemons and health of both sites; exit 0 only if both are healthy
#   env       print the JSON description of both sites on stdout
#   pair      bootstrap-peer pool "rbd" (token from site-a, imported rx-tx on site-b)
#   unpair    remove all peers of pool "rbd" on both sites
#   restart-mirror [SITE...]  restart the rbd-mirror daemon(s) (they read their peers at start)
#   stop-mirror SITE...  stop the rbd-mirror daemon of the site(s): replication into them stops
#                (restart-mirror starts it again)
#   crash SITE   power loss of one site: kill -9 its mon, mgr, OSD and rbd-mirror; its data stays
#   start SITE   start a crashed (or stopped) site again with its data, the other site untouched;
#                returns once it is HEALTH_OK and its rbd-mirror daemon runs
#
# Environment:
#   TANDEM_LAB_DIR          base directory (default /tmp/tandem-lab); state lives in $TANDEM_LAB_DIR/ceph
#   CEPH_LAB_READY_TIMEOUT  seconds to wait for HEALTH_OK in "up" (default 180)
set -euo pipefail

BASE_DIR="${TANDEM_LAB_DIR:-/tmp/tandem-lab}"
BASE_DIR="$(realpath -m -- "$BASE_DIR")"
DIR="$BASE_DIR/ceph"
LOCK_FILE="$BASE_DIR/.ceph-lab.lock"
SITES=(site-a site-b)
POOL_MIRRORED=rbd
POOL_PLAIN=rbd2
PG_NUM=8
MIRROR_ID="rbd-mirror.lab"          # client.rbd-mirror.lab -> daemon id "lab" in the service map
READY_TIMEOUT="${CEPH_LAB_READY_TIMEOUT:-180}"
STOP_TIMEOUT=10
DAEMONS=(mon mgr osd rbd-mirror)     # start order; stopped in reverse

export DEBIAN_FRONTEND=noninteractive
export LC_ALL=C.UTF-8
# Never let a caller's environment redirect our ceph calls to another cluster.
unset CEPH_CONF CEPH_ARGS || true

T0="$(date +%s.%N)"

log() { printf '[ceph-lab] %s\n' "$*" >&2; }
die() { printf '[ceph-lab] ERROR: %s\n' "$*" >&2; exit 1; }
elapsed() { awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }'; }

# ---------------------------------------------------------------------------
# per-site facts
# ---------------------------------------------------------------------------
site_dir() { printf '%s/%s' "$DIR" "$1"; }
site_conf() { printf '%s/%s/%s.conf' "$DIR" "$1" "$1"; }
site_keyring() { printf '%s/%s/%s.client.admin.keyring' "$DIR" "$1" "$1"; }
mon_v2_port() { case "$1" in site-a) echo 13300 ;; site-b) echo 13301 ;; *) die "unknown site $1" ;; esac; }
mon_v1_port() { case "$1" in site-a) echo 16789 ;; site-b) echo 16790 ;; *) die "unknown site $1" ;; esac; }
mon_host() { printf '[v2:127.0.0.1:%s,v1:127.0.0.1:%s]' "$(mon_v2_port "$1")" "$(mon_v1_port "$1")"; }
pid_file() { printf '%s/%s/pids/%s.pid' "$DIR" "$1" "$2"; }

# ceph / rbd CLI bound explicitly to one site (nothing read from /etc/ceph).
cephc() {
  local site="$1"; shift
  timeout 120 ceph --cluster "$site" -c "$(site_conf "$site")" --connect-timeout "${CONNECT_TIMEOUT:-30}" "$@"
}
rbdc() {
  local site="$1"; shift
  timeout 120 rbd --cluster "$site" -c "$(site_conf "$site")" "$@"
}

# ---------------------------------------------------------------------------
# install
# ---------------------------------------------------------------------------
NEEDED_BINS=(ceph ceph-mon ceph-mgr ceph-osd ceph-authtool monmaptool rbd rbd-mirror uuidgen jq)

missing_bins() {
  local b out=()
  for b in "${NEEDED_BINS[@]}"; do command -v "$b" >/dev/null 2>&1 || out+=("$b"); done
  echo "${out[*]+"${out[*]}"}"
}

cmd_install() {
  local missing
  missing="$(missing_bins)"
  if [[ -z "$missing" ]]; then
    log "install: ceph $(ceph --version 2>/dev/null | awk '{print $3}') already installed"
    return 0
  fi
  [[ "$(id -u)" == 0 ]] || die "install needs root (missing: $missing)"
  log "install: missing $missing; installing packages"
  local made_policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  {
    apt-get -o DPkg::Lock::Timeout=300 update -q &&
      apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends \
        ceph-mon ceph-osd ceph-mgr ceph-common rbd-mirror uuid-runtime jq
  } >&2 || rc=$?
  if [[ "$made_policy" == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  [[ "$rc" == 0 ]] || die "apt-get failed (exit $rc)"
  missing="$(missing_bins)"
  [[ -z "$missing" ]] || die "still missing after install: $missing"
  log "install: done ($(elapsed))"
}

# ---------------------------------------------------------------------------
# process handling: only ever PIDs we recorded, and only if they still are our daemons
# ---------------------------------------------------------------------------
# A recorded PID counts as ours only if the process is alive and its command line
# carries this site's config path (guards against PID reuse).
pid_is_ours() {
  local pid="$1" site="$2" cmdline
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  # (a zombie has an empty command line and so counts as gone)
  cmdline="$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$(site_conf "$site")"* ]]
}

daemon_pid() { # prints the pid if the daemon is running, returns 1 otherwise
  local f pid
  f="$(pid_file "$1" "$2")"
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f" 2>/dev/null)" || return 1
  pid_is_ours "$pid" "$1" || return 1
  printf '%s' "$pid"
}

# start_daemon <site> <name> <env...> -- <argv...>
start_daemon() {
  local site="$1" name="$2"; shift 2
  local envs=()
  while [[ $# -gt 0 && "$1" != "--" ]]; do envs+=("$1"); shift; done
  shift
  local sd out
  sd="$(site_dir "$site")"
  out="$sd/log/$name.stdout"
  # Own session so that a caller's Ctrl-C / process-group kill does not take the daemons down;
  # stdio detached so that callers reading our stdout get EOF when the script exits.
  # fd 9 (the lab lock) must not leak into the daemons, or the lock would stay held.
  env -u CEPH_CONF -u CEPH_ARGS "${envs[@]+"${envs[@]}"}" setsid "$@" </dev/null >>"$out" 2>&1 9>&- &
  local pid=$!
  echo "$pid" >"$(pid_file "$site" "$name")"
}

STOPPED_PIDS=()

# stop_group <daemon names...>: TERM those daemons on every site, wait up to STOP_TIMEOUT, then KILL.
stop_group() {
  local site name pid entry left
  local pids=()
  for name in "$@"; do
    for site in "${SITES[@]}"; do
      if pid="$(daemon_pid "$site" "$name")"; then
        log "stopping $site $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        pids+=("$pid:$site")
        STOPPED_PIDS+=("$pid")
      fi
    done
  done
  [[ ${#pids[@]} -gt 0 ]] || return 0
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while :; do
    left=()
    for entry in "${pids[@]}"; do
      if pid_is_ours "${entry%%:*}" "${entry#*:}"; then left+=("$entry"); fi
    done
    [[ ${#left[@]} -gt 0 ]] || return 0
    if ((SECONDS >= deadline)); then
      for entry in "${left[@]}"; do
        log "pid ${entry%%:*} did not stop after ${STOP_TIMEOUT}s, sending KILL"
        kill -KILL "${entry%%:*}" 2>/dev/null || true
      done
      sleep 0.5
      return 0
    fi
    sleep 0.1
  done
}

stop_all_recorded() {
  # Clients first, mons last: an OSD stopping after its mon would wait
  # osd_mon_shutdown_timeout (5 s) for a mon that is gone.
  STOPPED_PIDS=()
  stop_group rbd-mirror
  stop_group osd
  stop_group mgr mon
  # Exited daemons are orphans reaped by PID 1; give it a moment so that no <defunct>
  # entries linger in the process table (never waits for more than ~3 s).
  local i p gone
  for ((i = 0; i < 30; i++)); do
    gone=1
    for p in "${STOPPED_PIDS[@]+"${STOPPED_PIDS[@]}"}"; do [[ -e "/proc/$p" ]] && gone=0; done
    [[ "$gone" == 1 ]] && break
    sleep 0.1
  done
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------
# cluster creation
# ---------------------------------------------------------------------------
write_conf() {
  local site="$1" fsid="$2" sd
  sd="$(site_dir "$site")"
  cat >"$(site_conf "$site")" <<EOF
# Local lab cluster "$site" (created by scripts/lab/ceph-sites.sh). Use with:
#   ceph --cluster $site -c $(site_conf "$site") ...
#   rbd  --cluster $site -c $(site_conf "$site") ...
[global]
fsid = $fsid
mon_host = $(mon_host "$site")
mon_initial_members = a
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = $sd/$site.\$name.keyring
run_dir = $sd/run
crash_dir = $sd/crash
client_mount_timeout = 30
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = $PG_NUM
osd_pool_default_pgp_num = $PG_NUM
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_allow_pool_delete = true
mon_warn_on_pool_no_redundancy = false
auth_allow_insecure_global_id_reclaim = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
mgr_initial_modules =
rbd_mirror_pool_replayers_refresh_interval = 5
rbd_mirror_image_state_check_interval = 10
rbd_mirror_delete_retry_interval = 5

[mon]
mon_data = $sd/mon/a
keyring = $sd/mon/a/keyring
log_file = $sd/log/\$name.log
mon_cluster_log_to_file = false
paxos_propose_interval = 0.1

[mgr]
mgr_data = $sd/mgr/x
# A killed rbd-mirror stays in the service map ("not reporting status") until this long after
# its last beacon (one every mgr_stats_period = 5 s); the default is 60 s.
mgr_service_beacon_grace = 15
log_file = $sd/log/\$name.log

[osd]
osd_data = $sd/osd/0
# bluestore creates osd_data/block as a sparse file. Without the two settings after it, every
# open/close of the block file waits out a 250 ms aio poll and mkfs runs a full fsck, which
# made "up" take twice as long as with memstore (which loses every object on kill -9).
osd_objectstore = bluestore
bluestore_block_size = 2147483648
bluestore_block_create = true
bluestore_fsck_on_mkfs = false
bdev_aio_poll_ms = 10
osd_memory_target = 1073741824
log_file = $sd/log/\$name.log

[client.$MIRROR_ID]
log_file = $sd/log/\$name.log
admin_socket = $sd/run/\$name.asok
EOF
}

# Phase 1 of a site: keys, mon, mgr, osd. Runs in the background per site.
create_site() {
  local site="$1" sd fsid
  sd="$(site_dir "$site")"
  mkdir -p "$sd"/{mon/a,mgr/x,osd/0,log,run,crash,pids,mirror-home/.ceph}
  fsid="$(uuidgen)"
  write_conf "$site" "$fsid"

  # Keys: admin, mgr, osd and the rbd-mirror daemon user, all imported at mon mkfs.
  local mk="$sd/mkfs.keyring"
  ceph-authtool --create-keyring "$mk" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$(site_keyring "$site")" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool --create-keyring "$sd/$site.mgr.x.keyring" --gen-key -n mgr.x \
    --cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool --create-keyring "$sd/$site.osd.0.keyring" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap mgr 'allow profile osd' --cap osd 'allow *' >/dev/null
  ceph-authtool --create-keyring "$sd/$site.client.$MIRROR_ID.keyring" --gen-key -n "client.$MIRROR_ID" \
    --cap mon 'profile rbd-mirror' --cap osd 'profile rbd' >/dev/null
  local k
  for k in "$(site_keyring "$site")" "$sd/$site.mgr.x.keyring" "$sd/$site.osd.0.keyring" \
    "$sd/$site.client.$MIRROR_ID.keyring"; do
    ceph-authtool "$mk" --import-keyring "$k" >/dev/null
  done
  chmod 600 "$sd"/*.keyring

  monmaptool --create --clobber --enable-all-features --fsid "$fsid" \
    --addv a "$(mon_host "$site")" "$sd/monmap" >/dev/null
  ceph-mon --cluster "$site" -c "$(site_conf "$site")" --mkfs -i a \
    --monmap "$sd/monmap" --keyring "$mk" >>"$sd/log/mkfs.log" 2>&1
  rm -f "$mk" "$sd/monmap"

  launch "$site" mon
  launch "$site" mgr

  local osd_uuid
  osd_uuid="$(uuidgen)"
  cephc "$site" osd new "$osd_uuid" 0 >/dev/null
  ceph-osd --cluster "$site" -c "$(site_conf "$site")" -i 0 --mkfs --osd-uuid "$osd_uuid" \
    >>"$sd/log/mkfs.log" 2>&1
  launch "$site" osd
  log "$site: mon, mgr, osd started ($(elapsed))"
}

# launch <site> mon|mgr|osd: starts one core daemon of a site from its state dir.
launch() {
  local site="$1" name="$2" conf
  conf="$(site_conf "$site")"
  case "$name" in
    mon) start_daemon "$site" mon -- ceph-mon -f --cluster "$site" -c "$conf" -i a ;;
    mgr) start_daemon "$site" mgr -- ceph-mgr -f --cluster "$site" -c "$conf" -i x ;;
    osd) start_daemon "$site" osd -- ceph-osd -f --cluster "$site" -c "$conf" -i 0 ;;
    *) die "launch: unknown daemon $name" ;;
  esac
}

# Phase 2 of a site: pools, mirroring mode, rbd-mirror daemon.
start_mirror() {
  local site="$1" sd s
  sd="$(site_dir "$site")"
  # rbd-mirror resolves "<cluster>.conf" for the local cluster and for every peer from the
  # default search path (it ignores -c for those connections): give it a HOME with both confs.
  for s in "${SITES[@]}"; do ln -sfn "$(site_conf "$s")" "$sd/mirror-home/.ceph/$s.conf"; done
  (cd "$sd/mirror-home" &&
    start_daemon "$site" rbd-mirror HOME="$sd/mirror-home" -- \
      rbd-mirror -f --cluster "$site" -c "$(site_conf "$site")" --id "$MIRROR_ID")
}

setup_site_pools() {
  local site="$1" sd
  sd="$(site_dir "$site")"
  local p1 p2 p3
  { cephc "$site" osd pool create "$POOL_MIRRORED" "$PG_NUM" "$PG_NUM" >/dev/null 2>&1 &&
    rbdc "$site" pool init "$POOL_MIRRORED" >&2 &&
    rbdc "$site" mirror pool enable --site-name "$site" "$POOL_MIRRORED" image >&2; } &
  p1=$!
  { cephc "$site" osd pool create "$POOL_PLAIN" "$PG_NUM" "$PG_NUM" >/dev/null 2>&1 &&
    rbdc "$site" pool init "$POOL_PLAIN" >&2; } &
  p2=$!
  # The mgr "devicehealth" module creates this pool on its own some seconds after the mgr
  # becomes active; creating it here makes "all PGs active+clean" final when we report ready.
  { cephc "$site" osd pool create device_health_metrics 1 1 >/dev/null 2>&1 &&
    cephc "$site" osd pool application enable device_health_metrics mgr_devicehealth >/dev/null 2>&1; } &
  p3=$!
  wait "$p1" || return 1
  wait "$p2" || return 1
  wait "$p3" || return 1

  start_mirror "$site"
  log "$site: pools $POOL_MIRRORED (mirroring: image, unpaired) and $POOL_PLAIN ready, rbd-mirror started ($(elapsed))"
}

# Health, mgr, osd and pgs all settled. Right after a restart the mon still shows the maps of
# before the crash (osd up, pgs active+clean), so the OSD itself must also say it is active.
site_ready() {
  local site="$1" js
  js="$(timeout 10 ceph --admin-daemon "$(site_dir "$site")/run/$site-osd.0.asok" status 2>/dev/null)" || return 1
  jq -e '.state == "active"' >/dev/null <<<"$js" || return 1
  js="$(cephc "$site" status --format json 2>/dev/null)" || return 1
  jq -e '
    .health.status == "HEALTH_OK"
    and .mgrmap.available == true
    and .osdmap.num_up_osds == 1 and .osdmap.num_in_osds == 1
    and .pgmap.num_pgs > 0
    and ([.pgmap.pgs_by_state[] | select(.state_name != "active+clean") | .count] | add // 0) == 0
  ' >/dev/null <<<"$js"
}

wait_ready() {
  local site="$1" deadline=$((SECONDS + READY_TIMEOUT))
  until site_ready "$site"; do
    if ((SECONDS >= deadline)); then
      log "$site: not healthy after ${READY_TIMEOUT}s:"
      cephc "$site" status >&2 2>&1 || true
      return 1
    fi
    sleep 1
  done
  log "$site: HEALTH_OK ($(elapsed))"
}

# wait_mirror_daemon SITE [SINCE]: the rbd-mirror daemon has registered with the mgr and is listed
# for the pool. With SINCE (epoch seconds), it must be a daemon started at or after SINCE that
# reports its status, and no other (a killed instance stays listed, "not reporting status",
# for mgr_service_beacon_grace).
wait_mirror_daemon() {
  local site="$1" since="${2:-}" deadline=$((SECONDS + READY_TIMEOUT)) js ids
  while :; do
    js="$(rbdc "$site" mirror pool status "$POOL_MIRRORED" --verbose --format json 2>/dev/null)" || js='{}'
    if [[ -z "$since" ]]; then
      jq -e '(.daemons // []) | length > 0' >/dev/null <<<"$js" && break
    else
      ids="$(cephc "$site" service dump --format json 2>/dev/null | jq -c --argjson since "$since" '
        [(.services["rbd-mirror"].daemons // {}) | to_entries[] | select(.value | type == "object")
         | select((.value.start_stamp // "" | sub("\\.[0-9]+"; "") | sub("\\+0000$"; "Z") | try fromdateiso8601 catch 0) >= $since)
         | .key]' 2>/dev/null)" || ids='[]'
      jq -e --argjson ids "${ids:-[]}" '(.daemons // []) as $d
        | ($d | length > 0)
        and ([$d[] | select(.service_id as $s | $ids | index($s) | not)] | length == 0)
        and ([$d[] | select((.callouts // []) | index("not reporting status"))] | length == 0)' >/dev/null <<<"$js" && break
    fi
    if ((SECONDS >= deadline)); then
      log "$site: rbd-mirror daemon not registered after ${READY_TIMEOUT}s"
      return 1
    fi
    sleep 0.5
  done
  log "$site: rbd-mirror daemon registered ($(elapsed))"
}

# The rbd-mirror daemon of a site answers on its admin socket (it has connected to its cluster
# and runs its mirror loop).
mirror_daemon_answers() {
  local site="$1" asok
  asok="$(site_dir "$site")/run/client.$MIRROR_ID.asok"
  [[ -S "$asok" ]] || return 1
  timeout 10 ceph --admin-daemon "$asok" rbd mirror status >/dev/null 2>&1
}

# wait_mirror_running SITE [SINCE]: the daemon answers, then it is registered (see above).
wait_mirror_running() {
  local site="$1" since="${2:-}" deadline=$((SECONDS + READY_TIMEOUT))
  until mirror_daemon_answers "$site"; do
    if ((SECONDS >= deadline)); then
      log "$site: rbd-mirror does not answer on its admin socket after ${READY_TIMEOUT}s"
      return 1
    fi
    daemon_pid "$site" rbd-mirror >/dev/null || { log "$site: rbd-mirror exited"; return 1; }
    sleep 0.5
  done
  wait_mirror_daemon "$site" "$since"
}

# A site can be started again from its state dir if its keys, its mon store and its
# bluestore OSD are there (a memstore OSD from an older lab keeps nothing across a restart).
site_restartable() {
  local site="$1" sd
  sd="$(site_dir "$site")"
  [[ -f "$(site_conf "$site")" && -f "$(site_keyring "$site")" && -f "$sd/$site.client.$MIRROR_ID.keyring" &&
    -d "$sd/mon/a/store.db" && -f "$sd/osd/0/block" && -f "$sd/osd/0/mkfs_done" &&
    "$(cat "$sd/osd/0/type" 2>/dev/null)" == bluestore ]]
}

declare -A MIRROR_STARTED_AT=()

# Starts whatever daemon of the site is not running (mon first, rbd-mirror last).
start_site_daemons() {
  local site="$1" name port started=()
  if ! daemon_pid "$site" mon >/dev/null; then
    for port in "$(mon_v2_port "$site")" "$(mon_v1_port "$site")"; do
      port_in_use "$port" && { log "$site: port $port is in use by a process this lab did not start"; return 1; }
    done
  fi
  for name in mon mgr osd; do
    if ! daemon_pid "$site" "$name" >/dev/null; then
      launch "$site" "$name"
      started+=("$name")
    fi
  done
  if ! daemon_pid "$site" rbd-mirror >/dev/null; then
    MIRROR_STARTED_AT[$site]=$(($(date +%s) - 1))
    start_mirror "$site"
    started+=(rbd-mirror)
  fi
  if [[ ${#started[@]} -gt 0 ]]; then
    log "$site: started ${started[*]} from $(site_dir "$site") ($(elapsed))"
  fi
}

# start_sites SITE...: starts what is not running on those sites and waits until each is healthy
# and its rbd-mirror runs.
start_sites() {
  local site pids=() p rc=0
  for site in "$@"; do
    start_site_daemons "$site" || return 1
  done
  for site in "$@"; do
    { wait_ready "$site" && wait_mirror_running "$site" "${MIRROR_STARTED_AT[$site]:-}"; } &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  return "$rc"
}

valid_site() {
  [[ -n "$1" && " ${SITES[*]} " == *" $1 "* ]] || die "unknown site '${1:-}' (one of: ${SITES[*]})"
}

env_json() {
  local site args=()
  for site in "${SITES[@]}"; do
    args+=("$(jq -cn --arg name "$site" --arg conf "$(site_conf "$site")" \
      --arg keyring "$(site_keyring "$site")" --arg mon "$(mon_host "$site")" \
      --arg p1 "$POOL_MIRRORED" --arg p2 "$POOL_PLAIN" \
      '{name: $name, cluster: $name, conf: $conf, keyring: $keyring, clientId: "admin",
        pools: [$p1, $p2], monHost: $mon}')")
  done
  printf '%s\n' "${args[@]}" | jq -s '{sites: .}'
}

all_daemons_running() {
  local site name
  for site in "${SITES[@]}"; do
    for name in "${DAEMONS[@]}"; do daemon_pid "$site" "$name" >/dev/null || return 1; done
  done
}

healthy_now() { # all recorded daemons alive and both sites HEALTH_OK; retries for a short while
  local tries="${1:-1}" i site ok
  for ((i = 0; i < tries; i++)); do
    all_daemons_running || return 1
    ok=1
    for site in "${SITES[@]}"; do
      [[ "$(CONNECT_TIMEOUT=5 cephc "$site" health 2>/dev/null | awk '{print $1}')" == HEALTH_OK ]] || ok=0
    done
    [[ "$ok" == 1 ]] && return 0
    ((i + 1 < tries)) && sleep 1
  done
  return 1
}

# Serialises up/down/pair/unpair. "down" proceeds anyway after a while so that cleanup
# can never be blocked forever.
with_lock() {
  local wait_s="${1:-600}" mode="${2:-strict}"
  mkdir -p "$BASE_DIR"
  exec 9>"$LOCK_FILE"
  if ! flock -w "$wait_s" 9; then
    [[ "$mode" == lenient ]] || die "could not take lock $LOCK_FILE within ${wait_s}s"
    log "WARNING: lock $LOCK_FILE still held after ${wait_s}s; continuing without it"
  fi
}

# Tail of every daemon log, for diagnosing a failed "up" in CI.
dump_logs() {
  local f
  for f in "$DIR"/*/log/*; do
    [[ -s "$f" ]] || continue
    log "----- ${f#"$DIR"/} (last 15 lines)"
    grep -v '^$' "$f" | tail -n 15 | sed 's/^/[ceph-lab]   /' >&2
  done
}

up_failed() {
  log "$1"
  dump_logs
  log "up FAILED after $(elapsed); daemons may still run: use '$0 down' to clean up"
  return 1
}

# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
cmd_up() {
  with_lock
  if [[ -n "$(missing_bins)" ]]; then cmd_install; fi

  if [[ -d "$DIR" ]]; then
    if healthy_now 15; then
      env_json >"$DIR/sites.json"
      log "already up and healthy: $DIR ($(elapsed))"
      return 0
    fi
    local site restartable=1 any_stopped=0 name
    for site in "${SITES[@]}"; do
      site_restartable "$site" || restartable=0
      for name in "${DAEMONS[@]}"; do daemon_pid "$site" "$name" >/dev/null || any_stopped=1; done
    done
    if ((restartable && any_stopped)); then
      log "daemons are missing in $DIR; starting them again with their data"
      if READY_TIMEOUT=60 start_sites "${SITES[@]}"; then
        env_json >"$DIR/sites.json"
        log "up: both sites HEALTH_OK with their previous data, total $(elapsed); description in $DIR/sites.json"
        return 0
      fi
      log "the sites did not come back healthy"
    fi
    log "stale state in $DIR, cleaning it first"
    stop_all_recorded
    rm -rf "$DIR"
  fi

  local site port
  for site in "${SITES[@]}"; do
    for port in "$(mon_v2_port "$site")" "$(mon_v1_port "$site")"; do
      port_in_use "$port" && die "port $port is already in use (another Ceph not started from $DIR?)"
    done
  done

  log "creating sites ${SITES[*]} in $DIR"
  mkdir -p "$DIR"
  local pids=() rc=0 p
  for site in "${SITES[@]}"; do
    create_site "$site" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [[ "$rc" == 0 ]] || { up_failed "site creation failed; logs in $DIR/<site>/log"; return 1; }

  pids=()
  for site in "${SITES[@]}"; do
    setup_site_pools "$site" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [[ "$rc" == 0 ]] || { up_failed "pool setup failed"; return 1; }

  pids=()
  for site in "${SITES[@]}"; do
    { wait_ready "$site" && wait_mirror_daemon "$site"; } &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  [[ "$rc" == 0 ]] || { up_failed "sites did not become healthy; logs in $DIR/<site>/log"; return 1; }

  env_json >"$DIR/sites.json"
  log "up: both sites HEALTH_OK, pools unpaired, total $(elapsed); description in $DIR/sites.json"
}

cmd_down() {
  with_lock 60 lenient
  if [[ ! -d "$DIR" ]]; then
    log "down: nothing to do ($DIR does not exist)"
    return 0
  fi
  stop_all_recorded
  rm -rf "$DIR"
  log "down: stopped and removed $DIR ($(elapsed))"
}

cmd_status() {
  local site name pid ok=1 health line
  if [[ ! -d "$DIR" ]]; then
    echo "[ceph-lab] not up ($DIR does not exist)"
    return 1
  fi
  for site in "${SITES[@]}"; do
    echo "[ceph-lab] $site  conf=$(site_conf "$site")"
    for name in "${DAEMONS[@]}"; do
      if pid="$(daemon_pid "$site" "$name")"; then
        echo "[ceph-lab]   $name: running (pid $pid)"
      else
        echo "[ceph-lab]   $name: NOT running"
        ok=0
      fi
    done
    if health="$(CONNECT_TIMEOUT=5 cephc "$site" -s 2>&1)"; then
      while IFS= read -r line; do echo "[ceph-lab]   $line"; done <<<"$health"
      grep -q 'health: HEALTH_OK' <<<"$health" || ok=0
    else
      echo "[ceph-lab]   ceph -s failed: $health"
      ok=0
    fi
  done
  if [[ "$ok" == 1 ]]; then
    echo "[ceph-lab] both sites healthy"
    return 0
  fi
  echo "[ceph-lab] NOT healthy"
  return 1
}

cmd_env() { env_json; }

require_up() { all_daemons_running || die "lab is not up (run: $0 up)"; }
# The clusters' own daemons (mon, mgr, OSD) run; an rbd-mirror daemon may be stopped (stop-mirror).
require_clusters_up() {
  local site name
  for site in "${SITES[@]}"; do
    for name in "${DAEMONS[@]}"; do
      [[ "$name" == rbd-mirror ]] && continue
      daemon_pid "$site" "$name" >/dev/null || die "lab is not up: $site $name is not running (run: $0 up)"
    done
  done
}

cmd_pair() {
  with_lock
  require_up
  local peers_a peers_b
  peers_a="$(rbdc site-a mirror pool info "$POOL_MIRRORED" --format json | jq '.peers | length')"
  peers_b="$(rbdc site-b mirror pool info "$POOL_MIRRORED" --format json | jq '.peers | length')"
  if [[ "$peers_a" != 0 && "$peers_b" != 0 ]]; then
    log "pair: pool $POOL_MIRRORED is already paired (site-a: $peers_a peer(s), site-b: $peers_b); nothing to do"
    return 0
  fi
  if [[ "$peers_a" != 0 || "$peers_b" != 0 ]]; then
    die "pair: pool $POOL_MIRRORED is half paired (site-a: $peers_a peer(s), site-b: $peers_b); run unpair first"
  fi
  local token="$DIR/bootstrap-token"
  (umask 077 && rbdc site-a mirror pool peer bootstrap create --site-name site-a "$POOL_MIRRORED" >"$token")
  if ! rbdc site-b mirror pool peer bootstrap import --site-name site-b --direction rx-tx \
    "$POOL_MIRRORED" "$token" >&2; then
    rm -f "$token"
    die "pair: bootstrap import on site-b failed"
  fi
  rm -f "$token"
  log "pair: site-a <-> site-b paired on pool $POOL_MIRRORED (rx-tx) ($(elapsed))"
}

cmd_unpair() {
  with_lock
  require_up
  # A live rbd-mirror pings its peer cluster and re-creates its own (tx-only) peer entry there
  # if it is missing, until its pool replayer notices its local peer is gone (a few seconds).
  # So remove, then check that both sides stay empty for two rounds.
  local site uuid round quiet=0 deadline=$((SECONDS + 60))
  for ((round = 1; ; round++)); do
    local removed=0
    for site in "${SITES[@]}"; do
      for uuid in $(rbdc "$site" mirror pool info "$POOL_MIRRORED" --format json | jq -r '.peers[]?.uuid'); do
        rbdc "$site" mirror pool peer remove "$POOL_MIRRORED" "$uuid" >&2
        log "unpair: removed peer $uuid from $site/$POOL_MIRRORED"
        removed=1
      done
    done
    if ((removed)); then quiet=0; else quiet=$((quiet + 1)); fi
    ((quiet >= 2)) && break
    ((SECONDS >= deadline)) && die "unpair: peers keep coming back after 60s"
    sleep 5
  done
  log "unpair: done ($(elapsed))"
}

# restart-mirror [SITE...]: what an operator does after changing peers (rbd-mirror reads them at start).
cmd_restart_mirror() {
  with_lock
  require_clusters_up
  local targets=("$@") site
  [[ ${#targets[@]} -gt 0 ]] || targets=("${SITES[@]}")
  for site in "${targets[@]}"; do
    [[ " ${SITES[*]} " == *" $site "* ]] || die "unknown site $site"
  done
  local all=("${SITES[@]}")
  SITES=("${targets[@]}")
  stop_group rbd-mirror
  SITES=("${all[@]}")
  local since
  for site in "${targets[@]}"; do
    since=$(($(date +%s) - 1))
    start_mirror "$site"
    wait_mirror_daemon "$site" "$since" || die "$site: rbd-mirror did not come back"
  done
  log "restart-mirror: ${targets[*]} restarted ($(elapsed))"
}

# stop-mirror SITE...: replication into a site stops (its rbd-mirror daemon is stopped cleanly).
cmd_stop_mirror() {
  with_lock
  require_clusters_up
  [[ $# -gt 0 ]] || die "stop-mirror: name the site(s)"
  local site
  for site in "$@"; do
    [[ " ${SITES[*]} " == *" $site "* ]] || die "unknown site $site"
  done
  local all=("${SITES[@]}")
  SITES=("$@")
  stop_group rbd-mirror
  SITES=("${all[@]}")
  log "stop-mirror: $* stopped ($(elapsed))"
}

# crash SITE: a power loss of one site. Every daemon of the site gets SIGKILL at once; nothing
# is flushed or shut down cleanly, and the state dir (mon store, bluestore block file) stays.
cmd_crash() {
  local site="${1:-}"
  valid_site "$site"
  with_lock
  [[ -d "$DIR" ]] || die "lab is not up ($DIR does not exist)"
  local name pid pids=()
  for name in "${DAEMONS[@]}"; do
    if pid="$(daemon_pid "$site" "$name")"; then pids+=("$pid"); fi
  done
  if [[ ${#pids[@]} -eq 0 ]]; then
    log "crash: $site has no running daemon; nothing to do"
    return 0
  fi
  kill -KILL "${pids[@]}" 2>/dev/null || true
  local deadline=$((SECONDS + 10)) left
  while :; do
    left=0
    for pid in "${pids[@]}"; do pid_is_ours "$pid" "$site" && left=1; done
    ((left == 0)) && break
    ((SECONDS >= deadline)) && die "crash: $site: killed daemons still present after 10s"
    sleep 0.05
  done
  log "crash: $site killed (pids ${pids[*]}); its data stays in $(site_dir "$site"); bring it back with: $0 start $site ($(elapsed))"
}

# start SITE: brings one site back with its data; the other site is not touched.
cmd_start() {
  local site="${1:-}"
  valid_site "$site"
  with_lock
  [[ -d "$DIR" ]] || die "lab is not up ($DIR does not exist; run: $0 up)"
  site_restartable "$site" ||
    die "$site: $(site_dir "$site") cannot be restarted (missing state, or an OSD without a block file); run: $0 down && $0 up"
  if ! start_sites "$site"; then
    dump_logs
    die "start: $site did not come back healthy; logs in $(site_dir "$site")/log"
  fi
  log "start: $site is back with its data, HEALTH_OK, rbd-mirror running ($(elapsed))"
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}

main() {
  local cmd="${1:-}"
  case "$cmd" in
    install) cmd_install ;;
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    env) cmd_env ;;
    pair) cmd_pair ;;
    unpair) cmd_unpair ;;
    restart-mirror) shift; cmd_restart_mirror "$@" ;;
    stop-mirror) shift; cmd_stop_mirror "$@" ;;
    crash) cmd_crash "${2:-}" ;;
    start) cmd_start "${2:-}" ;;
    -h | --help | help) usage 0 ;;
    "") usage 2 ;;
    *) log "unknown command: $cmd"; usage ;;
  esac
}

main "$@"
