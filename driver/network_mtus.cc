#include "driver/network_mtus.h"

#include <algorithm>

#include "common/ip.h"
#include "common/mac.h"

namespace weft::driver {

namespace {

constexpr size_t kMaxIdentityLen = 200;  // "id:" and a 128-character object id fit; gossip allows 255

// A record key unique per owner (an endpoint id allows no ':' of an IPv6 address).
std::string ownerKey(const std::string& owner) {
  std::string k = "mtu." + owner;
  std::replace(k.begin(), k.end(), ':', '-');
  return k;
}

bool validIdentity(const std::string& id) {
  if (id.empty() || id.size() > kMaxIdentityLen) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

}  // namespace

bool NetworkMtus::isRecordNetwork(const std::string& network) {
  return network.rfind(kMtuNetworkPrefix, 0) == 0;
}

EndpointRecord NetworkMtus::record(const std::string& identity, uint32_t mtu, const std::string& self) {
  MacAddr mac;
  mac.bytes = {0x02,
               0x00,
               0x00,
               static_cast<uint8_t>(mtu >> 16),
               static_cast<uint8_t>(mtu >> 8),
               static_cast<uint8_t>(mtu)};
  return EndpointRecord{kMtuNetworkPrefix + identity, ownerKey(self), "", "", mac.str(), self};
}

Status NetworkMtus::apply(const EndpointRecord& r, bool active, const std::string& self) {
  const std::string identity =
      isRecordNetwork(r.network) ? r.network.substr(std::string(kMtuNetworkPrefix).size()) : "";
  if (!validIdentity(identity))
    return Error{EINVAL, "MTU record of network \"" + r.network.substr(0, 64) + "\": not an MTU record"};
  if (!IpAddr::parse(r.vtep) || r.endpoint != ownerKey(r.vtep))
    return Error{EINVAL, "MTU record " + r.endpoint + " of " + identity + " with owner \"" + r.vtep +
                             "\" that its key does not name"};
  if (r.vtep == self) return Status::Ok();
  if (!active) {
    auto it = byIdentity_.find(identity);
    if (it != byIdentity_.end() && it->second.erase(r.vtep) && it->second.empty()) byIdentity_.erase(it);
    return Status::Ok();
  }
  auto mac = MacAddr::parse(r.mac);
  const uint32_t mtu =
      mac ? (uint32_t{mac->bytes[3]} << 16) | (uint32_t{mac->bytes[4]} << 8) | mac->bytes[5] : 0;
  if (!mac || mac->bytes[0] != 0x02 || mac->bytes[1] || mac->bytes[2] || mtu < kMinRecordMtu ||
      mtu > kMaxRecordMtu || !r.ipv4.empty() || !r.ipv6.empty())
    return Error{EINVAL, "MTU record of " + identity + " by " + r.vtep + " with a bad MTU (" + r.mac + ")"};
  auto& hosts = byIdentity_[identity];
  if (!hosts.count(r.vtep) && hosts.size() >= kMaxMtuHostsPerNetwork)
    return Error{ENOSPC, "MTU record of " + identity + " by " + r.vtep + ": already " +
                             std::to_string(hosts.size()) + " hosts carry that network"};
  hosts[r.vtep] = mtu;
  return Status::Ok();
}

std::vector<MtuMismatch> NetworkMtus::mismatches(const std::map<std::string, uint32_t>& mine) const {
  std::vector<MtuMismatch> out;
  for (const auto& [identity, ours] : mine) {
    auto it = byIdentity_.find(identity);
    if (it == byIdentity_.end()) continue;
    for (const auto& [host, theirs] : it->second)
      if (theirs != ours) out.push_back({identity, host, theirs, ours});
  }
  return out;
}

std::map<std::string, uint32_t> NetworkMtus::hostsOf(const std::string& identity) const {
  auto it = byIdentity_.find(identity);
  return it == byIdentity_.end() ? std::map<std::string, uint32_t>{} : it->second;
}

std::set<std::string> NetworkMtus::unknown(const std::string& identity,
                                           const std::set<std::string>& carriers) const {
  auto it = byIdentity_.find(identity);
  std::set<std::string> out;
  for (const auto& h : carriers)
    if (it == byIdentity_.end() || !it->second.count(h)) out.insert(h);
  return out;
}

}  // namespace weft::driver
