// The driver's side of the control plane: publishing local endpoints and
// programming remote ones into the sandbox (neighbour, FDB, flood entries).

#include <gtest/gtest.h>

#include <memory>

#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "tests/support/kernel_values.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/driver_test_fixture.h"

using namespace weft;
using namespace weft::driver;

namespace {

using namespace weft::testvalues;
using test::RecordingCluster;

const std::string kNid(64, 'a');
const std::string kIdentity = "subnet:10.10.0.0/24";

EndpointRecord remote(char c, const std::string& ip, const std::string& vtep) {
  return {kIdentity, std::string(64, c), ip + "/24", "", "02:42:0a:0a:00:" + std::string(2, c), vtep};
}

class PeerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    DriverConfig cfg;
    cfg.stateDir = dir_.path();
    cfg.advertiseAddr = "198.18.0.1";
    driver_ = std::make_unique<Driver>(cfg, *kernel_);
    ASSERT_TRUE(driver_->start().ok());
    driver_->setCluster(&cluster_);
  }
  void createNetwork() {
    CreateNetworkRequest r;
    r.networkId = kNid;
    r.ipv4.push_back({"", "10.10.0.0/24", "10.10.0.1/24", {}});
    ASSERT_TRUE(driver_->createNetwork(r).ok());
  }
  std::string ns() const { return driver_->networks().at(0).netns; }
  std::string vx() const { return driver_->networks().at(0).vxlanName; }
  std::vector<kernel::FdbEntry> fdb() { return *kernel_->listFdb(ns(), vx()); }
  std::vector<kernel::NeighEntry> neigh() { return *kernel_->listNeigh(ns(), vx()); }
  size_t floods(const std::string& vtep) {
    size_t n = 0;
    for (const auto& e : fdb()) n += e.mac.isZero() && e.dst == ip(vtep);
    return n;
  }

  test::TempDir dir_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
  RecordingCluster cluster_;
};

}  // namespace

TEST_F(PeerTest, JoinPublishesAndLeaveWithdraws) {
  createNetwork();
  const std::string eid(64, 'e');
  ASSERT_TRUE(driver_->createEndpoint({kNid, eid, {"10.10.0.2/24", "", ""}}).ok());
  EXPECT_TRUE(cluster_.published.empty());  // only joined endpoints are reachable
  ASSERT_TRUE(driver_->join(kNid, eid, "").ok());
  ASSERT_EQ(cluster_.published.size(), 1u);
  EXPECT_EQ(cluster_.published[0],
            (EndpointRecord{kIdentity, eid, "10.10.0.2/24", "", "02:42:0a:0a:00:02", "198.18.0.1"}));
  ASSERT_TRUE(driver_->leave(kNid, eid).ok());
  ASSERT_EQ(cluster_.withdrawn.size(), 1u);
  EXPECT_EQ(cluster_.withdrawn[0], std::make_pair(kIdentity, eid));
}

// A container that dies without Leave (its daemon crashed; Docker never
// replays Leave on swarm networks): its veth vanishes with its namespace. The
// sweep withdraws it, so other hosts stop sending its address here; a Join
// of the same endpoint plugs a new veth.
TEST_F(PeerTest, AnEndpointWhoseVethVanishedIsWithdrawn) {
  createNetwork();
  const std::string a(64, 'e'), b(64, 'f');
  ASSERT_TRUE(driver_->createEndpoint({kNid, a, {"10.10.0.2/24", "", ""}}).ok());
  ASSERT_TRUE(driver_->createEndpoint({kNid, b, {"10.10.0.3/24", "", ""}}).ok());
  ASSERT_TRUE(driver_->join(kNid, a, "").ok());
  ASSERT_TRUE(driver_->join(kNid, b, "").ok());
  EXPECT_EQ(driver_->sweepVanished(), 0u);
  const auto veth = driver_->endpointInfo(kNid, a)->sandboxVeth;
  ASSERT_TRUE(kernel_->deleteLink(ns(), veth).ok());  // the container's netns is gone
  EXPECT_EQ(driver_->sweepVanished(), 1u);
  ASSERT_EQ(cluster_.withdrawn.size(), 1u);
  EXPECT_EQ(cluster_.withdrawn[0], std::make_pair(kIdentity, a));
  EXPECT_FALSE(driver_->endpointInfo(kNid, a)->joined);
  EXPECT_TRUE(driver_->endpointInfo(kNid, b)->joined);
  EXPECT_EQ(driver_->sweepVanished(), 0u);
  EXPECT_EQ(cluster_.withdrawn.size(), 1u);
  // Joining again before the sweep saw it: a new veth, published again.
  ASSERT_TRUE(kernel_->deleteLink(ns(), driver_->endpointInfo(kNid, b)->sandboxVeth).ok());
  ASSERT_TRUE(driver_->join(kNid, b, "").ok());
  EXPECT_TRUE(kernel_->getLink(ns(), driver_->endpointInfo(kNid, b)->sandboxVeth).ok());
  EXPECT_EQ(driver_->sweepVanished(), 0u);
}

TEST_F(PeerTest, RemoteEndpointsAreProgrammedAndRemoved) {
  createNetwork();
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('d', "10.10.0.30", "198.18.0.3"), RecordState::kActive);
  auto n = neigh();
  EXPECT_EQ(n.size(), 3u);
  EXPECT_NE(std::find(n.begin(), n.end(), neighEntry(vx(), "10.10.0.20", "02:42:0a:0a:00:bb")), n.end());
  auto f = fdb();
  EXPECT_NE(std::find(f.begin(), f.end(), fdbEntry(vx(), "02:42:0a:0a:00:cc", "198.18.0.2")), f.end());
  EXPECT_EQ(floods("198.18.0.2"), 1u);  // one flood entry per remote VTEP
  EXPECT_EQ(floods("198.18.0.3"), 1u);
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kWithdrawn);
  EXPECT_EQ(floods("198.18.0.2"), 1u);  // 'c' still lives there
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.2"), RecordState::kWithdrawn);
  EXPECT_EQ(floods("198.18.0.2"), 0u);
  EXPECT_EQ(neigh().size(), 1u);
  EXPECT_EQ(driver_->remoteEndpoints().size(), 1u);
}

TEST_F(PeerTest, OwnRecordsAreIgnoredAndRepeatsAreHarmless) {
  createNetwork();
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.1"), RecordState::kActive);  // our own VTEP
  EXPECT_TRUE(fdb().empty());
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.2"), RecordState::kActive);
  EXPECT_EQ(fdb().size(), 2u);  // MAC + flood
}

TEST_F(PeerTest, AMovedEndpointIsReprogrammed) {
  createNetwork();
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.3"), RecordState::kActive);
  auto f = fdb();
  EXPECT_NE(std::find(f.begin(), f.end(), fdbEntry(vx(), "02:42:0a:0a:00:bb", "198.18.0.3")), f.end());
  EXPECT_EQ(std::find(f.begin(), f.end(), fdbEntry(vx(), "02:42:0a:0a:00:bb", "198.18.0.2")), f.end());
  EXPECT_EQ(floods("198.18.0.2"), 0u);
  EXPECT_EQ(floods("198.18.0.3"), 1u);
}

TEST_F(PeerTest, RecordsLearntBeforeTheNetworkAreProgrammedWhenItIsCreated) {
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  createNetwork();
  EXPECT_EQ(neigh().size(), 1u);
  EXPECT_EQ(floods("198.18.0.2"), 1u);
}

TEST_F(PeerTest, PruneRemovesWhatNoRecordAccountsFor) {
  createNetwork();
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  // Entries left from before a restart, for an endpoint that went away meanwhile.
  ASSERT_TRUE(kernel_->addNeigh(ns(), neighEntry(vx(), "10.10.0.99", "02:42:0a:0a:00:63")).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "02:42:0a:0a:00:63", "198.18.0.9"), kernel::FdbAdd::kCreate).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "00:00:00:00:00:00", "198.18.0.9"), kernel::FdbAdd::kAppend).ok());
  EXPECT_EQ(driver_->prunePeers(), 3u);
  EXPECT_EQ(neigh().size(), 1u);
  EXPECT_EQ(fdb().size(), 2u);
  EXPECT_EQ(driver_->prunePeers(), 0u);
}

TEST_F(PeerTest, AttachingTheClusterPublishesJoinedEndpoints) {
  createNetwork();
  const std::string eid(64, 'e');
  ASSERT_TRUE(driver_->createEndpoint({kNid, eid, {"10.10.0.2/24", "", ""}}).ok());
  ASSERT_TRUE(driver_->join(kNid, eid, "").ok());
  RecordingCluster fresh;  // e.g. a restarted sidecar
  driver_->setCluster(&fresh);
  ASSERT_EQ(fresh.published.size(), 1u);
  EXPECT_EQ(fresh.published[0].endpoint, eid);
}

TEST_F(PeerTest, DiscoveredNodesBecomeSeeds) {
  ASSERT_TRUE(driver_->discover("198.18.0.7", Driver::DiscoveredNode::kOther, Driver::Discovery::kNew).ok());
  EXPECT_EQ(cluster_.seeds, std::vector<std::string>{"198.18.0.7"});
  RecordingCluster fresh;
  driver_->setCluster(&fresh);
  EXPECT_EQ(fresh.seeds, std::vector<std::string>{"198.18.0.7"});
}

TEST_F(PeerTest, AResyncForgetsRemoteEndpointsNotReportedAgain) {
  createNetwork();
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.3"), RecordState::kActive);
  driver_->beginResync();  // a new sidecar: only 'b' is reported again
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  driver_->prunePeers();
  auto rem = driver_->remoteEndpoints();
  ASSERT_EQ(rem.size(), 1u);
  EXPECT_EQ(rem[0].endpoint, std::string(64, 'b'));
  EXPECT_EQ(floods("198.18.0.3"), 0u);
  EXPECT_EQ(neigh().size(), 1u);
}

// Entries left in the sandbox from before (a restart while the endpoint moved
// or its address went to another container) are overwritten, not refused.
TEST_F(PeerTest, LeftoverEntriesForTheSameIpOrMacAreReplaced) {
  createNetwork();
  ASSERT_TRUE(kernel_->addNeigh(ns(), neighEntry(vx(), "10.10.0.20", "02:42:0a:0a:00:63")).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "02:42:0a:0a:00:bb", "198.18.0.9"), kernel::FdbAdd::kCreate).ok());
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  EXPECT_EQ(neigh(), (std::vector<kernel::NeighEntry>{neighEntry(vx(), "10.10.0.20", "02:42:0a:0a:00:bb")}));
  auto f = fdb();
  EXPECT_NE(std::find(f.begin(), f.end(), fdbEntry(vx(), "02:42:0a:0a:00:bb", "198.18.0.2")), f.end());
  EXPECT_EQ(std::find(f.begin(), f.end(), fdbEntry(vx(), "02:42:0a:0a:00:bb", "198.18.0.9")), f.end());
}

TEST_F(PeerTest, DataPlanePeersAreTheHostsWithEndpointsOnNetworksThisHostCarries) {
  // Records of a network this host does not (yet) have: nobody to probe.
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  EXPECT_TRUE(driver_->dataPlanePeers().empty());
  createNetwork();
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('d', "10.10.0.30", "198.18.0.3"), RecordState::kActive);
  // Per host, not per endpoint, at the network's MTU.
  EXPECT_EQ(driver_->dataPlanePeers(),
            (std::map<std::string, uint32_t>{{"198.18.0.2", 1450}, {"198.18.0.3", 1450}}));
  driver_->applyRemote(remote('d', "10.10.0.30", "198.18.0.3"), RecordState::kWithdrawn);
  EXPECT_EQ(driver_->dataPlanePeers(), (std::map<std::string, uint32_t>{{"198.18.0.2", 1450}}));
}

// weft_convergence_lag_seconds: one observation per record change that
// changed the table (and so was programmed), none for a repeat.
TEST_F(PeerTest, ConvergenceLagIsObservedForEachRecordChangeProgrammed) {
  createNetwork();
  EXPECT_EQ(driver_->convergenceLag().count, 0u);
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);  // a repeat
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.3"), RecordState::kActive);
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kWithdrawn);
  const Histogram lag = driver_->convergenceLag();
  EXPECT_EQ(lag.count, 3u);
  uint64_t inBuckets = 0;
  for (auto c : lag.counts) inBuckets += c;
  EXPECT_EQ(inBuckets, 3u);
  EXPECT_GT(lag.sum, 0);
  EXPECT_LT(lag.sum, 3 * 10.0);  // the fake kernel answers at once
  EXPECT_EQ(driver_->remoteVtepsByNetwork(),
            (std::map<std::string, std::set<std::string>>{{kIdentity, {"198.18.0.3"}}}));
}
