// NetlinkKernel: addresses, routes and the underlay MTU.
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>

#include <map>

#include "kernel/inet.h"
#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/validate.h"

namespace weft::kernel {

namespace {

bool isLinkLocal6(const IpAddr& a) { return a.isV6() && a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80; }

struct AddrRecord {
  int index;
  Cidr cidr;
};

std::optional<AddrRecord> parseAddr(const nlmsghdr* r) {
  if (r->nlmsg_type != RTM_NEWADDR) return std::nullopt;
  const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(r));
  if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return std::nullopt;
  const nlattr* tb[IFA_MAX + 1];
  nl::parseAttrs(r, sizeof(ifaddrmsg), tb, IFA_MAX);
  const nlattr* a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
  size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
  if (!a || mnl_attr_get_payload_len(a) != want) return std::nullopt;
  return AddrRecord{static_cast<int>(ifa->ifa_index),
                    Cidr{IpAddr::fromBytes(ifa->ifa_family, mnl_attr_get_payload(a)), ifa->ifa_prefixlen}};
}

nl::Message addrMessage(uint16_t type, uint16_t flags, const Cidr& c, int index) {
  nl::Message m(type, flags);
  auto* ifa = m.extra<ifaddrmsg>();
  ifa->ifa_family = static_cast<uint8_t>(c.addr.family);
  ifa->ifa_prefixlen = static_cast<uint8_t>(c.prefix);
  ifa->ifa_index = static_cast<uint32_t>(index);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  if (c.addr.isV6()) ifa->ifa_flags = IFA_F_NODAD;  // usable at once, no DAD wait
  mnl_attr_put(m.hdr(), IFA_LOCAL, c.addr.size(), c.addr.bytes.data());
  mnl_attr_put(m.hdr(), IFA_ADDRESS, c.addr.size(), c.addr.bytes.data());
  return m;
}

// Routes weft manages carry this protocol; listing and deleting match it.
constexpr uint8_t kRouteProto = RTPROT_STATIC;

nl::Message routeMessage(uint16_t type, uint16_t flags, const ParsedRoute& r, int oif) {
  nl::Message m(type, flags);
  auto* rtm = m.extra<rtmsg>();
  rtm->rtm_family = static_cast<uint8_t>(r.dst.addr.family);
  rtm->rtm_dst_len = static_cast<uint8_t>(r.dst.prefix);
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = kRouteProto;
  if (type == RTM_NEWROUTE) {
    rtm->rtm_type = RTN_UNICAST;
    rtm->rtm_scope = (r.gateway || r.dst.addr.isV6()) ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  } else {
    rtm->rtm_scope = RT_SCOPE_NOWHERE;  // any scope
  }
  if (r.dst.prefix > 0) mnl_attr_put(m.hdr(), RTA_DST, r.dst.addr.size(), r.dst.addr.bytes.data());
  if (r.gateway) mnl_attr_put(m.hdr(), RTA_GATEWAY, r.gateway->size(), r.gateway->bytes.data());
  if (oif) mnl_attr_put_u32(m.hdr(), RTA_OIF, static_cast<uint32_t>(oif));
  return m;
}

}  // namespace

// --- addresses ---

Status NetlinkKernel::addAddress(const Netns& ns, const std::string& dev, const std::string& cidr) {
  if (auto s = checkLinkName("addAddress", dev); !s) return s;
  auto c = parseIfAddr("addAddress", cidr);
  if (!c) return c.error();
  auto sock = routeSocket(ns, "addAddress");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "addAddress");
  if (!index) return index.error();
  auto m = addrMessage(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, *c, *index);
  return (*sock)->request(m, "addAddress " + c->str() + " on " + dev);
}

Status NetlinkKernel::delAddress(const Netns& ns, const std::string& dev, const std::string& cidr) {
  if (auto s = checkLinkName("delAddress", dev); !s) return s;
  auto c = parseIfAddr("delAddress", cidr);
  if (!c) return c.error();
  auto sock = routeSocket(ns, "delAddress");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "delAddress");
  if (!index) return index.error();
  auto m = addrMessage(RTM_DELADDR, 0, *c, *index);
  return nl::translate((*sock)->request(m, "delAddress " + c->str() + " on " + dev), EADDRNOTAVAIL, ENOENT);
}

Result<std::vector<std::string>> NetlinkKernel::listAddresses(const Netns& ns, const std::string& dev) {
  if (auto s = checkLinkName("listAddresses", dev); !s) return s.error();
  auto sock = routeSocket(ns, "listAddresses");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "listAddresses");
  if (!index) return index.error();
  nl::Message m(RTM_GETADDR, 0);
  m.extra<ifaddrmsg>()->ifa_family = AF_UNSPEC;
  std::vector<std::string> out;
  Status s = (*sock)->dump(m, "listAddresses " + dev, [&](const nlmsghdr* r) {
    auto a = parseAddr(r);
    if (a && a->index == *index && !isLinkLocal6(a->cidr.addr)) out.push_back(a->cidr.str());
  });
  if (!s) return s.error();
  return out;
}

// --- routes ---

Status NetlinkKernel::addRoute(const Netns& ns, const Route& route) {
  auto r = parseRoute("addRoute", route);
  if (!r) return r.error();
  auto sock = routeSocket(ns, "addRoute");
  if (!sock) return sock.error();
  int oif = 0;
  if (!r->dev.empty()) {
    auto index = ifIndex(**sock, r->dev, "addRoute");
    if (!index) return index.error();
    oif = *index;
  }
  auto m = routeMessage(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, *r, oif);
  return (*sock)->request(m, "addRoute " + route.dst);
}

Status NetlinkKernel::delRoute(const Netns& ns, const Route& route) {
  auto r = parseRoute("delRoute", route);
  if (!r) return r.error();
  auto sock = routeSocket(ns, "delRoute");
  if (!sock) return sock.error();
  int oif = 0;
  if (!r->dev.empty()) {
    auto index = ifIndex(**sock, r->dev, "delRoute");
    if (!index) return index.error();
    oif = *index;
  }
  auto m = routeMessage(RTM_DELROUTE, 0, *r, oif);
  return nl::translate((*sock)->request(m, "delRoute " + route.dst), ESRCH, ENOENT);
}

Result<std::vector<Route>> NetlinkKernel::listRoutes(const Netns& ns) {
  auto links = listLinks(ns);
  if (!links) return links.error();
  std::map<int, std::string> names;
  for (auto& l : *links) names[l.ifindex] = l.name;
  auto sock = routeSocket(ns, "listRoutes");
  if (!sock) return sock.error();
  std::vector<Route> out;
  for (int family : {AF_INET, AF_INET6}) {
    nl::Message m(RTM_GETROUTE, 0);
    m.extra<rtmsg>()->rtm_family = static_cast<uint8_t>(family);
    Status s = (*sock)->dump(m, "listRoutes", [&](const nlmsghdr* r) {
      if (r->nlmsg_type != RTM_NEWROUTE) return;
      const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(r));
      const nlattr* tb[RTA_MAX + 1];
      nl::parseAttrs(r, sizeof(rtmsg), tb, RTA_MAX);
      uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
      if (table != RT_TABLE_MAIN || rtm->rtm_protocol != kRouteProto || rtm->rtm_type != RTN_UNICAST) return;
      ParsedRoute pr;
      pr.dst.addr.family = rtm->rtm_family;
      pr.dst.prefix = rtm->rtm_dst_len;
      if (tb[RTA_DST]) pr.dst.addr = IpAddr::fromBytes(rtm->rtm_family, mnl_attr_get_payload(tb[RTA_DST]));
      if (tb[RTA_GATEWAY])
        pr.gateway = IpAddr::fromBytes(rtm->rtm_family, mnl_attr_get_payload(tb[RTA_GATEWAY]));
      if (tb[RTA_OIF]) pr.dev = names[static_cast<int>(mnl_attr_get_u32(tb[RTA_OIF]))];
      out.push_back(canonicalRoute(pr));
    });
    if (!s) return s.error();
  }
  return out;
}

// --- underlay ---

Result<uint32_t> NetlinkKernel::underlayMtu(const std::string& localAddr) {
  std::optional<IpAddr> local;
  if (!localAddr.empty()) {
    local = IpAddr::parse(localAddr);
    if (!local) return invalid("underlayMtu: local address '" + localAddr + "'");
  }
  auto sock = routeSocket(kHostNetns, "underlayMtu");
  if (!sock) return sock.error();
  int index = 0;
  if (local) {
    nl::Message m(RTM_GETADDR, 0);
    m.extra<ifaddrmsg>()->ifa_family = static_cast<uint8_t>(local->family);
    Status s = (*sock)->dump(m, "underlayMtu", [&](const nlmsghdr* r) {
      auto a = parseAddr(r);
      if (a && a->cidr.addr == *local && !index) index = a->index;
    });
    if (!s) return s.error();
    if (!index) return Error{ENOENT, "underlayMtu: no host interface holds " + localAddr};
  } else {
    for (int family : {AF_INET, AF_INET6}) {
      nl::Message m(RTM_GETROUTE, 0);
      m.extra<rtmsg>()->rtm_family = static_cast<uint8_t>(family);
      Status s = (*sock)->dump(m, "underlayMtu", [&](const nlmsghdr* r) {
        const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(r));
        const nlattr* tb[RTA_MAX + 1];
        nl::parseAttrs(r, sizeof(rtmsg), tb, RTA_MAX);
        uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        if (r->nlmsg_type == RTM_NEWROUTE && table == RT_TABLE_MAIN && rtm->rtm_dst_len == 0 &&
            rtm->rtm_type == RTN_UNICAST && tb[RTA_OIF] && !index)
          index = static_cast<int>(mnl_attr_get_u32(tb[RTA_OIF]));
      });
      if (!s) return s.error();
      if (index) break;
    }
    if (!index) return Error{ENOENT, "underlayMtu: the host has no default route; set the advertise address"};
  }
  auto l = queryLink(**sock, "", index, "underlayMtu");
  if (!l) return l.error();
  return l->mtu;
}

}  // namespace weft::kernel
