#pragma once
// The driver's view of the control plane: it publishes its local endpoints
// and is told about remote ones. The real implementation is the weft-gossip
// sidecar behind plugin/gossip_supervisor; tests use an in-memory one.

#include <string>

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

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual void publish(const EndpointRecord& r) = 0;
  virtual void withdraw(const std::string& network, const std::string& endpoint) = 0;
  // Another host's underlay address to join through (swarm's DiscoverNew).
  virtual void addSeed(const std::string& address) = 0;
};

}  // namespace weft::driver
