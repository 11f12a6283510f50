#pragma once
// Private to kernel/: forwarding entries of a VXLAN device (RTM_*NEIGH,
// AF_BRIDGE, NTF_SELF: the device's own table, not its master bridge's), as
// iproute2's bridge/fdb.c writes them. NUD_PERMANENT|NUD_NOARP: never aged,
// never resolved. NDA_PORT is network order, NDA_VNI host order. Replies
// decode with parseNeigh (nl_msg_neigh.h).

#include <optional>

#include "common/ip.h"
#include "kernel/nl_message.h"
#include "kernel/types.h"

namespace weft::kernel::nl {

// How a new entry meets existing ones for the same MAC.
enum class FdbWrite {
  kCreate,   // NLM_F_CREATE | NLM_F_EXCL: an existing MAC is EEXIST
  kAppend,   // NLM_F_CREATE | NLM_F_APPEND: one more destination (all-zero
             // flood MAC, multicast); one already there is silently kept
  kReplace,  // NLM_F_CREATE | NLM_F_REPLACE: a unicast MAC's destination is
             // overwritten in place (the kernel refuses it for flood MACs)
};

struct FdbTarget {
  MacAddr mac;
  IpAddr dst;                    // the remote VTEP
  std::optional<uint16_t> port;  // UDP port; absent: the device's own
  std::optional<uint32_t> vni;   // absent: the device's own
};

Message fdbAdd(int ifindex, const FdbTarget& t, FdbWrite how);
// Without dst: the MAC with all its destinations.
Message fdbDelete(int ifindex, const MacAddr& mac, const std::optional<IpAddr>& dst);
// The entry of one MAC (rtnl_fdb_get, a request, not a dump): the reply is
// one RTM_NEWNEIGH with the MAC's first destination (a unicast MAC has only
// one), or ENOENT.
Message fdbGet(int ifindex, const MacAddr& mac);
// The entries of one bridge port (device): the ifinfomsg header's index is
// the kernel's filter (rtnl_fdb_dump); the bridge's own entries for that
// port come along (without NTF_SELF).
Message fdbDump(int ifindex);

}  // namespace weft::kernel::nl
