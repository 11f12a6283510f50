// Endpoints: create, inspect, join, leave, delete.

#include <cerrno>

#include "driver/driver.h"
#include "driver/driver_internal.h"
#include "driver/names.h"
#include "driver/sandbox.h"
#include "kernel/types.h"

namespace weft::driver {

using detail::inSubnets;
using detail::macFromIp;
using detail::notFound;
using detail::randomMac;

namespace {

// An address another host's endpoint of the same network already uses: two
// hosts handed it out alone (Docker's default IPAM, per-host --ip-ranges
// that overlap, or a manual --ip). Refused, naming the other host.
Status refuseRemoteClash(const std::string& identity, const std::optional<Prefix>& a4,
                         const std::optional<Prefix>& a6, const std::vector<EndpointRecord>& remote) {
  for (const auto& o : remote) {
    if (o.network != identity) continue;
    for (const auto& [mine, theirs] : {std::pair{a4, o.ipv4}, std::pair{a6, o.ipv6}}) {
      auto q = Prefix::parse(theirs);
      if (!mine || !q || mine->addr != q->addr) continue;
      return Error{EEXIST, "address " + mine->addr.str() + " is already used on host " + o.vtep +
                               " (endpoint " + o.endpoint.substr(0, 12) +
                               "): each host handed it out alone; create the network with "
                               "--ipam-driver weft and no --ip-range on every host for addresses unique "
                               "across hosts"};
    }
  }
  return Status::Ok();
}

}  // namespace

Result<CreateEndpointResult> Driver::createEndpoint(const CreateEndpointRequest& r) {
  if (auto st = checkObjectId("NetworkID", r.networkId); !st) return st.error();
  if (auto st = checkObjectId("EndpointID", r.endpointId); !st) return st.error();
  std::optional<Prefix> a4, a6;
  if (!r.iface.address.empty()) {
    a4 = Prefix::parse(r.iface.address);
    if (!a4 || a4->addr.isV6())
      return Error{EINVAL, "Interface.Address \"" + r.iface.address + "\" is not an IPv4 CIDR"};
  }
  if (!r.iface.addressIpv6.empty()) {
    a6 = Prefix::parse(r.iface.addressIpv6);
    if (!a6 || !a6->addr.isV6())
      return Error{EINVAL, "Interface.AddressIPv6 \"" + r.iface.addressIpv6 + "\" is not an IPv6 CIDR"};
  }
  if (!r.iface.macAddress.empty()) {
    auto m = MacAddr::parse(r.iface.macAddress);
    if (!m || (m->bytes[0] & 1))
      return Error{EINVAL, "Interface.MacAddress \"" + r.iface.macAddress + "\" is not a unicast MAC"};
  }

  CreateEndpointResult result;
  // Other hosts' endpoints, for addresses they already use (the peer table's
  // lock is taken before mu_, never inside it).
  const std::vector<EndpointRecord> remote = (a4 || a6) ? peers_.records() : std::vector<EndpointRecord>{};
  auto change = [&]() -> Result<Changed> {
    auto nit = networks_.find(r.networkId);
    if (nit == networks_.end()) return notFound("network", r.networkId);
    Network& n = nit->second;
    if (auto st = refuseRemoteClash(n.identity, a4, a6, remote); !st) return st.error();
    if (auto it = endpoints_.find(r.endpointId); it != endpoints_.end()) {
      const Endpoint& e = it->second;
      bool same = e.networkId == r.networkId && e.address == r.iface.address &&
                  e.addressIpv6 == r.iface.addressIpv6 &&
                  (r.iface.macAddress.empty() ? e.macChosenByWeft : e.mac == r.iface.macAddress);
      if (!same)
        return Error{EEXIST,
                     "endpoint " + r.endpointId.substr(0, 12) + " already exists with different settings"};
      if (e.macChosenByWeft) result.macAddress = e.mac;
      return Changed::kNo;
    }
    if (auto st = usableLocked(n); !st) return st.error();
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
    }
    // The host-side veth is named after the first 11 characters of the ID,
    // and interface names are unique on the host, across every network.
    const std::string veth = hostVethName(r.endpointId);
    for (const auto& [eid, o] : endpoints_)
      if (o.hostVeth == veth)
        return Error{EEXIST, "endpoint " + r.endpointId.substr(0, 12) +
                                 " shares its first 11 characters with endpoint " + eid.substr(0, 12) +
                                 " of network " + o.networkId.substr(0, 12) +
                                 ": both would need the host interface " + veth};
    Endpoint e;
    e.id = r.endpointId;
    e.networkId = r.networkId;
    e.address = r.iface.address;
    e.addressIpv6 = r.iface.addressIpv6;
    if (!r.iface.macAddress.empty()) {
      e.mac = MacAddr::parse(r.iface.macAddress)->str();
    } else {
      e.mac = a4 ? macFromIp(a4->addr) : a6 ? macFromIp(a6->addr) : randomMac();
      e.macChosenByWeft = true;
      result.macAddress = e.mac;
    }
    e.hostVeth = hostVethName(e.id);
    e.sandboxVeth = sandboxVethName(e.id);
    n.endpoints.insert(e.id);
    endpoints_.emplace(e.id, std::move(e));
    return Changed::kYes;
  };
  auto undo = [&] {
    endpoints_.erase(r.endpointId);
    if (auto nit = networks_.find(r.networkId); nit != networks_.end())
      nit->second.endpoints.erase(r.endpointId);
  };
  if (auto st = changeDurably(change, undo); !st) return st.error();
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
  EndpointInfo i{e.networkId,   e.id,     e.address,
                 e.addressIpv6, e.mac,    e.hostVeth,
                 e.sandboxVeth, e.joined, networks_.at(networkId).vni};
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
  std::optional<Endpoint> removed;
  auto change = [&]() -> Result<Changed> {
    auto it = endpoints_.find(endpointId);
    if (it == endpoints_.end()) return Changed::kNo;  // already gone: Docker may repeat
    if (it->second.networkId != networkId)
      return Error{EINVAL, "endpoint " + endpointId.substr(0, 12) + " belongs to network " +
                               it->second.networkId.substr(0, 12) + ", not " + networkId.substr(0, 12)};
    Network& n = networks_.at(networkId);
    if (it->second.joined) {
      if (auto st = unplugEndpoint(kernel_, n.netns, it->second.sandboxVeth, retiredNameLocked(n.netns)); !st)
        return st.error();
      if (cluster_) cluster_->withdraw(n.identity, endpointId);
    }
    removed = std::move(it->second);
    endpoints_.erase(it);
    n.endpoints.erase(endpointId);
    return Changed::kYes;
  };
  auto undo = [&] {
    removed->joined = false;  // its veth is gone
    networks_.at(networkId).endpoints.insert(endpointId);
    endpoints_.emplace(endpointId, std::move(*removed));
  };
  return changeDurably(change, undo);
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
  res.disableGatewayService = !nit->second.wantsGwbridge();
  if (e.joined) {
    if (kernel_.getLink(nit->second.netns, e.sandboxVeth).ok()) return res;
    e.joined = false;  // its veth vanished (see sweepVanished): plug it anew
  }
  if (auto st = usableLocked(nit->second); !st) return st.error();
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
  if (auto st = unplugEndpoint(kernel_, ns, eit->second.sandboxVeth, retiredNameLocked(ns)); !st) return st;
  eit->second.joined = false;
  if (cluster_) cluster_->withdraw(networks_.at(networkId).identity, endpointId);
  return Status::Ok();
}

}  // namespace weft::driver
