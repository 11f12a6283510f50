#pragma once
// The wire format of weft's userspace encrypted data plane: one UDP payload
// carries one inner Ethernet frame, or a batch of them, sealed with
// AES-256-GCM.
//
//   offset size field
//        0    1 version         kWireVersion
//        1    1 flags           kFlagBatch; every other bit must be zero
//        2    2 reserved        zero
//        4    4 vni             the network (24 bits; top byte zero)
//        8    4 sender id       the sending host's id on the wire
//       12    4 key epoch       which key sealed it (rotation: see keys.h)
//       16    8 sequence        per key, from 1, never repeats
//       24    n ciphertext      the frame, or the batch (below)
//     24+n   16 tag             GCM tag over header (AAD) and ciphertext
//
// All integers big-endian. The whole header is the AEAD's additional data, so
// no field of it can be changed in flight. The nonce is never sent: it is
// built from the direction and the sequence (aead.h).
//
// A batch's plaintext is frames each preceded by a 2-byte length. The
// decoder reads nothing but the fixed header before the tag has been
// verified: parseInner() runs on authenticated plaintext only.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace weft::datapath {

inline constexpr uint8_t kWireVersion = 1;
inline constexpr uint8_t kFlagBatch = 0x01;
inline constexpr size_t kHeaderSize = 24;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kOverhead = kHeaderSize + kTagSize;
inline constexpr size_t kBatchLengthSize = 2;

// Limits. An Ethernet frame is at least its 14-byte header; 9216 is the
// largest jumbo frame common NICs pass (9000-byte MTU plus headers with room).
// Super-frames from a TAP (TSO) are split before sealing, never sent whole.
inline constexpr size_t kMinFrameSize = 14;
inline constexpr size_t kMaxFrameSize = 9216;
inline constexpr size_t kMaxBatchFrames = 64;
// The largest UDP payload IPv4 carries; the sender also keeps within the
// path MTU (mtu.h); this bounds what a receiver even looks at.
inline constexpr size_t kMaxPacketSize = 65507;
inline constexpr uint32_t kMaxVni = (1u << 24) - 1;

struct Header {
  uint8_t flags = 0;
  uint32_t vni = 0;
  uint32_t senderId = 0;
  uint32_t keyEpoch = 0;
  uint64_t sequence = 0;
  bool operator==(const Header&) const = default;
};

enum class HeaderError {
  kNone,
  kTruncated,   // shorter than header + tag
  kTooBig,      // longer than kMaxPacketSize
  kBadVersion,  // not kWireVersion
  kBadHeader,   // unknown flag, reserved bits or vni's top byte set, sequence 0
};
const char* describe(HeaderError e);

// Writes the 24-byte header at out[0..24). out must hold kHeaderSize bytes.
void encodeHeader(const Header& h, std::span<uint8_t, kHeaderSize> out);

// Reads the fixed header of a received packet: sizes, version, reserved bits.
// Nothing else of the packet is looked at.
HeaderError decodeHeader(std::span<const uint8_t> packet, Header* out);

enum class InnerError {
  kNone,
  kEmpty,          // a batch with no frame
  kTooManyFrames,  // more than kMaxBatchFrames
  kFrameSize,      // a frame shorter than kMinFrameSize or longer than kMaxFrameSize
  kTruncated,      // a batch length runs past the end
};
const char* describe(InnerError e);

// Splits authenticated plaintext into frames (spans into `plaintext`).
InnerError parseInner(uint8_t flags, std::span<const uint8_t> plaintext,
                      std::vector<std::span<const uint8_t>>* frames);

// Size of the plaintext for `frames`: the frame alone, or the batch
// encoding. Returns 0 when the frames break a limit (count, size).
size_t innerSize(std::span<const std::span<const uint8_t>> frames);
// Writes the plaintext (innerSize bytes) for frames; the flags to send it with.
uint8_t encodeInner(std::span<const std::span<const uint8_t>> frames, std::span<uint8_t> out);

}  // namespace weft::datapath
