// Docker's IPAM calls and swarm node discovery: each change made durable
// before it is answered, and undone if it cannot be.

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

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
    // A named cluster-wide pool another host uses with another subnet.
    if (auto m = poolNameMismatchLocked(g.poolId)) {
      ipam_.restorePool(g.poolId, std::nullopt);
      return *m;
    }
    return Changed::kYes;
  };
  if (auto st = changeDurably(change, [&] { ipam_.restorePool(g.poolId, std::nullopt); }); !st)
    return st.error();
  std::lock_guard<std::mutex> lk(mu_);
  syncPoolNamesLocked();
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
  auto st = changePoolDurably(poolId, [&] { return ipam_.releasePool(poolId); });
  std::lock_guard<std::mutex> lk(mu_);
  syncPoolNamesLocked();
  return st;
}

Result<std::string> Driver::requestAddress(const std::string& poolId, const std::string& address,
                                           const std::map<std::string, std::string>& options) {
  using namespace std::chrono;
  const auto deadline = steady_clock::now() + cfg_.leaseWait;
  for (;;) {
    std::string got;
    std::optional<AddressPool> saved;
    int64_t retryAtUs = 0;
    auto st = changeDurably(
        [&]() -> Result<Changed> {
          saved = ipam_.pool(poolId);
          if (auto m = poolNameMismatchLocked(poolId)) return *m;
          const int64_t nowUs = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
          const auto wallUs = static_cast<uint64_t>(
              duration_cast<microseconds>(system_clock::now().time_since_epoch()).count());
          auto r = ipam_.requestAddress(poolId, address, options, nowUs, wallUs);
          syncLeasesLocked();  // a new claim goes out now, even while it settles
          if (!r.ok()) {
            if (r.code() == EAGAIN) retryAtUs = ipam_.leaseRetryAtUs(poolId);
            return r.error();
          }
          got = *r;
          return Changed::kYes;
        },
        [&] {
          // Not durable: the address was never handed out.
          if (saved && saved->clustered)
            if (auto* book = ipam_.leaseBook(saved->pool.str()))
              if (auto a = Prefix::parse(got)) book->release(a->addr);
          ipam_.restorePool(poolId, saved);
        });
    if (st) return got;
    if (st.code() != EAGAIN) return st.error();
    // A block of a cluster-wide pool was claimed: it is usable once the
    // other hosts had the time to object (LeaseRules::settleUs).
    const int64_t nowUs = duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count();
    auto wait = microseconds(std::clamp<int64_t>(retryAtUs - nowUs, 1000, cfg_.leaseRules.settleUs));
    if (steady_clock::now() + wait > deadline)
      return Error{ETIMEDOUT, st.error().message + "; gave up after " +
                                  std::to_string(duration_cast<milliseconds>(cfg_.leaseWait).count()) +
                                  " ms"};
    std::this_thread::sleep_for(wait);
  }
}

Status Driver::releaseAddress(const std::string& poolId, const std::string& address) {
  return changePoolDurably(poolId, [&] { return ipam_.releaseAddress(poolId, address); });
}

}  // namespace weft::driver
