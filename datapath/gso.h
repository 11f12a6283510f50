#pragma once
// TCP super-frames between the TAP and the datapath (issue 11, throughput).
//
// With TUNSETOFFLOAD (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) the kernel hands
// the TAP a container's TCP stream as super-frames of up to 64 KB with a
// virtio_net_hdr that says how to cut them (gso_size) and a partial TCP
// checksum. The plain VXLAN path moves such super-frames whole; per-MTU frames
// through the TAP cost ~15x the system calls and bridge passes.
//
//   Segmenter  send side: one super-frame -> MTU-sized TCP/IP frames, each
//              with its own IP length/id/checksum, TCP sequence, flags
//              (PSH/FIN only on the last, CWR only on the first) and a complete
//              TCP checksum -- exactly what the kernel's own segmentation
//              produces, so the wire carries ordinary frames.
//   Coalescer  receive side: consecutive authenticated TCP segments of one
//              flow -> one super-frame with a virtio_net_hdr (GSO TCPV4/6,
//              partial checksum) for one TAP write, as GRO does.
//
// The input of both is bounds-checked: the Segmenter's comes from the kernel,
// the Coalescer's from an authenticated peer (fuzzed in
// tests/fuzz/fuzz_datapath.cc). A frame either cannot handle is refused
// (Segmenter) or passed on alone (Coalescer), never read past its end.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace weft::datapath {

// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++),
// 10 bytes, in the host's byte order (no TUNSETVNETBE).
inline constexpr size_t kVnetHdrSize = 10;
inline constexpr uint8_t kVnetNeedsCsum = 1;
inline constexpr uint8_t kVnetGsoNone = 0;
inline constexpr uint8_t kVnetGsoTcpv4 = 1;
inline constexpr uint8_t kVnetGsoTcpv6 = 4;
inline constexpr uint8_t kVnetGsoEcn = 0x80;

struct VnetHdr {
  uint8_t flags = 0;
  uint8_t gsoType = kVnetGsoNone;
  uint16_t hdrLen = 0;
  uint16_t gsoSize = 0;
  uint16_t csumStart = 0;
  uint16_t csumOffset = 0;
  bool operator==(const VnetHdr&) const = default;
};
VnetHdr decodeVnetHdr(std::span<const uint8_t, kVnetHdrSize> in);
void encodeVnetHdr(const VnetHdr& h, std::span<uint8_t, kVnetHdrSize> out);

// The Internet checksum (RFC 1071) of `data` folded onto `initial`
// (a 16-bit one's-complement sum in the byte order of memory), not inverted.
uint16_t onesSum(std::span<const uint8_t> data, uint32_t initial = 0);

// The largest super-frame: a 64 KB IP packet behind an Ethernet header.
inline constexpr size_t kMaxSuperFrame = 14 + 65535;
// The smallest gso_size accepted: a kernel never cuts finer; refusing it
// bounds the number of segments (and the work) per super-frame.
inline constexpr size_t kMinGsoSize = 64;

enum class SegmentError {
  kNone,
  kUnsupported,  // a GSO type other than TCPv4/TCPv6, or ECN (never enabled)
  kMalformed,    // headers that do not parse, or disagree with the frame's size
  kTooBig,       // a resulting frame longer than `maxFrame`
};
const char* describe(SegmentError e);

class Segmenter {
 public:
  // Cuts `frame` (what follows the virtio_net_hdr `h`) into frames no longer
  // than `maxFrame`: one frame for a non-GSO frame (its partial checksum
  // completed in place when NEEDS_CSUM), one per gso_size of TCP payload
  // otherwise. The spans point into `frame` or into this Segmenter, valid
  // until the next call.
  SegmentError split(const VnetHdr& h, std::span<uint8_t> frame, size_t maxFrame,
                     std::vector<std::span<const uint8_t>>* out);

 private:
  std::vector<uint8_t> buf_;
};

// The most segments one super-frame joins: bounds the pieces of one TAP
// write (writev takes at most IOV_MAX = 1024) whatever the segments' size.
inline constexpr size_t kMaxCoalescedSegments = 64;

class Coalescer {
 public:
  // Offers an authenticated frame. True when it was taken into the pending
  // super-frame; false when it cannot join it (not TCP with payload, another
  // flow, out of sequence, flags, size, kMaxCoalescedSegments): the caller
  // flushes the pending one and then offers the frame again or sends it
  // alone. The frame's memory must stay as it is until take()/takePieces():
  // its payload is not copied.
  bool add(std::span<const uint8_t> frame);
  // Whether a super-frame is pending, and how many segments it holds.
  size_t segments() const { return count_; }
  // The pending frames as what to write to a TAP: virtio_net_hdr + frame
  // (GSO with a partial checksum for two or more segments; the one frame
  // unchanged after a zero header for one). Resets the Coalescer.
  std::span<const uint8_t> take();
  // What take() returns, as pieces that joined are it (virtio_net_hdr and
  // headers here, each payload where add() found it): for one writev with
  // no copy in user space. Resets the Coalescer; valid until the next add().
  std::span<const std::span<const uint8_t>> takePieces();
  // Whether the pending super-frame accepts no more (a short or PSH segment
  // closed it, or it holds kMaxCoalescedSegments): the caller may take() at
  // once.
  bool closed() const { return closed_; }

 private:
  std::vector<uint8_t> head_;                     // virtio_net_hdr + the first frame's headers
  std::vector<std::span<const uint8_t>> pieces_;  // head_, then each frame's payload
  std::vector<uint8_t> buf_;                      // take(): the pieces joined
  size_t size_ = 0;                               // of the super-frame, virtio_net_hdr included
  size_t count_ = 0;
  bool closed_ = false;
  bool v6_ = false;
  size_t l4_ = 0, payload_ = 0;  // offsets in the frame: TCP header, payload
  size_t gsoSize_ = 0;
  uint32_t nextSeq_ = 0;
};

}  // namespace weft::datapath
