#!/usr/bin/env bash
# Programming remote endpoints into a real sandbox, before and after, on the
# same machine in the same run: builds weft-remote-endpoints-bench from this
# tree and from a baseline revision (a temporary git worktree with this
# bench's sources added), runs both and prints both tables: endpoints/s and
# netlink round trips per endpoint for program / move / remove.
#
#   sudo bench/kernel/remote_endpoints_bench.sh [--base REV] [--endpoints N] [--vteps V] [--rounds R]
#
# --base defaults to the merge-base of HEAD and main. The benches make their
# own network and mount namespaces (nothing on the machine is touched); the
# baseline worktree, its build and the state directories live in one
# temporary directory that is removed on exit, also on failure.
# Environment: BUILD_DIR (default <repo>/build), JOBS (ninja -j, default 2).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BUILD_DIR:-$repo/build}"
jobs="${JOBS:-2}"
base=""
args=()
while (($#)); do
  case $1 in
    --base) base=$2; shift 2 ;;
    --endpoints | --vteps | --rounds) args+=("$1" "$2"); shift 2 ;;
    -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "remote_endpoints_bench: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
if [[ $(id -u) -ne 0 ]]; then
  echo "remote_endpoints_bench: needs root (network and mount namespaces)" >&2
  exit 1
fi
base=$(git -C "$repo" rev-parse --verify "${base:-$(git -C "$repo" merge-base HEAD main)}^{commit}")

tmp=$(mktemp -d /tmp/weft-remote-endpoints.XXXXXX)
cleanup() {
  git -C "$repo" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
  git -C "$repo" worktree prune
  rm -rf "$tmp"
}
trap cleanup EXIT

# Both builds with the same build type (this tree's, if it has been configured).
type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
type=${type:-RelWithDebInfo}
[[ -f $build/build.ninja ]] || cmake -G Ninja -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE="$type" >/dev/null
ninja -C "$build" -j "$jobs" weft-remote-endpoints-bench >/dev/null

git -C "$repo" worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
for f in remote_endpoints_bench.cc remote_endpoints.cmake bench_world.h; do
  cp "$repo/bench/kernel/$f" "$tmp/base/bench/kernel/$f"
done
grep -q 'remote_endpoints.cmake' "$tmp/base/bench/kernel/CMakeLists.txt" ||
  echo 'include(remote_endpoints.cmake)' >>"$tmp/base/bench/kernel/CMakeLists.txt"
cmake -G Ninja -S "$tmp/base" -B "$tmp/base/build" -DCMAKE_BUILD_TYPE="$type" >/dev/null
ninja -C "$tmp/base/build" -j "$jobs" weft-remote-endpoints-bench >/dev/null

echo "# $(uname -r), $(nproc) cpus, build type $type; $(date -Is)"
echo "## before: $(git -C "$repo" log -1 --format='%h %s' "$base")"
"$tmp/base/build/bin/weft-remote-endpoints-bench" --state-dir "$tmp" "${args[@]}"
dirty=$(git -C "$repo" diff --quiet HEAD || echo " (+ uncommitted changes)")
echo "## after: $(git -C "$repo" log -1 --format='%h %s' HEAD)$dirty"
"$build/bin/weft-remote-endpoints-bench" --state-dir "$tmp" "${args[@]}"
