#pragma once
// Private to kernel/: interface addresses (RTM_*ADDR) and the decoder of
// RTM_NEWADDR.

#include <optional>

#include "common/ip.h"
#include "kernel/nl_message.h"

namespace weft::kernel::nl {

// IPv6 addresses get IFA_F_NODAD: usable at once, no DAD wait.
Message addrAdd(int ifindex, const Prefix& c);
Message addrDelete(int ifindex, const Prefix& c);
// family AF_UNSPEC: both.
Message addrDump(int family);

struct AddrRecord {
  int ifindex = 0;
  Prefix cidr;
};
// IPv4/IPv6 addresses only (IFA_LOCAL, else IFA_ADDRESS); nullopt otherwise.
std::optional<AddrRecord> parseAddr(const nlmsghdr* nlh);

}  // namespace weft::kernel::nl
