// The kernel backend's plane (driver/kernel_plane.h) against the in-memory
// kernel: the VTEP it puts on br0 of a sandbox, the port closed before it,
// ESP before forwarding entries and after them on the way out, peers
// without known epochs left out, no outbound epoch used twice with a peer,
// and the
// driver's per-pair selection programming it (kernel pairs in its VTEP and
// ESP, userspace pairs not). The same on a real ESP kernel: tests/vm.

#include "driver/kernel_plane.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "datapath/keys.h"
#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/esp_test_support.h"

namespace weft::driver {
namespace {

using kernel::FakeKernel;
using kernel::FdbEntry;
using kernel::XfrmPolicy;

constexpr uint16_t kEspPort = 4791;
const std::string kSelf = "198.18.0.1", kP = "198.18.0.2", kQ = "198.18.0.3";
const std::string kSandbox = "sb1";

class KernelPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(k_.createNetns(kSandbox).ok());
    ASSERT_TRUE(k_.createBridge(kSandbox, "br0", 1450).ok());
    auto esp =
        EspPairs::create(k_, EspConfig{"cluster-1", kSelf, kSelf, kEspPort}, std::vector<uint8_t>(32, 7));
    ASSERT_TRUE(esp.ok()) << esp.error().message;
    auto plane = KernelPlane::create(k_, bm_, KernelPlaneConfig{kSelf, kEspPort}, std::move(*esp), epochs_);
    ASSERT_TRUE(plane.ok()) << plane.error().message;
    plane_ = std::move(*plane);
  }

  static PeerEntries entries(const std::vector<std::string>& vteps) { return testing::entriesFor(vteps); }
  std::set<std::string> fdbDsts() {
    std::set<std::string> out;
    auto l = k_.listFdb(kSandbox, kKernelVtepName);
    EXPECT_TRUE(l.ok());
    if (l.ok())
      for (const FdbEntry& f : *l) out.insert(f.dst->str());
    return out;
  }
  size_t blocks() {
    auto p = *k_.listXfrmPolicies();
    return std::count_if(p.begin(), p.end(), [](const XfrmPolicy& x) { return x.block; });
  }

  FakeKernel k_{"/nonexistent/netns"};
  kernel::FakeBridgeMulticast bm_{k_};
  testing::FakeEspEpochs epochs_;
  std::unique_ptr<KernelPlane> plane_;
};

TEST_F(KernelPlaneTest, AttachPutsAnIsolatedVtepOnTheEspPortAfterClosingThePort) {
  EXPECT_EQ(blocks(), 0u);
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  auto l = k_.getLink(kSandbox, kKernelVtepName);
  ASSERT_TRUE(l.ok()) << l.error().message;
  EXPECT_EQ(l->vni, 4242u);
  EXPECT_EQ(l->port, kEspPort);
  EXPECT_EQ(l->local->str(), kSelf);
  EXPECT_EQ(l->learning, false);
  EXPECT_EQ(l->master, "br0");
  EXPECT_TRUE(l->up);
  EXPECT_EQ(l->mtu, 1400u);
  EXPECT_EQ(*bm_.getPortIsolated(kSandbox, kKernelVtepName), true);
  EXPECT_EQ(blocks(), 2u) << "cleartext on the ESP port refused, both ways";
  // Attaching again (a repeated call) changes nothing.
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  // The port stays closed when the last network goes, its VTEP does not.
  plane_->detach("net-1");
  EXPECT_FALSE(k_.getLink(kSandbox, kKernelVtepName).ok());
  EXPECT_EQ(blocks(), 2u);
  EXPECT_FALSE(plane_->programmed("net-1"));
}

TEST_F(KernelPlaneTest, AFailedAttachLeavesNoVtep) {
  k_.failNext("setMaster", EPERM);
  auto st = plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400});
  EXPECT_EQ(st.code(), EPERM);
  EXPECT_NE(st.error().message.find("br0"), std::string::npos) << st.error().message;
  EXPECT_FALSE(k_.getLink(kSandbox, kKernelVtepName).ok());
  EXPECT_FALSE(plane_->programmed("net-1"));
  EXPECT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());  // and it can be retried
}

TEST_F(KernelPlaneTest, OnlyPeersWithEspGetEntriesAndEspOutlivesTheirLastEntry) {
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  epochs_.agree(kP, 1);  // kQ: no epoch agreed yet
  const PeerEntries both = entries({kP, kQ});
  plane_->setPeers("net-1", both);
  EXPECT_EQ(plane_->espPeers(), std::vector<std::string>{kP});
  EXPECT_EQ(k_.listXfrmStates()->size(), 2u);  // kP's in and out
  EXPECT_EQ(fdbDsts(), std::set<std::string>{kP});
  auto have = plane_->programmed("net-1");
  ASSERT_TRUE(have);
  EXPECT_EQ(have->flood, std::set<std::string>{kP});
  EXPECT_EQ(have->fdb.size(), 1u);
  EXPECT_EQ(have->neigh.size(), 1u);
  // kQ's epoch arrives: the same entries again now program it too.
  epochs_.agree(kQ, 1);
  plane_->setPeers("net-1", both);
  EXPECT_EQ(plane_->espPeers(), (std::vector<std::string>{kP, kQ}));
  EXPECT_EQ(fdbDsts(), (std::set<std::string>{kP, kQ}));
  EXPECT_EQ(*plane_->programmed("net-1"), both);
  // kP leaves: its entries go, then its SAs and policies.
  plane_->setPeers("net-1", entries({kQ}));
  EXPECT_EQ(plane_->espPeers(), std::vector<std::string>{kQ});
  EXPECT_EQ(fdbDsts(), std::set<std::string>{kQ});
  const auto states = *k_.listXfrmStates();
  for (const auto& s : states) EXPECT_TRUE(s.src == kQ || s.dst == kQ) << s.src << "->" << s.dst;
  EXPECT_EQ(k_.listXfrmPolicies()->size(), 2u + 2u);  // kQ's two and the port's two blocks
  // kP comes back at the epoch it had: its SAs would restart their sequence
  // numbers under the same key, so it waits for a new epoch.
  plane_->setPeers("net-1", both);
  EXPECT_EQ(plane_->espPeers(), std::vector<std::string>{kQ});
  EXPECT_EQ(fdbDsts(), std::set<std::string>{kQ});
  epochs_.agree(kP, 2);
  plane_->setPeers("net-1", both);
  EXPECT_EQ(plane_->espPeers(), (std::vector<std::string>{kP, kQ}));
  EXPECT_EQ(fdbDsts(), (std::set<std::string>{kP, kQ}));
}

TEST_F(KernelPlaneTest, APeerSharedByTwoNetworksKeepsEspUntilTheLastOneLetsGo) {
  ASSERT_TRUE(k_.createNetns("sb2").ok());
  ASSERT_TRUE(k_.createBridge("sb2", "br0", 1450).ok());
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-2", 4243, "sb2", 1400}).ok());
  epochs_.agree(kP, 1);
  plane_->setPeers("net-1", entries({kP}));
  plane_->setPeers("net-2", entries({kP}));
  plane_->setPeers("net-1", {});
  EXPECT_EQ(plane_->espPeers(), std::vector<std::string>{kP}) << "net-2 still sends to it";
  plane_->detach("net-2");
  EXPECT_TRUE(plane_->espPeers().empty());
  EXPECT_TRUE(k_.listXfrmStates()->empty());
  EXPECT_EQ(k_.listXfrmPolicies()->size(), 2u);  // the blocks only
}

TEST_F(KernelPlaneTest, AFailedEntryIsRetriedByTheNextCall) {
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  epochs_.agree(kP, 1);
  k_.failNext("replaceFdb", EIO);
  plane_->setPeers("net-1", entries({kP}));
  EXPECT_TRUE(plane_->programmed("net-1")->fdb.empty());
  EXPECT_EQ(plane_->espPeers(), std::vector<std::string>{kP}) << "its flood entry is there";
  plane_->setPeers("net-1", entries({kP}));
  EXPECT_EQ(*plane_->programmed("net-1"), entries({kP}));
}

TEST_F(KernelPlaneTest, BadConfigurationIsRefused) {
  auto esp =
      EspPairs::create(k_, EspConfig{"cluster-1", kSelf, kSelf, kEspPort}, std::vector<uint8_t>(32, 7));
  ASSERT_TRUE(esp.ok());
  testing::FakeEspEpochs none;
  EXPECT_EQ(KernelPlane::create(k_, bm_, {kSelf, 4790}, *esp, none).code(), EINVAL);   // another port
  EXPECT_EQ(KernelPlane::create(k_, bm_, {kP, kEspPort}, *esp, none).code(), EINVAL);  // another host
  EXPECT_EQ(KernelPlane::create(k_, bm_, {kSelf, 0}, *esp, none).code(), EINVAL);
  // The previous outbound SA's grace: limited (kMaxEspOutGrace), not negative.
  EXPECT_EQ(KernelPlane::create(k_, bm_, {kSelf, kEspPort, kMaxEspOutGrace + std::chrono::milliseconds(1)},
                                *esp, none)
                .code(),
            EINVAL);
  EXPECT_EQ(KernelPlane::create(k_, bm_, {kSelf, kEspPort, std::chrono::milliseconds(-1)}, *esp, none).code(),
            EINVAL);
  EXPECT_TRUE(KernelPlane::create(k_, bm_, {kSelf, kEspPort, kMaxEspOutGrace}, *esp, none).ok());
}

// peerStates' traffic: per peer the kernel's counters of its SAs, outbound
// ones as sealed, inbound ones as opened, with their authentication
// failures and replays (duplicates and too old); an SA that is not the
// pair's (another reqid) counts for nobody.
TEST_F(KernelPlaneTest, PeerStatesSumTheCountersOfEachPeersSasPerDirection) {
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  epochs_.agree(kP, 1);
  epochs_.agree(kQ, 1);
  plane_->setPeers("net-1", entries({kP, kQ}));
  ASSERT_EQ(plane_->espPeers(), (std::vector<std::string>{kP, kQ}));
  const auto sas = *k_.listXfrmStates();
  for (const auto& sa : sas) {
    const bool out = sa.src == kSelf;
    const uint64_t base = sa.dst == kP || sa.src == kP ? 100 : 200;
    kernel::XfrmCounters c{.packets = base + (out ? 1 : 2), .bytes = 1000 * base + (out ? 10 : 20)};
    if (!out) c.duplicates = base / 100, c.tooOld = 3, c.authFailed = base / 10;
    ASSERT_TRUE(k_.setXfrmCounters(sa.dst, sa.spi, c).ok());
  }
  kernel::XfrmState stranger;  // between this host and kP, but not the plane's
  stranger.src = kP;
  stranger.dst = kSelf;
  stranger.spi = 0x5eed;
  stranger.reqid = 99;
  stranger.aeadKeyHex = std::string(72, 'f');
  ASSERT_TRUE(k_.addXfrmState(stranger).ok());
  ASSERT_TRUE(k_.setXfrmCounters(kSelf, 0x5eed, {.packets = 7777, .authFailed = 7777}).ok());

  const auto states = plane_->peerStates();
  ASSERT_EQ(states.size(), 2u);
  EXPECT_EQ(states[0].peer, kP);
  EXPECT_EQ(states[0].traffic, std::optional<EspTraffic>(EspTraffic{101, 100010, 102, 100020, 10, 1 + 3}));
  EXPECT_EQ(states[1].peer, kQ);
  EXPECT_EQ(states[1].traffic, std::optional<EspTraffic>(EspTraffic{201, 200010, 202, 200020, 20, 2 + 3}));
  // The SAs cannot be listed: the epochs are still shown, the traffic is
  // unknown (not 0).
  k_.failNext("listXfrmStates", EIO);
  const auto blind = plane_->peerStates();
  ASSERT_EQ(blind.size(), 2u);
  EXPECT_EQ(blind[0].outEpoch, 1u);
  EXPECT_FALSE(blind[0].traffic);
}

// Across a rotation: the previous outbound SA counts while it stays for its
// grace, and takes its counts with it when it goes; an inbound epoch that
// leaves does the same. (Documented: the counters are the installed SAs'.)
TEST_F(KernelPlaneTest, AnSaThatGoesTakesItsCountsWithIt) {
  plane_.reset();
  auto esp =
      EspPairs::create(k_, EspConfig{"cluster-1", kSelf, kSelf, kEspPort}, std::vector<uint8_t>(32, 7));
  ASSERT_TRUE(esp.ok());
  auto plane = KernelPlane::create(k_, bm_, KernelPlaneConfig{kSelf, kEspPort, std::chrono::milliseconds(50)},
                                   std::move(*esp), epochs_);
  ASSERT_TRUE(plane.ok());
  plane_ = std::move(*plane);
  ASSERT_TRUE(plane_->attach(EncryptedNetwork{"net-1", 4242, kSandbox, 1400}).ok());
  epochs_.agree(kP, 1);
  epochs_.in[kP] = {1, 2};
  plane_->setPeers("net-1", entries({kP}));
  auto spiOf = [](const std::string& from, const std::string& to, uint32_t e) {
    return datapath::deriveEspKey(std::vector<uint8_t>(32, 7), {"cluster-1", from, to}, e)->spi;
  };
  auto traffic = [&] { return plane_->peerStates().at(0).traffic.value_or(EspTraffic{999}); };
  ASSERT_TRUE(k_.setXfrmCounters(kP, spiOf(kSelf, kP, 1), {.packets = 10, .bytes = 1000}).ok());
  ASSERT_TRUE(k_.setXfrmCounters(kSelf, spiOf(kP, kSelf, 1), {.packets = 6, .bytes = 600}).ok());
  ASSERT_TRUE(
      k_.setXfrmCounters(kSelf, spiOf(kP, kSelf, 2), {.packets = 1, .bytes = 100, .authFailed = 1}).ok());
  EXPECT_EQ(traffic(), (EspTraffic{10, 1000, 7, 700, 1, 0}));

  epochs_.out[kP] = 2;  // this host rotates: the new SA, the previous one in its grace
  ASSERT_TRUE(plane_->refresh().ok());
  ASSERT_EQ(plane_->peerStates().at(0).previousOut, 1u);
  ASSERT_TRUE(k_.setXfrmCounters(kP, spiOf(kSelf, kP, 2), {.packets = 4, .bytes = 400}).ok());
  EXPECT_EQ(traffic().sealedPackets, 14u) << "both outbound SAs while the previous one stays";
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  ASSERT_TRUE(plane_->refresh().ok());
  ASSERT_FALSE(plane_->peerStates().at(0).previousOut);
  EXPECT_EQ(traffic().sealedPackets, 4u) << "the previous SA went, with its counts";
  EXPECT_EQ(traffic().sealedBytes, 400u);

  epochs_.in[kP] = {2, 3};  // the peer rotated: its epoch 1 leaves
  ASSERT_TRUE(plane_->refresh().ok());
  EXPECT_EQ(traffic(), (EspTraffic{4, 400, 1, 100, 1, 0}));
}

// The userspace side, as seen by the driver: what it was given.
class UserspaceEntries : public EncryptedPlane {
 public:
  Status attach(const EncryptedNetwork&) override { return Status::Ok(); }
  void detach(const std::string& identity) override { given.erase(identity); }
  void setPeers(const std::string& identity, const PeerEntries& e) override { given[identity] = e; }
  void setGroups(const std::string&, const GroupRoutes&) override {}  // not under test here
  std::map<std::string, PeerEntries> given;
};

// The driver's selection programs the real plane: the pair with a kernel-ESP
// peer lands in the kernel VTEP and ESP, the other goes to the userspace
// side only.
TEST(KernelPlaneWiring, KernelPairsAreProgrammedInTheKernelAndNoOthers) {
  test::TempDir dir;
  FakeKernel k(dir / "netns");
  kernel::FakeBridgeMulticast bm(k);
  auto esp = EspPairs::create(k, EspConfig{"cluster-1", kSelf, kSelf, kEspPort}, std::vector<uint8_t>(32, 7));
  ASSERT_TRUE(esp.ok());
  testing::FakeEspEpochs epochs;
  epochs.agree(kP, 1);  // kQ is a userspace pair: never asked
  auto plane = KernelPlane::create(k, bm, {kSelf, kEspPort}, std::move(*esp), epochs);
  ASSERT_TRUE(plane.ok());
  DriverConfig cfg;
  cfg.stateDir = dir.path();
  cfg.advertiseAddr = kSelf;
  cfg.kernelCryptoOff = "";
  Driver d(cfg, k);
  UserspaceEntries userspace;
  d.setEncryptedPlane(&userspace);
  d.setKernelPlane(plane->get());
  ASSERT_TRUE(d.start().ok());
  CreateNetworkRequest r;
  r.networkId = std::string(64, 'a');
  r.generic = {{"encrypted", ""}, {"weft.crypto", "auto"}};
  r.ipv4.push_back({"", "10.1.0.0/24", "10.1.0.1/24", {}});
  auto created = d.createNetwork(r);
  ASSERT_TRUE(created.ok()) << created.error().message;
  const Network n = d.networks().at(0);
  EXPECT_TRUE(k.getLink(n.netns, kKernelVtepName).ok());
  d.applyRemote(CryptoCaps::record({true}, kP), RecordState::kActive);
  d.applyRemote(CryptoCaps::record({false}, kQ), RecordState::kActive);
  d.applyRemote({n.identity, std::string(64, 'e'), "10.1.0.7/24", "", "02:42:0a:01:00:07", kP},
                RecordState::kActive);
  d.applyRemote({n.identity, std::string(64, 'f'), "10.1.0.8/24", "", "02:42:0a:01:00:08", kQ},
                RecordState::kActive);
  d.syncPeers();
  auto fdb = k.listFdb(n.netns, kKernelVtepName);
  ASSERT_TRUE(fdb.ok());
  std::set<std::string> dsts;
  for (const auto& f : *fdb) dsts.insert(f.dst->str());
  EXPECT_EQ(dsts, std::set<std::string>{kP});
  EXPECT_EQ((*plane)->espPeers(), std::vector<std::string>{kP});
  EXPECT_EQ(userspace.given[n.identity].flood, std::set<std::string>{kQ});
  // kP's record goes (the host left): its entries and its ESP go.
  d.applyRemote({n.identity, std::string(64, 'e'), "10.1.0.7/24", "", "02:42:0a:01:00:07", kP},
                RecordState::kWithdrawn);
  d.syncPeers();
  EXPECT_TRUE((*plane)->espPeers().empty());
  EXPECT_TRUE(k.listXfrmStates()->empty());
  ASSERT_TRUE(d.deleteNetwork(r.networkId).ok());
  EXPECT_FALSE((*plane)->programmed(n.identity));
}

}  // namespace
}  // namespace weft::driver
