// NetlinkKernel::echo: ICMP echo probes from inside a namespace. Not netlink
// at all, but the shim is the only code that touches the kernel. An ICMP
// datagram ("ping") socket, not a raw one, so no CAP_NET_RAW is needed (the
// managed plugin does not have it); it is opened by a short-lived thread
// that entered the namespace (a socket stays in the namespace it was made
// in), so no shared thread ever switches namespace. A new namespace lets no
// group open ping sockets (net.ipv4.ping_group_range "1 0"): the thread
// then allows this process's own group there, and only there.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>

#include "kernel/netlink_kernel.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

using Clock = std::chrono::steady_clock;

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return htons(static_cast<uint16_t>(~sum));
}

// On a thread inside the namespace: lets this process's group open ICMP
// sockets there (net.ipv4.ping_group_range; /proc/sys/net shows the
// namespace of the thread that opens it). In a container /proc/sys is a
// read-only mount (Docker's default for the managed plugin too): then this
// thread alone takes a mount namespace of its own -- it ends with the thread
// -- in which /proc/sys is writable, as CAP_SYS_ADMIN allows.
Status allowPingSockets() {
  const std::string range = std::to_string(::getegid()) + " " + std::to_string(::getegid());
  auto write = [&]() -> int {
    Fd f(::open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC));
    if (!f) return errno;
    if (::write(f.get(), range.data(), range.size()) != static_cast<ssize_t>(range.size())) return errno;
    return 0;
  };
  int err = write();
  if (err == EROFS) {
    if (::unshare(CLONE_NEWNS) != 0) return Error::fromErrno(errno, "unshare(CLONE_NEWNS)");
    if (::mount(nullptr, "/proc/sys", nullptr, MS_REMOUNT | MS_BIND, nullptr) != 0)
      return Error::fromErrno(errno, "remounting the read-only /proc/sys writable");
    err = write();
  }
  if (err) return Error::fromErrno(err, "writing net.ipv4.ping_group_range");
  return {};
}

}  // namespace

Result<std::vector<EchoResult>> NetlinkKernel::echo(const Netns& ns, const std::vector<EchoProbe>& probes,
                                                    std::chrono::milliseconds timeout) {
  auto dsts = checkEchoProbes(probes, timeout);
  if (!dsts) return dsts.error();
  auto nsfd = nsFd(ns, "echo");
  if (!nsfd) return nsfd.error();
  bool want4 = false, want6 = false;
  for (const auto& d : *dsts) (d.isV6() ? want6 : want4) = true;
  // One socket per family a probe needs, both opened in the namespace.
  Fd sock4, sock6;
  auto opened = runInNetns(nsfd->get(), [&]() -> Status {
    for (int family : {AF_INET, AF_INET6}) {
      if (!(family == AF_INET ? want4 : want6)) continue;
      const int proto = family == AF_INET ? int{IPPROTO_ICMP} : int{IPPROTO_ICMPV6};
      Fd s(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, proto));
      if (!s && errno == EACCES) {
        if (auto st = allowPingSockets(); !st)
          return Error{st.code(), "echo: allowing ICMP sockets in '" + ns + "': " + st.error().message};
        s = Fd(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, proto));
      }
      if (!s)
        return Error::fromErrno(errno, std::string("echo: opening an ") +
                                           (family == AF_INET ? "ICMP" : "ICMPv6") + " socket in '" + ns +
                                           "'");
      (family == AF_INET ? sock4 : sock6) = std::move(s);
    }
    return {};
  });
  if (!opened) return opened.error();
  // DF on every probe, whatever the route's learnt path MTU: a probe at the
  // network's MTU must be lost where a container's packet would be. IPv6:
  // routers never fragment; the sender must not either.
  if (sock4) {
    int pmtu = IP_PMTUDISC_PROBE;
    if (::setsockopt(sock4.get(), IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0)
      return Error::fromErrno(errno, "echo: setting DF");
  }
  if (sock6) {
    int pmtu = IPV6_PMTUDISC_PROBE, one = 1;
    if (::setsockopt(sock6.get(), IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0 ||
        ::setsockopt(sock6.get(), IPPROTO_IPV6, IPV6_DONTFRAG, &one, sizeof one) != 0)
      return Error::fromErrno(errno, "echo: turning IPv6 fragmentation off");
  }
  for (Fd* s : {&sock4, &sock6}) {
    if (!*s) continue;
    int rcvbuf = 4 << 20;  // room for every reply of a round (root may exceed rmem_max)
    if (::setsockopt(s->get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
      ::setsockopt(s->get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }

  std::vector<EchoResult> out(probes.size());
  std::vector<Clock::time_point> sent(probes.size());
  std::vector<uint8_t> pkt;
  size_t waiting = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    const bool v6 = (*dsts)[i].isV6();
    // The kernel adds the IP header (20 bytes, 40 for IPv6).
    const size_t icmpLen = probes[i].size - (v6 ? sizeof(ip6_hdr) : sizeof(iphdr));
    pkt.assign(icmpLen, 0);
    for (size_t b = sizeof(icmphdr); b < icmpLen; ++b) pkt[b] = static_cast<uint8_t>(b);
    // ICMP and ICMPv6 echo headers share the layout (type, code, checksum,
    // id, sequence). The kernel sets the id (the socket's own "port"): only
    // this socket's replies reach it, told apart by sequence. It computes
    // the ICMPv6 checksum (over a pseudo-header) itself.
    auto* h = reinterpret_cast<icmphdr*>(pkt.data());
    h->type = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    h->un.echo.sequence = htons(static_cast<uint16_t>(i));
    if (!v6) h->checksum = checksum(pkt.data(), pkt.size());
    sockaddr_storage to{};
    socklen_t toLen;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&to);
      a->sin6_family = AF_INET6;
      std::memcpy(&a->sin6_addr, (*dsts)[i].bytes.data(), 16);
      toLen = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&to);
      a->sin_family = AF_INET;
      std::memcpy(&a->sin_addr, (*dsts)[i].bytes.data(), 4);
      toLen = sizeof *a;
    }
    sent[i] = Clock::now();
    const int fd = v6 ? sock6.get() : sock4.get();
    if (::sendto(fd, pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), toLen) < 0) {
      out[i].error = errno;
      continue;
    }
    ++waiting;
  }

  const auto deadline = Clock::now() + timeout;
  std::vector<uint8_t> buf(kMaxEchoSize);
  while (waiting > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    pollfd p[2] = {{sock4 ? sock4.get() : -1, POLLIN, 0}, {sock6 ? sock6.get() : -1, POLLIN, 0}};
    int r = ::poll(p, 2, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    for (int f = 0; f < 2; ++f) {
      if (!(p[f].revents & POLLIN)) continue;
      const bool v6 = f == 1;
      sockaddr_storage from{};
      socklen_t fromLen = sizeof from;
      ssize_t n = ::recvfrom(p[f].fd, buf.data(), buf.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr*>(&from), &fromLen);
      if (n < 0) continue;
      auto now = Clock::now();
      if (static_cast<size_t>(n) < sizeof(icmphdr)) continue;  // ICMP header and payload, no IP header
      const auto* h = reinterpret_cast<const icmphdr*>(buf.data());
      if (h->type != (v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY)) continue;
      size_t seq = ntohs(h->un.echo.sequence);
      if (seq >= out.size() || out[seq].ok || out[seq].error || (*dsts)[seq].isV6() != v6) continue;
      // The reply must come from the probed address and be as large as the
      // probe (a truncated reply does not prove the size passed).
      const void* src = v6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&from)->sin6_addr)
                           : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&from)->sin_addr);
      if (std::memcmp(src, (*dsts)[seq].bytes.data(), v6 ? 16 : 4) != 0) continue;
      if (static_cast<size_t>(n) + (v6 ? sizeof(ip6_hdr) : sizeof(iphdr)) != probes[seq].size) continue;
      out[seq].ok = true;
      out[seq].rttMicros = static_cast<uint32_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(now - sent[seq]).count());
      --waiting;
    }
  }
  return out;
}

}  // namespace weft::kernel
