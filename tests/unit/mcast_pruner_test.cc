// The multicast pruner (driver/mcast_pruner.h) on the in-memory kernel: it
// sets the sandbox bridge up, advertises this host's listeners, and writes
// the VTEP's group entries from every host's advertisements -- and takes
// them back when pruning is off.
#include "driver/mcast_pruner.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
MacAddr mac(const char* s) { return *MacAddr::parse(s); }

// A cluster that keeps what it is told.
struct RecordingCluster : Cluster {
  void publish(const EndpointRecord&) override {}
  void withdraw(const std::string&, const std::string&) override {}
  void addSeed(const std::string&) override {}
  void publishMcast(const McastAdvert& a) override {
    published.push_back(a);
    current[a.network] = a;
  }
  void withdrawMcast(const std::string& network) override {
    withdrawn.push_back(network);
    current.erase(network);
  }
  std::vector<McastAdvert> published;
  std::vector<std::string> withdrawn;
  std::map<std::string, McastAdvert> current;
};

class RecordingPlane : public EncryptedPlane {
 public:
  Status attach(const EncryptedNetwork&) override { return Status::Ok(); }
  void detach(const std::string&) override {}
  void setPeers(const std::string&, const PeerEntries&) override {}
  void setGroups(const std::string& identity, const GroupRoutes& r) override { groups[identity] = r; }
  std::map<std::string, GroupRoutes> groups;
};

class McastPrunerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(k_.createNetns("weft-n1").ok());
    ASSERT_TRUE(k_.createBridge("weft-n1", "br0", 0).ok());
    kernel::VxlanSpec vx;
    vx.name = "wx-000100";
    vx.vni = 256;
    ASSERT_TRUE(k_.createVxlan(vx, "weft-n1").ok());
    ASSERT_TRUE(k_.setMaster("weft-n1", "wx-000100", "br0").ok());
    ASSERT_TRUE(k_.createNetns("c1").ok());
    ASSERT_TRUE(k_.createVeth("weft-n1", "ws1", "c1", "eth0", 1500).ok());
    ASSERT_TRUE(k_.setMaster("weft-n1", "ws1", "br0").ok());
    net_ = McastNetwork{"n1",    "subnet:10.0.0.0/24",        "weft-n1", "wx-000100",
                        {"ws1"}, {"198.18.0.2", "198.18.0.3"}};
  }
  McastPruner make(bool enabled = true) {
    return McastPruner(
        McastPrunerConfig{enabled, "198.18.0.1", "h1", std::chrono::milliseconds(200)}, k_, bm_,
        [this] { return nets_(); }, &cluster_);
  }
  std::vector<McastNetwork> nets_() { return gone_ ? std::vector<McastNetwork>{} : std::vector{net_}; }
  // The VTEP's group entries: MAC -> destinations.
  std::map<std::string, std::set<std::string>> groupFdb() {
    std::map<std::string, std::set<std::string>> out;
    auto fdb = k_.listFdb("weft-n1", "wx-000100");
    EXPECT_TRUE(fdb.ok());
    for (const auto& e : *fdb)
      if (e.mac.isMulticast()) out[e.mac.str()].insert(e.dst->str());
    return out;
  }
  void join(const char* group, bool joined = true) {
    ASSERT_TRUE(bm_.report("weft-n1", "ws1", ip(group), joined).ok());
  }
  McastAdvert remote(const char* vtep, std::vector<std::string> groups, bool all = false) {
    return McastAdvert{net_.identity, vtep, vtep, std::move(groups), all};
  }

  test::TempDir dir_;
  kernel::FakeKernel k_{dir_ / "netns"};
  kernel::FakeBridgeMulticast bm_{k_};
  RecordingCluster cluster_;
  McastNetwork net_;
  bool gone_ = false;
};

}  // namespace

TEST_F(McastPrunerTest, SetsTheBridgeUpToSnoopWithAQuerierAndEveryPortAsRouter) {
  auto p = make();
  p.pass();
  EXPECT_EQ(*bm_.getBridgeMcast("weft-n1", "br0"), pruningBridgeMcast());
  EXPECT_TRUE(pruningBridgeMcast().querier);
  EXPECT_EQ(pruningBridgeMcast().igmpVersion, 3);
  EXPECT_EQ(pruningBridgeMcast().mldVersion, 2);
  EXPECT_EQ(*bm_.getPortMcastRouter("weft-n1", "ws1"), kernel::McastRouter::kPermanent);
  EXPECT_EQ(*bm_.getPortMcastRouter("weft-n1", "wx-000100"), kernel::McastRouter::kPermanent);
}

TEST_F(McastPrunerTest, AdvertisesLocalListenersOnlyWhenTheyChange) {
  auto p = make();
  p.pass();
  ASSERT_EQ(cluster_.published.size(), 1u);  // no listeners: said so (this host prunes)
  EXPECT_EQ(cluster_.published[0], (McastAdvert{net_.identity, "", "198.18.0.1", {}, false}));
  join("239.1.2.3");
  join("ff0e::1:3");
  join("224.0.0.251");  // link-local: never advertised
  p.pass();
  p.pass();
  ASSERT_EQ(cluster_.published.size(), 2u);
  EXPECT_EQ(cluster_.published[1].groups, (std::vector<std::string>{"239.1.2.3", "ff0e::1:3"}));
  join("239.1.2.3", false);
  p.pass();
  EXPECT_EQ(cluster_.current.at(net_.identity).groups, (std::vector<std::string>{"ff0e::1:3"}));
  gone_ = true;  // the network went from this host
  p.pass();
  EXPECT_EQ(cluster_.withdrawn, (std::vector<std::string>{net_.identity}));
}

TEST_F(McastPrunerTest, ReplicatesAGroupOnlyToHostsThatListenAndHostsThatSayNothing) {
  auto p = make();
  p.applyMcast(remote("198.18.0.2", {"239.1.2.3"}), true);
  p.applyMcast(remote("198.18.0.3", {}), true);
  p.pass();
  EXPECT_EQ(groupFdb(),
            (std::map<std::string, std::set<std::string>>{{"01:00:5e:01:02:03", {"198.18.0.2"}}}));

  // A host of the network without an advertisement (pruning off there, or
  // an older weft) gets every advertised group.
  net_.remoteVteps.insert("198.18.0.4");
  p.pass();
  EXPECT_EQ(
      groupFdb(),
      (std::map<std::string, std::set<std::string>>{{"01:00:5e:01:02:03", {"198.18.0.2", "198.18.0.4"}}}));

  // A late joiner on .3, and this host's own listener of another group
  // (.4 says nothing: it gets that one too).
  p.applyMcast(remote("198.18.0.3", {"239.1.2.3"}), true);
  join("ff0e::1:3");
  p.pass();
  EXPECT_EQ(groupFdb(), (std::map<std::string, std::set<std::string>>{
                            {"01:00:5e:01:02:03", {"198.18.0.2", "198.18.0.3", "198.18.0.4"}},
                            {"33:33:00:01:00:03", {"198.18.0.4"}}}));

  // The last listener on .2 and .3 leaves, .4 says it has none: the IPv4
  // group's entry goes (nobody advertises it: the flood carries it, as
  // before pruning), and this host's IPv6 one goes nowhere remote (the
  // underlay's any address: dropped at the VTEP).
  p.applyMcast(remote("198.18.0.2", {}), true);
  p.applyMcast(remote("198.18.0.3", {}), true);
  p.applyMcast(remote("198.18.0.4", {}), true);
  p.pass();
  EXPECT_EQ(groupFdb(), (std::map<std::string, std::set<std::string>>{{"33:33:00:01:00:03", {"0.0.0.0"}}}));

  auto v = p.view();
  EXPECT_EQ(v["networks"]["n1"]["receivers"]["ff0e::1:3"], nlohmann::json({"h1"}));
  EXPECT_EQ(v["networks"]["n1"]["localGroups"], nlohmann::json({"ff0e::1:3"}));
  EXPECT_EQ(v["pruning"], true);
}

TEST_F(McastPrunerTest, PutsBackEntriesTakenAwayAndRemovesOnesItDidNotWrite) {
  auto p = make();
  p.applyMcast(remote("198.18.0.2", {"239.1.2.3"}), true);
  p.applyMcast(remote("198.18.0.3", {}), true);
  p.pass();
  ASSERT_TRUE(
      k_.delFdb("weft-n1", kernel::FdbEntry{"wx-000100", mac("01:00:5e:01:02:03"), ip("198.18.0.2")}).ok());
  ASSERT_TRUE(k_.addFdb("weft-n1", kernel::FdbEntry{"wx-000100", mac("01:00:5e:09:09:09"), ip("198.18.0.3")},
                        kernel::FdbAdd::kAppend)
                  .ok());
  EXPECT_EQ(p.pass(), 2u);
  EXPECT_EQ(groupFdb(),
            (std::map<std::string, std::set<std::string>>{{"01:00:5e:01:02:03", {"198.18.0.2"}}}));
  EXPECT_EQ(p.pass(), 0u);  // settled
}

TEST_F(McastPrunerTest, AWithdrawnOrResyncedAdvertisementMeansEveryGroupForThatHost) {
  auto p = make();
  p.applyMcast(remote("198.18.0.2", {"239.1.2.3"}), true);
  p.applyMcast(remote("198.18.0.3", {}), true);
  p.pass();
  p.applyMcast(remote("198.18.0.3", {}), false);
  p.pass();
  EXPECT_EQ(
      groupFdb(),
      (std::map<std::string, std::set<std::string>>{{"01:00:5e:01:02:03", {"198.18.0.2", "198.18.0.3"}}}));
  p.resyncMcast();  // a new gossip session: nothing is known until told again
  p.pass();
  EXPECT_EQ(groupFdb(), (std::map<std::string, std::set<std::string>>{}));  // every group floods again
}

TEST_F(McastPrunerTest, OffItAdvertisesNothingAndRemovesEveryGroupEntry) {
  {
    auto on = make();
    on.applyMcast(remote("198.18.0.2", {"239.1.2.3"}), true);
    on.applyMcast(remote("198.18.0.3", {}), true);
    on.pass();
    ASSERT_FALSE(groupFdb().empty());
  }
  cluster_.published.clear();
  auto off = make(false);
  off.applyMcast(remote("198.18.0.2", {"239.1.2.3"}), true);
  off.pass();
  EXPECT_TRUE(cluster_.published.empty());
  EXPECT_EQ(groupFdb(), (std::map<std::string, std::set<std::string>>{}));
}

TEST_F(McastPrunerTest, OnAnIPv6UnderlayAHostIsOneHostWhateverTheSpellingOfItsAddress) {
  ASSERT_TRUE(k_.deleteLink("weft-n1", "wx-000100").ok());
  kernel::VxlanSpec vx;
  vx.name = "wx-000100";
  vx.vni = 256;
  vx.local = "fd00::1";
  ASSERT_TRUE(k_.createVxlan(vx, "weft-n1").ok());
  ASSERT_TRUE(k_.setMaster("weft-n1", "wx-000100", "br0").ok());
  McastPruner p(
      McastPrunerConfig{true, "fd00::1", "h1", std::chrono::milliseconds(200)}, k_, bm_,
      [this] { return nets_(); }, &cluster_);
  net_.remoteVteps = {"fd00:0::2", "fd00::3"};  // as endpoint records spell them
  p.applyMcast(McastAdvert{net_.identity, "fd00::2", "fd00::2", {"ff0e::1:3"}, false}, true);
  p.applyMcast(McastAdvert{net_.identity, "fd00::3", "fd00:0:0::3", {}, false}, true);
  p.pass();
  // Not "every group" to a host that merely spelled its address otherwise.
  EXPECT_FALSE(p.view()["networks"]["n1"].contains("error")) << p.view().dump();
  EXPECT_EQ(groupFdb(), (std::map<std::string, std::set<std::string>>{{"33:33:00:01:00:03", {"fd00::2"}}}));
}

TEST_F(McastPrunerTest, AnEncryptedNetworksGroupsGoToTheEncryptedPlaneNotToAnFdb) {
  // An encrypted network: the plane's TAP on br0 in place of the VTEP (a
  // veth stands in for it: the fake kernel has no TAPs).
  ASSERT_TRUE(k_.createNetns("weft-n2").ok());
  ASSERT_TRUE(k_.createBridge("weft-n2", "br0", 0).ok());
  ASSERT_TRUE(k_.createNetns("c2").ok());
  ASSERT_TRUE(k_.createVeth("weft-n2", "wenc0", "c2", "eth1", 1500).ok());
  ASSERT_TRUE(k_.setMaster("weft-n2", "wenc0", "br0").ok());
  ASSERT_TRUE(k_.createVeth("weft-n2", "ws2", "c2", "eth0", 1500).ok());
  ASSERT_TRUE(k_.setMaster("weft-n2", "ws2", "br0").ok());
  net_ = McastNetwork{"n2",    "subnet:10.0.2.0/24",         "weft-n2", "wenc0",
                      {"ws2"}, {"198.18.0.2", "198.18.0.3"}, true};
  RecordingPlane plane;
  for (bool enabled : {true, false}) {
    SCOPED_TRACE(enabled);
    auto p = make(enabled);
    p.setEncryptedPlane(&plane);
    p.applyMcast(remote("198.18.0.2", {"239.1.2.3"}), true);
    p.applyMcast(remote("198.18.0.3", {}), true);
    ASSERT_TRUE(bm_.report("weft-n2", "ws2", ip("239.5.5.5"), true).ok());
    p.pass();
    ASSERT_TRUE(plane.groups.count(net_.identity));
    if (enabled) {
      EXPECT_EQ(*bm_.getBridgeMcast("weft-n2", "br0"), pruningBridgeMcast());
      EXPECT_EQ(*bm_.getPortMcastRouter("weft-n2", "wenc0"), kernel::McastRouter::kPermanent);
      EXPECT_EQ(cluster_.current.at(net_.identity).groups, std::vector<std::string>{"239.5.5.5"});
      const auto& r = plane.groups.at(net_.identity);
      EXPECT_EQ(r.hosts, (std::set<std::string>{"198.18.0.2", "198.18.0.3"}));
      EXPECT_EQ(r.groups, (std::map<IpAddr, std::set<std::string>>{{ip("239.1.2.3"), {"198.18.0.2"}},
                                                                   {ip("239.5.5.5"), {}}}));
      EXPECT_EQ(p.view()["networks"]["n2"]["encrypted"], true);
    } else {
      EXPECT_EQ(plane.groups.at(net_.identity), GroupRoutes{});  // every group to every peer
    }
    auto fdb = k_.listFdb("weft-n2", "wenc0");
    EXPECT_TRUE(!fdb.ok() || fdb->empty());
  }
}
