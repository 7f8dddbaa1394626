#!/usr/bin/env bash
# Node lab: emulates N compute nodes on this machine, each with
#   - its own mount + UTS namespace (hostname nodeK),
#   - its own zfs-fuse daemon with two real file-backed pools, `zones` and `data`,
#     mounted at /zones and /data *inside the node's namespace only*,
#   - its own sshd on 127.0.0.1:220K (root login by key, own ed25519 host key),
#   - its own libvirtd (qemu/kvm driver) whose VMs are real qemu processes.
# Nodes trust each other: inside nodeX, `ssh nodeY zfs list` works.
#
# Usage: scripts/lab/nodes.sh <command>
#   install                    install the Debian packages (idempotent, quick if present)
#   up [N]                     start N nodes (default 3); idempotent; writes nodes.json
#   down                       stop everything the lab started and remove its state
#   crash NODE                 kill -9 the node's daemons and VMs (power loss)
#   start NODE                 boot a crashed node again (pools re-imported, VMs shut off)
#   status                     per-node daemon and ssh health; exit 0 if all up
#   env                        print nodes.json
#   mkvm NODE VM [DISKS] [MB]  create a VM (DISKS=2 disks of MB=64 MiB) started paused
#   ssh NODE [CMD...]          run a command on a node as root over its sshd
#
# State: ${TANDEM_LAB_DIR:-/tmp/tandem-lab}/nodes (removed by `down`); libvirt's qemu
# capability cache is kept in ${TANDEM_LAB_CACHE_DIR:-/var/cache/tandem-lab} so that only the
# first `up` on a machine pays for probing qemu (~4 s).
#
# Layout on a node (paths as seen over the node's ssh):
#   pools `zones` -> /zones, `data` -> /data; a VM disk is the zfs filesystem
#   zones/<vm>-disk<i> holding /zones/<vm>-disk<i>/disk.img (raw). zfs-fuse has no zvols.
# On the host those mounts are invisible: /zones and /data stay empty directories there.
set -euo pipefail

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}"
export LC_ALL=C

LAB_ROOT="$(realpath -m "${TANDEM_LAB_DIR:-/tmp/tandem-lab}")"
DIR="$LAB_ROOT/nodes"
# qemu capability cache shared by all nodes and kept across `down` (probing qemu takes ~4 s)
CACHE_DIR="$(realpath -m "${TANDEM_LAB_CACHE_DIR:-/var/cache/tandem-lab}")"
BASE_PORT=2200
SELF="$(readlink -f "${BASH_SOURCE[0]}")"
NODE_PATH_ENV="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POOLS=(zones data)
declare -A POOL_SIZE=([zones]=512M [data]=256M)
PACKAGES=(zfs-fuse openssh-server openssh-client pv mbuffer libvirt-daemon
  libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86)
REQUIRED_FILES=(/usr/sbin/zfs-fuse /usr/sbin/zfs /usr/sbin/zpool /usr/sbin/sshd /usr/bin/ssh
  /usr/bin/ssh-keygen /usr/bin/pv /usr/bin/mbuffer /usr/sbin/libvirtd /usr/bin/virsh
  /usr/bin/qemu-system-x86_64 /usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so)

log() { echo "[node-lab] $*" >&2; }
die() { echo "[node-lab] ERROR: $*" >&2; exit 1; }

need_root() { [ "$(id -u)" = 0 ] || die "must run as root"; }

node_dir() { echo "$DIR/$1"; }
node_num() {
  local n="${1:-}"
  [[ "$n" =~ ^node([1-9][0-9]?)$ ]] || die "bad node name '$n' (expected node1, node2, ...)"
  echo "${BASH_REMATCH[1]}"
}
lab_count() { [ -f "$DIR/lab.env" ] && sed -n 's/^N=//p' "$DIR/lab.env" || echo 0; }
check_node_exists() {
  local k; k="$(node_num "$1")"
  [ "$k" -le "$(lab_count)" ] || die "$1 is not part of the lab (lab has $(lab_count) nodes; run up first)"
}

# ---------------------------------------------------------------- install
packages_present() {
  local f
  for f in "${REQUIRED_FILES[@]}"; do [ -e "$f" ] || return 1; done
  return 0
}

ensure_accounts() {
  # What libvirt-daemon-system would create (not installed: it pulls systemd-sysv).
  getent group kvm >/dev/null || groupadd -r kvm
  getent group libvirt-qemu >/dev/null || groupadd -r libvirt-qemu
  getent passwd libvirt-qemu >/dev/null ||
    useradd -r -g kvm -M -d /var/lib/libvirt -s /usr/sbin/nologin libvirt-qemu
  id -nG libvirt-qemu | tr ' ' '\n' | grep -qx libvirt-qemu || usermod -aG libvirt-qemu libvirt-qemu
  getent passwd sshd >/dev/null || useradd -r -M -d /run/sshd -s /usr/sbin/nologin sshd
}

cmd_install() {
  need_root
  if packages_present; then
    ensure_accounts
    log "packages already installed"
    return 0
  fi
  log "installing packages: ${PACKAGES[*]}"
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  local rc=0
  (
    export DEBIAN_FRONTEND=noninteractive
    apt-get -q -o DPkg::Lock::Timeout=600 update >/dev/null &&
      apt-get install -y -q -o DPkg::Lock::Timeout=600 --no-install-recommends "${PACKAGES[@]}"
  ) >&2 || rc=$?
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ "$rc" = 0 ] || die "apt-get failed (rc=$rc)"
  packages_present || die "packages installed but required files are missing"
  ensure_accounts
  log "install done"
}

# ---------------------------------------------------------------- processes
pid_alive() { # pid alive and not a zombie
  local pid="$1" st
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  st="$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# pid from a pid file, only if alive and running the expected binary
pidfile_pid() {
  local f="$1" exe="$2" pid
  [ -f "$f" ] || return 1
  pid="$(tr -dc 0-9 <"$f" 2>/dev/null)" || return 1
  pid_alive "$pid" || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$exe" ] || return 1
  echo "$pid"
}

zfs_pid() { pidfile_pid "$(node_dir "$1")/run/zfs-fuse.pid" /usr/sbin/zfs-fuse; }
sshd_pid() { pidfile_pid "$(node_dir "$1")/run/sshd.pid" /usr/sbin/sshd; }
libvirtd_pid() { pidfile_pid "$(node_dir "$1")/libvirt/run/libvirtd.pid" /usr/sbin/libvirtd; }
qemu_pids() {
  local f
  for f in "$(node_dir "$1")"/libvirt/run/qemu/*.pid; do
    [ -e "$f" ] || continue
    pidfile_pid "$f" /usr/bin/qemu-system-x86_64 || true
  done
}

# every process living in the node's mount+UTS namespaces (sshd sessions, qemu, ...)
ns_pids() {
  local nsf; nsf="$(node_dir "$1")/run/ns"
  [ -f "$nsf" ] || return 0
  local mnt uts pid p
  read -r mnt uts <"$nsf" || return 0
  [ -n "$mnt" ] && [ -n "$uts" ] || return 0
  # shellcheck disable=SC2012
  stat -L -c '%i %n' /proc/[0-9]*/ns/mnt 2>/dev/null | awk -v m="$mnt" '$1==m {print $2}' |
    while read -r p; do
      pid="${p#/proc/}"; pid="${pid%%/*}"
      [ "$pid" = "$$" ] && continue
      [ "$(stat -L -c %i "/proc/$pid/ns/uts" 2>/dev/null)" = "$uts" ] || continue
      pid_alive "$pid" && echo "$pid"
    done
  return 0
}

all_node_pids() {
  { zfs_pid "$1" || true; sshd_pid "$1" || true; libvirtd_pid "$1" || true; qemu_pids "$1"; ns_pids "$1"; } |
    sort -un
}

wait_reaped() { # wait until the PIDs have vanished from /proc (zombies reaped by PID 1 too)
  local t="$1"; shift
  local deadline=$((SECONDS + t)) p left
  while :; do
    left=""
    for p in "$@"; do [ -e "/proc/$p" ] && left="$left $p"; done
    [ -z "$left" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

wait_gone() { # wait_gone SECONDS PID...
  local t="$1"; shift
  local deadline=$((SECONDS + t)) p left
  while :; do
    left=""
    for p in "$@"; do pid_alive "$p" && left="$left $p"; done
    [ -z "$left" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.05
  done
}

node_running() { [ -n "$(all_node_pids "$1")" ]; }

# hard kill of everything belonging to a node
kill_node() {
  local node="$1" pids
  pids="$(all_node_pids "$node")"
  if [ -n "$pids" ]; then
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    wait_gone 5 $pids || log "warning: $node: processes still alive after SIGKILL: $pids"
  fi
  # a second sweep catches sessions forked while we were killing
  pids="$(ns_pids "$node")"
  # shellcheck disable=SC2086
  [ -z "$pids" ] || { kill -9 $pids 2>/dev/null || true; wait_gone 5 $pids || true; }
}

# ---------------------------------------------------------------- node init (runs inside the namespace)
write_file() { mkdir -p "$(dirname "$1")"; cat >"$1"; }

host_mount_targets() {
  # The node binds its own folders over these; the directories must exist on the host.
  mkdir -p /run/zfs /run/lock/zfs /var/lib/zfs /etc/zfs /root/.ssh /etc/libvirt /run/libvirt \
    /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/sshd /zones /data
  chmod 0755 /run/sshd
  [ -e /root/.bashrc ] || : >/root/.bashrc
  [ -e /etc/zfs/zfsrc ] || : >/etc/zfs/zfsrc
}

# bind SRC over TARGET (inside the private namespace)
bind() { mount --bind "$1" "$2"; }

init_node() { # internal: runs under `unshare --mount --uts --propagation private`
  local k="$1" node="node$1" d; d="$(node_dir "node$1")"
  set -x
  hostname "$node"
  bind "$d/zfs/run" /run/zfs
  bind "$d/zfs/lock" /run/lock/zfs
  bind "$d/zfs/lib" /var/lib/zfs
  bind "$d/zfs/zfsrc" /etc/zfs/zfsrc
  bind "$d/dot-ssh" /root/.ssh
  bind "$d/bashrc" /root/.bashrc
  bind "$d/hosts" /etc/hosts
  bind "$d/libvirt/etc" /etc/libvirt
  bind "$d/libvirt/run" /run/libvirt
  bind "$d/libvirt/lib" /var/lib/libvirt
  bind "$d/libvirt/log" /var/log/libvirt
  bind "$CACHE_DIR/libvirt" /var/cache/libvirt
  local p
  for p in "${POOLS[@]}"; do bind "$d/mnt/$p" "/$p"; done
  echo "$(stat -L -c %i /proc/self/ns/mnt) $(stat -L -c %i /proc/self/ns/uts)" >"$d/run/ns"

  /usr/sbin/zfs-fuse --pidfile "$d/run/zfs-fuse.pid" --no-kstat-mount -m 64 -a 0 -e 0 \
    --disable-page-cache
  local i
  for ((i = 0; i < 200; i++)); do [ -S /run/zfs/zfs_socket ] && break; sleep 0.05; done
  [ -S /run/zfs/zfs_socket ] || { echo "zfs-fuse socket did not appear"; return 1; }

  for p in "${POOLS[@]}"; do
    if [ -f "$d/disks/$p.created" ]; then
      zpool import -f -d "$d/disks" "$p"
    else
      zpool create -f -m "/$p" "$p" "$d/disks/$p.img"
      touch "$d/disks/$p.created"
    fi
  done

  /usr/sbin/libvirtd -d -p /run/libvirt/libvirtd.pid -f /etc/libvirt/libvirtd.conf
  for ((i = 0; i < 200; i++)); do [ -S /run/libvirt/libvirt-sock ] && break; sleep 0.05; done
  [ -S /run/libvirt/libvirt-sock ] || { echo "libvirtd socket did not appear"; return 1; }

  /usr/sbin/sshd -f "$d/sshd_config" -E "$d/logs/sshd.log"
  set +x
  echo "init of $node done"
}

# ---------------------------------------------------------------- node preparation (host side)
prepare_lab() {
  local n="$1" k
  mkdir -p "$DIR" "$CACHE_DIR/libvirt"
  chmod 0755 "$LAB_ROOT" "$DIR" 2>/dev/null || true
  echo "N=$n" >"$DIR/lab.env"
  [ -f "$DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "node-lab-client" -f "$DIR/id_ed25519"
  : >"$DIR/known_hosts"
  for ((k = 1; k <= n; k++)); do
    local d="$DIR/node$k"
    mkdir -p "$d"/{run,logs,disks,vms,dot-ssh,zfs/run,zfs/lock,zfs/lib} \
      "$d"/libvirt/{etc/qemu,run,lib,log}
    for p in "${POOLS[@]}"; do mkdir -p "$d/mnt/$p"; done
    [ -f "$d/ssh_host_ed25519_key" ] ||
      ssh-keygen -q -t ed25519 -N '' -C "node$k" -f "$d/ssh_host_ed25519_key"
    echo "[127.0.0.1]:$((BASE_PORT + k)) $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")" >>"$DIR/known_hosts"
    local p
    for p in "${POOLS[@]}"; do
      [ -f "$d/disks/$p.img" ] || truncate -s "${POOL_SIZE[$p]}" "$d/disks/$p.img"
    done
    : >"$d/bashrc"
    { cat /etc/hosts; echo "127.0.1.1 node$k"; } >"$d/hosts"
    write_file "$d/zfs/zfsrc" <<EOF
# zfs-fuse settings of lab node node$k (command-line flags repeat them)
max-arc-size = 64
fuse-attr-timeout = 0
fuse-entry-timeout = 0
EOF
    write_file "$d/sshd_config" <<EOF
# sshd of lab node node$k
Port $((BASE_PORT + k))
ListenAddress 127.0.0.1
HostKey $d/ssh_host_ed25519_key
PidFile $d/run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile /root/.ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxSessions 64
MaxStartups 100:30:200
SetEnv PATH=$NODE_PATH_ENV
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel INFO
EOF
    # libvirt: copy the stock client config, add daemon + qemu settings
    cp -f /etc/libvirt/libvirt.conf /etc/libvirt/libvirt-admin.conf "$d/libvirt/etc/" 2>/dev/null || true
    echo 'uri_default = "qemu:///system"' >>"$d/libvirt/etc/libvirt.conf"
    write_file "$d/libvirt/etc/libvirtd.conf" <<'EOF'
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
min_workers = 2
max_workers = 10
EOF
    write_file "$d/libvirt/etc/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
stdio_handler = "file"
cgroup_controllers = [ ]
namespaces = [ ]
EOF
  done
  # client ssh config: host side (absolute paths) and node side (/root/.ssh inside the node)
  local hostcfg="" nodecfg=""
  for ((k = 1; k <= n; k++)); do
    hostcfg+="Host node$k"$'\n'"  HostName 127.0.0.1"$'\n'"  Port $((BASE_PORT + k))"$'\n'
  done
  nodecfg="$hostcfg"
  hostcfg+="Host *"$'\n'"  User root"$'\n'"  IdentityFile $DIR/id_ed25519"$'\n'"  UserKnownHostsFile $DIR/known_hosts"$'\n'
  nodecfg+="Host *"$'\n'"  User root"$'\n'"  IdentityFile /root/.ssh/id_ed25519"$'\n'"  UserKnownHostsFile /root/.ssh/known_hosts"$'\n'
  local common="  IdentitiesOnly yes
  StrictHostKeyChecking yes
  BatchMode yes
  CheckHostIP no
  LogLevel ERROR
  ConnectTimeout 10
  ServerAliveInterval 15
"
  printf '%s%s' "$hostcfg" "$common" >"$DIR/ssh_config"
  for ((k = 1; k <= n; k++)); do
    local s="$DIR/node$k/dot-ssh"
    printf '%s%s' "$nodecfg" "$common" >"$s/config"
    cp -f "$DIR/id_ed25519" "$DIR/id_ed25519.pub" "$DIR/known_hosts" "$s/"
    cp -f "$DIR/id_ed25519.pub" "$s/authorized_keys"
    chmod 0700 "$s"; chmod 0600 "$s/id_ed25519" "$s/config"
  done
}

write_nodes_json() {
  local n="$1" k first=1 out='{"nodes":['
  for ((k = 1; k <= n; k++)); do
    local d="$DIR/node$k" hk fp
    hk="$(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"
    fp="$(ssh-keygen -l -E sha256 -f "$d/ssh_host_ed25519_key.pub" | awk '{print $2}')"
    [ "$first" = 1 ] || out+=','
    first=0
    out+="{\"name\":\"node$k\",\"host\":\"127.0.0.1\",\"port\":$((BASE_PORT + k)),\"user\":\"root\","
    out+="\"privateKeyPath\":\"$DIR/id_ed25519\",\"hostKey\":\"$hk\",\"hostKeySha256\":\"$fp\","
    out+="\"zpools\":[\"zones\",\"data\"],\"hypervisor\":\"libvirt\"}"
  done
  out+=']}'
  printf '%s\n' "$out" >"$DIR/nodes.json.tmp"
  mv -f "$DIR/nodes.json.tmp" "$DIR/nodes.json"
}

node_ssh() { # node_ssh nodeK CMD...  (from the host)
  local node="$1"; shift
  ssh -F "$DIR/ssh_config" -o ConnectTimeout=5 "$node" "$@"
}

# boot one node: fresh namespaces, clean volatile dirs (like /run after power loss)
boot_node() {
  local node="$1" d; d="$(node_dir "$1")"
  local k; k="$(node_num "$node")"
  rm -rf "$d/run/"* "$d/zfs/run/"* "$d/zfs/lock/"* "$d/libvirt/run/"*
  rm -f "$d/zfs/lib/zpool.cache"
  if ! unshare --mount --uts --propagation private "$SELF" _init "$k" \
    >"$d/logs/init.log" 2>&1 </dev/null; then
    echo "[node-lab] $node: init failed; last lines of $d/logs/init.log:" >&2
    tail -n 15 "$d/logs/init.log" >&2
    return 1
  fi
}

node_health() { # prints "sshd zfs libvirtd ssh" words: up/down ok/fail
  local node="$1" s z l c
  s=down; z=down; l=down; c=fail
  sshd_pid "$node" >/dev/null && s=up
  zfs_pid "$node" >/dev/null && z=up
  libvirtd_pid "$node" >/dev/null && l=up
  if [ "$s" = up ] && node_ssh "$node" true </dev/null >/dev/null 2>&1; then c=ok; fi
  echo "$s $z $l $c"
}

lab_healthy() {
  local n k; n="$(lab_count)"
  [ "$n" -gt 0 ] && [ -f "$DIR/nodes.json" ] || return 1
  for ((k = 1; k <= n; k++)); do
    [ "$(node_health "node$k")" = "up up up ok" ] || return 1
  done
}

# ---------------------------------------------------------------- commands
cmd_up() {
  need_root
  local n="${1:-3}"
  if ! [[ "$n" =~ ^[1-9][0-9]?$ ]] || [ "$n" -gt 50 ]; then die "bad node count '$n' (1..50)"; fi
  local t0; t0="$(date +%s.%N)"
  if [ -d "$DIR" ]; then
    if [ "$(lab_count)" = "$n" ] && lab_healthy; then
      log "already up with $n nodes ($DIR/nodes.json)"
      return 0
    fi
    log "found stale or different lab state in $DIR (nodes: $(lab_count)); cleaning it first"
    cmd_down
  fi
  cmd_install
  host_mount_targets
  log "preparing $n nodes in $DIR"
  prepare_lab "$n"
  local k pids=() failed=0
  for ((k = 1; k <= n; k++)); do
    boot_node "node$k" &
    pids+=($!)
  done
  for k in "${!pids[@]}"; do wait "${pids[$k]}" || failed=1; done
  if [ "$failed" = 1 ]; then
    log "some nodes failed to start; tearing down"
    cmd_down || true
    exit 1
  fi
  write_nodes_json "$n"
  if ! ls "$CACHE_DIR"/libvirt/qemu/capabilities/*.xml >/dev/null 2>&1; then
    log "probing qemu capabilities once (cached in $CACHE_DIR)"
    node_ssh node1 virsh domcapabilities --arch x86_64 --virttype kvm </dev/null >/dev/null ||
      log "warning: qemu capability probe failed"
  fi
  for ((k = 1; k <= n; k++)); do
    local i
    for ((i = 0; i < 50; i++)); do node_ssh "node$k" true </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
    [ "$i" -lt 50 ] || die "node$k: ssh does not answer"
    log "node$k up: ssh root@127.0.0.1 -p $((BASE_PORT + k)) (zfs-fuse $(zfs_pid "node$k"), libvirtd $(libvirtd_pid "node$k"), sshd $(sshd_pid "node$k"))"
  done
  log "lab up: $n nodes in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s; nodes.json: $DIR/nodes.json"
}

stop_node() { # stop used by down: VMs and daemons first, then export the pools, then zfs-fuse
  local node="$1" d z pids before
  d="$(node_dir "$node")"
  before="$(all_node_pids "$node" | tr '\n' ' ')"
  z="$(zfs_pid "$node" || true)"
  # 1. everything but zfs-fuse: qemu (holds disk images open on the pools), libvirtd, sshd and
  #    its sessions. The lab is being thrown away, so no grace period (libvirtd takes >2 s on TERM).
  pids="$({ qemu_pids "$node"; libvirtd_pid "$node" || true; sshd_pid "$node" || true; ns_pids "$node"; } |
    sort -un | grep -vx "${z:-x}" || true)"
  # shellcheck disable=SC2086
  [ -z "$pids" ] || { kill -9 $pids 2>/dev/null || true; wait_gone 5 $pids || true; }
  # 2. export the pools (flushes them), then stop zfs-fuse, which is slow (~5 s) on SIGTERM
  if [ -n "$z" ]; then
    # (zfs-fuse's zpool has no `export -a`)
    # shellcheck disable=SC2016
    nsenter -t "$z" -m -u -- timeout 20 sh -c \
      'for p in $(zpool list -H -o name); do zpool export -f "$p" || exit 1; done' \
      >>"$d/logs/down.log" 2>&1 || log "warning: $node: zpool export failed (see $d/logs/down.log)"
    kill -9 "$z" 2>/dev/null || true
    wait_gone 5 "$z" || true
  fi
  kill_node "$node"
  # PID 1 reaps orphaned daemons lazily (~1-2 s here): wait so that no zombie is left either
  # shellcheck disable=SC2086
  [ -z "${before// /}" ] || wait_reaped 8 $before || true
}

cmd_down() {
  need_root
  if [ ! -d "$DIR" ]; then
    log "lab is down (no state in $DIR)"
    return 0
  fi
  local node pids=()
  for d in "$DIR"/node*/; do
    [ -d "$d" ] || continue
    node="$(basename "$d")"
    stop_node "$node" &
    pids+=($!)
  done
  local p
  for p in "${pids[@]}"; do wait "$p" || true; done
  # nothing is mounted on the host side, but be defensive about leftovers under the lab dir
  local m
  findmnt -rn -o TARGET | { grep -F "$DIR/" || true; } | sort -r | while read -r m; do umount -l "$m" || true; done
  rm -rf "$DIR"
  log "lab down"
}

cmd_crash() {
  need_root
  local node="${1:-}"; check_node_exists "$node"
  local pids; pids="$(all_node_pids "$node" | tr '\n' ' ')"
  if [ -z "${pids// /}" ]; then log "$node is not running"; return 0; fi
  kill_node "$node"
  rm -f "$(node_dir "$node")/run/ns"
  log "$node crashed (killed: $pids)"
}

cmd_start() {
  need_root
  local node="${1:-}"; check_node_exists "$node"
  if [ "$(node_health "$node")" = "up up up ok" ]; then log "$node is already up"; return 0; fi
  if node_running "$node"; then
    log "$node is partly running; killing its leftovers first"
    kill_node "$node"
  fi
  boot_node "$node" || exit 1
  local i
  for ((i = 0; i < 50; i++)); do node_ssh "$node" true </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  [ "$i" -lt 50 ] || die "$node: ssh does not answer"
  log "$node started (pools imported, VMs shut off)"
}

cmd_status() {
  local n k all=0 s z l c
  n="$(lab_count)"
  if [ "$n" = 0 ]; then echo "[node-lab] lab is down"; return 1; fi
  for ((k = 1; k <= n; k++)); do
    read -r s z l c <<<"$(node_health "node$k")"
    echo "[node-lab] node$k port=$((BASE_PORT + k)) sshd=$s zfs-fuse=$z libvirtd=$l ssh=$c"
    [ "$s $z $l $c" = "up up up ok" ] || all=1
  done
  return "$all"
}

cmd_env() {
  [ -f "$DIR/nodes.json" ] || die "lab is not up (no $DIR/nodes.json)"
  cat "$DIR/nodes.json"
}

cmd_mkvm() {
  need_root
  local node="${1:-}" vm="${2:-}" disks="${3:-2}" size="${4:-64}"
  check_node_exists "$node"
  [[ "$vm" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,40}$ ]] || die "bad VM name '$vm'"
  [[ "$disks" =~ ^[1-9]$|^1[0-9]$ ]] || die "DISKS must be 1..19"
  [[ "$size" =~ ^[1-9][0-9]{0,4}$ ]] || die "SIZE_MB must be a positive number"
  log "$node: creating $disks disk dataset(s) of $size MiB for $vm"
  local mps
  mps="$(node_ssh "$node" bash -s -- "$vm" "$disks" "$size" <<'EOF'
set -euo pipefail
vm=$1 n=$2 size=$3
for ((i = 0; i < n; i++)); do
  ds="zones/$vm-disk$i"
  zfs create -o "tandem:vm=$vm" -o "tandem:disk=$i" "$ds"
  mp="$(zfs get -H -o value mountpoint "$ds")"
  dd if=/dev/urandom of="$mp/disk.img" bs=1M count="$size" status=none
  echo "$mp/disk.img"
done
EOF
  )" || die "$node: creating the disk datasets failed"
  local xml; xml="$(node_dir "$node")/vms/$vm.xml"
  local letters=abcdefghijklmnopqrstuvwxyz i=0 img
  # KVM when the machine offers it; plain qemu emulation (TCG) otherwise (the VMs only sit paused or idle).
  local vtype=qemu
  [ -c /dev/kvm ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] && vtype=kvm
  {
    cat <<EOF
<domain type='$vtype'>
  <name>$vm</name>
  <memory unit='MiB'>128</memory>
  <currentMemory unit='MiB'>128</currentMemory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <boot dev='hd'/>
  </os>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
EOF
    while read -r img; do
      cat <<EOF
    <disk type='file' device='disk'>
      <driver name='qemu' type='raw'/>
      <source file='$img'/>
      <target dev='vd${letters:$i:1}' bus='virtio'/>
    </disk>
EOF
      i=$((i + 1))
    done <<<"$mps"
    cat <<'EOF'
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
  } >"$xml"
  node_ssh "$node" 'virsh -q define /dev/stdin >/dev/null && virsh -q start --paused '"$vm"' >/dev/null' <"$xml" ||
    die "$node: defining/starting $vm failed"
  log "$node: $vm defined and started paused; disks: $(echo "$mps" | tr '\n' ' ')"
  echo "$xml"
}

cmd_ssh() {
  local node="${1:-}"; check_node_exists "$node"; shift
  exec ssh -F "$DIR/ssh_config" "$node" "$@"
}

usage() {
  sed -n '2,/^set -euo/p' "$SELF" | sed '$d; s/^# \{0,1\}//'
}

main() {
  local cmd="${1:-}"
  [ $# -gt 0 ] && shift
  case "$cmd" in
  install) cmd_install ;;
  up) cmd_up "$@" ;;
  down) cmd_down ;;
  crash) cmd_crash "$@" ;;
  start) cmd_start "$@" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  mkvm) cmd_mkvm "$@" ;;
  ssh) cmd_ssh "$@" ;;
  _init) init_node "$@" ;;
  -h | --help | help) usage ;;
  *) usage >&2; exit 2 ;;
  esac
}

main "$@"
