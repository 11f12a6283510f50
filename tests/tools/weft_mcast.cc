// weft-mcast: a small multicast/broadcast sender and receiver for the test
// image (busybox has none). Statically linked, no name lookups.
//
//   weft-mcast send GROUP PORT COUNT [INTERVAL_US] [IFACE] [SIZE]
//   weft-mcast recv GROUP PORT SECONDS [IFACE] [EXPECT]
//
// GROUP is an IPv4 or IPv6 multicast group, or an IPv4 broadcast address
// (sent with SO_BROADCAST; the receiver then joins nothing). IFACE defaults to
// eth0. `send` sends COUNT datagrams "weft-mcast <seq>" INTERVAL_US apart
// (default 1000) with TTL/hops 1, padded with '.' to SIZE bytes (at most
// kMaxSize; by default not padded: a test can tell its datagrams by size). `recv` joins GROUP on IFACE,
// counts the distinct sequence numbers it gets within SECONDS (or until it has EXPECT of them), and prints
// "received N distinct M total first_ms F" (F: ms from its join to the first datagram, -1 if none). It prints
// "ready" once it has joined, so a test can start the sender after it.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>

namespace {

struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool v6 = false;
  bool multicast = false;
};

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "weft-mcast: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

bool parseTarget(const char* group, const char* port, Target* t) {
  long p = std::strtol(port, nullptr, 10);
  if (p <= 0 || p > 65535) return false;
  auto* a4 = reinterpret_cast<sockaddr_in*>(&t->addr);
  auto* a6 = reinterpret_cast<sockaddr_in6*>(&t->addr);
  if (inet_pton(AF_INET, group, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons(static_cast<uint16_t>(p));
    t->len = sizeof *a4;
    t->multicast = IN_MULTICAST(ntohl(a4->sin_addr.s_addr));
    return true;
  }
  if (inet_pton(AF_INET6, group, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons(static_cast<uint16_t>(p));
    t->len = sizeof *a6;
    t->v6 = true;
    t->multicast = IN6_IS_ADDR_MULTICAST(&a6->sin6_addr);
    return t->multicast;  // IPv6 has no broadcast
  }
  return false;
}

unsigned ifIndex(const char* name) {
  unsigned i = if_nametoindex(name);
  if (!i) die(name);
  return i;
}

constexpr long kMaxSize = 1400;  // fits a 1450-byte overlay MTU with IPv6 headers

int sendMain(const Target& t, long count, long intervalUs, const char* iface, long size) {
  int fd = socket(t.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  unsigned idx = ifIndex(iface);
  if (t.v6) {
    int hops = 1;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx) < 0) die("IPV6_MULTICAST_IF");
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) < 0) die("IPV6_MULTICAST_HOPS");
  } else if (t.multicast) {
    ip_mreqn m{};
    m.imr_ifindex = static_cast<int>(idx);
    unsigned char ttl = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &m, sizeof m) < 0) die("IP_MULTICAST_IF");
    if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl) < 0) die("IP_MULTICAST_TTL");
  } else {
    if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof one) < 0) die("SO_BROADCAST");
    if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, iface, static_cast<socklen_t>(std::strlen(iface))) < 0)
      die("SO_BINDTODEVICE");
  }
  long sent = 0;
  for (long seq = 0; seq < count; ++seq) {
    char buf[kMaxSize];
    int n = std::snprintf(buf, sizeof buf, "weft-mcast %ld", seq);
    if (size > n) {
      std::memset(buf + n, '.', static_cast<size_t>(size - n));
      n = static_cast<int>(size);
    }
    if (sendto(fd, buf, static_cast<size_t>(n), 0, reinterpret_cast<const sockaddr*>(&t.addr), t.len) == n)
      ++sent;
    if (intervalUs > 0) usleep(static_cast<useconds_t>(intervalUs));
  }
  std::printf("sent %ld\n", sent);
  return sent == count ? 0 : 1;
}

double now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int recvMain(const Target& t, double seconds, const char* iface, long expect) {
  int fd = socket(t.v6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  unsigned idx = ifIndex(iface);
  sockaddr_storage bindAddr = t.addr;  // the group itself: only its datagrams
  if (!t.multicast) {                  // broadcast: any address, that port
    reinterpret_cast<sockaddr_in*>(&bindAddr)->sin_addr.s_addr = htonl(INADDR_ANY);
  }
  if (t.v6) reinterpret_cast<sockaddr_in6*>(&bindAddr)->sin6_scope_id = idx;
  if (bind(fd, reinterpret_cast<sockaddr*>(&bindAddr), t.len) < 0) die("bind");
  if (t.v6) {
    ipv6_mreq m{};
    m.ipv6mr_multiaddr = reinterpret_cast<const sockaddr_in6*>(&t.addr)->sin6_addr;
    m.ipv6mr_interface = idx;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &m, sizeof m) < 0) die("IPV6_JOIN_GROUP");
  } else if (t.multicast) {
    ip_mreqn m{};
    m.imr_multiaddr = reinterpret_cast<const sockaddr_in*>(&t.addr)->sin_addr;
    m.imr_ifindex = static_cast<int>(idx);
    if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &m, sizeof m) < 0) die("IP_ADD_MEMBERSHIP");
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::set<long> seen;
  long total = 0;
  const double joined = now();
  double first = -1;  // seconds from the join to the first datagram
  const double end = joined + seconds;
  while (expect <= 0 || static_cast<long>(seen.size()) < expect) {
    double left = end - now();
    if (left <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left * 1000) + 1);
    if (r < 0 && errno != EINTR) die("poll");
    if (r <= 0) continue;
    char buf[128];
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) continue;
    buf[n] = '\0';
    long seq;
    if (std::sscanf(buf, "weft-mcast %ld", &seq) == 1) {
      if (first < 0) first = now() - joined;
      seen.insert(seq);
      ++total;
    }
  }
  std::printf("received %zu distinct %ld total first_ms %ld\n", seen.size(), total,
              first < 0 ? -1L : static_cast<long>(first * 1000));
  return 0;
}

int usage() {
  std::fprintf(stderr,
               "usage: weft-mcast send GROUP PORT COUNT [INTERVAL_US] [IFACE] [SIZE]\n"
               "       weft-mcast recv GROUP PORT SECONDS [IFACE] [EXPECT]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) return usage();
  Target t;
  if (!parseTarget(argv[2], argv[3], &t)) {
    std::fprintf(stderr, "weft-mcast: %s:%s is not a multicast group or IPv4 broadcast address and port\n",
                 argv[2], argv[3]);
    return 2;
  }
  std::string mode = argv[1];
  if (mode == "send") {
    const long size = argc > 7 ? std::strtol(argv[7], nullptr, 10) : 0;
    if (size < 0 || size > kMaxSize) {
      std::fprintf(stderr, "weft-mcast: SIZE %s: must be 0..%ld bytes\n", argv[7], kMaxSize);
      return 2;
    }
    return sendMain(t, std::strtol(argv[4], nullptr, 10), argc > 5 ? std::strtol(argv[5], nullptr, 10) : 1000,
                    argc > 6 ? argv[6] : "eth0", size);
  }
  if (mode == "recv")
    return recvMain(t, std::strtod(argv[4], nullptr), argc > 5 ? argv[5] : "eth0",
                    argc > 6 ? std::strtol(argv[6], nullptr, 10) : 0);
  return usage();
}
