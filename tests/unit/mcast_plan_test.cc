// Multicast pruning's rules (driver/mcast_plan.h): which groups a host
// advertises, which MAC a group has, and where the VTEP sends each group.

#include "driver/mcast_plan.h"

#include <gtest/gtest.h>

using namespace weft;
using namespace weft::driver;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
MacAddr mac(const char* s) { return *MacAddr::parse(s); }
std::set<IpAddr> ips(std::initializer_list<const char*> l) {
  std::set<IpAddr> out;
  for (const char* s : l) out.insert(ip(s));
  return out;
}

TEST(McastPlan, LinkLocalGroupsAreNeverPruned) {
  for (const char* g :
       {"224.0.0.1", "224.0.0.251", "224.0.0.255", "ff02::1", "ff02::1:ff00:1", "ff12::5", "ff01::1"})
    EXPECT_TRUE(isLinkLocalGroup(ip(g))) << g;
  for (const char* g : {"224.0.1.1", "239.1.2.3", "232.1.1.1", "ff0e::1:3", "ff05::2", "ff1e::9"})
    EXPECT_FALSE(isLinkLocalGroup(ip(g))) << g;
}

TEST(McastPlan, GroupMacsFollowRfc1112AndRfc2464) {
  EXPECT_EQ(groupMac(ip("239.1.2.3")), mac("01:00:5e:01:02:03"));
  EXPECT_EQ(groupMac(ip("239.129.2.3")), mac("01:00:5e:01:02:03"));  // the high bit of the 2nd byte is lost
  EXPECT_EQ(groupMac(ip("224.255.255.255")), mac("01:00:5e:7f:ff:ff"));
  EXPECT_EQ(groupMac(ip("ff0e::1:3")), mac("33:33:00:01:00:03"));
  EXPECT_EQ(groupMac(ip("ff05::dead:beef")), mac("33:33:de:ad:be:ef"));
}

TEST(McastPlan, LocalGroupsAreThoseBehindContainerPortsWithoutLinkLocalOnes) {
  std::vector<kernel::MdbEntry> mdb = {
      {"veth1", ip("239.1.2.3")},   {"veth2", ip("239.1.2.3")},
      {"veth2", ip("ff0e::1:3")},   {"veth1", ip("ff02::1:ff00:5")},  // solicited-node: link-local
      {"vx-0001", ip("239.9.9.9")},  // heard through the VTEP: another host's
      {"br0", ip("239.8.8.8")},      // the bridge's own stack
      {"veth3", ip("239.7.7.7")},    // not a container port of this network
  };
  LocalGroups g = localGroups(mdb, {"veth1", "veth2"});
  EXPECT_EQ(g.groups, ips({"239.1.2.3", "ff0e::1:3"}));
  EXPECT_FALSE(g.all);
  EXPECT_EQ(localGroups({}, {"veth1"}), LocalGroups{});
}

TEST(McastPlan, MoreGroupsThanTheLimitAdvertiseEveryGroup) {
  std::vector<kernel::MdbEntry> mdb;
  for (size_t i = 0; i < kMaxMcastV4Groups; ++i)
    mdb.push_back({"veth1", IpAddr::fromU128(AF_INET, (239u << 24) + 1 + i)});
  for (size_t i = 0; i < kMaxMcastV6Groups; ++i)
    mdb.push_back({"veth1", IpAddr::fromU128(AF_INET6, (u128{0xff0e} << 112) + 1 + i)});
  EXPECT_EQ(localGroups(mdb, {"veth1"}).groups.size(),
            kMaxMcastV4Groups + kMaxMcastV6Groups);  // at both limits: listed
  for (const char* more : {"239.200.0.1", "ff0e::200:1"}) {
    auto over = mdb;
    over.push_back({"veth1", ip(more)});
    LocalGroups g = localGroups(over, {"veth1"});
    EXPECT_TRUE(g.all) << more;
    EXPECT_TRUE(g.groups.empty()) << more;
  }
}

TEST(McastPlan, AGroupGoesToTheListeningRemoteHostsOnly) {
  // h1 (self) and h2 listen to 239.1.2.3, h3 does not; h3 listens to ff0e::1:3.
  LocalGroups self{ips({"239.1.2.3"}), false};
  std::vector<HostGroups> remotes = {{"198.18.0.2", {ips({"239.1.2.3"}), false}},
                                     {"198.18.0.3", {ips({"ff0e::1:3"}), false}}};
  auto plan = groupFdbPlan(self, remotes, AF_INET);
  EXPECT_EQ(plan, (std::map<MacAddr, std::set<IpAddr>>{{mac("01:00:5e:01:02:03"), ips({"198.18.0.2"})},
                                                       {mac("33:33:00:01:00:03"), ips({"198.18.0.3"})}}));
  // h2's last listener leaves: the group has listeners here only -> dropped at the VTEP.
  remotes[0].groups.groups.clear();
  plan = groupFdbPlan(self, remotes, AF_INET);
  EXPECT_EQ(plan.at(mac("01:00:5e:01:02:03")), ips({"0.0.0.0"}));
  // A late joiner on h3.
  remotes[1].groups.groups.insert(ip("239.1.2.3"));
  plan = groupFdbPlan(self, remotes, AF_INET);
  EXPECT_EQ(plan.at(mac("01:00:5e:01:02:03")), ips({"198.18.0.3"}));
  // Nobody anywhere: no entry (the all-zero flood carries it, as before).
  EXPECT_TRUE(groupFdbPlan({}, {{"198.18.0.2", {}}}, AF_INET).empty());
}

TEST(McastPlan, GroupsSharingAMacGoToTheUnionOfTheirListeners) {
  std::vector<HostGroups> remotes = {{"198.18.0.2", {ips({"239.1.2.3"}), false}},
                                     {"198.18.0.3", {ips({"239.129.2.3"}), false}},
                                     {"198.18.0.4", {ips({"239.1.2.4"}), false}}};
  auto plan = groupFdbPlan({}, remotes, AF_INET);
  EXPECT_EQ(plan.at(mac("01:00:5e:01:02:03")), ips({"198.18.0.2", "198.18.0.3"}));
  EXPECT_EQ(plan.at(mac("01:00:5e:01:02:04")), ips({"198.18.0.4"}));
}

TEST(McastPlan, AHostAdvertisingEveryGroupGetsEveryGroupAndOtherFamiliesAreSkipped) {
  std::vector<HostGroups> remotes = {{"198.18.0.2", {ips({"239.1.2.3"}), false}},
                                     {"198.18.0.3", {{}, true}},
                                     {"fd18::4", {ips({"239.1.2.5"}), false}},
                                     {"not-an-ip", {ips({"239.1.2.6"}), false}}};
  auto plan = groupFdbPlan(LocalGroups{ips({"239.1.2.7", "224.0.0.251"}), false}, remotes, AF_INET);
  EXPECT_EQ(plan, (std::map<MacAddr, std::set<IpAddr>>{
                      {mac("01:00:5e:01:02:03"), ips({"198.18.0.2", "198.18.0.3"})},
                      {mac("01:00:5e:01:02:07"), ips({"198.18.0.3"})}}));
  // On an IPv6 underlay a group with local listeners only drops to "::".
  auto plan6 = groupFdbPlan(LocalGroups{ips({"ff0e::1:3"}), false}, {{"fd18::2", {}}}, AF_INET6);
  EXPECT_EQ(plan6.at(mac("33:33:00:01:00:03")), ips({"::"}));
}

TEST(McastPlan, ReceiversNameEachGroupsHosts) {
  auto r =
      groupReceivers(LocalGroups{ips({"239.1.2.3"}), false}, "this host",
                     {{"198.18.0.2", {ips({"239.1.2.3", "ff0e::1:3"}), false}}, {"198.18.0.3", {{}, true}}});
  EXPECT_EQ(r.at(ip("239.1.2.3")),
            (std::set<std::string>{"this host", "198.18.0.2", "198.18.0.3 (all groups)"}));
  EXPECT_EQ(r.at(ip("ff0e::1:3")), (std::set<std::string>{"198.18.0.2", "198.18.0.3 (all groups)"}));
}

}  // namespace

// Encrypted networks: exact groups to the datapath (no MAC folding).
TEST(McastPlan, EncryptedRoutesGoToListeningHostsAndHostsThatWantEverything) {
  LocalGroups self{ips({"239.1.2.3", "ff0e::1:3"}), false};
  std::vector<HostGroups> remotes{
      {"198.18.0.2", {ips({"239.1.2.3", "239.129.2.3"}), false}},  // .129 folds onto .1's MAC
      {"198.18.0.3", {ips({"224.0.0.251"}), false}},               // link-local: never a route
      {"198.18.0.4", {{}, true}},
      {"198.18.0.5", {{}, false}},
  };
  GroupRoutes r = groupRoutePlan(self, remotes);
  EXPECT_EQ(r.hosts, (std::set<std::string>{"198.18.0.2", "198.18.0.3", "198.18.0.4", "198.18.0.5"}));
  EXPECT_EQ(r.groups,
            (std::map<IpAddr, std::set<std::string>>{{ip("239.1.2.3"), {"198.18.0.2", "198.18.0.4"}},
                                                     {ip("239.129.2.3"), {"198.18.0.2", "198.18.0.4"}},
                                                     {ip("ff0e::1:3"), {"198.18.0.4"}}}));
  // Nobody listens anywhere else: this host's group goes to no peer.
  r = groupRoutePlan(LocalGroups{ips({"239.7.7.7"}), false}, {{"198.18.0.2", {}}});
  EXPECT_EQ(r.groups, (std::map<IpAddr, std::set<std::string>>{{ip("239.7.7.7"), {}}}));
  // Nobody advertises anything: no routes, everything flooded.
  EXPECT_TRUE(groupRoutePlan({}, {{"198.18.0.2", {}}}).groups.empty());
}

TEST(McastPlan, EncryptedGroupPeersAreThePlannedPeersPlusPeersThePlanDoesNotKnow) {
  GroupRoutes r;
  r.hosts = {"198.18.0.2", "198.18.0.3", "2001:db8::7"};
  r.groups = {{ip("239.1.2.3"), {"198.18.0.2", "2001:db8::7"}}, {ip("239.7.7.7"), {}}};
  // .3 is not a peer any more, .9 came after the plan was made (it gets
  // every group until the next plan); the IPv6 peer is spelled otherwise.
  auto got = groupPeers(r, {"198.18.0.2", "198.18.0.9", "2001:db8:0::7"});
  EXPECT_EQ(got, (std::map<IpAddr, std::vector<std::string>>{
                     {ip("239.1.2.3"), {"198.18.0.2", "198.18.0.9", "2001:db8:0::7"}},
                     {ip("239.7.7.7"), {"198.18.0.9"}}}));
  // A planned host that is not a peer gets nothing.
  EXPECT_EQ(groupPeers(r, {"198.18.0.3"}),
            (std::map<IpAddr, std::vector<std::string>>{{ip("239.1.2.3"), {}}, {ip("239.7.7.7"), {}}}));
  EXPECT_TRUE(groupPeers(GroupRoutes{}, {"198.18.0.2"}).empty());
}
