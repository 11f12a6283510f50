#pragma once
// Private to kernel/: routes in the main table (RTM_*ROUTE) and the decoder
// of RTM_NEWROUTE. Routes weft manages carry protocol "static"
// (kRouteProto); listing and deleting match it.

#include <linux/rtnetlink.h>

#include <optional>

#include "common/ip.h"
#include "kernel/nl_message.h"
#include "kernel/validate.h"

namespace weft::kernel::nl {

inline constexpr uint8_t kRouteProto = RTPROT_STATIC;

// oif 0: no RTA_OIF (the gateway decides). r.dev is not read.
Message routeAdd(const Route& r, int oif);
Message routeDelete(const Route& r, int oif);
Message routeDump(int family);

struct RouteRecord {
  uint32_t table = 0;  // RTA_TABLE, else rtm_table
  uint8_t protocol = 0;
  uint8_t type = 0;
  Prefix dst;
  std::optional<IpAddr> gateway;
  int oif = 0;
};
std::optional<RouteRecord> parseRoute(const nlmsghdr* nlh);

}  // namespace weft::kernel::nl
