#include "plugin/metrics_source.h"

#include <string>

namespace weft::plugin {

metrics::GossipSnapshot gossipSnapshot(const Result<cluster::ipc::StatusEvent>& status, uint64_t restarts,
                                       uint64_t refusedMessages, uint64_t droppedRecords) {
  metrics::GossipSnapshot g;
  g.restarts = restarts;
  g.refusedMessages = refusedMessages;
  g.droppedRecords = droppedRecords;
  if (!status.ok()) return g;
  g.up = true;
  g.self = status->id;
  for (const auto& m : status->members) g.members.push_back({m.id, m.state});
  g.stats = status->stats;
  g.authFailuresByHost = status->authFailuresByHost;
  return g;
}

metrics::DataPlaneSnapshot dataPlaneSnapshot(
    const std::vector<driver::PeerHealth>& peers, const driver::ProbeTotals& totals,
    const std::map<std::string, std::set<std::string>>& vtepsByNetwork) {
  metrics::DataPlaneSnapshot d;
  d.smallAnswered = totals.smallAnswered;
  d.smallLost = totals.smallLost;
  d.mtuAnswered = totals.mtuAnswered;
  d.mtuLost = totals.mtuLost;
  d.rtt = totals.rtt;
  for (const auto& p : peers) {
    metrics::ProbedPeer x;
    x.vtep = p.vtep;
    // Prometheus label values in snake case ("vxlan-fails" -> "vxlan_fails").
    x.state = driver::peerStateName(p.state);
    for (auto& c : x.state)
      if (c == '-') c = '_';
    for (const auto& [network, vteps] : vtepsByNetwork)
      if (vteps.count(p.vtep)) x.networks.push_back(network);
    if (p.lastSuccess)
      x.lastSuccessUnix = std::chrono::duration<double>(p.lastSuccess->time_since_epoch()).count();
    x.smallLost = p.smallLost;
    x.mtuLost = p.mtuLost;
    d.peers.push_back(std::move(x));
  }
  return d;
}

metrics::EncryptedSnapshot encryptedSnapshot(const nlohmann::json& status) {
  metrics::EncryptedSnapshot e;
  auto num = [](const nlohmann::json& j, const char* k) -> uint64_t {
    return j.is_object() && j.contains(k) && j[k].is_number_unsigned() ? j[k].get<uint64_t>() : 0;
  };
  if (!status.is_object()) return e;
  if (status.contains("networks") && status["networks"].is_array())
    for (const auto& n : status["networks"]) {
      if (!n.is_object() || !n.contains("identity") || !n["identity"].is_string()) continue;
      auto& c = e.networks[n["identity"].get<std::string>()];
      if (!n.contains("peers") || !n["peers"].is_array()) continue;
      for (const auto& p : n["peers"]) {
        c.sealedPackets += num(p, "sealedPackets");
        c.sealedBytes += num(p, "sealedBytes");
        c.openedPackets += num(p, "openedPackets");
        c.openedBytes += num(p, "openedBytes");
        c.authFailed += num(p, "authFailed");
        c.replayed += num(p, "replayed");
        c.staleKey += num(p, "staleKey");
        c.malformed += num(p, "malformedInner");
      }
    }
  const auto u = status.value("unattributed", nlohmann::json::object());
  e.truncated = num(u, "truncated");
  e.badHeader = num(u, "badHeader");
  e.unknownSender = num(u, "unknownSender");
  return e;
}

metrics::Snapshot readSnapshot(const MetricsSources& from) {
  const auto& driver = from.driver;
  metrics::Snapshot s;
  s.networks = driver.networks().size();
  s.faultedNetworks = driver.faults().size();
  s.localEndpoints = driver.endpointCount();
  s.remoteEndpoints = driver.remoteEndpoints().size();
  for (const auto& p : driver.ipamUsage())
    s.pools.push_back({p.pool, p.addressSpace, p.capacity, p.allocated});
  auto k = driver.peerTotals();
  s.kernel = {k.applied, k.failed, k.retries};
  s.corrections = driver.corrections();
  auto ic = driver.ipamClusterCounts();
  s.ipamCluster = {ic.conflictsNow, ic.conflictsDetected, ic.refusedRecords, ic.poolNameMismatches};
  for (const auto& v : driver.networkMtus()) {
    s.mtuMismatchNetworks += v.mismatch() ? 1 : 0;
    s.mtuUnknownHosts += v.unknown.size();
  }
  if (from.gossip) {
    s.gossip = gossipSnapshot(from.gossip->status(kSidecarStatusTimeout),
                              static_cast<uint64_t>(from.gossip->restarts()), from.gossip->refusedMessages(),
                              from.gossip->droppedRecords());
    s.convergenceLag = driver.convergenceLag();
  }
  if (from.prober)
    s.dataPlane =
        dataPlaneSnapshot(from.prober->peers(), from.prober->totals(), driver.remoteVtepsByNetwork());
  if (from.crypto) s.encrypted = encryptedSnapshot(from.crypto());
  return s;
}

}  // namespace weft::plugin
