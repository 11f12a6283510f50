// Run-time self-healing (Driver::selfHeal) over FakeKernel: drift made behind
// weft's back is put back when the sandbox's namespace reports it, counted by
// table and action; entries weft has not programmed yet are left to sync.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <thread>

#include "driver/driver.h"
#include "driver/names.h"
#include "kernel/fake_kernel.h"
#include "tests/support/kernel_values.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;
using namespace weft::testvalues;

namespace {

const std::string kNid(64, 'a');
const std::string kIdentity = "subnet:10.10.0.0/24";

EndpointRecord remote(char c, const std::string& ip, const std::string& vtep) {
  return {kIdentity, std::string(64, c), ip + "/24", "", "02:42:0a:0a:00:" + std::string(2, c), vtep};
}

class SelfHealTest : public ::testing::Test {
 protected:
  void SetUp() override { start(std::chrono::hours(1)); }  // only notifications make it look
  void start(std::chrono::milliseconds interval) {
    driver_.reset();  // before the kernel it uses
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    DriverConfig cfg;
    cfg.stateDir = dir_.path();
    cfg.advertiseAddr = "198.18.0.1";
    cfg.reconcileInterval = interval;
    driver_ = std::make_unique<Driver>(cfg, *kernel_);
    ASSERT_TRUE(driver_->start().ok());
    CreateNetworkRequest r;
    r.networkId = kNid;
    r.ipv4.push_back({"", "10.10.0.0/24", "10.10.0.1/24", {}});
    ASSERT_TRUE(driver_->createNetwork(r).ok());
    driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
    driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.3"), RecordState::kActive);
    if (synced) driver_->prunePeers();  // the control plane's first full sync
  }
  bool synced = true;
  std::string ns() const { return driver_->networks().at(0).netns; }
  std::string vx() const { return driver_->networks().at(0).vxlanName; }
  std::vector<kernel::FdbEntry> fdb() { return *kernel_->listFdb(ns(), vx()); }
  std::vector<kernel::NeighEntry> neigh() { return *kernel_->listNeigh(ns(), vx()); }
  template <class T>
  static bool has(const std::vector<T>& v, const T& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  }
  uint64_t count(const std::string& table, const std::string& action) {
    auto c = driver_->corrections();
    auto it = c.find({table, action});
    return it == c.end() ? 0 : it->second;
  }

  test::TempDir dir_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
};

}  // namespace

TEST_F(SelfHealTest, AConsistentSandboxNeedsNothing) {
  EXPECT_EQ(driver_->selfHeal(), 0u);  // first look (and the watch opens)
  EXPECT_EQ(driver_->selfHeal(), 0u);
  EXPECT_TRUE(driver_->corrections().empty());
}

TEST_F(SelfHealTest, DeletedEntriesAndADownVtepAreBackAfterTheNotification) {
  ASSERT_EQ(driver_->selfHeal(), 0u);
  const auto nb = neighEntry(vx(), "10.10.0.20", "02:42:0a:0a:00:bb");
  const auto nc = neighEntry(vx(), "10.10.0.21", "02:42:0a:0a:00:cc");
  const auto fb = fdbEntry(vx(), "02:42:0a:0a:00:bb", "198.18.0.2");
  const auto flood = fdbEntry(vx(), "00:00:00:00:00:00", "198.18.0.3");
  ASSERT_TRUE(kernel_->delFdb(ns(), fb).ok());
  ASSERT_TRUE(kernel_->delFdb(ns(), flood).ok());
  ASSERT_TRUE(kernel_->delNeigh(ns(), nb).ok());
  ASSERT_TRUE(kernel_->setLinkUp(ns(), vx(), false).ok());  // also flushes its neighbours (nc)
  ASSERT_FALSE(has(neigh(), nc));
  // 1 link up, 1 fdb, 1 flood, 2 neighbours.
  EXPECT_EQ(driver_->selfHeal(), 5u);
  EXPECT_TRUE(kernel_->getLink(ns(), vx())->up);
  EXPECT_TRUE(has(fdb(), fb));
  EXPECT_TRUE(has(fdb(), flood));
  EXPECT_TRUE(has(neigh(), nb));
  EXPECT_TRUE(has(neigh(), nc));
  EXPECT_EQ(count("link", "up"), 1u);
  EXPECT_EQ(count("fdb", "added"), 1u);
  EXPECT_EQ(count("flood", "added"), 1u);
  EXPECT_EQ(count("neigh", "added"), 2u);
  // Its own repairs woke the watch once more: that look finds nothing.
  EXPECT_EQ(driver_->selfHeal(), 0u);
  EXPECT_EQ(driver_->selfHeal(), 0u);
}

TEST_F(SelfHealTest, EntriesNobodyWantsYetStayUntilTheControlPlaneHasSynced) {
  // A restarted plugin holds no records until the sidecar's sync: the
  // kernel's entries from before the restart carry running containers'
  // traffic and must not be removed as unwanted meanwhile.
  synced = false;
  start(std::chrono::hours(1));
  ASSERT_TRUE(kernel_->addNeigh(ns(), neighEntry(vx(), "10.10.0.99", "02:42:0a:0a:00:63")).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "02:42:0a:0a:00:63", "198.18.0.9"), kernel::FdbAdd::kCreate).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "00:00:00:00:00:00", "198.18.0.9"), kernel::FdbAdd::kAppend).ok());
  driver_->selfHeal();
  EXPECT_TRUE(has(neigh(), neighEntry(vx(), "10.10.0.99", "02:42:0a:0a:00:63")));
  EXPECT_TRUE(has(fdb(), fdbEntry(vx(), "02:42:0a:0a:00:63", "198.18.0.9")));
  EXPECT_TRUE(has(fdb(), fdbEntry(vx(), "00:00:00:00:00:00", "198.18.0.9")));
  EXPECT_EQ(count("neigh", "removed") + count("fdb", "removed") + count("flood", "removed"), 0u);
  // After the sync, the prune removes them, and self-healing removes such
  // entries from then on.
  driver_->prunePeers();
  EXPECT_FALSE(has(neigh(), neighEntry(vx(), "10.10.0.99", "02:42:0a:0a:00:63")));
  ASSERT_TRUE(kernel_->addNeigh(ns(), neighEntry(vx(), "10.10.0.98", "02:42:0a:0a:00:62")).ok());
  driver_->selfHeal();
  EXPECT_FALSE(has(neigh(), neighEntry(vx(), "10.10.0.98", "02:42:0a:0a:00:62")));
  EXPECT_EQ(count("neigh", "removed"), 1u);
}

TEST_F(SelfHealTest, AWrongMacIsCorrectedAndEntriesNobodyWantsAreRemoved) {
  ASSERT_EQ(driver_->selfHeal(), 0u);
  ASSERT_TRUE(kernel_->replaceNeigh(ns(), neighEntry(vx(), "10.10.0.20", "02:00:00:00:00:01")).ok());
  ASSERT_TRUE(kernel_->replaceFdb(ns(), fdbEntry(vx(), "02:42:0a:0a:00:cc", "198.18.0.9")).ok());
  ASSERT_TRUE(kernel_->addNeigh(ns(), neighEntry(vx(), "10.10.0.99", "02:42:0a:0a:00:63")).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "02:42:0a:0a:00:63", "198.18.0.9"), kernel::FdbAdd::kCreate).ok());
  ASSERT_TRUE(
      kernel_->addFdb(ns(), fdbEntry(vx(), "00:00:00:00:00:00", "198.18.0.9"), kernel::FdbAdd::kAppend).ok());
  EXPECT_EQ(driver_->selfHeal(), 5u);
  EXPECT_TRUE(has(neigh(), neighEntry(vx(), "10.10.0.20", "02:42:0a:0a:00:bb")));
  EXPECT_TRUE(has(fdb(), fdbEntry(vx(), "02:42:0a:0a:00:cc", "198.18.0.3")));
  EXPECT_FALSE(has(fdb(), fdbEntry(vx(), "02:42:0a:0a:00:cc", "198.18.0.9")));
  EXPECT_EQ(neigh().size(), 2u);
  EXPECT_EQ(fdb().size(), 4u);  // two MACs, two flood entries
  EXPECT_EQ(count("neigh", "replaced"), 1u);
  EXPECT_EQ(count("fdb", "replaced"), 1u);
  EXPECT_EQ(count("neigh", "removed"), 1u);
  EXPECT_EQ(count("fdb", "removed"), 1u);
  EXPECT_EQ(count("flood", "removed"), 1u);
}

// Group MACs (01:00:5e, 33:33) on the VTEP are multicast pruning's
// (driver/mcast_pruner.h), which keeps them right itself: neither a look
// nor a resync's prune takes them for entries nobody wants.
TEST_F(SelfHealTest, MulticastGroupEntriesAreLeftToThePruner) {
  ASSERT_EQ(driver_->selfHeal(), 0u);
  const auto v4 = fdbEntry(vx(), "01:00:5e:01:02:03", "198.18.0.2");
  const auto v4b = fdbEntry(vx(), "01:00:5e:01:02:03", "198.18.0.3");
  const auto v6 = fdbEntry(vx(), "33:33:00:01:00:03", "0.0.0.0");
  for (const auto& e : {v4, v4b, v6}) ASSERT_TRUE(kernel_->addFdb(ns(), e, kernel::FdbAdd::kAppend).ok());
  EXPECT_EQ(driver_->selfHeal(), 0u);
  driver_->beginResync();
  driver_->applyRemote(remote('b', "10.10.0.20", "198.18.0.2"), RecordState::kActive);
  driver_->applyRemote(remote('c', "10.10.0.21", "198.18.0.3"), RecordState::kActive);
  EXPECT_EQ(driver_->prunePeers(), 0u);
  for (const auto& e : {v4, v4b, v6}) EXPECT_TRUE(has(fdb(), e)) << e.mac.str() << " -> " << e.dst->str();
}

TEST_F(SelfHealTest, SandboxLinksAndAddressesAreRepaired) {
  const std::string eid(64, 'e');
  ASSERT_TRUE(driver_->createEndpoint({kNid, eid, {"10.10.0.2/24", "", ""}}).ok());
  ASSERT_TRUE(driver_->join(kNid, eid, "").ok());
  const std::string veth = driver_->endpointInfo(kNid, eid)->sandboxVeth;
  ASSERT_EQ(driver_->selfHeal(), 0u);
  ASSERT_TRUE(kernel_->setMtu(ns(), kBridgeName, 1300).ok());
  ASSERT_TRUE(kernel_->delAddress(ns(), kBridgeName, "10.10.0.1/24").ok());
  ASSERT_TRUE(kernel_->addAddress(ns(), kBridgeName, "10.99.0.1/24").ok());
  ASSERT_TRUE(kernel_->setMaster(ns(), veth, "").ok());
  EXPECT_EQ(driver_->selfHeal(), 4u);
  EXPECT_EQ(kernel_->getLink(ns(), kBridgeName)->mtu, driver_->networks().at(0).mtu);
  EXPECT_EQ(*kernel_->listAddresses(ns(), kBridgeName), std::vector<std::string>{"10.10.0.1/24"});
  EXPECT_EQ(kernel_->getLink(ns(), veth)->master, kBridgeName);
  EXPECT_EQ(count("link", "mtu"), 1u);
  EXPECT_EQ(count("addr", "added"), 1u);
  EXPECT_EQ(count("addr", "removed"), 1u);
  EXPECT_EQ(count("link", "replaced"), 1u);
}

// An entry the peer table has not programmed yet (its programming failed and
// waits for a retry) is sync's to make: heal neither adds it (nor counts it)
// nor removes anything of it.
TEST_F(SelfHealTest, EntriesNotProgrammedYetAreLeftToSync) {
  ASSERT_EQ(driver_->selfHeal(), 0u);
  kernel_->failNext("replaceNeigh", EIO);
  driver_->applyRemote(remote('d', "10.10.0.22", "198.18.0.2"), RecordState::kActive);
  const auto nd = neighEntry(vx(), "10.10.0.22", "02:42:0a:0a:00:dd");
  ASSERT_FALSE(has(neigh(), nd));
  EXPECT_EQ(driver_->selfHeal(), 0u);
  EXPECT_FALSE(has(neigh(), nd));
  EXPECT_TRUE(driver_->corrections().empty());
  // A withdrawn record's entries are sync's to remove too.
  ASSERT_TRUE(has(fdb(), fdbEntry(vx(), "02:42:0a:0a:00:dd", "198.18.0.2")));
  for (int i = 0; i < 50 && !has(neigh(), nd); ++i) {  // the retry's backoff: 100 ms
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    driver_->syncPeers();
  }
  EXPECT_TRUE(has(neigh(), nd));
  EXPECT_EQ(driver_->selfHeal(), 0u);
}

TEST_F(SelfHealTest, AnIntervalOfZeroTurnsItOff) {
  start(std::chrono::milliseconds(0));
  ASSERT_TRUE(kernel_->setLinkUp(ns(), vx(), false).ok());
  EXPECT_EQ(driver_->selfHeal(), 0u);
  EXPECT_FALSE(kernel_->getLink(ns(), vx())->up);
}

TEST_F(SelfHealTest, EveryIntervalEveryNetworkIsLookedAt) {
  start(std::chrono::milliseconds(300));
  ASSERT_EQ(driver_->selfHeal(), 0u);
  // A notification that never came (lost): the periodic look still finds
  // the drift, and not before.
  kernel_->muteWatches(true);
  ASSERT_TRUE(kernel_->setLinkUp(ns(), vx(), false).ok());
  kernel_->muteWatches(false);
  EXPECT_EQ(driver_->selfHeal(), 0u);
  EXPECT_FALSE(kernel_->getLink(ns(), vx())->up);
  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  EXPECT_GE(driver_->selfHeal(), 1u);
  EXPECT_TRUE(kernel_->getLink(ns(), vx())->up);
}
