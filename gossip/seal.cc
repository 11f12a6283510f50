#include "gossip/seal.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace weft::gossip {
namespace {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;

struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};

// The cipher is fetched once (OpenSSL 3 fetches are costly); contexts are
// reused per thread and re-initialised for every packet.
const EVP_CIPHER* aesGcm() {
  static const std::unique_ptr<EVP_CIPHER, CipherDeleter> cipher(
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  if (!cipher) throw std::runtime_error("seal: AES-256-GCM not available in OpenSSL");
  return cipher.get();
}

EVP_CIPHER_CTX* threadCtx() {
  thread_local CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw std::bad_alloc();
  return ctx.get();
}

bool tryOpen(const Key& key, std::span<const uint8_t> aad, const uint8_t* nonce,
             std::span<const uint8_t> ciphertext, const uint8_t* tag, std::vector<uint8_t>* out) {
  EVP_CIPHER_CTX* ctx = threadCtx();
  int len = 0;
  out->resize(ciphertext.size());
  if (EVP_DecryptInit_ex(ctx, aesGcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx, nullptr, nullptr, key.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1)
    return false;
  if (!ciphertext.empty() &&
      EVP_DecryptUpdate(ctx, out->data(), &len, ciphertext.data(), static_cast<int>(ciphertext.size())) != 1)
    return false;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTagSize, const_cast<uint8_t*>(tag)) != 1) return false;
  int finalLen = 0;
  return EVP_DecryptFinal_ex(ctx, out->data() + len, &finalLen) == 1;
}

}  // namespace

const char* describe(OpenError e) {
  switch (e) {
    case OpenError::kNone:
      return "ok";
    case OpenError::kTruncated:
      return "truncated packet";
    case OpenError::kBadVersion:
      return "unsupported protocol version";
    case OpenError::kLabelMismatch:
      return "cluster label mismatch";
    case OpenError::kAuthFailed:
      return "authentication failed (wrong key or forged packet)";
  }
  return "unknown";
}

std::vector<uint8_t> seal(const Keyring& keyring, const std::string& label,
                          std::span<const uint8_t> plaintext) {
  if (keyring.empty()) throw std::logic_error("seal: empty keyring");
  if (label.size() > kMaxLabelSize) throw std::logic_error("seal: label longer than 255 bytes");
  // Version, label length, label (the additional data), nonce, ciphertext,
  // tag: sized once and filled in place. Growing it in steps made GCC 12 see
  // copies past its early sizes (-Warray-bounds at -O2, -Wstringop-overflow
  // at -O3) in the reallocation paths.
  std::vector<uint8_t> out(sealOverhead(label.size()) + plaintext.size());
  const size_t aadSize = 2 + label.size();
  out[0] = kProtocolVersion;
  out[1] = static_cast<uint8_t>(label.size());
  std::copy(label.begin(), label.end(), out.begin() + 2);
  uint8_t* nonce = out.data() + aadSize;
  if (RAND_bytes(nonce, kNonceSize) != 1) throw std::runtime_error("seal: RAND_bytes failed");

  EVP_CIPHER_CTX* ctx = threadCtx();
  int len = 0;
  uint8_t* ct = nonce + kNonceSize;
  if (EVP_EncryptInit_ex(ctx, aesGcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) != 1 ||
      EVP_EncryptInit_ex(ctx, nullptr, nullptr, keyring.primary().data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx, nullptr, &len, out.data(), static_cast<int>(aadSize)) != 1)
    throw std::runtime_error("seal: EVP encrypt init failed");
  if (!plaintext.empty() &&
      EVP_EncryptUpdate(ctx, ct, &len, plaintext.data(), static_cast<int>(plaintext.size())) != 1)
    throw std::runtime_error("seal: EVP encrypt failed");
  int finalLen = 0;
  if (EVP_EncryptFinal_ex(ctx, ct + len, &finalLen) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTagSize, ct + plaintext.size()) != 1)
    throw std::runtime_error("seal: EVP encrypt final failed");
  return out;
}

Opened open(const Keyring& keyring, const std::string& label, std::span<const uint8_t> packet) {
  Opened r;
  if (packet.size() < 2) {
    r.error = OpenError::kTruncated;
    return r;
  }
  if (packet[0] != kProtocolVersion) {
    r.error = OpenError::kBadVersion;
    return r;
  }
  const size_t labelSize = packet[1];
  if (packet.size() < sealOverhead(labelSize)) {
    r.error = OpenError::kTruncated;
    return r;
  }
  if (labelSize != label.size() || std::memcmp(packet.data() + 2, label.data(), labelSize) != 0) {
    r.error = OpenError::kLabelMismatch;
    return r;
  }
  auto aad = packet.subspan(0, 2 + labelSize);
  const uint8_t* nonce = packet.data() + aad.size();
  auto ciphertext = packet.subspan(aad.size() + kNonceSize, packet.size() - sealOverhead(labelSize));
  const uint8_t* tag = packet.data() + packet.size() - kTagSize;
  const auto& keys = keyring.keys();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (tryOpen(keys[i], aad, nonce, ciphertext, tag, &r.plaintext)) {
      r.keyIndex = i;
      return r;
    }
  }
  r.plaintext.clear();
  r.error = OpenError::kAuthFailed;
  return r;
}

}  // namespace weft::gossip
