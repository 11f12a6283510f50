#pragma once
// What a scrape of weft-plugin's /metrics reads: the driver's networks,
// endpoints, pools and kernel totals, and -- multi-host -- the gossip
// sidecar's status (asked over IPC at scrape time: the sidecar is
// unprivileged and opens no listening port of its own) with the
// supervisor's counters.

#include <chrono>

#include "cluster/supervisor.h"
#include "driver/driver.h"
#include "metrics/snapshot.h"

namespace weft::plugin {

// How long a scrape waits for the sidecar's status; past it the gossip
// families say weft_sidecar_up 0.
inline constexpr std::chrono::milliseconds kSidecarStatusTimeout{2000};

// `gossip` is null when multi-host is off.
metrics::Snapshot readSnapshot(const driver::Driver& driver, cluster::Supervisor* gossip);

// The sidecar's status as the metrics module wants it.
metrics::GossipSnapshot gossipSnapshot(const Result<cluster::ipc::StatusEvent>& status, uint64_t restarts,
                                       uint64_t refusedMessages, uint64_t droppedRecords);

}  // namespace weft::plugin
