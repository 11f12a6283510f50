#pragma once
// Private to kernel/: creating a VXLAN device (RTM_NEWLINK, kind "vxlan") and
// decoding its IFLA_INFO_DATA. Byte order as the kernel wants it:
// IFLA_VXLAN_ID host order, IFLA_VXLAN_PORT big-endian (network order).

#include "kernel/nl_message.h"
#include "kernel/types.h"

namespace weft::kernel::nl {

// spec as checked by checkVxlanSpec (kernel/validate.h); port 0 means 4789.
Message vxlanCreate(const VxlanSpec& spec);
// Fills vni, port (host order), learning and the local address from a vxlan's IFLA_INFO_DATA
// (nullptr: nothing).
void parseVxlanData(const nlattr* data, LinkInfo* l);

}  // namespace weft::kernel::nl
