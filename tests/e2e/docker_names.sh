#!/usr/bin/env bash
# Names across hosts (issue 12) on two standalone hosts, with the one host
# setting weft needs: dockerd's `--dns 169.254.53.53` (daemon.json "dns").
# The same `docker network create` on both hosts, no per-container flag.
#
# * A container on h1 resolves (nslookup) and pings, by name, a container on
#   h2; also by its --network-alias, and by a compose service name
#   (label com.docker.compose.service) whose replicas are on both hosts --
#   each replica answered first in turn (round robin).
# * A container on another weft network (n2) cannot resolve those names.
# * A removed container's name stops resolving on the other host (the time
#   it takes is logged).
# * weftctl status says names are on.
# Takes ~60 s.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
export TB_DOCKERD_ARGS="--dns 169.254.53.53${TB_DOCKERD_ARGS:+ $TB_DOCKERD_ARGS}"
e2e_bed_up 2

HOSTS=(h1 h2)
KEY="$(new_cluster_key)"
show_peers_on_failure

# resolves HOST CTR NAME : NAME's addresses as CTR on HOST resolves them
# (through Docker's embedded DNS), one a line; fails when it does not.
resolves() {
  local out
  out="$(dh "$1" exec "$2" nslookup "$3" 2>&1)" || return 1
  # busybox nslookup: the server's own "Address" line comes first, then the answers.
  awk '/^Name:/ {found = 1} found && /^Address/ {print $NF}' <<<"$out" | grep -E '^[0-9.]+$'
}
resolves_to() { [[ $(resolves "$1" "$2" "$3" | sort | tr '\n' ' ') == "$4" ]]; }
no_answer() { ! resolves "$1" "$2" "$3" >/dev/null; }

step "weft on two hosts, names from each host's engine; n1 and n2 on both"
for h in "${HOSTS[@]}"; do weft_start_on "$h" "$KEY" --engine-socket "$(hvar "$h" DIR)/docker.sock"; done
wait_until 20 converged h1 h2
for h in "${HOSTS[@]}"; do
  assert_ok dh "$h" network create -d weft --ipam-driver weft --subnet 10.70.0.0/24 n1
  assert_ok dh "$h" network create -d weft --ipam-driver weft --subnet 10.71.0.0/24 n2
done
assert_contains "$(weftctl_on h1 status)" "names             on, answered at 169.254.53.53" "weftctl status on h1"

step "containers: db (alias store) and web-2 on h2, web-1 and the clients on h1"
assert_ok dh h2 run -d --name db --network n1 --network-alias store busybox:local sleep 3600
assert_ok dh h2 run -d --name web-2 --network n1 --label com.docker.compose.service=web busybox:local sleep 3600
assert_ok dh h1 run -d --name web-1 --network n1 --label com.docker.compose.service=web busybox:local sleep 3600
assert_ok dh h1 run -d --name cli --network n1 busybox:local sleep 3600
assert_ok dh h1 run -d --name other --network n2 busybox:local sleep 3600
db_ip="$(ctr_ip_on h2 db n1)"
web_ips="$(printf '%s\n' "$(ctr_ip_on h1 web-1 n1)" "$(ctr_ip_on h2 web-2 n1)" | sort | tr '\n' ' ')"

step "h1 resolves and pings h2's container by name, alias and service name"
wait_until 20 resolves_to h1 cli db "$db_ip "
assert_eq "$db_ip " "$(resolves h1 cli store | sort | tr '\n' ' ')" "the alias store"
assert_ok dh h1 exec cli ping -c 1 -W 2 db
assert_ok dh h1 exec cli ping -c 1 -W 2 store
wait_until 20 resolves_to h1 cli web "$web_ips"
# Round robin: in a few lookups each replica comes first.
firsts="$(for _ in 1 2 3 4; do resolves h1 cli web | head -1; done | sort -u | tr '\n' ' ')"
assert_eq "$web_ips" "$firsts" "first answers for web over four lookups"
# And the other way: h2 resolves h1's container.
wait_until 20 resolves_to h2 db cli "$(ctr_ip_on h1 cli n1) "
assert_ok dh h2 exec db ping -c 1 -W 2 cli

step "a container on another weft network resolves none of them"
assert_ok no_answer h1 other db
assert_ok no_answer h1 other web

step "a removed container's name stops resolving on the other host"
assert_ok dh h2 rm -f db
timer_start gone
wait_until 20 no_answer h1 cli db
log "db stopped resolving on h1 $(timer_ms gone) ms after docker rm -f returned on h2"
assert_ok no_answer h1 cli store
assert_match '"answered": [1-9]' "$(weftctl_on h1 --json status)" "h1's responder answered"

e2e_pass
