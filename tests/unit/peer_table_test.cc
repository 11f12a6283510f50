// The peer table's rules (pure) and its programming against the fake kernel:
// what a sandbox must hold for its remote endpoints, in any order of
// arrival, and failed programming kept and retried until it holds.

#include "driver/peer_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "kernel/fake_kernel.h"
#include "tests/support/kernel_values.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;
using namespace std::chrono_literals;

namespace {

using namespace weft::testvalues;

// The sandbox's VTEP, defaults but for name and VNI.
kernel::VxlanSpec vxlanSpec() {
  kernel::VxlanSpec spec;
  spec.name = "wx-000001";
  spec.vni = 1;
  return spec;
}

const std::string kNet = "subnet:10.10.0.0/24";
const char* kZero = "00:00:00:00:00:00";

EndpointRecord rec(const std::string& id, const std::string& ip, const std::string& mac,
                   const std::string& vtep, const std::string& ip6 = "") {
  return {kNet, id, ip.empty() ? "" : ip + "/24", ip6.empty() ? "" : ip6 + "/64", mac, vtep};
}

std::map<std::string, EndpointRecord> byId(std::initializer_list<EndpointRecord> rs) {
  std::map<std::string, EndpointRecord> m;
  for (const auto& r : rs) m[r.endpoint] = r;
  return m;
}

}  // namespace

// ---------------------------------------------------------------- rules

TEST(PeerRules, EveryAddressMapsToTheMacTheMacToTheVtepOneFloodEntryPerVtep) {
  auto want = desiredEntries(byId({rec("e1", "10.10.0.2", "02:42:0a:0a:00:02", "198.18.0.2", "fd00::2"),
                                   rec("e2", "10.10.0.3", "02:42:0a:0a:00:03", "198.18.0.2"),
                                   rec("e3", "10.10.0.4", "02:42:0a:0a:00:04", "198.18.0.3")}));
  EXPECT_EQ(want.neigh, (std::map<std::string, std::string>{{"10.10.0.2", "02:42:0a:0a:00:02"},
                                                            {"fd00::2", "02:42:0a:0a:00:02"},
                                                            {"10.10.0.3", "02:42:0a:0a:00:03"},
                                                            {"10.10.0.4", "02:42:0a:0a:00:04"}}));
  EXPECT_EQ(want.fdb, (std::map<std::string, std::string>{{"02:42:0a:0a:00:02", "198.18.0.2"},
                                                          {"02:42:0a:0a:00:03", "198.18.0.2"},
                                                          {"02:42:0a:0a:00:04", "198.18.0.3"}}));
  EXPECT_EQ(want.flood, (std::set<std::string>{"198.18.0.2", "198.18.0.3"}));
  EXPECT_EQ(desiredEntries({}), PeerEntries{});
}

TEST(PeerRules, TwoRecordsClaimingOneAddressTheGreaterEndpointIdWins) {
  auto a = rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2");
  auto b = rec("e2", "10.10.0.2", "02:00:00:00:00:02", "198.18.0.3");
  auto want = desiredEntries(byId({b, a}));
  EXPECT_EQ(want.neigh.at("10.10.0.2"), "02:00:00:00:00:02");
  EXPECT_EQ(want, desiredEntries(byId({a, b})));
}

TEST(PeerRules, DiffRemovesWhatGoesAndAddsWhatIsNewOrChanged) {
  PeerEntries have{{{"10.10.0.2", "02:00:00:00:00:01"}, {"10.10.0.9", "02:00:00:00:00:09"}},
                   {{"02:00:00:00:00:01", "198.18.0.2"}, {"02:00:00:00:00:09", "198.18.0.9"}},
                   {"198.18.0.2", "198.18.0.9"}};
  PeerEntries want{{{"10.10.0.2", "02:00:00:00:00:02"}},
                   {{"02:00:00:00:00:02", "198.18.0.2"}, {"02:00:00:00:00:01", "198.18.0.3"}},
                   {"198.18.0.2", "198.18.0.3"}};
  auto ops = diffEntries(have, want);
  using P = std::vector<std::pair<std::string, std::string>>;
  // A changed key is one add (the kernel replaces the entry in place), not a
  // removal and an add.
  EXPECT_EQ(ops.delNeigh, (P{{"10.10.0.9", "02:00:00:00:00:09"}}));
  EXPECT_EQ(ops.addNeigh, (P{{"10.10.0.2", "02:00:00:00:00:02"}}));
  EXPECT_EQ(ops.delFdb, (P{{"02:00:00:00:00:09", "198.18.0.9"}}));
  EXPECT_EQ(ops.addFdb, (P{{"02:00:00:00:00:01", "198.18.0.3"}, {"02:00:00:00:00:02", "198.18.0.2"}}));
  EXPECT_EQ(ops.delFlood, (std::vector<std::string>{"198.18.0.9"}));
  EXPECT_EQ(ops.addFlood, (std::vector<std::string>{"198.18.0.3"}));
  EXPECT_EQ(diffEntries(want, want).size(), 0u);
}

// ---------------------------------------------------------------- the table on a (fake) kernel

class PeerTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    ASSERT_TRUE(kernel_->createNetns("sb").ok());
    ASSERT_TRUE(kernel_->createVxlan(vxlanSpec(), "sb").ok());
  }
  std::unique_ptr<PeerTable> table(std::chrono::milliseconds firstRetry = 0ms) {
    return std::make_unique<PeerTable>(*kernel_, "198.18.0.1", PeerTable::Options{firstRetry, 30000ms});
  }
  // What the sandbox holds, in the rules' terms.
  PeerEntries kernelEntries() {
    PeerEntries e;
    auto neigh = kernel_->listNeigh("sb", "wx-000001");
    auto fdb = kernel_->listFdb("sb", "wx-000001");
    EXPECT_TRUE(neigh.ok() && fdb.ok());
    if (!neigh.ok() || !fdb.ok()) return e;
    for (const auto& n : *neigh) e.neigh[n.ip.str()] = n.mac.str();
    for (const auto& f : *fdb) {
      if (f.mac.str() == kZero)
        e.flood.insert(f.dst->str());
      else
        e.fdb[f.mac.str()] = f.dst->str();
    }
    return e;
  }
  static constexpr PeerSandbox kAt{"sb", "wx-000001"};

  test::TempDir dir_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
};

TEST_F(PeerTableTest, RecordsAreProgrammedOnlyBySyncAndOnlyIntoAnAttachedSandbox) {
  auto t = table();
  EXPECT_TRUE(t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive));
  EXPECT_EQ(t->sync().applied, 0u);  // no sandbox yet
  t->attach(kNet, kAt);
  EXPECT_EQ(kernelEntries(), PeerEntries{});  // attach alone touches nothing
  auto r = t->sync();
  EXPECT_EQ(r.applied, 3u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(kernelEntries(),
            desiredEntries(byId({rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2")})));
  EXPECT_EQ(t->sync().applied, 0u);  // nothing left to do
  // Own records (this host's VTEP) and repeats change nothing.
  EXPECT_FALSE(t->apply(rec("me", "10.10.0.9", "02:00:00:00:00:09", "198.18.0.1"), RecordState::kActive));
  EXPECT_FALSE(t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive));
  // Detached: records still change, the kernel does not.
  t->detach(kNet);
  EXPECT_TRUE(t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kWithdrawn));
  EXPECT_EQ(t->sync().applied, 0u);
  EXPECT_EQ(kernelEntries().neigh.size(), 1u);
}

// An IPv6 underlay: the sandbox's VTEP has an IPv6 local address, the FDB
// points at IPv6 VTEPs; a record from an IPv4 VTEP is refused (weft does not
// mix underlay families) and leaves the kernel alone.
TEST_F(PeerTableTest, Ipv6UnderlayProgramsIpv6VtepsAndRefusesIpv4Ones) {
  kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");  // a fresh one
  ASSERT_TRUE(kernel_->createNetns("sb").ok());
  auto spec = vxlanSpec();
  spec.local = "fd18::1";
  ASSERT_TRUE(kernel_->createVxlan(spec, "sb").ok());
  PeerTable t(*kernel_, "fd18::1", PeerTable::Options{0ms, 30000ms});
  t.attach(kNet, kAt);
  auto v6 = rec("e1", "10.10.0.2", "02:00:00:00:00:01", "fd18::2", "fd00::2");
  EXPECT_TRUE(t.apply(v6, RecordState::kActive));
  EXPECT_FALSE(t.apply(rec("e2", "10.10.0.3", "02:00:00:00:00:02", "198.18.0.3"), RecordState::kActive));
  EXPECT_FALSE(t.apply(rec("e2", "10.10.0.3", "02:00:00:00:00:02", "198.18.0.3"), RecordState::kWithdrawn));
  EXPECT_EQ(t.refusedVteps(), (std::set<std::string>{"198.18.0.3"}));
  auto r = t.sync();
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(kernelEntries(), desiredEntries(byId({v6})));
  EXPECT_EQ(kernelEntries().flood, (std::set<std::string>{"fd18::2"}));
  EXPECT_EQ(t.remoteVteps(), (std::map<std::string, std::set<std::string>>{{kNet, {"fd18::2"}}}));
  // Its own records (the IPv6 self) are ignored as on IPv4.
  EXPECT_FALSE(t.apply(rec("me", "10.10.0.9", "02:00:00:00:00:09", "fd18::1"), RecordState::kActive));
  // An IPv4 host refuses IPv6 VTEPs the same way.
  auto t4 = table();
  EXPECT_FALSE(t4->apply(v6, RecordState::kActive));
  EXPECT_EQ(t4->refusedVteps(), (std::set<std::string>{"fd18::2"}));
}

TEST_F(PeerTableTest, FloodEntriesCountTheVtepsRecords) {
  auto t = table();
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  t->apply(rec("e2", "10.10.0.3", "02:00:00:00:00:02", "198.18.0.2"), RecordState::kActive);
  t->sync();
  EXPECT_EQ(kernelEntries().flood, (std::set<std::string>{"198.18.0.2"}));
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kWithdrawn);
  t->sync();
  EXPECT_EQ(kernelEntries().flood, (std::set<std::string>{"198.18.0.2"}));  // e2 still there
  t->apply(rec("e2", "10.10.0.3", "02:00:00:00:00:02", "198.18.0.2"), RecordState::kWithdrawn);
  t->sync();
  EXPECT_EQ(kernelEntries(), PeerEntries{});
}

// Whatever the order records arrive, move and go in, the sandbox ends up
// holding exactly what the final records ask for.
TEST_F(PeerTableTest, AnyOrderOfChangesEndsInExactlyTheDesiredEntries) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 40; ++round) {
    SetUp();  // a fresh kernel
    auto t = table();
    t->attach(kNet, kAt);
    std::map<std::string, EndpointRecord> live;
    for (int step = 0; step < 60; ++step) {
      std::string id = "e" + std::to_string(rng() % 8);
      int host = 2 + static_cast<int>(rng() % 3), ip = 2 + static_cast<int>(rng() % 10);
      auto r = rec(id, "10.10.0." + std::to_string(ip), "02:00:00:00:00:0" + std::to_string(ip % 10),
                   "198.18.0." + std::to_string(host), rng() % 2 ? "fd00::" + std::to_string(ip) : "");
      bool active = rng() % 4 != 0;
      t->apply(r, active ? RecordState::kActive : RecordState::kWithdrawn);
      if (active)
        live[id] = r;
      else
        live.erase(id);
      if (rng() % 3 == 0) t->sync();
    }
    t->sync();
    ASSERT_EQ(kernelEntries(), desiredEntries(live)) << "round " << round;
    EXPECT_EQ(t->pending(), 0u);
  }
}

TEST_F(PeerTableTest, FailedProgrammingStaysWantedAndIsRetriedUntilItHolds) {
  auto t = table(0ms);
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  kernel_->failNext("replaceNeigh", ENOBUFS);
  kernel_->failNext("replaceFdb", ENOBUFS);
  auto r = t->sync();
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.applied, 1u);  // the flood entry went in
  EXPECT_EQ(t->pending(), 2u);
  EXPECT_TRUE(kernelEntries().neigh.empty());
  r = t->sync();  // the retry
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.applied, 2u);
  EXPECT_EQ(t->pending(), 0u);
  EXPECT_EQ(kernelEntries(),
            desiredEntries(byId({rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2")})));
}

TEST_F(PeerTableTest, ARetryWaitsForItsBackoffUnlessSomethingChanged) {
  auto t = table(3600000ms);
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  kernel_->failNext("replaceNeigh", ENOBUFS);
  EXPECT_EQ(t->sync().failed, 1u);
  EXPECT_EQ(t->sync().applied, 0u);  // not due for an hour
  EXPECT_EQ(t->pending(), 1u);
  // A change to the network's records makes it due at once, retry included.
  t->apply(rec("e2", "10.10.0.3", "02:00:00:00:00:02", "198.18.0.2"), RecordState::kActive);
  auto r = t->sync();
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.applied, 3u);  // e1's neighbour, e2's neighbour and fdb entry
  EXPECT_EQ(t->pending(), 0u);
}

TEST_F(PeerTableTest, ARebuiltSandboxIsProgrammedFromScratch) {
  auto t = table();
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  t->sync();
  // The sandbox is rebuilt (empty) and attached again.
  ASSERT_TRUE(kernel_->deleteNetns("sb").ok());
  ASSERT_TRUE(kernel_->createNetns("sb").ok());
  ASSERT_TRUE(kernel_->createVxlan(vxlanSpec(), "sb").ok());
  t->attach(kNet, kAt);
  EXPECT_EQ(t->sync().applied, 3u);
  EXPECT_EQ(kernelEntries().neigh.size(), 1u);
}

TEST_F(PeerTableTest, PruneRemovesWhatNoRecordAsksForAndAdoptsTheRest) {
  // Entries from before a restart: one still wanted, two not.
  ASSERT_TRUE(kernel_->addNeigh("sb", neighEntry("wx-000001", "10.10.0.2", "02:00:00:00:00:01")).ok());
  ASSERT_TRUE(
      kernel_->addFdb("sb", fdbEntry("wx-000001", "02:00:00:00:00:01", "198.18.0.2"), kernel::FdbAdd::kCreate)
          .ok());
  ASSERT_TRUE(
      kernel_->addFdb("sb", fdbEntry("wx-000001", kZero, "198.18.0.2"), kernel::FdbAdd::kAppend).ok());
  ASSERT_TRUE(kernel_->addNeigh("sb", neighEntry("wx-000001", "10.10.0.7", "02:00:00:00:00:07")).ok());
  ASSERT_TRUE(
      kernel_->addFdb("sb", fdbEntry("wx-000001", "02:00:00:00:00:07", "198.18.0.7"), kernel::FdbAdd::kCreate)
          .ok());
  ASSERT_TRUE(
      kernel_->addFdb("sb", fdbEntry("wx-000001", kZero, "198.18.0.7"), kernel::FdbAdd::kAppend).ok());
  auto t = table();
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  EXPECT_EQ(t->pruneStale(), 3u);
  EXPECT_EQ(t->pending(), 0u);       // the wanted ones were adopted
  EXPECT_EQ(t->sync().applied, 0u);  // nothing to add again
  EXPECT_EQ(kernelEntries(),
            desiredEntries(byId({rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2")})));
}

TEST_F(PeerTableTest, EntriesOfAnUnknownPastAreReplacedNotDuplicated) {
  // The kernel holds 10.10.0.2 -> another MAC and the MAC at another VTEP
  // (not known to this table: a restart without a prune yet).
  ASSERT_TRUE(kernel_->addNeigh("sb", neighEntry("wx-000001", "10.10.0.2", "02:00:00:00:00:99")).ok());
  ASSERT_TRUE(
      kernel_->addFdb("sb", fdbEntry("wx-000001", "02:00:00:00:00:01", "198.18.0.9"), kernel::FdbAdd::kCreate)
          .ok());
  auto t = table();
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  EXPECT_EQ(t->sync().failed, 0u);
  auto k = kernelEntries();
  EXPECT_EQ(k.neigh.at("10.10.0.2"), "02:00:00:00:00:01");
  EXPECT_EQ(k.fdb.at("02:00:00:00:00:01"), "198.18.0.2");
}

TEST_F(PeerTableTest, AResyncForgetsWhatTheNewSessionDoesNotConfirm) {
  auto t = table();
  t->attach(kNet, kAt);
  auto a = rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2");
  auto b = rec("e2", "10.10.0.3", "02:00:00:00:00:02", "198.18.0.3");
  t->apply(a, RecordState::kActive);
  t->apply(b, RecordState::kActive);
  t->sync();
  t->beginResync();
  t->apply(a, RecordState::kActive);  // confirmed again; b is not
  auto gone = t->forgetUnconfirmed();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].endpoint, "e2");
  t->sync();
  EXPECT_EQ(kernelEntries(), desiredEntries(byId({a})));
  EXPECT_EQ(t->records().size(), 1u);
}

TEST_F(PeerTableTest, TotalsAddUpEverySyncWithItsFailuresAndRetries) {
  auto t = table(0ms);
  t->attach(kNet, kAt);
  t->apply(rec("e1", "10.10.0.2", "02:00:00:00:00:01", "198.18.0.2"), RecordState::kActive);
  kernel_->failNext("replaceNeigh", ENOBUFS);
  auto first = t->sync();
  EXPECT_EQ(first.retries, 0u);  // a first attempt is no retry
  auto second = t->sync();       // the retry
  EXPECT_EQ(second.retries, 1u);
  EXPECT_EQ(t->sync().retries, 0u);  // it held: nothing to retry
  auto total = t->totals();
  EXPECT_EQ(total.applied, 3u);
  EXPECT_EQ(total.failed, 1u);
  EXPECT_EQ(total.retries, 1u);
}
