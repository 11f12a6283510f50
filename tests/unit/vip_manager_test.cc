// Service VIPs: what the engine says becomes each local container's VIP
// table, and follows every change (FakeKernel, a scripted engine).
#include "services/vip_manager.h"

#include <gtest/gtest.h>

#include <functional>
#include <utility>

#include "kernel/fake_kernel.h"

namespace weft::services {
namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }

const std::string kNet = "nprc2cpbpxr4hpuwjkjsgppfb";  // a swarm network id

class ScriptedEngine : public engine::EngineSource {
 public:
  Result<engine::NetworkView> network(const std::string& id) override {
    ++calls;
    if (down) return Error{ECONNREFUSED, "engine at /run/docker.sock: connect: Connection refused"};
    auto it = views.find(id);
    if (it == views.end()) return Error{ENOENT, "not found"};
    return it->second;
  }
  Result<std::string> sandboxKey(const std::string& cid) override {
    auto it = keys.find(cid);
    if (it == keys.end()) return Error{ENOENT, "no such container"};
    return it->second;
  }
  std::map<std::string, engine::NetworkView> views;
  std::map<std::string, std::string> keys;
  bool down = false;
  int calls = 0;
};

class VipManagerTest : public ::testing::Test {
 protected:
  VipManagerTest() : k_("/fake/netns"), vips_(k_, engine_, VipConfig{}) {}
  void SetUp() override {
    ASSERT_TRUE(k_.createNetns("c1").ok());
    ASSERT_TRUE(k_.createNetns("c2").ok());
  }
  std::string path(const char* ns) { return k_.netnsPath(ns); }
  std::optional<std::vector<kernel::ServiceVip>> table(const char* ns, const std::string& net = kNet) {
    return k_.serviceVips(path(ns), VipManager::tagOf(net));
  }
  void services(std::vector<engine::Service> s) { engine_.views[kNet].services = std::move(s); }

  kernel::FakeKernel k_;
  ScriptedEngine engine_;
  VipManager vips_;
};

TEST_F(VipManagerTest, AJoinedContainerGetsItsNetworksVipsAndFollowsScaling) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3"), ip("10.88.0.4")}}, {"db", ip("10.88.0.6"), {}}});
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  auto r = vips_.refresh();
  EXPECT_EQ(r.programmed, 1u);
  ASSERT_TRUE(table("c1").has_value());
  EXPECT_EQ(*table("c1"), (std::vector<kernel::ServiceVip>{
                              {ip("10.88.0.2"), {ip("10.88.0.3"), ip("10.88.0.4")}}, {ip("10.88.0.6"), {}}}));
  // Nothing changed: nothing is programmed again.
  EXPECT_EQ(vips_.refresh().programmed, 0u);
  // Scale up, a task dies: the table follows.
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.4"), ip("10.88.0.7"), ip("10.88.0.8")}},
            {"db", ip("10.88.0.6"), {ip("10.88.0.9")}}});
  EXPECT_EQ(vips_.refresh().programmed, 1u);
  EXPECT_EQ((*table("c1"))[0].backends,
            (std::vector<IpAddr>{ip("10.88.0.4"), ip("10.88.0.7"), ip("10.88.0.8")}));
  EXPECT_EQ((*table("c1"))[1].backends, std::vector<IpAddr>{ip("10.88.0.9")});
  // The service is removed.
  services({{"db", ip("10.88.0.6"), {ip("10.88.0.9")}}});
  vips_.refresh();
  EXPECT_EQ(table("c1")->size(), 1u);
}

TEST_F(VipManagerTest, DnsrrServicesAndOtherFamiliesAreLeftOut) {
  services({{"rr", std::nullopt, {ip("10.88.0.3")}},
            {"web", ip("10.88.0.2"), {ip("10.88.0.3"), ip("fd00::3"), ip("10.88.0.2")}}});
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  vips_.refresh();
  EXPECT_EQ(*table("c1"), (std::vector<kernel::ServiceVip>{{ip("10.88.0.2"), {ip("10.88.0.3")}}}));
}

TEST_F(VipManagerTest, LeaveRemovesTheTableAndOnlyThatNetworksTable) {
  const std::string other = "othernet0000000000000000a";
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  engine_.views[other].services = {{"api", ip("10.99.0.2"), {ip("10.99.0.3")}}};
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  ASSERT_TRUE(vips_.joined(other, "ep2", path("c1")).ok());
  vips_.refresh();
  ASSERT_TRUE(table("c1").has_value());
  ASSERT_TRUE(table("c1", other).has_value());
  vips_.left("ep1");
  vips_.refresh();
  EXPECT_FALSE(table("c1").has_value());
  EXPECT_TRUE(table("c1", other).has_value());
  vips_.left("unknown-endpoint");  // harmless
}

TEST_F(VipManagerTest, AnEngineOutageKeepsTheVipsAndIsReported) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  vips_.refresh();
  engine_.down = true;
  auto r = vips_.refresh();
  EXPECT_EQ(r.engineErrors, 1u);
  ASSERT_TRUE(table("c1").has_value());
  EXPECT_EQ(table("c1")->size(), 1u);
  auto v = vips_.view();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_NE(v[0].error.find("Connection refused"), std::string::npos);
  engine_.down = false;
  vips_.refresh();
  EXPECT_TRUE(vips_.view()[0].error.empty());
}

TEST_F(VipManagerTest, ANamespaceThatAppearsAfterJoinIsProgrammedWhenItDoes) {
  // Docker calls Join before runc makes the container's namespace.
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  ASSERT_TRUE(vips_.joined(kNet, "ep1", k_.netnsPath("late")).ok());
  auto r = vips_.refresh();
  EXPECT_EQ(r.programmed, 0u);
  EXPECT_EQ(r.waiting, 1u);
  EXPECT_EQ(vips_.programWaiting().waiting, 1u);
  int engineCalls = engine_.calls;
  ASSERT_TRUE(k_.createNetns("late").ok());
  EXPECT_EQ(vips_.programWaiting().programmed, 1u);
  EXPECT_EQ(engine_.calls, engineCalls) << "the fast path asks the engine nothing";
  EXPECT_TRUE(table("late").has_value());
}

TEST_F(VipManagerTest, ANamespaceThatNeverAppearsOrIsGoneIsForgotten) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  VipManager m(k_, engine_,
               VipConfig{std::chrono::milliseconds(1000), "", std::chrono::milliseconds(5),
                         std::chrono::milliseconds(0)});
  ASSERT_TRUE(m.joined(kNet, "ep1", path("c1")).ok());
  ASSERT_TRUE(m.joined(kNet, "ep2", "/fake/netns/gone").ok());
  auto r = m.refresh();
  EXPECT_EQ(r.programmed, 1u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.waiting, 0u);
  EXPECT_EQ(m.view()[0].containers, 1u);
}

TEST_F(VipManagerTest, TheWorkerProgramsANamespaceThatAppearsLaterAtOnce) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  VipManager m(k_, engine_, VipConfig{std::chrono::milliseconds(60000), ""});
  m.start();
  ASSERT_TRUE(m.joined(kNet, "ep1", k_.netnsPath("later")).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(k_.createNetns("later").ok());
  for (int i = 0; i < 200 && !table("later"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(table("later").has_value()) << "not programmed within 2 s of the namespace appearing";
  m.stop();
}

TEST_F(VipManagerTest, ContainersJoinedBeforeARestartAreAdoptedFromTheEngine) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  engine_.views[kNet].containers = {{"ep1", "c1id"}, {"ep2", "c2id"}};
  engine_.keys = {{"c2id", path("c2")}};
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  auto r = vips_.refresh();
  EXPECT_EQ(r.adopted, 1u);
  EXPECT_EQ(r.programmed, 2u);
  EXPECT_TRUE(table("c2").has_value());
}

TEST_F(VipManagerTest, AnEndpointThatLeftIsNotAdoptedBackWhileTheEngineStillListsIt) {
  // dockerd calls Leave before it drops the endpoint from the network, so
  // the engine's view lists the container for a while after Leave. (c2
  // keeps the network among those weft asks the engine about.)
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  engine_.views[kNet].containers = {{"ep1", "c1id"}, {"ep2", "c2id"}};
  engine_.keys = {{"c1id", path("c1")}, {"c2id", path("c2")}};
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  ASSERT_TRUE(vips_.joined(kNet, "ep2", path("c2")).ok());
  vips_.refresh();
  ASSERT_TRUE(table("c1").has_value());
  vips_.left("ep1");
  for (int i = 0; i < 3; ++i) {
    auto r = vips_.refresh();
    EXPECT_EQ(r.adopted, 0u);
    EXPECT_FALSE(table("c1").has_value()) << "round " << i;
    EXPECT_TRUE(table("c2").has_value()) << "round " << i;
  }
  // Docker joining that endpoint again makes it weft's again.
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  vips_.refresh();
  EXPECT_TRUE(table("c1").has_value());
}

// Calls `during` from inside the first setServiceVips that installs a table.
class HookedKernel : public kernel::FakeKernel {
 public:
  using FakeKernel::FakeKernel;
  Status setServiceVips(const std::string& ns, const std::string& tag,
                        const std::vector<kernel::ServiceVip>& vips) override {
    auto st = FakeKernel::setServiceVips(ns, tag, vips);
    if (!vips.empty() && during) std::exchange(during, nullptr)();
    return st;
  }
  std::function<void()> during;
};

TEST(VipManagerRace, ATableThatLandsAfterItsEndpointLeftIsRemoved) {
  HookedKernel k("/fake/netns");
  ScriptedEngine engine;
  engine.views[kNet].services = {{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}};
  ASSERT_TRUE(k.createNetns("c1").ok());
  VipManager vips(k, engine, VipConfig{});
  ASSERT_TRUE(vips.joined(kNet, "ep1", k.netnsPath("c1")).ok());
  k.during = [&] { vips.left("ep1"); };  // Leave while the table is being written
  vips.refresh();
  ASSERT_EQ(k.during, nullptr) << "the hook did not run";
  vips.refresh();
  EXPECT_FALSE(k.serviceVips(k.netnsPath("c1"), VipManager::tagOf(kNet)).has_value());
}

TEST_F(VipManagerTest, LeftEndpointsAreRememberedWithinBounds) {
  // Leaves of endpoints weft never saw are remembered too (bounded), and a
  // Join of a new endpoint is never refused because of them.
  for (size_t i = 0; i < kMaxLocalContainers + 10; ++i) vips_.left("gone" + std::to_string(i));
  EXPECT_TRUE(vips_.joined(kNet, "fresh", path("c1")).ok());
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  vips_.refresh();
  EXPECT_TRUE(table("c1").has_value());
}

TEST_F(VipManagerTest, AProgrammingFailureIsRetried) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  ASSERT_TRUE(vips_.joined(kNet, "ep1", path("c1")).ok());
  k_.failNext("setServiceVips", EIO);
  EXPECT_EQ(vips_.refresh().failed, 1u);
  EXPECT_FALSE(table("c1").has_value());
  EXPECT_EQ(vips_.refresh().programmed, 1u);
  EXPECT_TRUE(table("c1").has_value());
}

TEST(VipSandboxKey, PathsAreCheckedAndMappedIntoTheHostsRun) {
  EXPECT_EQ(*VipManager::mapSandboxKey("/var/run/docker/netns/abc", ""), "/var/run/docker/netns/abc");
  EXPECT_EQ(*VipManager::mapSandboxKey("/var/run/docker/netns/abc", "/host/run"),
            "/host/run/docker/netns/abc");
  EXPECT_EQ(*VipManager::mapSandboxKey("/run/docker/netns/abc", "/host/run"), "/host/run/docker/netns/abc");
  EXPECT_EQ(*VipManager::mapSandboxKey("/srv/x/netns/abc", "/host/run"), "/srv/x/netns/abc");
  EXPECT_EQ(VipManager::mapSandboxKey("", "").code(), EINVAL);
  EXPECT_EQ(VipManager::mapSandboxKey("relative/netns", "").code(), EINVAL);
  EXPECT_EQ(VipManager::mapSandboxKey("/var/run/../etc/x", "/host/run").code(), EINVAL);
  EXPECT_EQ(VipManager::mapSandboxKey("/var/run/docker/..", "").code(), EINVAL);
  EXPECT_EQ(VipManager::mapSandboxKey("/" + std::string(5000, 'a'), "").code(), EINVAL);
  EXPECT_TRUE(VipManager::mapSandboxKey("/var/run/docker/netns/a..b", "").ok());
}

TEST_F(VipManagerTest, AMalformedSandboxKeyIsRefusedAndChangesNothing) {
  EXPECT_EQ(vips_.joined(kNet, "ep1", "netns/x").code(), EINVAL);
  EXPECT_TRUE(vips_.view().empty());
}

TEST_F(VipManagerTest, LocalContainersAreBounded) {
  for (size_t i = 0; i < kMaxLocalContainers; ++i)
    ASSERT_TRUE(vips_.joined(kNet, "ep" + std::to_string(i), "/fake/netns/c" + std::to_string(i)).ok());
  EXPECT_EQ(vips_.joined(kNet, "one-more", path("c1")).code(), ENOSPC);
  EXPECT_TRUE(vips_.joined(kNet, "ep7", path("c1")).ok());  // a known endpoint may join anew
}

TEST_F(VipManagerTest, TheWorkerProgramsAJoinAtOnce) {
  services({{"web", ip("10.88.0.2"), {ip("10.88.0.3")}}});
  VipManager m(k_, engine_, VipConfig{std::chrono::milliseconds(60000), ""});
  m.start();
  ASSERT_TRUE(m.joined(kNet, "ep1", path("c1")).ok());
  for (int i = 0; i < 200 && !table("c1"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(table("c1").has_value()) << "not programmed within 2 s although the interval is 60 s";
  m.stop();
}

}  // namespace
}  // namespace weft::services
