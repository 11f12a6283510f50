#include "driver/driver.h"

#include <algorithm>
#include <cerrno>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>

#include "common/log.h"
#include "driver/names.h"
#include "driver/sandbox.h"
#include "kernel/types.h"

namespace weft::driver {

namespace {

constexpr uint32_t kVxlanOverheadV4 = 50;
constexpr uint32_t kVxlanOverheadV6 = 70;
constexpr uint32_t kEspOverhead = 40;  // ESP header + IV + ICV + trailer (AES-GCM), rounded up

// Data-plane encryption (IPsec ESP between VTEPs) is not built yet; an
// option that silently did nothing would be a lie, so it is refused.
Status refuseUnbuilt(const NetworkOptions& o) {
  if (o.encrypted)
    return Error{ENOTSUP, "option encrypted: this weft does not encrypt the data plane yet; "
                          "create the network without -o encrypted"};
  return Status::Ok();
}

Error notFound(const std::string& what, const std::string& id) {
  return Error{ENOENT, what + " " + id + " not found"};
}

std::string macFromIp(const IpAddr& a) {
  kernel::MacAddr m;
  m.bytes[0] = 0x02;
  m.bytes[1] = 0x42;
  uint32_t low = static_cast<uint32_t>(a.value & 0xffffffffu);
  m.bytes[2] = static_cast<uint8_t>(low >> 24);
  m.bytes[3] = static_cast<uint8_t>(low >> 16);
  m.bytes[4] = static_cast<uint8_t>(low >> 8);
  m.bytes[5] = static_cast<uint8_t>(low);
  return m.str();
}

std::string randomMac() {
  std::random_device rd;
  kernel::MacAddr m;
  for (auto& b : m.bytes) b = static_cast<uint8_t>(rd());
  m.bytes[0] = (m.bytes[0] & 0xfe) | 0x02;  // unicast, locally administered
  return m.str();
}

// FNV-1a, stable across versions and hosts (it picks VNIs).
uint32_t stableHash(const std::string& s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

Result<Subnet> checkSubnet(const IpamData& d, bool v6) {
  auto p = Prefix::parse(d.pool);
  const char* fam = v6 ? "IPv6Data" : "IPv4Data";
  if (!p) return Error{EINVAL, std::string(fam) + " Pool \"" + d.pool + "\" is not a valid CIDR"};
  if (p->addr.v6 != v6)
    return Error{EINVAL, std::string(fam) + " Pool \"" + d.pool + "\" is of the wrong address family"};
  if (!d.gateway.empty()) {
    auto g = Prefix::parse(d.gateway);
    if (!g || g->addr.v6 != v6 || !p->contains(g->addr))
      return Error{EINVAL, std::string(fam) + " Gateway \"" + d.gateway +
                               "\" must be a CIDR inside Pool " + d.pool};
  }
  return Subnet{d.pool, d.gateway};
}

bool inSubnets(const std::vector<Subnet>& subs, const IpAddr& a) {
  for (const auto& s : subs) {
    auto p = Prefix::parse(s.pool);
    if (p && p->contains(a)) return true;
  }
  return false;
}

}  // namespace

bool validObjectId(const std::string& id) {
  if (id.size() < 12 || id.size() > 128) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  });
}

Status checkObjectId(const char* field, const std::string& id) {
  if (validObjectId(id)) return Status::Ok();
  return Error{EINVAL, std::string(field) + " \"" + id +
                           "\" is not a valid ID (12 to 128 letters and digits expected)"};
}

Driver::Driver(DriverConfig cfg, kernel::Kernel& kernel)
    : cfg_(std::move(cfg)), kernel_(kernel), store_(cfg_.stateDir + "/state.json") {
  retiredSeq_ = std::random_device{}();
}

// ---------------------------------------------------------------- state

std::pair<std::string, uint64_t> Driver::snapshotLocked() const {
  nlohmann::json nets = nlohmann::json::array();
  for (const auto& [id, n] : networks_) nets.push_back(toJson(n));
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& [id, e] : endpoints_) eps.push_back(toJson(e));
  nlohmann::json j = {{"format", "weft-state"},
                      {"version", kStateFormatVersion},
                      {"networks", std::move(nets)},
                      {"endpoints", std::move(eps)},
                      {"ipam", ipam_.toJson()},
                      {"discovered", discovered_}};
  return {j.dump(), changeSeq_};
}

Status Driver::commit(uint64_t seq) {
  return store_.persist(seq, [this] {
    std::lock_guard<std::mutex> lk(mu_);
    return snapshotLocked();
  });
}

Status Driver::loadFrom(const nlohmann::json& j) {
  try {
    if (j.value("format", "") != "weft-state")
      return Error{EINVAL, "state file " + store_.path() + " is not a weft state file"};
    for (const auto& nj : j.at("networks")) {
      auto n = networkFromJson(nj);
      if (!n.ok()) return Error{EINVAL, "state file " + store_.path() + ": " + n.error().message};
      networks_.emplace(n->id, std::move(*n));
    }
    for (const auto& ej : j.at("endpoints")) {
      auto e = endpointFromJson(ej);
      if (!e.ok()) return Error{EINVAL, "state file " + store_.path() + ": " + e.error().message};
      auto nit = networks_.find(e->networkId);
      if (nit == networks_.end())
        return Error{EINVAL, "state file " + store_.path() + ": endpoint " + e->id +
                                 " belongs to unknown network " + e->networkId};
      nit->second.endpoints.insert(e->id);
      endpoints_.emplace(e->id, std::move(*e));
    }
    auto ipam = Ipam::fromJson(j.at("ipam"));
    if (!ipam.ok()) return Error{EINVAL, "state file " + store_.path() + ": " + ipam.error().message};
    ipam_ = std::move(*ipam);
    discovered_ = j.at("discovered").get<std::set<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return Error{EINVAL, "state file " + store_.path() + " is corrupt: " + e.what() +
                             "; weft will not overwrite it"};
  }
  return Status::Ok();
}

Status Driver::start(ReconcileReport* report) {
  auto loaded = store_.load();
  if (!loaded.ok()) return loaded.error();
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (loaded->has_value()) {
      auto st = loadFrom(**loaded);
      if (!st) {
        networks_.clear();
        endpoints_.clear();
        return st;
      }
      LOG_INFO("driver", "restored " << networks_.size() << " networks, " << endpoints_.size()
                                     << " endpoints, " << ipam_.pools().size()
                                     << " address pools from " << store_.path());
    }
    ReconcileReport local;
    auto st = reconcileLocked(report ? report : &local);
    if (!st) return st;
    seq = bumpLocked();
  }
  // Written right away: proves the state directory is writable before Docker
  // is told anything, and records what reconcile corrected.
  return commit(seq);
}

// ---------------------------------------------------------------- helpers

SandboxSpec Driver::sandboxSpecLocked(const Network& n) const {
  SandboxSpec s;
  s.netns = n.netns;
  s.vxlanName = n.vxlanName;
  s.vni = n.vni;
  s.port = cfg_.vxlanPort;
  s.local = cfg_.advertiseAddr;
  s.mtu = n.mtu;
  for (const auto& sub : n.ipv4)
    if (!sub.gateway.empty()) s.gateways.push_back(sub.gateway);
  for (const auto& sub : n.ipv6)
    if (!sub.gateway.empty()) s.gateways.push_back(sub.gateway);
  return s;
}

Result<uint32_t> Driver::mtuFor(const NetworkOptions& o) const {
  auto under = kernel_.underlayMtu(cfg_.advertiseAddr);
  if (!under.ok())
    return Error{under.code(), "cannot find the underlay MTU: " + under.error().message};
  bool v6 = cfg_.advertiseAddr.find(':') != std::string::npos;
  uint32_t overhead = (v6 ? kVxlanOverheadV6 : kVxlanOverheadV4) + (o.encrypted ? kEspOverhead : 0);
  if (*under <= overhead + kMinMtu)
    return Error{EINVAL, "underlay MTU " + std::to_string(*under) + " is too small for VXLAN"};
  uint32_t max = *under - overhead;
  uint32_t want = o.mtu ? *o.mtu : (cfg_.defaultMtu ? cfg_.defaultMtu : max);
  if (want > max)
    return Error{EINVAL, "mtu " + std::to_string(want) + " is more than the underlay (MTU " +
                             std::to_string(*under) + ") can carry over VXLAN" +
                             (o.encrypted ? " with encryption" : "") + "; the most is " +
                             std::to_string(max)};
  return want;
}

Result<uint32_t> Driver::chooseVni(const NetworkOptions& o, const std::string& identity,
                                   const std::string& networkId) const {
  uint32_t vni = o.vni ? *o.vni : stableHash(identity) % kMaxWeftVni + 1;
  for (const auto& [id, n] : networks_) {
    if (id == networkId) continue;
    if (n.vni == vni)
      return Error{EEXIST, "VNI " + std::to_string(vni) + " is already used by weft network " +
                               id.substr(0, 12) + (o.vni ? "" : " (chosen from the network's identity)") +
                               "; give this network another one with -o vni=N (1-" +
                               std::to_string(kMaxWeftVni) + ")"};
  }
  return vni;
}

// ---------------------------------------------------------------- networks

Status Driver::createNetwork(const CreateNetworkRequest& r) {
  if (auto st = checkObjectId("NetworkID", r.networkId); !st) return st;
  auto opts = parseNetworkOptions(r.generic);
  if (!opts.ok()) return opts.error();
  if (auto st = refuseUnbuilt(*opts); !st) return st;
  std::vector<Subnet> v4, v6;
  for (const auto& d : r.ipv4) {
    auto s = checkSubnet(d, false);
    if (!s.ok()) return s.error();
    v4.push_back(*s);
  }
  for (const auto& d : r.ipv6) {
    auto s = checkSubnet(d, true);
    if (!s.ok()) return s.error();
    v6.push_back(*s);
  }

  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (auto it = networks_.find(r.networkId); it != networks_.end()) {
      const Network& n = it->second;
      if (n.options.raw == opts->raw && n.ipv4 == v4 && n.ipv6 == v6) return Status::Ok();
      return Error{EEXIST, "network " + r.networkId.substr(0, 12) +
                               " already exists with different options or subnets"};
    }
    Network n;
    n.id = r.networkId;
    n.options = *opts;
    n.ipv4 = v4;
    n.ipv6 = v6;
    n.internal = r.internal;
    n.enableIpv6 = r.enableIpv6;
    if (cfg_.scope == "global") n.identity = "id:" + r.networkId;
    else if (!opts->name.empty()) n.identity = "name:" + opts->name;
    else if (!v4.empty()) n.identity = "subnet:" + v4.front().pool;
    else if (!v6.empty()) n.identity = "subnet:" + v6.front().pool;
    else n.identity = "id:" + r.networkId;
    for (const auto& [id, other] : networks_) {
      if (other.identity == n.identity)
        return Error{EEXIST, "weft network " + id.substr(0, 12) + " on this host already is " +
                                 n.identity.substr(n.identity.find(':') + 1) +
                                 "; networks that share a subnet need distinct -o weft.name=NAME"};
    }
    auto vni = chooseVni(*opts, n.identity, n.id);
    if (!vni.ok()) return vni.error();
    n.vni = *vni;
    auto mtu = mtuFor(*opts);
    if (!mtu.ok()) return mtu.error();
    n.mtu = *mtu;
    n.netns = netnsName(n.id);
    n.vxlanName = vxlanName(n.vni);
    for (const auto& [id, other] : networks_)
      if (other.netns == n.netns)
        return Error{EEXIST, "network " + id + " already uses namespace " + n.netns};
    if (auto st = buildSandbox(kernel_, sandboxSpecLocked(n)); !st) return st;
    LOG_INFO("driver", "created network " << n.id.substr(0, 12) << " vni " << n.vni << " mtu "
                                          << n.mtu << " (" << n.identity << ")");
    auto& placed = networks_.emplace(n.id, std::move(n)).first->second;
    floodRefs_.erase(placed.identity);
    programAllPeersLocked(placed);
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = networks_.find(r.networkId);
    if (it != networks_.end()) {
      removeSandbox(kernel_, sandboxSpecLocked(it->second));
      networks_.erase(it);
      bumpLocked();
    }
    return st;
  }
  return Status::Ok();
}

Result<std::map<std::string, std::string>> Driver::allocateNetwork(const AllocateNetworkRequest& r) {
  if (auto st = checkObjectId("NetworkID", r.networkId); !st) return st.error();
  auto opts = parseNetworkOptions(r.options);
  if (!opts.ok()) return opts.error();
  if (auto st = refuseUnbuilt(*opts); !st) return st.error();
  for (const auto& d : r.ipv4)
    if (auto s = checkSubnet(d, false); !s.ok()) return s.error();
  for (const auto& d : r.ipv6)
    if (auto s = checkSubnet(d, true); !s.ok()) return s.error();
  // Stateless: rebuilt from the options each time, so a repeat (or a call on
  // another manager after failover) gives the same answer.
  auto out = opts->raw;
  if (!opts->vni) out["vni"] = std::to_string(stableHash("id:" + r.networkId) % kMaxWeftVni + 1);
  return out;
}

Status Driver::freeNetwork(const std::string& networkId) { return checkObjectId("NetworkID", networkId); }

Status Driver::deleteNetwork(const std::string& networkId) {
  if (auto st = checkObjectId("NetworkID", networkId); !st) return st;
  uint64_t seq;
  Network removed;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = networks_.find(networkId);
    if (it == networks_.end()) return Status::Ok();  // already gone: Docker may repeat
    if (!it->second.endpoints.empty())
      return Error{EBUSY, "network " + networkId.substr(0, 12) + " still has " +
                              std::to_string(it->second.endpoints.size()) + " endpoint(s)"};
    if (auto st = removeSandbox(kernel_, sandboxSpecLocked(it->second)); !st) return st;
    floodRefs_.erase(it->second.identity);
    removed = std::move(it->second);
    networks_.erase(it);
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    buildSandbox(kernel_, sandboxSpecLocked(removed));
    networks_.emplace(removed.id, std::move(removed));
    bumpLocked();
    return st;
  }
  LOG_INFO("driver", "deleted network " << networkId.substr(0, 12));
  return Status::Ok();
}

// ---------------------------------------------------------------- endpoints

Result<CreateEndpointResult> Driver::createEndpoint(const CreateEndpointRequest& r) {
  if (auto st = checkObjectId("NetworkID", r.networkId); !st) return st.error();
  if (auto st = checkObjectId("EndpointID", r.endpointId); !st) return st.error();
  std::optional<Prefix> a4, a6;
  if (!r.iface.address.empty()) {
    a4 = Prefix::parse(r.iface.address);
    if (!a4 || a4->addr.v6)
      return Error{EINVAL, "Interface.Address \"" + r.iface.address + "\" is not an IPv4 CIDR"};
  }
  if (!r.iface.addressIpv6.empty()) {
    a6 = Prefix::parse(r.iface.addressIpv6);
    if (!a6 || !a6->addr.v6)
      return Error{EINVAL, "Interface.AddressIPv6 \"" + r.iface.addressIpv6 + "\" is not an IPv6 CIDR"};
  }
  if (!r.iface.macAddress.empty()) {
    auto m = kernel::MacAddr::parse(r.iface.macAddress);
    if (!m || (m->bytes[0] & 1))
      return Error{EINVAL, "Interface.MacAddress \"" + r.iface.macAddress + "\" is not a unicast MAC"};
  }

  uint64_t seq;
  CreateEndpointResult result;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto nit = networks_.find(r.networkId);
    if (nit == networks_.end()) return notFound("network", r.networkId);
    Network& n = nit->second;
    if (auto it = endpoints_.find(r.endpointId); it != endpoints_.end()) {
      const Endpoint& e = it->second;
      bool same = e.networkId == r.networkId && e.address == r.iface.address &&
                  e.addressIpv6 == r.iface.addressIpv6 &&
                  (r.iface.macAddress.empty() ? e.macChosenByWeft : e.mac == r.iface.macAddress);
      if (!same)
        return Error{EEXIST, "endpoint " + r.endpointId.substr(0, 12) + " already exists with different settings"};
      if (e.macChosenByWeft) result.macAddress = e.mac;
      return result;
    }
    if (a4 && !inSubnets(n.ipv4, a4->addr))
      return Error{EINVAL, "address " + r.iface.address + " is outside the network's IPv4 subnets"};
    if (a6 && !inSubnets(n.ipv6, a6->addr))
      return Error{EINVAL, "address " + r.iface.addressIpv6 + " is outside the network's IPv6 subnets"};
    for (const auto& eid : n.endpoints) {
      const Endpoint& o = endpoints_.at(eid);
      auto clash = [&](const std::string& mine, const std::string& theirs) {
        if (mine.empty() || theirs.empty()) return false;
        auto p = Prefix::parse(mine), q = Prefix::parse(theirs);
        return p && q && p->addr == q->addr;
      };
      if (clash(r.iface.address, o.address) || clash(r.iface.addressIpv6, o.addressIpv6))
        return Error{EEXIST, "address already used by endpoint " + eid.substr(0, 12) + " on this network"};
      if (o.hostVeth == hostVethName(r.endpointId))
        return Error{EEXIST, "endpoint ID prefix clashes with endpoint " + eid.substr(0, 12)};
    }
    Endpoint e;
    e.id = r.endpointId;
    e.networkId = r.networkId;
    e.address = r.iface.address;
    e.addressIpv6 = r.iface.addressIpv6;
    if (!r.iface.macAddress.empty()) {
      e.mac = kernel::MacAddr::parse(r.iface.macAddress)->str();
    } else {
      e.mac = a4 ? macFromIp(a4->addr) : a6 ? macFromIp(a6->addr) : randomMac();
      e.macChosenByWeft = true;
      result.macAddress = e.mac;
    }
    e.hostVeth = hostVethName(e.id);
    e.sandboxVeth = sandboxVethName(e.id);
    n.endpoints.insert(e.id);
    endpoints_.emplace(e.id, std::move(e));
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    endpoints_.erase(r.endpointId);
    if (auto nit = networks_.find(r.networkId); nit != networks_.end())
      nit->second.endpoints.erase(r.endpointId);
    bumpLocked();
    return st.error();
  }
  return result;
}

Result<EndpointInfo> Driver::endpointInfo(const std::string& networkId, const std::string& endpointId) {
  if (auto st = checkObjectId("NetworkID", networkId); !st) return st.error();
  if (auto st = checkObjectId("EndpointID", endpointId); !st) return st.error();
  std::lock_guard<std::mutex> lk(mu_);
  auto it = endpoints_.find(endpointId);
  if (it == endpoints_.end() || it->second.networkId != networkId) {
    if (!networks_.count(networkId)) return notFound("network", networkId);
    return notFound("endpoint", endpointId);
  }
  const Endpoint& e = it->second;
  EndpointInfo i{e.networkId, e.id, e.address, e.addressIpv6, e.mac, e.hostVeth, e.sandboxVeth, e.joined,
                 networks_.at(networkId).vni};
  return i;
}

Status Driver::checkEndpoint(const std::string& networkId, const std::string& endpointId) {
  if (auto st = checkObjectId("NetworkID", networkId); !st) return st;
  if (auto st = checkObjectId("EndpointID", endpointId); !st) return st;
  std::lock_guard<std::mutex> lk(mu_);
  if (!networks_.count(networkId)) return notFound("network", networkId);
  auto it = endpoints_.find(endpointId);
  if (it == endpoints_.end() || it->second.networkId != networkId) return notFound("endpoint", endpointId);
  return Status::Ok();
}

Status Driver::deleteEndpoint(const std::string& networkId, const std::string& endpointId) {
  if (auto st = checkObjectId("NetworkID", networkId); !st) return st;
  if (auto st = checkObjectId("EndpointID", endpointId); !st) return st;
  uint64_t seq;
  Endpoint removed;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto it = endpoints_.find(endpointId);
    if (it == endpoints_.end()) return Status::Ok();  // already gone: Docker may repeat
    if (it->second.networkId != networkId)
      return Error{EINVAL, "endpoint " + endpointId.substr(0, 12) + " belongs to network " +
                               it->second.networkId.substr(0, 12) + ", not " + networkId.substr(0, 12)};
    Network& n = networks_.at(networkId);
    if (it->second.joined) {
      if (auto st = unplugEndpoint(kernel_, n.netns, it->second.sandboxVeth, retiredNameLocked(n.netns)); !st)
        return st;
      if (cluster_) cluster_->withdraw(n.identity, endpointId);
    }
    removed = std::move(it->second);
    endpoints_.erase(it);
    n.endpoints.erase(endpointId);
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    removed.joined = false;  // its veth is gone
    networks_.at(networkId).endpoints.insert(endpointId);
    endpoints_.emplace(endpointId, std::move(removed));
    bumpLocked();
    return st;
  }
  return Status::Ok();
}

Result<JoinResult> Driver::join(const std::string& networkId, const std::string& endpointId,
                                const std::string& sandboxKey) {
  (void)sandboxKey;  // a path in Docker's mount namespace; weft does not need it
  if (auto st = checkEndpoint(networkId, endpointId); !st) return st.error();
  std::lock_guard<std::mutex> lk(mu_);
  auto nit = networks_.find(networkId);
  auto eit = endpoints_.find(endpointId);
  if (nit == networks_.end()) return notFound("network", networkId);
  if (eit == endpoints_.end()) return notFound("endpoint", endpointId);
  Endpoint& e = eit->second;
  JoinResult res;
  res.srcName = e.hostVeth;
  if (e.joined) return res;
  // No state write: the veth itself records the join, and outlives weft.
  if (auto st = plugEndpoint(kernel_, nit->second.netns, e.hostVeth, e.sandboxVeth, nit->second.mtu); !st)
    return st.error();
  e.joined = true;
  if (cluster_) cluster_->publish(localRecordLocked(e));
  return res;
}

Status Driver::leave(const std::string& networkId, const std::string& endpointId) {
  if (auto st = checkObjectId("NetworkID", networkId); !st) return st;
  if (auto st = checkObjectId("EndpointID", endpointId); !st) return st;
  std::lock_guard<std::mutex> lk(mu_);
  auto eit = endpoints_.find(endpointId);
  if (eit == endpoints_.end() || !eit->second.joined) return Status::Ok();  // idempotent
  if (eit->second.networkId != networkId)
    return Error{EINVAL, "endpoint " + endpointId.substr(0, 12) + " belongs to another network"};
  const std::string& ns = networks_.at(networkId).netns;
  if (auto st = unplugEndpoint(kernel_, ns, eit->second.sandboxVeth, retiredNameLocked(ns)); !st)
    return st;
  eit->second.joined = false;
  if (cluster_) cluster_->withdraw(networks_.at(networkId).identity, endpointId);
  return Status::Ok();
}

// ---------------------------------------------------------------- discovery

Status Driver::discoverNew(const std::string& address) {
  if (!IpAddr::parse(address)) return Error{EINVAL, "DiscoveryData.Address \"" + address + "\" is not an IP address"};
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!discovered_.insert(address).second) return Status::Ok();
    seq = bumpLocked();
    if (cluster_) cluster_->addSeed(address);
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    discovered_.erase(address);
    bumpLocked();
    return st;
  }
  return Status::Ok();
}

Status Driver::discoverDelete(const std::string& address) {
  if (!IpAddr::parse(address)) return Error{EINVAL, "DiscoveryData.Address \"" + address + "\" is not an IP address"};
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (discovered_.erase(address) == 0) return Status::Ok();
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    discovered_.insert(address);
    bumpLocked();
    return st;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- IPAM

Result<PoolGrant> Driver::requestPool(const std::string& addressSpace, const std::string& pool,
                                      const std::string& subPool,
                                      const std::map<std::string, std::string>& options, bool v6) {
  uint64_t seq;
  PoolGrant g;
  {
    std::lock_guard<std::mutex> lk(mu_);
    auto r = ipam_.requestPool(addressSpace, pool, subPool, options, v6);
    if (!r.ok()) return r.error();
    g = *r;
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    ipam_.restorePool(g.poolId, std::nullopt);
    bumpLocked();
    return st.error();
  }
  return g;
}

Status Driver::releasePool(const std::string& poolId) {
  uint64_t seq;
  std::optional<AddressPool> saved;
  {
    std::lock_guard<std::mutex> lk(mu_);
    saved = ipam_.pool(poolId);
    if (auto st = ipam_.releasePool(poolId); !st) return st;
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    ipam_.restorePool(poolId, saved);
    bumpLocked();
    return st;
  }
  return Status::Ok();
}

Result<std::string> Driver::requestAddress(const std::string& poolId, const std::string& address,
                                           const std::map<std::string, std::string>& options) {
  uint64_t seq;
  std::string got;
  std::optional<AddressPool> saved;
  {
    std::lock_guard<std::mutex> lk(mu_);
    saved = ipam_.pool(poolId);
    auto r = ipam_.requestAddress(poolId, address, options);
    if (!r.ok()) return r.error();
    got = *r;
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    ipam_.restorePool(poolId, saved);
    bumpLocked();
    return st.error();
  }
  return got;
}

Status Driver::releaseAddress(const std::string& poolId, const std::string& address) {
  uint64_t seq;
  std::optional<AddressPool> saved;
  {
    std::lock_guard<std::mutex> lk(mu_);
    saved = ipam_.pool(poolId);
    if (auto st = ipam_.releaseAddress(poolId, address); !st) return st;
    seq = bumpLocked();
  }
  if (auto st = commit(seq); !st) {
    std::lock_guard<std::mutex> lk(mu_);
    ipam_.restorePool(poolId, saved);
    bumpLocked();
    return st;
  }
  return Status::Ok();
}

// ---------------------------------------------------------------- inspection

std::vector<Network> Driver::networks() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<Network> v;
  for (const auto& [id, n] : networks_) v.push_back(n);
  return v;
}

std::vector<Endpoint> Driver::endpoints() const {
  std::lock_guard<std::mutex> lk(mu_);
  std::vector<Endpoint> v;
  for (const auto& [id, e] : endpoints_) v.push_back(e);
  return v;
}

std::set<std::string> Driver::discoveredNodes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return discovered_;
}

std::string Driver::retiredNameLocked(const std::string& netns) {
  retiredIn_.insert(netns);
  char buf[16];
  std::snprintf(buf, sizeof buf, "wr%08x", retiredSeq_++);
  return buf;
}

size_t Driver::reapRetired() {
  std::set<std::string> todo;
  {
    std::lock_guard<std::mutex> lk(mu_);
    todo.swap(retiredIn_);
  }
  // Outside the lock: deleting devices waits on the kernel.
  for (const auto& ns : todo)
    if (auto st = driver::reapRetired(kernel_, ns); !st) LOG_WARN("driver", st.error().message);
  return todo.size();
}

size_t Driver::endpointCount() const {
  std::lock_guard<std::mutex> lk(mu_);
  return endpoints_.size();
}

}  // namespace weft::driver
