// METRICS_ADDR end to end on the real binaries: two weft-plugin processes
// (fake kernel) on loopback, gossiping with each other through their real
// weft-gossip sidecars; one serves /metrics on 127.0.0.1:<free port>. A
// scrape has every family, counters move with the calls made and the gossip
// traffic, and Prometheus' own parser (promtool check metrics) accepts the
// output. A METRICS_ADDR that is malformed or cannot be had stops the start
// with a clear error before anything is touched. And LOG_FORMAT=json: every
// line both processes write is a JSON object with its fields.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "common/json_file.h"
#include "common/unix_http_client.h"
#include "tests/support/loopback.h"
#include "tests/support/metrics_text.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

using Json = nlohmann::json;
using namespace weft;

namespace {

const std::string kKey = std::string(64, 'a');  // hex: 32 bytes

// GET /metrics: the body of a 200, or "".
std::string scrape(uint16_t port) {
  auto out = test::httpGet(port, "/metrics");
  auto body = out.find("\r\n\r\n");
  return out.size() > 12 && out.substr(9, 3) == "200" && body != std::string::npos ? out.substr(body + 4)
                                                                                   : "";
}

using test::sampleValue;

class PluginMetrics : public ::testing::Test {
 protected:
  struct Host {
    std::string addr;
    std::unique_ptr<test::ChildProcess> proc;
    std::string sock, log;
  };

  // weft-plugin at `addr` (127.0.0.x) with the shared gossip port; `extra`
  // flags after the usual ones.
  std::unique_ptr<test::ChildProcess> launch(const std::string& name, const std::string& addr,
                                             std::vector<std::string> extra) {
    std::vector<std::string> argv = {"/usr/bin/env",     "WEFT_KEY=" + kKey,
                                     WEFT_PLUGIN_BIN,    "--fake-kernel",
                                     "--socket",         dir_ / (name + ".sock"),
                                     "--state-dir",      dir_ / (name + "-state"),
                                     "--advertise-addr", addr,
                                     "--gossip-port",    std::to_string(gossipPort_)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<test::ChildProcess>(argv, dir_ / (name + ".log"));
  }
  bool waitServing(test::ChildProcess& p, const std::string& name) {
    for (int i = 0; i < 500; ++i) {
      if (!p.running()) return false;
      UnixHttpClient probe(dir_ / (name + ".sock"), 500);
      if (probe.post("/Plugin.Activate", "{}").ok()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::string logOf(const std::string& name) const {
    auto t = readFile(dir_ / (name + ".log"));
    return t.ok() ? *t : std::string("(no log)");
  }
  Json call(const std::string& name, const std::string& path, const Json& body) {
    UnixHttpClient c(dir_ / (name + ".sock"), 5000);
    auto r = c.post(path, body.dump());
    EXPECT_TRUE(r.ok()) << path;
    return r.ok() ? Json::parse(r->body, nullptr, false) : Json();
  }

  test::TempDir dir_{"weft-metrics-bin"};
  uint16_t gossipPort_ = test::freePort();
};

TEST_F(PluginMetrics, ScrapeHasEveryFamilyCountersMoveAndPromtoolAcceptsIt) {
  ASSERT_NE(gossipPort_, 0);
  uint16_t metricsPort = test::freePort();
  ASSERT_NE(metricsPort, 0);
  auto a = launch("a", "127.0.0.1",
                  {"--metrics-addr", "127.0.0.1:" + std::to_string(metricsPort), "--peers", "127.0.0.2"});
  auto b = launch("b", "127.0.0.2", {"--peers", "127.0.0.1"});
  ASSERT_TRUE(waitServing(*a, "a")) << logOf("a");
  ASSERT_TRUE(waitServing(*b, "b")) << logOf("b");

  auto before = scrape(metricsPort);
  ASSERT_FALSE(before.empty()) << logOf("a");
  double activations = sampleValue(before, R"(weft_requests_total{call="Plugin.Activate",result="ok"})");
  EXPECT_GE(activations, 1);

  // A network with an endpoint on each host, so the sidecars gossip records.
  const std::string nid(64, 'c');
  for (const auto& [h, ip, ep] : {std::tuple{"a", "10.30.0.2/24", std::string(64, '1')},
                                  std::tuple{"b", "10.30.0.3/24", std::string(64, '2')}}) {
    auto pool =
        call(h, "/IpamDriver.RequestPool", {{"AddressSpace", "weft-global"}, {"Pool", "10.30.0.0/24"}});
    EXPECT_FALSE(pool.contains("Error")) << pool.dump();
    auto net = call(h, "/NetworkDriver.CreateNetwork",
                    {{"NetworkID", nid},
                     {"Options", {{"com.docker.network.generic", Json::object()}}},
                     {"IPv4Data", {{{"AddressSpace", "weft-global"}, {"Pool", "10.30.0.0/24"}}}}});
    EXPECT_FALSE(net.contains("Err")) << net.dump();
    auto ce = call(h, "/NetworkDriver.CreateEndpoint",
                   {{"NetworkID", nid}, {"EndpointID", ep}, {"Interface", {{"Address", ip}}}});
    EXPECT_FALSE(ce.contains("Err")) << ce.dump();
    auto j = call(h, "/NetworkDriver.Join", {{"NetworkID", nid}, {"EndpointID", ep}, {"SandboxKey", "/x"}});
    EXPECT_FALSE(j.contains("Err")) << j.dump();
  }
  auto bad = call("a", "/NetworkDriver.Join", {{"NetworkID", nid}});  // no EndpointID: an error
  EXPECT_TRUE(bad.contains("Err"));

  // Wait for the hosts to meet and a's host to learn b's endpoint.
  std::string after;
  for (int i = 0; i < 100; ++i) {
    after = scrape(metricsPort);
    if (sampleValue(after, R"(weft_endpoints{location="remote"})") == 1 &&
        sampleValue(after, R"(weft_gossip_members{state="alive"})") == 1)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_FALSE(after.empty());
  for (const char* family : {"weft_build_info",
                             "weft_requests_total",
                             "weft_request_duration_seconds",
                             "weft_networks",
                             "weft_networks_faulted",
                             "weft_endpoints",
                             "weft_ipam_pool_capacity_addresses",
                             "weft_ipam_pool_allocated_addresses",
                             "weft_kernel_peer_operations_total",
                             "weft_kernel_peer_retries_total",
                             "weft_sidecar_up",
                             "weft_sidecar_restarts_total",
                             "weft_sidecar_messages_refused_total",
                             "weft_sidecar_records_dropped_total",
                             "weft_gossip_members",
                             "weft_gossip_packets_total",
                             "weft_gossip_bytes_total",
                             "weft_gossip_packets_refused_total",
                             "weft_gossip_records_applied_total",
                             "weft_gossip_auth_failures_total",
                             "weft_gossip_messages_total",
                             "weft_gossip_suspicions_total",
                             "weft_gossip_refutations_total",
                             "weft_gossip_dead_declared_total",
                             "weft_gossip_probes_total"})
    EXPECT_NE(after.find(std::string("# TYPE ") + family + " "), std::string::npos) << family << "\n"
                                                                                    << after;
  EXPECT_EQ(sampleValue(after, R"(weft_build_info{version="0.1.0"})"), 1);
  EXPECT_EQ(sampleValue(after, R"(weft_requests_total{call="Plugin.Activate",result="ok"})"), activations);
  EXPECT_EQ(sampleValue(after, R"(weft_requests_total{call="NetworkDriver.Join",result="ok"})"), 1);
  EXPECT_EQ(sampleValue(after, R"(weft_requests_total{call="NetworkDriver.Join",result="error"})"), 1);
  EXPECT_EQ(sampleValue(after, R"(weft_request_duration_seconds_count{call="NetworkDriver.CreateNetwork"})"),
            1);
  EXPECT_EQ(sampleValue(after, "weft_networks"), 1);
  EXPECT_EQ(sampleValue(after, R"(weft_endpoints{location="local"})"), 1);
  EXPECT_EQ(sampleValue(after, R"(weft_endpoints{location="remote"})"), 1) << logOf("a") << logOf("b");
  EXPECT_EQ(
      sampleValue(after,
                  R"(weft_ipam_pool_allocated_addresses{pool="10.30.0.0/24",address_space="weft-global"})"),
      0);  // the address came with the request, not from weft's IPAM
  EXPECT_EQ(sampleValue(after, "weft_sidecar_up"), 1);
  EXPECT_EQ(sampleValue(after, R"(weft_gossip_members{state="alive"})"), 1);
  EXPECT_GT(sampleValue(after, R"(weft_gossip_packets_total{direction="sent"})"), 0);
  EXPECT_GT(sampleValue(after, R"(weft_gossip_bytes_total{direction="received"})"), 0);
  EXPECT_GE(sampleValue(after, "weft_gossip_records_applied_total"), 1);
  EXPECT_GT(sampleValue(after, R"(weft_gossip_messages_total{type="sync",direction="sent"})"),
            0);  // the join
  EXPECT_GT(sampleValue(after, R"(weft_gossip_messages_total{type="sync",direction="received"})"), 0);
  EXPECT_GE(sampleValue(after, R"(weft_gossip_messages_total{type="record",direction="received"})"), 0);
  EXPECT_EQ(sampleValue(after, "weft_gossip_refutations_total"), 0);
  EXPECT_GE(sampleValue(after, R"(weft_kernel_peer_operations_total{result="ok"})"),
            3);  // b's neigh, fdb, flood
  EXPECT_EQ(sampleValue(after, "weft_sidecar_restarts_total"), 0);

  // Prometheus' own parser.
  std::ofstream(dir_ / "scrape.txt") << after;
  int st = -1;
  auto out = test::runCapture(
      std::string(PROMTOOL_BIN) + " check metrics < " + (dir_ / "scrape.txt") + " 2>&1", &st);
  EXPECT_EQ(st, 0) << out;
}

TEST_F(PluginMetrics, AMalformedOrTakenAddressStopsTheStartBeforeAnythingIsTouched) {
  for (const char* bad : {"localhost:9947", "9947", "127.0.0.1:0", "[::1]9947"}) {
    auto p = launch("bad", "127.0.0.1", {"--metrics-addr", bad});
    ASSERT_TRUE(p->waitExit(10000)) << bad;
    EXPECT_EQ(WEXITSTATUS(p->exitStatus()), 2) << bad;
    EXPECT_NE(logOf("bad").find(std::string("METRICS_ADDR \"") + bad + "\""), std::string::npos)
        << logOf("bad");
  }
  // An address in use: refused, and no state directory made.
  int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&a), &len), 0);
  std::string addr = "127.0.0.1:" + std::to_string(ntohs(a.sin_port));
  auto p = launch("inuse", "127.0.0.1", {"--metrics-addr", addr});
  EXPECT_TRUE(p->waitExit(10000));
  ::close(taken);
  EXPECT_EQ(WEXITSTATUS(p->exitStatus()), 1);
  EXPECT_NE(logOf("inuse").find("METRICS_ADDR: cannot listen on " + addr), std::string::npos)
      << logOf("inuse");
  struct stat sb;
  EXPECT_NE(::stat((dir_ / "inuse-state").c_str(), &sb), 0);
}

TEST_F(PluginMetrics, OffByDefault) {
  auto p = launch("off", "127.0.0.1", {});
  ASSERT_TRUE(waitServing(*p, "off")) << logOf("off");
  EXPECT_EQ(logOf("off").find("metrics at"), std::string::npos);
  // The plugin process holds no listening TCP socket: the inodes of its
  // socket fds against the LISTEN entries of /proc/net/tcp{,6}.
  std::set<std::string> inodes;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(p->pid()) + "/fd")) {
    std::error_code ec;
    auto target = std::filesystem::read_symlink(e.path(), ec).string();
    if (target.rfind("socket:[", 0) == 0) inodes.insert(target.substr(8, target.size() - 9));
  }
  EXPECT_GE(inodes.size(), 1u);  // its unix socket, at least: the walk saw its fds
  int listeningTcp = 0, lines = 0;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      ++lines;
      std::istringstream f(line);
      std::string sl, local, remote, state, queues, timer, retr, uid, timeout, inode;
      f >> sl >> local >> remote >> state >> queues >> timer >> retr >> uid >> timeout >> inode;
      if (state == "0A" && inodes.count(inode)) ++listeningTcp;
    }
  }
  EXPECT_GT(lines, 0);  // the sidecar's gossip listener at least
  EXPECT_EQ(listeningTcp, 0);
}

TEST_F(PluginMetrics, LogFormatJsonMakesEveryLineOfPluginAndSidecarAJsonObject) {
  auto a = launch("a", "127.0.0.1", {"--log-format", "json", "--peers", "127.0.0.2"});
  auto b = launch("b", "127.0.0.2", {"--log-format=json", "--peers", "127.0.0.1", "--log-level", "debug"});
  ASSERT_TRUE(waitServing(*a, "a")) << logOf("a");
  ASSERT_TRUE(waitServing(*b, "b")) << logOf("b");
  const std::string nid(64, 'd'), ep(64, 'e');
  auto bad = call("a", "/NetworkDriver.Join", {{"NetworkID", nid}, {"EndpointID", ep}});  // no such network
  EXPECT_TRUE(bad.contains("Err"));
  auto weird = call("a", "/NetworkDriver.DeleteNetwork", {{"NetworkID", "x\n\"y\u0001"}});
  EXPECT_TRUE(weird.contains("Err"));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the hosts meet: sidecar lines
  a->kill(SIGTERM);
  b->kill(SIGTERM);
  for (const char* host : {"a", "b"}) {
    std::istringstream in(logOf(host));
    std::string line;
    int lines = 0, gossip = 0, withNetwork = 0;
    while (std::getline(in, line)) {
      ++lines;
      auto j = Json::parse(line, nullptr, false);
      ASSERT_TRUE(j.is_object()) << host << ": not a JSON object: " << line;
      for (const char* field : {"time", "level", "component", "message"})
        EXPECT_TRUE(j.contains(field) && j[field].is_string()) << field << " in " << line;
      EXPECT_EQ(j["time"].get<std::string>().size(), 24u) << line;  // 2026-11-21T10:00:00.123Z
      if (j["component"] == "gossip") ++gossip;
      if (j.contains("network")) ++withNetwork;
    }
    EXPECT_GE(lines, 3) << host;
    EXPECT_GE(gossip, 1) << host << ": no line from the sidecar\n" << logOf(host);
    if (std::string(host) == "a") {
      EXPECT_EQ(withNetwork, 2) << logOf(host);  // the two failed calls' warnings
      EXPECT_NE(logOf(host).find(R"("network":")" + nid + R"(","endpoint":")" + ep + "\""),
                std::string::npos);
    }
  }
}

}  // namespace
