// The driver's networks and endpoints on the fake kernel: the sandbox a
// network builds, MTU, idempotent and refused repeats, allocation, join and
// the endpoint lifecycle (state, restarts and reconcile: driver_state_test.cc).
#include <gtest/gtest.h>

#include <set>

#include "driver/sandbox.h"
#include "tests/unit/driver_test_fixture.h"

using namespace weft;
using namespace weft::driver;
using namespace weft::test;

TEST_F(DriverTest, CreateNetworkBuildsTheSandbox) {
  const auto nid = id('a');
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  auto n = driver_->networks().at(0);
  EXPECT_EQ(n.netns, netnsName(nid));
  EXPECT_EQ(n.mtu, 1450u);  // 1500 underlay - 50 VXLAN
  EXPECT_TRUE(hasNetns(*kernel_, n.netns));
  auto br = kernel_->getLink(n.netns, "br0");
  ASSERT_TRUE(br.ok());
  EXPECT_TRUE(br->up);
  auto addrs = kernel_->listAddresses(n.netns, "br0");
  ASSERT_TRUE(addrs.ok());
  EXPECT_NE(std::find(addrs->begin(), addrs->end(), "10.10.0.1/24"), addrs->end());
  auto vx = kernel_->getLink(n.netns, n.vxlanName);
  ASSERT_TRUE(vx.ok());
  EXPECT_EQ(vx->kind, kernel::LinkKind::kVxlan);
  EXPECT_EQ(vx->vni, n.vni);
  EXPECT_EQ(vx->master, "br0");
  EXPECT_FALSE(vx->learning.value_or(true));
  EXPECT_GE(n.vni, 1u);
  EXPECT_LE(n.vni, kMaxWeftVni);
  EXPECT_FALSE(hasLink(*kernel_, "", n.vxlanName));  // moved out of the host namespace
}

TEST_F(DriverTest, MtuComesFromTheUnderlayAndOptions) {
  kernel_->setUnderlayMtu(9000);
  ASSERT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24")).ok());
  auto enc = driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"encrypted", ""}}));
  ASSERT_FALSE(enc.ok());  // not built yet: refused, not silently ignored
  EXPECT_NE(enc.error().message.find("encrypt"), std::string::npos);
  EXPECT_TRUE(driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"encrypted", "false"}})).ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('c'), "10.3.0.0/24", {{"mtu", "1400"}})).ok());
  std::map<std::string, uint32_t> mtu;
  for (const auto& n : driver_->networks()) mtu[n.id] = n.mtu;
  EXPECT_EQ(mtu[id('a')], 8950u);
  EXPECT_EQ(mtu[id('b')], 8950u);
  EXPECT_EQ(mtu[id('c')], 1400u);
  auto tooBig = driver_->createNetwork(net(id('d'), "10.4.0.0/24", {{"mtu", "8960"}}));
  ASSERT_FALSE(tooBig.ok());
  EXPECT_NE(tooBig.error().message.find("8950"), std::string::npos) << tooBig.error().message;
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(id('d'))));
}

TEST_F(DriverTest, CreateNetworkIsIdempotentAndRefusesChangedRepeats) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  EXPECT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  auto changed = driver_->createNetwork(net(id('a'), "10.10.0.0/24", {{"mtu", "1300"}}));
  EXPECT_FALSE(changed.ok());
  EXPECT_EQ(driver_->networks().size(), 1u);
}

TEST_F(DriverTest, NetworksWithTheSameSubnetNeedDistinctNames) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  auto clash = driver_->createNetwork(net(id('b')));
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message.find("weft.name"), std::string::npos);
  ASSERT_TRUE(driver_->createNetwork(net(id('c'), "10.10.0.0/24", {{"weft.name", "red"}})).ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('d'), "10.10.0.0/24", {{"weft.name", "blue"}})).ok());
  auto nets = driver_->networks();
  std::set<uint32_t> vnis;
  for (const auto& n : nets) vnis.insert(n.vni);
  EXPECT_EQ(vnis.size(), 3u);
}

TEST_F(DriverTest, AnExplicitVniClashIsAClearError) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24", {{"vni", "77"}})).ok());
  auto clash = driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"vni", "77"}}));
  ASSERT_FALSE(clash.ok());
  EXPECT_NE(clash.error().message.find("VNI 77"), std::string::npos);
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(id('b'))));
}

TEST_F(DriverTest, AllocateNetworkEchoesOptionsAndIsStable) {
  AllocateNetworkRequest r{id('a'), {{"mtu", "1400"}}, {}, {}};
  auto a = driver_->allocateNetwork(r);
  auto b = driver_->allocateNetwork(r);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(a->at("mtu"), "1400");
  EXPECT_TRUE(a->count("vni"));
  r.options["vni"] = "5";
  auto c = driver_->allocateNetwork(r);
  EXPECT_EQ(c->at("vni"), "5");
  r.options["bogus"] = "1";
  EXPECT_FALSE(driver_->allocateNetwork(r).ok());
  // The echoed options are valid CreateNetwork options.
  EXPECT_TRUE(driver_->createNetwork(net(id('a'), "10.5.0.0/24", *a)).ok());
}

TEST_F(DriverTest, JoinAsksForDockerGwbridgeUnlessInternalOrOptedOut) {
  auto internal = [](CreateNetworkRequest r) {
    r.internal = true;
    return r;
  };
  ASSERT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24")).ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"weft.gwbridge", "false"}})).ok());
  ASSERT_TRUE(driver_->createNetwork(internal(net(id('c'), "10.3.0.0/24"))).ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('d'), "10.4.0.0/24", {{"weft.gwbridge", "true"}})).ok());
  ASSERT_TRUE(
      driver_->createNetwork(internal(net(id('f'), "10.6.0.0/24", {{"weft.gwbridge", "false"}}))).ok());
  // --internal with an explicit weft.gwbridge=true asks for two opposite
  // things: refused, and nothing is built.
  auto both = driver_->createNetwork(internal(net(id('g'), "10.7.0.0/24", {{"weft.gwbridge", "yes"}})));
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.error().message.find("weft.gwbridge=yes contradicts --internal"), std::string::npos)
      << both.error().message;
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(id('g'))));

  // network -> whether Join asks Docker to leave docker_gwbridge out
  const std::map<char, bool> want = {{'a', false}, {'b', true}, {'c', true}, {'d', false}, {'f', true}};
  auto check = [&](const char* when) {
    for (const auto& [n, disable] : want) {
      auto j = driver_->join(id(n), id(n, 63) + "1", "");
      ASSERT_TRUE(j.ok()) << when << " " << n << ": " << j.error().message;
      EXPECT_EQ(j->disableGatewayService, disable) << when << ": network " << n;
    }
    for (const auto& nw : driver_->networks())
      EXPECT_EQ(nw.wantsGwbridge(), !want.at(nw.id[0])) << when << ": network " << nw.id[0];
  };
  for (const auto& [n, disable] : want) {
    (void)disable;
    std::string addr = "10." + std::to_string(n - 'a' + 1) + ".0.2/24";  // a: 10.1.0.2, f: 10.6.0.2
    ASSERT_TRUE(driver_->createEndpoint(ep(id(n), id(n, 63) + "1", addr)).ok()) << n;
  }
  check("first join");
  check("repeated join");  // an already joined endpoint answers the same
  // The choice is kept in the state file: after a restart, repeated joins and
  // new endpoints get the same answer.
  ASSERT_TRUE(restart().ok());
  check("after restart");
  ASSERT_TRUE(driver_->createEndpoint(ep(id('b'), id('x'), "10.2.0.3/24")).ok());
  auto jb = driver_->join(id('b'), id('x'), "");
  ASSERT_TRUE(jb.ok());
  EXPECT_TRUE(jb->disableGatewayService);
}

// Swarm leader failover: the new leader's allocator calls AllocateNetwork
// again with the spec's options merged with the old leader's answer (swarmkit's
// allocateDriverState), on another manager's weft. Same answer, for a VNI the
// user chose and for one weft chose.
TEST_F(DriverTest, AllocateNetworkOnANewLeaderGivesTheOldLeadersAnswer) {
  for (auto spec : {std::map<std::string, std::string>{{"vni", "3210"}},
                    std::map<std::string, std::string>{{"mtu", "1400"}}}) {
    AllocateNetworkRequest first{id('a'), spec, {{"", "10.88.0.0/24", "10.88.0.1/24", {}}}, {}};
    auto old = driver_->allocateNetwork(first);
    ASSERT_TRUE(old.ok());
    DriverConfig other = cfg_;
    test::TempDir otherDir;
    other.stateDir = otherDir.path();
    other.advertiseAddr = "198.18.0.2";
    kernel::FakeKernel otherKernel(otherDir / "netns");
    Driver leader2(other, otherKernel);
    ASSERT_TRUE(leader2.start().ok());
    AllocateNetworkRequest again = first;
    for (const auto& [k, v] : *old) again.options[k] = v;
    auto now = leader2.allocateNetwork(again);
    ASSERT_TRUE(now.ok()) << now.error().message;
    EXPECT_EQ(*old, *now);
    EXPECT_EQ(*old, *leader2.allocateNetwork(again));
  }
}

// A swarm worker's daemon restart: the plugin restarts with it, restores the
// network, and Docker sends CreateNetwork again (the engine does not keep
// swarm networks). Accepted, the network kept as it was.
TEST_F(DriverTest, CreateNetworkAgainAfterARestartKeepsTheNetwork) {
  auto r = net(id('a'), "10.88.0.0/24", {{"vni", "3210"}});
  ASSERT_TRUE(driver_->createNetwork(r).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(id('a'), id('e'), "10.88.0.2/24")).ok());
  ASSERT_TRUE(driver_->join(id('a'), id('e'), "").ok());
  ReconcileReport report;
  ASSERT_TRUE(restart(&report).ok());
  EXPECT_TRUE(report.actions.empty()) << report.actions.front();
  ASSERT_TRUE(driver_->createNetwork(r).ok());
  auto nets = driver_->networks();
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].vni, 3210u);
  EXPECT_EQ(nets[0].endpoints.size(), 1u);
  EXPECT_TRUE(hasNetns(*kernel_, netnsName(id('a'))));
}

// A swarm node's daemon crashed (SIGKILL): weft restarted while the old
// tasks still ran, then Docker killed them without Leave/DeleteEndpoint (it
// does not keep swarm networks) and creates the network again for the new
// tasks. The dead tasks' endpoints are forgotten (durably); a live one stays.
TEST_F(DriverTest, CreateNetworkAgainForgetsEndpointsOfDeadContainers) {
  auto r = net(id('a'), "10.88.0.0/24", {{"vni", "3210"}});
  ASSERT_TRUE(driver_->createNetwork(r).ok());
  for (char c : {'e', 'f', 'g'}) {
    std::string addr = std::string("10.88.0.") + std::to_string(c - 'a') + "/24";
    ASSERT_TRUE(driver_->createEndpoint(ep(id('a'), id(c), addr)).ok());
  }
  ASSERT_TRUE(driver_->join(id('a'), id('e'), "").ok());
  ASSERT_TRUE(driver_->join(id('a'), id('f'), "").ok());
  ASSERT_TRUE(restart().ok());
  const auto ns = netnsName(id('a'));
  ASSERT_TRUE(kernel_->deleteLink(ns, driver_->endpointInfo(id('a'), id('f'))->sandboxVeth).ok());
  ASSERT_TRUE(driver_->createNetwork(r).ok());
  std::set<std::string> left;
  for (const auto& e : driver_->endpoints()) left.insert(e.id);
  EXPECT_EQ(left, (std::set<std::string>{id('e')}));  // 'g' was never joined, 'f' died
  ASSERT_TRUE(restart().ok());
  EXPECT_EQ(driver_->endpoints().size(), 1u);
  // The address of a forgotten endpoint can be given out again.
  EXPECT_TRUE(driver_->createEndpoint(ep(id('a'), id('h'), "10.88.0.5/24")).ok());
}

TEST_F(DriverTest, EndpointLifecycle) {
  const auto nid = id('a'), eid = id('e');
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  auto created = driver_->createEndpoint(ep(nid, eid, "10.10.0.2/24"));
  ASSERT_TRUE(created.ok()) << created.error().message;
  ASSERT_TRUE(created->macAddress);
  EXPECT_EQ(*created->macAddress, "02:42:0a:0a:00:02");
  auto j = driver_->join(nid, eid, "/var/run/docker/netns/x");
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_EQ(j->dstPrefix, "eth");
  EXPECT_EQ(j->srcName, hostVethName(eid));
  EXPECT_TRUE(hasLink(*kernel_, "", j->srcName));
  auto sb = kernel_->getLink(netnsName(nid), sandboxVethName(eid));
  ASSERT_TRUE(sb.ok());
  EXPECT_EQ(sb->master, "br0");
  EXPECT_TRUE(sb->up);
  auto info = driver_->endpointInfo(nid, eid);
  ASSERT_TRUE(info.ok());
  EXPECT_TRUE(info->joined);
  ASSERT_TRUE(driver_->leave(nid, eid).ok());
  // Out of service at once: off br0, down, its name free; deleted in a batch.
  EXPECT_FALSE(hasLink(*kernel_, netnsName(nid), sandboxVethName(eid)));
  auto links = kernel_->listLinks(netnsName(nid));
  ASSERT_TRUE(links.ok());
  size_t retired = 0;
  for (const auto& l : *links)
    if (l.group == kRetiredLinkGroup) {
      ++retired;
      EXPECT_FALSE(l.up);
      EXPECT_TRUE(l.master.empty());
    }
  EXPECT_EQ(retired, 1u);
  EXPECT_EQ(driver_->reapRetired(), 1u);
  EXPECT_FALSE(hasLink(*kernel_, "", j->srcName));
  EXPECT_EQ(kernel_->listLinks(netnsName(nid))->size(), 3u);  // lo, br0, VTEP
  EXPECT_TRUE(driver_->leave(nid, eid).ok());                 // repeat
  ASSERT_TRUE(driver_->deleteEndpoint(nid, eid).ok());
  EXPECT_TRUE(driver_->deleteEndpoint(nid, eid).ok());  // repeat
  ASSERT_TRUE(driver_->deleteNetwork(nid).ok());
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(nid)));
  EXPECT_TRUE(driver_->deleteNetwork(nid).ok());  // repeat
}

TEST_F(DriverTest, CreateEndpointKeepsDockersAddressAndMac) {
  const auto nid = id('a');
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  auto r = driver_->createEndpoint(ep(nid, id('e'), "10.10.0.2/24", "02:00:00:00:00:09"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->macAddress);  // never rewrite what Docker gave
  auto again = driver_->createEndpoint(ep(nid, id('e'), "10.10.0.2/24", "02:00:00:00:00:09"));
  EXPECT_TRUE(again.ok());
  EXPECT_FALSE(again->macAddress);
  EXPECT_FALSE(driver_->createEndpoint(ep(nid, id('e'), "10.10.0.3/24")).ok());  // changed repeat
  auto dupIp = driver_->createEndpoint(ep(nid, id('f'), "10.10.0.2/24"));
  ASSERT_FALSE(dupIp.ok());
  EXPECT_EQ(dupIp.code(), EEXIST);
  EXPECT_FALSE(driver_->createEndpoint(ep(nid, id('g'), "10.99.0.2/24")).ok());
  EXPECT_FALSE(driver_->createEndpoint(ep(nid, id('g'), "10.10.0.9/24", "01:00:5e:00:00:01")).ok());
  EXPECT_FALSE(driver_->createEndpoint(ep(id('z'), id('g'), "10.10.0.9/24")).ok());
  EXPECT_EQ(driver_->endpointCount(), 1u);
}

TEST_F(DriverTest, DeleteNetworkWithEndpointsIsRefused) {
  const auto nid = id('a');
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, id('e'), "10.10.0.2/24")).ok());
  auto st = driver_->deleteNetwork(nid);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("1 endpoint"), std::string::npos);
  EXPECT_TRUE(hasNetns(*kernel_, netnsName(nid)));
}

TEST_F(DriverTest, DeletingAJoinedEndpointRemovesItsVeth) {
  const auto nid = id('a'), eid = id('e');
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, eid, "10.10.0.2/24")).ok());
  ASSERT_TRUE(driver_->join(nid, eid, "").ok());
  ASSERT_TRUE(driver_->deleteEndpoint(nid, eid).ok());
  EXPECT_FALSE(hasLink(*kernel_, netnsName(nid), sandboxVethName(eid)));
}
