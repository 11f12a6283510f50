// libFuzzer target: the userspace encrypted datapath's packet decoder, on
// both sides of the tag check. The first byte picks what the rest is:
//   0  a raw UDP payload, as anyone on the underlay can send (fixed-header
//      parse, key choice, replay check, authentication);
//   1  a plaintext sealed with the network's real key under a header whose
//      flags and sequence the input chooses, so the fuzzer reaches the
//      post-authentication frame parser as only a key holder could;
//   2  frames the sender splits and seals, which must open to the same frames.
// A crash, a sanitizer report, a decoded frame outside the limits, or a
// round trip that changes the frames is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "datapath/datapath.h"

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  switch (data[0] % 3) {
    case 0:
      rawPacket(data + 1, size - 1);
      break;
    case 1:
      sealedPlaintext(data + 1, size - 1);
      break;
    default:
      roundTrip(data + 1, size - 1);
  }
  return 0;
}
