#pragma once
// The swarm nodes Docker told this host about (DiscoverNew/DiscoverDelete):
// other nodes' addresses, which seed the gossip, and this node's own, kept
// to compare with ADVERTISE_ADDR and to show. A plain value; the Driver
// keeps one under its lock and makes its changes durable.

#include <set>
#include <string>

namespace weft::driver {

enum class DiscoveredNode { kOther, kSelf };
enum class Discovery { kNew, kDeleted };

class SwarmNodes {
 public:
  SwarmNodes() = default;
  SwarmNodes(std::set<std::string> others, std::string self)
      : others_(std::move(others)), self_(std::move(self)) {}

  // Applies one discovery; true when it changed anything. Deleting a self
  // address other than the one held changes nothing.
  bool apply(const std::string& address, DiscoveredNode who, Discovery what);

  const std::set<std::string>& others() const { return others_; }
  const std::string& self() const { return self_; }  // "" when swarm has not said
  bool operator==(const SwarmNodes&) const = default;

 private:
  std::set<std::string> others_;
  std::string self_;
};

}  // namespace weft::driver
