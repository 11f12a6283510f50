// NetlinkKernel: addresses, routes and the underlay MTU. Messages come from
// nl_msg_addr.h and nl_msg_route.h.
#include <map>

#include "common/ip.h"
#include "kernel/netlink_internal.h"
#include "kernel/netlink_kernel.h"
#include "kernel/nl_msg_addr.h"
#include "kernel/nl_msg_link.h"
#include "kernel/nl_msg_route.h"
#include "kernel/validate.h"

namespace weft::kernel {

// --- addresses ---

Status NetlinkKernel::addAddress(const Netns& ns, const std::string& dev, const std::string& cidr) {
  if (auto s = checkLinkName("addAddress", dev); !s) return s;
  auto c = parseIfAddr("addAddress", cidr);
  if (!c) return c.error();
  auto sock = routeSocket(ns, "addAddress");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "addAddress");
  if (!index) return index.error();
  auto m = nl::addrAdd(*index, *c);
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
  auto m = nl::addrDelete(*index, *c);
  return nl::translate((*sock)->request(m, "delAddress " + c->str() + " on " + dev), EADDRNOTAVAIL, ENOENT);
}

Result<std::vector<std::string>> NetlinkKernel::listAddresses(const Netns& ns, const std::string& dev) {
  if (auto s = checkLinkName("listAddresses", dev); !s) return s.error();
  auto sock = routeSocket(ns, "listAddresses");
  if (!sock) return sock.error();
  auto index = ifIndex(**sock, dev, "listAddresses");
  if (!index) return index.error();
  auto m = nl::addrDump(AF_UNSPEC);
  std::vector<std::string> out;
  Status s = (*sock)->dump(m, "listAddresses " + dev, [&](const nlmsghdr* r) {
    auto a = nl::parseAddr(r);
    if (a && a->ifindex == *index && !a->cidr.addr.isLinkLocal6()) out.push_back(a->cidr.str());
  });
  if (!s) return s.error();
  return out;
}

// --- routes ---

Status NetlinkKernel::addRoute(const Netns& ns, const Route& route) {
  if (auto s = checkRoute("addRoute", route); !s) return s;
  auto sock = routeSocket(ns, "addRoute");
  if (!sock) return sock.error();
  int oif = 0;
  if (!route.dev.empty()) {
    auto index = ifIndex(**sock, route.dev, "addRoute");
    if (!index) return index.error();
    oif = *index;
  }
  auto m = nl::routeAdd(route, oif);
  return (*sock)->request(m, "addRoute " + routeName(route));
}

Status NetlinkKernel::delRoute(const Netns& ns, const Route& route) {
  if (auto s = checkRoute("delRoute", route); !s) return s;
  auto sock = routeSocket(ns, "delRoute");
  if (!sock) return sock.error();
  int oif = 0;
  if (!route.dev.empty()) {
    auto index = ifIndex(**sock, route.dev, "delRoute");
    if (!index) return index.error();
    oif = *index;
  }
  auto m = nl::routeDelete(route, oif);
  return nl::translate((*sock)->request(m, "delRoute " + routeName(route)), ESRCH, ENOENT);
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
    auto m = nl::routeDump(family);
    Status s = (*sock)->dump(m, "listRoutes", [&](const nlmsghdr* r) {
      auto rec = nl::parseRoute(r);
      if (!rec || rec->table != RT_TABLE_MAIN || rec->protocol != nl::kRouteProto || rec->type != RTN_UNICAST)
        return;
      out.push_back(Route{rec->dst, rec->gateway, rec->oif ? names[rec->oif] : ""});
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
    auto m = nl::addrDump(local->family);
    Status s = (*sock)->dump(m, "underlayMtu", [&](const nlmsghdr* r) {
      auto a = nl::parseAddr(r);
      if (a && a->cidr.addr == *local && !index) index = a->ifindex;
    });
    if (!s) return s.error();
    if (!index) return Error{ENOENT, "underlayMtu: no host interface holds " + localAddr};
  } else {
    for (int family : {AF_INET, AF_INET6}) {
      auto m = nl::routeDump(family);
      Status s = (*sock)->dump(m, "underlayMtu", [&](const nlmsghdr* r) {
        auto rec = nl::parseRoute(r);
        if (rec && rec->table == RT_TABLE_MAIN && rec->dst.len == 0 && rec->type == RTN_UNICAST && rec->oif &&
            !index)
          index = rec->oif;
      });
      if (!s) return s.error();
      if (index) break;
    }
    if (!index) return Error{ENOENT, "underlayMtu: the host has no default route; set the advertise address"};
  }
  auto l = queryLink(**sock, "", index, "underlayMtu");
  if (!l) return l.error();
  return l->info.mtu;
}

}  // namespace weft::kernel
