// NetlinkKernel: links (bridge, veth, vxlan), state, MTU, master, listing.
#include <arpa/inet.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if_arp.h>

#include <cstring>
#include <map>

#include "kernel/inet.h"
#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace nl {

LinkInfo parseLink(const nlmsghdr* nlh, int* masterIndex) {
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[IFLA_MAX + 1];
  parseAttrs(nlh, sizeof(ifinfomsg), tb, IFLA_MAX);
  LinkInfo l;
  l.ifindex = ifi->ifi_index;
  l.up = ifi->ifi_flags & IFF_UP;
  if (tb[IFLA_IFNAME]) l.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
  if (tb[IFLA_MTU]) l.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
  if (tb[IFLA_GROUP]) l.group = mnl_attr_get_u32(tb[IFLA_GROUP]);
  *masterIndex = tb[IFLA_MASTER] ? static_cast<int>(mnl_attr_get_u32(tb[IFLA_MASTER])) : 0;
  if (tb[IFLA_ADDRESS] && mnl_attr_get_payload_len(tb[IFLA_ADDRESS]) == 6) {
    MacAddr m;
    std::memcpy(m.bytes.data(), mnl_attr_get_payload(tb[IFLA_ADDRESS]), 6);
    l.mac = m.str();
  }
  const nlattr* info[IFLA_INFO_MAX + 1];
  parseNested(tb[IFLA_LINKINFO], info, IFLA_INFO_MAX);
  if (info[IFLA_INFO_KIND]) l.kindName = mnl_attr_get_str(info[IFLA_INFO_KIND]);
  if (l.kindName == "bridge")
    l.kind = LinkKind::kBridge;
  else if (l.kindName == "veth")
    l.kind = LinkKind::kVeth;
  else if (l.kindName == "vxlan")
    l.kind = LinkKind::kVxlan;
  if (l.kind == LinkKind::kVxlan && info[IFLA_INFO_DATA]) {
    const nlattr* vx[IFLA_VXLAN_MAX + 1];
    parseNested(info[IFLA_INFO_DATA], vx, IFLA_VXLAN_MAX);
    if (vx[IFLA_VXLAN_ID]) l.vni = mnl_attr_get_u32(vx[IFLA_VXLAN_ID]);
    if (vx[IFLA_VXLAN_PORT]) l.port = ntohs(mnl_attr_get_u16(vx[IFLA_VXLAN_PORT]));
    if (vx[IFLA_VXLAN_LEARNING]) l.learning = mnl_attr_get_u8(vx[IFLA_VXLAN_LEARNING]) != 0;
  }
  return l;
}

}  // namespace nl

namespace {
nl::Message linkMessage(uint16_t type, uint16_t flags, int index = 0) {
  nl::Message m(type, flags);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  return m;
}
}  // namespace

Result<LinkInfo> NetlinkKernel::queryLink(nl::Socket& sock, const std::string& name, int index,
                                          const std::string& op) {
  auto m = linkMessage(RTM_GETLINK, 0, index);
  if (index == 0) mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  std::optional<LinkInfo> found;
  int master = 0;
  Status s = sock.request(m, op + ": link '" + name + "'",
                          [&](const nlmsghdr* r) { found = nl::parseLink(r, &master); });
  if (!s) return nl::translate(s, ENODEV, ENOENT).error();
  if (!found) return Error{ENOENT, op + ": link '" + name + "' does not exist"};
  if (master) {
    auto m2 = queryLink(sock, "", master, op);
    if (m2) found->master = m2->name;
  }
  return *found;
}

Result<int> NetlinkKernel::ifIndex(nl::Socket& sock, const std::string& name, const std::string& op) {
  auto l = queryLink(sock, name, 0, op);
  if (!l) return l.error();
  return l->ifindex;
}

Status NetlinkKernel::deleteLinkWith(nl::Socket& sock, const std::string& name, const std::string& op) {
  auto m = linkMessage(RTM_DELLINK, 0);
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  return nl::translate(sock.request(m, op + ": deleting link '" + name + "'"), ENODEV, ENOENT);
}

Status NetlinkKernel::createBridge(const Netns& ns, const std::string& name, uint32_t mtu) {
  if (auto s = checkLinkName("createBridge", name); !s) return s;
  if (auto s = checkMtu("createBridge " + name, mtu, true); !s) return s;
  auto sock = routeSocket(ns, "createBridge");
  if (!sock) return sock.error();
  auto m = linkMessage(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  if (mtu) mnl_attr_put_u32(m.hdr(), IFLA_MTU, mtu);
  nlattr* li = mnl_attr_nest_start(m.hdr(), IFLA_LINKINFO);
  mnl_attr_put_strz(m.hdr(), IFLA_INFO_KIND, "bridge");
  mnl_attr_nest_end(m.hdr(), li);
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
  auto m = linkMessage(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  if (mtu) mnl_attr_put_u32(m.hdr(), IFLA_MTU, mtu);
  nlattr* li = mnl_attr_nest_start(m.hdr(), IFLA_LINKINFO);
  mnl_attr_put_strz(m.hdr(), IFLA_INFO_KIND, "veth");
  nlattr* data = mnl_attr_nest_start(m.hdr(), IFLA_INFO_DATA);
  nlattr* peer = mnl_attr_nest_start(m.hdr(), VETH_INFO_PEER);
  m.putRaw(sizeof(ifinfomsg));  // the peer's own (empty) ifinfomsg
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, peerName.c_str());
  if (mtu) mnl_attr_put_u32(m.hdr(), IFLA_MTU, mtu);
  mnl_attr_put_u32(m.hdr(), IFLA_NET_NS_FD, static_cast<uint32_t>(peerFd->get()));
  mnl_attr_nest_end(m.hdr(), peer);
  mnl_attr_nest_end(m.hdr(), data);
  mnl_attr_nest_end(m.hdr(), li);
  return (*sock)->request(m, "createVeth " + name + "/" + peerName);
}

Status NetlinkKernel::createVxlan(const VxlanSpec& spec, const Netns& targetNs) {
  if (auto s = checkVxlanSpec(spec); !s) return s;
  const std::string op = "createVxlan " + spec.name;
  auto target = nsFd(targetNs, "createVxlan");
  if (!target) return target.error();
  auto host = routeSocket(kHostNetns, "createVxlan");
  if (!host) return host.error();

  auto m = linkMessage(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, spec.name.c_str());
  if (spec.mtu) mnl_attr_put_u32(m.hdr(), IFLA_MTU, spec.mtu);
  nlattr* li = mnl_attr_nest_start(m.hdr(), IFLA_LINKINFO);
  mnl_attr_put_strz(m.hdr(), IFLA_INFO_KIND, "vxlan");
  nlattr* data = mnl_attr_nest_start(m.hdr(), IFLA_INFO_DATA);
  mnl_attr_put_u32(m.hdr(), IFLA_VXLAN_ID, spec.vni);
  mnl_attr_put_u16(m.hdr(), IFLA_VXLAN_PORT, htons(spec.port ? spec.port : 4789));  // big-endian
  if (!spec.local.empty()) {
    IpAddr local = *IpAddr::parse(spec.local);
    mnl_attr_put(m.hdr(), local.isV6() ? IFLA_VXLAN_LOCAL6 : IFLA_VXLAN_LOCAL, local.size(),
                 local.bytes.data());
  }
  mnl_attr_put_u8(m.hdr(), IFLA_VXLAN_LEARNING, spec.learning);
  mnl_attr_put_u8(m.hdr(), IFLA_VXLAN_PROXY, spec.proxy);
  mnl_attr_put_u8(m.hdr(), IFLA_VXLAN_L2MISS, spec.l2miss);
  mnl_attr_put_u8(m.hdr(), IFLA_VXLAN_L3MISS, spec.l3miss);
  mnl_attr_nest_end(m.hdr(), data);
  mnl_attr_nest_end(m.hdr(), li);
  if (auto s = (*host)->request(m, op); !s) return s;
  if (targetNs.empty()) return {};

  // Move it; on failure delete it again so nothing is left half-made.
  Status moved = [&]() -> Status {
    auto index = ifIndex(**host, spec.name, op);
    if (!index) return index.error();
    auto mv = linkMessage(RTM_NEWLINK, 0, *index);
    mnl_attr_put_u32(mv.hdr(), IFLA_NET_NS_FD, static_cast<uint32_t>(target->get()));
    return (*host)->request(mv, op + ": moving into namespace '" + targetNs + "'");
  }();
  if (!moved) (void)deleteLinkWith(**host, spec.name, op + " (undo)");
  return moved;
}

Status NetlinkKernel::deleteLink(const Netns& ns, const std::string& name) {
  if (auto s = checkLinkName("deleteLink", name); !s) return s;
  auto sock = routeSocket(ns, "deleteLink");
  if (!sock) return sock.error();
  return deleteLinkWith(**sock, name, "deleteLink");
}

Status NetlinkKernel::setLinkUp(const Netns& ns, const std::string& name, bool up) {
  if (auto s = checkLinkName("setLinkUp", name); !s) return s;
  auto sock = routeSocket(ns, "setLinkUp");
  if (!sock) return sock.error();
  auto m = linkMessage(RTM_NEWLINK, 0);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(m.hdr()));
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = up ? IFF_UP : 0;
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  return nl::translate((*sock)->request(m, "setLinkUp " + name), ENODEV, ENOENT);
}

Status NetlinkKernel::setMtu(const Netns& ns, const std::string& name, uint32_t mtu) {
  if (auto s = checkLinkName("setMtu", name); !s) return s;
  if (auto s = checkMtu("setMtu " + name, mtu, false); !s) return s;
  auto sock = routeSocket(ns, "setMtu");
  if (!sock) return sock.error();
  auto m = linkMessage(RTM_NEWLINK, 0);
  mnl_attr_put_strz(m.hdr(), IFLA_IFNAME, name.c_str());
  mnl_attr_put_u32(m.hdr(), IFLA_MTU, mtu);
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
  auto m = linkMessage(RTM_NEWLINK, 0, *index);
  mnl_attr_put_u32(m.hdr(), IFLA_MASTER, static_cast<uint32_t>(masterIndex));
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
  auto index = ifIndex(**sock, name, "retireLink");
  if (!index) return index.error();
  // Down and detached first: the kernel renames only links that are down.
  auto down = linkMessage(RTM_NEWLINK, 0, *index);
  auto* ifi = static_cast<ifinfomsg*>(mnl_nlmsg_get_payload(down.hdr()));
  ifi->ifi_change = IFF_UP;
  ifi->ifi_flags = 0;
  mnl_attr_put_u32(down.hdr(), IFLA_MASTER, 0);
  if (auto s = (*sock)->request(down, "retireLink " + name + ": down"); !s)
    return nl::translate(s, ENODEV, ENOENT);
  auto re = linkMessage(RTM_NEWLINK, 0, *index);
  if (newName != name) mnl_attr_put_strz(re.hdr(), IFLA_IFNAME, newName.c_str());
  mnl_attr_put_u32(re.hdr(), IFLA_GROUP, group);
  return nl::translate((*sock)->request(re, "retireLink " + name + " -> " + newName), ENODEV, ENOENT);
}

Status NetlinkKernel::deleteLinkGroup(const Netns& ns, uint32_t group) {
  if (group == 0) return Error{EINVAL, "deleteLinkGroup: group must be non-zero"};
  auto sock = routeSocket(ns, "deleteLinkGroup");
  if (!sock) return sock.error();
  auto m = linkMessage(RTM_DELLINK, 0);
  mnl_attr_put_u32(m.hdr(), IFLA_GROUP, group);
  auto st = (*sock)->request(m, "deleteLinkGroup " + std::to_string(group));
  if (!st && st.code() == ENODEV) return Status::Ok();  // the group is empty
  return st;
}

Result<LinkInfo> NetlinkKernel::getLink(const Netns& ns, const std::string& name) {
  if (auto s = checkLinkName("getLink", name); !s) return s.error();
  auto sock = routeSocket(ns, "getLink");
  if (!sock) return sock.error();
  return queryLink(**sock, name, 0, "getLink");
}

Result<std::vector<LinkInfo>> NetlinkKernel::listLinks(const Netns& ns) {
  auto sock = routeSocket(ns, "listLinks");
  if (!sock) return sock.error();
  auto m = linkMessage(RTM_GETLINK, 0);
  std::vector<LinkInfo> out;
  std::vector<int> masters;
  Status s = (*sock)->dump(m, "listLinks", [&](const nlmsghdr* r) {
    if (r->nlmsg_type != RTM_NEWLINK) return;
    int master = 0;
    out.push_back(nl::parseLink(r, &master));
    masters.push_back(master);
  });
  if (!s) return s.error();
  std::map<int, std::string> names;
  for (auto& l : out) names[l.ifindex] = l.name;
  for (size_t i = 0; i < out.size(); ++i)
    if (masters[i]) out[i].master = names[masters[i]];
  return out;
}

}  // namespace weft::kernel
