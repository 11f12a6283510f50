# shellcheck shell=bash
# testbed.sh: the containers' image, busybox:local -- built from
# busybox-static and TB_IMAGE_BINS with their libraries, imported into each
# host's daemon.

build_image() {
  local out="$1" root="$TB_DIR/image/rootfs" bb
  bb="$(command -v busybox || true)"
  [[ -n $bb ]] || die "busybox not found (apt-get install busybox-static)"
  if ldd "$bb" >/dev/null 2>&1; then die "$bb is not statically linked (need busybox-static)"; fi
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,var/run}
  chmod 1777 "$root/tmp"
  cp "$bb" "$root/bin/busybox"
  local l
  while read -r l; do
    [[ -n $l && ! -e $root/$l ]] && ln -s /bin/busybox "$root/$l"
  done < <("$bb" --list-full)
  local b p lib
  for b in ${TB_IMAGE_BINS-iperf3}; do
    p="$(command -v "$b" || true)"
    [[ -n $p ]] || die "image: binary '$b' not found"
    mkdir -p "$root/usr/bin"
    cp -L "$p" "$root/usr/bin/$(basename "$p")"
    while read -r lib; do
      mkdir -p "$root$(dirname "$lib")"
      cp -L "$lib" "$root$lib"
    done < <(ldd "$p" | grep -oE '/[^ ]+' | sort -u)
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # What Debian's images have (glibc binaries in TB_IMAGE_BINS read it).
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  tar -C "$root" -cf "$out" .
  rm -rf "$root"
}

import_image() {
  local h="$1" sock
  sock="$(host_var "$h" DOCKER_SOCK)"
  DOCKER_CONFIG="$TB_DIR/cli" "$(docker_cli)" -H "unix://$sock" import \
    -c 'CMD ["sh"]' -c 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    "$TB_DIR/image/busybox.tar" "$IMAGE" >/dev/null
}
