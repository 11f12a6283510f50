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

#include "common/histogram.h"

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
  uint64_t restarts = 0;         // sidecar restarts
  uint64_t refusedMessages = 0;  // IPC messages from the sidecar refused as malformed
  uint64_t droppedRecords = 0;   // records of networks this host does not carry
};

// The data-plane prober (driver/prober.h): each peer host's state, and what
// every round so far measured.
struct ProbedPeer {
  std::string vtep;
  std::string state;                      // ok | pending | vxlan_fails | mtu_fails
  std::vector<std::string> networks;      // identities of the networks this host shares with it
  std::optional<double> lastSuccessUnix;  // last answered small probe, seconds since the epoch
  uint64_t smallLost = 0, mtuLost = 0;
};
struct DataPlaneSnapshot {
  std::vector<ProbedPeer> peers;
  uint64_t smallAnswered = 0, smallLost = 0, mtuAnswered = 0, mtuLost = 0;
  Histogram rtt;  // seconds
};

// One encrypted network's datapath counters (datapath/counters.h), summed
// over its peers.
struct EncryptedCounters {
  uint64_t sealedPackets = 0, sealedBytes = 0, openedPackets = 0, openedBytes = 0;
  uint64_t authFailed = 0, replayed = 0, staleKey = 0, malformed = 0;
};
struct EncryptedSnapshot {
  std::map<std::string, EncryptedCounters> networks;  // by identity
  // Dropped before a network or peer was known.
  uint64_t truncated = 0, badHeader = 0, unknownSender = 0;
};

// Cluster-wide IPAM (driver::Driver::ipamClusterCounts).
struct IpamClusterTotals {
  uint64_t conflictsNow = 0;        // blocks this host and another both handed out from
  uint64_t conflictsDetected = 0;   // such conflicts found since start
  uint64_t refusedRecords = 0;      // lease and pool name records refused
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
  // Networks of this host that another host carries with another MTU, and
  // hosts with endpoints on a network of this host that say no MTU for it
  // (an older weft) -- driver::Driver::networkMtus.
  size_t mtuMismatchNetworks = 0;
  size_t mtuUnknownHosts = 0;
  std::optional<GossipSnapshot> gossip;        // absent: multi-host is off
  std::optional<Histogram> convergenceLag;     // absent: multi-host is off
  std::optional<DataPlaneSnapshot> dataPlane;  // absent: probes are off
  std::optional<EncryptedSnapshot> encrypted;  // absent: encrypted networks are off
};

}  // namespace weft::metrics
