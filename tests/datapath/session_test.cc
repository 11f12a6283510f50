#include "datapath/session.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

namespace weft::datapath {
namespace {

using std::chrono::seconds;
const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1);
std::vector<uint8_t> material(uint8_t fill = 7) { return std::vector<uint8_t>(32, fill); }

TxSession makeTx(RekeyPolicy p = {}, uint32_t start = 1, std::vector<uint8_t> m = material()) {
  auto tx = TxSession::create(std::move(m), Direction{"net", "host-a", "host-b"}, 42, 0xa, start, p, t0);
  if (!tx) throw std::runtime_error(tx.error().message);
  return std::move(*tx);
}
RxSession makeRx(RekeyPolicy p = {}, uint32_t minEpoch = 0, std::vector<uint8_t> m = material()) {
  auto rx = RxSession::create(std::move(m), Direction{"net", "host-a", "host-b"}, p, minEpoch);
  if (!rx) throw std::runtime_error(rx.error().message);
  return std::move(*rx);
}

// A frame whose bytes carry a marker, so delivery can be checked by content.
std::vector<uint8_t> frame(uint32_t marker, size_t size = 100) {
  std::vector<uint8_t> f(size, 0);
  for (size_t i = 0; i < size; ++i) f[i] = static_cast<uint8_t>(marker >> (8 * (i % 4)));
  return f;
}

std::vector<uint8_t> sealOne(TxSession& tx, uint32_t marker, Clock::time_point now, size_t size = 100) {
  auto f = frame(marker, size);
  std::span<const uint8_t> fs[] = {f};
  std::vector<uint8_t> out(kOverhead + size);
  auto n = tx.seal(fs, out, now);
  if (!n) throw std::runtime_error(n.error().message);
  out.resize(*n);
  return out;
}

// Opens a copy (opening decrypts in place) and checks the frame's content.
OpenError openOne(RxSession& rx, std::vector<uint8_t> packet, Clock::time_point now, uint32_t marker = 0) {
  Header h;
  if (decodeHeader(packet, &h) != HeaderError::kNone) ADD_FAILURE() << "header refused";
  std::vector<std::span<const uint8_t>> frames;
  auto e = rx.open(h, packet, &frames, now);
  if (e == OpenError::kNone) {
    EXPECT_EQ(frames.size(), 1u);
    auto want = frame(marker, frames[0].size());
    EXPECT_TRUE(std::equal(want.begin(), want.end(), frames[0].begin(), frames[0].end()));
  }
  return e;
}

TEST(DatapathSession, SealedPacketsOpenOnceAndReplaysAreRefused) {
  auto tx = makeTx();
  auto rx = makeRx();
  auto p1 = sealOne(tx, 1, t0), p2 = sealOne(tx, 2, t0);
  EXPECT_EQ(openOne(rx, p2, t0, 2), OpenError::kNone);
  EXPECT_EQ(openOne(rx, p1, t0, 1), OpenError::kNone);  // reordered
  EXPECT_EQ(openOne(rx, p1, t0), OpenError::kReplayed);
  EXPECT_EQ(openOne(rx, p2, t0), OpenError::kReplayed);
  EXPECT_EQ(rx.currentEpoch(), 1u);
}

TEST(DatapathSession, WrongMaterialOrOtherDirectionFailsAuthentication) {
  auto tx = makeTx();
  auto wrong = makeRx({}, 0, material(8));
  EXPECT_EQ(openOne(wrong, sealOne(tx, 1, t0), t0), OpenError::kAuthFailed);
  // The reverse direction's key (b -> a) cannot open a -> b traffic.
  auto reverse = RxSession::create(material(), Direction{"net", "host-b", "host-a"}, {}, 0);
  ASSERT_TRUE(reverse.ok());
  EXPECT_EQ(openOne(*reverse, sealOne(tx, 2, t0), t0), OpenError::kAuthFailed);
  EXPECT_FALSE(wrong.currentEpoch().has_value());
}

TEST(DatapathSession, AForgedPacketDoesNotMoveTheWindowNorTheEpoch) {
  auto tx = makeTx();
  auto rx = makeRx();
  auto good = sealOne(tx, 1, t0);
  auto forged = good;
  forged[kHeaderSize + 3] ^= 1;
  EXPECT_EQ(openOne(rx, forged, t0), OpenError::kAuthFailed);
  EXPECT_EQ(openOne(rx, good, t0, 1), OpenError::kNone);
  // A header claiming a far newer epoch but not sealed under it.
  auto claim = sealOne(tx, 2, t0);
  claim[15] = 0x55;  // epoch byte
  EXPECT_EQ(openOne(rx, claim, t0), OpenError::kAuthFailed);
  EXPECT_EQ(rx.currentEpoch(), 1u);
  EXPECT_EQ(openOne(rx, sealOne(tx, 3, t0), t0, 3), OpenError::kNone);
}

// Many rotations by packet count, delivered in order: not one packet lost.
TEST(DatapathSession, StreamAcrossRotationsByPacketCountLosesNothing) {
  RekeyPolicy p{.maxPackets = 100, .maxAge = seconds(600), .overlap = seconds(60)};
  auto tx = makeTx(p);
  auto rx = makeRx(p);
  for (uint32_t i = 1; i <= 1050; ++i)
    ASSERT_EQ(openOne(rx, sealOne(tx, i, t0), t0, i), OpenError::kNone) << i;
  EXPECT_EQ(tx.rekeys(), 10u);
  EXPECT_EQ(tx.epoch(), 11u);
  EXPECT_EQ(rx.currentEpoch(), 11u);
  EXPECT_EQ(rx.previousEpoch(t0), 10u);
}

// Rotation by time, with packets reordered across the switch (old-key
// packets arriving after the first new-key ones): all delivered within the
// overlap, none after it.
TEST(DatapathSession, RotationByTimeAcceptsTheOldKeyDuringTheOverlapOnly) {
  RekeyPolicy p{.maxPackets = 1'000'000, .maxAge = seconds(30), .overlap = seconds(5)};
  auto tx = makeTx(p);
  auto rx = makeRx(p);
  std::vector<std::vector<uint8_t>> old;
  for (uint32_t i = 0; i < 20; ++i) old.push_back(sealOne(tx, i, t0 + seconds(29)));
  auto fresh = sealOne(tx, 100, t0 + seconds(30));
  EXPECT_EQ(tx.epoch(), 2u);
  ASSERT_EQ(openOne(rx, old[0], t0 + seconds(29), 0), OpenError::kNone);
  ASSERT_EQ(openOne(rx, fresh, t0 + seconds(30), 100), OpenError::kNone);
  EXPECT_EQ(rx.currentEpoch(), 2u);
  for (uint32_t i = 1; i < 10; ++i)
    EXPECT_EQ(openOne(rx, old[i], t0 + seconds(34), i), OpenError::kNone) << i;
  EXPECT_EQ(openOne(rx, old[1], t0 + seconds(34)), OpenError::kReplayed);
  for (uint32_t i = 10; i < 20; ++i)
    EXPECT_EQ(openOne(rx, old[i], t0 + seconds(35)), OpenError::kStaleKey) << i;
}

// The acceptance test of make-before-break: a long stream through rotations
// by count and by time (packets 0-40 ms apart, a key lasts 64 packets or
// 1 s), delivered in random order within each run of 20 packets, loses nothing.
TEST(DatapathSession, ReorderedStreamThroughRotationsHasZeroDrops) {
  RekeyPolicy p{.maxPackets = 64, .maxAge = seconds(1), .overlap = seconds(10)};
  auto tx = makeTx(p);
  auto rx = makeRx(p);
  std::mt19937 rng(7);
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> inFlight;
  uint32_t delivered = 0;
  auto now = t0;
  constexpr uint32_t kPackets = 5000;
  for (uint32_t i = 0; i < kPackets; ++i) {
    now += std::chrono::milliseconds(rng() % 41);
    inFlight.emplace_back(i, sealOne(tx, i, now));
    if (inFlight.size() < 20 && i != kPackets - 1) continue;
    // Every 20 packets arrive in a random order.
    std::shuffle(inFlight.begin(), inFlight.end(), rng);
    for (const auto& [marker, pkt] : inFlight) {
      ASSERT_EQ(openOne(rx, pkt, now, marker), OpenError::kNone) << "packet " << marker;
      ++delivered;
    }
    inFlight.clear();
  }
  EXPECT_EQ(delivered, kPackets);
  // More rotations than the count alone makes: time rotated keys too.
  EXPECT_GT(tx.rekeys(), kPackets / 64 + 10);
}

TEST(DatapathSession, SenderRestartWithANewerEpochIsAcceptedAnOlderOneIsNot) {
  auto rx = makeRx();
  auto first = makeTx({}, 5);
  EXPECT_EQ(openOne(rx, sealOne(first, 1, t0), t0, 1), OpenError::kNone);
  auto restarted = makeTx({}, 1000);  // sequence restarts at 1 under a new key
  EXPECT_EQ(openOne(rx, sealOne(restarted, 2, t0), t0, 2), OpenError::kNone);
  EXPECT_EQ(rx.currentEpoch(), 1000u);
  auto older = makeTx({}, 4);
  EXPECT_EQ(openOne(rx, sealOne(older, 3, t0), t0), OpenError::kStaleKey);
}

TEST(DatapathSession, EpochsBelowTheMinimumAreRefused) {
  auto rx = makeRx({}, 10);
  auto tx = makeTx({}, 9);
  EXPECT_EQ(openOne(rx, sealOne(tx, 1, t0), t0), OpenError::kStaleKey);
  auto ok = makeTx({}, 10);
  EXPECT_EQ(openOne(rx, sealOne(ok, 1, t0), t0, 1), OpenError::kNone);
}

TEST(DatapathSession, EpochsExhaustedStopsSendingInsteadOfWrapping) {
  RekeyPolicy p{.maxPackets = 2};
  auto tx = makeTx(p, std::numeric_limits<uint32_t>::max());
  sealOne(tx, 1, t0);
  sealOne(tx, 2, t0);
  auto f = frame(3);
  std::span<const uint8_t> fs[] = {f};
  std::vector<uint8_t> out(200);
  auto n = tx.seal(fs, out, t0);
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, EKEYEXPIRED);
  EXPECT_EQ(tx.lastSequence(), 2u);
}

TEST(DatapathSession, SealRefusesWhatBreaksTheLimitsAndUsesNoSequence) {
  auto tx = makeTx();
  std::vector<uint8_t> out(kMaxPacketSize);
  auto tiny = frame(1, kMinFrameSize - 1), big = frame(1, kMaxFrameSize + 1), ok = frame(1, 1500);
  std::span<const uint8_t> t[] = {tiny}, b[] = {big}, o[] = {ok};
  EXPECT_EQ(tx.seal(t, out, t0).code(), EINVAL);
  EXPECT_EQ(tx.seal(b, out, t0).code(), EINVAL);
  EXPECT_EQ(tx.seal(o, std::span(out).first(kOverhead + 1499), t0).code(), EMSGSIZE);
  EXPECT_EQ(tx.lastSequence(), 0u);
  EXPECT_EQ(tx.seal(o, std::span(out).first(kOverhead + 1500), t0).value(), kOverhead + 1500);
  EXPECT_EQ(tx.lastSequence(), 1u);
}

TEST(DatapathSession, BatchesOpenToTheirFrames) {
  auto tx = makeTx();
  auto rx = makeRx();
  auto a = frame(1, 60), b = frame(2, 1500);
  std::span<const uint8_t> fs[] = {a, b};
  std::vector<uint8_t> out(2000);
  auto n = tx.seal(fs, out, t0);
  ASSERT_TRUE(n.ok());
  out.resize(*n);
  Header h;
  ASSERT_EQ(decodeHeader(out, &h), HeaderError::kNone);
  EXPECT_EQ(h.flags, kFlagBatch);
  std::vector<std::span<const uint8_t>> frames;
  ASSERT_EQ(rx.open(h, out, &frames, t0), OpenError::kNone);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), frames[0].begin(), frames[0].end()));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), frames[1].begin(), frames[1].end()));
}

// Only a key holder can produce this: authentic plaintext that breaks the
// frame limits is dropped after authentication, not parsed past its end.
TEST(DatapathSession, AuthenticButMalformedPayloadIsRefused) {
  auto rx = makeRx();
  AeadKey key(*deriveKey(material(), Direction{"net", "host-a", "host-b"}, 1));
  std::vector<uint8_t> pkt(kOverhead + 5);
  encodeHeader(Header{.flags = kFlagBatch, .vni = 42, .senderId = 0xa, .keyEpoch = 1, .sequence = 1},
               std::span<uint8_t, kHeaderSize>(pkt.data(), kHeaderSize));
  const uint8_t body[] = {0x10, 0x00, 1, 2, 3};  // a 4096-byte frame in 3 bytes
  ASSERT_TRUE(key.seal(0, 1, std::span(pkt).first(kHeaderSize), body, pkt.data() + kHeaderSize,
                       pkt.data() + kHeaderSize + 5));
  Header h;
  ASSERT_EQ(decodeHeader(pkt, &h), HeaderError::kNone);
  std::vector<std::span<const uint8_t>> frames;
  EXPECT_EQ(rx.open(h, pkt, &frames, t0), OpenError::kMalformedInner);
}

TEST(DatapathSession, CreateRefusesBadInput) {
  EXPECT_EQ(TxSession::create(material(), {"n", "a", "b"}, kMaxVni + 1, 1, 1, {}, t0).code(), EINVAL);
  EXPECT_EQ(TxSession::create(material(), {"n", "a", "a"}, 1, 1, 1, {}, t0).code(), EINVAL);
  EXPECT_EQ(TxSession::create(material(), {"n", "a", "b"}, 1, 1, 1, RekeyPolicy{.maxPackets = 0}, t0).code(),
            EINVAL);
  EXPECT_EQ(RxSession::create(std::vector<uint8_t>(5), {"n", "a", "b"}, {}, 0).code(), EINVAL);
}

}  // namespace
}  // namespace weft::datapath
