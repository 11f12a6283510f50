#include "driver/network_mtus.h"

#include <algorithm>

#include "common/ip.h"
#include "common/mac.h"

namespace weft::driver {

namespace {

constexpr size_t kMaxIdentityLen = 200;  // "id:" and a 128-character object id fit; gossip allows 255

constexpr const char* kOwnerKind = "mtu.";  // the records' endpoint keys: "mtu.<owner>"

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
  return EndpointRecord{
      kMtuNetworkPrefix + identity, hostRecordKey(kOwnerKind, self), "", "", mac.str(), self};
}

Status NetworkMtus::apply(const EndpointRecord& r, bool active, const std::string& self) {
  const std::string identity =
      isRecordNetwork(r.network) ? r.network.substr(std::string(kMtuNetworkPrefix).size()) : "";
  if (!validIdentity(identity))
    return Error{EINVAL, "MTU record of network \"" + r.network.substr(0, 64) + "\": not an MTU record"};
  if (!ownerNamedByKey(r, kOwnerKind))
    return Error{EINVAL, "MTU record " + r.endpoint + " of " + identity + " with owner \"" + r.vtep +
                             "\" that its key does not name"};
  if (r.vtep == self) return Status::Ok();
  if (!active) {
    byIdentity_.erase(identity, r.vtep);
    return Status::Ok();
  }
  auto mac = MacAddr::parse(r.mac);
  const uint32_t mtu =
      mac ? (uint32_t{mac->bytes[3]} << 16) | (uint32_t{mac->bytes[4]} << 8) | mac->bytes[5] : 0;
  if (!mac || mac->bytes[0] != 0x02 || mac->bytes[1] || mac->bytes[2] || mtu < kMinRecordMtu ||
      mtu > kMaxRecordMtu || !r.ipv4.empty() || !r.ipv6.empty())
    return Error{EINVAL, "MTU record of " + identity + " by " + r.vtep + " with a bad MTU (" + r.mac + ")"};
  if (!byIdentity_.put(identity, r.vtep, mtu))
    return Error{ENOSPC, "MTU record of " + identity + " by " + r.vtep + ": already " +
                             std::to_string(byIdentity_.maxHostsPerKey()) + " hosts carry that network"};
  return Status::Ok();
}

std::vector<MtuMismatch> NetworkMtus::mismatches(const std::map<std::string, uint32_t>& mine) const {
  std::vector<MtuMismatch> out;
  for (const auto& [identity, ours] : mine) {
    const auto* hosts = byIdentity_.find(identity);
    if (!hosts) continue;
    for (const auto& [host, theirs] : *hosts)
      if (theirs != ours) out.push_back({identity, host, theirs, ours});
  }
  return out;
}

std::map<std::string, uint32_t> NetworkMtus::hostsOf(const std::string& identity) const {
  const auto* hosts = byIdentity_.find(identity);
  return hosts ? *hosts : std::map<std::string, uint32_t>{};
}

std::set<std::string> NetworkMtus::unknown(const std::string& identity,
                                           const std::set<std::string>& carriers) const {
  const auto* hosts = byIdentity_.find(identity);
  std::set<std::string> out;
  for (const auto& h : carriers)
    if (!hosts || !hosts->count(h)) out.insert(h);
  return out;
}

}  // namespace weft::driver
