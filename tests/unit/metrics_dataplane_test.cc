// The metrics families of the data-plane probes, convergence lag and the
// encrypted datapath: present with their conventions and values, per-peer
// series only with METRICS_PEER_LABELS; and the plugin's mapping of the
// prober's and the datapath's figures into a snapshot.

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <sstream>

#include "metrics/families.h"
#include "plugin/metrics_source.h"
#include "tests/support/metrics_text.h"

using namespace weft;
using test::sampleValue;

namespace {

std::string render(const metrics::Snapshot& s, bool peerLabels) {
  std::ostringstream o;
  prometheus::TextSerializer().Serialize(o, metrics::snapshotFamilies(s, peerLabels));
  return o.str();
}
bool hasFamily(const std::string& text, const std::string& name, const std::string& type) {
  return text.find("# TYPE " + name + " " + type + "\n") != std::string::npos;
}

driver::PeerHealth peer(const std::string& vtep, driver::PeerHealth::State st,
                        std::optional<double> lastUnix) {
  driver::PeerHealth p;
  p.vtep = vtep;
  p.state = st;
  if (lastUnix)
    p.lastSuccess =
        std::chrono::system_clock::time_point(std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::duration<double>(*lastUnix)));
  p.smallLost = 4;
  p.mtuLost = 6;
  return p;
}

metrics::Snapshot probedSnapshot() {
  driver::ProbeTotals t;
  t.smallAnswered = 10;
  t.smallLost = 2;
  t.mtuAnswered = 9;
  t.mtuLost = 3;
  t.rtt.observe(0.0003);
  t.rtt.observe(0.002);
  metrics::Snapshot s;
  s.dataPlane = plugin::dataPlaneSnapshot(
      {peer("198.18.0.2", driver::PeerHealth::State::kOk, 1700000000.0),
       peer("198.18.0.3", driver::PeerHealth::State::kVxlanFails, 1690000000.0),
       peer("198.18.0.4", driver::PeerHealth::State::kPending, std::nullopt)},
      t, {{"net-a", {"198.18.0.2", "198.18.0.3"}}, {"net-b", {"198.18.0.3", "198.18.0.4"}}});
  return s;
}

}  // namespace

TEST(MetricsDataPlane, ProbeTotalsRttAndPeersPerNetworkByState) {
  auto t = render(probedSnapshot(), false);
  EXPECT_TRUE(hasFamily(t, "weft_dataplane_probes_total", "counter"));
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probes_total{size="small",result="answered"})"), 10);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probes_total{size="small",result="lost"})"), 2);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probes_total{size="mtu",result="answered"})"), 9);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probes_total{size="mtu",result="lost"})"), 3);
  EXPECT_TRUE(hasFamily(t, "weft_dataplane_probe_rtt_seconds", "histogram"));
  EXPECT_EQ(sampleValue(t, "weft_dataplane_probe_rtt_seconds_count"), 2);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probe_rtt_seconds_bucket{le="0.0005"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probe_rtt_seconds_bucket{le="+Inf"})"), 2);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_peers{network="net-a",state="ok"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_peers{network="net-a",state="vxlan_fails"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_peers{network="net-a",state="mtu_fails"})"), 0);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_peers{network="net-b",state="pending"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_peers{network="net-b",state="ok"})"), 0);
  // The stalest path: the oldest last success of the peers that had one.
  EXPECT_EQ(sampleValue(t, "weft_dataplane_probe_stalest_success_timestamp_seconds"), 1690000000.0);
  // No per-peer series unless asked for.
  EXPECT_EQ(t.find("peer=\""), std::string::npos) << t;
}

TEST(MetricsDataPlane, PerPeerSeriesOnlyWithPeerLabels) {
  auto t = render(probedSnapshot(), true);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_peer_state{peer="198.18.0.3",state="vxlan_fails"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probe_last_success_timestamp_seconds{peer="198.18.0.2"})"),
            1700000000.0);
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probe_last_success_timestamp_seconds{peer="198.18.0.4"})"), -1)
      << "a peer that never answered has no last success";
  EXPECT_EQ(sampleValue(t, R"(weft_dataplane_probe_failures_total{peer="198.18.0.4",size="mtu"})"), 6);
}

TEST(MetricsDataPlane, ConvergenceLagIsAHistogramInSeconds) {
  metrics::Snapshot s;
  EXPECT_EQ(render(s, false).find("weft_convergence_lag_seconds"), std::string::npos)
      << "single host: absent";
  Histogram h(latencyBuckets());
  h.observe(0.004);
  h.observe(0.2);
  h.observe(30);  // past every bound: only +Inf
  s.convergenceLag = h;
  auto t = render(s, false);
  EXPECT_TRUE(hasFamily(t, "weft_convergence_lag_seconds", "histogram"));
  EXPECT_EQ(sampleValue(t, "weft_convergence_lag_seconds_count"), 3);
  EXPECT_NEAR(sampleValue(t, "weft_convergence_lag_seconds_sum"), 30.204, 1e-9);
  EXPECT_EQ(sampleValue(t, R"(weft_convergence_lag_seconds_bucket{le="0.005"})"), 1);
  EXPECT_EQ(sampleValue(t, R"(weft_convergence_lag_seconds_bucket{le="0.25"})"), 2);
  EXPECT_EQ(sampleValue(t, R"(weft_convergence_lag_seconds_bucket{le="10"})"), 2);
  EXPECT_EQ(sampleValue(t, R"(weft_convergence_lag_seconds_bucket{le="+Inf"})"), 3);
}

TEST(MetricsEncrypted, CryptoStatusIsSummedPerNetworkOverItsPeers) {
  const auto status = nlohmann::json::parse(R"({
    "backend": "userspace",
    "unattributed": {"truncated": 1, "badHeader": 2, "unknownSender": 3},
    "networks": [
      {"identity": "enc1", "peers": [
        {"host": "198.18.0.2", "sealedPackets": 10, "sealedBytes": 1000, "openedPackets": 8, "openedBytes": 800,
         "authFailed": 1, "replayed": 2, "staleKey": 0, "malformedInner": 0},
        {"host": "198.18.0.3", "sealedPackets": 5, "sealedBytes": 500, "openedPackets": 4, "openedBytes": 400,
         "authFailed": 0, "replayed": 1, "staleKey": 3, "malformedInner": 1}]},
      {"identity": "enc2", "peers": []},
      {"peers": [{"sealedPackets": 99}]}
    ]})");
  metrics::Snapshot s;
  s.encrypted = plugin::encryptedSnapshot(status);
  auto t = render(s, false);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_total{network="enc1",direction="sent"})"), 15);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_total{network="enc1",direction="received"})"), 12);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_bytes_total{network="enc1",direction="sent"})"), 1500);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_bytes_total{network="enc1",direction="received"})"), 1200);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_dropped_total{network="enc1",reason="auth_failed"})"),
            1);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_dropped_total{network="enc1",reason="replayed"})"), 3);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_dropped_total{network="enc1",reason="stale_key"})"), 3);
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_dropped_total{network="enc1",reason="malformed"})"), 1);
  // A network without peers yet shows at 0; one without an identity is skipped.
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_total{network="enc2",direction="sent"})"), 0);
  EXPECT_EQ(t.find("99"), std::string::npos) << t;
  EXPECT_EQ(sampleValue(t, R"(weft_encrypted_packets_unattributed_dropped_total{reason="unknown_sender"})"),
            3);
  EXPECT_TRUE(hasFamily(t, "weft_encrypted_packets_total", "counter"));
}

TEST(MetricsEncrypted, AMalformedStatusGivesZerosNotACrash) {
  auto e = plugin::encryptedSnapshot(nlohmann::json("nonsense"));
  EXPECT_TRUE(e.networks.empty());
  e = plugin::encryptedSnapshot(nlohmann::json::parse(R"({"networks": 3, "unattributed": []})"));
  EXPECT_TRUE(e.networks.empty());
  EXPECT_EQ(e.truncated, 0u);
}
