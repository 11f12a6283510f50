#include "driver/health_netns.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "common/ip.h"
#include "common/log.h"

namespace weft::driver {

namespace {

Status ctx(const Status& st, const std::string& what) {
  if (st) return st;
  return Error{st.code(), "health namespace: " + what + ": " + st.error().message};
}

kernel::VxlanSpec vtepSpec(const HealthNetSpec& s) {
  kernel::VxlanSpec v;
  v.name = kHealthVtep;
  v.vni = s.vni;
  v.port = s.port;
  v.local = s.self;
  v.learning = false;
  v.proxy = false;  // the peers' entries answer for themselves; nothing to proxy
  v.mtu = healthMtu(s.self);
  v.mac = healthMac(s.self);
  return v;
}

Status addVtep(kernel::Kernel& k, const HealthNetSpec& s) {
  auto st = k.createVxlan(vtepSpec(s), kHealthNetns);
  if (!st && st.code() == EEXIST) {
    // Ours, stuck in an orphaned health namespace (as after an upgrade).
    if (k.removeUnreachableVxlan(kHealthVtep, s.vni, s.port).ok())
      st = k.createVxlan(vtepSpec(s), kHealthNetns);
  }
  if (!st && st.code() == EEXIST)
    return Error{EEXIST,
                 "health namespace: VNI " + std::to_string(s.vni) + " (udp port " + std::to_string(s.port) +
                     ") is held by another VXLAN device on this host (a weft network created with "
                     "-o vni=" +
                     std::to_string(s.vni) +
                     ", or not weft's); set HEALTH_VNI to a free VNI on every host, the same everywhere"};
  if (!st) return ctx(st, "create " + std::string(kHealthVtep));
  return ctx(k.setLinkUp(kHealthNetns, kHealthVtep, true), "set " + std::string(kHealthVtep) + " up");
}

}  // namespace

uint32_t healthMtu(const std::string& self) {
  auto a = IpAddr::parse(self);
  return a && a->isV6() ? kHealthMtu6 : kHealthMtu;
}

std::string healthMac(const std::string& ip) {
  auto a = IpAddr::parse(ip);
  if (!a) return "";
  char buf[18];
  if (a->isV6()) {
    uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a, 64 bits
    for (uint8_t b : a->bytes) h = (h ^ b) * 0x100000001b3ull;
    std::snprintf(buf, sizeof buf, "06:%02x:%02x:%02x:%02x:%02x", static_cast<unsigned>(h >> 32 & 0xff),
                  static_cast<unsigned>(h >> 24 & 0xff), static_cast<unsigned>(h >> 16 & 0xff),
                  static_cast<unsigned>(h >> 8 & 0xff), static_cast<unsigned>(h & 0xff));
    return buf;
  }
  uint32_t v = static_cast<uint32_t>(a->toU128());
  std::snprintf(buf, sizeof buf, "02:77:%02x:%02x:%02x:%02x", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff,
                v & 0xff);
  return buf;
}

Status reconcileHealthNet(kernel::Kernel& k, const HealthNetSpec& s, std::vector<std::string>* did) {
  auto nsList = k.listNetns();
  if (!nsList.ok()) return ctx(nsList.error(), "list namespaces");
  if (std::find(nsList->begin(), nsList->end(), kHealthNetns) == nsList->end()) {
    if (auto st = k.createNetns(kHealthNetns); !st.okOr(EEXIST)) return ctx(st, "create");
    did->push_back("created the health namespace");
  }
  auto vx = k.getLink(kHealthNetns, kHealthVtep);
  const std::string mac = healthMac(s.self);
  bool right = vx.ok() && vx->kind == kernel::LinkKind::kVxlan && vx->vni == s.vni &&
               (!vx->port || *vx->port == s.port) && vx->mac == mac;
  if (!right) {
    if (vx.ok()) k.deleteLink(kHealthNetns, kHealthVtep);
    if (k.getLink(kernel::kHostNetns, kHealthVtep).ok()) k.deleteLink(kernel::kHostNetns, kHealthVtep);
    if (auto st = addVtep(k, s); !st) return st;
    did->push_back(std::string(vx.ok() ? "replaced drifted " : "created ") + kHealthVtep);
  } else if (!vx->up) {
    if (auto st = k.setLinkUp(kHealthNetns, kHealthVtep, true); !st) return ctx(st, "set up");
    did->push_back(std::string("set ") + kHealthVtep + " up");
  }
  auto self = IpAddr::parse(s.self);
  if (!self) return Error{EINVAL, "health namespace: \"" + s.self + "\" is not an IP address"};
  const std::string addr = s.self + (self->isV6() ? "/128" : "/32");
  auto addrs = k.listAddresses(kHealthNetns, kHealthVtep);
  if (!addrs.ok()) return ctx(addrs.error(), "list addresses");
  if (std::find(addrs->begin(), addrs->end(), addr) == addrs->end()) {
    if (auto st = k.addAddress(kHealthNetns, kHealthVtep, addr); !st.okOr(EEXIST))
      return ctx(st, "add address " + addr);
    did->push_back("added " + addr + " to " + kHealthVtep);
  }
  for (const auto& a : *addrs)
    if (a != addr) k.delAddress(kHealthNetns, kHealthVtep, a);
  const kernel::Route route{Prefix{IpAddr::any(self->family), 0}, std::nullopt, kHealthVtep};
  auto routes = k.listRoutes(kHealthNetns);
  if (!routes.ok()) return ctx(routes.error(), "list routes");
  if (std::find(routes->begin(), routes->end(), route) == routes->end()) {
    if (auto st = k.addRoute(kHealthNetns, route); !st.okOr(EEXIST)) return ctx(st, "add the default route");
    did->push_back(std::string("added the default route through ") + kHealthVtep);
  }
  return Status::Ok();
}

Result<size_t> syncHealthPeers(kernel::Kernel& k, const std::set<std::string>& peers) {
  auto neigh = k.listNeigh(kHealthNetns, kHealthVtep);
  if (!neigh.ok()) return ctx(neigh.error(), "list neighbours").error();
  auto fdb = k.listFdb(kHealthNetns, kHealthVtep);
  if (!fdb.ok()) return ctx(fdb.error(), "list FDB").error();
  std::map<IpAddr, MacAddr> haveNeigh;  // IP -> MAC
  std::map<MacAddr, IpAddr> haveFdb;    // MAC -> VTEP
  for (const auto& e : *neigh) haveNeigh[e.ip] = e.mac;
  for (const auto& e : *fdb)
    if (e.dst) haveFdb[e.mac] = *e.dst;
  size_t changes = 0;
  std::set<IpAddr> wantIps;
  std::set<MacAddr> wantMacs;
  for (const auto& p : peers) {
    auto ip = IpAddr::parse(p);
    auto mac = MacAddr::parse(healthMac(p));
    if (!ip || !mac) continue;
    wantIps.insert(*ip);
    wantMacs.insert(*mac);
    if (auto it = haveNeigh.find(*ip); it == haveNeigh.end() || it->second != *mac) {
      if (auto st = k.replaceNeigh(kHealthNetns, {kHealthVtep, *ip, *mac}); !st)
        return ctx(st, "neighbour entry of " + p).error();
      ++changes;
    }
    if (auto it = haveFdb.find(*mac); it == haveFdb.end() || it->second != *ip) {
      if (auto st = k.replaceFdb(kHealthNetns, {kHealthVtep, *mac, *ip}); !st)
        return ctx(st, "FDB entry of " + p).error();
      ++changes;
    }
  }
  for (const auto& [ip, mac] : haveNeigh)
    if (!wantIps.count(ip) && k.delNeigh(kHealthNetns, {kHealthVtep, ip, mac}).okOr(ENOENT)) ++changes;
  for (const auto& [mac, dst] : haveFdb)
    if (!wantMacs.count(mac) && k.delFdb(kHealthNetns, {kHealthVtep, mac, dst}).okOr(ENOENT)) ++changes;
  return changes;
}

Status removeHealthNet(kernel::Kernel& k) {
  auto v = k.deleteLink(kHealthNetns, kHealthVtep);
  if (!v.okOr(ENOENT)) return ctx(v, "delete " + std::string(kHealthVtep));
  auto n = k.deleteNetns(kHealthNetns);
  if (!n.okOr(ENOENT)) return ctx(n, "delete");
  return Status::Ok();
}

}  // namespace weft::driver
