#pragma once
// Keyring: the cluster keys a node accepts (several, so keys rotate without
// downtime) and the one primary key it seals outgoing packets with.
//
// Rotation: add(new) everywhere, then use(new) everywhere, then remove(old).

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace weft::gossip {

inline constexpr size_t kKeySize = 32;  // AES-256
using Key = std::array<uint8_t, kKeySize>;

// Parses a 32-byte key written as 64 hex digits or as base64 (44 characters
// with padding, 43 without). Whitespace around the text is ignored.
Result<Key> parseKey(std::string_view text);
std::string keyToBase64(const Key& key);
// Short non-secret fingerprint for status output (first 8 hex digits of SHA-256).
std::string keyFingerprint(const Key& key);

class Keyring {
 public:
  Keyring() = default;
  explicit Keyring(const Key& primary);

  // Adds a key accepted for receiving. Adding a key twice is a no-op.
  void add(const Key& key);
  // Makes an already-added key the primary (sending) key.
  Status use(const Key& key);
  // Removes an accepted key; the primary key cannot be removed.
  Status remove(const Key& key);

  bool empty() const { return keys_.empty(); }
  // Primary first, then the others in insertion order.
  const std::vector<Key>& keys() const { return keys_; }
  const Key& primary() const { return keys_.front(); }

 private:
  std::vector<Key> keys_;  // keys_[0] is the primary
};

}  // namespace weft::gossip
