// FakeKernel: namespaces and links. Addresses, routes, FDB, neighbours,
// sysctls and xfrm are in fake_kernel_net.cc.
#include "kernel/fake_kernel.h"

#include <algorithm>

#include "kernel/fake_kernel_util.h"
#include "kernel/validate.h"

namespace weft::kernel {

using fake::exists;
using fake::notFound;
using fake::nsName;

namespace {
LinkInfo loopbackInfo() {
  LinkInfo lo;
  lo.name = "lo";
  lo.ifindex = 1;
  lo.mtu = 65536;
  lo.mac = "00:00:00:00:00:00";
  return lo;
}
}  // namespace

FakeKernel::FakeKernel(std::string netnsDir) : netnsDir_(std::move(netnsDir)) {
  Namespace host;
  host.links["lo"].info = loopbackInfo();
  namespaces_.emplace(kHostNetns, std::move(host));
}

void FakeKernel::setUnderlayMtu(uint32_t mtu) {
  std::lock_guard<std::mutex> lock(mu_);
  underlayMtu_ = mtu;
}

void FakeKernel::failNext(const std::string& op, int err) {
  std::lock_guard<std::mutex> lock(mu_);
  faults_[op].push_back(err);
}

std::optional<Error> FakeKernel::takeFault(const std::string& op) {
  auto it = faults_.find(op);
  if (it == faults_.end() || it->second.empty()) return std::nullopt;
  int err = it->second.front();
  it->second.pop_front();
  return Error::fromErrno(err, op + " (injected fault)");
}

Result<FakeKernel::Namespace*> FakeKernel::nsLocked(const std::string& op, const Netns& ns) {
  auto it = namespaces_.find(ns);
  if (it == namespaces_.end()) return notFound(op, nsName(ns));
  return &it->second;
}

Result<FakeKernel::Link*> FakeKernel::linkLocked(const std::string& op, Namespace& n,
                                                 const std::string& name) {
  auto it = n.links.find(name);
  if (it == n.links.end()) return notFound(op, "link '" + name + "'");
  return &it->second;
}

std::string FakeKernel::nextMac() {
  // splitmix64: deterministic, well spread; locally administered unicast.
  uint64_t z = (macSeed_ += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  MacAddr m;
  for (int i = 0; i < 6; ++i) m.bytes[i] = static_cast<uint8_t>(z >> (8 * i));
  m.bytes[0] = static_cast<uint8_t>((m.bytes[0] & 0xfe) | 0x02);
  return m.str();
}

FakeKernel::Link& FakeKernel::addLinkLocked(Namespace& n, const std::string& name, LinkKind kind,
                                            uint32_t mtu) {
  Link& l = n.links[name];
  l.info.name = name;
  l.info.kind = kind;
  l.info.kindName = linkKindName(kind);
  l.info.ifindex = n.nextIfindex++;
  l.info.mtu = mtu ? mtu : 1500;
  l.info.mac = nextMac();
  return l;
}

Status FakeKernel::probe() {
  FAKE_ENTER("probe");
  return {};
}

// --- namespaces ---

Status FakeKernel::createNetns(const Netns& name) {
  FAKE_ENTER("createNetns");
  if (auto s = checkNetnsName("createNetns", name); !s) return s;
  if (namespaces_.count(name)) return exists("createNetns", nsName(name));
  Namespace& n = namespaces_[name];
  n.links["lo"].info = loopbackInfo();
  n.id = nextNsIdentity_++;
  return {};
}

Status FakeKernel::deleteNetns(const Netns& name) {
  FAKE_ENTER("deleteNetns");
  if (auto s = checkNetnsName("deleteNetns", name); !s) return s;
  auto it = namespaces_.find(name);
  if (it == namespaces_.end()) return notFound("deleteNetns", nsName(name));
  std::vector<std::string> names;
  for (auto& [ln, l] : it->second.links) names.push_back(ln);
  for (auto& ln : names) removeLinkLocked(name, ln);
  namespaces_.erase(name);
  return {};
}

Result<std::vector<Netns>> FakeKernel::listNetns() {
  FAKE_ENTER("listNetns");
  std::vector<Netns> out;
  for (auto& [name, n] : namespaces_)
    if (!name.empty() && name[0] != '/') out.push_back(name);  // '/': orphans (orphanNetns)
  return out;
}

Result<int> FakeKernel::orphanNetns(const Netns& name) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = namespaces_.find(name);
  if (name.empty() || it == namespaces_.end()) return notFound("orphanNetns", nsName(name));
  const int nsid = nextNsid_++;
  const Netns key = "/orphan:" + std::to_string(nsid);  // no valid namespace name starts with '/'
  namespaces_.emplace(key, std::move(it->second));
  namespaces_.erase(it);
  for (auto& [nsn, other] : namespaces_)  // veth peers follow it
    for (auto& [ln, l] : other.links)
      if (l.info.kind == LinkKind::kVeth && l.peerNs == name) l.peerNs = key;
  return nsid;
}

Result<int> FakeKernel::removeUnreachableVxlan(const std::string& name, uint32_t vni, uint16_t port) {
  FAKE_ENTER("removeUnreachableVxlan");
  for (auto& [key, n] : namespaces_) {
    if (key.rfind("/orphan:", 0) != 0) continue;
    auto it = n.links.find(name);
    if (it == n.links.end()) continue;
    const LinkInfo& l = it->second.info;
    if (l.kind != LinkKind::kVxlan || l.vni != vni || l.port != port) continue;
    const Netns ns = key;
    removeLinkLocked(ns, name);
    return std::stoi(ns.substr(8));
  }
  return notFound("removeUnreachableVxlan",
                  "VXLAN '" + name + "' with VNI " + std::to_string(vni) + " in a namespace no file reaches");
}

std::string FakeKernel::netnsPath(const Netns& name) const {
  if (name.empty()) return "/proc/self/ns/net";
  return netnsDir_ + "/" + name;
}

// --- links ---

Status FakeKernel::createBridge(const Netns& ns, const std::string& name, uint32_t mtu) {
  FAKE_CHANGE("createBridge", ns);
  if (auto s = checkLinkName("createBridge", name); !s) return s;
  if (auto s = checkMtu("createBridge " + name, mtu, true); !s) return s;
  auto n = nsLocked("createBridge", ns);
  if (!n) return n.error();
  if ((*n)->links.count(name)) return exists("createBridge", "link '" + name + "' in " + nsName(ns));
  addLinkLocked(**n, name, LinkKind::kBridge, mtu);
  return {};
}

Status FakeKernel::createVeth(const Netns& ns, const std::string& name, const Netns& peerNs,
                              const std::string& peerName, uint32_t mtu) {
  FAKE_CHANGE("createVeth", ns);
  notifyLocked(peerNs);
  if (auto s = checkLinkName("createVeth", name); !s) return s;
  if (auto s = checkLinkName("createVeth", peerName); !s) return s;
  if (auto s = checkMtu("createVeth " + name, mtu, true); !s) return s;
  auto n = nsLocked("createVeth", ns);
  if (!n) return n.error();
  auto pn = nsLocked("createVeth", peerNs);
  if (!pn) return pn.error();
  if ((*pn)->links.count(peerName) || (ns == peerNs && name == peerName))
    return exists("createVeth", "link '" + peerName + "' in " + nsName(peerNs));
  if ((*n)->links.count(name)) return exists("createVeth", "link '" + name + "' in " + nsName(ns));
  Link& a = addLinkLocked(**n, name, LinkKind::kVeth, mtu);
  a.peerNs = peerNs;
  a.peerName = peerName;
  Link& b = addLinkLocked(**pn, peerName, LinkKind::kVeth, mtu);
  b.peerNs = ns;
  b.peerName = name;
  return {};
}

Status FakeKernel::createVxlan(const VxlanSpec& spec, const Netns& targetNs) {
  FAKE_CHANGE("createVxlan", targetNs);
  if (auto s = checkVxlanSpec(spec); !s) return s;
  auto n = nsLocked("createVxlan", targetNs);
  if (!n) return n.error();
  const uint16_t port = spec.port ? spec.port : 4789;
  const bool v6 = !spec.local.empty() && IpAddr::parse(spec.local)->isV6();
  if (namespaces_.at(kHostNetns).links.count(spec.name))
    return exists("createVxlan", "link '" + spec.name + "' in host namespace");
  for (auto& [nsn, other] : namespaces_)
    for (auto& [ln, l] : other.links)
      if (l.info.kind == LinkKind::kVxlan && l.info.vni == spec.vni && l.info.port == port && l.vxlanV6 == v6)
        return exists("createVxlan", "VXLAN with VNI " + std::to_string(spec.vni) + " port " +
                                         std::to_string(port) + " ('" + ln + "' in " + nsName(nsn) + ")");
  if ((*n)->links.count(spec.name))
    return exists("createVxlan", "link '" + spec.name + "' in " + nsName(targetNs));
  Link& l = addLinkLocked(**n, spec.name, LinkKind::kVxlan, spec.mtu);
  l.info.vni = spec.vni;
  l.info.port = port;
  l.info.learning = spec.learning;
  if (!spec.mac.empty()) l.info.mac = MacAddr::parse(spec.mac)->str();
  l.vxlanV6 = v6;
  if (!spec.local.empty()) l.info.local = IpAddr::parse(spec.local);
  return {};
}

void FakeKernel::removeLinkLocked(const Netns& ns, const std::string& name) {
  auto nit = namespaces_.find(ns);
  if (nit == namespaces_.end()) return;
  Namespace& n = nit->second;
  auto it = n.links.find(name);
  if (it == n.links.end()) return;
  Link l = std::move(it->second);
  n.links.erase(it);
  std::erase_if(n.routes, [&](const StoredRoute& r) { return r.dev == name; });
  std::erase_if(n.fdb, [&](const FdbEntry& e) { return e.dev == name; });
  std::erase_if(n.neigh, [&](const auto& kv) { return kv.first.first == name; });
  for (const char* prefix : {"net/ipv4/conf/", "net/ipv6/conf/", "net/ipv4/neigh/", "net/ipv6/neigh/"}) {
    std::string devPrefix = std::string(prefix) + name + "/";
    std::erase_if(n.sysctls, [&](const auto& kv) { return kv.first.rfind(devPrefix, 0) == 0; });
  }
  if (l.info.kind == LinkKind::kBridge)
    for (auto& [ln, port] : n.links)
      if (port.info.master == name) port.info.master.clear();
  if (!l.info.master.empty()) bridgeAutoMtuLocked(n, l.info.master);
  if (l.info.kind == LinkKind::kVeth) removeLinkLocked(l.peerNs, l.peerName);
}

void FakeKernel::bridgeAutoMtuLocked(Namespace& n, const std::string& bridge) {
  auto it = n.links.find(bridge);
  if (it == n.links.end() || it->second.mtuByUser) return;
  uint32_t mtu = 0;
  for (auto& [ln, l] : n.links)
    if (l.info.master == bridge && (mtu == 0 || l.info.mtu < mtu)) mtu = l.info.mtu;
  it->second.info.mtu = mtu ? mtu : 1500;
}

Status FakeKernel::deleteLink(const Netns& ns, const std::string& name) {
  FAKE_CHANGE("deleteLink", ns);
  if (auto s = checkLinkName("deleteLink", name); !s) return s;
  auto n = nsLocked("deleteLink", ns);
  if (!n) return n.error();
  auto l = linkLocked("deleteLink", **n, name);
  if (!l) return l.error();
  if (name == "lo") return Error{EOPNOTSUPP, "deleteLink: the loopback device cannot be deleted"};
  removeLinkLocked(ns, name);
  return {};
}

void FakeKernel::dropRoutesLocked(Namespace& n, const std::string& dev, int family) {
  std::erase_if(n.routes, [&](const StoredRoute& r) {
    return r.dev == dev && (family == 0 || r.dst.addr.family == family);
  });
}

void FakeKernel::flushOnDownLocked(Namespace& n, Link& l) {
  const std::string& dev = l.info.name;
  std::erase_if(n.neigh, [&](const auto& kv) { return kv.first.first == dev; });
  dropRoutesLocked(n, dev, 0);
  std::erase_if(l.addrs, [](const Prefix& c) { return c.addr.isV6(); });
}

Status FakeKernel::setLinkUp(const Netns& ns, const std::string& name, bool up) {
  FAKE_CHANGE("setLinkUp", ns);
  if (auto s = checkLinkName("setLinkUp", name); !s) return s;
  auto n = nsLocked("setLinkUp", ns);
  if (!n) return n.error();
  auto l = linkLocked("setLinkUp", **n, name);
  if (!l) return l.error();
  Link& link = **l;
  if (link.info.up && !up) flushOnDownLocked(**n, link);
  if (!link.info.up && up && name == "lo") {
    for (const char* a : {"127.0.0.1/8", "::1/128"}) {
      Prefix c = *Prefix::parseHostOrPrefix(a);
      if (std::find(link.addrs.begin(), link.addrs.end(), c) == link.addrs.end()) link.addrs.push_back(c);
    }
  }
  link.info.up = up;
  return {};
}

Status FakeKernel::setMtu(const Netns& ns, const std::string& name, uint32_t mtu) {
  FAKE_CHANGE("setMtu", ns);
  if (auto s = checkLinkName("setMtu", name); !s) return s;
  auto n = nsLocked("setMtu", ns);
  if (!n) return n.error();
  auto l = linkLocked("setMtu", **n, name);
  if (!l) return l.error();
  Link& link = **l;
  uint32_t max = kMaxMtu;
  if (link.info.kind == LinkKind::kVxlan) max -= link.vxlanV6 ? kVxlanHeadroom6 : kVxlanHeadroom4;
  if (auto s = checkMtu("setMtu " + name, mtu, false, max); !s) return s;
  link.info.mtu = mtu;
  if (link.info.kind == LinkKind::kBridge) link.mtuByUser = true;
  if (!link.info.master.empty()) bridgeAutoMtuLocked(**n, link.info.master);
  return {};
}

Status FakeKernel::setMaster(const Netns& ns, const std::string& name, const std::string& master) {
  FAKE_CHANGE("setMaster", ns);
  if (auto s = checkLinkName("setMaster", name); !s) return s;
  if (!master.empty())
    if (auto s = checkLinkName("setMaster", master); !s) return s;
  auto n = nsLocked("setMaster", ns);
  if (!n) return n.error();
  auto l = linkLocked("setMaster", **n, name);
  if (!l) return l.error();
  Link& link = **l;
  if (master.empty()) {
    std::string old = std::exchange(link.info.master, "");
    if (!old.empty()) bridgeAutoMtuLocked(**n, old);
    return {};
  }
  auto m = (*n)->links.find(master);
  if (m == (*n)->links.end())
    return Error{ENODEV, "setMaster " + name + ": master '" + master + "' does not exist"};
  if (m->second.info.kind != LinkKind::kBridge)
    return Error{EOPNOTSUPP, "setMaster " + name + ": '" + master + "' is not a bridge"};
  if (name == "lo") return invalid("setMaster: the loopback device cannot be a bridge port");
  if (link.info.kind == LinkKind::kBridge)  // the kernel says EINVAL here, not ELOOP
    return invalid("setMaster " + name + ": a bridge cannot be a port of a bridge");
  if (link.info.master == master) return {};
  std::string old = std::exchange(link.info.master, master);
  if (!old.empty()) bridgeAutoMtuLocked(**n, old);
  bridgeAutoMtuLocked(**n, master);
  return {};
}

Result<LinkInfo> FakeKernel::getLink(const Netns& ns, const std::string& name) {
  FAKE_ENTER("getLink");
  if (auto s = checkLinkName("getLink", name); !s) return s.error();
  auto n = nsLocked("getLink", ns);
  if (!n) return n.error();
  auto l = linkLocked("getLink", **n, name);
  if (!l) return l.error();
  return (*l)->info;
}

Result<std::vector<LinkInfo>> FakeKernel::listLinks(const Netns& ns) {
  FAKE_ENTER("listLinks");
  auto n = nsLocked("listLinks", ns);
  if (!n) return n.error();
  std::vector<LinkInfo> out;
  for (auto& [name, l] : (*n)->links) out.push_back(l.info);
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.ifindex < b.ifindex; });
  return out;
}

}  // namespace weft::kernel

namespace weft::kernel {

Status FakeKernel::retireLink(const Netns& ns, const std::string& name, const std::string& newName,
                              uint32_t group) {
  FAKE_CHANGE("retireLink", ns);
  if (auto s = checkLinkName("retireLink", name); !s) return s;
  if (auto s = checkLinkName("retireLink", newName); !s) return s;
  if (group == 0) return Error{EINVAL, "retireLink " + name + ": group must be non-zero"};
  auto n = nsLocked("retireLink", ns);
  if (!n) return n.error();
  auto l = linkLocked("retireLink", **n, name);
  if (!l) return l.error();
  if (name == "lo") return Error{EOPNOTSUPP, "retireLink: the loopback device cannot be retired"};
  if (newName != name && (*n)->links.count(newName))
    return Error{EEXIST, "retireLink " + name + ": a link named '" + newName + "' exists"};
  Link& link = **l;
  if (std::string old = std::exchange(link.info.master, ""); !old.empty()) bridgeAutoMtuLocked(**n, old);
  if (link.info.up) {
    link.info.up = false;
    flushOnDownLocked(**n, link);
  }
  link.info.group = group;
  if (newName == name) return {};
  Link moved = std::move(link);
  (*n)->links.erase(name);
  moved.info.name = newName;
  std::erase_if((*n)->fdb, [&](const FdbEntry& e) { return e.dev == name; });
  std::erase_if((*n)->neigh, [&](const auto& kv) { return kv.first.first == name; });
  if (moved.info.kind == LinkKind::kVeth) {
    auto pn = namespaces_.find(moved.peerNs);
    if (pn != namespaces_.end()) {
      auto peer = pn->second.links.find(moved.peerName);
      if (peer != pn->second.links.end()) peer->second.peerName = newName;
    }
  }
  (*n)->links.emplace(newName, std::move(moved));
  return {};
}

Status FakeKernel::deleteLinkGroup(const Netns& ns, uint32_t group) {
  FAKE_CHANGE("deleteLinkGroup", ns);
  if (group == 0) return Error{EINVAL, "deleteLinkGroup: group must be non-zero"};
  auto n = nsLocked("deleteLinkGroup", ns);
  if (!n) return n.error();
  std::vector<std::string> doomed;
  for (const auto& [name, l] : (*n)->links)
    if (l.info.group == group) doomed.push_back(name);
  for (const auto& name : doomed) removeLinkLocked(ns, name);
  return {};
}

}  // namespace weft::kernel
