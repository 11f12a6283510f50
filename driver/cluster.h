#pragma once
// The driver's view of the control plane, both ways: it publishes its local
// endpoints through a Cluster and is told about remote ones as a PeerSink.
// The real Cluster is cluster/supervisor (the weft-gossip sidecar behind it);
// tests use in-memory ones. Nothing here knows about the sidecar's protocol.

#include <cstddef>
#include <string>
#include <vector>

#include "driver/lease_claim.h"

namespace weft::driver {

// One endpoint as the cluster knows it. `network` is the network's identity
// (what hosts agree on: "subnet:...", "name:...", "id:..."), not a local ID.
struct EndpointRecord {
  std::string network;
  std::string endpoint;
  std::string ipv4;  // CIDR, may be empty
  std::string ipv6;  // CIDR, may be empty
  std::string mac;
  std::string vtep;  // the owner's underlay address
  bool operator==(const EndpointRecord&) const = default;
};

// One endpoint's names on a network (issue 12): its container's name,
// aliases and compose service, with the endpoint's addresses (no length).
struct EndpointNames {
  std::string network;  // cluster identity
  std::string endpoint;
  std::string owner;  // node id of the writer; empty for this host's own
  std::string ipv4, ipv6;
  std::vector<std::string> names;
  bool operator==(const EndpointNames&) const = default;
};

// One host's multicast listeners on one network (issue 14, multicast
// pruning): the routable groups some container of the host listens to, or
// `all` when it listens to more than fit in one advertisement (it then gets
// every group). A host that pruning is on for advertises every network it
// has endpoints on, with no groups if none; a host that advertises nothing
// (pruning off, or an older weft) gets every group.
struct McastAdvert {
  std::string network;              // cluster identity
  std::string owner;                // node id of the writer; empty for this host's own
  std::string vtep;                 // the writer's VTEP address: where its copies go
  std::vector<std::string> groups;  // sorted group addresses
  bool all = false;
  bool operator==(const McastAdvert&) const = default;
};
// What one advertisement holds at most, per family (one gossip record:
// the groups as hex in one 255-byte field each). A host with more listeners
// advertises `all` instead: more traffic than needed, never less.
inline constexpr size_t kMaxMcastV4Groups = 31;
inline constexpr size_t kMaxMcastV6Groups = 7;

// Where multicast advertisements from the control plane go (the multicast
// pruner, driver/mcast_pruner.h). Called from the cluster's thread, one at
// a time; validated in form.
class McastSink {
 public:
  virtual ~McastSink() = default;
  virtual void applyMcast(const McastAdvert& a, bool active) = 0;
  // A new control-plane session: every remote advertisement is reported again.
  virtual void resyncMcast() = 0;
};

// What the control plane says of a remote endpoint: there (new or changed),
// or gone.
enum class RecordState { kActive, kWithdrawn };

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual void publish(const EndpointRecord& r) = 0;
  virtual void withdraw(const std::string& network, const std::string& endpoint) = 0;
  // Another host's underlay address to join through (swarm's DiscoverNew).
  virtual void addSeed(const std::string& address) = 0;
  // This host's leases of cluster-wide IPAM blocks (owner: this host). The
  // defaults are those of a cluster that carries no leases (tests' fakes of
  // endpoint-only clusters).
  virtual void publishLease(const LeaseClaim& c) { (void)c; }
  virtual void withdrawLease(const std::string& pool, uint32_t block) {
    (void)pool;
    (void)block;
  }
  // This host's MTU of one of its networks (driver/network_mtus.h builds the
  // record: an endpoint record of the control-plane network "mtu:<identity>");
  // a cluster that carries no MTUs ignores them (tests' endpoint-only fakes).
  virtual void publishMtu(const EndpointRecord& r) { (void)r; }
  virtual void withdrawMtu(const std::string& network, const std::string& endpoint) {
    (void)network;
    (void)endpoint;
  }
  // This host's endpoints' names (owner: this host); a cluster that carries
  // no names ignores them.
  virtual void publishNames(const EndpointNames& n) { (void)n; }
  virtual void withdrawNames(const std::string& network, const std::string& endpoint) {
    (void)network;
    (void)endpoint;
  }
  // This host's multicast listeners on a network (owner: this host); a
  // cluster that carries none ignores them.
  virtual void publishMcast(const McastAdvert& a) { (void)a; }
  virtual void withdrawMcast(const std::string& network) { (void)network; }
};

// Where names from the control plane go (services/name_service.h): remote
// names, and the endpoint records they are checked against. Called from the
// cluster's thread, one at a time; validated in form.
class NameSink {
 public:
  virtual ~NameSink() = default;
  virtual void applyNames(const EndpointNames& n, bool active) = 0;
  // A remote endpoint record (addresses as CIDRs), with its owner.
  virtual void endpointRecord(const EndpointRecord& r, const std::string& owner, bool active) = 0;
  // A new control-plane session: everything remote is reported again.
  virtual void resyncNames() = 0;
};

// What arrives from the control plane. Calls come from the cluster's own
// thread, one at a time; records reach it validated (well-formed addresses,
// only networks this host carries).
class PeerSink {
 public:
  virtual ~PeerSink() = default;
  // A remote endpoint appeared or changed (kActive), or went away.
  virtual void applyRemote(const EndpointRecord& r, RecordState state) = 0;
  // A new control-plane session starts (the sidecar was (re)started): remote
  // endpoints it does not report again before the next prunePeers() go.
  virtual void beginResync() = 0;
  // Ends the resync window: forgets remote endpoints not confirmed since
  // beginResync(). Returns how many kernel entries it removed.
  virtual size_t prunePeers() = 0;
  // Another host's lease appeared or changed (active) or went away; these
  // reach it validated in form only: the driver judges their content.
  virtual void applyLease(const LeaseClaim& c, bool active) {
    (void)c;
    (void)active;
  }
  // A member became unreachable (alive false) or came back.
  virtual void memberChanged(const std::string& id, bool alive) {
    (void)id;
    (void)alive;
  }
};

}  // namespace weft::driver
