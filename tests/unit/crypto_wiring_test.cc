// The driver with both backends of encrypted networks (issue 11): it
// advertises what this host can do, learns what the others can, and feeds
// each peer's entries to exactly the plane chosen for the pair -- never to
// both, and to neither when the pair cannot be served.

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/driver_test_fixture.h"

using namespace weft;
using namespace weft::driver;

namespace {

std::string id(char c) { return std::string(64, c); }
const std::string kSelf = "198.18.0.1", kEspPeer = "198.18.0.2", kOldPeer = "198.18.0.3",
                  kNoEspPeer = "198.18.0.4";

CreateNetworkRequest net(const std::string& nid, const std::string& pool, const std::string& crypto) {
  CreateNetworkRequest r;
  r.networkId = nid;
  r.generic = {{"encrypted", ""}, {"weft.crypto", crypto}};
  r.ipv4.push_back({"", pool, pool.substr(0, pool.rfind('.')) + ".1/24", {}});
  return r;
}

class Plane : public EncryptedPlane {
 public:
  Status attach(const EncryptedNetwork& n) override {
    attached[n.identity] = n;
    return Status::Ok();
  }
  void detach(const std::string& identity) override {
    attached.erase(identity);
    peers.erase(identity);
  }
  void setPeers(const std::string& identity, const PeerEntries& e) override { peers[identity] = e; }
  void setGroups(const std::string&, const GroupRoutes&) override {}  // not under test here
  std::map<std::string, EncryptedNetwork> attached;
  std::map<std::string, PeerEntries> peers;
};

class CryptoWiring : public ::testing::Test {
 protected:
  void start(std::string kernelOff) {
    driver_.reset();  // before the kernel it uses
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    cfg_.stateDir = dir_.path();
    cfg_.advertiseAddr = kSelf;
    cfg_.kernelCryptoOff = std::move(kernelOff);
    driver_ = std::make_unique<Driver>(cfg_, *kernel_);
    driver_->setEncryptedPlane(&userspace_);
    driver_->setKernelPlane(&kernel_plane_);
    ASSERT_TRUE(driver_->start().ok());
    driver_->setCluster(&cluster_);
  }
  // Three peers on the network: one with kernel ESP, one older build that
  // advertises nothing, one without ESP.
  std::string networkWithPeers(const std::string& crypto) {
    EXPECT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24", crypto)).ok());
    const std::string identity = driver_->networks().at(0).identity;
    driver_->applyRemote(CryptoCaps::record({true}, kEspPeer), RecordState::kActive);
    driver_->applyRemote(CryptoCaps::record({false}, kNoEspPeer), RecordState::kActive);
    int n = 0;
    for (const auto& host : {kEspPeer, kOldPeer, kNoEspPeer}) {
      const std::string last = std::to_string(7 + n);
      driver_->applyRemote({identity, id(static_cast<char>('e' + n)), "10.1.0." + last + "/24", "",
                            "02:42:0a:01:00:0" + last.substr(last.size() - 1), host},
                           RecordState::kActive);
      ++n;
    }
    driver_->syncPeers();
    return identity;
  }
  std::map<std::string, std::string> backends() {
    std::map<std::string, std::string> out;
    auto j = driver_->cryptoSelection();
    for (const auto& p : j["networks"][0]["peers"]) out[p["host"]] = p["backend"];
    return out;
  }

  test::TempDir dir_;
  DriverConfig cfg_;
  Plane userspace_, kernel_plane_;
  test::RecordingCluster cluster_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
};

}  // namespace

TEST_F(CryptoWiring, AHostWithAnEncryptedNetworkAdvertisesWhatItsKernelCanDo) {
  start("");
  EXPECT_TRUE(cluster_.published.empty()) << "no encrypted network: nobody needs to know";
  networkWithPeers("auto");
  ASSERT_EQ(cluster_.published.size(), 1u);
  EXPECT_EQ(cluster_.published.back(), CryptoCaps::record({true}, kSelf));
  // The last encrypted network goes: so does the record.
  ASSERT_TRUE(driver_->deleteNetwork(id('a')).ok());
  driver_->syncPeers();
  ASSERT_EQ(cluster_.withdrawn.size(), 1u);
  EXPECT_EQ(cluster_.withdrawn[0], std::make_pair(std::string(kCryptoCapsNetwork), "caps." + kSelf));
  cluster_.published.clear();
  start("its kernel has no ESP (esp4 missing)");
  networkWithPeers("auto");
  EXPECT_EQ(cluster_.published.back(), CryptoCaps::record({false}, kSelf));
  EXPECT_EQ(driver_->cryptoSelection()["kernelOff"], "its kernel has no ESP (esp4 missing)");
}

TEST_F(CryptoWiring, AutoPutsEachPeerOnTheBackendBothHostsCanRunAndOnlyThere) {
  start("");
  const std::string identity = networkWithPeers("auto");
  ASSERT_TRUE(userspace_.attached.count(identity));
  ASSERT_TRUE(kernel_plane_.attached.count(identity));
  EXPECT_EQ(kernel_plane_.peers[identity].flood, std::set<std::string>{kEspPeer});
  EXPECT_EQ(userspace_.peers[identity].flood, (std::set<std::string>{kOldPeer, kNoEspPeer}));
  EXPECT_EQ(kernel_plane_.peers[identity].fdb.size(), 1u);
  EXPECT_EQ(userspace_.peers[identity].fdb.size(), 2u);
  EXPECT_EQ(backends(), (std::map<std::string, std::string>{
                            {kEspPeer, "kernel"}, {kOldPeer, "userspace"}, {kNoEspPeer, "userspace"}}));
  // The older peer upgrades and advertises ESP: its pair moves to the kernel.
  driver_->applyRemote(CryptoCaps::record({true}, kOldPeer), RecordState::kActive);
  EXPECT_EQ(kernel_plane_.peers[identity].flood, (std::set<std::string>{kEspPeer, kOldPeer}));
  EXPECT_EQ(userspace_.peers[identity].flood, std::set<std::string>{kNoEspPeer});
  // Its record goes (the host left): back to userspace, never to both.
  driver_->applyRemote(CryptoCaps::record({true}, kOldPeer), RecordState::kWithdrawn);
  EXPECT_EQ(kernel_plane_.peers[identity].flood, std::set<std::string>{kEspPeer});
  EXPECT_EQ(userspace_.peers[identity].flood, (std::set<std::string>{kOldPeer, kNoEspPeer}));
  // Deleting the network detaches it from both planes.
  ASSERT_TRUE(driver_->deleteNetwork(id('a')).ok());
  EXPECT_TRUE(userspace_.attached.empty());
  EXPECT_TRUE(kernel_plane_.attached.empty());
  EXPECT_TRUE(driver_->cryptoSelection()["networks"].empty());
}

TEST_F(CryptoWiring, ForcedKernelLeavesPeersThatCannotWithNothingAndSaysWhy) {
  start("");
  const std::string identity = networkWithPeers("kernel");
  EXPECT_FALSE(userspace_.attached.count(identity)) << "a kernel-only network has no TAP";
  EXPECT_EQ(kernel_plane_.peers[identity].flood, std::set<std::string>{kEspPeer});
  EXPECT_FALSE(userspace_.peers.count(identity));
  auto b = backends();
  EXPECT_EQ(b[kOldPeer], "none");
  EXPECT_EQ(b[kNoEspPeer], "none");
  auto j = driver_->cryptoSelection();
  for (const auto& p : j["networks"][0]["peers"]) {
    if (p["host"] != kNoEspPeer) continue;
    EXPECT_NE(p["why"].get<std::string>().find("advertises no kernel ESP"), std::string::npos) << p.dump();
  }
}

TEST_F(CryptoWiring, ForcedUserspaceNeverUsesTheKernel) {
  start("");
  const std::string identity = networkWithPeers("userspace");
  EXPECT_FALSE(kernel_plane_.attached.count(identity));
  EXPECT_EQ(userspace_.peers[identity].flood, (std::set<std::string>{kEspPeer, kOldPeer, kNoEspPeer}));
  EXPECT_FALSE(kernel_plane_.peers.count(identity));
}

TEST_F(CryptoWiring, AHostWithoutKernelEspRefusesForcedKernelAndUsesUserspaceForAll) {
  start("its kernel has no ESP (esp4 missing)");
  auto st = driver_->createNetwork(net(id('b'), "10.2.0.0/24", "kernel"));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("esp4 missing"), std::string::npos) << st.error().message;
  const std::string identity = networkWithPeers("auto");
  EXPECT_FALSE(kernel_plane_.attached.count(identity));
  EXPECT_EQ(userspace_.peers[identity].flood, (std::set<std::string>{kEspPeer, kOldPeer, kNoEspPeer}));
  // The MTU is the userspace datapath's (no ESP overhead to leave room for).
  const uint32_t userspaceMtu = driver_->networks().at(0).mtu;
  ASSERT_TRUE(driver_->deleteNetwork(id('a')).ok());
  start("");
  networkWithPeers("auto");
  EXPECT_LT(driver_->networks().at(0).mtu, userspaceMtu) << "room for ESP over VXLAN when pairs may use it";
}

TEST_F(CryptoWiring, AForgedCapabilityRecordChangesNothing) {
  start("");
  const std::string identity = networkWithPeers("auto");
  auto forged = CryptoCaps::record({true}, kNoEspPeer);
  forged.vtep = kOldPeer;  // the key names another host
  driver_->applyRemote(forged, RecordState::kActive);
  EXPECT_EQ(kernel_plane_.peers[identity].flood, std::set<std::string>{kEspPeer});
}
