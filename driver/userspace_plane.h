#pragma once
// The userspace backend of encrypted networks (issue 11): weft's own
// datapath (datapath/) in a thread of weft-plugin. Each attached network has
// a persistent TAP on br0 of its sandbox in place of the VXLAN VTEP; one UDP
// socket on ADVERTISE_ADDR:ENCRYPTED_PORT carries every encrypted network's
// sealed frames. The forwarding table and the peers come from the peer table
// (setPeers): MAC -> peer underlay address, flood list = the network's peers
// (head-end replication of broadcast and multicast). Routable multicast
// groups get their own peer lists from the multicast pruner (setGroups:
// only the hosts with listeners), as a plain network's VTEP gets per-group
// FDB entries.
//
// Keys: the datapath derives one key per network, host pair, direction and
// epoch with HKDF from the cluster's primary key (datapath/keys.h); the
// network's identity is the HKDF's network id. Nothing key-related is ever
// sent. A host's id in the derivation is its underlay address, its sender id
// on the wire that IPv4 address (an FNV-1a hash of an IPv6 one).
//
// Epochs: a sender must never seal at an epoch it used before (the sequence
// restarts with each). Start epochs are reserved in blocks of kEpochBlock in
// <state dir>/datapath-epoch, written (atomically, fsync'd) before the
// block is used; when the sessions' highest epoch passes half the block,
// the next block is reserved. A restart -- also after kill -9 -- starts
// past every block it reserved. A peer that leaves keeps its sessions while
// the plugin runs, so coming back never restarts an epoch either.
//
// Restarts: the TAP persists, and so does the forwarding table -- each
// network's entries (MAC -> peer, flood list) are written to
// <state dir>/datapath-peers.json whenever they change. A restarted plane
// loads them and carries traffic with them as soon as a network is attached,
// before the gossip sidecar has even started: entries the cluster then
// reports win, the kept ones fill in until the control plane has resynced
// (pruneRestored), as a plain network's kernel FDB entries do across a
// restart. The file is a cache: unreadable, it is ignored (logged), and the
// entries come from gossip as on a first start.
//
// The loop thread owns the Datapath; every change (attach, detach, new
// peers, forwarding entries, a status read) stops it, changes what it owns
// and starts it again -- frames wait in the socket and TAP queues meanwhile.

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "driver/encrypted_plane.h"
#include "kernel/fd.h"
#include "kernel/kernel.h"

namespace weft::datapath {
class Datapath;
class DatapathLoop;
struct IoCounters;
}  // namespace weft::datapath

namespace weft::driver {

inline constexpr uint32_t kEpochBlock = 1u << 16;
inline constexpr const char* kEncryptedTapName = "wenc0";  // one per sandbox

struct UserspacePlaneConfig {
  std::string self;  // this host's underlay address (ADVERTISE_ADDR)
  uint16_t port = 4790;
  std::vector<uint8_t> key;  // the cluster's primary key, 32 bytes
  std::string epochFile;     // <state dir>/datapath-epoch
  std::string peersFile;     // <state dir>/datapath-peers.json; "" = not kept
};

class UserspacePlane : public EncryptedPlane {
 public:
  // Reserves the first epoch block and opens the UDP socket (in the caller's
  // namespace); the thread starts with the first network.
  static Result<std::unique_ptr<UserspacePlane>> start(kernel::Kernel& kernel, UserspacePlaneConfig cfg);
  ~UserspacePlane() override;

  Status attach(const EncryptedNetwork& n) override;
  void detach(const std::string& identity) override;
  void setPeers(const std::string& identity, const PeerEntries& entries) override;
  void pruneRestored() override;
  void setGroups(const std::string& identity, const GroupRoutes& routes) override;

  // Reserves the next epoch block when the sessions come close to the end
  // of this one, and writes the forwarding table if it changed since the
  // last tick (one write however many changes a resync brings). Call it
  // periodically (weft-plugin: every 100 ms).
  void tick();

  // Moves every sender session to its next key epoch now; {"rotated": N}.
  nlohmann::json rotate();

  // Per network and peer: backend, key epoch, packets, bytes, drops by
  // reason (weftctl networks/peers, /weft.Crypto).
  nlohmann::json status();

  // The sender id of an underlay address (IPv4: its value; IPv6: FNV-1a).
  static uint32_t senderIdOf(const std::string& addr);

 private:
  UserspacePlane(kernel::Kernel& kernel, UserspacePlaneConfig cfg);
  // Under mu_: stop the loop thread / start it with the current TAPs.
  void pauseLocked();
  void resumeLocked();
  Status reserveLocked();
  struct Net;
  // Under mu_: programs `entries` as the network's forwarding table.
  void applyLocked(const std::string& identity, Net& n, const PeerEntries& entries);
  // What the network carries: the cluster's entries, and those kept from
  // before the restart that the cluster has not contradicted yet.
  PeerEntries effectiveLocked(const std::string& identity, const PeerEntries& desired) const;
  void loadPeersFile();
  void savePeersLocked() { peersDirty_ = true; }  // written by the next tick()
  void writePeersLocked();
  // The group lists `n`'s routes and peers make, written to the table when
  // they changed; the loop must be paused when `paused`, else it is paused
  // here if needed.
  void applyGroupsLocked(Net& n, bool paused);

  struct Net {
    EncryptedNetwork spec;
    kernel::Fd tap;
    PeerEntries entries;                                // programmed
    PeerEntries desired;                                // the cluster's (setPeers)
    std::set<std::string> peers;                        // VTEPs with a datapath session
    GroupRoutes routes;                                 // from the multicast pruner
    std::map<IpAddr, std::vector<std::string>> groups;  // in the table
  };

  kernel::Kernel& kernel_;
  const UserspacePlaneConfig cfg_;
  std::mutex mu_;
  kernel::Fd udp_;
  std::unique_ptr<datapath::Datapath> dp_;
  std::unique_ptr<datapath::DatapathLoop> loop_;
  std::thread thread_;
  std::unique_ptr<datapath::IoCounters> io_;     // of loops that ended
  std::map<std::string, Net> nets_;              // by identity
  std::map<std::string, PeerEntries> restored_;  // from peersFile, until pruneRestored
  bool peersDirty_ = false;
  uint32_t startEpoch_ = 0;    // of every session this run
  uint32_t reservedUpTo_ = 0;  // epochs below it are this run's
};

}  // namespace weft::driver
