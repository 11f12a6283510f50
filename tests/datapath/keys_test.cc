#include "datapath/keys.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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

}  // namespace
}  // namespace weft::datapath
