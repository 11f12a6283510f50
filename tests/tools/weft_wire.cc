// weft-wire: what the encrypted-network e2e test needs on the wire and that
// the test machines lack (no tcpdump): a capture that counts packets holding
// a marker, and a forged cleartext VXLAN frame. Run inside a namespace with
// nsenter; no name lookups.
//
//   weft-wire capture IFACE SECONDS MARKER
//     counts the frames seen on IFACE (AF_PACKET, both directions) for
//     SECONDS, and those holding MARKER; prints "frames N marker M".
//   weft-wire vxlan DST PORT VNI INNER_SRC_MAC INNER_DST_MAC INNER_SRC_IP INNER_DST_IP UDP_PORT PAYLOAD
//     sends one cleartext VXLAN datagram to DST:PORT carrying an Ethernet
//     frame with an IPv4/UDP datagram (to UDP_PORT) holding PAYLOAD.
//   weft-wire forge DST PORT VNI SENDER_ID EPOCH SEQ
//     sends one datagram in weft's encrypted wire format (datapath/wire.h)
//     whose header names SENDER_ID, with a ciphertext and tag that are not
//     (a forgery: the receiver must count an authentication failure).
//   weft-wire replay IFACE DST PORT SECONDS
//     waits up to SECONDS for an IPv4 UDP datagram to DST:PORT on IFACE and
//     sends its payload to DST:PORT again; prints "replayed N bytes to DST"
//     (the receiver must count a replay).
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int usage() {
  std::fprintf(stderr,
               "usage: weft-wire capture IFACE SECONDS MARKER\n"
               "       weft-wire vxlan DST PORT VNI SRC_MAC DST_MAC SRC_IP DST_IP UDP_PORT PAYLOAD\n"
               "       weft-wire forge DST PORT VNI SENDER_ID EPOCH SEQ\n"
               "       weft-wire replay IFACE DST PORT SECONDS\n");
  return 2;
}

double now() {
  timespec t{};
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

int capture(const char* iface, double seconds, const std::string& marker) {
  int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return std::perror("socket"), 1;
  int buf = 8 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = static_cast<int>(if_nametoindex(iface));
  if (ll.sll_ifindex == 0) return std::fprintf(stderr, "no interface %s\n", iface), 1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof ll) < 0) return std::perror("bind"), 1;
  std::printf("ready\n");
  std::fflush(stdout);
  std::vector<char> pkt(70000);
  unsigned long frames = 0, hits = 0;
  const double end = now() + seconds;
  for (double t = now(); t < end; t = now()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((end - t) * 1000) + 1) <= 0) continue;
    ssize_t n = ::recv(fd, pkt.data(), pkt.size(), MSG_DONTWAIT);
    if (n <= 0) continue;
    ++frames;
    if (std::search(pkt.begin(), pkt.begin() + n, marker.begin(), marker.end()) != pkt.begin() + n) ++hits;
  }
  std::printf("frames %lu marker %lu\n", frames, hits);
  return 0;
}

bool parseMac(const char* s, uint8_t* out) {
  unsigned v[6];
  if (std::sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return false;
  for (int i = 0; i < 6; ++i) out[i] = static_cast<uint8_t>(v[i]);
  return true;
}

uint16_t checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

int vxlan(char** a) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(std::atoi(a[1])));
  if (inet_pton(AF_INET, a[0], &dst.sin_addr) != 1) return std::fprintf(stderr, "bad DST %s\n", a[0]), 2;
  const uint32_t vni = static_cast<uint32_t>(std::strtoul(a[2], nullptr, 10));
  const std::string payload = a[8];
  std::vector<uint8_t> d(8 + 14 + 20 + 8 + payload.size());
  d[0] = 0x08;  // VXLAN: VNI present
  d[4] = static_cast<uint8_t>(vni >> 16);
  d[5] = static_cast<uint8_t>(vni >> 8);
  d[6] = static_cast<uint8_t>(vni);
  uint8_t* eth = d.data() + 8;
  if (!parseMac(a[4], eth) || !parseMac(a[3], eth + 6)) return std::fprintf(stderr, "bad MAC\n"), 2;
  eth[12] = 0x08;  // IPv4
  uint8_t* ip = eth + 14;
  const size_t ipLen = 20 + 8 + payload.size();
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>(ipLen >> 8);
  ip[3] = static_cast<uint8_t>(ipLen);
  ip[8] = 64;
  ip[9] = 17;  // UDP
  if (inet_pton(AF_INET, a[5], ip + 12) != 1 || inet_pton(AF_INET, a[6], ip + 16) != 1)
    return std::fprintf(stderr, "bad inner IP\n"), 2;
  const uint16_t c = checksum(ip, 20);
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
  uint8_t* udp = ip + 20;
  const uint16_t port = static_cast<uint16_t>(std::atoi(a[7]));
  udp[0] = static_cast<uint8_t>(port >> 8);  // source port = destination port
  udp[1] = static_cast<uint8_t>(port);
  udp[2] = static_cast<uint8_t>(port >> 8);
  udp[3] = static_cast<uint8_t>(port);
  udp[4] = static_cast<uint8_t>((8 + payload.size()) >> 8);
  udp[5] = static_cast<uint8_t>(8 + payload.size());
  std::memcpy(udp + 8, payload.data(), payload.size());  // checksum 0: none (IPv4)
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::perror("socket"), 1;
  if (::sendto(fd, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
    return std::perror("sendto"), 1;
  ::close(fd);
  std::printf("sent %zu bytes\n", d.size());
  return 0;
}

int sendTo(const char* addr, uint16_t port, const uint8_t* p, size_t n) {
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(port);
  if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1) return std::fprintf(stderr, "bad address %s\n", addr), 2;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::perror("socket"), 1;
  if (::sendto(fd, p, n, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) < 0)
    return std::perror("sendto"), 1;
  ::close(fd);
  return 0;
}

void put32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (24 - 8 * i));
}

int forge(char** a) {
  std::vector<uint8_t> d(24 + 60 + 16, 0xa5);
  d[0] = 1;  // kWireVersion
  d[1] = d[2] = d[3] = 0;
  put32(&d[4], static_cast<uint32_t>(std::strtoul(a[2], nullptr, 10)));
  put32(&d[8], static_cast<uint32_t>(std::strtoul(a[3], nullptr, 0)));
  put32(&d[12], static_cast<uint32_t>(std::strtoul(a[4], nullptr, 10)));
  const uint64_t seq = std::strtoull(a[5], nullptr, 10);
  put32(&d[16], static_cast<uint32_t>(seq >> 32));
  put32(&d[20], static_cast<uint32_t>(seq));
  int rc = sendTo(a[0], static_cast<uint16_t>(std::atoi(a[1])), d.data(), d.size());
  if (rc == 0) std::printf("sent %zu bytes\n", d.size());
  return rc;
}

int replay(const char* iface, const char* dst, uint16_t port, double seconds) {
  in_addr want{};
  if (inet_pton(AF_INET, dst, &want) != 1) return std::fprintf(stderr, "bad DST %s\n", dst), 2;
  // ETH_P_ALL, not ETH_P_IP: the kernel hands outgoing packets only to
  // packet sockets of all protocols.
  int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return std::perror("socket"), 1;
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = static_cast<int>(if_nametoindex(iface));
  if (ll.sll_ifindex == 0) return std::fprintf(stderr, "no interface %s\n", iface), 1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&ll), sizeof ll) < 0) return std::perror("bind"), 1;
  std::vector<uint8_t> pkt(70000);
  const double end = now() + seconds;
  for (double t = now(); t < end; t = now()) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>((end - t) * 1000) + 1) <= 0) continue;
    ssize_t n = ::recv(fd, pkt.data(), pkt.size(), MSG_DONTWAIT);
    if (n < 28 || (pkt[0] >> 4) != 4 || pkt[9] != 17) continue;
    const size_t ihl = (pkt[0] & 0xf) * 4u;
    if (static_cast<size_t>(n) < ihl + 8) continue;
    const uint8_t* udp = pkt.data() + ihl;
    if ((udp[2] << 8 | udp[3]) != port || std::memcmp(pkt.data() + 16, &want, 4) != 0) continue;
    const size_t len = static_cast<size_t>(n) - ihl - 8;
    int rc = sendTo(dst, port, udp + 8, len);
    if (rc == 0) std::printf("replayed %zu bytes to %s\n", len, dst);
    return rc;
  }
  std::fprintf(stderr, "no datagram to port %u within %.1f s\n", port, seconds);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 5 && std::strcmp(argv[1], "capture") == 0) return capture(argv[2], std::atof(argv[3]), argv[4]);
  if (argc == 11 && std::strcmp(argv[1], "vxlan") == 0) return vxlan(argv + 2);
  if (argc == 8 && std::strcmp(argv[1], "forge") == 0) return forge(argv + 2);
  if (argc == 6 && std::strcmp(argv[1], "replay") == 0)
    return replay(argv[2], argv[3], static_cast<uint16_t>(std::atoi(argv[4])), std::atof(argv[5]));
  return usage();
}
