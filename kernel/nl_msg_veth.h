#pragma once
// Private to kernel/: creating a veth pair (RTM_NEWLINK, kind "veth"): the
// peer is described by its own ifinfomsg and attributes nested in
// IFLA_INFO_DATA/VETH_INFO_PEER, and created directly in the namespace of
// peerNsFd.

#include <cstdint>
#include <string>

#include "kernel/nl_message.h"

namespace weft::kernel::nl {

inline constexpr int kSameNetns = -1;

// mtu 0: the kernel's default (for both ends). peerNsFd kSameNetns: the peer
// stays in the namespace of the socket.
Message vethCreate(const std::string& name, const std::string& peerName, uint32_t mtu, int peerNsFd);

}  // namespace weft::kernel::nl
