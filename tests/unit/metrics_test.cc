// The metrics module: families present with their conventions, counters
// moving, label values bounded, snapshots mapped, the listener's address
// checked and its server answering -- and METRICS_ADDR as a setting.

#include "metrics/metrics.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>

#include "kernel/fake_kernel.h"
#include "metrics/families.h"
#include "metrics/server.h"
#include "plugin/api.h"
#include "plugin/config.h"
#include "plugin/metrics_source.h"
#include "tests/support/loopback.h"
#include "tests/support/metrics_text.h"
#include "tests/support/temp_dir.h"

using namespace weft;
using metrics::Metrics;

namespace {

using test::sampleValue;

bool hasFamily(const std::string& text, const std::string& name, const std::string& type) {
  return text.find("# TYPE " + name + " " + type + "\n") != std::string::npos;
}

metrics::Snapshot multiHostSnapshot() {
  metrics::Snapshot s;
  s.networks = 2;
  s.faultedNetworks = 1;
  s.localEndpoints = 3;
  s.remoteEndpoints = 5;
  s.pools = {{"10.10.0.0/24", "weft-local", 254, 4}, {"fd00::/64", "weft-global", 18446744073709551616.0, 1}};
  s.kernel = {12, 2, 1};
  s.corrections = {{{"fdb", "added"}, 3}, {{"link", "up"}, 1}};
  metrics::GossipSnapshot g;
  g.up = true;
  g.self = "198.18.0.1";
  g.members = {
      {"198.18.0.1", "alive"}, {"198.18.0.2", "alive"}, {"198.18.0.3", "suspect"}, {"198.18.0.4", "dead"}};
  g.stats = {{"packetsSent", 10},    {"packetsReceived", 11},  {"bytesSent", 1000}, {"bytesReceived", 1100},
             {"forged", 1},          {"replayed", 2},          {"wrongLabel", 3},   {"malformed", 4},
             {"recordsApplied", 7},  {"suspicions", 5},        {"refutations", 6},  {"msgSent.ping", 8},
             {"msgReceived.ack", 9}, {"authFailuresTotal", 1}, {"droppedSends", 0}};
  g.authFailuresByHost = {{"198.18.0.9", 1}};
  g.restarts = 2;
  s.gossip = g;
  return s;
}

TEST(Metrics, BuildInfoAndRequestFamiliesArePresentBeforeAnyCall) {
  Metrics m({"1.2.3", {"NetworkDriver.Join", "IpamDriver.RequestPool"}, false});
  auto t = m.text();
  EXPECT_EQ(sampleValue(t, R"(weft_build_info{version="1.2.3"})"), 1);
  EXPECT_TRUE(hasFamily(t, "weft_requests_total", "counter"));
  EXPECT_TRUE(hasFamily(t, "weft_request_duration_seconds", "histogram"));
  for (const char* call : {"NetworkDriver.Join", "IpamDriver.RequestPool", "other"})
    for (const char* result : {"ok", "error"})
      EXPECT_EQ(
          sampleValue(t, std::string("weft_requests_total{call=\"") + call + "\",result=\"" + result + "\"}"),
          0)
          << call << " " << result;
}

TEST(Metrics, RequestsCountByCallAndResultAndUnknownCallsShareOneLabel) {
  Metrics m({"1", {"NetworkDriver.Join"}, false});
  m.observeRequest("NetworkDriver.Join", true, 0.0003);
  m.observeRequest("NetworkDriver.Join", true, 0.2);
  m.observeRequest("NetworkDriver.Join", false, 0.001);
  for (int i = 0; i < 50; ++i) m.observeRequest("Made.Up" + std::to_string(i), false, 0.0001);
  auto t = m.text();
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="NetworkDriver.Join",result="ok"})"), 2);
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="NetworkDriver.Join",result="error"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="other",result="error"})"), 50);
  EXPECT_EQ(t.find("Made.Up"), std::string::npos);
  EXPECT_EQ(sampleValue(t, R"(weft_request_duration_seconds_count{call="NetworkDriver.Join"})"), 3);
  EXPECT_EQ(sampleValue(t, R"(weft_request_duration_seconds_bucket{call="NetworkDriver.Join",le="0.0005"})"),
            1);
  EXPECT_EQ(sampleValue(t, R"(weft_request_duration_seconds_bucket{call="NetworkDriver.Join",le="0.25"})"),
            3);
  EXPECT_NEAR(sampleValue(t, R"(weft_request_duration_seconds_sum{call="NetworkDriver.Join"})"), 0.2013,
              1e-9);
}

TEST(Metrics, SnapshotFamiliesComeFromTheSourceAtEachScrapeAndGoWithIt) {
  Metrics m({"1", {}, false});
  EXPECT_FALSE(hasFamily(m.text(), "weft_networks", "gauge"));  // no source: none
  int scrapes = 0;
  m.setSource([&scrapes] {
    metrics::Snapshot s;
    s.networks = static_cast<size_t>(++scrapes);
    return s;
  });
  EXPECT_EQ(sampleValue(m.text(), "weft_networks"), 1);
  EXPECT_EQ(sampleValue(m.text(), "weft_networks"), 2);
  m.setSource({});
  EXPECT_FALSE(hasFamily(m.text(), "weft_networks", "gauge"));
}

TEST(Metrics, EveryFamilyOfAMultiHostSnapshotWithItsValues) {
  Metrics m({"1", {}, false});
  m.setSource(multiHostSnapshot);
  auto t = m.text();
  for (const char* g :
       {"weft_networks", "weft_networks_faulted", "weft_endpoints", "weft_ipam_pool_capacity_addresses",
        "weft_ipam_pool_allocated_addresses", "weft_sidecar_up", "weft_gossip_members"})
    EXPECT_TRUE(hasFamily(t, g, "gauge")) << g;
  for (const char* c :
       {"weft_kernel_peer_operations_total", "weft_kernel_peer_retries_total", "weft_sidecar_restarts_total",
        "weft_sidecar_messages_refused_total", "weft_sidecar_records_dropped_total",
        "weft_gossip_packets_total", "weft_gossip_bytes_total", "weft_gossip_messages_total",
        "weft_gossip_packets_refused_total", "weft_gossip_records_applied_total",
        "weft_gossip_suspicions_total", "weft_gossip_refutations_total", "weft_gossip_auth_failures_total",
        "weft_reconcile_corrections_total"})
    EXPECT_TRUE(hasFamily(t, c, "counter")) << c;
  EXPECT_EQ(sampleValue(t, R"(weft_endpoints{location="local"})"), 3);
  EXPECT_EQ(sampleValue(t, R"(weft_endpoints{location="remote"})"), 5);
  EXPECT_EQ(
      sampleValue(t, R"(weft_ipam_pool_allocated_addresses{pool="10.10.0.0/24",address_space="weft-local"})"),
      4);
  EXPECT_EQ(
      sampleValue(t, R"(weft_ipam_pool_capacity_addresses{pool="10.10.0.0/24",address_space="weft-local"})"),
      254);
  EXPECT_EQ(sampleValue(t, R"(weft_kernel_peer_operations_total{result="error"})"), 2);
  EXPECT_EQ(sampleValue(t, "weft_kernel_peer_retries_total"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_reconcile_corrections_total{table="fdb",action="added"})"), 3);
  EXPECT_EQ(sampleValue(t, R"(weft_reconcile_corrections_total{table="link",action="up"})"), 1);
  // Pairs that did not happen are there at 0.
  EXPECT_EQ(sampleValue(t, R"(weft_reconcile_corrections_total{table="neigh",action="replaced"})"), 0);
  // Members by state: the others, not this host.
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_members{state="alive"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_members{state="suspect"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_members{state="dead"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_members{state="left"})"), 0);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_packets_total{direction="received"})"), 11);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_bytes_total{direction="sent"})"), 1000);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_messages_total{type="ping",direction="sent"})"), 8);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_messages_total{type="ack",direction="received"})"), 9);
  EXPECT_EQ(sampleValue(t, R"(weft_gossip_packets_refused_total{reason="wrong_label"})"), 3);
  EXPECT_EQ(sampleValue(t, "weft_gossip_suspicions_total"), 5);
  EXPECT_EQ(sampleValue(t, "weft_gossip_refutations_total"), 6);
  EXPECT_EQ(sampleValue(t, "weft_sidecar_restarts_total"), 2);
  // Per-peer series only when asked for.
  EXPECT_EQ(t.find("peer="), std::string::npos);
  Metrics perPeer({"1", {}, true});
  perPeer.setSource(multiHostSnapshot);
  auto p = perPeer.text();
  EXPECT_EQ(sampleValue(p, R"(weft_gossip_peer_state{peer="198.18.0.3",state="suspect"})"), 1);
  EXPECT_EQ(sampleValue(p, R"(weft_gossip_peer_auth_failures_total{peer="198.18.0.9"})"), 1);
  EXPECT_EQ(p.find(R"(peer="198.18.0.1")"), std::string::npos);  // not itself
}

TEST(Metrics, ASidecarThatDoesNotAnswerSaysSoAndShowsNoGossipCounters) {
  auto g = plugin::gossipSnapshot(Error{ETIMEDOUT, "no answer"}, 3, 1, 0);
  metrics::Snapshot s;
  s.gossip = g;
  Metrics m({"1", {}, false});
  m.setSource([s] { return s; });
  auto t = m.text();
  EXPECT_EQ(sampleValue(t, "weft_sidecar_up"), 0);
  EXPECT_EQ(sampleValue(t, "weft_sidecar_restarts_total"), 3);
  EXPECT_EQ(sampleValue(t, "weft_sidecar_messages_refused_total"), 1);
  EXPECT_FALSE(hasFamily(t, "weft_gossip_members", "gauge"));
  EXPECT_FALSE(hasFamily(t, "weft_gossip_packets_total", "counter"));
}

TEST(Metrics, ApiCountsEveryCallWithItsResult) {
  test::TempDir dir{"weft-metrics"};
  kernel::FakeKernel k(dir / "netns");
  driver::DriverConfig dc;
  dc.stateDir = dir.path();
  driver::Driver d(dc, k);
  ASSERT_TRUE(d.start().ok());
  plugin::Api api(d);
  Metrics m({"1", api.calls(), false});
  api.setMetrics(&m);
  m.setSource([&d] { return plugin::readSnapshot(d, nullptr); });
  EXPECT_EQ(api.handle("/IpamDriver.RequestPool", R"({"Pool":"10.20.0.0/24"})").status, 200);
  EXPECT_EQ(api.handle("/IpamDriver.RequestPool", R"({"Pool":"not a pool"})").status, 200);  // an {"Error"}
  EXPECT_EQ(api.handle("/Nope.Nope", "{}").status, 404);
  auto addr = api.handle("/IpamDriver.RequestAddress", R"({"PoolID":"weft-local/10.20.0.0/24/1"})");
  EXPECT_TRUE(addr.ok) << addr.body;
  auto t = m.text();
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="IpamDriver.RequestPool",result="ok"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="IpamDriver.RequestPool",result="error"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="other",result="error"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_requests_total{call="IpamDriver.RequestAddress",result="ok"})"), 1);
  EXPECT_EQ(
      sampleValue(t, R"(weft_ipam_pool_allocated_addresses{pool="10.20.0.0/24",address_space="weft-local"})"),
      1);
  EXPECT_EQ(sampleValue(t, R"(weft_endpoints{location="local"})"), 0);
  EXPECT_FALSE(hasFamily(t, "weft_sidecar_up", "gauge"));  // single host: no gossip families
}

TEST(MetricsAddress, AcceptsAnIpAndPortOnly) {
  auto v4 = metrics::parseListenAddress("127.0.0.1:9947");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->str(), "127.0.0.1:9947");
  auto v6 = metrics::parseListenAddress("[::1]:9947");
  ASSERT_TRUE(v6.ok());
  EXPECT_TRUE(v6->v6);
  EXPECT_EQ(v6->str(), "[::1]:9947");
  EXPECT_TRUE(metrics::parseListenAddress("0.0.0.0:1").ok());
  EXPECT_TRUE(metrics::parseListenAddress("127.0.0.1:65535").ok());
  for (const char* bad : {"", "9947", ":9947", "localhost:9947", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                          "127.0.0.1:65536", "127.0.0.1:99999999", "127.0.0.1:99x", "::1:9947", "[::1]9947",
                          "[::1:9947", "[127.0.0.1]:9947", "1.2.3.4.5:80", "127.0.0.1:-1"}) {
    auto r = metrics::parseListenAddress(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("want ip:port"), std::string::npos) << r.error().message;
    }
  }
}

TEST(MetricsAddress, IsASettingRefusedWithAClearError) {
  std::vector<std::string> env = {"WEFT_METRICS_ADDR=127.0.0.1:9947"};
  const char* none[] = {"weft-plugin"};
  auto c = plugin::parseConfig(1, none, env);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->metricsAddr, "127.0.0.1:9947");
  EXPECT_FALSE(c->metricsPeerLabels);
  const char* off[] = {"weft-plugin"};
  EXPECT_EQ(plugin::parseConfig(1, off, {})->metricsAddr, "");  // off by default
  const char* bad[] = {"weft-plugin", "--metrics-addr", "localhost:9947"};
  auto r = plugin::parseConfig(3, bad, {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("METRICS_ADDR \"localhost:9947\""), std::string::npos)
      << r.error().message;
  const char* labels[] = {"weft-plugin", "--metrics-peer-labels=maybe"};
  EXPECT_FALSE(plugin::parseConfig(2, labels, {}).ok());
  const char* labelsOn[] = {"weft-plugin", "--metrics-peer-labels=true"};
  EXPECT_TRUE(plugin::parseConfig(2, labelsOn, {})->metricsPeerLabels);
}

TEST(MetricsServer, ServesMetricsAndRefusesAnAddressInUse) {
  auto port = test::freePort();
  auto addr = metrics::parseListenAddress("127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(addr.ok());
  auto server = metrics::Server::start(*addr);
  ASSERT_TRUE(server.ok()) << server.error().message;
  EXPECT_EQ((*server)->port(), port);
  auto m = std::make_shared<Metrics>(metrics::Options{"9.9", {"Plugin.Activate"}, false});
  (*server)->serve(m);
  m->observeRequest("Plugin.Activate", true, 0.001);
  auto got = test::httpGet(port, "/metrics");
  EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << got.substr(0, 200);
  EXPECT_NE(got.find(R"(weft_requests_total{call="Plugin.Activate",result="ok"} 1)"), std::string::npos);
  EXPECT_NE(got.find(R"(weft_build_info{version="9.9"} 1)"), std::string::npos);
  // Only /metrics is served.
  auto root = test::httpGet(port, "/");
  EXPECT_EQ(root.substr(8, 5), " 404 ") << root;

  auto again = metrics::Server::start(*addr);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("cannot listen on 127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << again.error().message;
}

}  // namespace

// Cluster-wide IPAM's families (issue 12): conflicts now (gauge) and found
// (counter), refused records, pool name mismatches -- present at 0 on a host
// with none, so alerts and rates work from the start.
TEST(Metrics, ClusterIpamConflictsRefusalsAndNameMismatchesCarryTheSnapshotsCounts) {
  Metrics m({"1", {}, false});
  m.setSource([] {
    metrics::Snapshot s = multiHostSnapshot();
    s.ipamCluster = {2, 3, 5, 1};
    return s;
  });
  auto t = m.text();
  EXPECT_TRUE(hasFamily(t, "weft_ipam_conflicts", "gauge"));
  EXPECT_TRUE(hasFamily(t, "weft_ipam_conflicts_detected_total", "counter"));
  EXPECT_TRUE(hasFamily(t, "weft_ipam_refused_records_total", "counter"));
  EXPECT_TRUE(hasFamily(t, "weft_ipam_pool_name_mismatches", "gauge"));
  EXPECT_EQ(sampleValue(t, "weft_ipam_conflicts"), 2);
  EXPECT_EQ(sampleValue(t, "weft_ipam_conflicts_detected_total"), 3);
  EXPECT_EQ(sampleValue(t, "weft_ipam_refused_records_total"), 5);
  EXPECT_EQ(sampleValue(t, "weft_ipam_pool_name_mismatches"), 1);
  m.setSource([] { return metrics::Snapshot{}; });
  t = m.text();
  EXPECT_EQ(sampleValue(t, "weft_ipam_conflicts"), 0);
  EXPECT_EQ(sampleValue(t, "weft_ipam_conflicts_detected_total"), 0);
}

// Network MTUs (issue 15): networks another host carries with another MTU,
// and hosts that do not say theirs (an older weft) -- gauges, present at 0.
TEST(Metrics, NetworkMtuMismatchesAndUnknownHostsAreGauges) {
  Metrics m({"1", {}, false});
  m.setSource([] {
    metrics::Snapshot s = multiHostSnapshot();
    s.mtuMismatchNetworks = 1;
    s.mtuUnknownHosts = 2;
    return s;
  });
  auto t = m.text();
  EXPECT_TRUE(hasFamily(t, "weft_network_mtu_mismatches", "gauge"));
  EXPECT_TRUE(hasFamily(t, "weft_network_mtu_unknown_hosts", "gauge"));
  EXPECT_EQ(sampleValue(t, "weft_network_mtu_mismatches"), 1);
  EXPECT_EQ(sampleValue(t, "weft_network_mtu_unknown_hosts"), 2);
  m.setSource([] { return metrics::Snapshot{}; });
  t = m.text();
  EXPECT_EQ(sampleValue(t, "weft_network_mtu_mismatches"), 0);
  EXPECT_EQ(sampleValue(t, "weft_network_mtu_unknown_hosts"), 0);
}
