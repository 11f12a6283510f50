#pragma once
// AES-256-GCM sealing of every gossip packet and stream frame.
//
// Sealed layout (all lengths in bytes):
//   version(1) | label length(1) | label | nonce(12) | ciphertext | tag(16)
// The version byte and the label are authenticated as additional data, so a
// packet cannot be moved between clusters or protocol versions. The label is
// also sent in clear so a mismatch can be reported as such instead of as a
// wrong key.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "gossip/keyring.h"

namespace weft::gossip {

// 2: envelopes bound to their receiver and its boot (messages.h); hellos
// open streams. Version 1 hosts and version 2 hosts do not talk.
inline constexpr uint8_t kProtocolVersion = 2;
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kMaxLabelSize = 255;

// Overhead a sealed packet adds to its plaintext.
inline constexpr size_t sealOverhead(size_t labelSize) { return 2 + labelSize + kNonceSize + kTagSize; }

enum class OpenError {
  kNone,
  kTruncated,      // shorter than its header says it must be
  kBadVersion,     // a protocol version this node does not speak
  kLabelMismatch,  // another cluster's label
  kAuthFailed,     // no key in the keyring authenticates it: wrong key or forged
};
const char* describe(OpenError e);

struct Opened {
  OpenError error = OpenError::kNone;
  std::vector<uint8_t> plaintext;
  size_t keyIndex = 0;  // which keyring key opened it (0 = primary)
  bool ok() const { return error == OpenError::kNone; }
};

// Seals with the keyring's primary key and a random nonce. The label must be at
// most kMaxLabelSize bytes (checked by the caller at start-up; longer labels
// are a programmer error and throw).
std::vector<uint8_t> seal(const Keyring& keyring, const std::string& label,
                          std::span<const uint8_t> plaintext);

// Tries every key of the keyring.
Opened open(const Keyring& keyring, const std::string& label, std::span<const uint8_t> packet);

}  // namespace weft::gossip
