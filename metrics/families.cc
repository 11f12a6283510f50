#include "metrics/families.h"

#include <initializer_list>
#include <limits>
#include <utility>

namespace weft::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

class Families {
 public:
  MetricFamily& begin(const char* name, const char* help, MetricType type) {
    out_.push_back(MetricFamily{name, help, type, {}});
    return out_.back();
  }
  void sample(double value, Labels labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    if (out_.back().type == MetricType::Counter)
      m.counter.value = value;
    else
      m.gauge.value = value;
    out_.back().metric.push_back(std::move(m));
  }
  void histogram(const Histogram& h, Labels labels = {}) {
    ClientMetric m;
    m.label = std::move(labels);
    m.histogram.sample_count = h.count;
    m.histogram.sample_sum = h.sum;
    uint64_t cumulative = 0;
    for (size_t i = 0; i < h.counts.size(); ++i) {
      cumulative += h.counts[i];
      m.histogram.bucket.push_back(
          {cumulative, i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity()});
    }
    out_.back().metric.push_back(std::move(m));
  }
  // A family with one unlabelled sample.
  void single(const char* name, const char* help, MetricType type, double value) {
    begin(name, help, type);
    sample(value);
  }
  // A family of the sidecar's counters, one sample per (stat, labels); stats
  // the sidecar does not report (an older one) are left out.
  void stats(const char* name, const char* help, const std::map<std::string, uint64_t>& stats,
             std::initializer_list<std::pair<const char*, Labels>> which) {
    begin(name, help, MetricType::Counter);
    for (const auto& [stat, labels] : which)
      if (auto it = stats.find(stat); it != stats.end()) sample(static_cast<double>(it->second), labels);
  }
  // Families without a sample say nothing: left out.
  std::vector<MetricFamily> take() {
    std::vector<MetricFamily> r;
    for (auto& f : out_)
      if (!f.metric.empty()) r.push_back(std::move(f));
    return r;
  }

 private:
  std::vector<MetricFamily> out_;
};

void addGossip(Families& f, const GossipSnapshot& g, bool peerLabels) {
  f.single("weft_sidecar_up", "1 when the gossip sidecar answered this scrape's status request",
           MetricType::Gauge, g.up ? 1 : 0);
  f.single("weft_sidecar_restarts_total", "Times weft-plugin restarted the gossip sidecar",
           MetricType::Counter, static_cast<double>(g.restarts));
  f.single("weft_sidecar_messages_refused_total",
           "Messages from the gossip sidecar that weft-plugin refused as malformed", MetricType::Counter,
           static_cast<double>(g.refusedMessages));
  f.single("weft_sidecar_records_dropped_total",
           "Endpoint records from the sidecar dropped because this host does not carry their network",
           MetricType::Counter, static_cast<double>(g.droppedRecords));
  if (!g.up) return;

  std::map<std::string, int> byState = {{"alive", 0}, {"suspect", 0}, {"dead", 0}, {"left", 0}};
  for (const auto& m : g.members)
    if (m.id != g.self) ++byState[m.state];
  f.begin("weft_gossip_members", "Other hosts in the gossip membership, by state", MetricType::Gauge);
  for (const auto& [state, n] : byState) f.sample(n, {{"state", state}});

  // The sidecar's counters start at 0 with each sidecar (Prometheus' rate()
  // and increase() treat that as a counter reset).
  const auto& s = g.stats;
  f.stats("weft_gossip_packets_total", "Gossip packets and stream frames, by direction", s,
          {{"packetsSent", {{"direction", "sent"}}}, {"packetsReceived", {{"direction", "received"}}}});
  f.stats("weft_gossip_bytes_total", "Gossip bytes (sealed), by direction", s,
          {{"bytesSent", {{"direction", "sent"}}}, {"bytesReceived", {{"direction", "received"}}}});
  f.begin("weft_gossip_messages_total", "Gossip messages, by type and direction", MetricType::Counter);
  for (const char* type : gossipMessageTypes()) {
    for (const auto& [prefix, direction] :
         {std::pair{"msgSent.", "sent"}, std::pair{"msgReceived.", "received"}})
      if (auto it = s.find(std::string(prefix) + type); it != s.end())
        f.sample(static_cast<double>(it->second), {{"type", type}, {"direction", direction}});
  }
  f.stats("weft_gossip_packets_refused_total",
          "Gossip packets refused: failed authentication (forged or another key), replayed (or sealed for "
          "another node or boot), another cluster's label, malformed",
          s,
          {{"forged", {{"reason", "forged"}}},
           {"replayed", {{"reason", "replayed"}}},
           {"wrongLabel", {{"reason", "wrong_label"}}},
           {"malformed", {{"reason", "malformed"}}}});
  f.stats("weft_gossip_records_applied_total", "Endpoint records from other hosts applied", s,
          {{"recordsApplied", {}}});
  f.stats("weft_gossip_suspicions_total", "Hosts this host began to suspect (no ack, direct or indirect)", s,
          {{"suspicions", {}}});
  f.stats("weft_gossip_refutations_total", "Suspicions of this host that it refuted", s,
          {{"refutations", {}}});
  f.stats("weft_gossip_dead_declared_total", "Hosts this host declared dead", s, {{"deadDeclared", {}}});
  f.stats("weft_gossip_probes_total", "Failure-detector probes, by result", s,
          {{"probes", {{"result", "sent"}}}, {"probeFailures", {{"result", "failed"}}}});
  f.stats("weft_gossip_auth_failures_total", "Packets or connections that failed authentication", s,
          {{"authFailuresTotal", {}}});
  f.stats("weft_gossip_sends_dropped_total", "Gossip sends dropped (peer's queue full or unreachable)", s,
          {{"droppedSends", {}}});

  if (!peerLabels) return;
  f.begin("weft_gossip_peer_state",
          "1 for each other host's current gossip state (per-peer: METRICS_PEER_LABELS)", MetricType::Gauge);
  for (const auto& m : g.members)
    if (m.id != g.self) f.sample(1, {{"peer", m.id}, {"state", m.state}});
  f.begin("weft_gossip_peer_auth_failures_total",
          "Authentication failures by sending host (per-peer: METRICS_PEER_LABELS)", MetricType::Counter);
  for (const auto& [host, n] : g.authFailuresByHost) f.sample(static_cast<double>(n), {{"peer", host}});
}

void addDataPlane(Families& f, const DataPlaneSnapshot& d, bool peerLabels) {
  f.begin(
      "weft_dataplane_probes_total",
      "Data-plane (VXLAN) probes to peer hosts, one small and one at the network MTU per peer and round, by "
      "size and result",
      MetricType::Counter);
  f.sample(static_cast<double>(d.smallAnswered), {{"size", "small"}, {"result", "answered"}});
  f.sample(static_cast<double>(d.smallLost), {{"size", "small"}, {"result", "lost"}});
  f.sample(static_cast<double>(d.mtuAnswered), {{"size", "mtu"}, {"result", "answered"}});
  f.sample(static_cast<double>(d.mtuLost), {{"size", "mtu"}, {"result", "lost"}});
  f.begin("weft_dataplane_probe_rtt_seconds", "Round trip of answered small data-plane probes",
          MetricType::Histogram);
  f.histogram(d.rtt);
  // Per network: how many of the hosts it shares with this one are in each
  // state, every state shown (at 0) so alerts need no absent().
  std::map<std::string, std::map<std::string, int>> byNetwork;
  for (const auto& p : d.peers)
    for (const auto& n : p.networks) {
      auto& states = byNetwork[n];
      if (states.empty())
        for (const char* s : dataPlaneStates()) states[s] = 0;
      ++states[p.state];
    }
  f.begin("weft_dataplane_peers",
          "Peer hosts of each network by data-plane state (ok, pending, vxlan_fails: no probe answered, "
          "mtu_fails: small probes pass but MTU-sized ones are lost)",
          MetricType::Gauge);
  for (const auto& [network, states] : byNetwork)
    for (const auto& [state, n] : states) f.sample(n, {{"network", network}, {"state", state}});
  std::optional<double> stalest;
  for (const auto& p : d.peers)
    if (p.lastSuccessUnix && (!stalest || *p.lastSuccessUnix < *stalest)) stalest = p.lastSuccessUnix;
  if (stalest)
    f.single("weft_dataplane_probe_stalest_success_timestamp_seconds",
             "The oldest of the peer hosts' last answered probe (Unix time): time() minus it is how long the "
             "worst path has been silent",
             MetricType::Gauge, *stalest);

  if (!peerLabels) return;
  f.begin("weft_dataplane_peer_state",
          "1 for each peer host's data-plane state (per-peer: METRICS_PEER_LABELS)", MetricType::Gauge);
  for (const auto& p : d.peers) f.sample(1, {{"peer", p.vtep}, {"state", p.state}});
  f.begin("weft_dataplane_probe_last_success_timestamp_seconds",
          "When a peer host last answered a data-plane probe, Unix time (per-peer: METRICS_PEER_LABELS)",
          MetricType::Gauge);
  for (const auto& p : d.peers)
    if (p.lastSuccessUnix) f.sample(*p.lastSuccessUnix, {{"peer", p.vtep}});
  f.begin("weft_dataplane_probe_failures_total",
          "Data-plane probes a peer host did not answer, by size (per-peer: METRICS_PEER_LABELS)",
          MetricType::Counter);
  for (const auto& p : d.peers) {
    f.sample(static_cast<double>(p.smallLost), {{"peer", p.vtep}, {"size", "small"}});
    f.sample(static_cast<double>(p.mtuLost), {{"peer", p.vtep}, {"size", "mtu"}});
  }
}

void addEncrypted(Families& f, const EncryptedSnapshot& e) {
  f.begin("weft_encrypted_packets_total", "Encrypted networks' datapath packets, by network and direction",
          MetricType::Counter);
  for (const auto& [n, c] : e.networks) {
    f.sample(static_cast<double>(c.sealedPackets), {{"network", n}, {"direction", "sent"}});
    f.sample(static_cast<double>(c.openedPackets), {{"network", n}, {"direction", "received"}});
  }
  f.begin("weft_encrypted_bytes_total", "Encrypted networks' inner frame bytes, by network and direction",
          MetricType::Counter);
  for (const auto& [n, c] : e.networks) {
    f.sample(static_cast<double>(c.sealedBytes), {{"network", n}, {"direction", "sent"}});
    f.sample(static_cast<double>(c.openedBytes), {{"network", n}, {"direction", "received"}});
  }
  f.begin(
      "weft_encrypted_packets_dropped_total",
      "Encrypted packets from a known peer dropped, by network and reason (auth_failed: forged, altered or "
      "another key; replayed; stale_key: a key epoch no longer accepted; malformed: authentic but "
      "breaking the frame limits)",
      MetricType::Counter);
  for (const auto& [n, c] : e.networks)
    for (const auto& [reason, v] : {std::pair{"auth_failed", c.authFailed}, std::pair{"replayed", c.replayed},
                                    std::pair{"stale_key", c.staleKey}, std::pair{"malformed", c.malformed}})
      f.sample(static_cast<double>(v), {{"network", n}, {"reason", reason}});
  f.begin("weft_encrypted_packets_unattributed_dropped_total",
          "Packets to the encrypted port dropped before a network or peer was known, by reason",
          MetricType::Counter);
  f.sample(static_cast<double>(e.truncated), {{"reason", "truncated"}});
  f.sample(static_cast<double>(e.badHeader), {{"reason", "bad_header"}});
  f.sample(static_cast<double>(e.unknownSender), {{"reason", "unknown_sender"}});
}

}  // namespace

const std::vector<const char*>& dataPlaneStates() {
  static const std::vector<const char*> s = {"ok", "pending", "vxlan_fails", "mtu_fails"};
  return s;
}

const std::vector<const char*>& gossipMessageTypes() {
  // In the order of gossip::Message's alternatives (gossip/messages.h).
  static const std::vector<const char*> t = {"ping",   "indirect_ping",  "ack",           "nack",
                                             "alive",  "suspect",        "dead",          "networks",
                                             "record", "digest_summary", "digest_detail", "sync"};
  return t;
}

const std::vector<std::pair<const char*, std::vector<const char*>>>& reconcileCorrectionKinds() {
  static const std::vector<std::pair<const char*, std::vector<const char*>>> kinds = {
      {"fdb", {"added", "removed", "replaced"}},
      {"neigh", {"added", "removed", "replaced"}},
      {"flood", {"added", "removed"}},
      {"link", {"added", "removed", "replaced", "up", "mtu"}},
      {"addr", {"added", "removed"}},
      {"netns", {"added"}},
  };
  return kinds;
}

namespace {

// Cluster-wide IPAM (issue 12): lease conflicts a partition's heal brought
// to light, records refused, pool names two hosts disagree on.
void addIpamCluster(Families& f, const IpamClusterTotals& c) {
  f.single("weft_ipam_conflicts",
           "Blocks of cluster-wide IPAM this host and another host have both handed out from",
           MetricType::Gauge, static_cast<double>(c.conflictsNow));
  f.single("weft_ipam_conflicts_detected_total",
           "Cluster-wide IPAM block conflicts found since start (each logged)", MetricType::Counter,
           static_cast<double>(c.conflictsDetected));
  f.single("weft_ipam_refused_records_total",
           "Cluster-wide IPAM lease and pool name records from other hosts refused (forged, out of range, "
           "over a limit)",
           MetricType::Counter, static_cast<double>(c.refusedRecords));
  f.single("weft_ipam_pool_name_mismatches",
           "Hosts that use one of this host's pool names (weft.name) with another subnet", MetricType::Gauge,
           static_cast<double>(c.poolNameMismatches));
}

}  // namespace

std::vector<prometheus::MetricFamily> snapshotFamilies(const Snapshot& s, bool peerLabels) {
  Families f;
  f.single("weft_networks", "weft networks on this host", MetricType::Gauge, static_cast<double>(s.networks));
  f.single("weft_networks_faulted", "Networks whose sandbox could not be restored (retried)",
           MetricType::Gauge, static_cast<double>(s.faultedNetworks));
  f.begin("weft_endpoints", "Endpoints on weft networks: this host's (local) and other hosts' (remote)",
          MetricType::Gauge);
  f.sample(static_cast<double>(s.localEndpoints), {{"location", "local"}});
  f.sample(static_cast<double>(s.remoteEndpoints), {{"location", "remote"}});
  f.begin("weft_ipam_pool_capacity_addresses", "Addresses in an IPAM pool's allocation range",
          MetricType::Gauge);
  for (const auto& p : s.pools) f.sample(p.capacity, {{"pool", p.pool}, {"address_space", p.addressSpace}});
  f.begin("weft_ipam_pool_allocated_addresses", "Addresses allocated from an IPAM pool (gateway included)",
          MetricType::Gauge);
  for (const auto& p : s.pools)
    f.sample(static_cast<double>(p.allocated), {{"pool", p.pool}, {"address_space", p.addressSpace}});
  f.begin("weft_kernel_peer_operations_total",
          "Kernel operations programming remote endpoints' neighbour, FDB and flood entries, by result",
          MetricType::Counter);
  f.sample(static_cast<double>(s.kernel.applied), {{"result", "ok"}});
  f.sample(static_cast<double>(s.kernel.failed), {{"result", "error"}});
  f.single("weft_kernel_peer_retries_total", "Sandboxes whose entries were programmed again after a failure",
           MetricType::Counter, static_cast<double>(s.kernel.retries));
  f.begin("weft_reconcile_corrections_total",
          "Kernel state the run-time reconcile found drifted and put back, by table and action",
          MetricType::Counter);
  // Every pair that can happen, at 0 until it does, so rates work from the start.
  Corrections all = s.corrections;
  for (const auto& [table, actions] : reconcileCorrectionKinds())
    for (const char* action : actions) all.emplace(std::make_pair(table, action), 0);
  for (const auto& [key, n] : all)
    f.sample(static_cast<double>(n), {{"table", key.first}, {"action", key.second}});
  addIpamCluster(f, s.ipamCluster);
  f.single("weft_network_mtu_mismatches",
           "Networks of this host that another host carries with another MTU (weftctl check names them)",
           MetricType::Gauge, static_cast<double>(s.mtuMismatchNetworks));
  f.single(
      "weft_network_mtu_unknown_hosts",
      "Hosts with endpoints on a network of this host that do not say their MTU of it (older weft), summed "
      "over networks",
      MetricType::Gauge, static_cast<double>(s.mtuUnknownHosts));
  if (s.gossip) addGossip(f, *s.gossip, peerLabels);
  if (s.convergenceLag) {
    f.begin(
        "weft_convergence_lag_seconds",
        "From a remote endpoint's record change reaching weft-plugin from the gossip sidecar to its kernel "
        "entries programmed on this host",
        MetricType::Histogram);
    f.histogram(*s.convergenceLag);
  }
  if (s.dataPlane) addDataPlane(f, *s.dataPlane, peerLabels);
  if (s.encrypted) addEncrypted(f, *s.encrypted);
  return f.take();
}

}  // namespace weft::metrics
