#!/usr/bin/env bash
# The managed plugin's config.json agrees with weft-plugin and its entrypoint:
# every setting of `weft-plugin --help` is an env entry of config.json, and
# the list weft-managed-entry maps NAME -> WEFT_NAME is the same list; the
# plugin interface, socket, propagated mount and entrypoint are the ones
# DESIGN.md names. No root, no Docker.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${WEFT_BIN:-$REPO/build/bin}/weft-plugin"
command -v jq >/dev/null || { echo "SKIP: needs jq" >&2; exit 77; }
[[ -x $BIN ]] || { echo "SKIP: no $BIN" >&2; exit 77; }
CFG="$REPO/config.json"
fail() { echo "FAIL [managed_config_check]: $*" >&2; exit 1; }

from_help="$("$BIN" --help | sed -n 's/^  --\([a-z-]*\).*/\1/p' | tr 'a-z-' 'A-Z_' | grep -vx -e HELP -e VERSION | sort)"
from_cfg="$(jq -r '.env[].name' "$CFG" | sort)"
from_entry="$(sed -n '/kSettings\[\] = {/,/};/p' "$REPO/packaging/weft-managed-entry.cc" | grep -o '"[A-Z_]*"' | tr -d '"' | sort)"
[[ -n $from_help ]] || fail "could not read settings from weft-plugin --help"
[[ $from_help == "$from_cfg" ]] || fail "config.json env differs from weft-plugin's settings:"$'\n'"$(diff <(echo "$from_help") <(echo "$from_cfg"))"
[[ $from_help == "$from_entry" ]] || fail "weft-managed-entry's list differs from weft-plugin's settings:"$'\n'"$(diff <(echo "$from_help") <(echo "$from_entry"))"

check() { # jq-expression expected
  local got
  got="$(jq -c "$1" "$CFG")"
  [[ $got == "$2" ]] || fail "config.json $1 is $got, want $2"
}
check '.interface.socket' '"weft.sock"'
check '.interface.types | sort' '["docker.ipamdriver/1.0","docker.networkdriver/1.0"]'
check '.network.type' '"host"'
check '.propagatedMount' '"/var/lib/weft"'
check '.entrypoint' '["/usr/bin/weft-managed-entry","/usr/bin/weft-plugin"]'
check '.linux.capabilities | sort' '["CAP_NET_ADMIN","CAP_SETGID","CAP_SETUID","CAP_SYS_ADMIN"]'
check '[.env[] | select(.name == "SOCKET") | .value][0]' '"/run/docker/plugins/weft.sock"'
check '[.env[] | select(.name == "STATE_DIR") | .value][0]' '"/var/lib/weft"'
check '[.env[] | select(.name == "SCOPE") | .value][0]' '"global"'
check '[.env[] | select(.name == "FAKE_KERNEL") | .value][0]' '"false"'
# Namespaces outlive disable/upgrade: a second mount in the host's /run.
check '[.env[] | select(.name == "NETNS_KEEP_DIR") | .value][0]' '"/host/run/weft/netns"'
# Service VIPs: the engine's socket and containers' namespaces, both through hostrun.
check '[.env[] | select(.name == "ENGINE_SOCKET") | .value][0]' '"/host/run/docker.sock"'
check '[.env[] | select(.name == "HOST_RUN_DIR") | .value][0]' '"/host/run"'
check '[.mounts[] | select(.name == "hostrun") | [.source, .destination, .options]][0]' '["/run","/host/run",["rbind","rshared"]]'
# Fixed settings are not settable; all others are.
check '[.env[] | select(.settable == ["value"]) | .name] | sort' \
  "$(jq -c '[.env[].name | select(. != "SOCKET" and . != "STATE_DIR" and . != "FAKE_KERNEL" and . != "HOST_RUN_DIR")] | sort' "$CFG")"
# Every env value passes weft-plugin's own validation (it exits 2 on a bad setting).
env_args=()
while IFS= read -r kv; do env_args+=("WEFT_$kv"); done < <(jq -r '.env[] | "\(.name)=\(.value)"' "$CFG")
out="$(env -i "${env_args[@]}" "$BIN" --version 2>&1)" || fail "weft-plugin refuses config.json's defaults: $out"
# The Dockerfile copies exactly what .dockerignore lets into the context
# (build-plugin.sh hashes that set to decide whether a cached rootfs is current).
from_ignore="$(sed -n 's/^!\(.*\)$/\1/p' "$REPO/.dockerignore" | sort)"
from_copy="$(awk '$1 == "COPY" && $2 !~ /^--from/ {print $2}' "$REPO/Dockerfile" | sed 's|^\./||; s|/$||' | sort)"
[[ $from_ignore == "$from_copy" ]] || fail ".dockerignore and the Dockerfile's COPY lines differ:"$'\n'"$(diff <(echo "$from_ignore") <(echo "$from_copy"))"
echo "PASS [managed_config_check]" >&2
