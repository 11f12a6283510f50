#pragma once
// Address pools and allocations for weft's IPAM driver. Per host for now:
// an address is never handed out twice by one host; cluster-wide uniqueness
// is a separate concern (see README, IPAM).

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace weft::driver {

inline constexpr const char* kLocalAddressSpace = "weft-local";
inline constexpr const char* kGlobalAddressSpace = "weft-global";
inline constexpr const char* kGatewayRequestType = "com.docker.network.gateway";

struct AddressPool {
  std::string id;
  std::string addressSpace;
  Prefix pool;                    // network form
  std::optional<Prefix> subPool;  // allocation range (--ip-range), network form
  std::map<std::string, std::string> options;
  std::set<u128> allocated;
  std::optional<IpAddr> gateway;
  u128 cursor = 0;  // where the next dynamic allocation starts looking
};

// One pool's use, for metrics: its usable addresses (network and broadcast
// addresses of an IPv4 pool left out) and how many are allocated.
struct PoolUsage {
  std::string id;
  std::string pool;  // CIDR
  std::string addressSpace;
  double capacity = 0;  // double: an IPv6 /64 holds 2^64
  uint64_t allocated = 0;
};

struct PoolGrant {
  std::string poolId;
  std::string pool;                         // CIDR
  std::map<std::string, std::string> data;  // e.g. gateway
};

class Ipam {
 public:
  Result<PoolGrant> requestPool(const std::string& addressSpace, const std::string& pool,
                                const std::string& subPool, const std::map<std::string, std::string>& options,
                                bool v6);
  Status releasePool(const std::string& poolId);
  // Returns "a.b.c.d/len". `address` may be empty (any free address).
  Result<std::string> requestAddress(const std::string& poolId, const std::string& address,
                                     const std::map<std::string, std::string>& options);
  Status releaseAddress(const std::string& poolId, const std::string& address);

  const std::map<std::string, AddressPool>& pools() const { return pools_; }
  std::vector<PoolUsage> usage() const;
  // For rolling back a change that could not be made durable.
  std::optional<AddressPool> pool(const std::string& id) const;
  void restorePool(const std::string& id, const std::optional<AddressPool>& saved);
  nlohmann::json toJson() const;
  static Result<Ipam> fromJson(const nlohmann::json& j);

 private:
  Result<Prefix> defaultPool(bool v6) const;
  std::map<std::string, AddressPool> pools_;
  uint64_t nextPoolSeq_ = 1;
};

}  // namespace weft::driver
