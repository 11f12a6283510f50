#pragma once
// What weft's state looks like at one scrape: plain values the plugin reads
// from the driver and the gossip sidecar when Prometheus asks, so the gauges
// are never stale and nothing is kept up to date between scrapes.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace weft::metrics {

struct PoolUse {
  std::string pool;          // CIDR, e.g. "10.10.0.0/24"
  std::string addressSpace;  // weft-local | weft-global
  double capacity = 0;       // addresses in the allocation range (double: a v6 /64 has 2^64)
  uint64_t allocated = 0;
};

// Kernel programming of remote endpoints' entries (neighbour, FDB, flood),
// counted since the plugin started.
struct KernelTotals {
  uint64_t applied = 0;  // operations that succeeded
  uint64_t failed = 0;   // operations that failed (each is retried)
  uint64_t retries = 0;  // sandbox syncs that retried after a failure
};

// What the run-time reconcile (driver::Driver::selfHeal) put back, by kernel
// table and action, counted since the plugin started.
using Corrections = std::map<std::pair<std::string, std::string>, uint64_t>;  // (table, action) -> count

struct GossipMember {
  std::string id;
  std::string state;  // alive | suspect | dead | left
};

// The sidecar's status reply (cluster/ipc_messages.h StatusEvent) and the
// supervisor's own counters.
struct GossipSnapshot {
  bool up = false;  // the sidecar answered the status request
  std::string self;
  std::vector<GossipMember> members;
  std::map<std::string, uint64_t> stats;  // the sidecar's counters, by its names
  std::map<std::string, uint64_t> authFailuresByHost;
  uint64_t restarts = 0;          // sidecar restarts
  uint64_t refusedMessages = 0;   // IPC messages from the sidecar refused as malformed
  uint64_t droppedRecords = 0;    // records of networks this host does not carry
};

// Cluster-wide IPAM (driver::Driver::ipamClusterCounts).
struct IpamClusterTotals {
  uint64_t conflictsNow = 0;       // blocks this host and another both handed out from
  uint64_t conflictsDetected = 0;  // such conflicts found since start
  uint64_t refusedRecords = 0;     // lease and pool name records refused
  uint64_t poolNameMismatches = 0;  // hosts that use a pool name of this host with another subnet
};

struct Snapshot {
  size_t networks = 0;
  size_t faultedNetworks = 0;
  size_t localEndpoints = 0;
  size_t remoteEndpoints = 0;
  std::vector<PoolUse> pools;
  KernelTotals kernel;
  Corrections corrections;
  IpamClusterTotals ipamCluster;
  std::optional<GossipSnapshot> gossip;  // absent: multi-host is off
};

}  // namespace weft::metrics
