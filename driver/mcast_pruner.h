#pragma once
// Multicast pruning (issue 14), the moving part: per network, learns this
// host's listeners from the sandbox bridge's MDB, advertises them through
// the cluster (gossip records, gossip/daemon/mcast_records.h), and writes
// the VTEP's per-group FDB entries from every host's advertisements
// (driver/mcast_plan.h). Kernel access only through kernel/ (Kernel for the
// FDB, BridgeMulticast for snooping and the MDB).
//
// How the sandbox bridge is set (see kernel/bridge_mcast.h for the facts):
// snooping on, so joins and leaves reach the MDB; the bridge's own querier
// on, speaking IGMPv3/MLDv2, so listeners are asked again every query
// interval and a quiet listener's entry never expires while it listens
// (without a querier nothing refreshes it, and a host whose entry expired
// would stop getting the group); every port in permanent multicast-router
// mode, so the bridge itself never prunes: every container and the VTEP
// get every multicast frame, and only the VTEP's FDB entries choose the
// hosts. Link-local groups and broadcast are never pruned, groups nobody
// advertises keep the flood, and a host that advertises nothing (pruning
// off there, or an older weft) gets every group: nothing is pruned on a
// guess, only on a host's own word that it has no listener.
//
// Encrypted networks: the same bridge settings (their port on br0 is the
// encrypted plane's TAP), the same advertisements; the hosts each group goes
// to are handed to the encrypted plane (EncryptedPlane::setGroups, exact
// groups, the datapath's head-end replication) instead of a VTEP's FDB.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "driver/cluster.h"
#include "driver/encrypted_plane.h"
#include "driver/mcast_plan.h"
#include "kernel/bridge_mcast.h"
#include "kernel/kernel.h"

namespace weft::driver {

class Driver;

// One network as the pruner sees it (a snapshot from the driver).
struct McastNetwork {
  std::string id;                     // local network id
  std::string identity;               // cluster identity
  std::string netns;                  // sandbox namespace
  std::string vtep;                   // VTEP device (encrypted: the plane's TAP) in the sandbox
  std::set<std::string> ports;        // container ports on br0
  std::set<std::string> remoteVteps;  // other hosts of the network
  bool encrypted = false;             // groups go to the encrypted plane
};
// Every VXLAN and encrypted network of `d`.
std::vector<McastNetwork> mcastNetworks(const Driver& d);

// The sandbox bridge's settings while pruning (see above).
kernel::BridgeMcast pruningBridgeMcast();

struct McastPrunerConfig {
  bool enabled = true;                      // MCAST_PRUNING
  std::string selfVtep;                     // this host's VTEP address (ADVERTISE_ADDR)
  std::string selfName;                     // how weftctl names this host
  std::chrono::milliseconds interval{200};  // between looks at the MDBs
};

class McastPruner : public McastSink {
 public:
  using Source = std::function<std::vector<McastNetwork>()>;
  McastPruner(McastPrunerConfig cfg, kernel::Kernel& k, kernel::BridgeMulticast& bm, Source networks,
              Cluster* cluster);
  ~McastPruner() override;

  // One pass over every network: bridge settings, local listeners (and
  // their advertisement when changed), the VTEP's group entries. Returns how
  // many kernel entries it changed. Pruning off: removes group entries only.
  size_t pass();
  // pass() every interval (and at once when an advertisement arrives).
  void start();
  void stop();
  // Where encrypted networks' group routes go (null: none attached). Set
  // before start().
  void setEncryptedPlane(EncryptedPlane* plane) { plane_ = plane; }

  void applyMcast(const McastAdvert& a, bool active) override;
  void resyncMcast() override;

  // Per network: pruning on, this host's groups, and who receives each group.
  nlohmann::json view() const;

 private:
  struct NetState {
    LocalGroups local;
    bool advertised = false;
    std::map<IpAddr, std::set<std::string>> receivers;
    std::map<MacAddr, std::set<IpAddr>> plan;
    bool encrypted = false;
    std::string error;
  };
  size_t passNetwork(const McastNetwork& n, NetState& st);
  void configureBridge(const McastNetwork& n);
  std::vector<HostGroups> remotesLocked(const McastNetwork& n) const;

  McastPrunerConfig cfg_;
  kernel::Kernel& k_;
  kernel::BridgeMulticast& bm_;
  Source networks_;
  Cluster* cluster_;
  EncryptedPlane* plane_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool wake_ = false;
  std::thread thread_;
  // Remote advertisements: identity -> owner -> advertisement.
  std::map<std::string, std::map<std::string, McastAdvert>> remote_;
  std::map<std::string, NetState> state_;                     // by network id
  std::map<std::string, McastAdvert> published_;              // by identity
  std::set<std::pair<std::string, std::string>> configured_;  // (netns, link) set up
  uint64_t passes_ = 0;
};

}  // namespace weft::driver
