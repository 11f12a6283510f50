#include "datapath/aead.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace weft::datapath {
namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return out;
}

KeyBytes keyOf(const std::string& h) {
  KeyBytes k{};
  auto v = hex(h);
  std::copy(v.begin(), v.end(), k.begin());
  return k;
}

TEST(DatapathAead, NonceIsDirectionThenSequenceBigEndian) {
  auto n = makeNonce(0x01020304, 0x05060708090a0b0c);
  EXPECT_EQ(std::vector<uint8_t>(n.begin(), n.end()), hex("0102030405060708090a0b0c"));
}

// The GCM specification's test case 16 (AES-256, 96-bit IV, with AAD): the IV
// cafebabe|facedbaddecaf888 is direction|sequence in this nonce layout.
TEST(DatapathAead, MatchesTheGcmSpecificationTestVector) {
  AeadKey key(keyOf("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"));
  auto pt =
      hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b1"
          "6aedf5"
          "aa0de657ba637b39");
  auto aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  std::vector<uint8_t> ct(pt.size());
  uint8_t tag[16];
  ASSERT_TRUE(key.seal(0xcafebabe, 0xfacedbaddecaf888, aad, pt, ct.data(), tag));
  EXPECT_EQ(ct, hex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b10"
                    "56828838c5f61e63"
                    "93ba7a0abcc9f662"));
  EXPECT_EQ(std::vector<uint8_t>(tag, tag + 16), hex("76fc6ece0f4e1768cddf8853bb2d551b"));
  std::vector<uint8_t> back(pt.size());
  ASSERT_TRUE(key.open(0xcafebabe, 0xfacedbaddecaf888, aad, ct, tag, back.data()));
  EXPECT_EQ(back, pt);
}

TEST(DatapathAead, AnyChangeOrWrongKeyDirectionOrSequenceFailsToOpen) {
  KeyBytes k{};
  k.fill(3);
  AeadKey key(k);
  std::vector<uint8_t> aad(24, 9), pt(100, 0x42), ct(100);
  uint8_t tag[16];
  ASSERT_TRUE(key.seal(0, 5, aad, pt, ct.data(), tag));
  std::vector<uint8_t> out(100);
  ASSERT_TRUE(key.open(0, 5, aad, ct, tag, out.data()));
  EXPECT_EQ(out, pt);
  EXPECT_FALSE(key.open(1, 5, aad, ct, tag, out.data()));
  EXPECT_FALSE(key.open(0, 6, aad, ct, tag, out.data()));
  for (size_t i = 0; i < aad.size(); ++i) {
    auto a = aad;
    a[i] ^= 1;
    EXPECT_FALSE(key.open(0, 5, a, ct, tag, out.data())) << "aad byte " << i;
  }
  for (size_t i = 0; i < ct.size(); ++i) {
    auto c = ct;
    c[i] ^= 0x80;
    EXPECT_FALSE(key.open(0, 5, aad, c, tag, out.data())) << "ciphertext byte " << i;
  }
  for (size_t i = 0; i < 16; ++i) {
    uint8_t t[16];
    std::copy(tag, tag + 16, t);
    t[i] ^= 1;
    EXPECT_FALSE(key.open(0, 5, aad, ct, t, out.data())) << "tag byte " << i;
  }
  KeyBytes other = k;
  other[31] ^= 1;
  AeadKey wrong(other);
  EXPECT_FALSE(wrong.open(0, 5, aad, ct, tag, out.data()));
  // The key object stays usable after failures (contexts re-initialised per packet).
  ASSERT_TRUE(key.open(0, 5, aad, ct, tag, out.data()));
  EXPECT_EQ(out, pt);
}

TEST(DatapathAead, SealsInPlace) {
  KeyBytes k{};
  AeadKey key(k);
  std::vector<uint8_t> aad(24, 1), buf(1450, 0x11), copy = buf;
  uint8_t tag[16];
  ASSERT_TRUE(key.seal(0, 1, aad, buf, buf.data(), tag));
  EXPECT_NE(buf, copy);
  ASSERT_TRUE(key.open(0, 1, aad, buf, tag, buf.data()));
  EXPECT_EQ(buf, copy);
}

}  // namespace
}  // namespace weft::datapath
