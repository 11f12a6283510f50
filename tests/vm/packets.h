#pragma once
// Small packet tools for the VM test: sockets opened inside a namespace,
// AF_PACKET captures, ICMP echo, hand-built frames for injection.

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "kernel/fd.h"
#include "kernel/netns_util.h"

namespace weft::vmtest {

using kernel::Fd;
using Packet = std::vector<uint8_t>;

inline bool contains(const Packet& pkt, const std::string& s) {
  return std::search(pkt.begin(), pkt.end(), s.begin(), s.end()) != pkt.end();
}

inline uint16_t inetChecksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// A socket created in the namespace file `nsPath` (from a short-lived thread).
inline Fd socketIn(const std::string& nsPath, int domain, int type, int proto) {
  auto ns = kernel::openNetnsFile(nsPath);
  if (!ns) return Fd();
  Fd out;
  (void)kernel::runInNetns(ns->get(), [&]() -> Status {
    out = Fd(::socket(domain, type | SOCK_CLOEXEC, proto));
    return out ? Status::Ok() : Error::fromErrno(errno, "socket");
  });
  return out;
}

// Every frame seen on ifindex from now on (both directions).
inline Fd capture(const std::string& nsPath, int ifindex) {
  Fd fd = socketIn(nsPath, AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, htons(ETH_P_ALL));
  if (!fd) return fd;
  const int buf = 8 << 20;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  sockaddr_ll ll{};
  ll.sll_family = AF_PACKET;
  ll.sll_protocol = htons(ETH_P_ALL);
  ll.sll_ifindex = ifindex;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ll), sizeof ll) != 0) return Fd();
  return fd;
}

inline std::vector<Packet> drain(const Fd& fd) {
  std::vector<Packet> out;
  Packet buf(70000);
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf.data(), buf.size(), MSG_DONTWAIT);
    if (n < 0) return out;
    out.emplace_back(buf.begin(), buf.begin() + n);
  }
}

// An ICMP echo request with `payload`, checksummed.
inline Packet echoRequest(uint16_t id, uint16_t seq, const std::string& payload) {
  Packet msg(8 + payload.size());
  msg[0] = ICMP_ECHO;
  msg[4] = static_cast<uint8_t>(id >> 8);
  msg[5] = static_cast<uint8_t>(id);
  msg[6] = static_cast<uint8_t>(seq >> 8);
  msg[7] = static_cast<uint8_t>(seq);
  std::memcpy(msg.data() + 8, payload.data(), payload.size());
  const uint16_t c = inetChecksum(msg.data(), msg.size());
  msg[2] = static_cast<uint8_t>(c >> 8);
  msg[3] = static_cast<uint8_t>(c);
  return msg;
}

inline sockaddr_in inet4(const std::string& ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

inline bool sendEcho(const Fd& icmp, const std::string& to, uint16_t id, uint16_t seq,
                     const std::string& payload) {
  Packet msg = echoRequest(id, seq, payload);
  sockaddr_in dst = inet4(to, 0);
  return ::sendto(icmp.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst) ==
         static_cast<ssize_t>(msg.size());
}

// The sequence number of an echo reply with `id` read from a raw ICMP
// socket (which sees the IP header), or -1.
inline int readEchoReply(const Fd& icmp, uint16_t id) {
  uint8_t buf[2000];
  ssize_t n = ::recv(icmp.get(), buf, sizeof buf, MSG_DONTWAIT);
  if (n < 28) return -1;
  const size_t ihl = (buf[0] & 0xf) * 4u;
  if (static_cast<size_t>(n) < ihl + 8) return -1;
  const uint8_t* r = buf + ihl;
  if (r[0] != ICMP_ECHOREPLY || (r[4] << 8 | r[5]) != id) return -1;
  return r[6] << 8 | r[7];
}

// One echo; true when its reply comes within `timeout`.
inline bool ping(const Fd& icmp, const std::string& to, uint16_t id, uint16_t seq, const std::string& payload,
                 std::chrono::milliseconds timeout) {
  if (!sendEcho(icmp, to, id, seq, payload)) return false;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{icmp.get(), POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    while (true) {
      int got = readEchoReply(icmp, id);
      if (got == seq) return true;
      if (got < 0) break;
    }
  }
  return false;
}

// An Ethernet + IPv4 + UDP frame (UDP checksum 0: allowed over IPv4).
inline Packet udpFrame(const uint8_t dstMac[6], const uint8_t srcMac[6], const std::string& srcIp,
                       const std::string& dstIp, uint16_t srcPort, uint16_t dstPort, const Packet& payload) {
  Packet f(14 + 20 + 8 + payload.size(), 0);
  std::memcpy(f.data(), dstMac, 6);
  std::memcpy(f.data() + 6, srcMac, 6);
  f[12] = 0x08;
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  const uint16_t total = static_cast<uint16_t>(20 + 8 + payload.size());
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[8] = 64;
  ip[9] = IPPROTO_UDP;
  inet_pton(AF_INET, srcIp.c_str(), ip + 12);
  inet_pton(AF_INET, dstIp.c_str(), ip + 16);
  const uint16_t c = inetChecksum(ip, 20);
  ip[10] = static_cast<uint8_t>(c >> 8);
  ip[11] = static_cast<uint8_t>(c);
  uint8_t* udp = ip + 20;
  udp[0] = static_cast<uint8_t>(srcPort >> 8);
  udp[1] = static_cast<uint8_t>(srcPort);
  udp[2] = static_cast<uint8_t>(dstPort >> 8);
  udp[3] = static_cast<uint8_t>(dstPort);
  const uint16_t ulen = static_cast<uint16_t>(8 + payload.size());
  udp[4] = static_cast<uint8_t>(ulen >> 8);
  udp[5] = static_cast<uint8_t>(ulen);
  std::memcpy(udp + 8, payload.data(), payload.size());
  return f;
}

// IPv4 frame fields (0 when not IPv4).
inline uint8_t ipProto(const Packet& f) {
  return f.size() >= 34 && f[12] == 0x08 && f[13] == 0x00 ? f[23] : 0;
}
inline uint16_t udpDstPort(const Packet& f) {
  if (ipProto(f) != IPPROTO_UDP) return 0;
  const size_t ihl = (f[14] & 0xf) * 4u;
  if (f.size() < 14 + ihl + 4) return 0;
  return static_cast<uint16_t>(f[14 + ihl + 2] << 8 | f[14 + ihl + 3]);
}
inline uint32_t espSpi(const Packet& f) {
  if (ipProto(f) != IPPROTO_ESP) return 0;
  const size_t ihl = (f[14] & 0xf) * 4u;
  if (f.size() < 14 + ihl + 4) return 0;
  const uint8_t* e = f.data() + 14 + ihl;
  return static_cast<uint32_t>(e[0]) << 24 | static_cast<uint32_t>(e[1]) << 16 |
         static_cast<uint32_t>(e[2]) << 8 | e[3];
}
// The ESP sequence number (its low 32 bits with ESN; 0 when not ESP).
inline uint32_t espSeq(const Packet& f) {
  if (ipProto(f) != IPPROTO_ESP) return 0;
  const size_t ihl = (f[14] & 0xf) * 4u;
  if (f.size() < 14 + ihl + 8) return 0;
  const uint8_t* e = f.data() + 14 + ihl + 4;
  return static_cast<uint32_t>(e[0]) << 24 | static_cast<uint32_t>(e[1]) << 16 |
         static_cast<uint32_t>(e[2]) << 8 | e[3];
}

}  // namespace weft::vmtest
