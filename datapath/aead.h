#pragma once
// AES-256-GCM with one fixed key (OpenSSL EVP), for the data plane's hot
// path: the key schedule is computed once when the key is made, and each
// packet only sets its nonce. A key object is used by one thread at a time.
//
// The 12-byte nonce is direction (4 bytes) || sequence (8 bytes), never sent.
// Keys are already per direction (keys.h); the direction in the nonce keeps
// the two directions' nonces apart even if a key were ever shared, and the
// sequence never repeats under one key (session.h), so a (key, nonce) pair
// is never used twice.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

struct evp_cipher_ctx_st;

namespace weft::datapath {

inline constexpr size_t kKeySize = 32;
inline constexpr size_t kNonceSize = 12;
using KeyBytes = std::array<uint8_t, kKeySize>;

// The nonce for a packet: direction || sequence, big-endian.
std::array<uint8_t, kNonceSize> makeNonce(uint32_t direction, uint64_t sequence);

class AeadKey {
 public:
  // Throws std::runtime_error if OpenSSL cannot set up AES-256-GCM (a broken
  // installation, not input).
  explicit AeadKey(const KeyBytes& key);
  AeadKey(AeadKey&&) noexcept = default;
  AeadKey& operator=(AeadKey&&) noexcept = default;

  // Encrypts plaintext into ciphertext (same length; may be the same memory)
  // and writes the 16-byte tag. Returns false only on an OpenSSL failure.
  bool seal(uint32_t direction, uint64_t sequence, std::span<const uint8_t> aad,
            std::span<const uint8_t> plaintext, uint8_t* ciphertext, uint8_t* tag);
  // Decrypts and verifies; false when the tag does not match (wrong key,
  // forged or altered packet). On false, `plaintext` holds garbage.
  bool open(uint32_t direction, uint64_t sequence, std::span<const uint8_t> aad,
            std::span<const uint8_t> ciphertext, const uint8_t* tag, uint8_t* plaintext);

 private:
  struct CtxDeleter {
    void operator()(evp_cipher_ctx_st* ctx) const;
  };
  std::unique_ptr<evp_cipher_ctx_st, CtxDeleter> enc_, dec_;
};

}  // namespace weft::datapath
