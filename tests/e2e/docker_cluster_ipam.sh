#!/usr/bin/env bash
# Cluster-wide IPAM on three standalone hosts (issue 12): the same
# `docker network create -d weft --ipam-driver weft --subnet 10.60.0.0/24 n1`
# on each host, no --ip-range.
#
# * 8 containers per host started in parallel on all three hosts at once:
#   all 24 addresses are unique and every container reaches the 23 others.
# * Each host holds its own blocks (weftctl ipam): no block has two owners,
#   no conflict is reported.
# * --ip of an address another host's block holds is refused naming that
#   host; --ip outside the pool is refused.
# * h3 restarts weft and dockerd (the containers come back by their restart
#   policy): again 24 unique addresses, every pair reachable; h3 kept its
#   block.
# Takes ~90 s.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
e2e_bed_up 3

HOSTS=(h1 h2 h3)
KEY="$(new_cluster_key)"
PER_HOST=8
show_peers_on_failure
# shellcheck disable=SC2016  # expanded when the hook runs
e2e_on_exit eval '((E2E_RC == 0)) || for h in "${HOSTS[@]}"; do echo "---- weftctl ipam on $h" >&2; weftctl_on $h ipam >&2; done'

# start_all : PER_HOST containers on every host, all docker runs at once.
start_all() {
  local h i pids=() rc=0
  for h in "${HOSTS[@]}"; do
    for ((i = 1; i <= PER_HOST; i++)); do
      dh "$h" run -d --name "$h-c$i" --network n1 --restart always --stop-timeout 1 \
        busybox:local sleep 3600 >/dev/null &
      pids+=($!)
    done
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  ((rc == 0)) || fail "a docker run failed"
}
# addresses : "HOST NAME IP" of every container, one a line.
addresses() {
  local h c
  for h in "${HOSTS[@]}"; do
    for c in $(dh "$h" ps --format '{{.Names}}' | sort); do
      echo "$h $c $(ctr_ip_on "$h" "$c" n1)"
    done
  done
}
# all_unique : 3 x PER_HOST running containers, no empty and no repeated
# address.
all_unique() {
  local list n uniq
  list="$(addresses)"
  n="$(awk '$3 != "" {print $3}' <<<"$list" | wc -l)"
  uniq="$(awk '$3 != "" {print $3}' <<<"$list" | sort -u | wc -l)"
  [[ $n == $((3 * PER_HOST)) && $uniq == "$n" ]] || {
    echo "addresses ($n, $uniq unique):"
    echo "$list"
    return 1
  }
}
# every_pair_reaches : each container pings all the others (in parallel
# inside the container, one docker exec each).
every_pair_reaches() {
  local list h c ip targets out bad=0
  list="$(addresses)"
  while read -r h c ip; do
    targets="$(awk -v me="$ip" '$3 != me {print $3}' <<<"$list" | tr '\n' ' ')"
    # shellcheck disable=SC2016  # runs in the container
    out="$(dh "$h" exec "$c" sh -c 'for t in '"$targets"'; do (ping -c 1 -W 2 $t >/dev/null 2>&1 || echo "no answer from $t") & done; wait' 2>&1)" || {
      echo "$h/$c ($ip): docker exec failed: $out"
      bad=1
      continue
    }
    [[ -z $out ]] || {
      echo "$h/$c ($ip): $out"
      bad=1
    }
  done <<<"$list"
  return "$bad"
}
# ipam_json HOST : `weftctl --json ipam` of HOST.
ipam_json() { weftctl_on "$1" --json ipam; }
# blocks_have_one_owner HOST : in HOST's view no block is held by two hosts
# and nothing is in conflict.
blocks_have_one_owner() {
  local j
  j="$(ipam_json "$1")"
  [[ $(jq '[.pools[].held[] | select((.owners | map(select(.released != true)) | length) > 1)] | length' <<<"$j") == 0 ]] || {
    echo "$1: a block with two owners: $j"
    return 1
  }
  [[ $(jq '.conflicts' <<<"$j") == 0 ]] || { echo "$1: conflicts: $j"; return 1; }
}
# own_blocks HOST : the blocks HOST holds itself, sorted.
own_blocks() { ipam_json "$1" | jq -r '.pools[].held[] | select(any(.owners[]; .self == true)) | .block' | sort; }

step "weft on three hosts; the same network on each, no --ip-range"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY"; done
wait_until 20 converged h1 h2 h3
for h in "${HOSTS[@]}"; do assert_ok dh "$h" network create -d weft --ipam-driver weft --subnet 10.60.0.0/24 n1; done
for h in "${HOSTS[@]}"; do
  assert_eq true "$(ipam_json "$h" | jq -r .enabled)" "cluster-wide IPAM on $h"
done

step "$PER_HOST containers per host, started in parallel on all hosts at once"
timer_start run
start_all
log "$((3 * PER_HOST)) containers started in $(timer_ms run) ms"
assert_ok all_unique
log "addresses: $(addresses | awk '{print $3}' | sort -t. -k4 -n | tr '\n' ' ')"
wait_until 30 every_pair_reaches
log "every pair reaches the other $(timer_ms run) ms after the docker runs began"
for h in "${HOSTS[@]}"; do assert_ok blocks_have_one_owner "$h"; done
weftctl_on h1 ipam >&2

step "--ip: refused when another host's block holds it, or outside the pool"
other_ip="$(ctr_ip_on h2 h2-c1 n1)"
assert_fails dh h1 run -d --name taken --network n1 --ip "$other_ip" busybox:local sleep 3600
assert_contains "$E2E_OUT" "held by host $TB_h2_ADDR" "--ip of h2's address on h1"
dh h1 rm -f taken >/dev/null 2>&1 || true
assert_fails dh h1 run -d --name outside --network n1 --ip 10.61.0.5 busybox:local sleep 3600
dh h1 rm -f outside >/dev/null 2>&1 || true

step "h3 restarts weft and dockerd"
blocks_before="$(own_blocks h3)"
assert_ok tb dockerd-stop h3
assert_ok tb weft-stop h3
weft_start_on h3 "$KEY"
timer_start restart
assert_ok tb dockerd-start h3
wait_until 30 converged h1 h2 h3
wait_until 60 all_unique
wait_until 30 every_pair_reaches
log "after h3's restart: 24 unique addresses, every pair reaches the other $(timer_ms restart) ms after dockerd-start"
for h in "${HOSTS[@]}"; do assert_ok blocks_have_one_owner "$h"; done
assert_eq "$blocks_before" "$(own_blocks h3)" "h3's blocks after its restart"

e2e_pass
