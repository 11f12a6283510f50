#!/usr/bin/env bash
# Base images for building weft's managed plugin without the internet.
#
# The Dockerfile builds FROM ${BUILD_BASE} (default debian:bookworm, which
# needs Docker Hub and apt). Where neither is reachable -- the test bed, an
# air-gapped build host -- this script makes an equivalent image from
# Debian's packages alone: `debootstrap --variant=minbase bookworm` with
# weft's build dependencies included, packed into a tarball that
# `docker import` turns into an image. The Dockerfile sees the dependencies
# are there and skips apt-get.
#
# Usage:
#   packaging/base-images.sh tarball          # prints the cached tarball's path (builds it if missing)
#   packaging/base-images.sh import [IMAGE]   # tarball -> image on $DOCKER_HOST; prints the image name
#
# The tarball is cached in $WEFT_IMAGE_CACHE (default /var/cache/weft-images),
# named after a hash of the package list and suite, so it is made once per
# machine and remade only when the list changes. `import` skips the import
# when $DOCKER_HOST already has the image with the same tarball hash label.
#
# Environment:
#   WEFT_IMAGE_CACHE   cache directory (default /var/cache/weft-images)
#   WEFT_DEBIAN_MIRROR mirror for debootstrap (default: the first deb.debian.org-style
#                      URI in /etc/apt/sources.list*, else http://deb.debian.org/debian)
#   WEFT_SUITE         Debian suite (default bookworm)
#   DOCKER             docker CLI (default: docker); DOCKER_HOST as usual
# Needs root (debootstrap) and the debootstrap package.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=packaging/build-deps.sh
source "$HERE/build-deps.sh"

CACHE="${WEFT_IMAGE_CACHE:-/var/cache/weft-images}"
SUITE="${WEFT_SUITE:-bookworm}"
DOCKER="${DOCKER:-docker}"

log() { echo "base-images: $*" >&2; }
die() { echo "base-images: $*" >&2; exit 1; }

mirror() {
  if [[ -n ${WEFT_DEBIAN_MIRROR:-} ]]; then echo "$WEFT_DEBIAN_MIRROR"; return; fi
  local u
  u="$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
          grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } |
        grep -v -- '-security' | head -n1 || true)"
  echo "${u:-http://deb.debian.org/debian}"
}

# key: what decides the tarball's content (suite, variant, packages, arch).
key() {
  printf '%s\n' "suite=$SUITE" "variant=minbase" "arch=$(dpkg --print-architecture)" "${WEFT_BUILD_DEPS[@]}" |
    sha256sum | cut -c1-16 | sed "s/^/$SUITE-/"
}

tarball_path() { echo "$CACHE/weft-build-base-$(key).tar"; }

make_tarball() {
  local out tmp root inc
  out="$(tarball_path)"
  if [[ -s $out ]]; then echo "$out"; return 0; fi
  [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"
  command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
  mkdir -p "$CACHE"
  # One builder at a time per cache (concurrent test runs).
  exec 9>"$CACHE/.lock"
  flock 9
  if [[ -s $out ]]; then echo "$out"; return 0; fi
  tmp="$(mktemp -d "$CACHE/.build.XXXXXX")"
  root="$tmp/rootfs"
  inc="$(IFS=,; echo "${WEFT_BUILD_DEPS[*]}")"
  log "debootstrap --variant=minbase $SUITE (+ $inc) from $(mirror); this takes a few minutes, once"
  local t0=$SECONDS
  if ! debootstrap --variant=minbase --include="$inc" "$SUITE" "$root" "$(mirror)" >"$tmp/debootstrap.log" 2>&1; then
    tail -n 30 "$tmp/debootstrap.log" >&2
    rm -rf --one-file-system "$tmp"
    die "debootstrap failed"
  fi
  # Make it look like a Docker base image: no package caches, apt lists or
  # logs; a policy that keeps daemons from starting inside builds.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/* "$root"/tmp/*
  printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
  chmod 0755 "$root/usr/sbin/policy-rc.d"
  # debootstrap leaves the host's resolv.conf/hostname; Docker provides its own.
  : >"$root/etc/resolv.conf"
  tar --numeric-owner --xattrs -C "$root" -cf "$tmp/base.tar" .
  mv "$tmp/base.tar" "$out"
  rm -rf --one-file-system "$tmp"
  log "made $out ($(du -h "$out" | cut -f1)) in $((SECONDS - t0)) s"
  echo "$out"
}

import_image() {
  local image="${1:-weft-build-base:$(key)}" tar have
  tar="$(make_tarball)"
  have="$("$DOCKER" image inspect -f '{{ index .Config.Labels "org.weft.base-key" }}' "$image" 2>/dev/null || true)"
  if [[ $have == "$(key)" ]]; then
    log "$image already on this engine"
  else
    local t0=$SECONDS
    "$DOCKER" import -c "LABEL org.weft.base-key=$(key)" -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'CMD ["bash"]' "$tar" "$image" >/dev/null
    log "imported $image in $((SECONDS - t0)) s"
  fi
  echo "$image"
}

case "${1:-}" in
  tarball) make_tarball ;;
  import) shift; import_image "$@" ;;
  key) key ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
