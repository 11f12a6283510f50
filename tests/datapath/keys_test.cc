#include "datapath/keys.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <string_view>

namespace weft::datapath {
namespace {

std::vector<uint8_t> material(uint8_t fill = 0x5a) { return std::vector<uint8_t>(32, fill); }

// RFC 5869 written out with HMAC-SHA256, over the info layout keys.h
// documents: a second implementation pins the derivation byte for byte.
KeyBytes referenceHkdf(const std::vector<uint8_t>& ikm, const std::string& net, const std::string& lo,
                       const std::string& hi, uint32_t dir, uint32_t epoch) {
  const std::string_view salt = "weft datapath v1";
  uint8_t prk[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()), ikm.data(), ikm.size(), prk, &len);
  std::vector<uint8_t> t;
  for (const std::string* s : {&net, &lo, &hi}) {
    t.push_back(static_cast<uint8_t>(s->size()));
    t.insert(t.end(), s->begin(), s->end());
  }
  for (uint32_t v : {dir, epoch})
    for (int shift = 24; shift >= 0; shift -= 8) t.push_back(static_cast<uint8_t>(v >> shift));
  t.push_back(1);  // T(1) = HMAC(PRK, info || 0x01): one block is the whole key
  KeyBytes okm{};
  HMAC(EVP_sha256(), prk, 32, t.data(), t.size(), okm.data(), &len);
  return okm;
}

TEST(DatapathKeys, DerivationMatchesAnIndependentHkdf) {
  auto m = material();
  auto k = deriveKey(m, Direction{"net-a", "host-1", "host-2"}, 7);
  ASSERT_TRUE(k.ok()) << k.error().message;
  EXPECT_EQ(*k, referenceHkdf(m, "net-a", "host-1", "host-2", 0, 7));
  auto back = deriveKey(m, Direction{"net-a", "host-2", "host-1"}, 7);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, referenceHkdf(m, "net-a", "host-1", "host-2", 1, 7));
}

TEST(DatapathKeys, BothEndsOfADirectionDeriveTheSameKey) {
  // The sender derives for (self -> peer), the receiver for (peer -> self):
  // the same Direction value, computed on two hosts.
  auto m = material();
  Direction d{"net", "b-host", "a-host"};
  EXPECT_EQ(*deriveKey(m, d, 1), *deriveKey(std::vector<uint8_t>(m), Direction(d), 1));
  EXPECT_EQ(d.index(), 1u);
}

TEST(DatapathKeys, EveryInputSeparatesKeys) {
  auto m = material();
  const KeyBytes base = *deriveKey(m, Direction{"net", "h1", "h2"}, 1);
  EXPECT_NE(base, *deriveKey(m, Direction{"net", "h2", "h1"}, 1));               // direction
  EXPECT_NE(base, *deriveKey(m, Direction{"net", "h1", "h2"}, 2));               // epoch
  EXPECT_NE(base, *deriveKey(m, Direction{"net2", "h1", "h2"}, 1));              // network
  EXPECT_NE(base, *deriveKey(m, Direction{"net", "h1", "h3"}, 1));               // host pair
  EXPECT_NE(base, *deriveKey(material(0x5b), Direction{"net", "h1", "h2"}, 1));  // material
  // Length prefixes: moving a byte between ids gives another key.
  EXPECT_NE(*deriveKey(m, Direction{"ab", "c1", "d"}, 1), *deriveKey(m, Direction{"a", "bc1", "d"}, 1));
}

TEST(DatapathKeys, BadInputIsRefusedWithAClearError) {
  auto m = material();
  auto shortM = std::vector<uint8_t>(kMinMaterialSize - 1, 1);
  auto longM = std::vector<uint8_t>(kMaxMaterialSize + 1, 1);
  struct Case {
    std::vector<uint8_t> material;
    Direction dir;
    std::string mentions;
  };
  for (const auto& c : std::vector<Case>{
           {shortM, {"n", "a", "b"}, "material"},
           {longM, {"n", "a", "b"}, "material"},
           {m, {"", "a", "b"}, "network"},
           {m, {std::string(kMaxIdSize + 1, 'n'), "a", "b"}, "network"},
           {m, {"n", "", "b"}, "sending host"},
           {m, {"n", "a", std::string(kMaxIdSize + 1, 'b')}, "receiving host"},
           {m, {"n", "a", "a"}, "same"},
       }) {
    auto k = deriveKey(c.material, c.dir, 0);
    ASSERT_FALSE(k.ok()) << c.mentions;
    EXPECT_EQ(k.error().code, EINVAL);
    EXPECT_NE(k.error().message.find(c.mentions), std::string::npos) << k.error().message;
  }
  EXPECT_TRUE(
      deriveKey(std::vector<uint8_t>(kMaxMaterialSize, 1), {std::string(kMaxIdSize, 'n'), "a", "b"}, 0).ok());
}

TEST(DatapathKeys, RekeyPolicyLimits) {
  EXPECT_TRUE(validate(RekeyPolicy{}).ok());
  EXPECT_TRUE(
      validate(RekeyPolicy{.maxPackets = kMaxPacketsPerKey, .maxAge = kMaxKeyAge, .overlap = kMaxOverlap}));
  EXPECT_TRUE(validate(RekeyPolicy{.maxPackets = 1, .maxAge = kMinKeyAge, .overlap = kMinKeyAge}));
  EXPECT_FALSE(validate(RekeyPolicy{.maxPackets = 0}));
  EXPECT_FALSE(validate(RekeyPolicy{.maxPackets = kMaxPacketsPerKey + 1}));
  EXPECT_FALSE(validate(RekeyPolicy{.maxAge = kMinKeyAge - std::chrono::seconds(1)}));
  EXPECT_FALSE(validate(RekeyPolicy{.maxAge = kMaxKeyAge + std::chrono::seconds(1)}));
  auto s = validate(RekeyPolicy{.overlap = kMaxOverlap + std::chrono::seconds(1)});
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("overlap"), std::string::npos);
}

// The kernel ESP key and SPI: the same info layout under the salt
// "weft esp v1", 40 bytes of output (two HMAC blocks), written out.
std::array<uint8_t, 40> referenceEspOkm(const std::vector<uint8_t>& ikm, const std::string& net,
                                        const std::string& lo, const std::string& hi, uint32_t dir,
                                        uint32_t epoch) {
  const std::string_view salt = "weft esp v1";
  uint8_t prk[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), salt.data(), static_cast<int>(salt.size()), ikm.data(), ikm.size(), prk, &len);
  std::vector<uint8_t> info;
  for (const std::string* s : {&net, &lo, &hi}) {
    info.push_back(static_cast<uint8_t>(s->size()));
    info.insert(info.end(), s->begin(), s->end());
  }
  for (uint32_t v : {dir, epoch})
    for (int shift = 24; shift >= 0; shift -= 8) info.push_back(static_cast<uint8_t>(v >> shift));
  std::vector<uint8_t> t1in = info;
  t1in.push_back(1);
  uint8_t t1[32], t2[32];
  HMAC(EVP_sha256(), prk, 32, t1in.data(), t1in.size(), t1, &len);
  std::vector<uint8_t> t2in;
  for (uint8_t b : t1) t2in.push_back(b);
  for (uint8_t b : info) t2in.push_back(b);
  t2in.push_back(2);
  HMAC(EVP_sha256(), prk, 32, t2in.data(), t2in.size(), t2, &len);
  std::array<uint8_t, 40> okm{};
  for (size_t i = 0; i < okm.size(); ++i) okm[i] = i < 32 ? t1[i] : t2[i - 32];
  return okm;
}

TEST(DatapathKeys, EspKeyAndSpiMatchAnIndependentHkdf) {
  const auto m = material();
  auto k = deriveEspKey(m, Direction{"cluster", "host-2", "host-1"}, 5);
  ASSERT_TRUE(k.ok()) << k.error().message;
  const auto okm = referenceEspOkm(m, "cluster", "host-1", "host-2", 1, 5);
  EXPECT_TRUE(std::equal(k->keyAndSalt.begin(), k->keyAndSalt.end(), okm.begin()));
  uint32_t spi = static_cast<uint32_t>(okm[36]) << 24 | static_cast<uint32_t>(okm[37]) << 16 |
                 static_cast<uint32_t>(okm[38]) << 8 | okm[39];
  if (spi < kMinEspSpi) spi += kMinEspSpi;
  EXPECT_EQ(k->spi, spi);
}

TEST(DatapathKeys, EspKeysDifferPerDirectionEpochAndFromTheDatapathKey) {
  const auto m = material();
  const Direction ab{"cluster", "a", "b"}, ba{"cluster", "b", "a"};
  const EspKey base = *deriveEspKey(m, ab, 1);
  EXPECT_NE(base.keyAndSalt, deriveEspKey(m, ba, 1)->keyAndSalt);
  EXPECT_NE(base.spi, deriveEspKey(m, ba, 1)->spi);
  EXPECT_NE(base.keyAndSalt, deriveEspKey(m, ab, 2)->keyAndSalt);
  EXPECT_NE(base.spi, deriveEspKey(m, ab, 2)->spi);
  EXPECT_NE(base.keyAndSalt, deriveEspKey(material(0x11), ab, 1)->keyAndSalt);
  // Never the userspace datapath's key for the same direction and epoch.
  const KeyBytes dp = *deriveKey(m, ab, 1);
  EXPECT_FALSE(std::equal(dp.begin(), dp.end(), base.keyAndSalt.begin()));
  // SPIs stay out of the reserved range over many epochs.
  for (uint32_t e = 0; e < 2000; ++e) EXPECT_GE(deriveEspKey(m, ab, e)->spi, kMinEspSpi);
}

TEST(DatapathKeys, EspKeyRefusesWhatDeriveKeyRefuses) {
  EXPECT_EQ(deriveEspKey(std::vector<uint8_t>(31, 1), Direction{"n", "a", "b"}, 1).code(), EINVAL);
  EXPECT_EQ(deriveEspKey(material(), Direction{"n", "a", "a"}, 1).code(), EINVAL);
  EXPECT_EQ(deriveEspKey(material(), Direction{"", "a", "b"}, 1).code(), EINVAL);
}

}  // namespace
}  // namespace weft::datapath
