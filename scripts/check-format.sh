#!/usr/bin/env bash
# Checks that every C++ source of weft is formatted as .clang-format says.
# Prints the offending files (and clang-format's complaints) and exits 1 if
# any is not. `scripts/check-format.sh --fix` reformats them in place.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
fmt="${CLANG_FORMAT:-clang-format}"
command -v "$fmt" >/dev/null || { echo "check-format: $fmt not found (scripts/install-deps.sh installs it)" >&2; exit 1; }
dirs=(common cluster kernel driver engine services metrics datapath gossip plugin weftctl tests bench packaging)
# Every folder the top-level CMakeLists.txt builds is one of them.
while read -r d; do
  [[ " ${dirs[*]} " == *" $d "* ]] ||
    { echo "check-format: $d/ (add_subdirectory in CMakeLists.txt) is not in this script's folders" >&2; exit 1; }
done < <(sed -n 's|^[[:space:]]*add_subdirectory(\([^/)]*\).*|\1|p' CMakeLists.txt)
mapfile -d '' files < <(find "${dirs[@]}" -type f \( -name '*.cc' -o -name '*.h' \) -print0 | sort -z)
((${#files[@]})) || { echo "check-format: no sources found" >&2; exit 1; }
if [[ ${1:-} == --fix ]]; then
  "$fmt" -i "${files[@]}"
  exit 0
fi
# One clang-format for all (one per file takes minutes on a loaded machine);
# only when that fails, one per file, to name them.
if "$fmt" --dry-run --Werror "${files[@]}" >/dev/null 2>&1; then
  echo "check-format: ${#files[@]} files formatted as .clang-format says"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
  echo "check-format: ${#bad[@]} of ${#files[@]} files differ from .clang-format (fix: scripts/check-format.sh --fix):" >&2
  for f in "${bad[@]}"; do
    echo "  $f" >&2
    # (clang-format may get SIGPIPE from head: not a failure of this script)
    "$fmt" --dry-run "$f" 2>&1 | head -n 6 | sed 's/^/    /' >&2 || true
  done
  exit 1
fi
echo "check-format: ${#files[@]} files formatted as .clang-format says"
