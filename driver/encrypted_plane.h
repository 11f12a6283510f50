#pragma once
// The driver's view of the data plane of encrypted networks (issue 11): a
// network with -o encrypted has no VXLAN VTEP in its sandbox; its port on
// br0 belongs to the encrypted plane instead (the userspace backend: a TAP
// whose frames weft seals and sends itself, driver/userspace_plane.h). The
// driver attaches and detaches networks and feeds each one's remote
// endpoints from the peer table, as it programs a VTEP's FDB for a plain
// network.

#include <cstdint>
#include <string>

#include "common/result.h"
#include "driver/mcast_plan.h"
#include "driver/peer_table.h"

namespace weft::driver {

struct EncryptedNetwork {
  std::string identity;  // cluster-wide (key derivation)
  uint32_t vni = 0;
  std::string netns;  // the sandbox holding br0
  uint32_t mtu = 0;
};

class EncryptedPlane {
 public:
  virtual ~EncryptedPlane() = default;
  // Puts the network's port on br0 of its sandbox and starts carrying its
  // frames. Attaching a network that is attached already (a restart adopting
  // its port) is fine.
  virtual Status attach(const EncryptedNetwork& n) = 0;
  // Stops carrying the network's frames; its port goes with the sandbox.
  virtual void detach(const std::string& identity) = 0;
  // The network's remote endpoints (MAC -> peer, flood list = its peers).
  // Called often with the same entries: a no-op unless they changed.
  virtual void setPeers(const std::string& identity, const PeerEntries& entries) = 0;
  // The control plane has confirmed (resynced) the remote endpoints: entries
  // the plane kept from before a restart and no record asked for since go,
  // as a plain network's kernel entries do (PeerTable::pruneStale).
  virtual void pruneRestored() {}
  // Multicast pruning (driver/mcast_pruner.h): which hosts each routable
  // group goes to; groups not in `routes` (and every group of an empty
  // plan) go to every peer. Called every pruner pass: a no-op unless the
  // result changed.
  virtual void setGroups(const std::string& identity, const GroupRoutes& routes) = 0;
};

}  // namespace weft::driver
