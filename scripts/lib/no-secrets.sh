#!/usr/bin/env bash
# After the real-lab tests: no secret of the labs appears in clear in what the tests left behind.
# Secrets: every cephx key of both clusters (admin, rbd-mirror, and the rbd-mirror-peer key that
# bootstrap tokens carry) and the nodes' SSH private key. Searched: the data directories of the
# servers the tests ran (databases, logs, run/ files excepted only where a keyring was pasted on
# purpose — the lab registers keyrings by path, so none is), the tests' results and logs, and the
# history exports the tests downloaded. Prints each hit; exits 1 if there is any.
# Usage: no-secrets.sh RESULTS_DIR
set -uo pipefail
RESULTS="${1:?results dir}"
LAB="${TANDEM_LAB_DIR:-/tmp/tandem-lab}"
patterns="$(mktemp)"
trap 'rm -f "$patterns"' EXIT

# cephx keys (base64, 40 characters) from the lab's keyrings, and the peer key from each cluster.
grep -hoE 'key = [A-Za-z0-9+/=]{40}' "$LAB"/ceph/*/*.keyring 2>/dev/null | awk '{print $3}' >>"$patterns"
for site in site-a site-b; do
  conf="$LAB/ceph/$site/$site.conf"
  [ -f "$conf" ] || continue
  ceph --cluster "$site" -c "$conf" --id admin --keyring "$LAB/ceph/$site/$site.client.admin.keyring" \
    --connect-timeout 5 auth get-key client.rbd-mirror-peer 2>/dev/null >>"$patterns" && echo >>"$patterns"
done
# The SSH private key: the lines of its base64 body past the third (the first ones are the format
# header, the same in every key, and the public key).
[ -f "$LAB/nodes/id_ed25519" ] && grep -vE '^-----|^$' "$LAB/nodes/id_ed25519" | awk 'NR > 3 && length($0) >= 40' >>"$patterns"
sed -i '/^$/d' "$patterns"
sort -u -o "$patterns" "$patterns"
n=$(wc -l <"$patterns")
if [ "$n" -lt 3 ]; then
  echo "no-secrets: found only $n secret(s) of the labs to look for (labs down?)" >&2
  exit 1
fi

places=("$RESULTS" /tmp/tandem-build.log /tmp/tandem-e2e-lab-data /tmp/tandem-e2e-data test-results test-results-lab)
for d in /tmp/tandem-*; do
  case "$d" in "$LAB"|/tmp/tandem-lab*) continue ;; esac
  places+=("$d")
done
existing=()
for p in "${places[@]}"; do [ -e "$p" ] && existing+=("$p"); done
# -a: databases are binary; -F: fixed strings.
hits="$(grep -rlaF -f "$patterns" "${existing[@]}" 2>/dev/null)"
if [ -n "$hits" ]; then
  echo "no-secrets: lab secrets found in clear in:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "no-secrets: none of $n lab secrets found in ${#existing[@]} places"
