// FakeKernel: addresses, routes, FDB and neighbour entries, underlay MTU.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "kernel/fake_kernel.h"
#include "kernel/fake_kernel_util.h"
#include "kernel/validate.h"

namespace weft::kernel {

using fake::exists;
using fake::notFound;

// --- addresses ---

Status FakeKernel::addAddress(const Netns& ns, const std::string& dev, const std::string& cidr) {
  FAKE_CHANGE("addAddress", ns);
  if (auto s = checkLinkName("addAddress", dev); !s) return s;
  auto c = parseIfAddr("addAddress", cidr);
  if (!c) return c.error();
  auto n = nsLocked("addAddress", ns);
  if (!n) return n.error();
  auto l = linkLocked("addAddress", **n, dev);
  if (!l) return l.error();
  for (const Prefix& have : (*l)->addrs)
    if (have.addr == c->addr && (c->addr.isV6() || have.len == c->len))
      return exists("addAddress", "address " + have.str() + " on " + dev);
  (*l)->addrs.push_back(*c);
  return {};
}

Status FakeKernel::delAddress(const Netns& ns, const std::string& dev, const std::string& cidr) {
  FAKE_CHANGE("delAddress", ns);
  if (auto s = checkLinkName("delAddress", dev); !s) return s;
  auto c = parseIfAddr("delAddress", cidr);
  if (!c) return c.error();
  auto n = nsLocked("delAddress", ns);
  if (!n) return n.error();
  auto l = linkLocked("delAddress", **n, dev);
  if (!l) return l.error();
  auto& addrs = (*l)->addrs;
  auto it = std::find(addrs.begin(), addrs.end(), *c);
  if (it == addrs.end()) return notFound("delAddress", "address " + c->str() + " on " + dev);
  if (!c->addr.isV6()) {
    // The first address of a subnet is its primary; deleting it deletes the
    // secondaries too (net.ipv4.conf.*.promote_secondaries=0).
    auto sameSubnet = [&](const Prefix& x) {
      return !x.addr.isV6() && x.len == c->len && x.network() == c->network();
    };
    auto primary = std::find_if(addrs.begin(), addrs.end(), sameSubnet);
    if (primary == it) {
      std::erase_if(addrs, sameSubnet);
    } else {
      addrs.erase(it);
    }
    if (std::none_of(addrs.begin(), addrs.end(), [](const Prefix& x) { return !x.addr.isV6(); }))
      dropRoutesLocked(**n, dev, AF_INET);
  } else {
    addrs.erase(it);
  }
  return {};
}

Result<std::vector<std::string>> FakeKernel::listAddresses(const Netns& ns, const std::string& dev) {
  FAKE_ENTER("listAddresses");
  if (auto s = checkLinkName("listAddresses", dev); !s) return s.error();
  auto n = nsLocked("listAddresses", ns);
  if (!n) return n.error();
  auto l = linkLocked("listAddresses", **n, dev);
  if (!l) return l.error();
  std::vector<std::string> out;
  for (const Prefix& c : (*l)->addrs) out.push_back(c.str());
  return out;
}

// --- routes ---

std::optional<std::string> FakeKernel::connectedDevLocked(const Namespace& n, const IpAddr& ip,
                                                          const std::string& dev) const {
  const bool linkLocal = ip.isLinkLocal6();
  for (auto& [name, l] : n.links) {
    if (!l.info.up || (!dev.empty() && name != dev)) continue;
    if (linkLocal && !dev.empty()) return name;  // fe80::/64 exists on every up link
    for (const Prefix& c : l.addrs)
      if (c.contains(ip)) return name;
  }
  return std::nullopt;
}

Status FakeKernel::addRoute(const Netns& ns, const Route& route) {
  FAKE_ENTER("addRoute");
  if (auto s = checkRoute("addRoute", route); !s) return s;
  const Route* r = &route;
  const std::string name = routeName(route);
  auto n = nsLocked("addRoute", ns);
  if (!n) return n.error();
  std::string dev = r->dev;
  if (!dev.empty()) {
    auto l = linkLocked("addRoute", **n, dev);
    if (!l) return l.error();
    if (!r->gateway && !(*l)->info.up)
      return Error{ENETDOWN, "addRoute " + name + ": device " + dev + " is down"};
  }
  if (r->gateway) {
    auto via = connectedDevLocked(**n, *r->gateway, dev);
    if (!via)
      return Error{ENETUNREACH, "addRoute " + name + ": gateway " + r->gateway->str() +
                                    " is not on a connected subnet of an up link"};
    dev = *via;
  }
  for (const StoredRoute& have : (*n)->routes)
    if (have.dst == r->dst) return exists("addRoute", "route to " + name);
  if (!r->dst.addr.isV6())
    for (auto& [linkName, l] : (*n)->links)
      if (l.info.up)
        for (const Prefix& c : l.addrs)
          if (!c.addr.isV6() && c.network() == r->dst)
            return exists("addRoute", "connected route to " + name + " on " + linkName);
  (*n)->routes.push_back(StoredRoute{r->dst, r->gateway, dev});
  return {};
}

Status FakeKernel::delRoute(const Netns& ns, const Route& route) {
  FAKE_ENTER("delRoute");
  if (auto s = checkRoute("delRoute", route); !s) return s;
  const Route* r = &route;
  auto n = nsLocked("delRoute", ns);
  if (!n) return n.error();
  auto& routes = (*n)->routes;
  auto it = std::find_if(routes.begin(), routes.end(), [&](const StoredRoute& have) {
    return have.dst == r->dst && (!r->gateway || have.gateway == r->gateway) &&
           (r->dev.empty() || have.dev == r->dev);
  });
  if (it == routes.end()) return notFound("delRoute", "route to " + routeName(route));
  routes.erase(it);
  return {};
}

Result<std::vector<Route>> FakeKernel::listRoutes(const Netns& ns) {
  FAKE_ENTER("listRoutes");
  auto n = nsLocked("listRoutes", ns);
  if (!n) return n.error();
  std::vector<Route> out;
  for (const StoredRoute& r : (*n)->routes) out.push_back(Route{r.dst, r.gateway, r.dev});
  return out;
}

// --- FDB ---

namespace {
// As the kernel's vxlan_fdb_parse: a destination of the other family than
// the VTEP (IPv4 unless it has an IPv6 local address) is EAFNOSUPPORT.
Status checkFdbFamily(const std::string& op, bool vtepV6, const FdbEntry& e) {
  if (!e.dst || e.dst->isV6() == vtepV6) return {};
  return Error{EAFNOSUPPORT, op + ": " + e.dev + " is an " + (vtepV6 ? "IPv6" : "IPv4") +
                                 " VTEP; it cannot send to " + e.dst->str()};
}
}  // namespace

Status FakeKernel::addFdb(const Netns& ns, const FdbEntry& e, FdbAdd how) {
  FAKE_CHANGE("addFdb", ns);
  if (auto s = checkFdb("addFdb", e, how == FdbAdd::kAppend ? FdbUse::kAppend : FdbUse::kCreate); !s)
    return s;
  auto n = nsLocked("addFdb", ns);
  if (!n) return n.error();
  auto l = linkLocked("addFdb", **n, e.dev);
  if (!l) return l.error();
  if ((*l)->info.kind != LinkKind::kVxlan) return invalid("addFdb: '" + e.dev + "' is not a vxlan device");
  if (auto s = checkFdbFamily("addFdb", (*l)->vxlanV6, e); !s) return s;
  const FdbEntry& entry = e;
  auto& fdb = (*n)->fdb;
  bool macPresent = std::any_of(fdb.begin(), fdb.end(),
                                [&](const FdbEntry& x) { return x.dev == entry.dev && x.mac == entry.mac; });
  if (macPresent && (how != FdbAdd::kAppend || fdb.count(entry)))
    return exists("addFdb", "FDB entry for " + entry.mac.str() + " on " + e.dev);
  fdb.insert(entry);
  return {};
}

Status FakeKernel::replaceFdb(const Netns& ns, const FdbEntry& e) {
  FAKE_CHANGE("replaceFdb", ns);
  if (auto s = checkFdb("replaceFdb", e, FdbUse::kReplace); !s) return s;
  if (isFloodMac(e.mac))
    return invalid("replaceFdb: " + e.mac.str() + " is a flood/multicast MAC (append its destinations)");
  auto n = nsLocked("replaceFdb", ns);
  if (!n) return n.error();
  auto l = linkLocked("replaceFdb", **n, e.dev);
  if (!l) return l.error();
  if ((*l)->info.kind != LinkKind::kVxlan)
    return invalid("replaceFdb: '" + e.dev + "' is not a vxlan device");
  if (auto s = checkFdbFamily("replaceFdb", (*l)->vxlanV6, e); !s) return s;
  const FdbEntry& entry = e;
  std::erase_if((*n)->fdb, [&](const FdbEntry& x) { return x.dev == entry.dev && x.mac == entry.mac; });
  (*n)->fdb.insert(entry);
  return {};
}

Status FakeKernel::delFdb(const Netns& ns, const FdbEntry& e) {
  FAKE_CHANGE("delFdb", ns);
  if (auto s = checkFdb("delFdb", e, FdbUse::kDelete); !s) return s;
  auto n = nsLocked("delFdb", ns);
  if (!n) return n.error();
  auto l = linkLocked("delFdb", **n, e.dev);
  if (!l) return l.error();
  if ((*l)->info.kind != LinkKind::kVxlan) return invalid("delFdb: '" + e.dev + "' is not a vxlan device");
  size_t removed = std::erase_if((*n)->fdb, [&](const FdbEntry& x) {
    return x.dev == e.dev && x.mac == e.mac && (!e.dst || x.dst == e.dst);
  });
  if (!removed)
    return notFound("delFdb",
                    "FDB entry " + e.mac.str() + " " + (e.dst ? e.dst->str() : "") + " on " + e.dev);
  return {};
}

Result<std::vector<FdbEntry>> FakeKernel::listFdb(const Netns& ns, const std::string& dev) {
  FAKE_ENTER("listFdb");
  if (auto s = checkLinkName("listFdb", dev); !s) return s.error();
  auto n = nsLocked("listFdb", ns);
  if (!n) return n.error();
  auto l = linkLocked("listFdb", **n, dev);
  if (!l) return l.error();
  std::vector<FdbEntry> out;
  for (const FdbEntry& x : (*n)->fdb)
    if (x.dev == dev) out.push_back(x);
  return out;
}

// --- neighbours ---

Status FakeKernel::addNeigh(const Netns& ns, const NeighEntry& e) {
  FAKE_CHANGE("addNeigh", ns);
  if (auto s = checkNeigh("addNeigh", e); !s) return s;
  auto n = nsLocked("addNeigh", ns);
  if (!n) return n.error();
  auto l = linkLocked("addNeigh", **n, e.dev);
  if (!l) return l.error();
  auto key = std::pair{e.dev, e.ip};
  if ((*n)->neigh.count(key)) return exists("addNeigh", "neighbour " + e.ip.str() + " on " + e.dev);
  (*n)->neigh[key] = e;
  return {};
}

Status FakeKernel::replaceNeigh(const Netns& ns, const NeighEntry& e) {
  FAKE_CHANGE("replaceNeigh", ns);
  if (auto s = checkNeigh("replaceNeigh", e); !s) return s;
  auto n = nsLocked("replaceNeigh", ns);
  if (!n) return n.error();
  auto l = linkLocked("replaceNeigh", **n, e.dev);
  if (!l) return l.error();
  (*n)->neigh[std::pair{e.dev, e.ip}] = e;
  return {};
}

Status FakeKernel::delNeigh(const Netns& ns, const NeighEntry& e) {
  FAKE_CHANGE("delNeigh", ns);
  if (auto s = checkNeigh("delNeigh", e); !s) return s;
  auto n = nsLocked("delNeigh", ns);
  if (!n) return n.error();
  auto l = linkLocked("delNeigh", **n, e.dev);
  if (!l) return l.error();
  if (!(*n)->neigh.erase(std::pair{e.dev, e.ip}))
    return notFound("delNeigh", "neighbour " + e.ip.str() + " on " + e.dev);
  return {};
}

Result<std::vector<NeighEntry>> FakeKernel::listNeigh(const Netns& ns, const std::string& dev) {
  FAKE_ENTER("listNeigh");
  if (auto s = checkLinkName("listNeigh", dev); !s) return s.error();
  auto n = nsLocked("listNeigh", ns);
  if (!n) return n.error();
  auto l = linkLocked("listNeigh", **n, dev);
  if (!l) return l.error();
  std::vector<NeighEntry> out;
  for (auto& [key, entry] : (*n)->neigh)
    if (key.first == dev) out.push_back(entry);
  return out;
}

// --- underlay ---

Result<uint32_t> FakeKernel::underlayMtu(const std::string& localAddr) {
  FAKE_ENTER("underlayMtu");
  if (!localAddr.empty() && !IpAddr::parse(localAddr))
    return invalid("underlayMtu: local address '" + localAddr + "'");
  return underlayMtu_;
}

}  // namespace weft::kernel
