#include "kernel/nl_msg_link.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <cstring>

#include "kernel/nl_msg_vxlan.h"

namespace weft::kernel::nl {

namespace {

Message linkMessage(uint16_t type, uint16_t flags, int index, unsigned up = 0, unsigned upMask = 0) {
  Message m(type, NLM_F_ACK | flags);
  auto* ifi = m.extra<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = index;
  ifi->ifi_change = upMask;
  ifi->ifi_flags = up;
  return m;
}

}  // namespace

Message linkGet(const std::string& name) {
  Message m = linkMessage(RTM_GETLINK, 0, 0);
  m.putStr(IFLA_IFNAME, name);
  return m;
}

Message linkGetByIndex(int index) { return linkMessage(RTM_GETLINK, 0, index); }

Message linkDump() {
  Message m(RTM_GETLINK, NLM_F_DUMP);
  m.extra<ifinfomsg>()->ifi_family = AF_UNSPEC;
  return m;
}

Message linkDelete(const std::string& name) {
  Message m = linkMessage(RTM_DELLINK, 0, 0);
  m.putStr(IFLA_IFNAME, name);
  return m;
}

Message linkDeleteGroup(uint32_t group) {
  Message m = linkMessage(RTM_DELLINK, 0, 0);
  m.putU32(IFLA_GROUP, group);
  return m;
}

Message linkSetUp(const std::string& name, bool up) {
  Message m = linkMessage(RTM_NEWLINK, 0, 0, up ? IFF_UP : 0, IFF_UP);
  m.putStr(IFLA_IFNAME, name);
  return m;
}

Message linkSetMtu(const std::string& name, uint32_t mtu) {
  Message m = linkMessage(RTM_NEWLINK, 0, 0);
  m.putStr(IFLA_IFNAME, name);
  m.putU32(IFLA_MTU, mtu);
  return m;
}

Message linkSetMaster(int index, int masterIndex) {
  Message m = linkMessage(RTM_NEWLINK, 0, index);
  m.putU32(IFLA_MASTER, static_cast<uint32_t>(masterIndex));
  return m;
}

Message linkSetDownDetached(int index) {
  Message m = linkMessage(RTM_NEWLINK, 0, index, 0, IFF_UP);
  m.putU32(IFLA_MASTER, 0);
  return m;
}

Message linkRenameIntoGroup(int index, const std::string& newName, uint32_t group) {
  Message m = linkMessage(RTM_NEWLINK, 0, index);
  if (!newName.empty()) m.putStr(IFLA_IFNAME, newName);
  m.putU32(IFLA_GROUP, group);
  return m;
}

Message linkMoveToNetns(int index, int nsFd) {
  Message m = linkMessage(RTM_NEWLINK, 0, index);
  m.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(nsFd));
  return m;
}

Message linkGetInPeer(int nsid, const std::string& name) {
  Message m = linkGet(name);
  m.putU32(IFLA_TARGET_NETNSID, static_cast<uint32_t>(nsid));
  return m;
}

Message linkDeleteInPeer(int nsid, const std::string& name) {
  Message m = linkDelete(name);
  m.putU32(IFLA_TARGET_NETNSID, static_cast<uint32_t>(nsid));
  return m;
}

Message bridgeCreate(const std::string& name, uint32_t mtu) {
  Message m = linkMessage(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, 0);
  m.putStr(IFLA_IFNAME, name);
  if (mtu) m.putU32(IFLA_MTU, mtu);
  nlattr* li = m.nestStart(IFLA_LINKINFO);
  m.putStr(IFLA_INFO_KIND, "bridge");
  m.nestEnd(li);
  return m;
}

std::optional<LinkRecord> parseLink(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(ifinfomsg))) return std::nullopt;
  const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
  const nlattr* tb[IFLA_MAX + 1];
  parseAttrs(nlh, sizeof(ifinfomsg), tb, IFLA_MAX);
  LinkRecord r;
  LinkInfo& l = r.info;
  l.ifindex = ifi->ifi_index;
  l.up = ifi->ifi_flags & IFF_UP;
  if (tb[IFLA_IFNAME]) l.name = mnl_attr_get_str(tb[IFLA_IFNAME]);
  if (tb[IFLA_MTU]) l.mtu = mnl_attr_get_u32(tb[IFLA_MTU]);
  if (tb[IFLA_GROUP]) l.group = mnl_attr_get_u32(tb[IFLA_GROUP]);
  if (tb[IFLA_MASTER]) r.masterIndex = static_cast<int>(mnl_attr_get_u32(tb[IFLA_MASTER]));
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
  if (l.kind == LinkKind::kVxlan) parseVxlanData(info[IFLA_INFO_DATA], &l);
  return r;
}

}  // namespace weft::kernel::nl
