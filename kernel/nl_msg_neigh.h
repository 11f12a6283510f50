#pragma once
// Private to kernel/: neighbour entries (RTM_*NEIGH, AF_INET/AF_INET6):
// IP -> MAC on a device, NUD_PERMANENT. Also the decoder every RTM_NEWNEIGH
// reply goes through, FDB entries (AF_BRIDGE, nl_msg_fdb.h) included.

#include <cstdint>
#include <optional>

#include "common/ip.h"
#include "kernel/nl_message.h"
#include "kernel/types.h"

namespace weft::kernel::nl {

// How a new entry meets an existing one for the same key.
enum class NeighWrite {
  kCreate,   // NLM_F_CREATE | NLM_F_EXCL: an existing entry is EEXIST
  kReplace,  // NLM_F_CREATE | NLM_F_REPLACE: created, or overwritten in place
};

Message neighAdd(int ifindex, const IpAddr& ip, const MacAddr& mac, NeighWrite how);
Message neighDelete(int ifindex, const IpAddr& ip);
// Every neighbour entry of one family in the namespace (filter by ifindex).
Message neighDump(int family);

// One RTM_NEWNEIGH, as far as weft reads it.
struct NeighRecord {
  int family = 0;  // AF_INET, AF_INET6 or AF_BRIDGE (an FDB entry)
  int ifindex = 0;
  uint16_t state = 0;  // NUD_*
  uint8_t flags = 0;   // NTF_*
  std::optional<IpAddr> dst;
  std::optional<MacAddr> mac;
  std::optional<uint16_t> port;  // NDA_PORT, host order here
  std::optional<uint32_t> vni;   // NDA_VNI
};
// nullopt for any other message or a short one.
std::optional<NeighRecord> parseNeigh(const nlmsghdr* nlh);

}  // namespace weft::kernel::nl
