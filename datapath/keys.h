#pragma once
// Datapath keys: one per network, per host pair, per direction and per key
// epoch, derived with HKDF-SHA256 (RFC 5869) from the network's key material
// (which travels only over the encrypted gossip). Nothing derived here is
// ever sent; both ends compute the same key from what they already share.
//
//   key = HKDF(salt = "weft datapath v1", ikm = network material,
//              info = network id, lower host id, higher host id, direction,
//              epoch)   (each string length-prefixed, integers big-endian)
//
// The host ids are ordered so both hosts build the same info; `direction`
// (0: lower -> higher, 1: higher -> lower) then picks one of the pair's two
// keys. A new epoch is a new key: rotation never reuses a (key, nonce).

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "datapath/aead.h"

namespace weft::datapath {

// Limits of the inputs, checked (bad input gets a clear error).
inline constexpr size_t kMinMaterialSize = 32;  // 256 bits of secret
inline constexpr size_t kMaxMaterialSize = 1024;
inline constexpr size_t kMaxIdSize = 255;  // network and host ids

// One direction of one host pair on one network.
struct Direction {
  std::string network;  // the network's cluster-wide identity
  std::string from;     // sending host id
  std::string to;       // receiving host id
  // 0 when `from` orders before `to`, else 1 (the nonce's direction too).
  uint32_t index() const { return from < to ? 0 : 1; }
};

// Checks material size, non-empty ids up to kMaxIdSize, from != to.
Status validate(std::span<const uint8_t> material, const Direction& dir);

// Derives the key for `dir` at `epoch`. Fails on invalid input (validate) or
// when OpenSSL's HKDF fails.
Result<KeyBytes> deriveKey(std::span<const uint8_t> material, const Direction& dir, uint32_t epoch);

// Kernel ESP (rfc4106(gcm(aes)), transport mode) for the same direction and
// epoch: a 256-bit key and the 4-byte salt the kernel takes after it, and the
// SPI both hosts use for that SA, from the same HKDF (salt "weft esp v1", so
// never the datapath's key). The SPI is 32 derived bits moved out of the
// reserved range; two SAs to one host colliding is possible (about n^2/2^33
// for n SAs to it) and shows as EEXIST when the second is added.
inline constexpr uint32_t kMinEspSpi = 256;
struct EspKey {
  std::array<uint8_t, 36> keyAndSalt{};
  uint32_t spi = 0;
};
Result<EspKey> deriveEspKey(std::span<const uint8_t> material, const Direction& dir, uint32_t epoch);

// When a sender moves to the next key epoch, and how long a receiver still
// accepts the previous one (packets in flight or reordered across the switch).
struct RekeyPolicy {
  uint64_t maxPackets = uint64_t{1} << 24;  // per key
  std::chrono::seconds maxAge{600};         // per key
  std::chrono::seconds overlap{60};         // previous key still accepted
};
// Explicit bounds. 2^32 packets is far inside AES-GCM's limits for a key
// with unique nonces even at 9 KB packets (about 2^41 blocks).
inline constexpr uint64_t kMaxPacketsPerKey = uint64_t{1} << 32;
inline constexpr std::chrono::seconds kMinKeyAge{1};
inline constexpr std::chrono::seconds kMaxKeyAge{24 * 3600};
inline constexpr std::chrono::seconds kMaxOverlap{3600};
Status validate(const RekeyPolicy& p);

}  // namespace weft::datapath
