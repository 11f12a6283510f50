#include "datapath/keys.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <memory>
#include <string_view>

namespace weft::datapath {
namespace {

constexpr std::string_view kSalt = "weft datapath v1";
constexpr std::string_view kEspSalt = "weft esp v1";

struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

const EVP_KDF* hkdf() {
  static const std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  return kdf.get();
}

void appendString(std::vector<uint8_t>* out, const std::string& s) {
  out->push_back(static_cast<uint8_t>(s.size()));
  out->insert(out->end(), s.begin(), s.end());
}

void append32(std::vector<uint8_t>* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<uint8_t>(v >> shift));
}

Status checkId(const std::string& id, const char* what) {
  if (id.empty() || id.size() > kMaxIdSize)
    return Error{EINVAL, std::string("datapath key: ") + what + " id must be 1 to " +
                             std::to_string(kMaxIdSize) + " bytes, got " + std::to_string(id.size())};
  return Status::Ok();
}

}  // namespace

Status validate(std::span<const uint8_t> material, const Direction& dir) {
  if (material.size() < kMinMaterialSize || material.size() > kMaxMaterialSize)
    return Error{EINVAL, "datapath key: network key material must be " + std::to_string(kMinMaterialSize) +
                             " to " + std::to_string(kMaxMaterialSize) + " bytes, got " +
                             std::to_string(material.size())};
  if (auto s = checkId(dir.network, "network"); !s) return s;
  if (auto s = checkId(dir.from, "sending host"); !s) return s;
  if (auto s = checkId(dir.to, "receiving host"); !s) return s;
  if (dir.from == dir.to)
    return Error{EINVAL, "datapath key: sending and receiving host are the same (" + dir.from + ")"};
  return Status::Ok();
}

namespace {

// HKDF-SHA256 over the direction's info with `salt`, filling `out`. The salt
// separates the userspace datapath's keys from the kernel ESP ones: the same
// (material, direction, epoch) never gives one key to two constructions.
Status hkdfFill(std::span<const uint8_t> material, const Direction& dir, uint32_t epoch,
                std::string_view salt, std::span<uint8_t> out) {
  if (auto s = validate(material, dir); !s) return s;
  const bool lowerSends = dir.index() == 0;
  std::vector<uint8_t> info;
  appendString(&info, dir.network);
  appendString(&info, lowerSends ? dir.from : dir.to);
  appendString(&info, lowerSends ? dir.to : dir.from);
  append32(&info, dir.index());
  append32(&info, epoch);

  if (!hkdf()) return Error{0, "datapath key: HKDF not available in OpenSSL"};
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(const_cast<EVP_KDF*>(hkdf())));
  if (!ctx) return Error{ENOMEM, "datapath key: cannot allocate an HKDF context"};
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(material.data()),
                                        material.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info.data(), info.size()),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
    return Error{0, "datapath key: HKDF derivation failed in OpenSSL"};
  return Status::Ok();
}

}  // namespace

Result<KeyBytes> deriveKey(std::span<const uint8_t> material, const Direction& dir, uint32_t epoch) {
  KeyBytes key{};
  if (auto s = hkdfFill(material, dir, epoch, kSalt, key); !s) return s.error();
  return key;
}

Result<EspKey> deriveEspKey(std::span<const uint8_t> material, const Direction& dir, uint32_t epoch) {
  std::array<uint8_t, 40> okm{};
  if (auto s = hkdfFill(material, dir, epoch, kEspSalt, okm); !s) return s.error();
  EspKey k;
  std::copy(okm.begin(), okm.begin() + k.keyAndSalt.size(), k.keyAndSalt.begin());
  const uint8_t* t = okm.data() + k.keyAndSalt.size();
  k.spi = static_cast<uint32_t>(t[0]) << 24 | static_cast<uint32_t>(t[1]) << 16 |
          static_cast<uint32_t>(t[2]) << 8 | t[3];
  // SPIs 0 to 255 are reserved (RFC 4303 2.1).
  if (k.spi < kMinEspSpi) k.spi += kMinEspSpi;
  return k;
}

Status validate(const RekeyPolicy& p) {
  if (p.maxPackets < 1 || p.maxPackets > kMaxPacketsPerKey)
    return Error{EINVAL, "datapath rekey: packets per key must be 1 to " + std::to_string(kMaxPacketsPerKey) +
                             ", got " + std::to_string(p.maxPackets)};
  if (p.maxAge < kMinKeyAge || p.maxAge > kMaxKeyAge)
    return Error{EINVAL, "datapath rekey: key age must be " + std::to_string(kMinKeyAge.count()) + " to " +
                             std::to_string(kMaxKeyAge.count()) + " s, got " +
                             std::to_string(p.maxAge.count())};
  if (p.overlap < kMinKeyAge || p.overlap > kMaxOverlap)
    return Error{EINVAL, "datapath rekey: key overlap must be " + std::to_string(kMinKeyAge.count()) +
                             " to " + std::to_string(kMaxOverlap.count()) + " s, got " +
                             std::to_string(p.overlap.count())};
  return Status::Ok();
}

}  // namespace weft::datapath
