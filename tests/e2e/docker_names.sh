#!/usr/bin/env bash
# Names across hosts (issue 12) on two standalone hosts, with the one host
# setting weft needs: dockerd's `--dns 169.254.53.53` (daemon.json "dns").
# The same `docker network create` on both hosts, no per-container flag.
#
# * A container on h1 resolves (busybox nslookup, and glibc's resolver:
#   `getent hosts`, with Debian's nsswitch "hosts: files dns") and pings, by
#   name, a container on h2; also by its --network-alias, and by a compose
#   service name (label com.docker.compose.service) whose replicas are on
#   both hosts -- each replica answered first in turn (round robin).
# * The responder answers over TCP too (a framed query straight to it).
# * A container on another weft network (n2) cannot resolve those names.
# * A container on both n1 and n2 (on h2) is resolved by n1's containers to
#   its n1 address and by n2's to its n2 address; it resolves the names of
#   both networks itself.
# * A removed container's name stops resolving on the other host (the time
#   it takes is logged).
# * weftctl status says names are on.
# * A real client, Debian's docker-compose: one compose file (network
#   `driver: weft`, `ipam: driver: weft`), the same project
#   brought up on each host with a different service; the services reach
#   each other by service name across hosts; `docker-compose down` on both
#   leaves no weft network or endpoint behind.
# Takes ~34 s.
# shellcheck disable=SC2154  # TB_* come from the bed's env file
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source-path=SCRIPTDIR source=weft_lib.sh
source "$E2E_LIB_DIR/weft_lib.sh"

e2e_require_multihost
command -v docker-compose >/dev/null || e2e_skip "no docker-compose (apt-get install docker-compose)"
export TB_DOCKERD_ARGS="--dns 169.254.53.53${TB_DOCKERD_ARGS:+ $TB_DOCKERD_ARGS}"
# glibc's getent (with its libc) in the image: the resolver of Debian-based images.
export TB_IMAGE_BINS="iperf3 getent"
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
# getent_hosts HOST CTR NAME : NAME's addresses through glibc (nsswitch, then
# Docker's embedded DNS), sorted, space-separated.
getent_hosts() { dh "$1" exec "$2" getent hosts "$3" | awk '{print $1}' | sort | tr '\n' ' '; }
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
# glibc's resolver, as a Debian-based image has it: name, alias, service.
assert_eq "$db_ip " "$(getent_hosts h1 cli db)" "getent hosts db"
assert_eq "$db_ip " "$(getent_hosts h1 cli store)" "getent hosts store"
assert_eq "$web_ips" "$(getent_hosts h1 cli web)" "getent hosts web"
assert_fails dh h1 exec other getent hosts db
# Over TCP, straight to the responder (RFC 7766 framing): an A query for db.
tcp_answer="$(dh h1 exec cli sh -c "printf '\\000\\024\\022\\064\\001\\000\\000\\001\\000\\000\\000\\000\\000\\000\\002db\\000\\000\\001\\000\\001' |
  nc -w 2 169.254.53.53 53 | od -An -tu1" | tr -s ' \n' ' ')"
assert_match "^ ?0 [0-9]+ 18 52 .* ${db_ip//./ } ?$" "$tcp_answer" "TCP answer for db (id 0x1234, ends with db's address)"
assert_match '^[1-9][0-9]*$' "$(weftctl_on h1 --json status | jq '.names.tcp.accepted')" "TCP connections h1's responder accepted"
# And the other way: h2 resolves h1's container.
wait_until 20 resolves_to h2 db cli "$(ctr_ip_on h1 cli n1) "
assert_ok dh h2 exec db ping -c 1 -W 2 cli

step "a container on another weft network resolves none of them"
assert_ok no_answer h1 other db
assert_ok no_answer h1 other web

step "a container on n1 and n2: named on each network with that network's address; it resolves both"
assert_ok dh h2 run -d --name dual --network n1 busybox:local sleep 3600
assert_ok dh h2 network connect n2 dual
dual_n1="$(ctr_ip_on h2 dual n1)"
dual_n2="$(ctr_ip_on h2 dual n2)"
wait_until 20 resolves_to h1 cli dual "$dual_n1 "
wait_until 20 resolves_to h1 other dual "$dual_n2 "
assert_eq "$dual_n2 " "$(getent_hosts h1 other dual)" "getent hosts dual on n2"
# dual itself: cli is on n1 only, other on n2 only (both on h1).
wait_until 20 resolves_to h2 dual cli "$(ctr_ip_on h1 cli n1) "
wait_until 20 resolves_to h2 dual other "$(ctr_ip_on h1 other n2) "
assert_ok dh h2 exec dual ping -c 1 -W 2 other
# other (n2 only) still resolves nothing of n1's.
assert_ok no_answer h1 other cli

step "a removed container's name stops resolving on the other host"
assert_ok dh h2 rm -f db
timer_start gone
wait_until 20 no_answer h1 cli db
log "db stopped resolving on h1 $(timer_ms gone) ms after docker rm -f returned on h2"
assert_ok no_answer h1 cli store
assert_match '"answered": [1-9]' "$(weftctl_on h1 --json status)" "h1's responder answered"

step "docker-compose: one project, svc-a on h1 and svc-b on h2, by service name across hosts"
COMPOSE_DIR="$TB_DIR/compose"
mkdir -p "$COMPOSE_DIR"
# What a user writes first: the network driver and weft's IPAM, nothing
# else. Each host picks the default pool (the same /24 here: the hosts have
# the same weft networks), cluster-wide like any pool of weft's IPAM. (The
# README recommends `options: weft.name:` as well, which hosts with other
# networks need; that pool is the --ipam-opt weft.name path the
# docker_cluster_ipam_faults test covers.)
cat >"$COMPOSE_DIR/docker-compose.yml" <<'YAML'
services:
  svc-a:
    image: busybox:local
    command: sleep 3600
  svc-b:
    image: busybox:local
    command: sleep 3600
networks:
  default:
    driver: weft
    ipam:
      driver: weft
YAML
# dc HOST ARGS... : docker-compose for project proj against HOST's dockerd.
dc() {
  local h="$1"
  shift
  timeout 60 env DOCKER_CONFIG="$TB_DIR/cli" docker-compose -H "$(hvar "$h" DOCKER_HOST)" \
    -f "$COMPOSE_DIR/docker-compose.yml" -p proj "$@"
}
assert_ok dc h1 up -d svc-a
assert_ok dc h2 up -d svc-b
assert_eq "weft" "$(dh h1 network inspect -f '{{.Driver}}' proj_default)" "compose network driver on h1"
subnet_h1="$(dh h1 network inspect -f '{{(index .IPAM.Config 0).Subnet}}' proj_default)"
subnet_h2="$(dh h2 network inspect -f '{{(index .IPAM.Config 0).Subnet}}' proj_default)"
assert_eq "$subnet_h1" "$subnet_h2" "proj_default's pool on h1 and h2"
a_ctr="$(dc h1 ps -q svc-a)"
b_ctr="$(dc h2 ps -q svc-b)"
a_ip="$(ctr_ip_on h1 "$a_ctr" proj_default)"
b_ip="$(ctr_ip_on h2 "$b_ctr" proj_default)"
assert_ne "$a_ip" "$b_ip" "svc-a's and svc-b's addresses"
wait_until 20 resolves_to h1 "$a_ctr" svc-b "$b_ip "
assert_ok dc h1 exec -T svc-a ping -c 1 -W 2 svc-b
wait_until 20 resolves_to h2 "$b_ctr" svc-a "$a_ip "
assert_ok dc h2 exec -T svc-b ping -c 1 -W 2 svc-a
net_id_h1="$(net_id_on h1 proj_default)"
net_id_h2="$(net_id_on h2 proj_default)"

step "docker-compose down on both hosts leaves no weft network or endpoint"
assert_ok dc h1 down -t 0
assert_ok dc h2 down -t 0
for h in h1 h2; do
  assert_not_contains "$(dh "$h" network ls --format '{{.Name}}')" "proj_default" "networks on $h after down"
  id_var="net_id_$h"
  assert_not_contains "$(weftctl_on "$h" --json networks)" "${!id_var:0:12}" "weft networks on $h after down"
  assert_not_contains "$(weftctl_on "$h" --json endpoints)" "${!id_var:0:12}" "weft endpoints on $h after down"
done

e2e_pass
