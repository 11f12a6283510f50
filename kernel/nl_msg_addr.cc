#include "kernel/nl_msg_addr.h"

#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

namespace weft::kernel::nl {

namespace {

Message addrMessage(uint16_t type, uint16_t flags, int ifindex, const Prefix& c) {
  Message m(type, NLM_F_ACK | flags);
  auto* ifa = m.extra<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(c.addr.family);
  ifa->ifa_prefixlen = static_cast<uint8_t>(c.len);
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  if (c.addr.isV6()) ifa->ifa_flags = IFA_F_NODAD;
  m.put(IFA_LOCAL, c.addr.bytes.data(), c.addr.size());
  m.put(IFA_ADDRESS, c.addr.bytes.data(), c.addr.size());
  return m;
}

}  // namespace

Message addrAdd(int ifindex, const Prefix& c) {
  return addrMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, c);
}

Message addrDelete(int ifindex, const Prefix& c) { return addrMessage(RTM_DELADDR, 0, ifindex, c); }

Message addrDump(int family) {
  Message m(RTM_GETADDR, NLM_F_DUMP);
  m.extra<ifaddrmsg>()->ifa_family = static_cast<uint8_t>(family);
  return m;
}

std::optional<AddrRecord> parseAddr(const nlmsghdr* r) {
  if (r->nlmsg_type != RTM_NEWADDR || r->nlmsg_len < NLMSG_LENGTH(sizeof(ifaddrmsg))) return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(r));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return std::nullopt;
  const nlattr* tb[IFA_MAX + 1];
  parseAttrs(r, sizeof(ifaddrmsg), tb, IFA_MAX);
  const nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
  if (!a || mnl_attr_get_payload_len(a) != want) return std::nullopt;
  return AddrRecord{static_cast<int>(ifa->ifa_index),
                    Prefix{IpAddr::fromBytes(ifa->ifa_family, mnl_attr_get_payload(a)), ifa->ifa_prefixlen}};
}

}  // namespace weft::kernel::nl
