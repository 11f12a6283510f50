#include "driver/swarm_nodes.h"

namespace weft::driver {

bool SwarmNodes::apply(const std::string& address, DiscoveredNode who, Discovery what) {
  const SwarmNodes before = *this;
  const bool add = what == Discovery::kNew;
  if (who == DiscoveredNode::kSelf) {
    if (add)
      self_ = address;
    else if (self_ == address)
      self_.clear();
  } else if (add) {
    others_.insert(address);
  } else {
    others_.erase(address);
  }
  return !(*this == before);
}

}  // namespace weft::driver
