#include "datapath/wire.h"

#include <cstring>

namespace weft::datapath {
namespace {

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
void put64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<uint8_t>(v);
}
uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = v << 8 | p[i];
  return v;
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | p[i];
  return v;
}

bool frameSizeOk(size_t n) { return n >= kMinFrameSize && n <= kMaxFrameSize; }

}  // namespace

const char* describe(HeaderError e) {
  switch (e) {
    case HeaderError::kNone:
      return "ok";
    case HeaderError::kTruncated:
      return "truncated packet (shorter than header and tag)";
    case HeaderError::kTooBig:
      return "packet longer than the datapath accepts";
    case HeaderError::kBadVersion:
      return "unsupported datapath wire version";
    case HeaderError::kBadHeader:
      return "malformed header (unknown flags, reserved bits, vni or sequence 0)";
  }
  return "unknown";
}

const char* describe(InnerError e) {
  switch (e) {
    case InnerError::kNone:
      return "ok";
    case InnerError::kEmpty:
      return "empty batch";
    case InnerError::kTooManyFrames:
      return "batch has more frames than the datapath accepts";
    case InnerError::kFrameSize:
      return "frame size outside the accepted range";
    case InnerError::kTruncated:
      return "batch frame runs past the end of the packet";
  }
  return "unknown";
}

void encodeHeader(const Header& h, std::span<uint8_t, kHeaderSize> out) {
  uint8_t* p = out.data();
  p[0] = kWireVersion;
  p[1] = h.flags;
  put16(p + 2, 0);
  put32(p + 4, h.vni);
  put32(p + 8, h.senderId);
  put32(p + 12, h.keyEpoch);
  put64(p + 16, h.sequence);
}

HeaderError decodeHeader(std::span<const uint8_t> packet, Header* out) {
  if (packet.size() < kOverhead) return HeaderError::kTruncated;
  if (packet.size() > kMaxPacketSize) return HeaderError::kTooBig;
  const uint8_t* p = packet.data();
  if (p[0] != kWireVersion) return HeaderError::kBadVersion;
  Header h;
  h.flags = p[1];
  h.vni = get32(p + 4);
  h.senderId = get32(p + 8);
  h.keyEpoch = get32(p + 12);
  h.sequence = get64(p + 16);
  // Sequence 0 is never sent (senders count from 1), so it is refused here
  // before it costs a decryption.
  if ((h.flags & ~kFlagBatch) != 0 || get16(p + 2) != 0 || h.vni > kMaxVni || h.sequence == 0)
    return HeaderError::kBadHeader;
  *out = h;
  return HeaderError::kNone;
}

InnerError parseInner(uint8_t flags, std::span<const uint8_t> plaintext,
                      std::vector<std::span<const uint8_t>>* frames) {
  frames->clear();
  if (!(flags & kFlagBatch)) {
    if (!frameSizeOk(plaintext.size())) return InnerError::kFrameSize;
    frames->push_back(plaintext);
    return InnerError::kNone;
  }
  if (plaintext.empty()) return InnerError::kEmpty;
  size_t at = 0;
  while (at < plaintext.size()) {
    if (frames->size() == kMaxBatchFrames) return InnerError::kTooManyFrames;
    if (plaintext.size() - at < kBatchLengthSize) return InnerError::kTruncated;
    const size_t n = get16(plaintext.data() + at);
    at += kBatchLengthSize;
    if (!frameSizeOk(n)) return InnerError::kFrameSize;
    if (plaintext.size() - at < n) return InnerError::kTruncated;
    frames->push_back(plaintext.subspan(at, n));
    at += n;
  }
  return InnerError::kNone;
}

size_t innerSize(std::span<const std::span<const uint8_t>> frames) {
  if (frames.empty() || frames.size() > kMaxBatchFrames) return 0;
  size_t total = 0;
  for (const auto& f : frames) {
    if (!frameSizeOk(f.size())) return 0;
    total += f.size();
  }
  return frames.size() == 1 ? total : total + frames.size() * kBatchLengthSize;
}

uint8_t encodeInner(std::span<const std::span<const uint8_t>> frames, std::span<uint8_t> out) {
  if (frames.size() == 1) {
    std::memcpy(out.data(), frames[0].data(), frames[0].size());
    return 0;
  }
  uint8_t* p = out.data();
  for (const auto& f : frames) {
    put16(p, static_cast<uint16_t>(f.size()));
    std::memcpy(p + kBatchLengthSize, f.data(), f.size());
    p += kBatchLengthSize + f.size();
  }
  return kFlagBatch;
}

}  // namespace weft::datapath
