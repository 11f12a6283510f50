// PluginBinary: the real weft-plugin binary (--fake-kernel) in a temporary
// directory, and the Docker calls its tests make over the unix socket
// (plugin_binary_test.cc: lifecycle, state, weftctl, logs;
// plugin_request_limits_test.cc: the HTTP server's limits). One fixture type
// for both files: gtest requires a test suite's tests to share their fixture.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/json_file.h"
#include "common/unix_http_client.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace weft::test {

using Json = nlohmann::json;

inline const std::string kNid(64, 'a');

inline std::string eid(int i) {
  // Docker's IDs are random hex; what matters is a distinct prefix.
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (i + 1) * 0x9e3779b97f4a7c15ull);
  return std::string(buf) + std::string(48, 'e');
}

class PluginBinary : public ::testing::Test {
 protected:
  std::string sock() const { return dir_ / "weft.sock"; }
  std::string log() const { return dir_ / "plugin.log"; }

  void startPlugin(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {WEFT_PLUGIN_BIN, "--fake-kernel", "--socket",
                                     sock(),          "--state-dir",   dir_ / "state"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc_ = std::make_unique<ChildProcess>(argv, log());
    client_ = std::make_unique<UnixHttpClient>(sock(), 2000);
    for (int i = 0; i < 300; ++i) {
      if (!proc_->running()) break;
      UnixHttpClient probe(sock(), 500);
      if (probe.post("/Plugin.Activate", "{}").ok()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "weft-plugin did not start; log:\n" << logText();
  }

  std::string logText() const {
    auto t = readFile(log());
    return t.ok() ? *t : std::string("(no log)");
  }

  Json call(const std::string& path, const Json& body) {
    auto r = client_->post(path, body.dump());
    EXPECT_TRUE(r.ok()) << path << ": " << (r.ok() ? "" : r.error().message);
    if (!r.ok()) return Json{{"Err", "transport"}};
    EXPECT_EQ(r->status, 200) << path << " " << r->body;
    EXPECT_EQ(r->contentType, "application/vnd.docker.plugins.v1+json");
    return Json::parse(r->body, nullptr, false);
  }
  void ok(const std::string& path, const Json& body) {
    auto j = call(path, body);
    EXPECT_FALSE(j.contains("Err") || j.contains("Error")) << path << ": " << j.dump();
  }

  // The calls Docker makes for `docker network create -d weft --ipam-driver weft`.
  std::string createNetwork() {
    auto pool = call("/IpamDriver.RequestPool",
                     {{"AddressSpace", "weft-local"}, {"Pool", "10.10.0.0/24"}, {"V6", false}});
    std::string pid = pool["PoolID"];
    auto gw = call("/IpamDriver.RequestAddress",
                   {{"PoolID", pid}, {"Options", {{"RequestAddressType", "com.docker.network.gateway"}}}});
    ok("/NetworkDriver.CreateNetwork",
       {{"NetworkID", kNid},
        {"Options",
         {{"com.docker.network.generic", Json::object()}, {"com.docker.network.enable_ipv6", false}}},
        {"IPv4Data",
         {{{"AddressSpace", "weft-local"}, {"Pool", "10.10.0.0/24"}, {"Gateway", gw["Address"]}}}}});
    return pid;
  }
  // `docker run --network`: address, endpoint, join.
  std::string runContainer(const std::string& pool, int i) {
    auto a = call("/IpamDriver.RequestAddress", {{"PoolID", pool}});
    std::string addr = a["Address"];
    auto ce = call("/NetworkDriver.CreateEndpoint",
                   {{"NetworkID", kNid}, {"EndpointID", eid(i)}, {"Interface", {{"Address", addr}}}});
    EXPECT_TRUE(ce["Interface"].contains("MacAddress")) << ce.dump() << " addr=" << addr;
    auto j = call("/NetworkDriver.Join", {{"NetworkID", kNid},
                                          {"EndpointID", eid(i)},
                                          {"SandboxKey", "/var/run/docker/netns/c" + std::to_string(i)}});
    EXPECT_EQ(j["InterfaceName"]["DstPrefix"], "eth");
    EXPECT_FALSE(j["InterfaceName"]["SrcName"].get<std::string>().empty());
    return addr;
  }
  void stopContainer(const std::string& pool, int i, const std::string& addr) {
    ok("/NetworkDriver.Leave", {{"NetworkID", kNid}, {"EndpointID", eid(i)}});
    ok("/NetworkDriver.DeleteEndpoint", {{"NetworkID", kNid}, {"EndpointID", eid(i)}});
    ok("/IpamDriver.ReleaseAddress", {{"PoolID", pool}, {"Address", addr}});
  }

  TempDir dir_{"weft-bin"};
  std::unique_ptr<ChildProcess> proc_;
  std::unique_ptr<UnixHttpClient> client_;
};

}  // namespace weft::test
