// Docker's IPAM calls and swarm node discovery: each change made durable
// before it is answered, and undone if it cannot be.

#include <functional>

#include "common/log.h"
#include "driver/driver.h"

namespace weft::driver {

// ---------------------------------------------------------------- discovery

Status Driver::discover(const std::string& address, DiscoveredNode who, Discovery what) {
  const bool self = who == DiscoveredNode::kSelf, add = what == Discovery::kNew;
  if (!IpAddr::parse(address))
    return Error{EINVAL, "DiscoveryData.Address \"" + address + "\" is not an IP address"};
  SwarmNodes saved;
  bool changed = false;
  auto change = [&]() -> Result<Changed> {
    saved = swarm_;
    if (!swarm_.apply(address, who, what)) return Changed::kNo;
    if (cluster_ && add && !self) cluster_->addSeed(address);
    changed = true;
    return Changed::kYes;
  };
  Status st = changeDurably(change, [&] { swarm_ = std::move(saved); });
  if (!changed) return st;
  if (self && add && !cfg_.advertiseAddr.empty() && cfg_.advertiseAddr != address)
    LOG_WARN("driver", "swarm knows this node as "
                           << address << " but ADVERTISE_ADDR is " << cfg_.advertiseAddr
                           << ": other hosts reach this one's VTEP and gossip at " << cfg_.advertiseAddr
                           << "; make sure that is intended");
  if (self && add && cfg_.advertiseAddr.empty())
    LOG_WARN("driver", "swarm knows this node as "
                           << address
                           << " but ADVERTISE_ADDR is not set, so weft runs single-host: "
                              "set ADVERTISE_ADDR="
                           << address << " (docker plugin set) to join the weft cluster");
  return st;
}

// ---------------------------------------------------------------- IPAM

Result<PoolGrant> Driver::requestPool(const std::string& addressSpace, const std::string& pool,
                                      const std::string& subPool,
                                      const std::map<std::string, std::string>& options, bool v6) {
  PoolGrant g;
  auto change = [&]() -> Result<Changed> {
    auto r = ipam_.requestPool(addressSpace, pool, subPool, options, v6);
    if (!r.ok()) return r.error();
    g = *r;
    return Changed::kYes;
  };
  if (auto st = changeDurably(change, [&] { ipam_.restorePool(g.poolId, std::nullopt); }); !st)
    return st.error();
  return g;
}

Status Driver::changePoolDurably(const std::string& poolId, const std::function<Status()>& change) {
  std::optional<AddressPool> saved;
  return changeDurably(
      [&]() -> Result<Changed> {
        saved = ipam_.pool(poolId);
        if (auto st = change(); !st) return st.error();
        return Changed::kYes;
      },
      [&] { ipam_.restorePool(poolId, saved); });
}

Status Driver::releasePool(const std::string& poolId) {
  return changePoolDurably(poolId, [&] { return ipam_.releasePool(poolId); });
}

Result<std::string> Driver::requestAddress(const std::string& poolId, const std::string& address,
                                           const std::map<std::string, std::string>& options) {
  std::string got;
  auto st = changePoolDurably(poolId, [&]() -> Status {
    auto r = ipam_.requestAddress(poolId, address, options);
    if (!r.ok()) return r.error();
    got = *r;
    return Status::Ok();
  });
  if (!st) return st.error();
  return got;
}

Status Driver::releaseAddress(const std::string& poolId, const std::string& address) {
  return changePoolDurably(poolId, [&] { return ipam_.releaseAddress(poolId, address); });
}

}  // namespace weft::driver
