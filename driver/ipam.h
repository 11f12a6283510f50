#pragma once
// Address pools and allocations for weft's IPAM driver. Per host unless
// leases are enabled (enableLeases: a standalone host in a cluster): then a
// pool requested without a range (with a subnet, a weft.name, or neither:
// the default pool) is "clustered" and its dynamic
// and requested addresses come from the blocks this host leases
// (driver/ipam_leases.h), so they are unique across the cluster.

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "driver/ipam_leases.h"

namespace weft::driver {

inline constexpr const char* kLocalAddressSpace = "weft-local";
inline constexpr const char* kGlobalAddressSpace = "weft-global";
inline constexpr const char* kGatewayRequestType = "com.docker.network.gateway";
// --ipam-opt weft.name=NAME without --subnet: every host derives the same
// pool from NAME (IPv4 a /24 of 10.128.0.0/9, IPv6 a /64 of
// fd77:7765:6675::/48), so hosts agree without anyone choosing a subnet.
inline constexpr const char* kPoolNameOption = "weft.name";

struct AddressPool {
  std::string id;
  std::string addressSpace;
  Prefix pool;                    // network form
  std::optional<Prefix> subPool;  // allocation range (--ip-range), network form
  std::map<std::string, std::string> options;
  std::set<u128> allocated;
  std::optional<IpAddr> gateway;
  u128 cursor = 0;         // where the next dynamic allocation starts looking
  bool clustered = false;  // addresses from this host's leases of the pool
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
  // The same for any pool; a clustered pool needs the time: `nowUs` a
  // monotonic clock, `wallUs` the wall clock (stamps new claims). EAGAIN
  // from a clustered pool: retry at leaseRetryAtUs().
  Result<std::string> requestAddress(const std::string& poolId, const std::string& address,
                                     const std::map<std::string, std::string>& options, int64_t nowUs,
                                     uint64_t wallUs);
  Status releaseAddress(const std::string& poolId, const std::string& address);

  // Cluster-wide leases (see the top of this file). `self` is this host's
  // node id, as the cluster knows it.
  void enableLeases(const std::string& self, const LeaseRules& rules);
  bool leasesEnabled() const { return !leaseSelf_.empty(); }
  const std::string& leaseSelf() const { return leaseSelf_; }
  LeaseBook* leaseBook(const std::string& poolCidr);
  std::map<std::string, LeaseBook>& leaseBooks() { return leases_; }
  const std::map<std::string, LeaseBook>& leaseBooks() const { return leases_; }
  int64_t leaseRetryAtUs(const std::string& poolId) const;
  // After loading saved state: every restored lease waits `settle` again.
  void restartLeases(int64_t nowUs);

  const std::map<std::string, AddressPool>& pools() const { return pools_; }
  std::vector<PoolUsage> usage() const;
  // For rolling back a change that could not be made durable.
  std::optional<AddressPool> pool(const std::string& id) const;
  void restorePool(const std::string& id, const std::optional<AddressPool>& saved);
  nlohmann::json toJson() const;
  static Result<Ipam> fromJson(const nlohmann::json& j);

 private:
  Result<Prefix> defaultPool(bool v6) const;
  Result<std::string> requestClustered(AddressPool& p, const std::string& address, bool gateway,
                                       int64_t nowUs, uint64_t wallUs);
  std::map<std::string, AddressPool> pools_;
  uint64_t nextPoolSeq_ = 1;
  std::string leaseSelf_;
  LeaseRules leaseRules_;
  std::map<std::string, LeaseBook> leases_;  // by pool CIDR
};

}  // namespace weft::driver
