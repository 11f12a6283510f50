#include "datapath/gso.h"

#include <algorithm>
#include <cstring>

namespace weft::datapath {
namespace {

constexpr uint16_t kEtherIpv4 = 0x0800;
constexpr uint16_t kEtherIpv6 = 0x86dd;
constexpr size_t kEthHdr = 14;
constexpr size_t kIpv4MinHdr = 20;
constexpr size_t kIpv6Hdr = 40;
constexpr size_t kTcpMinHdr = 20;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kTcpFin = 0x01, kTcpPsh = 0x08, kTcpAck = 0x10, kTcpCwr = 0x80;
constexpr size_t kTcpCheck = 16;  // the checksum's offset in the TCP header

uint16_t be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
// A checksum computed by onesSum() is in memory order: stored as it is.
void putSum(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }

// Where the layers of an Ethernet + IPv4/IPv6 + TCP frame start.
struct TcpFrame {
  bool v6 = false;
  size_t l4 = 0;       // TCP header
  size_t payload = 0;  // TCP payload
};

// The frame as Ethernet + IPv4 (any options, not a fragment) or IPv6 (no
// extension header) + TCP, with the IP length matching the frame's.
bool parseTcp(std::span<const uint8_t> f, TcpFrame* t) {
  if (f.size() < kEthHdr + kIpv4MinHdr + kTcpMinHdr) return false;
  const uint8_t* ip = f.data() + kEthHdr;
  const size_t l3len = f.size() - kEthHdr;
  switch (be16(f.data() + 12)) {
    case kEtherIpv4: {
      const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
      if (ip[0] >> 4 != 4 || ihl < kIpv4MinHdr || ip[9] != kProtoTcp || be16(ip + 2) != l3len) return false;
      if ((ip[6] & 0x3f) != 0 || ip[7] != 0) return false;  // MF or an offset: a fragment
      t->v6 = false;
      t->l4 = kEthHdr + ihl;
      break;
    }
    case kEtherIpv6:
      if (l3len < kIpv6Hdr + kTcpMinHdr || ip[0] >> 4 != 6 || ip[6] != kProtoTcp ||
          be16(ip + 4) != l3len - kIpv6Hdr)
        return false;
      t->v6 = true;
      t->l4 = kEthHdr + kIpv6Hdr;
      break;
    default:
      return false;
  }
  if (t->l4 + kTcpMinHdr > f.size()) return false;
  const size_t doff = static_cast<size_t>(f[t->l4 + 12] >> 4) * 4;
  if (doff < kTcpMinHdr || t->l4 + doff > f.size()) return false;
  t->payload = t->l4 + doff;
  return true;
}

// The pseudo header's sum (RFC 793 / RFC 8200 8.1) for `tcpLen` bytes of TCP.
uint32_t pseudoSum(std::span<const uint8_t> f, const TcpFrame& t, size_t tcpLen) {
  const uint8_t* ip = f.data() + kEthHdr;
  uint8_t tail[8] = {};
  if (t.v6) {
    put32(tail, static_cast<uint32_t>(tcpLen));
    tail[7] = kProtoTcp;
    return onesSum({tail, 8}, onesSum({ip + 8, 32}));
  }
  tail[1] = kProtoTcp;
  put16(tail + 2, static_cast<uint16_t>(tcpLen));
  return onesSum({tail, 4}, onesSum({ip + 12, 8}));
}

// Sets the IP length fields (and the IPv4 header checksum) for a frame of
// `size` bytes; `ipId`: the IPv4 identification.
void fixIp(uint8_t* f, const TcpFrame& t, size_t size, uint16_t ipId) {
  uint8_t* ip = f + kEthHdr;
  if (t.v6) {
    put16(ip + 4, static_cast<uint16_t>(size - kEthHdr - kIpv6Hdr));
    return;
  }
  put16(ip + 2, static_cast<uint16_t>(size - kEthHdr));
  put16(ip + 4, ipId);
  put16(ip + 10, 0);
  putSum(ip + 10, static_cast<uint16_t>(~onesSum({ip, t.l4 - kEthHdr})));
}

// Whether two frames of one TCP flow have the same headers but for what
// changes from segment to segment (IP length, id and checksum; TCP sequence,
// flags and checksum).
bool sameFlowHeaders(const uint8_t* a, const uint8_t* b, const TcpFrame& t) {
  if (std::memcmp(a, b, kEthHdr) != 0) return false;
  const uint8_t *ia = a + kEthHdr, *ib = b + kEthHdr;
  if (t.v6) {
    if (std::memcmp(ia, ib, 4) != 0 || std::memcmp(ia + 6, ib + 6, kIpv6Hdr - 6) != 0) return false;
  } else {
    if (std::memcmp(ia, ib, 2) != 0 || std::memcmp(ia + 6, ib + 6, 4) != 0 ||
        std::memcmp(ia + 12, ib + 12, t.l4 - kEthHdr - 12) != 0)
      return false;
  }
  const uint8_t *ta = a + t.l4, *tb = b + t.l4;
  // ports; ack; data offset; window; urgent pointer; options
  return std::memcmp(ta, tb, 4) == 0 && std::memcmp(ta + 8, tb + 8, 5) == 0 &&
         std::memcmp(ta + 14, tb + 14, 2) == 0 && std::memcmp(ta + 18, tb + 18, t.payload - t.l4 - 18) == 0;
}

}  // namespace

VnetHdr decodeVnetHdr(std::span<const uint8_t, kVnetHdrSize> in) {
  auto le16 = [&](size_t i) { return static_cast<uint16_t>(in[i] | in[i + 1] << 8); };
  return VnetHdr{in[0], in[1], le16(2), le16(4), le16(6), le16(8)};
}

void encodeVnetHdr(const VnetHdr& h, std::span<uint8_t, kVnetHdrSize> out) {
  out[0] = h.flags;
  out[1] = h.gsoType;
  const uint16_t v[] = {h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset};
  for (size_t i = 0; i < 4; ++i) {
    out[2 + 2 * i] = static_cast<uint8_t>(v[i]);
    out[3 + 2 * i] = static_cast<uint8_t>(v[i] >> 8);
  }
}

uint16_t onesSum(std::span<const uint8_t> data, uint32_t initial) {
  // Summing the words as they lie in memory gives the checksum in memory
  // order whatever the host's byte order (RFC 1071 2(B)); 32-bit words into
  // a 64-bit accumulator cannot overflow for any frame.
  uint64_t sum = initial;
  const uint8_t* p = data.data();
  size_t n = data.size();
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    sum += (w & 0xffffffff) + (w >> 32);
  }
  if (n >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t w;
    std::memcpy(&w, p, 2);
    sum += w;
    p += 2;
    n -= 2;
  }
  if (n) {
    const uint8_t last[2] = {*p, 0};
    uint16_t w;
    std::memcpy(&w, last, 2);
    sum += w;
  }
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

const char* describe(SegmentError e) {
  switch (e) {
    case SegmentError::kNone:
      return "ok";
    case SegmentError::kUnsupported:
      return "unsupported GSO type";
    case SegmentError::kMalformed:
      return "malformed super-frame";
    case SegmentError::kTooBig:
      return "segment larger than the frame limit";
  }
  return "?";
}

SegmentError Segmenter::split(const VnetHdr& h, std::span<uint8_t> frame, size_t maxFrame,
                              std::vector<std::span<const uint8_t>>* out) {
  out->clear();
  if (frame.size() < kEthHdr) return SegmentError::kMalformed;
  if (h.gsoType == kVnetGsoNone) {
    if (frame.size() > maxFrame) return SegmentError::kTooBig;
    if (h.flags & kVnetNeedsCsum) {
      const size_t start = h.csumStart, at = start + h.csumOffset;
      if (start >= frame.size() || at + 2 > frame.size()) return SegmentError::kMalformed;
      putSum(frame.data() + at, static_cast<uint16_t>(~onesSum(frame.subspan(start))));
    }
    out->push_back(frame);
    return SegmentError::kNone;
  }
  if (h.gsoType != kVnetGsoTcpv4 && h.gsoType != kVnetGsoTcpv6) return SegmentError::kUnsupported;
  TcpFrame t;
  if (frame.size() > kMaxSuperFrame || !parseTcp(frame, &t) || t.v6 != (h.gsoType == kVnetGsoTcpv6))
    return SegmentError::kMalformed;
  const size_t gso = h.gsoSize, hdr = t.payload, total = frame.size() - hdr;
  if (gso < kMinGsoSize || total == 0) return SegmentError::kMalformed;
  if (hdr + std::min(gso, total) > maxFrame) return SegmentError::kTooBig;
  const size_t n = (total + gso - 1) / gso;
  buf_.resize(n * (hdr + gso));
  const uint8_t* src = frame.data();
  const uint16_t id0 = t.v6 ? 0 : be16(src + kEthHdr + 4);
  const uint32_t seq0 = be32(src + t.l4 + 4);
  const uint8_t flags = src[t.l4 + 13];
  for (size_t i = 0; i < n; ++i) {
    uint8_t* seg = buf_.data() + i * (hdr + gso);
    const size_t len = std::min(gso, total - i * gso);
    std::memcpy(seg, src, hdr);
    std::memcpy(seg + hdr, src + hdr + i * gso, len);
    fixIp(seg, t, hdr + len, static_cast<uint16_t>(id0 + i));
    uint8_t* tcp = seg + t.l4;
    put32(tcp + 4, static_cast<uint32_t>(seq0 + i * gso));
    uint8_t f = flags;
    if (i + 1 < n) f &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i > 0) f &= static_cast<uint8_t>(~kTcpCwr);
    tcp[13] = f;
    const size_t tcpLen = hdr - t.l4 + len;
    put16(tcp + kTcpCheck, 0);
    const std::span<const uint8_t> segSpan(seg, hdr + len);
    putSum(tcp + kTcpCheck,
           static_cast<uint16_t>(~onesSum(segSpan.subspan(t.l4), pseudoSum(segSpan, t, tcpLen))));
    out->push_back(segSpan);
  }
  return SegmentError::kNone;
}

bool Coalescer::add(std::span<const uint8_t> f) {
  if (closed_) return false;
  TcpFrame t;
  if (!parseTcp(f, &t)) return false;
  const uint8_t* tcp = f.data() + t.l4;
  const uint8_t flags = tcp[13];
  const size_t len = f.size() - t.payload;
  if (len == 0 || (flags & ~(kTcpAck | kTcpPsh)) != 0 || !(flags & kTcpAck)) return false;
  // Checked here, since the super-frame's checksum is recomputed: a
  // segment with a wrong one is passed on alone for the kernel to drop.
  if (!t.v6 && onesSum(f.subspan(kEthHdr, t.l4 - kEthHdr)) != 0xffff) return false;
  if (onesSum(f.subspan(t.l4), pseudoSum(f, t, f.size() - t.l4)) != 0xffff) return false;
  const uint32_t seq = be32(tcp + 4);
  if (count_ == 0) {
    head_.assign(kVnetHdrSize, 0);
    head_.insert(head_.end(), f.begin(), f.begin() + static_cast<std::ptrdiff_t>(t.payload));
    pieces_.clear();
    pieces_.push_back({});  // head_, set by takePieces() (head_ may still move)
    size_ = kVnetHdrSize + t.payload;
    v6_ = t.v6;
    l4_ = t.l4;
    payload_ = t.payload;
    gsoSize_ = len;
  } else {
    const uint8_t* first = head_.data() + kVnetHdrSize;
    if (t.v6 != v6_ || t.l4 != l4_ || t.payload != payload_ || seq != nextSeq_ || len > gsoSize_ ||
        count_ >= kMaxCoalescedSegments || size_ + len > kVnetHdrSize + kMaxSuperFrame ||
        !sameFlowHeaders(first, f.data(), t))
      return false;
    head_[kVnetHdrSize + l4_ + 13] |= flags & kTcpPsh;
  }
  // Only the payload's place is kept: the frame stays where it was opened
  // (the loop's receive buffer) until the super-frame is written.
  pieces_.push_back(f.subspan(t.payload));
  size_ += len;
  ++count_;
  nextSeq_ = seq + static_cast<uint32_t>(len);
  closed_ = len < gsoSize_ || (flags & kTcpPsh) || count_ == kMaxCoalescedSegments;
  return true;
}

std::span<const std::span<const uint8_t>> Coalescer::takePieces() {
  const size_t n = count_;
  count_ = 0;
  closed_ = false;
  if (n == 0) return {};
  pieces_[0] = head_;
  if (n == 1) return pieces_;  // the frame unchanged behind a zero header
  // Headers as the kernel's GRO leaves them: lengths of the whole, the TCP
  // checksum field holding the pseudo header's sum (completed, and the
  // segments' recomputed, by whoever segments or checks it).
  uint8_t* f = head_.data() + kVnetHdrSize;
  const size_t size = size_ - kVnetHdrSize;
  TcpFrame t{v6_, l4_, payload_};
  fixIp(f, t, size, t.v6 ? 0 : be16(f + kEthHdr + 4));
  put16(f + l4_ + kTcpCheck, 0);
  putSum(f + l4_ + kTcpCheck, static_cast<uint16_t>(pseudoSum({f, payload_}, t, size - l4_)));
  encodeVnetHdr(VnetHdr{kVnetNeedsCsum, v6_ ? kVnetGsoTcpv6 : kVnetGsoTcpv4, static_cast<uint16_t>(payload_),
                        static_cast<uint16_t>(gsoSize_), static_cast<uint16_t>(l4_), kTcpCheck},
                std::span<uint8_t, kVnetHdrSize>(head_.data(), kVnetHdrSize));
  return pieces_;
}

std::span<const uint8_t> Coalescer::take() {
  auto pieces = takePieces();
  buf_.clear();
  for (const auto& p : pieces) buf_.insert(buf_.end(), p.begin(), p.end());
  return pieces.empty() ? std::span<const uint8_t>() : std::span<const uint8_t>(buf_);
}

}  // namespace weft::datapath
