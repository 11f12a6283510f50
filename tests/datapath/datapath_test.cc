#include "datapath/datapath.h"

#include <gtest/gtest.h>

namespace weft::datapath {
namespace {

using std::chrono::seconds;
const Clock::time_point t0 = Clock::time_point{} + std::chrono::hours(1);
constexpr uint32_t kVni = 4097;
constexpr uint16_t kPort = 4790;
constexpr uint32_t kIdA = 0xc6120001, kIdB = 0xc6120002;

std::vector<uint8_t> material(uint8_t fill = 1) { return std::vector<uint8_t>(32, fill); }

// Two hosts, A (198.18.0.1) and B (198.18.0.2), on one encrypted network.
struct TwoHosts : ::testing::Test {
  Datapath a{"host-a", kIdA}, b{"host-b", kIdB};
  void SetUp() override { build(material(), material()); }
  void build(std::vector<uint8_t> ma, std::vector<uint8_t> mb, RekeyPolicy p = {}) {
    ASSERT_TRUE(a.addNetwork(kVni, "net-1", std::move(ma), p, kPort));
    ASSERT_TRUE(b.addNetwork(kVni, "net-1", std::move(mb), p, kPort));
    ASSERT_TRUE(a.addPeer(kVni, {"host-b", kIdB, "198.18.0.2", 1, 0}, t0));
    ASSERT_TRUE(b.addPeer(kVni, {"host-a", kIdA, "198.18.0.1", 1, 0}, t0));
  }
  std::vector<uint8_t> send(const std::vector<uint8_t>& frame, Clock::time_point now = t0) {
    std::span<const uint8_t> fs[] = {frame};
    std::vector<uint8_t> out(kOverhead + frame.size());
    auto n = a.seal(kVni, *parsePeerAddr("198.18.0.2", kPort), fs, out, now);
    EXPECT_TRUE(n.ok()) << n.error().message;
    return out;
  }
};

std::vector<uint8_t> frame(uint8_t fill, size_t n = 98) { return std::vector<uint8_t>(n, fill); }

TEST_F(TwoHosts, FramesCrossAndAreCountedOnBothSides) {
  auto pkt = send(frame(0x61));
  Datapath::Received r;
  ASSERT_TRUE(b.open(pkt, &r, t0));
  EXPECT_EQ(r.vni, kVni);
  EXPECT_EQ(r.senderId, kIdA);
  ASSERT_EQ(r.frames.size(), 1u);
  auto f = frame(0x61);
  EXPECT_TRUE(std::equal(f.begin(), f.end(), r.frames[0].begin(), r.frames[0].end()));
  const Counters* sent = a.peerCounters(kVni, kIdB);
  const Counters* got = b.peerCounters(kVni, kIdA);
  ASSERT_TRUE(sent && got);
  EXPECT_EQ(sent->sealedPackets, 1u);
  EXPECT_EQ(sent->sealedBytes, 98u);
  EXPECT_EQ(got->openedPackets, 1u);
  EXPECT_EQ(got->openedBytes, 98u);
  EXPECT_EQ(b.totals().dropped(), 0u);
}

TEST_F(TwoHosts, TruncatedForgedReplayedAndUnknownPacketsAreDroppedAndCounted) {
  auto pkt = send(frame(1));
  Datapath::Received r;
  auto truncated = std::vector<uint8_t>(pkt.begin(), pkt.begin() + kOverhead - 1);
  EXPECT_FALSE(b.open(truncated, &r, t0));
  auto badVersion = pkt;
  badVersion[0] = 9;
  EXPECT_FALSE(b.open(badVersion, &r, t0));
  auto badHeader = pkt;
  badHeader[2] = 1;
  EXPECT_FALSE(b.open(badHeader, &r, t0));
  auto otherVni = pkt;
  otherVni[7] ^= 1;
  EXPECT_FALSE(b.open(otherVni, &r, t0));
  auto otherSender = pkt;
  otherSender[11] = 0x77;
  EXPECT_FALSE(b.open(otherSender, &r, t0));
  auto forged = pkt;
  forged[forged.size() - 1] ^= 1;
  EXPECT_FALSE(b.open(forged, &r, t0));
  auto copy = pkt;
  EXPECT_TRUE(b.open(copy, &r, t0));
  EXPECT_FALSE(b.open(pkt, &r, t0));  // replay of the original bytes
  std::vector<uint8_t> big(kMaxPacketSize + 1, 0);
  EXPECT_FALSE(b.open(big, &r, t0));

  const Counters& u = b.unattributed();
  EXPECT_EQ(u.truncated, 1u);
  EXPECT_EQ(u.badVersion, 1u);
  EXPECT_EQ(u.badHeader, 1u);
  EXPECT_EQ(u.unknownSender, 2u);
  EXPECT_EQ(u.tooBig, 1u);
  const Counters* p = b.peerCounters(kVni, kIdA);
  EXPECT_EQ(p->authFailed, 1u);
  EXPECT_EQ(p->replayed, 1u);
  EXPECT_EQ(p->openedPackets, 1u);
  EXPECT_EQ(b.totals().dropped(), 8u);
}

TEST_F(TwoHosts, ACleartextFrameInjectedAsAPacketIsDropped) {
  // What an attacker without the key can do: send a plausible header with a
  // cleartext frame behind it.
  std::vector<uint8_t> pkt(kHeaderSize, 0);
  encodeHeader(Header{.vni = kVni, .senderId = kIdA, .keyEpoch = 1, .sequence = 99},
               std::span<uint8_t, kHeaderSize>(pkt.data(), kHeaderSize));
  auto f = frame(0x41, 98);
  pkt.insert(pkt.end(), f.begin(), f.end());
  pkt.resize(pkt.size() + kTagSize, 0);
  Datapath::Received r;
  EXPECT_FALSE(b.open(pkt, &r, t0));
  EXPECT_EQ(b.peerCounters(kVni, kIdA)->authFailed, 1u);
  EXPECT_EQ(b.peerCounters(kVni, kIdA)->openedPackets, 0u);
}

TEST(Datapath, AHostWithAnotherKeyGetsNothingThroughEitherWay) {
  Datapath a{"host-a", kIdA}, b{"host-b", kIdB};
  ASSERT_TRUE(a.addNetwork(kVni, "net-1", material(1), {}, kPort));
  ASSERT_TRUE(b.addNetwork(kVni, "net-1", material(2), {}, kPort));
  ASSERT_TRUE(a.addPeer(kVni, {"host-b", kIdB, "198.18.0.2", 1, 0}, t0));
  ASSERT_TRUE(b.addPeer(kVni, {"host-a", kIdA, "198.18.0.1", 1, 0}, t0));
  auto f = frame(1);
  std::span<const uint8_t> fs[] = {f};
  std::vector<uint8_t> ab(200), ba(200);
  ab.resize(*a.seal(kVni, *parsePeerAddr("198.18.0.2", kPort), fs, ab, t0));
  ba.resize(*b.seal(kVni, *parsePeerAddr("198.18.0.1", kPort), fs, ba, t0));
  Datapath::Received r;
  EXPECT_FALSE(b.open(ab, &r, t0));
  EXPECT_FALSE(a.open(ba, &r, t0));
  EXPECT_EQ(a.peerCounters(kVni, kIdB)->authFailed, 1u);
  EXPECT_EQ(b.peerCounters(kVni, kIdA)->authFailed, 1u);
}

TEST(Datapath, StreamAcrossRotationLosesNothing) {
  Datapath a{"host-a", kIdA}, b{"host-b", kIdB};
  RekeyPolicy p{.maxPackets = 1000, .maxAge = seconds(600), .overlap = seconds(1)};
  ASSERT_TRUE(a.addNetwork(kVni, "net-1", material(), p, kPort));
  ASSERT_TRUE(b.addNetwork(kVni, "net-1", material(), p, kPort));
  ASSERT_TRUE(a.addPeer(kVni, {"host-b", kIdB, "198.18.0.2", 1, 0}, t0));
  ASSERT_TRUE(b.addPeer(kVni, {"host-a", kIdA, "198.18.0.1", 1, 0}, t0));
  const auto to = *parsePeerAddr("198.18.0.2", kPort);
  auto now = t0;
  for (int i = 0; i < 10'000; ++i) {
    now += std::chrono::milliseconds(1);  // a rotation every 1000 packets (by count)
    auto f = frame(static_cast<uint8_t>(i), 1450);
    std::span<const uint8_t> fs[] = {f};
    std::vector<uint8_t> out(1500);
    auto n = a.seal(kVni, to, fs, out, now);
    ASSERT_TRUE(n.ok());
    out.resize(*n);
    Datapath::Received r;
    ASSERT_TRUE(b.open(out, &r, now)) << i;
  }
  EXPECT_EQ(a.peerCounters(kVni, kIdB)->rekeys, 9u);
  EXPECT_EQ(b.peerCounters(kVni, kIdA)->openedPackets, 10'000u);
  EXPECT_EQ(b.totals().dropped(), 0u);
}

TEST_F(TwoHosts, ARotationOnRequestMovesEverySenderAndLosesNothingInFlight) {
  Datapath::Received r;
  auto first = send(frame(0));
  ASSERT_TRUE(b.open(first, &r, t0));  // B knows epoch 1 as current
  auto before = send(frame(1));        // sealed under epoch 1, still in flight
  EXPECT_EQ(a.rotateAll(t0), 1u);
  EXPECT_EQ(a.peers(kVni)[0].txEpoch, 2u);
  EXPECT_EQ(a.maxTxEpoch(), 2u);
  EXPECT_EQ(a.peerCounters(kVni, kIdB)->rekeys, 1u);
  auto after = send(frame(2));
  Header h;
  ASSERT_EQ(decodeHeader(after, &h), HeaderError::kNone);
  EXPECT_EQ(h.keyEpoch, 2u);
  EXPECT_EQ(h.sequence, 1u);  // a new key starts its sequence again
  EXPECT_TRUE(b.open(after, &r, t0));
  EXPECT_TRUE(b.open(before, &r, t0 + seconds(1)));  // the old key, within the overlap
  EXPECT_EQ(b.totals().dropped(), 0u);
}

TEST(Datapath, NetworksAndPeersRefuseBadInputAndChangeNothing) {
  Datapath a{"host-a", kIdA};
  EXPECT_EQ(a.addNetwork(kMaxVni + 1, "n", material(), {}, kPort).code(), EINVAL);
  EXPECT_EQ(a.addNetwork(1, "n", std::vector<uint8_t>(8), {}, kPort).code(), EINVAL);
  EXPECT_EQ(a.addNetwork(1, "", material(), {}, kPort).code(), EINVAL);
  EXPECT_EQ(a.addNetwork(1, "n", material(), RekeyPolicy{.maxPackets = 0}, kPort).code(), EINVAL);
  EXPECT_EQ(a.forwarding(1), nullptr);
  ASSERT_TRUE(a.addNetwork(1, "n", material(), {}, kPort));
  EXPECT_NE(a.forwarding(1), nullptr);
  EXPECT_EQ(a.addNetwork(1, "n", material(), {}, kPort).code(), EEXIST);
  EXPECT_EQ(a.addPeer(2, {"host-b", kIdB, "198.18.0.2", 1, 0}, t0).code(), ENOENT);
  EXPECT_EQ(a.addPeer(1, {"host-b", kIdA, "198.18.0.2", 1, 0}, t0).code(), EINVAL);  // own sender id
  EXPECT_EQ(a.addPeer(1, {"host-a", kIdB, "198.18.0.2", 1, 0}, t0).code(), EINVAL);  // own host id
  EXPECT_EQ(a.addPeer(1, {"host-b", kIdB, "nowhere", 1, 0}, t0).code(), EINVAL);
  EXPECT_EQ(a.peerCounters(1, kIdB), nullptr);
  ASSERT_TRUE(a.addPeer(1, {"host-b", kIdB, "198.18.0.2", 1, 0}, t0));
  EXPECT_EQ(a.addPeer(1, {"host-b", kIdB, "198.18.0.2", 1, 0}, t0).code(), EEXIST);
  ASSERT_TRUE(a.removePeer(1, kIdB));
  EXPECT_EQ(a.removePeer(1, kIdB).code(), ENOENT);
  auto f = frame(1);
  std::span<const uint8_t> fs[] = {f};
  std::vector<uint8_t> out(200);
  EXPECT_EQ(a.seal(1, *parsePeerAddr("198.18.0.2", kPort), fs, out, t0).code(), ENOENT);
  EXPECT_EQ(a.unattributed().sealFailed, 1u);
  ASSERT_TRUE(a.removeNetwork(1));
  EXPECT_EQ(a.removeNetwork(1).code(), ENOENT);
}

}  // namespace
}  // namespace weft::datapath
