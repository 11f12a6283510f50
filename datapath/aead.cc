#include "datapath/aead.h"

#include <openssl/evp.h>

#include <stdexcept>

#include "datapath/wire.h"

namespace weft::datapath {
namespace {

struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};

// Fetched once: OpenSSL 3 fetches are costly.
const EVP_CIPHER* aes256Gcm() {
  static const std::unique_ptr<EVP_CIPHER, CipherDeleter> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  if (!cipher) throw std::runtime_error("datapath: AES-256-GCM not available in OpenSSL");
  return cipher.get();
}

}  // namespace

void AeadKey::CtxDeleter::operator()(evp_cipher_ctx_st* ctx) const { EVP_CIPHER_CTX_free(ctx); }

std::array<uint8_t, kNonceSize> makeNonce(uint32_t direction, uint64_t sequence) {
  std::array<uint8_t, kNonceSize> n{};
  for (int i = 3; i >= 0; --i, direction >>= 8) n[i] = static_cast<uint8_t>(direction);
  for (int i = 11; i >= 4; --i, sequence >>= 8) n[i] = static_cast<uint8_t>(sequence);
  return n;
}

AeadKey::AeadKey(const KeyBytes& key) : enc_(EVP_CIPHER_CTX_new()), dec_(EVP_CIPHER_CTX_new()) {
  // GCM's default IV length is 12 bytes, the nonce size used here.
  if (!enc_ || !dec_ || EVP_EncryptInit_ex(enc_.get(), aes256Gcm(), nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(dec_.get(), aes256Gcm(), nullptr, key.data(), nullptr) != 1)
    throw std::runtime_error("datapath: cannot set up an AES-256-GCM key");
}

bool AeadKey::seal(uint32_t direction, uint64_t sequence, std::span<const uint8_t> aad,
                   std::span<const uint8_t> plaintext, uint8_t* ciphertext, uint8_t* tag) {
  EVP_CIPHER_CTX* ctx = enc_.get();
  const auto nonce = makeNonce(direction, sequence);
  int len = 0;
  // Only the nonce changes: the key schedule set in the constructor stays.
  if (EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx, ciphertext, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    return false;
  int finalLen = 0;
  return EVP_EncryptFinal_ex(ctx, ciphertext + plaintext.size(), &finalLen) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, tag) == 1;
}

bool AeadKey::open(uint32_t direction, uint64_t sequence, std::span<const uint8_t> aad,
                   std::span<const uint8_t> ciphertext, const uint8_t* tag, uint8_t* plaintext) {
  EVP_CIPHER_CTX* ctx = dec_.get();
  const auto nonce = makeNonce(direction, sequence);
  int len = 0;
  if (EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  if (!ciphertext.empty() &&
      EVP_DecryptUpdate(ctx, plaintext, &len, ciphertext.data(), static_cast<int>(ciphertext.size())) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, const_cast<uint8_t*>(tag)) != 1) return false;
  int finalLen = 0;
  return EVP_DecryptFinal_ex(ctx, plaintext + ciphertext.size(), &finalLen) == 1;
}

}  // namespace weft::datapath
