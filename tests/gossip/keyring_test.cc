#include "gossip/keyring.h"

#include <gtest/gtest.h>

namespace weft::gossip {
namespace {

Key keyOf(uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}

TEST(ParseKey, AcceptsHex) {
  auto k = parseKey("000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F");
  ASSERT_TRUE(k.ok()) << k.error().message;
  for (size_t i = 0; i < kKeySize; ++i) EXPECT_EQ((*k)[i], i);
}

TEST(ParseKey, AcceptsBase64WithAndWithoutPaddingAndWhitespace) {
  Key k = keyOf(0);
  for (size_t i = 0; i < kKeySize; ++i) k[i] = static_cast<uint8_t>(i * 7 + 3);
  std::string b64 = keyToBase64(k);
  ASSERT_EQ(b64.size(), 44u);
  auto a = parseKey(b64);
  ASSERT_TRUE(a.ok()) << a.error().message;
  EXPECT_EQ(*a, k);
  auto b = parseKey("  " + b64.substr(0, 43) + "\n");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(*b, k);
}

TEST(ParseKey, RejectsWrongLengthsWithClearErrors) {
  auto shortHex = parseKey("0011223344");
  ASSERT_FALSE(shortHex.ok());
  EXPECT_NE(shortHex.error().message.find("want 64"), std::string::npos) << shortHex.error().message;

  auto shortB64 = parseKey("c2hvcnQga2V5");  // "short key"
  ASSERT_FALSE(shortB64.ok());
  EXPECT_NE(shortB64.error().message.find("decodes to 9 bytes"), std::string::npos)
      << shortB64.error().message;

  auto garbage = parseKey("not a key!");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.error().message.find("invalid base64"), std::string::npos);

  EXPECT_FALSE(parseKey("").ok());
  EXPECT_FALSE(parseKey(std::string(65, 'a')).ok());  // 65 hex digits
}

TEST(Keyring, RotationAddUseRemove) {
  Keyring ring(keyOf(1));
  EXPECT_EQ(ring.primary(), keyOf(1));
  ring.add(keyOf(2));
  ring.add(keyOf(2));
  EXPECT_EQ(ring.keys().size(), 2u);
  EXPECT_EQ(ring.primary(), keyOf(1));

  EXPECT_FALSE(ring.use(keyOf(3)).ok());
  ASSERT_TRUE(ring.use(keyOf(2)).ok());
  EXPECT_EQ(ring.primary(), keyOf(2));

  Status busy = ring.remove(keyOf(2));
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.code(), EBUSY);
  EXPECT_EQ(ring.remove(keyOf(9)).code(), ENOENT);
  ASSERT_TRUE(ring.remove(keyOf(1)).ok());
  EXPECT_EQ(ring.keys().size(), 1u);
}

TEST(Keyring, FingerprintIsStableAndDistinct) {
  EXPECT_EQ(keyFingerprint(keyOf(1)), keyFingerprint(keyOf(1)));
  EXPECT_NE(keyFingerprint(keyOf(1)), keyFingerprint(keyOf(2)));
  EXPECT_EQ(keyFingerprint(keyOf(1)).size(), 8u);
}

}  // namespace
}  // namespace weft::gossip
