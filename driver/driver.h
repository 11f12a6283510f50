#pragma once
// The weft driver: networks, endpoints, IPAM, persisted state and its
// restore. Pure C++ over the kernel shim; every public method is safe to call
// from several threads (one lock serializes changes, as libnetwork's peerdb
// serializes peer operations) and is all-or-nothing.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "common/histogram.h"
#include "common/result.h"
#include "driver/cluster.h"
#include "driver/crypto_select.h"
#include "driver/encrypted_plane.h"
#include "driver/esp_epochs.h"
#include "driver/fault_book.h"
#include "driver/ipam.h"
#include "driver/ipam_pool_names.h"
#include "driver/model.h"
#include "driver/network_mtus.h"
#include "driver/network_policy.h"
#include "driver/peer_table.h"
#include "driver/state_store.h"
#include "driver/swarm_nodes.h"
#include "kernel/kernel.h"

namespace weft::driver {

struct DriverConfig {
  std::string stateDir = "/var/lib/weft";
  std::string scope = "local";  // "local" or "global"
  std::string advertiseAddr;    // local VTEP address; empty: let the kernel choose
  uint16_t vxlanPort = 4789;
  uint32_t defaultMtu = 0;  // 0: derive from the underlay
  // The VNI of weft's data-plane probes (HEALTH_VNI, see driver/prober.h):
  // refused for networks, skipped when a VNI is chosen for one. 0: none.
  uint32_t reservedVni = 0;
  // First retry of a network that could not be restored; it doubles up to
  // 60 s (see faults()).
  std::chrono::milliseconds repairRetry{2000};
  // Why the kernel ESP backend of encrypted networks cannot serve here
  // (weft.crypto=kernel is refused with it, and the host advertises no
  // kernel ESP); empty when the kernel probe found ESP with ESN and the
  // large replay window (kernel/probe.cc) -- then the backend also needs
  // its plane (setKernelPlane).
  std::string kernelCryptoOff = "the kernel ESP backend is not running in weft-plugin";
  // Cluster-wide IPAM (standalone scope, with a cluster): settle and grace.
  LeaseRules leaseRules;
  // Longest a RequestAddress waits for a new block's claim to settle.
  std::chrono::milliseconds leaseWait{10000};
  // Run-time self-healing (see Driver::selfHeal): every network's sandbox is
  // compared with what weft wants at least this often, and at once when its
  // namespace reports a change. 0: off.
  std::chrono::milliseconds reconcileInterval{5000};
};

struct IpamData {
  std::string addressSpace;
  std::string pool;
  std::string gateway;
  std::map<std::string, std::string> auxAddresses;
};

struct CreateNetworkRequest {
  std::string networkId;
  std::map<std::string, std::string> generic;  // com.docker.network.generic
  bool enableIpv6 = false;
  bool internal = false;
  std::vector<IpamData> ipv4;
  std::vector<IpamData> ipv6;
};

struct AllocateNetworkRequest {
  std::string networkId;
  std::map<std::string, std::string> options;
  std::vector<IpamData> ipv4;
  std::vector<IpamData> ipv6;
};

struct EndpointInterface {
  std::string address;
  std::string addressIpv6;
  std::string macAddress;
};

struct CreateEndpointRequest {
  std::string networkId;
  std::string endpointId;
  EndpointInterface iface;
};

struct CreateEndpointResult {
  std::optional<std::string> macAddress;  // set only when weft chose it
};

struct JoinResult {
  std::string srcName;
  std::string dstPrefix = "eth";
  // Join's DisableGatewayService: true keeps Docker from adding the
  // container to docker_gwbridge (see Network::wantsGwbridge).
  bool disableGatewayService = false;
};

struct EndpointInfo {
  std::string networkId, endpointId, address, addressIpv6, mac, hostVeth, sandboxVeth;
  bool joined = false;
  uint32_t vni = 0;
};

struct SandboxSpec;
struct Correction;

struct ReconcileReport {
  std::vector<std::string> actions;
  // Networks whose sandbox could not be restored: network id -> why.
  std::map<std::string, std::string> faults;
};

class Driver : public PeerSink {
 public:
  Driver(DriverConfig cfg, kernel::Kernel& kernel);

  // Loads persisted state (a corrupt file is an error: start-up stops and the
  // file is left alone) and reconciles the kernel with it.
  Status start(ReconcileReport* report = nullptr);

  const DriverConfig& config() const { return cfg_; }

  // The data plane of encrypted networks (before start(); may stay null:
  // then `why` says why -o encrypted is refused, e.g. no cluster key).
  void setEncryptedPlane(EncryptedPlane* plane, std::string why = "");
  // The kernel ESP backend's plane (before start()); pairs are put on it
  // only while cfg.kernelCryptoOff is empty (driver/crypto_select.h).
  // `epochs`: its key epochs (driver/esp_epochs.h), whose record is
  // published beside the capability record and which learns the peers'
  // records; `refresh` re-checks the plane's pairs against them (after a
  // peer's epoch changed, a rotation, a grace that ended).
  void setKernelPlane(EncryptedPlane* plane, EspEpochBook* epochs = nullptr,
                      std::function<void()> refresh = {});
  // Periodic (weft-plugin: every 100 ms): the kernel backend's rotations
  // that are due and peers' graces that ended (EspEpochBook::tick); the
  // record is republished and the plane refreshed when they change
  // anything. A no-op without the kernel backend.
  void tickKernelCrypto();
  // weftctl crypto rotate: the kernel backend's next epoch, now or as soon
  // as the minimum interval allows. ENOTSUP without the kernel backend.
  Result<nlohmann::json> rotateKernelCrypto();
  // The peer hosts whose pair is on the kernel backend in some encrypted
  // network (and has entries there): the ones its plane should have ESP with.
  std::set<std::string> kernelPeers() const;
  // Per encrypted network and peer host: the backend chosen and why, and
  // this host's own capabilities (weftctl crypto).
  nlohmann::json cryptoSelection() const;
  HostCrypto hostCrypto() const;

  // --- NetworkDriver ---
  Status createNetwork(const CreateNetworkRequest& r);
  Result<std::map<std::string, std::string>> allocateNetwork(const AllocateNetworkRequest& r);
  Status freeNetwork(const std::string& networkId);
  Status deleteNetwork(const std::string& networkId);
  Result<CreateEndpointResult> createEndpoint(const CreateEndpointRequest& r);
  Result<EndpointInfo> endpointInfo(const std::string& networkId, const std::string& endpointId);
  Status deleteEndpoint(const std::string& networkId, const std::string& endpointId);
  Result<JoinResult> join(const std::string& networkId, const std::string& endpointId,
                          const std::string& sandboxKey);
  Status leave(const std::string& networkId, const std::string& endpointId);
  // Swarm node discovery (DiscoverNew/DiscoverDelete): another node's
  // address seeds the gossip; this node's own (self) is kept to compare with
  // ADVERTISE_ADDR and to show.
  using DiscoveredNode = driver::DiscoveredNode;
  using Discovery = driver::Discovery;
  Status discover(const std::string& address, DiscoveredNode who, Discovery what);
  Status checkEndpoint(const std::string& networkId, const std::string& endpointId);

  // --- IpamDriver ---
  Result<PoolGrant> requestPool(const std::string& addressSpace, const std::string& pool,
                                const std::string& subPool, const std::map<std::string, std::string>& options,
                                bool v6);
  Status releasePool(const std::string& poolId);
  Result<std::string> requestAddress(const std::string& poolId, const std::string& address,
                                     const std::map<std::string, std::string>& options);
  Status releaseAddress(const std::string& poolId, const std::string& address);

  // --- control plane ---
  // Attaches the cluster (may be null: single host) and publishes every
  // joined local endpoint to it.
  void setCluster(Cluster* cluster);
  // --- PeerSink (see driver/cluster.h) ---
  void applyRemote(const EndpointRecord& r, RecordState state) override;
  void beginResync() override;
  // Also removes neighbour/FDB entries no remote endpoint accounts for (left
  // from before a restart).
  size_t prunePeers() override;
  void applyLease(const LeaseClaim& c, bool active) override;
  void memberChanged(const std::string& id, bool alive) override;
  std::vector<EndpointRecord> remoteEndpoints() const;
  // Cluster-wide IPAM as weftctl ipam shows it: pools, blocks, owners, use,
  // conflicts (driver/ipam_view.cc).
  nlohmann::json ipamView() const;
  // Lease records refused (forged, out of bounds) and conflicts found.
  uint64_t refusedLeases() const;
  // weftctl ipam release HOST: a gone host's blocks become reclaimable now
  // (see LeaseBook::expireOwner); returns how many blocks it held here.
  Result<size_t> releaseHost(const std::string& host);
  uint64_t leaseConflicts() const;
  // Cluster-wide IPAM's counts for metrics: lease conflicts now and found
  // since start, lease and pool name records refused, hosts that use one of
  // this host's pool names with another subnet.
  struct IpamClusterCounts {
    uint64_t conflictsNow = 0;
    uint64_t conflictsDetected = 0;
    uint64_t refusedRecords = 0;
    uint64_t poolNameMismatches = 0;
  };
  IpamClusterCounts ipamClusterCounts() const;
  // The hosts this host shares a usable network with (they have at least one
  // endpoint on it): their VTEP address -> the largest MTU of those networks.
  // What the data-plane prober probes.
  std::map<std::string, uint32_t> dataPlanePeers() const;
  // Programs remote endpoints' entries that are due: new ones, and failed
  // ones whose retry time has come. Call it periodically (weft-plugin: every
  // 100 ms); changes the driver makes are programmed by the call that makes
  // them. Returns what the peer table did.
  PeerTable::SyncResult syncPeers();

  // Deletes veths that Leave/DeleteEndpoint took out of service, in one
  // batch per namespace. Call it periodically (weft-plugin: every 100 ms).
  // Returns the number of namespaces reaped.
  size_t reapRetired();

  // Joined endpoints whose container died without a Leave -- the
  // sandbox-side veth vanished with the container's namespace (a daemon
  // crash; Docker never replays Leave for swarm networks, which it does not
  // keep) -- stop being joined and are withdrawn from the cluster, so no
  // host keeps sending their addresses here. Call it periodically
  // (weft-plugin: every 2 s). Returns how many it found.
  size_t sweepVanished();

  // Networks whose sandbox could not be restored (at start, or when one of
  // their repairs failed): they stay in the state and keep their endpoints,
  // Docker calls that need the sandbox fail naming the reason, and every
  // call of repairFaulted() (weft-plugin: every 2 s) tries again. Network
  // id -> why it is not usable.
  std::map<std::string, std::string> faults() const;
  // Tries to restore each faulted network (sandbox, endpoints, remote
  // peers); returns how many are usable again.
  size_t repairFaulted();

  // Run-time self-healing (driver/self_heal.cc): compares the kernel state
  // of each usable network's sandbox -- br0 and the VTEP (present, up, MTU,
  // enslaved), br0's addresses, the joined endpoints' veths (on br0, up),
  // the remote endpoints' neighbour, FDB and flood entries on the VTEP --
  // with what weft wants and puts it back; entries on the VTEP that nothing
  // accounts for are removed. Every network is looked at each
  // DriverConfig::reconcileInterval, and one whose namespace sent change
  // notifications (Kernel::watchChanges) at the next call. Links are
  // repaired under the driver's lock (so never beside a Join, Leave or a
  // network's creation or removal), entries under the peer table's
  // programming lock (never beside its sync). Each correction is logged and
  // counted (corrections()); a network whose repair failed is tried again
  // at every call. Call it periodically (weft-plugin: every 100 ms).
  // Returns how many corrections it made.
  size_t selfHeal();
  // Corrections made by selfHeal() since start: (table, action) -> count;
  // see Correction for the values.
  std::map<std::pair<std::string, std::string>, uint64_t> corrections() const;
  // What selfHeal() has done, for weftctl check/report.
  struct SelfHealSummary {
    bool on = false;
    std::chrono::milliseconds interval{0};
    uint64_t corrections = 0;  // since start, all tables
    std::string last;          // the last correction, in words
    std::string lastNetwork;   // ... and its network's id
    std::optional<std::chrono::system_clock::time_point> lastAt;
    std::map<std::string, std::string> failing;  // network id -> why its sandbox cannot be repaired now
    // Entries nobody asks for are removed only after the control plane's
    // first full sync since start (see PeerTable::heal).
    bool removesStrays = false;
  };
  SelfHealSummary selfHealSummary() const;

  // --- inspection (weftctl, tests) ---
  std::vector<Network> networks() const;
  std::vector<Endpoint> endpoints() const;
  std::set<std::string> discoveredNodes() const;
  std::string swarmAddress() const;  // this node's address as swarm sent it, or ""
  // Remote hosts whose underlay address is of the other family than
  // ADVERTISE_ADDR: their endpoints are refused (weft does not mix families).
  std::set<std::string> refusedPeers() const { return peers_.refusedVteps(); }
  size_t endpointCount() const;
  // --- metrics ---
  std::vector<PoolUsage> ipamUsage() const;
  // Kernel operations on remote endpoints' entries since start (all syncs).
  PeerTable::SyncResult peerTotals() const { return peers_.totals(); }
  // Convergence lag: for each remote endpoint's record change the control
  // plane delivered (applyRemote) that changed the peer table, the seconds
  // from its arrival here to the sync that programmed its kernel entries
  // having returned without a failure (a failed one is retried and not
  // observed: the lag of a failure is in weft_kernel_peer_* instead). The
  // records carry no origin time (gossip versions are counters), so the
  // lag across the cluster is not measurable here; this is this host's part.
  Histogram convergenceLag() const;
  // Network identity -> the remote VTEPs with at least one endpoint on it.
  std::map<std::string, std::set<std::string>> remoteVtepsByNetwork() const { return peers_.remoteVteps(); }
  // Each local network's MTU here and on the other hosts that carry it
  // (driver/mtu_calls.cc): what the others published (host -> MTU), and the
  // hosts with endpoints on it that published none (an older weft).
  struct NetworkMtuView {
    std::string networkId, identity;
    uint32_t mtu = 0;
    std::map<std::string, uint32_t> hosts;
    std::set<std::string> unknown;
    bool mismatch() const;  // a host's MTU differs from this host's
  };
  std::vector<NetworkMtuView> networkMtus() const;
  uint64_t stateWrites() const { return store_.writes(); }

 private:
  // Under mu_: serialize the state; returns the text and change number.
  std::pair<std::string, uint64_t> snapshotLocked() const;
  // Without mu_: make the current change durable.
  Status commit(uint64_t seq);
  // Every durable change goes through here: `change` runs under mu_ and
  // says whether it changed the state (an error: it changed nothing). A
  // change is durable before this returns; if the state cannot be written,
  // `undo` runs under mu_ and the change never happened.
  enum class Changed { kNo, kYes };
  Status changeDurably(const std::function<Result<Changed>()>& change, const std::function<void()>& undo);
  uint64_t bumpLocked() { return ++changeSeq_; }
  Status loadFrom(const nlohmann::json& j);
  Status reconcileLocked(ReconcileReport* report);
  // Under mu_: brings one network's sandbox and endpoints in line with the
  // state (start-up reconcile and repair).
  Status reconcileNetworkLocked(Network& n, std::vector<std::string>* did);
  // Under mu_: OK when n's sandbox is usable, repairing a faulted network
  // first; otherwise an error that says why.
  Status usableLocked(Network& n);
  // Under mu_: n's sandbox is not usable (reason): its endpoints are not
  // joined, and a retry is scheduled.
  void markFaultyLocked(Network& n, const std::string& reason);
  // Under mu_: one repair attempt; on success n's sandbox is attached to the
  // peer table again and its joined endpoints are published again.
  Status repairLocked(Network& n);
  // Takes mu_ itself: one repair attempt of every faulted network that is due.
  size_t repairDue();
  Result<uint32_t> mtuFor(const NetworkOptions& o, Ipv6Subnets v6) const;
  // The backend that serves an encrypted network here, or why none can
  // (the network must then be refused at creation).
  Result<CryptoBackend> cryptoFor(const NetworkOptions& o) const;
  // Under mu_: n's ports in the encrypted planes its -o weft.crypto can
  // use (a no-op for plain networks), and their removal.
  Status attachEncryptedLocked(const Network& n);
  void detachEncryptedLocked(const Network& n);
  // Why this host cannot run the kernel backend (empty: it can). Set up
  // before start() and fixed after: no lock.
  std::string kernelOff() const;
  // Under mu_: publishes this host's capability record while it has an
  // encrypted network, withdraws it when the last one goes.
  void publishCryptoCapsLocked();
  // Feeds each encrypted network's remote entries to the backend chosen for
  // each peer (syncPeers).
  void syncEncryptedPeers();
  SandboxSpec sandboxSpecLocked(const Network& n) const;

  EndpointRecord localRecordLocked(const Endpoint& e) const;
  // Under mu_: n's joined endpoints whose sandbox-side veth is gone become
  // not joined (and are withdrawn). Returns how many.
  size_t markVanishedLocked(const Network& n);
  // Under mu_: forgets n's endpoints that are not joined (after
  // markVanishedLocked). Only for when Docker holds no endpoint on n: when
  // it creates n (again). Returns how many.
  size_t dropOrphansLocked(Network& n);
  std::string retiredNameLocked(const std::string& netns);
  // Runs `change` on one address pool under the lock and makes it durable;
  // if the state cannot be written, the pool is put back as it was.
  Status changePoolDurably(const std::string& poolId, const std::function<Status()>& change);
  // Under mu_: publishes this host's lease claims that changed, withdraws
  // the ones it gave up, and logs conflicts not logged before.
  void syncLeasesLocked();

  DriverConfig cfg_;
  kernel::Kernel& kernel_;
  Cluster* cluster_ = nullptr;  // guarded by mu_
  EncryptedPlane* plane_ = nullptr;
  std::string planeOff_ = "the userspace datapath is not running";
  EncryptedPlane* kernelPlane_ = nullptr;
  // Other hosts' crypto capabilities, and per encrypted network (identity)
  // and peer VTEP the backend chosen (guarded by mu_).
  CryptoCaps cryptoCaps_;
  bool capsPublished_ = false;
  // The kernel backend's key epochs and its plane's refresh (set before
  // start(), fixed after); the epoch published (0: none).
  EspEpochBook* espEpochs_ = nullptr;
  std::function<void()> refreshKernel_;
  uint32_t espPublished_ = 0;
  // Under mu_: this host's epoch record follows its epoch while the
  // capability record is published.
  void publishEspEpochLocked();
  std::map<std::string, std::map<std::string, PairSelection>> selections_;
  // Remote endpoints and their kernel entries (in memory; re-learnt after a
  // restart). Its own lock: it never waits for mu_, and programs the kernel
  // only in peers_.sync(), which is never called with mu_ held.
  PeerTable peers_;
  mutable std::mutex lagMu_;  // a leaf lock: nothing is taken under it
  Histogram lag_{latencyBuckets()};
  StateStore store_;
  mutable std::mutex mu_;
  std::map<std::string, Network> networks_;
  std::map<std::string, Endpoint> endpoints_;
  Ipam ipam_;
  SwarmNodes swarm_;
  uint64_t changeSeq_ = 0;
  std::set<std::string> retiredIn_;  // namespaces holding retired veths
  FaultBook faults_;                 // networks that are not usable, why, when to retry (see faults())
  uint32_t retiredSeq_ = 0;
  // Cluster-wide IPAM: what the cluster was told, conflicts already logged,
  // refused lease records (logged at most every 10 s).
  std::map<std::pair<std::string, uint32_t>, LeaseClaim> publishedLeases_;
  std::set<std::tuple<std::string, uint32_t, std::string>> loggedConflicts_;
  uint64_t leaseConflicts_ = 0;
  uint64_t refusedLeases_ = 0;
  uint64_t refusedUnlogged_ = 0;
  int64_t refusedLoggedAtUs_ = INT64_MIN;
  // Named pools (driver/ipam_pool_names.h): the other hosts' records, what
  // this host published, mismatches already logged.
  PoolNames poolNames_;
  std::map<std::string, PoolNameUse> publishedPoolNames_;
  std::set<std::string> loggedNameMismatches_;
  std::map<std::string, PoolNameUse> poolNameUseLocked() const;
  void syncPoolNamesLocked();
  void applyPoolNameLocked(const EndpointRecord& r, bool active);
  void refusedRecordLocked(const std::string& what, int64_t nowUs);
  // Network MTUs (driver/network_mtus.h): the other hosts' records, what
  // this host published (identity -> MTU), mismatches already logged.
  NetworkMtus mtus_;
  std::map<std::string, uint32_t> publishedMtus_;
  std::set<std::string> loggedMtuMismatches_;
  uint64_t refusedMtuRecords_ = 0;
  std::map<std::string, uint32_t> mtuUseLocked() const;
  void syncMtuRecordsLocked();
  void applyMtuRecordLocked(const EndpointRecord& r, bool active);
  // Blocks reclaimed from a gone host (its id, the block), and the remote
  // endpoints of that host in them forgotten (see ipam_cluster.cc).
  std::vector<std::pair<std::string, Prefix>> reclaimedBlocksLocked() const;
  size_t dropReclaimedRemotes();
  // The error a request from pool `poolId` gets while another host uses its
  // name with another subnet.
  std::optional<Error> poolNameMismatchLocked(const std::string& poolId) const;
  // Self-healing, guarded by mu_: each usable network's change watch (by
  // network id), when all are looked at next, the corrections so far, and
  // the networks whose last link repair failed (logged once).
  std::map<std::string, kernel::ChangeWatchPtr> watches_;
  std::chrono::steady_clock::time_point nextHeal_{};
  std::map<std::pair<std::string, std::string>, uint64_t> corrections_;
  std::map<std::string, std::string> healFailing_;  // network id -> why
  std::string lastFix_, lastFixNetwork_;
  std::optional<std::chrono::system_clock::time_point> lastFixAt_;
  // Under mu_: repairs n's links and addresses; appends what it did.
  Status healLinksLocked(Network& n, std::vector<Correction>* fixes);
};

// Docker object IDs: 12 to 128 characters of [0-9a-zA-Z] (Docker uses 64 hex).
bool validObjectId(const std::string& id);
// The same check as an error naming the field.
Status checkObjectId(const char* field, const std::string& id);

}  // namespace weft::driver
