#include "driver/ipam_pool_names.h"

#include <algorithm>

namespace weft::driver {

namespace {

constexpr size_t kMaxNameLen = 64;  // as weft.name (driver/ipam.cc)

bool validName(const std::string& n) {
  return !n.empty() && n.size() <= kMaxNameLen && std::all_of(n.begin(), n.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

constexpr const char* kOwnerKind = "pool.";  // the records' endpoint keys: "pool.<owner>"

bool poolOfFamily(const std::string& cidr, bool v6) {
  auto p = Prefix::parse(cidr);
  return p && p->addr.isV6() == v6 && p->hostBitsZero();
}

}  // namespace

bool PoolNames::isRecordNetwork(const std::string& network) {
  return network.rfind(kPoolNameNetworkPrefix, 0) == 0;
}

EndpointRecord PoolNames::record(const std::string& name, const PoolNameUse& use, const std::string& self) {
  // The record travels as an endpoint record, which must carry a MAC: a
  // fixed one (locally administered), never programmed -- the driver takes
  // these records apart before its peer table sees them.
  return EndpointRecord{kPoolNameNetworkPrefix + name,
                        hostRecordKey(kOwnerKind, self),
                        use.v4,
                        use.v6,
                        "02:00:00:00:00:00",
                        self};
}

Status PoolNames::apply(const EndpointRecord& r, bool active, const std::string& self) {
  const std::string name = r.network.substr(std::string(kPoolNameNetworkPrefix).size());
  if (!isRecordNetwork(r.network) || !validName(name))
    return Error{EINVAL, "pool name record of network \"" + r.network + "\": not a pool name"};
  if (!ownerNamedByKey(r, kOwnerKind))
    return Error{EINVAL, "pool name record " + r.endpoint + " of " + name + " with owner \"" + r.vtep +
                             "\" that its key does not name"};
  if (r.vtep == self) return Status::Ok();
  if (!active) {
    byName_.erase(name, r.vtep);
    return Status::Ok();
  }
  if ((!r.ipv4.empty() && !poolOfFamily(r.ipv4, false)) || (!r.ipv6.empty() && !poolOfFamily(r.ipv6, true)))
    return Error{EINVAL, "pool name record of " + name + " by " + r.vtep + " with a bad pool"};
  if (!byName_.put(name, r.vtep, PoolNameUse{r.ipv4, r.ipv6}))
    return Error{ENOSPC, "pool name record of " + name + " by " + r.vtep + ": already " +
                             std::to_string(byName_.maxHostsPerKey()) + " hosts use that name"};
  return Status::Ok();
}

std::optional<PoolNameMismatch> PoolNames::mismatch(const std::string& name, const Prefix& pool) const {
  const auto* owners = byName_.find(name);
  if (!owners) return std::nullopt;
  const std::string ours = pool.network().str();
  const bool v6 = pool.addr.isV6();
  for (const auto& [owner, use] : *owners) {
    const std::string& theirs = v6 ? use.v6 : use.v4;
    if (!theirs.empty() && theirs != ours) return PoolNameMismatch{name, owner, theirs, ours};
  }
  return std::nullopt;
}

std::vector<PoolNameMismatch> PoolNames::mismatches(const std::map<std::string, PoolNameUse>& mine) const {
  std::vector<PoolNameMismatch> out;
  for (const auto& [name, use] : mine)
    for (const std::string* cidr : {&use.v4, &use.v6}) {
      if (cidr->empty()) continue;
      const auto* owners = byName_.find(name);
      if (!owners) continue;
      const bool v6 = cidr == &use.v6;
      for (const auto& [owner, theirs] : *owners) {
        const std::string& t = v6 ? theirs.v6 : theirs.v4;
        if (!t.empty() && t != *cidr) out.push_back({name, owner, t, *cidr});
      }
    }
  return out;
}

}  // namespace weft::driver
