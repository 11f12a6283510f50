#pragma once
// TCP/IP frames for the segmentation and coalescing tests: super-frames as a
// container's stack hands them to a TAP with TSO on, and a reference
// checksum computed the slow, obvious way.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "datapath/gso.h"

namespace weft::datapath::tcp_frames {

constexpr uint8_t kFin = 0x01, kSyn = 0x02, kPsh = 0x08, kAck = 0x10, kCwr = 0x80;

inline uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t get32(const uint8_t* p) { return static_cast<uint32_t>(get16(p)) << 16 | get16(p + 2); }
inline void set16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The reference: RFC 1071 over big-endian 16-bit words, one at a time.
inline uint32_t refSum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

struct Spec {
  bool v6 = false;
  size_t ipOptions = 0;   // IPv4 option bytes (multiple of 4)
  size_t tcpOptions = 0;  // TCP option bytes (multiple of 4)
  size_t payload = 2500;
  uint8_t flags = kAck | kPsh;
  uint32_t seq = 0xfffff000;  // wraps within the super-frame
  uint16_t ipId = 0xfffe;     // wraps too
};

inline size_t l4Of(const Spec& s) { return 14 + (s.v6 ? 40 : 20 + s.ipOptions); }
inline size_t hdrOf(const Spec& s) { return l4Of(s) + 20 + s.tcpOptions; }

// A frame as a container's TCP stack hands it to a TAP with TSO on.
inline std::vector<uint8_t> superFrame(const Spec& s) {
  std::vector<uint8_t> f(hdrOf(s) + s.payload);
  const uint8_t eth[14] = {2,
                           0,
                           0,
                           0,
                           0,
                           0xbb,
                           2,
                           0,
                           0,
                           0,
                           0,
                           0xaa,
                           static_cast<uint8_t>(s.v6 ? 0x86 : 0x08),
                           static_cast<uint8_t>(s.v6 ? 0xdd : 0x00)};
  std::copy(std::begin(eth), std::end(eth), f.begin());
  uint8_t* ip = f.data() + 14;
  if (s.v6) {
    ip[0] = 0x60;
    set16(ip + 4, static_cast<uint16_t>(f.size() - 54));
    ip[6] = 6;
    ip[7] = 64;
    for (int i = 0; i < 16; ++i)
      ip[8 + i] = static_cast<uint8_t>(0x20 + i), ip[24 + i] = static_cast<uint8_t>(0x40 + i);
  } else {
    ip[0] = static_cast<uint8_t>(0x40 | (5 + s.ipOptions / 4));
    set16(ip + 2, static_cast<uint16_t>(f.size() - 14));
    set16(ip + 4, s.ipId);
    ip[6] = 0x40;  // DF
    ip[8] = 64;
    ip[9] = 6;
    const uint8_t addrs[8] = {10, 51, 1, 2, 10, 51, 2, 3};
    std::copy(std::begin(addrs), std::end(addrs), ip + 12);
    for (size_t i = 0; i < s.ipOptions; ++i) ip[20 + i] = 1;  // NOP
  }
  uint8_t* tcp = f.data() + l4Of(s);
  set16(tcp, 40000);
  set16(tcp + 2, 5201);
  set16(tcp + 4, static_cast<uint16_t>(s.seq >> 16));
  set16(tcp + 6, static_cast<uint16_t>(s.seq));
  set16(tcp + 8, 0x1234);
  set16(tcp + 10, 0x5678);
  tcp[12] = static_cast<uint8_t>((5 + s.tcpOptions / 4) << 4);
  tcp[13] = s.flags;
  set16(tcp + 14, 502);
  for (size_t i = 0; i < s.tcpOptions; ++i) tcp[20 + i] = static_cast<uint8_t>(i % 4 == 3 ? 8 : 1);
  for (size_t i = 0; i < s.payload; ++i) f[hdrOf(s) + i] = static_cast<uint8_t>(i * 7 + i / 251);
  // The kernel leaves garbage-free partial sums here; the segmenter must not
  // depend on it either way.
  set16(tcp + 16, 0xdead);
  return f;
}

inline VnetHdr tsoHdr(const Spec& s, uint16_t gso) {
  return VnetHdr{kVnetNeedsCsum,
                 s.v6 ? kVnetGsoTcpv6 : kVnetGsoTcpv4,
                 static_cast<uint16_t>(hdrOf(s)),
                 gso,
                 static_cast<uint16_t>(l4Of(s)),
                 16};
}

inline uint32_t pseudo(const uint8_t* f, bool v6, size_t tcpLen) {
  const uint8_t* ip = f + 14;
  uint32_t sum = v6 ? refSum(ip + 8, 32) : refSum(ip + 12, 8);
  return refSum(nullptr, 0,
                sum + 6 + static_cast<uint32_t>(tcpLen >> 16) + static_cast<uint32_t>(tcpLen & 0xffff));
}

}  // namespace weft::datapath::tcp_frames
