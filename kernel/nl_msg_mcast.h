#pragma once
// Private to kernel/: a bridge's multicast snooping settings (RTM_NEWLINK,
// IFLA_INFO_DATA of kind "bridge"), a port's multicast-router mode
// (IFLA_INFO_SLAVE_DATA of slave kind "bridge"), and the bridge's MDB
// (RTM_GETMDB dump, AF_BRIDGE, br_port_msg). Pure: values in, bytes out.
// The kernel keeps the intervals in centiseconds (u64 clock_t, USER_HZ).

#include <optional>
#include <utility>
#include <vector>

#include "common/ip.h"
#include "kernel/bridge_mcast.h"
#include "kernel/nl_message.h"

namespace weft::kernel::nl {

Message bridgeMcastSet(int index, const BridgeMcast& c);
Message portMcastRouterSet(int index, McastRouter mode);
Message portIsolatedSet(int index, bool isolated);
Message mdbDump(int bridgeIndex);

// From an RTM_NEWLINK of a bridge: its snooping settings (nullopt when the
// message is not one or carries none).
std::optional<BridgeMcast> parseBridgeMcast(const nlmsghdr* nlh);
// From an RTM_NEWLINK of a bridge port: its multicast-router mode.
std::optional<McastRouter> parsePortMcastRouter(const nlmsghdr* nlh);
// From an RTM_NEWLINK of a bridge port: whether it is isolated.
std::optional<bool> parsePortIsolated(const nlmsghdr* nlh);
// From an RTM_GETMDB (dump) or RTM_NEWMDB message of bridge `bridgeIndex` (others give nothing): each IP
// group's (port ifindex, group); layer-2 entries are skipped.
std::vector<std::pair<int, IpAddr>> parseMdb(const nlmsghdr* nlh, int bridgeIndex);

}  // namespace weft::kernel::nl
