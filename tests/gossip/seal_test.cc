#include "gossip/seal.h"

#include <gtest/gtest.h>

#include "gossip/replay_window.h"

namespace weft::gossip {
namespace {

Key keyOf(uint8_t fill) {
  Key k;
  k.fill(fill);
  return k;
}
std::vector<uint8_t> bytes(const std::string& s) { return {s.begin(), s.end()}; }

TEST(Seal, RoundTripAndOverhead) {
  Keyring ring(keyOf(1));
  auto plain = bytes("hello gossip");
  auto packet = seal(ring, "prod", plain);
  EXPECT_EQ(packet.size(), plain.size() + sealOverhead(4));
  Opened o = open(ring, "prod", packet);
  ASSERT_TRUE(o.ok()) << describe(o.error);
  EXPECT_EQ(o.plaintext, plain);
  EXPECT_EQ(o.keyIndex, 0u);
}

TEST(Seal, EmptyPlaintext) {
  Keyring ring(keyOf(1));
  Opened o = open(ring, "", seal(ring, "", {}));
  ASSERT_TRUE(o.ok());
  EXPECT_TRUE(o.plaintext.empty());
}

TEST(Seal, NoncesDifferSoEqualPlaintextsLookDifferent) {
  Keyring ring(keyOf(1));
  EXPECT_NE(seal(ring, "l", bytes("same")), seal(ring, "l", bytes("same")));
}

TEST(Seal, WrongKeyIsAuthFailure) {
  Keyring a(keyOf(1)), b(keyOf(2));
  Opened o = open(b, "l", seal(a, "l", bytes("x")));
  EXPECT_EQ(o.error, OpenError::kAuthFailed);
  EXPECT_TRUE(o.plaintext.empty());
}

TEST(Seal, LabelMismatchIsReportedAsSuch) {
  Keyring ring(keyOf(1));
  EXPECT_EQ(open(ring, "prod", seal(ring, "staging", bytes("x"))).error, OpenError::kLabelMismatch);
  EXPECT_EQ(open(ring, "prod", seal(ring, "prodx", bytes("x"))).error, OpenError::kLabelMismatch);
}

TEST(Seal, LabelIsAuthenticatedNotJustCompared) {
  // Rewriting the clear label to the receiver's must still fail: it is AAD.
  Keyring ring(keyOf(1));
  auto p = seal(ring, "aaaa", bytes("x"));
  std::copy_n("bbbb", 4, p.begin() + 2);
  EXPECT_EQ(open(ring, "bbbb", p).error, OpenError::kAuthFailed);
}

TEST(Seal, TruncatedAndVersion) {
  Keyring ring(keyOf(1));
  auto p = seal(ring, "l", bytes("payload"));
  EXPECT_EQ(open(ring, "l", std::span<const uint8_t>(p.data(), 0)).error, OpenError::kTruncated);
  EXPECT_EQ(open(ring, "l", std::span<const uint8_t>(p.data(), 1)).error, OpenError::kTruncated);
  EXPECT_EQ(open(ring, "l", std::span<const uint8_t>(p.data(), sealOverhead(1) - 1)).error,
            OpenError::kTruncated);
  // Cut inside the ciphertext: the tag no longer matches.
  EXPECT_EQ(open(ring, "l", std::span<const uint8_t>(p.data(), p.size() - 1)).error, OpenError::kAuthFailed);
  auto v = p;
  v[0] = kProtocolVersion + 1;
  EXPECT_EQ(open(ring, "l", v).error, OpenError::kBadVersion);
  v[0] = 1;  // before envelopes were bound to their receiver: refused as such
  EXPECT_EQ(open(ring, "l", v).error, OpenError::kBadVersion);
}

TEST(Seal, EveryFlippedBitIsDetected) {
  Keyring ring(keyOf(1));
  auto p = seal(ring, "l", bytes("0123456789"));
  for (size_t i = 0; i < p.size(); ++i) {
    auto q = p;
    q[i] ^= 0x01;
    EXPECT_FALSE(open(ring, "l", q).ok()) << "byte " << i;
  }
}

TEST(Seal, RotationOpensWithAnyInstalledKey) {
  Keyring oldRing(keyOf(1));
  Keyring rotating(keyOf(1));
  rotating.add(keyOf(2));
  ASSERT_TRUE(rotating.use(keyOf(2)).ok());
  // Old senders still understood by rotated receivers, and vice versa once
  // the new key is added there.
  Opened o = open(rotating, "l", seal(oldRing, "l", bytes("x")));
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o.keyIndex, 1u);
  EXPECT_EQ(open(oldRing, "l", seal(rotating, "l", bytes("x"))).error, OpenError::kAuthFailed);
  oldRing.add(keyOf(2));
  EXPECT_TRUE(open(oldRing, "l", seal(rotating, "l", bytes("x"))).ok());
}

TEST(ReplayWindow, AcceptsNewRejectsRepeats) {
  ReplayWindow w;
  EXPECT_EQ(w.check("a", 1, 1), ReplayVerdict::kAccept);
  EXPECT_EQ(w.check("a", 1, 1), ReplayVerdict::kReplay);
  EXPECT_EQ(w.check("a", 1, 3), ReplayVerdict::kAccept);
  EXPECT_EQ(w.check("a", 1, 2), ReplayVerdict::kAccept);  // reordered, inside window
  EXPECT_EQ(w.check("a", 1, 2), ReplayVerdict::kReplay);
  EXPECT_EQ(w.check("b", 1, 2), ReplayVerdict::kAccept);  // per sender
}

TEST(ReplayWindow, TooOldIsReplayWindowSlides) {
  ReplayWindow w;
  EXPECT_EQ(w.check("a", 1, 5000), ReplayVerdict::kAccept);
  EXPECT_EQ(w.check("a", 1, 5000 - ReplayWindow::kWindow), ReplayVerdict::kReplay);
  EXPECT_EQ(w.check("a", 1, 5000 - ReplayWindow::kWindow + 1), ReplayVerdict::kAccept);
  EXPECT_EQ(w.check("a", 1, 100000), ReplayVerdict::kAccept);  // jump beyond window
  EXPECT_EQ(w.check("a", 1, 5001), ReplayVerdict::kReplay);
  EXPECT_EQ(w.check("a", 1, 99999), ReplayVerdict::kAccept);
}

TEST(ReplayWindow, NewEpochResetsOldEpochIsStale) {
  ReplayWindow w;
  EXPECT_EQ(w.check("a", 10, 500), ReplayVerdict::kAccept);
  EXPECT_EQ(w.check("a", 11, 1), ReplayVerdict::kAccept);  // restarted sender
  EXPECT_EQ(w.check("a", 10, 501), ReplayVerdict::kStaleEpoch);
  EXPECT_EQ(w.check("a", 11, 1), ReplayVerdict::kReplay);
}

TEST(ReplayWindow, ExhaustiveAgainstModel) {
  // Compare with a set-based model on a pseudo-random sequence.
  ReplayWindow w;
  std::set<uint64_t> seen;
  uint64_t highest = 0;
  uint64_t x = 12345;
  for (int i = 0; i < 20000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t seq = 1 + (x >> 33) % 3000 + static_cast<uint64_t>(i) / 4;
    bool expectAccept =
        !seen.count(seq) && !(highest >= ReplayWindow::kWindow && seq <= highest - ReplayWindow::kWindow);
    EXPECT_EQ(w.check("s", 1, seq) == ReplayVerdict::kAccept, expectAccept) << "i=" << i;
    if (expectAccept) {
      seen.insert(seq);
      highest = std::max(highest, seq);
    }
  }
}

}  // namespace
}  // namespace weft::gossip
