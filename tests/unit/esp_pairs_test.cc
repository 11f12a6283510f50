// EspPairs against the in-memory kernel: which SAs and policies a host pair
// gets, that both hosts derive the same ones, outbound rotation and inbound
// sets, adoption of what an earlier run left, bad input, rollback on kernel
// failure, and the limits. The same
// component on a real ESP kernel: tests/vm/esp_vm_test.cc.

#include "driver/esp_pairs.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "datapath/keys.h"
#include "kernel/fake_kernel.h"
#include "tests/unit/xfrm_lookup.h"

namespace weft::driver {
namespace {

using kernel::FakeKernel;
using kernel::XfrmDir;
using kernel::XfrmPolicy;
using kernel::XfrmState;
using testing::findSa;

constexpr uint16_t kPort = 4799;
const std::vector<uint8_t> kMaterial(32, 0x42);

EspConfig config(const std::string& id, const std::string& addr) {
  return EspConfig{"cluster-1", id, addr, kPort};
}

std::vector<XfrmState> states(FakeKernel& k) { return *k.listXfrmStates(); }
std::vector<XfrmPolicy> policies(FakeKernel& k) { return *k.listXfrmPolicies(); }

const XfrmPolicy* findPolicy(const std::vector<XfrmPolicy>& all, XfrmDir dir) {
  auto it = std::find_if(all.begin(), all.end(), [&](const XfrmPolicy& p) { return p.dir == dir; });
  return it == all.end() ? nullptr : &*it;
}

class EspPairsTest : public ::testing::Test {
 protected:
  FakeKernel ka_{"/nonexistent/a"}, kb_{"/nonexistent/b"};

  EspPairs make(FakeKernel& k, const std::string& id, const std::string& addr,
                const std::vector<uint8_t>& material = kMaterial) {
    auto e = EspPairs::create(k, config(id, addr), material);
    EXPECT_TRUE(e.ok()) << e.error().message;
    return std::move(*e);
  }
};

TEST_F(EspPairsTest, APeerGetsOneSaPerDirectionAndPoliciesOnTheEncryptedPort) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).ok());
  const auto* pair = a.pair("host-b");
  ASSERT_NE(pair, nullptr);
  auto sas = states(ka_);
  ASSERT_EQ(sas.size(), 2u);
  auto outKey = *datapath::deriveEspKey(kMaterial, {"cluster-1", "host-a", "host-b"}, 1);
  auto inKey = *datapath::deriveEspKey(kMaterial, {"cluster-1", "host-b", "host-a"}, 1);
  const XfrmState* out = findSa(sas, "198.18.0.1", outKey.spi);
  const XfrmState* in = findSa(sas, "198.18.0.2", inKey.spi);
  ASSERT_TRUE(out && in);
  EXPECT_EQ(out->dst, "198.18.0.2");
  EXPECT_EQ(in->dst, "198.18.0.1");
  for (const XfrmState* s : {out, in}) {
    EXPECT_TRUE(s->esn);
    EXPECT_EQ(s->replayWindow, kEspReplayWindow);
    EXPECT_EQ(s->icvBits, 128u);
    EXPECT_EQ(s->aeadKeyHex.size(), 72u);
    EXPECT_EQ(s->reqid, pair->reqid);
  }
  EXPECT_NE(out->aeadKeyHex, in->aeadKeyHex);
  auto pols = policies(ka_);
  ASSERT_EQ(pols.size(), 2u);
  const XfrmPolicy* po = findPolicy(pols, XfrmDir::kOut);
  const XfrmPolicy* pi = findPolicy(pols, XfrmDir::kIn);
  ASSERT_TRUE(po && pi);
  EXPECT_EQ(*po, (XfrmPolicy{XfrmDir::kOut, "198.18.0.1", "198.18.0.2", kPort, "198.18.0.1", "198.18.0.2",
                             pair->reqid, outKey.spi}));
  // Inbound: any SPI of the pair's reqid (old and new during a rekey).
  EXPECT_EQ(*pi, (XfrmPolicy{XfrmDir::kIn, "198.18.0.2", "198.18.0.1", kPort, "198.18.0.2", "198.18.0.1",
                             pair->reqid, 0}));
}

TEST_F(EspPairsTest, BothHostsDeriveTheSameSaForEachDirection) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  EspPairs b = make(kb_, "host-b", "198.18.0.2");
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 3, {3}).ok());
  ASSERT_TRUE(b.addPeer({"host-a", "198.18.0.1"}, 3, {3}).ok());
  // Every SA on A is on B with the same addresses, SPI and key.
  auto onB = states(kb_);
  for (const XfrmState& sa : states(ka_)) {
    const XfrmState* twin = findSa(onB, sa.src, sa.spi);
    ASSERT_NE(twin, nullptr) << sa.src << " spi " << sa.spi;
    EXPECT_EQ(twin->dst, sa.dst);
    EXPECT_EQ(twin->aeadKeyHex, sa.aeadKeyHex);
  }
  // Another key material: other keys.
  FakeKernel kc("/nonexistent/c");
  EspPairs c = make(kc, "host-b", "198.18.0.2", std::vector<uint8_t>(32, 0x43));
  ASSERT_TRUE(c.addPeer({"host-a", "198.18.0.1"}, 3, {3}).ok());
  auto other = states(kc);
  ASSERT_EQ(other.size(), 2u);
  for (const XfrmState& sa : other) EXPECT_EQ(findSa(onB, sa.src, sa.spi), nullptr);
}

// Directional epochs: the outbound direction at this host's epoch, a set
// of the peer's inbound. Rotating the outbound SA adds the new one, then
// moves the policy; the previous stays until dropped.
TEST_F(EspPairsTest, OutboundRotationAddsTheSaThenMovesThePolicy) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {7, 8}).ok());
  EXPECT_EQ(states(ka_).size(), 3u);  // in 7, in 8, out 1
  const uint32_t out1 = a.pair("host-b")->outSpi.at(1);
  EXPECT_EQ(findPolicy(policies(ka_), XfrmDir::kOut)->spi, out1);
  EXPECT_TRUE(a.setOut("host-b", 1).ok());  // where it is: nothing to do
  EXPECT_EQ(states(ka_).size(), 3u);

  ASSERT_TRUE(a.setOut("host-b", 2).ok());
  const uint32_t out2 = a.pair("host-b")->outSpi.at(2);
  EXPECT_NE(out1, out2);
  EXPECT_EQ(findPolicy(policies(ka_), XfrmDir::kOut)->spi, out2);
  EXPECT_EQ(policies(ka_).size(), 2u);
  EXPECT_EQ(a.pair("host-b")->out, 2u);
  EXPECT_EQ(a.pair("host-b")->previousOut, 1u);
  EXPECT_NE(findSa(states(ka_), "198.18.0.1", out1), nullptr) << "the previous stays a while";
  // Epochs only move on: 1 was used (its sequence numbers would restart).
  EXPECT_EQ(a.setOut("host-b", 1).code(), EEXIST);

  ASSERT_TRUE(a.dropPreviousOut("host-b").ok());
  EXPECT_EQ(findSa(states(ka_), "198.18.0.1", out1), nullptr);
  EXPECT_FALSE(a.pair("host-b")->previousOut);
  EXPECT_TRUE(a.dropPreviousOut("host-b").ok());  // none: nothing to do
  // A second rotation removes a previous one still there first.
  ASSERT_TRUE(a.setOut("host-b", 3).ok());
  ASSERT_TRUE(a.setOut("host-b", 4).ok());
  EXPECT_EQ(findSa(states(ka_), "198.18.0.1", out2), nullptr);
  EXPECT_EQ(a.pair("host-b")->previousOut, 3u);
  EXPECT_EQ(states(ka_).size(), 4u);  // in 7, in 8, out 3, out 4
}

TEST_F(EspPairsTest, InboundEpochsBecomeExactlyTheSetGiven) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {7, 8}).ok());
  auto inSpi = [&](uint32_t e) {
    return datapath::deriveEspKey(kMaterial, {"cluster-1", "host-b", "host-a"}, e)->spi;
  };
  ASSERT_TRUE(a.setIn("host-b", {8, 9}).ok());
  auto sas = states(ka_);
  EXPECT_EQ(sas.size(), 3u);
  EXPECT_EQ(findSa(sas, "198.18.0.2", inSpi(7)), nullptr);
  EXPECT_NE(findSa(sas, "198.18.0.2", inSpi(8)), nullptr);
  EXPECT_NE(findSa(sas, "198.18.0.2", inSpi(9)), nullptr);
  EXPECT_EQ(a.pair("host-b")->inSpi, (std::map<uint32_t, uint32_t>{{8, inSpi(8)}, {9, inSpi(9)}}));
  // A failed add changes nothing (all or nothing), a retry does it.
  ka_.failNext("addXfrmState", EIO);
  EXPECT_EQ(a.setIn("host-b", {9, 10, 11}).code(), EIO);
  EXPECT_EQ(states(ka_).size(), 3u);
  ASSERT_TRUE(a.setIn("host-b", {9, 10, 11}).ok());
  EXPECT_EQ(states(ka_).size(), 4u);  // in 9, 10, 11, out 1
  EXPECT_EQ(a.setIn("host-b", {}).code(), EINVAL);
  EXPECT_EQ(a.setIn("host-b", {1, 2, 3, 4, 5}).code(), EINVAL);  // kMaxEspInEpochs
  EXPECT_EQ(a.setIn("nobody", {1}).code(), ENOENT);
  EXPECT_EQ(states(ka_).size(), 4u);
}

TEST_F(EspPairsTest, RemovePeerRemovesEverything) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).ok());
  ASSERT_TRUE(a.addPeer({"host-c", "198.18.0.3"}, 1, {1}).ok());
  ASSERT_TRUE(a.setIn("host-b", {1, 2}).ok());
  ASSERT_TRUE(a.setOut("host-b", 2).ok());  // the previous outbound SA too
  ASSERT_TRUE(a.removePeer("host-b").ok());
  EXPECT_EQ(a.pair("host-b"), nullptr);
  EXPECT_EQ(states(ka_).size(), 2u);  // host-c's
  EXPECT_EQ(policies(ka_).size(), 2u);
  for (const auto& s : states(ka_)) EXPECT_TRUE(s.src == "198.18.0.3" || s.dst == "198.18.0.3");
  EXPECT_EQ(a.removePeer("host-b").code(), ENOENT);
}

TEST_F(EspPairsTest, BadInputIsRefusedAndChangesNothing) {
  auto bad = [&](EspConfig c, std::vector<uint8_t> m, const std::string& want) {
    auto e = EspPairs::create(ka_, std::move(c), std::move(m));
    ASSERT_FALSE(e.ok()) << want;
    EXPECT_EQ(e.code(), EINVAL);
    EXPECT_NE(e.error().message.find(want), std::string::npos) << e.error().message;
  };
  EspConfig c = config("host-a", "198.18.0.1");
  c.port = 0;
  bad(c, kMaterial, "port");
  bad(config("host-a", "not-an-ip"), kMaterial, "not an IP address");
  bad(config("host-a", "198.18.0.1"), std::vector<uint8_t>(16, 1), "key material");
  bad(config("", "198.18.0.1"), kMaterial, "host id");
  c = config("host-a", "198.18.0.1");
  c.replayWindow = 100;
  bad(c, kMaterial, "replay window");
  c.replayWindow = kernel::kMaxXfrmReplayWindow + 32;
  bad(c, kMaterial, "replay window");

  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  EXPECT_EQ(a.addPeer({"host-v6", "fd00::2"}, 1, {1}).code(), EINVAL);
  EXPECT_EQ(a.addPeer({"host-self", "198.18.0.1"}, 1, {1}).code(), EINVAL);
  EXPECT_EQ(a.addPeer({"host-a", "198.18.0.9"}, 1, {1}).code(), EINVAL);  // our own id
  EXPECT_EQ(a.addPeer({"host-b", "198.18.0.2"}, 1, {}).code(), EINVAL);   // no inbound epoch
  EXPECT_EQ(a.addPeer({"host-b", "198.18.0.2"}, 1, {1, 2, 3, 4, 5}).code(), EINVAL);
  EXPECT_EQ(a.setOut("nobody", 2).code(), ENOENT);
  EXPECT_EQ(a.setIn("nobody", {2}).code(), ENOENT);
  EXPECT_EQ(a.dropPreviousOut("nobody").code(), ENOENT);
  EXPECT_TRUE(states(ka_).empty());
  EXPECT_TRUE(policies(ka_).empty());
  EXPECT_EQ(a.size(), 0u);
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).ok());
  EXPECT_EQ(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).code(), EEXIST);
  EXPECT_EQ(states(ka_).size(), 2u);
}

TEST_F(EspPairsTest, AKernelFailureMidwayLeavesNothingHalfDone) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  for (const char* op : {"addXfrmState", "addXfrmPolicy"}) {
    ka_.failNext(op, EPERM);
    EXPECT_EQ(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).code(), EPERM) << op;
    EXPECT_TRUE(states(ka_).empty()) << op;
    EXPECT_TRUE(policies(ka_).empty()) << op;
    EXPECT_EQ(a.pair("host-b"), nullptr);
  }
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).ok());
  ka_.failNext("updateXfrmPolicy", EIO);
  EXPECT_EQ(a.setOut("host-b", 2).code(), EIO);
  EXPECT_EQ(a.pair("host-b")->out, 1u);
  EXPECT_EQ(states(ka_).size(), 2u) << "the new SA is removed again";
  EXPECT_EQ(findPolicy(policies(ka_), XfrmDir::kOut)->spi, a.pair("host-b")->outSpi.at(1));
  // Epoch 2's SA existed for a moment: never again (a new epoch it is).
  EXPECT_EQ(a.setOut("host-b", 2).code(), EEXIST);
  EXPECT_TRUE(a.setOut("host-b", 3).ok());
}

TEST_F(EspPairsTest, ClosingThePortBlocksItFromAndToAnyHostAndIsAdoptedOnRestart) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  ASSERT_TRUE(a.closePort().ok());
  auto pols = policies(ka_);
  ASSERT_EQ(pols.size(), 2u);
  const XfrmPolicy in{XfrmDir::kIn, "0.0.0.0", "198.18.0.1", kPort, "", "", 0, 0, true};
  const XfrmPolicy out{XfrmDir::kOut, "198.18.0.1", "0.0.0.0", kPort, "", "", 0, 0, true};
  EXPECT_EQ(std::count(pols.begin(), pols.end(), in), 1);
  EXPECT_EQ(std::count(pols.begin(), pols.end(), out), 1);
  // A pair's own policies sit beside the catch-all (they outrank it in the
  // kernel: kXfrmPolicyPriority < kXfrmBlockPriority).
  ASSERT_TRUE(a.addPeer({"host-b", "198.18.0.2"}, 1, {1}).ok());
  EXPECT_EQ(policies(ka_).size(), 4u);
  // A restarted plugin closes the port again: the blocks it finds are kept.
  EspPairs again = make(ka_, "host-a", "198.18.0.1");
  ASSERT_TRUE(again.closePort().ok());
  EXPECT_EQ(policies(ka_).size(), 4u);
  // IPv6 hosts block the unspecified IPv6 address.
  EspPairs v6 = make(ka_, "host-6", "fd00::1");
  ASSERT_TRUE(v6.closePort().ok());
  pols = policies(ka_);
  EXPECT_EQ(
      std::count_if(pols.begin(), pols.end(), [](const XfrmPolicy& p) { return p.block && p.src == "::"; }),
      1);
  ASSERT_TRUE(v6.openPort().ok());
  ASSERT_TRUE(a.removePeer("host-b").ok());
  ASSERT_TRUE(a.openPort().ok());
  EXPECT_TRUE(policies(ka_).empty());
  EXPECT_TRUE(a.openPort().ok());  // an open port stays open
}

TEST_F(EspPairsTest, AFailedCloseChangesNothingAndKeepsAnAdoptedBlock) {
  EspPairs a = make(ka_, "host-a", "198.18.0.1");
  ka_.failNext("addXfrmPolicy", EPERM);
  EXPECT_EQ(a.closePort().code(), EPERM);
  EXPECT_TRUE(policies(ka_).empty());
  // The inbound block is there from an earlier run (the kernel says EEXIST),
  // the outbound one fails: the earlier one is kept, not rolled back.
  const XfrmPolicy in = a.portBlocks()[0];
  ASSERT_TRUE(ka_.addXfrmPolicy(in).ok());
  ka_.failNext("addXfrmPolicy", EEXIST);
  ka_.failNext("addXfrmPolicy", EPERM);
  EXPECT_EQ(a.closePort().code(), EPERM);
  auto pols = policies(ka_);
  ASSERT_EQ(pols.size(), 1u);
  EXPECT_EQ(pols[0], in);
}

// What an earlier run left (the plane names peers by address: id = addr)
// is recognised by reqid and addresses, adopted where wanted, and a failed
// addPeer removes only what it added, never an adopted SA.
TEST_F(EspPairsTest, LeftoversOfAnEarlierRunAreAdoptedOrRemoved) {
  const std::string b = "198.18.0.2", c = "198.18.0.3";
  {
    EspPairs before = make(ka_, "198.18.0.1", "198.18.0.1");
    ASSERT_TRUE(before.addPeer({b, b}, 3, {3, 4}).ok());
    ASSERT_TRUE(before.addPeer({c, c}, 1, {1}).ok());
  }  // gone as with kill -9: the kernel keeps it all
  const XfrmState foreign{"198.18.0.1", "198.18.9.9", 77, 5,           std::string(72, 'b'),
                          128,          true,         0,  std::nullopt};
  ASSERT_TRUE(ka_.addXfrmState(foreign).ok());
  const auto kept = states(ka_);
  EspPairs a = make(ka_, "198.18.0.1", "198.18.0.1");
  ASSERT_TRUE(a.readLeftovers().ok());
  EXPECT_EQ(a.leftoverPeers(), (std::vector<std::string>{b, c}));
  EXPECT_TRUE(a.outIsLeftover({b, b}, 3));
  EXPECT_FALSE(a.outIsLeftover({b, b}, 4));
  // A failure midway: the adopted SAs stay, what it added goes.
  ka_.failNext("updateXfrmPolicy", EIO);
  EXPECT_EQ(a.addPeer({b, b}, 4, {4, 5}).code(), EIO);
  EXPECT_EQ(states(ka_), kept);
  EXPECT_EQ(a.pair(b), nullptr);
  // Adopted unchanged where wanted (out 3, in 4), the rest of the pair goes.
  ASSERT_TRUE(a.addPeer({b, b}, 3, {4}).ok());
  EXPECT_EQ(states(ka_).size(), kept.size() - 1);
  EXPECT_EQ(a.leftoverPeers(), std::vector<std::string>{c});
  ASSERT_TRUE(a.removeLeftovers().ok());
  EXPECT_TRUE(a.leftoverPeers().empty());
  for (const auto& s : states(ka_)) EXPECT_NE(s.dst, c);
  EXPECT_EQ(policies(ka_).size(), 2u);  // b's
  EXPECT_NE(findSa(states(ka_), "198.18.0.1", 77), nullptr) << "not weft's: untouched";
}

TEST_F(EspPairsTest, PeerLimitIsExplicit) {
  EspPairs a = make(ka_, "host-a", "10.0.0.1");
  for (size_t i = 0; i < kMaxEspPeers; ++i) {
    const std::string addr = "10." + std::to_string(1 + i / 65536) + "." + std::to_string((i / 256) % 256) +
                             "." + std::to_string(i % 256);
    ASSERT_TRUE(a.addPeer({"peer-" + std::to_string(i), addr}, 1, {1}).ok()) << i;
  }
  EXPECT_EQ(a.size(), kMaxEspPeers);
  EXPECT_EQ(a.addPeer({"one-more", "10.200.0.1"}, 1, {1}).code(), ENOSPC);
  EXPECT_EQ(states(ka_).size(), 2 * kMaxEspPeers);
}

}  // namespace
}  // namespace weft::driver
