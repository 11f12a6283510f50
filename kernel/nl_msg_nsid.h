#pragma once
// Private to kernel/: the ids a namespace keeps for its peer namespaces
// (RTM_GETNSID), by which rtnetlink reaches a peer's links
// (IFLA_TARGET_NETNSID, nl_msg_link.h) even when no file reaches the peer.

#include "kernel/nl_message.h"

namespace weft::kernel::nl {

// Every peer id the socket's namespace has assigned.
Message nsidDump();
// The id of the namespace of nsFd (NETNSA_FD).
Message nsidOfFd(int nsFd);
// NETNSA_NSID of an RTM_NEWNSID; -1 (NETNSA_NSID_NOT_ASSIGNED) when it has none.
int parseNsid(const nlmsghdr* nlh);

}  // namespace weft::kernel::nl
