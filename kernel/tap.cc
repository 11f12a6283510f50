#include "kernel/tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "kernel/netns_util.h"

namespace weft::kernel {
namespace {

// Socket buffers for bursts of batched datagrams (a hint, not a
// requirement: without CAP_NET_ADMIN the kernel caps them at
// net.core.{r,w}mem_max).
constexpr int kSocketBuffer = 4 << 20;

Status inNetns(const std::string& netnsPath, const std::function<Status()>& fn) {
  if (netnsPath.empty()) return fn();
  auto ns = openNetnsFile(netnsPath);
  if (!ns) return ns.error();
  return runInNetns(ns->get(), fn);
}

Result<Fd> openQueue(const std::string& name) {
  Fd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return Error::fromErrno(errno, "opening /dev/net/tun");
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, name.c_str(), IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return Error::fromErrno(errno, "TUNSETIFF " + name);
  int hdr = static_cast<int>(kTapVnetHdrSize);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &hdr) != 0)
    return Error::fromErrno(errno, "TUNSETVNETHDRSZ " + name);
  // Checksum and TCP segmentation offload: the kernel hands over a
  // container's TCP stream as 64 KB super-frames with a partial checksum,
  // which the datapath cuts into segments itself (datapath/gso.h) -- one read
  // and one bridge pass per 64 KB instead of per MTU. Set on every open, so
  // a persistent TAP made by an older weft-plugin (no offloads) gets them
  // when a newer one attaches, and the reverse on a downgrade. Not TSO_ECN:
  // the kernel segments ECN-marked super-frames itself.
  if (::ioctl(fd.get(), TUNSETOFFLOAD, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) != 0)
    return Error::fromErrno(errno, "TUNSETOFFLOAD " + name);
  return fd;
}

}  // namespace

Result<std::vector<Fd>> openTapQueues(const std::string& netnsPath, const TapSpec& spec) {
  if (spec.name.empty() || spec.name.size() >= IFNAMSIZ)
    return Error{EINVAL,
                 "tap: name '" + spec.name + "' must be 1 to " + std::to_string(IFNAMSIZ - 1) + " bytes"};
  if (spec.queues < 1 || spec.queues > kMaxTapQueues)
    return Error{EINVAL, "tap: " + std::to_string(spec.queues) + " queues; 1 to " +
                             std::to_string(kMaxTapQueues) + " are supported"};
  std::vector<Fd> queues;
  // /dev/net/tun binds a device to the namespace of the thread that opens it.
  Status s = inNetns(netnsPath, [&]() -> Status {
    for (uint32_t i = 0; i < spec.queues; ++i) {
      auto q = openQueue(spec.name);
      if (!q) return q.error();
      if (i == 0 && ::ioctl(q->get(), TUNSETPERSIST, 1) != 0)
        return Error::fromErrno(errno, "TUNSETPERSIST " + spec.name);
      queues.push_back(std::move(*q));
    }
    return Status::Ok();
  });
  if (!s) return s.error();
  return queues;
}

Result<Fd> openDatapathSocket(const std::string& netnsPath, const std::string& addr, uint16_t port) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ss);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ss);
  if (inet_pton(AF_INET, addr.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    len = sizeof *v4;
  } else if (inet_pton(AF_INET6, addr.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    len = sizeof *v6;
  } else {
    return Error{EINVAL, "datapath socket: '" + addr + "' is not an IPv4 or IPv6 address"};
  }
  Fd sock;
  Status s = inNetns(netnsPath, [&]() -> Status {
    Fd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) return Error::fromErrno(errno, "datapath socket");
    // FORCE (CAP_NET_ADMIN, which weft-plugin has) goes past
    // net.core.{r,w}mem_max, whose default (~200 KB) a TCP stream's burst of
    // 64 KB super-frames overflows, costing drops and TCP back-off.
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &kSocketBuffer, sizeof kSocketBuffer);
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer) != 0)
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &kSocketBuffer, sizeof kSocketBuffer);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0)
      return Error::fromErrno(errno, "binding the datapath socket to " + addr + ":" + std::to_string(port));
    sock = std::move(fd);
    return Status::Ok();
  });
  if (!s) return s.error();
  return sock;
}

}  // namespace weft::kernel
