#!/usr/bin/env bash
# Boots Debian's stock kernel (linux-image-amd64, which has ESP, GCM, VXLAN as
# modules) under QEMU with a small initramfs whose only job is TEST_BINARY,
# and passes when the VM's console ends with "WEFT-VM-RESULT: PASS n/n".
#
#   run-vm-test.sh TEST_BINARY [KERNEL_TESTS [BINARY...]]
#
# KERNEL_TESTS (build/bin/weft_kernel_tests), when given, also runs in the VM
# with its xfrm cases only: their real-kernel (Netlink) variants skip on a
# host without ESP, and here none may skip. Each further BINARY (weft-plugin,
# weft-gossip) is put beside the test in /weft, for the test to run.
#
# The host kernel is never touched: the kernel package is fetched with
# `apt-get download` and unpacked with dpkg-deb into the cache
# (WEFT_VM_CACHE, default /var/cache/weft-vm), as is the initramfs, keyed by
# the hash of everything in it. All else lives in a temporary directory that
# is removed at the end. Exits 77 (skipped, reason printed) when QEMU,
# busybox-static or the kernel package cannot be had; 1 on any failure or
# when the VM does not finish within WEFT_VM_TIMEOUT seconds (default 420).
set -euo pipefail

bin=${1:?usage: run-vm-test.sh TEST_BINARY [KERNEL_TESTS [BINARY...]]}
ktests=${2:-}
extras=("${@:3}")
cache=${WEFT_VM_CACHE:-/var/cache/weft-vm}
vm_timeout=${WEFT_VM_TIMEOUT:-420}
# What the test needs; their dependencies are added by modprobe --show-depends.
# seqiv: ESP wraps rfc4106 as seqiv(rfc4106(gcm(aes))); IV generators need
# crypto_null and the default RNG ("stdrng": drbg, whose self-test wants
# sha512); ghash-generic and ctr: what gcm is built from (aes itself is built
# in). Without the RNG, adding the SA fails with ENOENT. tun: weft-plugin's
# encrypted networks also get the userspace datapath's TAP (/dev/net/tun).
modules=(esp4 xfrm_user vxlan veth bridge gcm ghash-generic ctr seqiv crypto_null sha512_generic drbg tun)

skip() {
  echo "vm test SKIPPED: $*"
  exit 77
}
for b in "$bin" "${extras[@]}"; do
  [[ -x $b ]] || { echo "vm test: no executable at $b" >&2; exit 1; }
done
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
busybox=$(command -v busybox || true)
[[ -n $busybox ]] && ! ldd "$busybox" >/dev/null 2>&1 ||
  skip "a static busybox is needed for the initramfs (apt-get install busybox-static)"
for tool in apt-get dpkg-deb depmod modprobe gzip sha256sum flock; do
  command -v "$tool" >/dev/null || skip "$tool not found"
done

tmp=$(mktemp -d /tmp/weft-vm.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$cache/kernel" || skip "cannot create the cache directory $cache"
exec 9>"$cache/lock"
flock 9

# --- the kernel: the package linux-image-amd64 depends on, unpacked --------
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
if [[ -z $pkg ]]; then
  # No package lists: a kernel unpacked earlier still serves.
  pkg=$(ls -1 "$cache/kernel" 2>/dev/null | sort -V | tail -n 1)
  [[ -n $pkg && -f $cache/kernel/$pkg/.complete ]] ||
    skip "apt knows no linux-image-amd64 (run apt-get update) and none is cached in $cache"
fi
kdir=$cache/kernel/$pkg
if [[ ! -f $kdir/.complete ]]; then
  echo "vm test: fetching $pkg into $kdir"
  rm -rf "$kdir" "$kdir.partial"
  (cd "$tmp" && apt-get download "$pkg" >"$tmp/download.log" 2>&1) ||
    skip "cannot download $pkg: $(tail -n 1 "$tmp/download.log")"
  dpkg-deb -x "$tmp"/"$pkg"_*.deb "$kdir.partial"
  rm -f "$tmp"/"$pkg"_*.deb
  kver=$(ls -1 "$kdir.partial/lib/modules" | head -n 1)
  depmod -b "$kdir.partial" "$kver"
  mv "$kdir.partial" "$kdir"
  touch "$kdir/.complete"
fi
kver=$(ls -1 "$kdir/lib/modules" | head -n 1)
vmlinuz=$kdir/boot/vmlinuz-$kver
[[ -f $vmlinuz ]] || { echo "vm test: $vmlinuz missing from $kdir" >&2; exit 1; }

# --- the initramfs -----------------------------------------------------------
root=$tmp/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,run,tmp,weft,lib/modules/"$kver"}
cp "$busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
ln -s ../bin/busybox "$root/sbin/modprobe"  # the kernel's request_module helper
# The binaries without their debug info (an image a third the size, which
# the VM unpacks faster), when strip is there.
put() { strip --strip-debug -o "$2" "$1" 2>/dev/null || cp "$1" "$2"; }
put "$bin" "$root/weft/test"
[[ -z $ktests ]] || put "$ktests" "$root/weft/kernel-tests"
for b in "${extras[@]}"; do put "$b" "$root/weft/$(basename "$b")"; done
# The binaries' shared libraries, at the paths their loader looks for them.
ldd "$bin" ${ktests:+"$ktests"} "${extras[@]}" | awk '/=> \// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
# Modules in load order (dependencies first), each once.
: >"$root/modules.order"
for m in "${modules[@]}"; do
  modprobe -d "$kdir" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" {print $2}'
done | awk '!seen[$0]++' | while read -r ko; do
  rel=${ko#"$kdir"}
  mkdir -p "$root$(dirname "$rel")"
  cp "$ko" "$root$rel"
  echo "$rel" >>"$root/modules.order"
done
cp "$kdir/lib/modules/$kver"/modules.{dep,alias,symbols,builtin,order} "$root/lib/modules/$kver/" 2>/dev/null || true
cat >"$root/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
while read -r ko; do insmod "$ko" || echo "WEFT-VM: insmod $ko failed"; done </modules.order
echo "WEFT-VM: booted $(uname -r), $(wc -l </modules.order) modules loaded"
pass=0
total=0
# A program passes when it exits 0 and skipped nothing.
set -o pipefail
run() {
  total=$((total + 1))
  "$@" 2>&1 | tee /tmp/out
  rc=$?
  skipped=$(grep -c 'SKIPPED \]' /tmp/out)
  echo "WEFT-VM: $1 exited $rc, $skipped skipped lines"
  if [ "$rc" = 0 ] && [ "$skipped" = 0 ]; then pass=$((pass + 1)); fi
}
run /weft/test
[ ! -x /weft/kernel-tests ] || run /weft/kernel-tests --gtest_filter='*Xfrm*'
if [ "$pass" = "$total" ]; then
  echo "WEFT-VM-RESULT: PASS $pass/$total"
else
  echo "WEFT-VM-RESULT: FAIL $pass/$total"
  # The crypto API's algorithms (name, driver, self-test) and the kernel's
  # complaints, for whoever reads the log.
  grep -E '^(name|driver|selftest)' /proc/crypto | tr -s ' ' | paste -d' ' - - - | sort -u
  dmesg | grep -i -E 'alg|crypto|esp|xfrm' | tail -n 20
fi
poweroff -f
EOF
chmod +x "$root/init"
hash=$( (cd "$root" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$vmlinuz") | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$hash.cpio.gz
if [[ ! -f $initrd ]]; then
  # busybox's cpio (newc): no cpio package needed. No path here has a newline.
  (cd "$root" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) | gzip -1 >"$initrd.partial"
  mv "$initrd.partial" "$initrd"
  # Older images (earlier builds of the test binary) are of no further use.
  find "$cache" -maxdepth 1 -name 'initramfs-*.cpio.gz' ! -name "initramfs-$hash.cpio.gz" -delete
fi
rm -rf "$root"

# --- boot --------------------------------------------------------------------
# TCG (no KVM needed, a boot takes seconds). WEFT_VM_ACCEL=kvm asks for KVM,
# but not by default: on these machines /dev/kvm exists, yet QEMU aborts with
# -cpu host/max ("failed to set MSR 0x10a") and hangs with
# -cpu max,-arch-capabilities (nested virtualisation).
accel=(-accel "${WEFT_VM_ACCEL:-tcg}")
console=$tmp/console.log
start=$(date +%s)
set +e
timeout --kill-after=10 "$vm_timeout" qemu-system-x86_64 "${accel[@]}" -cpu max -smp 2 -m 768M \
  -display none -monitor none -serial "file:$console" -no-reboot -nic none \
  -kernel "$vmlinuz" -initrd "$initrd" -append "console=ttyS0 panic=-1 loglevel=3 quiet"
qrc=$?
set -e
elapsed=$(($(date +%s) - start))
tr -d '\r' <"$console" | sed 's/^/vm| /'
echo "vm test: kernel $kver, image $(basename "$initrd"), ${elapsed}s, qemu exit $qrc"
if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
  echo "vm test FAILED: the VM did not finish within ${vm_timeout}s"
  exit 1
fi
result=$(tr -d '\r' <"$console" | grep -E '^WEFT-VM-RESULT: ' | tail -n 1 || true)
if [[ $result =~ ^WEFT-VM-RESULT:\ PASS\ ([0-9]+)/([0-9]+)$ && ${BASH_REMATCH[1]} == "${BASH_REMATCH[2]}" &&
  ${BASH_REMATCH[2]} -gt 0 ]]; then
  echo "vm test PASSED: $result"
  exit 0
fi
echo "vm test FAILED: ${result:-no result line on the console}"
exit 1
