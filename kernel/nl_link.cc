// NetlinkKernel: links (bridge, veth, vxlan), state, MTU, master, listing.
// Messages come from nl_msg_link.h, nl_msg_veth.h and nl_msg_vxlan.h.
#include <map>

#include "kernel/link_cache.h"
#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/nl_msg_link.h"
#include "kernel/nl_msg_veth.h"
#include "kernel/nl_msg_vxlan.h"
#include "kernel/validate.h"

namespace weft::kernel {

Result<nl::LinkRecord> NetlinkKernel::queryLink(nl::Socket& sock, const std::string& name, int index,
                                                const std::string& op) {
  auto m = index ? nl::linkGetByIndex(index) : nl::linkGet(name);
  std::optional<nl::LinkRecord> found;
  Status s = sock.request(m, op + ": link '" + name + "'", [&](const nlmsghdr* r) {
    if (auto l = nl::parseLink(r)) found = std::move(l);
  });
  if (!s) return nl::translate(s, ENODEV, ENOENT).error();
  if (!found) return Error{ENOENT, op + ": link '" + name + "' does not exist"};
  return *found;
}

Result<LinkInfo> NetlinkKernel::queryLinkWithMaster(nl::Socket& sock, const std::string& name, int index,
                                                    const std::string& op) {
  auto l = queryLink(sock, name, index, op);
  if (!l) return l.error();
  if (l->masterIndex) {
    auto master = queryLink(sock, "", l->masterIndex, op);
    if (master) l->info.master = master->info.name;
  }
  return l->info;
}

Result<int> NetlinkKernel::ifIndex(nl::Socket& sock, const std::string& name, const std::string& op) {
  auto l = queryLink(sock, name, 0, op);
  if (!l) return l.error();
  return l->info.ifindex;
}

Result<LinkRef> NetlinkKernel::linkRef(const NsConn& conn, const std::string& name, const std::string& op,
                                       bool* cached) {
  if (auto ref = conn.links->find(name)) {
    *cached = true;
    return *ref;
  }
  *cached = false;
  auto l = queryLink(*conn, name, 0, op);
  if (!l) return l.error();
  LinkRef ref{l->info.ifindex, l->info.kind};
  conn.links->put(name, ref);
  return ref;
}

Status NetlinkKernel::withLink(const NsConn& conn, const std::string& name, const std::string& op,
                               const std::function<Status(const LinkRef&)>& send) {
  bool cached = false;
  auto ref = linkRef(conn, name, op, &cached);
  if (!ref) return ref.error();
  Status s = send(*ref);
  if (s.code() != ENODEV || !cached) return s;
  // The link went behind our back (or was re-created): look it up again.
  conn.links->forget(name);
  ref = linkRef(conn, name, op, &cached);
  if (!ref) return ref.error();
  return send(*ref);
}

Status NetlinkKernel::deleteLinkWith(nl::Socket& sock, const std::string& name, const std::string& op) {
  auto m = nl::linkDelete(name);
  return nl::translate(sock.request(m, op + ": deleting link '" + name + "'"), ENODEV, ENOENT);
}

Status NetlinkKernel::createBridge(const Netns& ns, const std::string& name, uint32_t mtu) {
  if (auto s = checkLinkName("createBridge", name); !s) return s;
  if (auto s = checkMtu("createBridge " + name, mtu, true); !s) return s;
  auto sock = routeSocket(ns, "createBridge");
  if (!sock) return sock.error();
  sock->links->forget(name);
  auto m = nl::bridgeCreate(name, mtu);
  return (*sock)->request(m, "createBridge " + name);
}

Status NetlinkKernel::createVeth(const Netns& ns, const std::string& name, const Netns& peerNs,
                                 const std::string& peerName, uint32_t mtu) {
  if (auto s = checkLinkName("createVeth", name); !s) return s;
  if (auto s = checkLinkName("createVeth", peerName); !s) return s;
  if (auto s = checkMtu("createVeth " + name, mtu, true); !s) return s;
  auto sock = routeSocket(ns, "createVeth");
  if (!sock) return sock.error();
  auto peerFd = nsFd(peerNs, "createVeth");
  if (!peerFd) return peerFd.error();
  sock->links->forget(name);
  forgetLink(peerNs, peerName);
  auto m = nl::vethCreate(name, peerName, mtu, peerFd->get());
  return (*sock)->request(m, "createVeth " + name + "/" + peerName);
}

Status NetlinkKernel::createVxlan(const VxlanSpec& spec, const Netns& targetNs) {
  if (auto s = checkVxlanSpec(spec); !s) return s;
  const std::string op = "createVxlan " + spec.name;
  auto target = nsFd(targetNs, "createVxlan");
  if (!target) return target.error();
  auto host = routeSocket(kHostNetns, "createVxlan");
  if (!host) return host.error();
  host->links->forget(spec.name);
  forgetLink(targetNs, spec.name);

  auto m = nl::vxlanCreate(spec);
  if (auto s = (*host)->request(m, op); !s) return s;
  if (targetNs.empty()) return {};

  // Move it; on failure delete it again so nothing is left half-made.
  Status moved = [&]() -> Status {
    auto index = ifIndex(**host, spec.name, op);
    if (!index) return index.error();
    auto mv = nl::linkMoveToNetns(*index, target->get());
    return (*host)->request(mv, op + ": moving into namespace '" + targetNs + "'");
  }();
  if (!moved) (void)deleteLinkWith(**host, spec.name, op + " (undo)");
  return moved;
}

Status NetlinkKernel::deleteLink(const Netns& ns, const std::string& name) {
  if (auto s = checkLinkName("deleteLink", name); !s) return s;
  auto sock = routeSocket(ns, "deleteLink");
  if (!sock) return sock.error();
  sock->links->forget(name);
  return deleteLinkWith(**sock, name, "deleteLink");
}

Status NetlinkKernel::setLinkUp(const Netns& ns, const std::string& name, bool up) {
  if (auto s = checkLinkName("setLinkUp", name); !s) return s;
  auto sock = routeSocket(ns, "setLinkUp");
  if (!sock) return sock.error();
  auto m = nl::linkSetUp(name, up);
  return nl::translate((*sock)->request(m, "setLinkUp " + name), ENODEV, ENOENT);
}

Status NetlinkKernel::setMtu(const Netns& ns, const std::string& name, uint32_t mtu) {
  if (auto s = checkLinkName("setMtu", name); !s) return s;
  if (auto s = checkMtu("setMtu " + name, mtu, false); !s) return s;
  auto sock = routeSocket(ns, "setMtu");
  if (!sock) return sock.error();
  auto m = nl::linkSetMtu(name, mtu);
  return nl::translate((*sock)->request(m, "setMtu " + name), ENODEV, ENOENT);
}

Status NetlinkKernel::setMaster(const Netns& ns, const std::string& name, const std::string& master) {
  if (auto s = checkLinkName("setMaster", name); !s) return s;
  if (!master.empty())
    if (auto s = checkLinkName("setMaster", master); !s) return s;
  auto sock = routeSocket(ns, "setMaster");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, name, "setMaster");
  if (!index) return index.error();
  int masterIndex = 0;
  if (!master.empty()) {
    auto mi = ifIndex(**sock, master, "setMaster " + name);
    if (!mi) return nl::translate(mi.error(), ENOENT, ENODEV);  // a missing master is ENODEV
    masterIndex = *mi;
  }
  auto m = nl::linkSetMaster(*index, masterIndex);
  return nl::translate((*sock)->request(m, "setMaster " + name + " -> '" + master + "'"), ENODEV, ENOENT);
}

Status NetlinkKernel::retireLink(const Netns& ns, const std::string& name, const std::string& newName,
                                 uint32_t group) {
  if (auto s = checkLinkName("retireLink", name); !s) return s;
  if (auto s = checkLinkName("retireLink", newName); !s) return s;
  if (group == 0) return Error{EINVAL, "retireLink " + name + ": group must be non-zero"};
  if (name == "lo") return Error{EOPNOTSUPP, "retireLink: the loopback device cannot be retired"};
  auto sock = routeSocket(ns, "retireLink");
  if (!sock) return sock.error();
  sock->links->forget(name);
  sock->links->forget(newName);
  auto index = ifIndex(**sock, name, "retireLink");
  if (!index) return index.error();
  auto down = nl::linkSetDownDetached(*index);
  if (auto s = (*sock)->request(down, "retireLink " + name + ": down"); !s)
    return nl::translate(s, ENODEV, ENOENT);
  auto re = nl::linkRenameIntoGroup(*index, newName != name ? newName : "", group);
  return nl::translate((*sock)->request(re, "retireLink " + name + " -> " + newName), ENODEV, ENOENT);
}

Status NetlinkKernel::deleteLinkGroup(const Netns& ns, uint32_t group) {
  if (group == 0) return Error{EINVAL, "deleteLinkGroup: group must be non-zero"};
  auto sock = routeSocket(ns, "deleteLinkGroup");
  if (!sock) return sock.error();
  sock->links->clear();  // any link may have been in the group
  auto m = nl::linkDeleteGroup(group);
  auto st = (*sock)->request(m, "deleteLinkGroup " + std::to_string(group));
  if (!st && st.code() == ENODEV) return Status::Ok();  // the group is empty
  return st;
}

Result<LinkInfo> NetlinkKernel::getLink(const Netns& ns, const std::string& name) {
  if (auto s = checkLinkName("getLink", name); !s) return s.error();
  auto sock = routeSocket(ns, "getLink");
  if (!sock) return sock.error();
  return queryLinkWithMaster(**sock, name, 0, "getLink");
}

Result<std::vector<LinkInfo>> NetlinkKernel::listLinks(const Netns& ns) {
  auto sock = routeSocket(ns, "listLinks");
  if (!sock) return sock.error();
  auto m = nl::linkDump();
  std::vector<nl::LinkRecord> links;
  Status s = (*sock)->dump(m, "listLinks", [&](const nlmsghdr* r) {
    if (auto l = nl::parseLink(r)) links.push_back(std::move(*l));
  });
  if (!s) return s.error();
  std::map<int, std::string> names;
  for (const auto& l : links) names[l.info.ifindex] = l.info.name;
  std::vector<LinkInfo> out;
  for (auto& l : links) {
    if (l.masterIndex) l.info.master = names[l.masterIndex];
    out.push_back(std::move(l.info));
  }
  return out;
}

}  // namespace weft::kernel
