// Every route of the plugin protocol, with good and bad input, through
// Api::handle (the same function the HTTP server calls).

#include "plugin/api.h"

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "common/json_depth.h"
#include "driver/driver.h"
#include "kernel/fake_kernel.h"
#include "plugin/decode.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using Json = nlohmann::json;

namespace {

const std::string kNid(64, 'a');
const std::string kEid(64, 'e');

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernel_ = std::make_unique<kernel::FakeKernel>(dir_ / "netns");
    driver::DriverConfig cfg;
    cfg.stateDir = dir_.path();
    driver_ = std::make_unique<driver::Driver>(cfg, *kernel_);
    ASSERT_TRUE(driver_->start().ok());
    api_ = std::make_unique<plugin::Api>(*driver_);
  }

  Json call(const std::string& path, const std::string& body, int wantStatus = 200) {
    auto r = api_->handle(path, body);
    EXPECT_EQ(r.status, wantStatus) << path << " " << r.body;
    auto j = Json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    return j;
  }
  Json call(const std::string& path, const Json& body) { return call(path, body.dump(), 200); }
  Json call(const std::string& path, const char* body) { return call(path, std::string(body), 200); }

  // Asserts the call failed with a message containing `mention`.
  void expectErr(const std::string& path, const std::string& body, const std::string& mention) {
    auto j = call(path, body);
    const char* field = path.rfind("/IpamDriver.", 0) == 0 ? "Error" : "Err";
    ASSERT_TRUE(j.contains(field)) << path << " " << body << " -> " << j.dump();
    EXPECT_NE(j[field].get<std::string>().find(mention), std::string::npos)
        << path << ": " << j[field].get<std::string>() << " lacks " << mention;
  }
  void expectOk(const Json& j) {
    EXPECT_FALSE(j.contains("Err")) << j.dump();
    EXPECT_FALSE(j.contains("Error")) << j.dump();
  }

  void createNetwork() {
    expectOk(
        call("/NetworkDriver.CreateNetwork",
             Json{{"NetworkID", kNid},
                  {"Options", {{"com.docker.network.generic", {{"mtu", "1400"}}}}},
                  {"IPv4Data",
                   {{{"AddressSpace", "weft-local"}, {"Pool", "10.10.0.0/24"}, {"Gateway", "10.10.0.1/24"}}}},
                  {"IPv6Data", nullptr}}));
  }
  void createEndpoint() {
    expectOk(
        call("/NetworkDriver.CreateEndpoint",
             Json{{"NetworkID", kNid}, {"EndpointID", kEid}, {"Interface", {{"Address", "10.10.0.2/24"}}}}));
  }
  // What a state snapshot looks like, to show a bad request changed nothing.
  std::string state() const {
    std::string s;
    for (const auto& n : driver_->networks()) s += n.id + ";";
    for (const auto& e : driver_->endpoints()) s += e.id + (e.joined ? "+" : "-") + ";";
    return s + std::to_string(driver_->discoveredNodes().size());
  }

  test::TempDir dir_;
  std::unique_ptr<kernel::FakeKernel> kernel_;
  std::unique_ptr<driver::Driver> driver_;
  std::unique_ptr<plugin::Api> api_;
};

}  // namespace

TEST_F(ApiTest, ActivateAndCapabilitiesAcceptEmptyBodies) {
  EXPECT_EQ(call("/Plugin.Activate", ""), Json::parse(R"({"Implements":["NetworkDriver","IpamDriver"]})"));
  auto caps = call("/NetworkDriver.GetCapabilities", "");
  EXPECT_EQ(caps["Scope"], "local");
  EXPECT_EQ(caps["ConnectivityScope"], "local");
  auto ipamCaps = call("/IpamDriver.GetCapabilities", "{}");
  EXPECT_EQ(ipamCaps["RequiresMACAddress"], false);
  EXPECT_EQ(ipamCaps["RequiresRequestReplay"], false);
  auto spaces = call("/IpamDriver.GetDefaultAddressSpaces", "");
  EXPECT_EQ(spaces["LocalDefaultAddressSpace"], "weft-local");
  EXPECT_EQ(spaces["GlobalDefaultAddressSpace"], "weft-global");
  expectErr("/Plugin.Activate", "{nope", "not valid JSON");
}

TEST_F(ApiTest, FullNetworkCycle) {
  createNetwork();
  auto ce = call("/NetworkDriver.CreateEndpoint",
                 Json{{"NetworkID", kNid},
                      {"EndpointID", kEid},
                      {"Interface", {{"Address", "10.10.0.2/24"}, {"AddressIPv6", ""}, {"MacAddress", ""}}},
                      {"Options", Json::object()}});
  ASSERT_TRUE(ce.contains("Interface"));
  EXPECT_EQ(ce["Interface"].size(), 1u);  // only the MAC, never the address
  EXPECT_EQ(ce["Interface"]["MacAddress"], "02:42:0a:0a:00:02");
  auto info = call("/NetworkDriver.EndpointOperInfo", Json{{"NetworkID", kNid}, {"EndpointID", kEid}});
  ASSERT_TRUE(info.contains("Value"));
  EXPECT_EQ(info["Value"]["weft.joined"], false);
  auto join = call("/NetworkDriver.Join", Json{{"NetworkID", kNid},
                                               {"EndpointID", kEid},
                                               {"SandboxKey", "/var/run/docker/netns/abc"},
                                               {"Options", nullptr}});
  EXPECT_EQ(join["InterfaceName"]["DstPrefix"], "eth");
  EXPECT_EQ(join["DisableGatewayService"], false);  // outside access through docker_gwbridge
  std::string src = join["InterfaceName"]["SrcName"];
  EXPECT_TRUE(kernel_->getLink("", src).ok()) << src;
  expectOk(call("/NetworkDriver.ProgramExternalConnectivity",
                Json{{"NetworkID", kNid}, {"EndpointID", kEid}, {"Options", Json::object()}}));
  expectOk(
      call("/NetworkDriver.RevokeExternalConnectivity", Json{{"NetworkID", kNid}, {"EndpointID", kEid}}));
  EXPECT_EQ(call("/NetworkDriver.Leave", Json{{"NetworkID", kNid}, {"EndpointID", kEid}}), Json::object());
  EXPECT_EQ(call("/NetworkDriver.Leave", Json{{"NetworkID", kNid}, {"EndpointID", kEid}}), Json::object());
  EXPECT_EQ(call("/NetworkDriver.DeleteEndpoint", Json{{"NetworkID", kNid}, {"EndpointID", kEid}}),
            Json::object());
  EXPECT_EQ(call("/NetworkDriver.DeleteEndpoint", Json{{"NetworkID", kNid}, {"EndpointID", kEid}}),
            Json::object());
  EXPECT_EQ(call("/NetworkDriver.DeleteNetwork", Json{{"NetworkID", kNid}}), Json::object());
  EXPECT_EQ(call("/NetworkDriver.DeleteNetwork", Json{{"NetworkID", kNid}}), Json::object());
  EXPECT_TRUE(driver_->networks().empty());
}

TEST_F(ApiTest, JoinDisablesTheGatewayServiceForInternalAndGwbridgeFalseNetworks) {
  // network id char -> (CreateNetwork options, DisableGatewayService wanted)
  struct Case {
    char id;
    Json options;
    bool disable;
  };
  const std::vector<Case> cases = {
      {'a', Json::object(), false},
      {'b', {{"com.docker.network.generic", {{"weft.gwbridge", "false"}}}}, true},
      {'c', {{"com.docker.network.internal", true}}, true},
      {'d',
       {{"com.docker.network.internal", false}, {"com.docker.network.generic", {{"weft.gwbridge", "true"}}}},
       false},
  };
  int subnet = 1;
  for (const auto& c : cases) {
    const std::string nid(64, c.id), eid(64, static_cast<char>(c.id + 16));
    const std::string pfx = "10." + std::to_string(subnet++) + ".0.";
    expectOk(
        call("/NetworkDriver.CreateNetwork",
             Json{{"NetworkID", nid},
                  {"Options", c.options},
                  {"IPv4Data",
                   {{{"AddressSpace", "weft-local"}, {"Pool", pfx + "0/24"}, {"Gateway", pfx + "1/24"}}}}}));
    expectOk(call("/NetworkDriver.CreateEndpoint",
                  Json{{"NetworkID", nid}, {"EndpointID", eid}, {"Interface", {{"Address", pfx + "2/24"}}}}));
    auto join =
        call("/NetworkDriver.Join", Json{{"NetworkID", nid}, {"EndpointID", eid}, {"SandboxKey", "/k"}});
    ASSERT_TRUE(join.contains("DisableGatewayService")) << join.dump();
    EXPECT_EQ(join["DisableGatewayService"], c.disable) << c.id << ": " << join.dump();
  }
  auto nets = call("/weft.Networks", "");
  ASSERT_EQ(nets["networks"].size(), cases.size());
  for (const auto& n : nets["networks"]) {
    char c = n["id"].get<std::string>()[0];
    EXPECT_EQ(n["gwbridge"], c == 'a' || c == 'd') << n.dump();
    EXPECT_EQ(n["internal"], c == 'c') << n.dump();
  }
  // --internal together with weft.gwbridge=true is refused, naming both.
  expectErr("/NetworkDriver.CreateNetwork",
            Json{{"NetworkID", std::string(64, 'f')},
                 {"Options",
                  {{"com.docker.network.internal", true},
                   {"com.docker.network.generic", {{"weft.gwbridge", "true"}}}}},
                 {"IPv4Data", {{{"Pool", "10.9.0.0/24"}, {"Gateway", "10.9.0.1/24"}}}}}
                .dump(),
            "weft.gwbridge=true contradicts --internal");
  expectErr("/NetworkDriver.CreateNetwork",
            Json{{"NetworkID", std::string(64, 'f')},
                 {"Options", {{"com.docker.network.generic", {{"weft.gwbridge", "maybe"}}}}}}
                .dump(),
            "option weft.gwbridge=\"maybe\"");
  EXPECT_EQ(driver_->networks().size(), cases.size());
}

TEST_F(ApiTest, CreateNetworkBadInput) {
  const std::string p = "/NetworkDriver.CreateNetwork";
  expectErr(p, "", "empty");
  expectErr(p, "[1,2]", "JSON object");
  expectErr(p, "{\"NetworkID\":", "not valid JSON");
  expectErr(p, "{}", "missing field \"NetworkID\"");
  expectErr(p, R"({"NetworkID":42})", "must be a string");
  expectErr(p, R"({"NetworkID":"short"})", "not a valid ID");
  expectErr(p, Json{{"NetworkID", kNid}, {"Options", "x"}}.dump(), "\"Options\" must be an object");
  expectErr(p, Json{{"NetworkID", kNid}, {"Options", {{"com.docker.network.generic", {{"mtu", 5}}}}}}.dump(),
            "\"mtu\" must be a string");
  expectErr(
      p, Json{{"NetworkID", kNid}, {"Options", {{"com.docker.network.generic", {{"colour", "red"}}}}}}.dump(),
      "unknown option \"colour\"");
  expectErr(p, Json{{"NetworkID", kNid}, {"Options", {{"com.docker.network.enable_ipv6", "yes"}}}}.dump(),
            "enable_ipv6");
  expectErr(p, Json{{"NetworkID", kNid}, {"IPv4Data", {{{"Gateway", "10.0.0.1/24"}}}}}.dump(),
            "IPv4Data[0]: missing field \"Pool\"");
  expectErr(p, Json{{"NetworkID", kNid}, {"IPv4Data", {{{"Pool", "10.0.0.0/33"}}}}}.dump(),
            "not a valid CIDR");
  expectErr(
      p,
      Json{{"NetworkID", kNid}, {"IPv4Data", {{{"Pool", "10.0.0.0/24"}, {"Gateway", "10.1.0.1/24"}}}}}.dump(),
      "Gateway");
  expectErr(p, Json{{"NetworkID", kNid}, {"IPv4Data", 7}}.dump(), "must be a list");
  EXPECT_TRUE(driver_->networks().empty());
}

TEST_F(ApiTest, AllocateAndFreeNetwork) {
  auto a = call(
      "/NetworkDriver.AllocateNetwork",
      Json{{"NetworkID", kNid}, {"Options", {{"mtu", "1400"}}}, {"IPv4Data", {{{"Pool", "10.0.0.0/24"}}}}});
  EXPECT_EQ(a["Options"]["mtu"], "1400");
  EXPECT_TRUE(a["Options"].contains("vni"));
  auto b = call(
      "/NetworkDriver.AllocateNetwork",
      Json{{"NetworkID", kNid}, {"Options", {{"mtu", "1400"}}}, {"IPv4Data", {{{"Pool", "10.0.0.0/24"}}}}});
  EXPECT_EQ(a, b);
  expectErr("/NetworkDriver.AllocateNetwork", Json{{"NetworkID", kNid}, {"Options", {{"nope", "1"}}}}.dump(),
            "nope");
  expectErr("/NetworkDriver.AllocateNetwork", "{}", "NetworkID");
  expectOk(call("/NetworkDriver.FreeNetwork", Json{{"NetworkID", kNid}}));
  expectErr("/NetworkDriver.FreeNetwork", "", "empty");
  expectErr("/NetworkDriver.FreeNetwork", R"({"NetworkID":true})", "must be a string");
}

TEST_F(ApiTest, EndpointCallsBadInputChangeNothing) {
  createNetwork();
  createEndpoint();
  const auto before = state();
  for (const std::string p :
       {"/NetworkDriver.CreateEndpoint", "/NetworkDriver.DeleteEndpoint", "/NetworkDriver.Join",
        "/NetworkDriver.Leave", "/NetworkDriver.EndpointOperInfo",
        "/NetworkDriver.ProgramExternalConnectivity", "/NetworkDriver.RevokeExternalConnectivity"}) {
    expectErr(p, "", "empty");
    expectErr(p, "nope", "not valid JSON");
    expectErr(p, "{}", "missing field \"NetworkID\"");
    expectErr(p, Json{{"NetworkID", kNid}}.dump(), "missing field \"EndpointID\"");
    expectErr(p, Json{{"NetworkID", kNid}, {"EndpointID", 1}}.dump(), "must be a string");
    expectErr(p, Json{{"NetworkID", kNid}, {"EndpointID", "../../x"}}.dump(), "not a valid ID");
  }
  const std::string unknown(64, 'f');
  expectErr("/NetworkDriver.Join", Json{{"NetworkID", kNid}, {"EndpointID", unknown}}.dump(), "not found");
  expectErr("/NetworkDriver.Join", Json{{"NetworkID", unknown}, {"EndpointID", kEid}}.dump(), "not found");
  expectErr("/NetworkDriver.EndpointOperInfo", Json{{"NetworkID", kNid}, {"EndpointID", unknown}}.dump(),
            "not found");
  expectErr("/NetworkDriver.ProgramExternalConnectivity",
            Json{{"NetworkID", kNid}, {"EndpointID", unknown}}.dump(), "not found");
  expectErr(
      "/NetworkDriver.CreateEndpoint",
      Json{{"NetworkID", unknown}, {"EndpointID", unknown}, {"Interface", {{"Address", "10.10.0.9/24"}}}}
          .dump(),
      "not found");
  expectErr("/NetworkDriver.CreateEndpoint",
            Json{{"NetworkID", kNid}, {"EndpointID", unknown}, {"Interface", {{"Address", "banana"}}}}.dump(),
            "not an IPv4 CIDR");
  expectErr("/NetworkDriver.CreateEndpoint",
            Json{{"NetworkID", kNid},
                 {"EndpointID", unknown},
                 {"Interface", {{"Address", "10.10.0.9/24"}, {"MacAddress", "zz"}}}}
                .dump(),
            "MacAddress");
  expectErr("/NetworkDriver.CreateEndpoint",
            Json{{"NetworkID", kNid}, {"EndpointID", unknown}, {"Interface", "x"}}.dump(),
            "\"Interface\" must be an object");
  expectErr(
      "/NetworkDriver.CreateEndpoint",
      Json{{"NetworkID", kNid}, {"EndpointID", unknown}, {"Interface", {{"Address", "10.10.0.2/24"}}}}.dump(),
      "already used");
  expectErr("/NetworkDriver.DeleteNetwork", Json{{"NetworkID", kNid}}.dump(), "endpoint");
  EXPECT_EQ(state(), before);
}

TEST_F(ApiTest, Discovery) {
  auto body = [](int type, Json data) { return Json{{"DiscoveryType", type}, {"DiscoveryData", data}}; };
  expectOk(call("/NetworkDriver.DiscoverNew",
                body(1, {{"Address", "198.18.0.2"}, {"BindAddress", "198.18.0.2"}, {"Self", false}})));
  expectOk(call("/NetworkDriver.DiscoverNew", body(1, {{"Address", "198.18.0.1"}, {"Self", true}})));
  EXPECT_EQ(driver_->discoveredNodes(), (std::set<std::string>{"198.18.0.2"}));  // self is no seed
  EXPECT_EQ(driver_->swarmAddress(), "198.18.0.1");
  EXPECT_EQ(call("/weft.Status", "")["swarmAddress"], "198.18.0.1");
  expectOk(call("/NetworkDriver.DiscoverNew", body(2, {{"anything", 1}})));  // not node discovery: ignored
  expectErr("/NetworkDriver.DiscoverNew", body(1, {{"Address", "not-an-ip"}}).dump(), "not an IP");
  expectErr("/NetworkDriver.DiscoverNew", Json{{"DiscoveryType", "1"}}.dump(), "must be an integer");
  expectErr("/NetworkDriver.DiscoverNew", body(1, "x").dump(), "must be an object");
  expectErr("/NetworkDriver.DiscoverDelete", body(1, Json::object()).dump(), "Address");
  expectOk(call("/NetworkDriver.DiscoverDelete", body(1, {{"Address", "198.18.0.2"}})));
  EXPECT_TRUE(driver_->discoveredNodes().empty());
  expectOk(call("/NetworkDriver.DiscoverDelete", body(1, {{"Address", "198.18.0.1"}, {"Self", true}})));
  EXPECT_EQ(driver_->swarmAddress(), "");
}

TEST_F(ApiTest, IpamCycleAndErrorsUseTheErrorField) {
  auto pool = call("/IpamDriver.RequestPool", Json{{"AddressSpace", "weft-local"},
                                                   {"Pool", "10.20.0.0/24"},
                                                   {"SubPool", ""},
                                                   {"Options", nullptr},
                                                   {"V6", false}});
  std::string pid = pool["PoolID"];
  EXPECT_EQ(pool["Pool"], "10.20.0.0/24");
  EXPECT_TRUE(pool["Data"].is_object());
  auto gw = call("/IpamDriver.RequestAddress",
                 Json{{"PoolID", pid},
                      {"Address", ""},
                      {"Options", {{"RequestAddressType", "com.docker.network.gateway"}}}});
  EXPECT_EQ(gw["Address"], "10.20.0.1/24");
  auto a = call("/IpamDriver.RequestAddress", Json{{"PoolID", pid}});
  EXPECT_EQ(a["Address"], "10.20.0.2/24");
  auto want = call("/IpamDriver.RequestAddress", Json{{"PoolID", pid}, {"Address", "10.20.0.50"}});
  EXPECT_EQ(want["Address"], "10.20.0.50/24");
  expectErr("/IpamDriver.RequestAddress", Json{{"PoolID", pid}, {"Address", "10.20.0.50"}}.dump(),
            "already allocated");
  expectErr("/IpamDriver.RequestAddress", Json{{"PoolID", "nope"}}.dump(), "unknown PoolID");
  expectErr("/IpamDriver.RequestAddress",
            Json{{"PoolID", pid}, {"Options", {{"RequestAddressType", 3}}}}.dump(), "must be a string");
  expectErr("/IpamDriver.RequestAddress", "{}", "missing field \"PoolID\"");
  expectOk(call("/IpamDriver.ReleaseAddress", Json{{"PoolID", pid}, {"Address", "10.20.0.50"}}));
  expectErr("/IpamDriver.ReleaseAddress", Json{{"PoolID", pid}}.dump(), "missing field \"Address\"");
  expectErr("/IpamDriver.ReleaseAddress", Json{{"PoolID", pid}, {"Address", "10.99.0.1"}}.dump(),
            "outside pool");
  expectErr("/IpamDriver.RequestPool", Json{{"Pool", "10.20.0.0/99"}}.dump(), "not a valid CIDR");
  expectErr("/IpamDriver.RequestPool", Json{{"Pool", "10.20.0.0/24"}, {"V6", "no"}}.dump(), "true or false");
  expectErr("/IpamDriver.RequestPool", "", "empty");
  expectOk(call("/IpamDriver.ReleasePool", Json{{"PoolID", pid}}));
  expectErr("/IpamDriver.ReleasePool", Json{{"PoolID", pid}}.dump(), "unknown PoolID");
  expectErr("/IpamDriver.ReleasePool", "{}", "PoolID");
}

TEST_F(ApiTest, UnknownPathsAndOversizedBodies) {
  auto j = call("/NetworkDriver.Frobnicate", "{}", 404);
  EXPECT_NE(j["Err"].get<std::string>().find("Frobnicate"), std::string::npos);
  auto i = call("/IpamDriver.Nope", "{}", 404);
  EXPECT_TRUE(i.contains("Error"));
  std::string big = "{\"NetworkID\":\"" + std::string(plugin::kMaxBodyBytes, 'a') + "\"}";
  auto b = call("/NetworkDriver.CreateNetwork", big, 413);
  EXPECT_NE(b["Err"].get<std::string>().find("1 MiB"), std::string::npos);
  EXPECT_TRUE(driver_->networks().empty());
}

// Deeply nested JSON is refused on the text, before a tree is built: a tree
// 100k levels deep overflowed the stack when copied (issue 10 finding 4).
TEST_F(ApiTest, DeeplyNestedBodiesAreRefusedNamingTheLimit) {
  const size_t deep = 100000;
  std::string arrays = std::string(deep, '[') + std::string(deep, ']');
  std::string objects;
  for (size_t i = 0; i < deep; ++i) objects += "{\"a\":";
  objects += "1" + std::string(deep, '}');
  const std::string limit = std::to_string(plugin::kMaxJsonDepth) + " levels";
  auto refused = [&](const std::string& path, const std::string& body) {  // (bodies too big to print)
    auto r = api_->handle(path, body);
    EXPECT_EQ(r.status, 200) << path;
    auto j = Json::parse(r.body, nullptr, false);
    const char* field = path.rfind("/IpamDriver.", 0) == 0 ? "Error" : "Err";
    ASSERT_TRUE(j.is_object() && j.contains(field)) << path << " -> " << r.body.substr(0, 200);
    EXPECT_NE(j[field].get<std::string>().find(limit), std::string::npos) << path << ": " << j[field];
  };
  for (const std::string& inner : {arrays, objects}) {
    refused("/NetworkDriver.CreateNetwork",
            "{\"NetworkID\":\"" + kNid + "\",\"Options\":{\"x\":" + inner + "}}");
    refused("/NetworkDriver.CreateEndpoint",
            "{\"NetworkID\":\"" + kNid + "\",\"EndpointID\":\"" + kEid + "\",\"Interface\":" + inner + "}");
    refused("/NetworkDriver.Join", "{\"NetworkID\":\"" + kNid + "\",\"Options\":" + inner + "}");
    refused("/IpamDriver.RequestPool", "{\"Options\":" + inner + "}");
    refused("/Plugin.Activate", inner);
    refused("/NetworkDriver.GetCapabilities", "{\"x\":" + inner + "}");
  }
  EXPECT_TRUE(driver_->networks().empty());
  EXPECT_TRUE(driver_->endpoints().empty());
}

TEST_F(ApiTest, NestingUpToTheLimitIsDecodedAsUsual) {
  auto nested = [](size_t levels) {  // `levels` arrays/objects in all, the body's own included
    return "{\"NetworkID\":" + std::string(levels - 1, '[') + std::string(levels - 1, ']') + "}";
  };
  expectErr("/NetworkDriver.FreeNetwork", nested(plugin::kMaxJsonDepth), "must be a string");
  expectErr("/NetworkDriver.FreeNetwork", nested(plugin::kMaxJsonDepth + 1),
            std::to_string(plugin::kMaxJsonDepth) + " levels");
  // Brackets inside strings are not nesting.
  EXPECT_EQ(weft::jsonDepth(R"({"a":"[[[{{{\"[[["})", 10), 1u);
  EXPECT_EQ(weft::jsonDepth(R"([[1],[[2]]])", 10), 3u);
  EXPECT_EQ(weft::jsonDepth(std::string(1000, '['), 10), 11u);
}

TEST_F(ApiTest, DataPlaneProblemsAreInStatusAndEachPeerHostInPeers) {
  auto off = call("/weft.Peers", "{}");
  EXPECT_EQ(off["dataPlane"]["probing"], false);

  driver::ProberConfig pc;
  pc.net = {4095, 4789, "198.18.0.1"};
  auto now = std::chrono::system_clock::now();
  driver::Prober prober(*kernel_, pc, [&] { return now; });
  kernel_->setRemoteVtep("198.18.0.2", 1500);  // answers; 198.18.0.3 does not
  prober.setGossipStates({{"198.18.0.3", "alive"}});
  for (int i = 0; i < 3; ++i) prober.round({{"198.18.0.2", 1450}, {"198.18.0.3", 1450}});
  api_->setProber(&prober);

  auto st = call("/weft.Status", "{}");
  ASSERT_EQ(st["problems"].size(), 1u) << st.dump();
  EXPECT_EQ(st["problems"][0]["kind"], "dataplane");
  EXPECT_EQ(st["problems"][0]["peer"], "198.18.0.3");
  EXPECT_NE(st["problems"][0]["message"].get<std::string>().find("fails while gossip reaches it"),
            std::string::npos);
  auto peers = call("/weft.Peers", "{}");
  const Json& dp = peers["dataPlane"];
  EXPECT_EQ(dp["probing"], true);
  ASSERT_EQ(dp["peers"].size(), 2u);
  EXPECT_EQ(dp["peers"][0]["vtep"], "198.18.0.2");
  EXPECT_EQ(dp["peers"][0]["state"], "ok");
  EXPECT_EQ(dp["peers"][0]["mtu"], 1450);
  EXPECT_TRUE(dp["peers"][0].contains("lastSuccessAgoMs"));
  EXPECT_EQ(dp["peers"][1]["state"], "vxlan-fails");
  EXPECT_FALSE(dp["peers"][1].contains("lastSuccessAgoMs"));
}

TEST_F(ApiTest, EncryptedNetworkRefusedOverTheProtocolWithTheReasonAndCryptoSaysOff) {
  // No encrypted plane (as with the fake kernel or no cluster key): refused
  // at creation, over the same {"Err": ...} Docker shows the user.
  driver_->setEncryptedPlane(nullptr, "this host has no cluster key");
  api_->setCryptoStatus(nullptr, "this host has no cluster key");
  const std::string before = state();
  expectErr("/NetworkDriver.CreateNetwork",
            Json{{"NetworkID", kNid},
                 {"Options", {{"com.docker.network.generic", {{"encrypted", ""}}}}},
                 {"IPv4Data", {{{"Pool", "10.10.0.0/24"}, {"Gateway", "10.10.0.1/24"}}}}}
                .dump(),
            "no cluster key");
  expectErr("/NetworkDriver.AllocateNetwork",
            Json{{"NetworkID", kNid}, {"Options", {{"encrypted", ""}, {"weft.crypto", "foo"}}}}.dump(),
            "weft.crypto=\"foo\"");
  EXPECT_EQ(state(), before);
  auto c = call("/weft.Crypto", "{}");
  EXPECT_EQ(c["backend"], "off");
  EXPECT_EQ(c["reason"], "this host has no cluster key");
  expectErr("/weft.CryptoRotate", "{}", "encrypted networks are off: this host has no cluster key");
}

// Kernel drift that weft repaired and sidecar restarts are notices in
// /weft.Status (weftctl check shows them without failing); a sandbox that
// cannot be repaired is a problem.
TEST_F(ApiTest, RepairedDriftAndSidecarRestartsAreNoticesAnUnrepairableSandboxAProblem) {
  auto st = call("/weft.Status", "{}");
  EXPECT_TRUE(st["notices"].empty()) << st.dump();
  EXPECT_EQ(st["selfHealing"]["on"], true);
  EXPECT_EQ(st["selfHealing"]["corrections"], 0);
  driver::CreateNetworkRequest r;
  r.networkId = std::string(64, 'd');
  r.ipv4.push_back({"", "10.30.0.0/24", "10.30.0.1/24", {}});
  ASSERT_TRUE(driver_->createNetwork(r).ok());
  ASSERT_EQ(driver_->selfHeal(), 0u);
  const auto n = driver_->networks().at(0);
  ASSERT_TRUE(kernel_->setLinkUp(n.netns, n.vxlanName, false).ok());
  ASSERT_EQ(driver_->selfHeal(), 1u);
  st = call("/weft.Status", "{}");
  ASSERT_EQ(st["notices"].size(), 1u) << st.dump();
  EXPECT_EQ(st["notices"][0]["kind"], "drift");
  EXPECT_NE(st["notices"][0]["message"].get<std::string>().find("set " + n.vxlanName + " up"),
            std::string::npos);
  EXPECT_EQ(st["selfHealing"]["corrections"], 1);
  EXPECT_EQ(st["selfHealing"]["last"]["network"], n.id);
  EXPECT_EQ(st["selfHealing"]["byTableAndAction"]["link/up"], 1);
  EXPECT_TRUE(st["problems"].empty()) << st.dump();

  api_->setSidecarRestarts([] { return uint64_t{2}; });
  st = call("/weft.Status", "{}");
  ASSERT_EQ(st["notices"].size(), 2u) << st.dump();
  EXPECT_EQ(st["notices"][1]["kind"], "sidecar");
  EXPECT_EQ(st["notices"][1]["restarts"], 2);

  // br0 gone and cannot be made again: a problem until it can.
  ASSERT_TRUE(kernel_->deleteLink(n.netns, "br0").ok());
  kernel_->failNext("createBridge", EPERM);
  driver_->selfHeal();
  st = call("/weft.Status", "{}");
  ASSERT_EQ(st["problems"].size(), 1u) << st.dump();
  EXPECT_EQ(st["problems"][0]["kind"], "drift");
  EXPECT_EQ(st["problems"][0]["network"], n.id);
  driver_->selfHeal();  // the fault is gone: repaired
  st = call("/weft.Status", "{}");
  EXPECT_TRUE(st["problems"].empty()) << st.dump();
  EXPECT_TRUE(kernel_->getLink(n.netns, "br0").ok());
}
