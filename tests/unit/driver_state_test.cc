// The driver's persisted state on the fake kernel: kernel failures and failed
// state writes undo the change, restarts keep (and reconcile repairs) what was
// built, corrupt or old-format state files, the health namespace.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "common/json_file.h"
#include "driver/health_netns.h"
#include "driver/sandbox.h"
#include "driver/state_store.h"
#include "tests/unit/driver_test_fixture.h"

using namespace weft;
using namespace weft::driver;
using namespace weft::test;

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
