# shellcheck shell=bash disable=SC2034
# weft's Debian packages, read from the one list, packaging/debian-deps.txt:
#   WEFT_BUILD_DEPS  what building weft's three binaries (weft-plugin,
#                    weft-gossip, weftctl) needs -- without tests -- in the
#                    managed plugin's build stage (packaging/base-images.sh's
#                    debootstrap --include; the Dockerfile reads the same list)
#   WEFT_ALL_DEPS    all of them: build, tests, demo (scripts/install-deps.sh)
_weft_deps_list="$(dirname "${BASH_SOURCE[0]}")/debian-deps.txt"
mapfile -t WEFT_BUILD_DEPS < <(awk '!/^#/ && $2 == "build" {print $1}' "$_weft_deps_list")
mapfile -t WEFT_ALL_DEPS < <(awk '!/^#/ && NF {print $1}' "$_weft_deps_list")
((${#WEFT_BUILD_DEPS[@]})) || { echo "build-deps: no packages read from $_weft_deps_list" >&2; exit 1; }
unset _weft_deps_list
