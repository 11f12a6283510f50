#pragma once
// Named cluster-wide IPAM pools (--ipam-opt weft.name=NAME) and what each
// host means by a name. Hosts agree on a pool by its CIDR, so two hosts that
// give one name different --subnet values would silently run two pools
// under one name. To find that, every host that uses a named pool publishes
// one record per name in the control-plane network "ipam-name:<NAME>" (so
// only hosts using that name carry it) with the subnets the name stands for
// there; PoolNames keeps the other hosts' records and says who disagrees.
// Pure: the driver publishes and applies the records.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"
#include "driver/cluster.h"
#include "driver/per_host_table.h"

namespace weft::driver {

inline constexpr const char* kPoolNameNetworkPrefix = "ipam-name:";
// A bound on what one member can make this host keep per name.
inline constexpr size_t kMaxOwnersPerName = 1024;

// What one host means by a pool name: its IPv4 and IPv6 pool (either empty).
struct PoolNameUse {
  std::string v4, v6;
  bool operator==(const PoolNameUse&) const = default;
};

// Another host that uses `name` with a different subnet of the same family.
struct PoolNameMismatch {
  std::string name;
  std::string owner;   // the other host (its underlay address)
  std::string theirs;  // its CIDR
  std::string ours;
};

class PoolNames {
 public:
  static bool isRecordNetwork(const std::string& network);
  // The record this host (`self`, its underlay address) publishes for `name`.
  static EndpointRecord record(const std::string& name, const PoolNameUse& use, const std::string& self);

  // Another host's record arrived (active) or went away. Refused, changing
  // nothing, when it is not well formed; this host's own records are ignored.
  Status apply(const EndpointRecord& r, bool active, const std::string& self);

  // A host that uses `name` for a pool of `pool`'s family other than `pool`.
  std::optional<PoolNameMismatch> mismatch(const std::string& name, const Prefix& pool) const;
  // Every mismatch with this host's named pools (name -> what it means here).
  std::vector<PoolNameMismatch> mismatches(const std::map<std::string, PoolNameUse>& mine) const;
  size_t size() const { return byName_.size(); }

 private:
  PerHostTable<PoolNameUse> byName_{kMaxOwnersPerName};  // name -> owner -> use
};

}  // namespace weft::driver
