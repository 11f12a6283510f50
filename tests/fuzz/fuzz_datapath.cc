// libFuzzer target: the userspace encrypted datapath's packet decoder, on
// both sides of the tag check. The first byte picks what the rest is:
//   0  a raw UDP payload, as anyone on the underlay can send (fixed-header
//      parse, key choice, replay check, authentication);
//   1  a plaintext sealed with the network's real key under a header whose
//      flags and sequence the input chooses, so the fuzzer reaches the
//      post-authentication frame parser as only a key holder could;
//   2  frames the sender splits and seals, which must open to the same frames;
//   3  a virtio_net_hdr and frame as a TAP hands them over: segmented
//      (datapath/gso.h), the segments coalesced again as a receiver does,
//      which must give a super-frame that segments into the same frames;
//   4  frames (2-byte lengths) as an authenticated peer could send them,
//      through the coalescer: what it writes stays within a super-frame and
//      re-segments without error.
// A crash, a sanitizer report, a decoded frame outside the limits, or a
// round trip that changes the frames is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "datapath/datapath.h"
#include "datapath/gso.h"

using namespace weft::datapath;

namespace {

constexpr uint32_t kVni = 77, kIdA = 1, kIdB = 2;
constexpr uint16_t kPort = 4790;
const Clock::time_point kNow = Clock::time_point{} + std::chrono::hours(1);

std::vector<uint8_t> material() { return std::vector<uint8_t>(32, 0x33); }

// Host B, which has host A as its peer on one network.
// (A Datapath holds an atomic and is neither copied nor moved.)
std::unique_ptr<Datapath> makeB() {
  auto b = std::make_unique<Datapath>("host-b", kIdB);
  if (!b->addNetwork(kVni, "fuzz-net", material(), {}, kPort) ||
      !b->addPeer(kVni, {"host-a", kIdA, "198.18.0.1", 1, 0}, kNow))
    std::abort();
  return b;
}

void checkFrames(const Datapath::Received& r, size_t plaintextSize, bool batch) {
  size_t total = 0;
  for (const auto& f : r.frames) {
    if (f.size() < kMinFrameSize || f.size() > kMaxFrameSize) std::abort();
    total += f.size() + (batch ? kBatchLengthSize : 0);
  }
  if (r.frames.empty() || r.frames.size() > kMaxBatchFrames || total != plaintextSize) std::abort();
}

void rawPacket(const uint8_t* data, size_t size) {
  auto bp = makeB();
  Datapath& b = *bp;
  std::vector<uint8_t> pkt(data, data + size);
  Datapath::Received r;
  if (b.open(pkt, &r, kNow)) std::abort();  // nobody without the key gets through
  if (b.totals().dropped() != 1) std::abort();
}

void sealedPlaintext(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const uint8_t flags = data[0] & kFlagBatch;
  const uint64_t seq = 1 + data[1];
  data += 2;
  size -= 2;
  std::vector<uint8_t> pkt(kHeaderSize + size + kTagSize);
  encodeHeader(Header{.flags = flags, .vni = kVni, .senderId = kIdA, .keyEpoch = 1, .sequence = seq},
               std::span<uint8_t, kHeaderSize>(pkt.data(), kHeaderSize));
  auto key = deriveKey(material(), Direction{"fuzz-net", "host-a", "host-b"}, 1);
  if (!key) std::abort();
  AeadKey aead(*key);
  if (!aead.seal(0, seq, std::span(pkt).first(kHeaderSize), std::span(data, size), pkt.data() + kHeaderSize,
                 pkt.data() + kHeaderSize + size))
    std::abort();
  auto bp = makeB();
  Datapath& b = *bp;
  Datapath::Received r;
  if (b.open(pkt, &r, kNow)) {
    checkFrames(r, size, flags & kFlagBatch);
  } else if (b.peerCounters(kVni, kIdA)->malformedInner != 1 || b.totals().dropped() != 1) {
    std::abort();  // authentic: the only reason left to drop it is its payload
  }
}

void roundTrip(const uint8_t* data, size_t size) {
  // Frame sizes from the input's bytes, their content from the rest.
  std::vector<std::vector<uint8_t>> frames;
  size_t at = 0;
  while (at + 1 < size && frames.size() < kMaxBatchFrames + 1) {
    const size_t n = kMinFrameSize + data[at] * 8;
    ++at;
    std::vector<uint8_t> f(n);
    for (size_t i = 0; i < n; ++i) f[i] = data[(at + i) % size];
    frames.push_back(std::move(f));
  }
  std::vector<std::span<const uint8_t>> spans(frames.begin(), frames.end());
  auto a = Datapath("host-a", kIdA);
  if (!a.addNetwork(kVni, "fuzz-net", material(), {}, kPort) ||
      !a.addPeer(kVni, {"host-b", kIdB, "198.18.0.2", 1, 0}, kNow))
    std::abort();
  std::vector<uint8_t> pkt(kMaxPacketSize);
  auto n = a.seal(kVni, *parsePeerAddr("198.18.0.2", kPort), spans, pkt, kNow);
  if (!n) {
    if (innerSize(spans) != 0 && kOverhead + innerSize(spans) <= kMaxPacketSize) std::abort();
    return;
  }
  pkt.resize(*n);
  auto bp = makeB();
  Datapath& b = *bp;
  Datapath::Received r;
  if (!b.open(pkt, &r, kNow) || r.frames.size() != frames.size()) std::abort();
  for (size_t i = 0; i < frames.size(); ++i)
    if (!std::equal(frames[i].begin(), frames[i].end(), r.frames[i].begin(), r.frames[i].end())) std::abort();
}

// Coalesces `frames` the way the datapath loop does; `written` gets what it
// would write to the TAP (virtio_net_hdr + frame each).
void coalesce(const std::vector<std::span<const uint8_t>>& frames,
              std::vector<std::vector<uint8_t>>* written) {
  Coalescer c;
  auto drain = [&] {
    auto t = c.take();
    if (t.empty()) return;
    if (t.size() < kVnetHdrSize + kMinFrameSize || t.size() > kVnetHdrSize + kMaxSuperFrame) std::abort();
    written->emplace_back(t.begin(), t.end());
  };
  for (const auto& f : frames) {
    if (c.add(f)) {
      if (c.closed()) drain();
      continue;
    }
    drain();
    if (c.add(f)) continue;
    std::vector<uint8_t> alone(kVnetHdrSize, 0);
    alone.insert(alone.end(), f.begin(), f.end());
    written->push_back(std::move(alone));
  }
  drain();
}

// Segments what the coalescer wrote; false if it refuses.
bool resegment(std::vector<uint8_t>& w, std::vector<std::vector<uint8_t>>* out) {
  Segmenter seg;
  std::vector<std::span<const uint8_t>> parts;
  VnetHdr h = decodeVnetHdr(std::span<const uint8_t, kVnetHdrSize>(w.data(), kVnetHdrSize));
  if (seg.split(h, std::span(w).subspan(kVnetHdrSize), kMaxSuperFrame, &parts) != SegmentError::kNone)
    return false;
  for (const auto& p : parts) out->emplace_back(p.begin(), p.end());
  return true;
}

void tapFrame(const uint8_t* data, size_t size) {
  if (size < kVnetHdrSize) return;
  const VnetHdr h = decodeVnetHdr(std::span<const uint8_t, kVnetHdrSize>(data, kVnetHdrSize));
  std::vector<uint8_t> frame(data + kVnetHdrSize, data + size);
  Segmenter seg;
  std::vector<std::span<const uint8_t>> segs;
  if (seg.split(h, frame, kMaxFrameSize, &segs) != SegmentError::kNone) {
    if (!segs.empty()) std::abort();
    return;
  }
  for (const auto& s : segs)
    if (s.size() < kMinFrameSize || s.size() > kMaxFrameSize) std::abort();
  if (h.gsoType == kVnetGsoNone) return;
  std::vector<std::vector<uint8_t>> written, again;
  coalesce(segs, &written);
  for (auto& w : written)
    if (!resegment(w, &again)) std::abort();
  if (again.size() != segs.size()) std::abort();
  for (size_t i = 0; i < segs.size(); ++i)
    if (!std::equal(segs[i].begin(), segs[i].end(), again[i].begin(), again[i].end())) std::abort();
}

void peerFrames(const uint8_t* data, size_t size) {
  std::vector<std::span<const uint8_t>> frames;
  size_t at = 0;
  while (at + 2 <= size) {
    const size_t n = static_cast<size_t>(data[at] << 8 | data[at + 1]);
    at += 2;
    if (n > size - at) break;
    frames.emplace_back(data + at, n);
    at += n;
  }
  std::vector<std::vector<uint8_t>> written, again;
  coalesce(frames, &written);
  for (auto& w : written) {
    const VnetHdr h = decodeVnetHdr(std::span<const uint8_t, kVnetHdrSize>(w.data(), kVnetHdrSize));
    if (h.gsoType != kVnetGsoNone && !resegment(w, &again)) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 5) {
    case 0:
      rawPacket(data + 1, size - 1);
      break;
    case 1:
      sealedPlaintext(data + 1, size - 1);
      break;
    case 2:
      roundTrip(data + 1, size - 1);
      break;
    case 3:
      tapFrame(data + 1, size - 1);
      break;
    default:
      peerFrames(data + 1, size - 1);
  }
  return 0;
}
