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
#include <netinet/in.h>
#include <netinet/ip.h>
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
  Fd sock;
  auto opened = runInNetns(nsfd->get(), [&]() -> Status {
    sock = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP));
    if (!sock && errno == EACCES) {
      if (auto st = allowPingSockets(); !st)
        return Error{st.code(), "echo: allowing ICMP sockets in '" + ns + "': " + st.error().message};
      sock = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP));
    }
    if (!sock) return Error::fromErrno(errno, "echo: opening an ICMP socket in '" + ns + "'");
    return {};
  });
  if (!opened) return opened.error();
  // DF on every probe, whatever the route's learnt path MTU: a probe at the
  // network's MTU must be lost where a container's packet would be.
  int pmtu = IP_PMTUDISC_PROBE;
  if (::setsockopt(sock.get(), IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu) != 0)
    return Error::fromErrno(errno, "echo: setting DF");
  int rcvbuf = 4 << 20;  // room for every reply of a round (root may exceed rmem_max)
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
    ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

  std::vector<EchoResult> out(probes.size());
  std::vector<Clock::time_point> sent(probes.size());
  std::vector<uint8_t> pkt;
  size_t waiting = 0;
  for (size_t i = 0; i < probes.size(); ++i) {
    const size_t icmpLen = probes[i].size - sizeof(iphdr);  // the kernel adds a 20-byte IP header
    pkt.assign(icmpLen, 0);
    for (size_t b = sizeof(icmphdr); b < icmpLen; ++b) pkt[b] = static_cast<uint8_t>(b);
    auto* h = reinterpret_cast<icmphdr*>(pkt.data());
    h->type = ICMP_ECHO;
    // The kernel sets the id (the socket's own "port"): only this socket's
    // replies reach it, told apart by sequence.
    h->un.echo.sequence = htons(static_cast<uint16_t>(i));
    h->checksum = checksum(pkt.data(), pkt.size());
    sockaddr_in to{};
    to.sin_family = AF_INET;
    std::memcpy(&to.sin_addr, (*dsts)[i].bytes.data(), 4);
    sent[i] = Clock::now();
    if (::sendto(sock.get(), pkt.data(), pkt.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
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
    pollfd p{sock.get(), POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    sockaddr_in from{};
    socklen_t fromLen = sizeof from;
    ssize_t n = ::recvfrom(sock.get(), buf.data(), buf.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &fromLen);
    if (n < 0) continue;
    auto now = Clock::now();
    if (static_cast<size_t>(n) < sizeof(icmphdr)) continue;  // ICMP header and payload, no IP header
    const auto* h = reinterpret_cast<const icmphdr*>(buf.data());
    if (h->type != ICMP_ECHOREPLY) continue;
    size_t seq = ntohs(h->un.echo.sequence);
    if (seq >= out.size() || out[seq].ok || out[seq].error) continue;
    // The reply must come from the probed address and be as large as the
    // probe (a truncated reply does not prove the size passed).
    if (std::memcmp(&from.sin_addr, (*dsts)[seq].bytes.data(), 4) != 0) continue;
    if (static_cast<size_t>(n) + sizeof(iphdr) != probes[seq].size) continue;
    out[seq].ok = true;
    out[seq].rttMicros =
        static_cast<uint32_t>(std::chrono::duration_cast<std::chrono::microseconds>(now - sent[seq]).count());
    --waiting;
  }
  return out;
}

}  // namespace weft::kernel
