#!/usr/bin/env bash
# The whole weft test suite, from a fresh machine:
#   1. installs build/test dependencies (Debian packages),
#   2. builds weft and runs every test (unit, plugin binary, kernel in
#      throwaway namespaces, gossip, the kernel ESP backend in a QEMU VM
#      booting Debian's stock kernel, end-to-end with real dockerd hosts),
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs
#      the unit, kernel and gossip tests under them,
#   4. builds the libFuzzer targets and fuzzes request handling, the
#      sidecar's IPC messages (as the privileged plugin decodes them) and the
#      encrypted datapath's packet decoder for a bounded time.
# Exits non-zero if anything fails. Needs root (kernel and Docker tests).
#
# Environment: WEFT_FUZZ_SECONDS (default 60), WEFT_SKIP_E2E=1 to skip the
# Docker end-to-end tests, WEFT_SKIP_ASAN=1, WEFT_SKIP_FUZZ=1.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
if [[ $(id -u) -ne 0 ]]; then
  echo "test: run as root (kernel and Docker tests create namespaces and daemons; it installs packages); e.g. sudo $0" >&2
  exit 1
fi
jobs=$(nproc)
fuzz_seconds=${WEFT_FUZZ_SECONDS:-60}
# Inputs up to 256 KiB: room for bodies nested far deeper than the plugin
# accepts (seed-21 nests 80,000 levels in ~160 KB).
fuzz_max_len=262144

step() { printf '\n=== %s ===\n' "$*"; }
passed=0
skipped=0
failed=0
results=()
logdir=$(mktemp -d)
trap 'rm -rf "$logdir"' EXIT
record() {  # name, status
  if [[ $2 -eq 0 ]]; then results+=("PASS $1"); else results+=("FAIL $1"); fi
}
# Runs ctest, adds its test counts to the totals.
run_ctest() {  # name, build dir, ctest args...
  local name=$1 dir=$2
  shift 2
  local log rc
  log="$logdir/$(basename "$dir").log"
  set +e
  (cd "$dir" && ctest --output-on-failure -j 1 --timeout 900 "$@") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  local line total bad skip
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -n 1 || true)
  if [[ -n $line ]]; then
    total=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    # ctest counts a skipped test (exit 77, e.g. the VM test without QEMU)
    # among the passed ones; here it is counted as skipped.
    skip=$(grep -cE '^[[:space:]]*[0-9]+ - .*\(Skipped\)$' "$log" || true)
    passed=$((passed + total - bad - skip))
    skipped=$((skipped + skip))
    failed=$((failed + bad))
  elif [[ $rc -ne 0 ]]; then
    failed=$((failed + 1))
  fi
  [[ $rc -eq 0 ]] || failed=$((failed > 0 ? failed : 1))
  record "$name" "$rc"
}

step "dependencies"
"$here/scripts/install-deps.sh"

step "build (RelWithDebInfo)"
cmake -G Ninja -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build -j "$jobs"

labels="unit|kernel|gossip|vm"
[[ ${WEFT_SKIP_E2E:-0} == 1 ]] || labels="$labels|e2e"
step "tests: $labels"
run_ctest "ctest ($labels)" build -L "$labels"

if [[ ${WEFT_SKIP_ASAN:-0} != 1 ]]; then
  step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
  cmake -G Ninja -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DWEFT_SANITIZE=ON >/dev/null
  ninja -C build-asan -j "$jobs"
  step "tests under ASan+UBSan: unit|kernel|gossip"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_ctest "ctest under sanitizers" build-asan -L "unit|kernel|gossip"
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# fuzz TARGET LABEL SECONDS [SEED_DIR] : a bounded libFuzzer run of TARGET
# (built in build-fuzz), counted as one test.
fuzz() {
  local target=$1 label=$2 seconds=$3 seeds=${4:-} corpus="$logdir/corpus-$1" rc
  mkdir -p "$corpus"
  [[ -z $seeds ]] || cp "$seeds"/* "$corpus"/
  set +e
  "build-fuzz/bin/$target" -max_total_time="$seconds" -max_len="$fuzz_max_len" -print_final_stats=1 \
    "$corpus" 2>&1 | tail -n 15
  rc=${PIPESTATUS[0]}
  set -e
  record "libFuzzer: $label (${seconds}s)" "$rc"
  if [[ $rc -eq 0 ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}

if [[ ${WEFT_SKIP_FUZZ:-0} != 1 ]]; then
  step "libFuzzer: request decoding and handling (${fuzz_seconds}s), the sidecar's IPC messages ($((fuzz_seconds / 2))s), datapath packets ($((fuzz_seconds / 3))s), DNS queries ($((fuzz_seconds / 3))s)"
  CC=clang CXX=clang++ cmake -G Ninja -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DWEFT_FUZZ=ON -DWEFT_TESTS=ON >/dev/null
  ninja -C build-fuzz -j "$jobs" weft_fuzz_api weft_fuzz_ipc weft_fuzz_datapath weft_fuzz_dns
  fuzz weft_fuzz_api "requests" "$fuzz_seconds" tests/fuzz/corpus
  fuzz weft_fuzz_ipc "IPC messages" "$((fuzz_seconds / 2))"
  fuzz weft_fuzz_datapath "datapath packets (before and after authentication), TAP super-frames" \
    "$((fuzz_seconds / 3))" tests/fuzz/corpus-datapath
  fuzz weft_fuzz_dns "DNS queries to the name responder, engine container answers" "$((fuzz_seconds / 3))"
fi

step "summary"
printf '%s\n' "${results[@]}"
if [[ $skipped -gt 0 ]]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
for r in "${results[@]}"; do [[ $r == PASS* ]] || exit 1; done
[[ $failed -eq 0 ]]
