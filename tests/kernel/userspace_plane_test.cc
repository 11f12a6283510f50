// The userspace backend's port on a real kernel: attach puts a persistent
// TAP on br0 of the network's sandbox with the network's MTU; a sandbox
// rebuilt in a new namespace (repair) gets its port again; detach and the
// namespace's removal leave nothing. Root only, in the suite's throwaway
// namespace; what it makes is removed also on failure.

#include "driver/userspace_plane.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/json_file.h"
#include "driver/names.h"
#include "kernel/netlink_kernel.h"
#include "tests/kernel/kernel_test_env.h"

namespace weft::kernel::testing {
namespace {

class UserspacePlaneKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!realKernelAvailable()) GTEST_SKIP() << "needs root (TAP devices, namespaces)";
    k_ = std::make_unique<NetlinkKernel>(stateDir() + "/netns");
    ns_ = "wplane-" + std::to_string(::getpid());
    epochFile_ = stateDir() + "/datapath-epoch-" + std::to_string(::getpid());
    peersFile_ = stateDir() + "/datapath-peers-" + std::to_string(::getpid()) + ".json";
  }
  void TearDown() override {
    plane_.reset();
    if (!k_) return;
    EXPECT_TRUE(k_->deleteNetns(ns_).okOr(ENOENT));
    ::unlink(epochFile_.c_str());
    ::unlink(peersFile_.c_str());
  }
  void sandbox() {
    ASSERT_OK(k_->createNetns(ns_));
    ASSERT_OK(k_->createBridge(ns_, driver::kBridgeName, 1418));
  }
  // A plane on 127.0.0.1:PORT keeping its epochs and peers in this test's files.
  driver::UserspacePlaneConfig planeConfig(uint16_t port) {
    driver::UserspacePlaneConfig c;
    c.self = "127.0.0.1";
    c.port = port;
    c.key.assign(32, 0x5a);
    c.epochFile = epochFile_;
    c.peersFile = peersFile_;
    return c;
  }
  void expectPort() {
    auto l = k_->getLink(ns_, driver::kEncryptedTapName);
    ASSERT_OK(l);
    EXPECT_EQ(l->master, driver::kBridgeName);
    EXPECT_EQ(l->mtu, 1418u);
    EXPECT_TRUE(l->up);
  }

  std::unique_ptr<NetlinkKernel> k_;
  std::unique_ptr<driver::UserspacePlane> plane_;
  std::string ns_, epochFile_, peersFile_;
};

TEST_F(UserspacePlaneKernelTest, PortIsATapOnBr0AndFollowsARebuiltSandbox) {
  ASSERT_OK(k_->setLinkUp(kHostNetns, "lo", true));
  ASSERT_NO_FATAL_FAILURE(sandbox());
  auto p = driver::UserspacePlane::start(*k_, planeConfig(47913));
  ASSERT_OK(p);
  plane_ = std::move(*p);
  const driver::EncryptedNetwork net{"subnet:10.77.0.0/24", 100, ns_, 1418};
  ASSERT_OK(plane_->attach(net));
  ASSERT_NO_FATAL_FAILURE(expectPort());
  ASSERT_OK(plane_->attach(net));  // again (a repair): a no-op
  ASSERT_NO_FATAL_FAILURE(expectPort());

  // The sandbox is rebuilt in a new namespace of the same name: the port
  // comes back with the next attach.
  ASSERT_OK(k_->deleteNetns(ns_));
  ASSERT_NO_FATAL_FAILURE(sandbox());
  EXPECT_FALSE(k_->getLink(ns_, driver::kEncryptedTapName).ok());
  ASSERT_OK(plane_->attach(net));
  ASSERT_NO_FATAL_FAILURE(expectPort());
  auto st = plane_->status();
  ASSERT_EQ(st["networks"].size(), 1u);
  EXPECT_EQ(st["networks"][0]["vni"], 100);

  plane_->detach(net.identity);
  EXPECT_EQ(plane_->status()["networks"].size(), 0u);
  // The TAP is persistent: it stays until its namespace goes.
  EXPECT_TRUE(k_->getLink(ns_, driver::kEncryptedTapName).ok());
}

// remoteMacs and active peers of the plane's only network.
std::pair<int, int> carried(driver::UserspacePlane& p) {
  auto st = p.status();
  if (st["networks"].size() != 1) return {-1, -1};
  int active = 0;
  for (const auto& peer : st["networks"][0]["peers"]) active += peer["active"].get<bool>() ? 1 : 0;
  return {st["networks"][0]["remoteMacs"].get<int>(), active};
}

TEST_F(UserspacePlaneKernelTest, RestartForwardsWithTheLastRunsEntriesUntilTheClusterResyncs) {
  ASSERT_OK(k_->setLinkUp(kHostNetns, "lo", true));
  ASSERT_NO_FATAL_FAILURE(sandbox());
  const auto c = planeConfig(47914);
  const driver::EncryptedNetwork net{"subnet:10.78.0.0/24", 101, ns_, 1418};
  driver::PeerEntries e;
  e.neigh["10.78.0.70"] = "02:42:0a:4e:00:46";
  e.fdb["02:42:0a:4e:00:46"] = "127.0.0.2";
  e.flood = {"127.0.0.2"};
  {
    auto p = driver::UserspacePlane::start(*k_, c);
    ASSERT_OK(p);
    ASSERT_OK((*p)->attach(net));
    (*p)->setPeers(net.identity, e);
    EXPECT_EQ(carried(**p), std::make_pair(1, 1));
    (*p)->tick();  // writes the table
  }
  // The restart: the TAP is still on br0, the entries come from the file
  // before anything from the cluster.
  auto p = driver::UserspacePlane::start(*k_, c);
  ASSERT_OK(p);
  plane_ = std::move(*p);
  ASSERT_OK(plane_->attach(net));
  ASSERT_NO_FATAL_FAILURE(expectPort());
  EXPECT_EQ(carried(*plane_), std::make_pair(1, 1)) << plane_->status().dump();
  // The cluster has not told anything yet (an empty view): the kept entries stay.
  plane_->setPeers(net.identity, driver::PeerEntries{});
  EXPECT_EQ(carried(*plane_), std::make_pair(1, 1));
  // The cluster moved the MAC to another host: its entry wins.
  driver::PeerEntries moved;
  moved.fdb["02:42:0a:4e:00:46"] = "127.0.0.3";
  moved.flood = {"127.0.0.3"};
  plane_->setPeers(net.identity, moved);
  EXPECT_EQ(carried(*plane_), std::make_pair(1, 2));
  // Resynced: only the cluster's entries remain, in the file too.
  plane_->pruneRestored();
  EXPECT_EQ(carried(*plane_), std::make_pair(1, 1));
  plane_->tick();
  plane_.reset();
  p = driver::UserspacePlane::start(*k_, c);
  ASSERT_OK(p);
  plane_ = std::move(*p);
  ASSERT_OK(plane_->attach(net));
  auto st = plane_->status();
  ASSERT_EQ(st["networks"][0]["peers"].size(), 1u) << st.dump();
  EXPECT_EQ(st["networks"][0]["peers"][0]["host"], "127.0.0.3");
}

TEST_F(UserspacePlaneKernelTest, AnUnreadablePeersFileIsIgnored) {
  ASSERT_OK(k_->setLinkUp(kHostNetns, "lo", true));
  ASSERT_NO_FATAL_FAILURE(sandbox());
  ASSERT_OK(writeFileAtomic(peersFile_, "{\"version\": 1, \"networks\": {\"x\": {\"fdb\": 7}}}"));
  auto p = driver::UserspacePlane::start(*k_, planeConfig(47915));
  ASSERT_OK(p);
  plane_ = std::move(*p);
  ASSERT_OK(plane_->attach(driver::EncryptedNetwork{"x", 102, ns_, 1418}));
  EXPECT_EQ(carried(*plane_), std::make_pair(0, 0));
}

}  // namespace
}  // namespace weft::kernel::testing
