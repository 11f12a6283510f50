#include "kernel/nl_msg_route.h"

namespace weft::kernel::nl {

namespace {

Message routeMessage(uint16_t type, uint16_t flags, const Route& r, int oif) {
  Message m(type, NLM_F_ACK | flags);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = static_cast<uint8_t>(r.dst.addr.family);
  rtm->rtm_dst_len = static_cast<uint8_t>(r.dst.len);
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = kRouteProto;
  if (type == RTM_NEWROUTE) {
    rtm->rtm_type = RTN_UNICAST;
    rtm->rtm_scope = (r.gateway || r.dst.addr.isV6()) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  } else {
    rtm->rtm_scope = RT_SCOPE_NOWHERE;  // any scope
  }
  if (r.dst.len > 0) m.put(RTA_DST, r.dst.addr.bytes.data(), r.dst.addr.size());
  if (r.gateway) m.put(RTA_GATEWAY, r.gateway->bytes.data(), r.gateway->size());
  if (oif) m.putU32(RTA_OIF, static_cast<uint32_t>(oif));
  return m;
}

}  // namespace

Message routeAdd(const Route& r, int oif) {
  return routeMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, r, oif);
}

Message routeDelete(const Route& r, int oif) { return routeMessage(RTM_DELROUTE, 0, r, oif); }

Message routeDump(int family) {
  Message m(RTM_GETROUTE, NLM_F_DUMP);
  m.extra<rtmsg>()->rtm_family = static_cast<uint8_t>(family);
  return m;
}

std::optional<RouteRecord> parseRoute(const nlmsghdr* nlh) {
  if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return std::nullopt;
  const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
  if (rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) return std::nullopt;
  const nlattr* tb[RTA_MAX + 1];
  parseAttrs(nlh, sizeof(rtmsg), tb, RTA_MAX);
  const size_t len = rtm->rtm_family == AF_INET ? 4 : 16;
  auto addr = [&](const nlattr* a) -> std::optional<IpAddr> {
    if (!a || mnl_attr_get_payload_len(a) != len) return std::nullopt;
    return IpAddr::fromBytes(rtm->rtm_family, mnl_attr_get_payload(a));
  };
  RouteRecord r;
  r.table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
  r.protocol = rtm->rtm_protocol;
  r.type = rtm->rtm_type;
  r.dst.addr.family = rtm->rtm_family;
  r.dst.len = rtm->rtm_dst_len;
  if (auto d = addr(tb[RTA_DST])) r.dst.addr = *d;
  r.gateway = addr(tb[RTA_GATEWAY]);
  if (tb[RTA_OIF]) r.oif = static_cast<int>(mnl_attr_get_u32(tb[RTA_OIF]));
  return r;
}

}  // namespace weft::kernel::nl
