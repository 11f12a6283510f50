#include "plugin/metrics_source.h"

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

metrics::Snapshot readSnapshot(const driver::Driver& driver, cluster::Supervisor* gossip) {
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
  if (gossip)
    s.gossip =
        gossipSnapshot(gossip->status(kSidecarStatusTimeout), static_cast<uint64_t>(gossip->restarts()),
                       gossip->refusedMessages(), gossip->droppedRecords());
  return s;
}

}  // namespace weft::plugin
