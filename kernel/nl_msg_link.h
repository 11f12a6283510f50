#pragma once
// Private to kernel/: RTM_*LINK messages for any link kind (get, list,
// delete, state, MTU, master, name, group, namespace, bridges) and the
// decoder of RTM_NEWLINK. Pure: value types in, bytes out. Kinds with their
// own creation attributes live in nl_msg_veth.h and nl_msg_vxlan.h.

#include <cstdint>
#include <optional>
#include <string>

#include "kernel/nl_message.h"
#include "kernel/types.h"

namespace weft::kernel::nl {

// A request for one link; the reply is one RTM_NEWLINK (ENODEV if missing).
Message linkGet(const std::string& name);
Message linkGetByIndex(int index);
Message linkDump();
Message linkDelete(const std::string& name);
// Deletes every link of the group in one request (ENODEV when none is in it).
Message linkDeleteGroup(uint32_t group);
Message linkSetUp(const std::string& name, bool up);
Message linkSetMtu(const std::string& name, uint32_t mtu);
// masterIndex 0 detaches.
Message linkSetMaster(int index, int masterIndex);
// Down and detached in one request: the first half of retiring a link (the
// kernel renames only links that are down).
Message linkSetDownDetached(int index);
// Renames (an empty newName keeps the name) and moves into link group `group`.
Message linkRenameIntoGroup(int index, const std::string& newName, uint32_t group);
// Moves the link into the namespace of nsFd (IFLA_NET_NS_FD).
Message linkMoveToNetns(int index, int nsFd);
// A link of a peer namespace, by the id the socket's namespace has for it
// (IFLA_TARGET_NETNSID, Linux 4.20+): no file need reach that namespace.
Message linkGetInPeer(int nsid, const std::string& name);
Message linkDeleteInPeer(int nsid, const std::string& name);
// mtu 0: the kernel's default.
Message bridgeCreate(const std::string& name, uint32_t mtu);

struct LinkRecord {
  LinkInfo info;        // info.master is left empty: only the index is known
  int masterIndex = 0;  // IFLA_MASTER, 0 if none
};
// Decodes an RTM_NEWLINK message; nullopt for any other message or a short one.
std::optional<LinkRecord> parseLink(const nlmsghdr* nlh);

}  // namespace weft::kernel::nl
