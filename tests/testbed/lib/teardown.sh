# shellcheck shell=bash
# testbed.sh: `down` -- finds the bed's processes by pid, kills them, removes
# the cgroups, mounts, namespaces and files; works on a half-up bed too.

# Prints "pid ppid state" for every process.
proc_table() { ps -e -o pid=,ppid=,stat= 2>/dev/null || true; }

# pids of the bed's processes: members of the bed's network namespaces, pids
# from its pid files (if their command line names the bed), processes in the
# hosts' cgroups, and all descendants of those.
bed_pids() {
  local -A nsino=() seed=() out=()
  local f ino p line
  while read -r f; do
    f="/run/netns/$f"
    [[ -e $f ]] || continue
    ino="$(stat -L -c %i "$f" 2>/dev/null || true)"
    [[ -n $ino ]] && nsino[$ino]=1
  done < <(bed_ns_names)
  if ((${#nsino[@]})); then
    # stat -L follows /proc/<pid>/ns/net to the namespace inode.
    while read -r f ino; do
      [[ -n ${nsino[$ino]:-} ]] || continue
      p="${f#/proc/}"
      p="${p%%/*}"
      seed[$p]=1
    done < <(stat -L -c '%n %i' /proc/[0-9]*/ns/net 2>/dev/null || true)
  fi
  for f in "$TB_DIR"/h*/launcher.pid "$TB_DIR"/h*/dockerd.pid "$TB_DIR"/h*/weft.pid "$TB_DIR"/registry/registry.pid \
    "$TB_DIR"/h*/x/containerd/containerd.pid; do
    [[ -f $f ]] || continue
    p="$(cat "$f" 2>/dev/null || true)"
    [[ $p =~ ^[0-9]+$ ]] || continue
    if cmdline_has "$p" "$TB_DIR"; then
      seed[$p]=1
    fi
  done
  local cg
  while read -r cg; do
    while read -r p; do [[ -n $p ]] && seed[$p]=1; done \
      < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true)
  done < <(bed_cgroups)
  ((${#seed[@]})) || return 0
  # descendants
  local -A kids=()
  local pid ppid st
  while read -r pid ppid st; do
    [[ $st == Z* ]] && continue
    kids[$ppid]+="$pid "
  done < <(proc_table)
  local queue=("${!seed[@]}")
  while ((${#queue[@]})); do
    p="${queue[0]}"
    queue=("${queue[@]:1}")
    [[ -n ${out[$p]:-} ]] && continue
    [[ -d /proc/$p ]] || continue
    st="$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null || true)"
    [[ -z $st || $st == Z ]] && continue
    out[$p]=1
    for line in ${kids[$p]:-}; do queue+=("$line"); done
  done
  ((${#out[@]})) && printf '%s\n' "${!out[@]}"
  return 0
}

kill_bed_processes() {
  local pids p left
  for _ in 1 2 3 4 5; do
    mapfile -t pids < <(bed_pids)
    ((${#pids[@]})) || return 0
    # Freeze first so nothing restarts (dockerd restarts its containerd) or
    # forks while we kill; SIGKILL works on stopped processes.
    kill -STOP "${pids[@]}" 2>/dev/null || true
    mapfile -t pids < <(bed_pids)
    kill -STOP "${pids[@]}" 2>/dev/null || true
    kill -KILL "${pids[@]}" 2>/dev/null || true
    local deadline=$(($(now_ms) + 10000))
    while :; do
      left=0
      for p in "${pids[@]}"; do alive "$p" && left=1 && break; done
      ((left)) || break
      (($(now_ms) > deadline)) && break
      sleep 0.05
    done
  done
  mapfile -t pids < <(bed_pids)
  if ((${#pids[@]})); then
    log "down: processes survived: ${pids[*]}"
    return 1
  fi
}

remove_cgroups() {
  local cg d
  while read -r cg; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      while read -r d; do rmdir "$d" 2>/dev/null || true; done < <(find "$cg" -depth -type d 2>/dev/null)
      [[ -d $cg ]] || break
      sleep 0.1
    done
    [[ -d $cg ]] && log "down: could not remove cgroup $cg"
  done < <(bed_cgroups)
  return 0
}

bed_mounts() {
  local m
  findmnt -rn -o TARGET 2>/dev/null | grep -F -- "$TB_DIR" | while read -r m; do
    m="$(printf '%b' "$m")" # findmnt -r escapes odd characters as \xNN
    if [[ $m == "$TB_DIR" || $m == "$TB_DIR"/* ]]; then echo "$m"; fi
  done | sort -r
  return 0
}

unmount_bed() {
  local m mounts
  for _ in 1 2 3 4 5; do
    mapfile -t mounts < <(bed_mounts)
    ((${#mounts[@]})) || return 0
    for m in "${mounts[@]}"; do umount -n -l "$m" 2>/dev/null || true; done
  done
  mapfile -t mounts < <(bed_mounts)
  if ((${#mounts[@]})); then
    log "down: mounts left: ${mounts[*]}"
    return 1
  fi
}

cmd_down() {
  check_tb_dir
  local t0 rc=0
  t0=$(now_ms)
  if [[ -f $TB_DIR/$MARKER ]]; then
    # shellcheck disable=SC1090
    source "$TB_DIR/$MARKER"
  elif [[ -e $TB_DIR && -n $(ls -A "$TB_DIR" 2>/dev/null) ]]; then
    die "$TB_DIR is not a test bed (no $MARKER); refusing to touch it"
  fi
  # Nothing recorded (no marker): nothing of a bed can exist.
  TB_N="${TB_N:-0}"
  [[ $TB_N =~ ^[0-9]+$ ]] || die "bad TB_N '$TB_N' in $TB_DIR/$MARKER"
  TB_NS_PREFIX="${TB_NS_PREFIX:-tbw-}"
  [[ $TB_NS_PREFIX =~ ^[A-Za-z0-9_.-]{1,40}$ ]] || die "bad TB_NS_PREFIX '$TB_NS_PREFIX'"
  dbg "down: killing"
  kill_bed_processes || rc=1
  dbg "down: cgroups"
  remove_cgroups
  dbg "down: mounts"
  unmount_bed || rc=1
  dbg "down: namespaces"
  local f
  if ((rc == 0)); then
    while read -r f; do
      [[ -e /run/netns/$f ]] || continue
      ip netns del "$f" 2>/dev/null || { log "down: cannot delete netns $f"; rc=1; }
    done < <(bed_ns_names)
  fi
  # `ip netns add` creates /run/netns (a self bind mount) when missing:
  # remove it again once no namespace at all is left in it (`ip netns`
  # recreates it on demand). A plain umount fails if someone else adds a
  # namespace meanwhile, and so does rmdir.
  if ((rc == 0)) && [[ -d /run/netns && -z $(ls -A /run/netns) ]]; then
    if mountpoint -q /run/netns; then umount -n /run/netns 2>/dev/null || true; fi
    rmdir /run/netns 2>/dev/null || true
  fi
  dbg "down: files"
  if ((rc == 0)) && [[ -e $TB_DIR ]]; then
    local d rmpids=()
    for d in "$TB_DIR"/h*; do
      [[ -d $d ]] || continue
      rm -rf --one-file-system "$d" &
      rmpids+=("$!")
    done
    for d in "${rmpids[@]}"; do wait "$d" || true; done
    rm -rf --one-file-system "$TB_DIR" || { log "down: cannot remove $TB_DIR"; rc=1; }
  fi
  ((rc == 0)) || die "down: incomplete, see messages above (state kept at $TB_DIR)"
  log "down: done in $(($(now_ms) - t0)) ms"
}
