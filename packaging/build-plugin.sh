#!/usr/bin/env bash
# Builds weft's managed plugin: Dockerfile -> image -> exported rootfs ->
# plugin directory (config.json + rootfs) -> `docker plugin create`.
#
# Usage: packaging/build-plugin.sh [options] NAME[:TAG]
#   NAME[:TAG]        the plugin's name, e.g. weft:1 or registry.example:5000/weft:1
#   --offline         build on an image made from Debian packages
#                     (packaging/base-images.sh; no Docker Hub, no apt in the build)
#   --build-arg A=B   passed to docker build (repeatable)
#   --network MODE    docker build --network MODE (e.g. none, host)
#   --cache DIR       keep the exported rootfs in DIR, keyed by a hash of every
#                     input of the build (Dockerfile, .dockerignore, the files
#                     of the build context, build args, base image key; not
#                     config.json, which is copied fresh every time);
#                     a later run with identical inputs reuses it instead of
#                     building again
#   --replace         remove an existing plugin of that name first (-f)
#   --push            docker plugin push NAME[:TAG] afterwards
#   --keep-dir DIR    leave the plugin directory (config.json + rootfs) in DIR
#
# Works against whatever engine DOCKER_HOST (or the docker CLI's default)
# names. Prints "TIME <phase>: N ms" lines on stderr and the plugin's name on
# stdout. Environment: DOCKER (docker CLI, default docker).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
DOCKER="${DOCKER:-docker}"

log() { echo "build-plugin: $*" >&2; }
die() { echo "build-plugin: $*" >&2; exit 1; }
now_ms() { local t; t=$(date +%s%N); echo $((t / 1000000)); }
T_PHASE=0
phase() { T_PHASE=$(now_ms); }
phase_end() { echo "TIME $1: $(($(now_ms) - T_PHASE)) ms" >&2; }
usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'; }

OFFLINE=0 REPLACE=0 PUSH=0 CACHE="" KEEP="" NETWORK="" NAME=""
BUILD_ARGS=()
while (($#)); do
  case "$1" in
    --offline) OFFLINE=1 ;;
    --replace) REPLACE=1 ;;
    --push) PUSH=1 ;;
    --cache) CACHE="${2:?--cache DIR}"; shift ;;
    --keep-dir) KEEP="${2:?--keep-dir DIR}"; shift ;;
    --network) NETWORK="${2:?--network MODE}"; shift ;;
    --build-arg) BUILD_ARGS+=("${2:?--build-arg A=B}"); shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [[ -z $NAME ]] || die "one plugin name only"; NAME="$1" ;;
  esac
  shift
done
[[ -n $NAME ]] || { usage >&2; exit 2; }
[[ $NAME == *:* && ${NAME##*/} == *:* ]] || NAME="$NAME:latest"

"$DOCKER" version -f '{{.Server.Version}}' >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-default})"

# ---------------------------------------------------------------- inputs
if ((OFFLINE)); then
  # Named after its content key; imported only if a build is needed.
  BASE_IMAGE="weft-build-base:$("$HERE/base-images.sh" key)"
  BUILD_ARGS=("BUILD_BASE=$BASE_IMAGE" "${BUILD_ARGS[@]}")
fi

# The build context is what .dockerignore lets through: its "!" lines.
context_entries() { sed -n 's/^!\(.*\)$/\1/p' "$REPO/.dockerignore"; }

# Hash of everything the build reads; names the cached rootfs.
input_hash() {
  {
    echo "args: ${BUILD_ARGS[*]}"
    if ((OFFLINE)); then echo "base-key: $("$HERE/base-images.sh" key)"; fi
    (
      cd "$REPO"
      local e
      while read -r e; do
        [[ -e $e ]] || continue
        find "$e" -type f -print0
      done < <(context_entries) | sort -z | xargs -0 sha256sum
      sha256sum Dockerfile .dockerignore
    )
  } | sha256sum | cut -c1-20
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/weft-plugin-build.XXXXXX")"
cleanup() { rm -rf --one-file-system "$WORK"; }
trap cleanup EXIT
PDIR="$WORK/plugin"
mkdir -p "$PDIR/rootfs"

HASH="$(input_hash)"
CACHED=""
if [[ -n $CACHE ]]; then
  mkdir -p "$CACHE"
  CACHED="$CACHE/weft-plugin-rootfs-$HASH.tar"
fi

if [[ -n $CACHED && -s $CACHED ]]; then
  log "inputs unchanged (hash $HASH): reusing $CACHED"
  phase
  tar -C "$PDIR/rootfs" -xf "$CACHED"
  phase_end "rootfs from cache"
else
  # ------------------------------------------------------------ build
  if ((OFFLINE)); then
    phase
    DOCKER="$DOCKER" "$HERE/base-images.sh" import "$BASE_IMAGE" >/dev/null
    phase_end "base image"
  fi
  image="weft-plugin-rootfs:$HASH"
  bargs=()
  for a in "${BUILD_ARGS[@]}"; do bargs+=(--build-arg "$a"); done
  [[ -n $NETWORK ]] && bargs+=(--network "$NETWORK")
  log "docker build ($image)"
  phase
  if ! "$DOCKER" build -q -t "$image" "${bargs[@]}" -f "$REPO/Dockerfile" "$REPO" >"$WORK/build.log" 2>&1; then
    tail -n 40 "$WORK/build.log" >&2
    die "docker build failed"
  fi
  phase_end "docker build"
  # ------------------------------------------------------------ export
  phase
  cid="$("$DOCKER" create "$image")"
  "$DOCKER" export "$cid" | tar -C "$PDIR/rootfs" -xf -
  "$DOCKER" rm -f "$cid" >/dev/null
  phase_end "export rootfs"
  if [[ -n $CACHED ]]; then
    tar --numeric-owner -C "$PDIR/rootfs" -cf "$CACHED.tmp.$$" . && mv "$CACHED.tmp.$$" "$CACHED"
    # Keep the newest few only.
    find "$CACHE" -maxdepth 1 -name 'weft-plugin-rootfs-*.tar' -printf '%T@ %p\n' | sort -rn | tail -n +4 |
      cut -d' ' -f2- | xargs -r rm -f
  fi
fi
[[ -x $PDIR/rootfs/usr/bin/weft-plugin && -x $PDIR/rootfs/usr/bin/weft-managed-entry ]] ||
  die "the rootfs lacks /usr/bin/weft-plugin or /usr/bin/weft-managed-entry"
cp "$REPO/config.json" "$PDIR/config.json"
# Which reference this rootfs was made for (so two tags never share a digest,
# which `docker plugin create` refuses on one engine).
printf '%s\n' "$NAME" >"$PDIR/rootfs/etc/weft-plugin-ref"

# ---------------------------------------------------------------- create
if "$DOCKER" plugin inspect "$NAME" >/dev/null 2>&1; then
  ((REPLACE)) || die "plugin $NAME exists (use --replace)"
  "$DOCKER" plugin rm -f "$NAME" >/dev/null
fi
phase
"$DOCKER" plugin create "$NAME" "$PDIR" >/dev/null
phase_end "plugin create"
if ((PUSH)); then
  phase
  "$DOCKER" plugin push "$NAME" >"$WORK/push.log" 2>&1 || { cat "$WORK/push.log" >&2; die "push failed"; }
  phase_end "plugin push"
fi
if [[ -n $KEEP ]]; then
  rm -rf --one-file-system "$KEEP"
  mkdir -p "$(dirname "$KEEP")"
  mv "$PDIR" "$KEEP"
fi
log "plugin $NAME created (rootfs $(du -sh "${KEEP:-$PDIR}" 2>/dev/null | cut -f1), inputs $HASH)"
echo "$NAME"
