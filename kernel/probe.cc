// NetlinkKernel::probe(): checks, in a throwaway namespace, that everything
// weft needs works, and names the missing piece when something does not.
#include <sys/mount.h>
#include <unistd.h>

#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/nl_msg_link.h"
#include "kernel/nl_msg_veth.h"
#include "kernel/nl_msg_vxlan.h"
#include "kernel/nl_msg_xfrm.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

Status tryCreate(nl::Socket& sock, nl::Message m, const std::string& kind, const std::string& hint) {
  Status s = sock.request(m, "creating a " + kind + " device");
  if (!s) return Error{s.code(), "kernel lacks " + kind + " devices (" + s.error().message + "); " + hint};
  return {};
}

Status tryXfrm() {
  auto sock = nl::Socket::open(NETLINK_XFRM);
  if (!sock)
    return Error{EPROTONOSUPPORT, "kernel lacks xfrm netlink (" + sock.error().message +
                                      "); load xfrm_user (CONFIG_XFRM_USER) for encrypted networks"};
  // A state as the kernel backend adds them (driver/esp_pairs.h): a 256-bit
  // key and its 4-byte salt, 16-byte ICV, extended sequence numbers and a
  // 2048-packet replay window -- a kernel with ESP but without ESN or the
  // large window must not be taken for one that can run the backend.
  XfrmState sa;
  sa.src = "198.18.0.1";
  sa.dst = "198.18.0.2";
  sa.spi = 0x100;
  sa.aeadKeyHex = std::string(72, '0');
  sa.icvBits = 128;
  sa.esn = true;
  sa.replayWindow = 2048;
  auto parsed = parseXfrmState("probe", sa, XfrmUse::kAdd);
  if (!parsed) return parsed.error();
  auto m = nl::xfrmStateAdd(sa, *parsed);
  Status s = (*sock)->request(m, "adding an ESP AES-GCM state with ESN and a replay window");
  if (!s)
    return Error{EPROTONOSUPPORT,
                 "kernel cannot do ESP with rfc4106(gcm(aes)), ESN and a 2048-packet replay window (" +
                     s.error().message +
                     "); load esp4/esp6 and the gcm/aes crypto modules (CONFIG_INET_ESP, "
                     "CONFIG_CRYPTO_GCM) for encrypted networks"};
  return {};
}

}  // namespace

Status NetlinkKernel::probe() {
  if (::access("/proc/self/ns/net", F_OK) != 0)
    return Error{ENOSYS, "kernel lacks network namespaces (CONFIG_NET_NS): /proc/self/ns/net is missing"};
  if (::access("/proc/thread-self/ns/net", F_OK) != 0)
    return Error{ENOSYS, "/proc/thread-self is missing (Linux >= 3.17 with /proc mounted is needed)"};
  // Everything below happens in a namespace that dies with its thread.
  Status s = runInThrowawayNetns([]() -> Status {
    auto sock = nl::Socket::open(NETLINK_ROUTE);
    if (!sock) return Error{sock.code(), "cannot open a NETLINK_ROUTE socket: " + sock.error().message};
    if (auto r = tryCreate(**sock, nl::bridgeCreate("wprobe-br", 0), "bridge",
                           "load the bridge module (CONFIG_BRIDGE)");
        !r)
      return r;
    VxlanSpec vx;
    vx.name = "wprobe-vx";
    vx.vni = 1;
    if (auto r = tryCreate(**sock, nl::vxlanCreate(vx), "vxlan", "load the vxlan module (CONFIG_VXLAN)"); !r)
      return r;
    if (auto r = tryCreate(**sock, nl::vethCreate("wprobe-v0", "wprobe-v1", 0, nl::kSameNetns), "veth",
                           "load veth (CONFIG_VETH)");
        !r)
      return r;
    return Status::Ok();
  });
  if (!s) return Error{s.code(), "kernel probe: " + s.error().message};  // keeps EPROTONOSUPPORT
  // Finally the state directory (and the keep directory) must take
  // namespace bind mounts.
  const std::string name = "/.probe-" + std::to_string(::getpid());
  std::lock_guard<std::mutex> lock(nsMu_);
  if (auto c = createNetnsAt(netnsDir_ + name); !c)
    return Error{c.code(), "kernel probe: cannot keep namespaces under " + netnsDir_ +
                               " (needs CAP_SYS_ADMIN): " + c.error().message};
  removeNetnsFile(netnsDir_ + name);
  if (!keepDir_.empty()) removeNetnsFile(keepDir_ + name);
  // Last, encryption: its absence is EPROTONOSUPPORT (see the header).
  if (auto x = runInThrowawayNetns(tryXfrm); !x) return Error{x.code(), "kernel probe: " + x.error().message};
  return {};
}

}  // namespace weft::kernel
