// What the netlink message tests (nl_msg_test.cc, nl_msg_xfrm_test.cc) share:
// a message's bytes, its top-level attributes, parsed addresses.
#pragma once

#include <libmnl/libmnl.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/ip.h"
#include "kernel/nl_message.h"

namespace weft::kernel::nltest {

using Bytes = std::vector<uint8_t>;

inline Bytes bytesOf(const nl::Message& m) { return Bytes(m.bytes().begin(), m.bytes().end()); }

// The first top-level attribute of `type` after a fixed header of hdrLen.
inline const nlattr* findAttr(const nlmsghdr* nlh, size_t hdrLen, uint16_t type) {
  for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, hdrLen));
       mnl_attr_ok(a, static_cast<int>(static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh)) -
                                       reinterpret_cast<const char*>(a)));
       a = mnl_attr_next(a))
    if (mnl_attr_get_type(a) == type) return a;
  return nullptr;
}

inline IpAddr ip(const char* s) { return *IpAddr::parse(s); }

}  // namespace weft::kernel::nltest
