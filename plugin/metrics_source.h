#pragma once
// What a scrape of weft-plugin's /metrics reads: the driver's networks,
// endpoints, pools, kernel totals and convergence lag, the data-plane
// prober's results, the encrypted datapath's counters, and -- multi-host --
// the gossip sidecar's status (asked over IPC at scrape time: the sidecar
// is unprivileged and opens no listening port of its own) with the
// supervisor's counters.

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>

#include "cluster/supervisor.h"
#include "driver/driver.h"
#include "driver/prober.h"
#include "metrics/snapshot.h"

namespace weft::plugin {

// How long a scrape waits for the sidecar's status; past it the gossip
// families say weft_sidecar_up 0.
inline constexpr std::chrono::milliseconds kSidecarStatusTimeout{2000};

// Where a scrape reads. Each may be absent (null, empty): that part is off.
struct MetricsSources {
  const driver::Driver& driver;
  cluster::Supervisor* gossip = nullptr;
  const driver::Prober* prober = nullptr;
  std::function<nlohmann::json()> crypto;  // /weft.Crypto's answer (driver::UserspacePlane::status)
};
metrics::Snapshot readSnapshot(const MetricsSources& from);
inline metrics::Snapshot readSnapshot(const driver::Driver& driver, cluster::Supervisor* gossip) {
  return readSnapshot(MetricsSources{driver, gossip, nullptr, {}});
}

// The sidecar's status as the metrics module wants it.
metrics::GossipSnapshot gossipSnapshot(const Result<cluster::ipc::StatusEvent>& status, uint64_t restarts,
                                       uint64_t refusedMessages, uint64_t droppedRecords);

// The prober's peers and totals, each peer with the networks (identities)
// it shares with this host (Driver::remoteVtepsByNetwork).
metrics::DataPlaneSnapshot dataPlaneSnapshot(
    const std::vector<driver::PeerHealth>& peers, const driver::ProbeTotals& totals,
    const std::map<std::string, std::set<std::string>>& vtepsByNetwork);

// The encrypted datapath's status (/weft.Crypto) summed per network over its
// peers. Fields it lacks count 0.
metrics::EncryptedSnapshot encryptedSnapshot(const nlohmann::json& status);

}  // namespace weft::plugin
