#pragma once
// Service virtual IPs inside a container's network namespace: traffic the
// container sends to a VIP is spread over the service's backends (nftables
// DNAT in the output hook; conntrack keeps each connection on its backend).
// The rules live in one nftables table per weft network, so two networks'
// VIPs in one container never touch each other, and removing the table
// removes everything weft put there.

#include <string>
#include <vector>

#include "common/ip.h"
#include "common/result.h"

namespace weft::kernel {

struct ServiceVip {
  IpAddr vip;
  // Empty: the VIP refuses (ICMP unreachable) instead of black-holing.
  std::vector<IpAddr> backends;
  bool operator==(const ServiceVip&) const = default;
};

// Limits: a table is rebuilt whole on each change, so it stays small.
inline constexpr size_t kMaxVipsPerTable = 1024;
inline constexpr size_t kMaxBackendsPerVip = 1024;

// Table names are "weft-svc-" + tag; a tag is 1..32 of [0-9a-zA-Z_-].
bool validVipTableTag(const std::string& tag);

// The nftables script that makes the table `weft-svc-<tag>` hold exactly
// `vips` (an empty list deletes the table), atomically: nft applies one
// script as one transaction. EINVAL for a bad tag, a family mix inside one
// VIP, or too many VIPs/backends.
Result<std::string> renderVipScript(const std::string& tag, const std::vector<ServiceVip>& vips);

}  // namespace weft::kernel
