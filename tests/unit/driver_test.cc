#include "driver/driver.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "common/json_file.h"
#include "driver/health_netns.h"
#include "driver/names.h"
#include "driver/sandbox.h"
#include "driver/state_store.h"
#include "kernel/fake_kernel.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using namespace weft::driver;

namespace {

std::string id(char c, int n = 64) { return std::string(n, c); }

CreateNetworkRequest net(const std::string& nid, const std::string& pool = "10.10.0.0/24",
                         std::map<std::string, std::string> generic = {}) {
  CreateNetworkRequest r;
  r.networkId = nid;
  r.generic = std::move(generic);
  auto gw = pool.substr(0, pool.rfind('.')) + ".1/" + pool.substr(pool.find('/') + 1);
  r.ipv4.push_back({"", pool, gw, {}});
  return r;
}

CreateEndpointRequest ep(const std::string& nid, const std::string& eid, const std::string& addr,
                         const std::string& mac = "") {
  return {nid, eid, {addr, "", mac}};
}

bool hasLink(kernel::Kernel& k, const std::string& ns, const std::string& name) {
  return k.getLink(ns, name).ok();
}

bool hasNetns(kernel::Kernel& k, const std::string& ns) {
  auto l = k.listNetns();
  return l.ok() && std::find(l->begin(), l->end(), ns) != l->end();
}

class DriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    cfg_.stateDir = dir_.path();
    cfg_.advertiseAddr = "198.18.0.1";
    driver_ = std::make_unique<Driver>(cfg_, *kernel_);
    ASSERT_TRUE(driver_->start().ok());
  }
  // A plugin restart: same kernel (objects outlive the process), new driver.
  Status restart(ReconcileReport* report = nullptr) {
    driver_ = std::make_unique<Driver>(cfg_, *kernel_);
    return driver_->start(report);
  }

  test::TempDir dir_;
  DriverConfig cfg_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<Driver> driver_;
};

}  // namespace

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

TEST_F(DriverTest, KernelFailuresLeaveNothingHalfDone) {
  const auto nid = id('a'), eid = id('e');
  kernel_->failNext("createVxlan", EPERM);
  auto st = driver_->createNetwork(net(nid));
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(nid)));
  EXPECT_TRUE(driver_->networks().empty());

  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, eid, "10.10.0.2/24")).ok());
  kernel_->failNext("setMaster", EBUSY);
  auto j = driver_->join(nid, eid, "");
  ASSERT_FALSE(j.ok());
  EXPECT_FALSE(hasLink(*kernel_, "", hostVethName(eid)));
  EXPECT_FALSE(driver_->endpointInfo(nid, eid)->joined);
  EXPECT_TRUE(driver_->join(nid, eid, "").ok());  // and it works once the kernel does
}

TEST_F(DriverTest, StateSurvivesARestart) {
  const auto nid = id('a'), eid = id('e');
  auto pool = driver_->requestPool("", "10.10.0.0/24", "", {}, false);
  ASSERT_TRUE(pool.ok());
  ASSERT_TRUE(driver_->requestAddress(pool->poolId, "", {{"RequestAddressType", kGatewayRequestType}}).ok());
  auto addr = driver_->requestAddress(pool->poolId, "", {});
  ASSERT_TRUE(addr.ok());
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, eid, *addr)).ok());
  ASSERT_TRUE(driver_->join(nid, eid, "").ok());
  ASSERT_TRUE(driver_->discover("198.18.0.9", Driver::DiscoveredNode::kOther, Driver::Discovery::kNew).ok());
  ASSERT_TRUE(driver_->discover("198.18.0.4", Driver::DiscoveredNode::kSelf, Driver::Discovery::kNew).ok());

  ReconcileReport report;
  ASSERT_TRUE(restart(&report).ok());
  EXPECT_TRUE(report.actions.empty()) << report.actions.front();  // everything adopted
  ASSERT_EQ(driver_->networks().size(), 1u);
  ASSERT_EQ(driver_->endpoints().size(), 1u);
  EXPECT_TRUE(driver_->endpoints()[0].joined);
  EXPECT_EQ(driver_->discoveredNodes(), (std::set<std::string>{"198.18.0.9"}));
  EXPECT_EQ(driver_->swarmAddress(), "198.18.0.4");
  // IPAM remembers what it handed out.
  auto next = driver_->requestAddress(pool->poolId, "", {});
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *addr);
  EXPECT_EQ(driver_->requestAddress(pool->poolId, *addr, {}).code(), EEXIST);
  // And the restored endpoint can leave and be deleted.
  EXPECT_TRUE(driver_->leave(nid, eid).ok());
  EXPECT_TRUE(driver_->deleteEndpoint(nid, eid).ok());
  EXPECT_TRUE(driver_->deleteNetwork(nid).ok());
}

TEST_F(DriverTest, ReconcileRepairsDriftAndRemovesStaleObjects) {
  const auto nid = id('a'), eid = id('e'), eid2 = id('f');
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, eid, "10.10.0.2/24")).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, eid2, "10.10.0.3/24")).ok());
  ASSERT_TRUE(driver_->join(nid, eid, "").ok());
  ASSERT_TRUE(driver_->join(nid, eid2, "").ok());
  auto n = driver_->networks().at(0);
  // While weft is down: the VTEP vanishes, br0 loses its address, one
  // container dies, a stale sandbox and strays appear.
  ASSERT_TRUE(kernel_->deleteLink(n.netns, n.vxlanName).ok());
  ASSERT_TRUE(kernel_->delAddress(n.netns, "br0", "10.10.0.1/24").ok());
  ASSERT_TRUE(kernel_->deleteLink(n.netns, sandboxVethName(eid2)).ok());
  ASSERT_TRUE(kernel_->createNetns("weft-000000000000").ok());
  ASSERT_TRUE(
      kernel_->createVxlan({"wx-000fff", 4095, 4789, "", false, true, false, false, 1450, ""}, "").ok());
  ASSERT_TRUE(kernel_->createVeth("", "whdeadbeef000", n.netns, "wsdeadbeef000", 1450).ok());

  ReconcileReport report;
  ASSERT_TRUE(restart(&report).ok());
  EXPECT_GE(report.actions.size(), 5u);
  auto vx = kernel_->getLink(n.netns, n.vxlanName);
  ASSERT_TRUE(vx.ok());
  EXPECT_EQ(vx->master, "br0");
  auto addrs = kernel_->listAddresses(n.netns, "br0");
  EXPECT_NE(std::find(addrs->begin(), addrs->end(), "10.10.0.1/24"), addrs->end());
  EXPECT_FALSE(hasNetns(*kernel_, "weft-000000000000"));
  EXPECT_FALSE(hasLink(*kernel_, "", "wx-000fff"));
  EXPECT_FALSE(hasLink(*kernel_, "", "whdeadbeef000"));
  EXPECT_TRUE(hasLink(*kernel_, n.netns, sandboxVethName(eid)));  // adopted
  std::map<std::string, bool> joined;
  for (const auto& e : driver_->endpoints()) joined[e.id] = e.joined;
  EXPECT_TRUE(joined[eid]);
  EXPECT_FALSE(joined[eid2]);
  // A second restart finds nothing more to do.
  ReconcileReport again;
  ASSERT_TRUE(restart(&again).ok());
  EXPECT_TRUE(again.actions.empty()) << again.actions.front();
}

TEST_F(DriverTest, AfterAKernelRebootTheSandboxIsRebuilt) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");  // empty kernel
  ASSERT_TRUE(restart().ok());
  EXPECT_TRUE(hasNetns(*kernel_, netnsName(id('a'))));
}

TEST_F(DriverTest, CorruptStateStopsStartAndIsNotOverwritten) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  const std::string path = dir_ / "state.json";
  const std::string junk = "{\"format\":\"weft-state\",\"version\":1,\"networks\":[{\"id\":";
  ASSERT_TRUE(writeFileAtomic(path, junk).ok());
  auto st = restart();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(path), std::string::npos);
  EXPECT_EQ(*readFile(path), junk);

  ASSERT_TRUE(writeFileAtomic(path, R"({"format":"weft-state","version":99})").ok());
  st = restart();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("version 99"), std::string::npos);

  ASSERT_TRUE(
      writeFileAtomic(
          path, R"({"format":"weft-state","version":1,"networks":[],"endpoints":[{"bad":1}],"ipam":{}})")
          .ok());
  st = restart();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(readFile(path)->find("bad"), std::string::npos);
}

// tests/unit/testdata/state-v1.json was written by weft-plugin with state
// format 1 (a swarm-scope network with -o vni=300 -o mtu=1400, one endpoint
// with a MAC weft chose, an IPAM pool with a sub-pool, gateway and two
// addresses, two discovered swarm nodes).
TEST_F(DriverTest, StateOfFormatOneIsMigratedAndTheOldFileKept) {
  const std::string path = dir_ / "state.json";
  auto v1 = readFile(std::string(WEFT_TESTDATA_DIR) + "/state-v1.json");
  ASSERT_TRUE(v1.ok());
  ASSERT_TRUE(writeFileAtomic(path, *v1).ok());
  ASSERT_TRUE(restart().ok());

  const std::string nid = "aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111";
  const std::string eid = "eeeeeeeeeeee2222222222222222222222222222222222222222222222222222";
  auto nets = driver_->networks();
  ASSERT_EQ(nets.size(), 1u);
  EXPECT_EQ(nets[0].id, nid);
  EXPECT_EQ(nets[0].vni, 300u);
  EXPECT_EQ(nets[0].mtu, 1400u);
  EXPECT_EQ(nets[0].ipv4, (std::vector<Subnet>{{"10.20.0.0/24", "10.20.0.1/24"}}));
  EXPECT_TRUE(hasNetns(*kernel_, netnsName(nid)));  // reconcile built the sandbox
  auto eps = driver_->endpoints();
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].id, eid);
  EXPECT_EQ(eps[0].address, "10.20.0.2/24");
  EXPECT_EQ(eps[0].mac, "02:42:0a:14:00:02");
  EXPECT_TRUE(eps[0].macChosenByWeft);
  EXPECT_EQ(driver_->discoveredNodes(), (std::set<std::string>{"198.18.0.2", "198.18.0.3"}));
  EXPECT_EQ(driver_->swarmAddress(), "");
  // IPAM remembers what format 1 recorded: taken addresses stay taken, the
  // next one comes from the sub-pool after them.
  const std::string pool = "weft-global/10.20.0.0/24/1";
  EXPECT_EQ(driver_->requestAddress(pool, "10.20.0.129", {}).code(), EEXIST);
  auto next = driver_->requestAddress(pool, "", {});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(*next, "10.20.0.131/24");

  // Written back in the current format; format 1 kept next to it.
  auto now = nlohmann::json::parse(*readFile(path));
  EXPECT_EQ(now["version"], kStateFormatVersion);
  EXPECT_EQ(now["discovered"]["nodes"], (nlohmann::json{"198.18.0.2", "198.18.0.3"}));
  EXPECT_EQ(*readFile(path + ".v1"), *v1);
  // A later start reads the current format and keeps no further copies.
  ASSERT_TRUE(restart().ok());
  EXPECT_EQ(driver_->endpoints().size(), 1u);
  EXPECT_FALSE(readFile(path + ".v2").ok());
}

TEST(StateFormat, MigrationStepsAndTheirErrors) {
  nlohmann::json j = {{"format", "weft-state"}, {"version", 1}, {"discovered", {"198.18.0.5"}}};
  ASSERT_TRUE(migrateState(j).ok());
  EXPECT_EQ(j["version"], 2);
  EXPECT_EQ(j["discovered"], (nlohmann::json{{"self", ""}, {"nodes", {"198.18.0.5"}}}));
  nlohmann::json current = j;
  ASSERT_TRUE(migrateState(current).ok());  // already current: unchanged
  EXPECT_EQ(current, j);

  auto errorOf = [](nlohmann::json doc) {
    auto st = migrateState(doc);
    return st.ok() ? std::string("ok") : st.error().message;
  };
  EXPECT_NE(errorOf({{"version", 1}, {"discovered", "198.18.0.5"}}).find("array"), std::string::npos);
  EXPECT_NE(errorOf({{"version", 1}, {"discovered", {1, 2}}}).find("strings"), std::string::npos);
  EXPECT_NE(errorOf({{"version", 1}}).find("discovered"), std::string::npos);
  EXPECT_NE(errorOf({{"version", 0}}).find("version 0"), std::string::npos);
  EXPECT_NE(errorOf({{"version", kStateFormatVersion + 1}}).find("not one this weft knows"),
            std::string::npos);
  EXPECT_NE(errorOf({{"version", "1"}}).find("no format version"), std::string::npos);
  EXPECT_NE(errorOf(nlohmann::json::array()).find("no format version"), std::string::npos);
}

TEST_F(DriverTest, AFailedStateWriteUndoesTheChange) {
  const auto nid = id('a');
  // A directory where the temp file would go makes the next write fail.
  const std::string blocker = dir_ / ("state.json.tmp." + std::to_string(getpid()));
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  auto st = driver_->createNetwork(net(nid));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("state file"), std::string::npos);
  EXPECT_TRUE(driver_->networks().empty());
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(nid)));
  auto pool = driver_->requestPool("", "10.10.0.0/24", "", {}, false);
  EXPECT_FALSE(pool.ok());
  ::rmdir(blocker.c_str());
  ASSERT_TRUE(driver_->createNetwork(net(nid)).ok());
  ASSERT_TRUE(driver_->createEndpoint(ep(nid, id('e'), "10.10.0.2/24")).ok());
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  EXPECT_FALSE(driver_->deleteEndpoint(nid, id('e')).ok());
  EXPECT_EQ(driver_->endpointCount(), 1u);
  ::rmdir(blocker.c_str());
  ASSERT_TRUE(driver_->deleteEndpoint(nid, id('e')).ok());
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  EXPECT_FALSE(driver_->deleteNetwork(nid).ok());
  EXPECT_EQ(driver_->networks().size(), 1u);
  EXPECT_TRUE(hasNetns(*kernel_, netnsName(nid)));  // put back as it was
  ::rmdir(blocker.c_str());
}

TEST(ObjectIds, DockerStyleIdsOnly) {
  EXPECT_TRUE(validObjectId(std::string(64, 'a')));
  EXPECT_TRUE(validObjectId("0123456789ab"));
  EXPECT_FALSE(validObjectId("short"));
  EXPECT_FALSE(validObjectId("../../etc/passwd00"));
  EXPECT_FALSE(validObjectId(std::string(129, 'a')));
}

TEST_F(DriverTest, AFailedStateWriteUndoesAddressChanges) {
  auto pool = driver_->requestPool("", "10.10.0.0/24", "", {}, false);
  ASSERT_TRUE(pool.ok());
  auto a = driver_->requestAddress(pool->poolId, "10.10.0.5", {});
  ASSERT_TRUE(a.ok());
  const std::string blocker = dir_ / ("state.json.tmp." + std::to_string(getpid()));
  ASSERT_EQ(::mkdir(blocker.c_str(), 0700), 0);
  EXPECT_FALSE(driver_->requestAddress(pool->poolId, "10.10.0.6", {}).ok());
  EXPECT_FALSE(driver_->releaseAddress(pool->poolId, "10.10.0.5").ok());
  EXPECT_FALSE(driver_->releasePool(pool->poolId).ok());
  ::rmdir(blocker.c_str());
  // Nothing of the failed changes stuck: .6 is free, .5 still taken, the pool there.
  EXPECT_EQ(driver_->requestAddress(pool->poolId, "10.10.0.5", {}).code(), EEXIST);
  auto six = driver_->requestAddress(pool->poolId, "10.10.0.6", {});
  ASSERT_TRUE(six.ok()) << six.error().message;
  EXPECT_TRUE(driver_->releasePool(pool->poolId).ok());
}

// The host veth is wh + the ID's first 11 characters, unique on the host:
// two endpoints sharing them are refused at CreateEndpoint even on different
// networks, not only at Join (issue 10 finding 12).
TEST_F(DriverTest, EndpointsSharingTheVethPrefixAcrossNetworksAreRefusedAtCreate) {
  ASSERT_TRUE(driver_->createNetwork(net(id('a'), "10.1.0.0/24")).ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('b'), "10.2.0.0/24")).ok());
  const std::string first = "0123456789a" + id('c', 53), second = "0123456789a" + id('d', 53);
  ASSERT_EQ(hostVethName(first), hostVethName(second));
  ASSERT_TRUE(driver_->createEndpoint(ep(id('a'), first, "10.1.0.2/24")).ok());
  auto clash = driver_->createEndpoint(ep(id('b'), second, "10.2.0.2/24"));
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().code, EEXIST);
  EXPECT_NE(clash.error().message.find("first 11 characters"), std::string::npos) << clash.error().message;
  EXPECT_NE(clash.error().message.find(first.substr(0, 12)), std::string::npos) << clash.error().message;
  EXPECT_EQ(driver_->endpointCount(), 1u);
  ASSERT_TRUE(restart().ok());  // nothing of it was stored
  EXPECT_EQ(driver_->endpointCount(), 1u);
  EXPECT_TRUE(driver_->join(id('a'), first, "").ok());
  EXPECT_TRUE(driver_->createEndpoint(ep(id('b'), "0123456789b" + id('d', 53), "10.2.0.2/24")).ok());
}

// kill -9 in the middle of a state write leaves state.json.tmp.<pid>; the
// next start removes it, and only temp files of writers that are gone
// (issue 10 finding 12).
TEST_F(DriverTest, StartRemovesTempFilesOfWritersThatAreGone) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ASSERT_EQ(::waitpid(child, nullptr, 0), child);  // a pid that no longer runs
  const std::string dead = std::to_string(child), alive = std::to_string(::getppid());
  const std::vector<std::string> stale = {"state.json.tmp." + dead, "state.json.v1.tmp." + dead};
  const std::vector<std::string> kept = {"state.json.tmp." + alive, "other.json.tmp." + dead,
                                         "state.json.tmp.x" + dead, "state.json.vx.tmp." + dead};
  for (const auto& f : stale) ASSERT_TRUE(writeFileAtomic(dir_ / f, "{\"half\":").ok());
  for (const auto& f : kept) ASSERT_TRUE(writeFileAtomic(dir_ / f, "x").ok());
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  ASSERT_TRUE(restart().ok());
  for (const auto& f : stale) EXPECT_NE(::access((dir_ / f).c_str(), F_OK), 0) << f << " is still there";
  for (const auto& f : kept) EXPECT_EQ(::access((dir_ / f).c_str(), F_OK), 0) << f << " was removed";
  EXPECT_EQ(driver_->networks().size(), 1u);
}

TEST_F(DriverTest, TheHealthVniIsRefusedForNetworksAndSkippedWhenChosen) {
  // The VNI this network gets by itself...
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  const uint32_t natural = driver_->networks().at(0).vni;
  ASSERT_TRUE(driver_->deleteNetwork(id('a')).ok());
  // ... is the one the data-plane probes reserve now.
  cfg_.reservedVni = natural;
  ASSERT_TRUE(restart().ok());
  auto asked = driver_->createNetwork(net(id('b'), "10.2.0.0/24", {{"vni", std::to_string(natural)}}));
  ASSERT_FALSE(asked.ok());
  EXPECT_EQ(asked.code(), EINVAL);
  EXPECT_NE(asked.error().message.find("reserved for weft's data-plane probes (setting HEALTH_VNI)"),
            std::string::npos)
      << asked.error().message;
  EXPECT_FALSE(hasNetns(*kernel_, netnsName(id('b'))));
  AllocateNetworkRequest alloc;
  alloc.networkId = id('c');
  alloc.options = {{"vni", std::to_string(natural)}};
  alloc.ipv4.push_back({"", "10.3.0.0/24", "10.3.0.1/24", {}});
  EXPECT_EQ(driver_->allocateNetwork(alloc).code(), EINVAL);
  ASSERT_TRUE(driver_->createNetwork(net(id('a'))).ok());
  EXPECT_EQ(driver_->networks().at(0).vni, natural % kMaxWeftVni + 1);  // the next one
}

TEST_F(DriverTest, RestartLeavesTheHealthNamespaceAlone) {
  ASSERT_TRUE(kernel_->createNetns(kHealthNetns).ok());
  ASSERT_TRUE(restart().ok());
  EXPECT_TRUE(hasNetns(*kernel_, kHealthNetns));
}
