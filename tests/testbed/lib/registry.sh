# shellcheck shell=bash
# testbed.sh: a Docker registry on the underlay -- `registry-start`,
# `registry-stop`.

registry_pid() {
  local pf="$TB_DIR/registry/registry.pid" p
  [[ -f $pf ]] || return 1
  p="$(cat "$pf")"
  [[ $p =~ ^[0-9]+$ ]] && alive "$p" && cmdline_has "$p" "$TB_DIR/registry" || return 1
  echo "$p"
}

# A registry (Debian's docker-registry, no auth, storage under $TB_DIR) in a
# namespace of its own, cabled to the underlay bridge like a host.
cmd_registry_start() {
  load_env
  [[ ${TB_UNDERLAY:-ipv4} == ipv4 ]] || die "registry-start needs an IPv4 underlay (this bed's is $TB_UNDERLAY)"
  local ns="${TB_NS_PREFIX}r" d="$TB_DIR/registry" addr="$REGISTRY_IP:$REGISTRY_PORT" p
  local bin
  bin="$(command -v docker-registry || true)"
  [[ -n $bin ]] || die "docker-registry not found (apt-get install docker-registry)"
  if p="$(registry_pid)"; then log "registry already running (pid $p) at $addr"; echo "$addr"; return 0; fi
  mkdir -p "$d/data"
  if [[ ! -e /run/netns/$ns ]]; then cable_ns "$ns" reg "$REGISTRY_IP"; fi
  cat >"$d/config.yml" <<EOC
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $d/data
  delete:
    enabled: true
http:
  addr: $addr
EOC
  spawn_recording_pid "$d/registry.pid" nsenter --net="/run/netns/$ns" -- "$bin" serve "$d/config.yml" \
    </dev/null >>"$d/registry.log" 2>&1 &
  local launcher=$! deadline
  deadline=$(($(now_ms) + 20000))
  until nsenter --net="/run/netns/$ns" -- curl -sf --max-time 1 "http://$addr/v2/" >/dev/null 2>&1; do
    if ! alive "$launcher"; then tail -n 20 "$d/registry.log" >&2 || true; die "registry exited"; fi
    (($(now_ms) > deadline)) && { tail -n 20 "$d/registry.log" >&2 || true; die "registry did not answer at $addr"; }
    sleep 0.1
  done
  grep -q '^TB_REGISTRY_ADDR=' "$TB_DIR/env" || printf 'TB_REGISTRY_ADDR=%q\nTB_REGISTRY_NS=%q\n' "$addr" "$ns" >>"$TB_DIR/env"
  log "registry running (pid $(cat "$d/registry.pid")) at $addr (netns $ns)"
  echo "$addr"
}

cmd_registry_stop() {
  load_env
  local ns="${TB_NS_PREFIX}r" p
  if p="$(registry_pid)"; then
    kill -TERM "$p"
    local deadline=$(($(now_ms) + 10000))
    while alive "$p"; do
      (($(now_ms) > deadline)) && { kill -KILL "$p" 2>/dev/null || true; }
      sleep 0.05
    done
  fi
  rm -f "$TB_DIR/registry/registry.pid"
  [[ -e /run/netns/$ns ]] && ip netns del "$ns"
  log "registry stopped"
}
