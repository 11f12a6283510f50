#include "gossip/daemon/lease_records.h"

#include <charconv>

#include "common/ip.h"

namespace weft::gossip {

namespace {

template <class T>
bool parseNumber(const std::string& s, T* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

bool isLeaseNetwork(const std::string& network) { return network.rfind(kLeaseNetworkPrefix, 0) == 0; }

std::string leaseNetwork(const std::string& pool) { return kLeaseNetworkPrefix + pool; }

std::string leaseKey(uint32_t block, const std::string& owner) { return std::to_string(block) + "@" + owner; }

EndpointRecord leaseToRecord(const cluster::ipc::Lease& l, const std::string& owner) {
  EndpointRecord r;
  r.network = leaseNetwork(l.pool);
  r.endpoint = leaseKey(l.block, owner);
  r.vtep = "c=" + std::to_string(l.claimedAt) + ";f=" + (l.used ? "u" : "-") + (l.released ? "r" : "-") +
           ";t=" + l.takeoverOf;
  return r;
}

Result<cluster::ipc::Lease> recordToLease(const EndpointRecord& r) {
  cluster::ipc::Lease l;
  if (!isLeaseNetwork(r.network)) return Error{EINVAL, "not a lease record"};
  l.pool = r.network.substr(std::string(kLeaseNetworkPrefix).size());
  auto pool = Prefix::parse(l.pool);
  if (!pool || !pool->hostBitsZero()) return Error{EINVAL, "lease record of a bad pool \"" + l.pool + "\""};
  auto at = r.endpoint.find('@');
  if (at == std::string::npos || !parseNumber(r.endpoint.substr(0, at), &l.block) ||
      l.block >= cluster::ipc::kMaxLeaseBlocks)
    return Error{EINVAL, "lease record with a bad key \"" + r.endpoint + "\""};
  l.owner = r.owner;
  if (r.endpoint.substr(at + 1) != r.owner)
    return Error{EPERM, "lease record " + r.endpoint + " of pool " + l.pool + " sent under the name of " +
                            r.endpoint.substr(at + 1) + " by " + r.owner};
  // "c=<n>;f=<u|-><r|->;t=<text>"
  const std::string& v = r.vtep;
  auto f = v.find(";f=");
  auto t = v.find(";t=");
  if (v.rfind("c=", 0) != 0 || f == std::string::npos || t != f + 5 ||
      !parseNumber(v.substr(2, f - 2), &l.claimedAt))
    return Error{EINVAL, "lease record " + r.endpoint + " with a bad body"};
  const char u = v[f + 3], rel = v[f + 4];
  if ((u != 'u' && u != '-') || (rel != 'r' && rel != '-'))
    return Error{EINVAL, "lease record " + r.endpoint + " with bad flags"};
  l.used = u == 'u';
  l.released = rel == 'r';
  l.takeoverOf = v.substr(t + 3);
  if (!l.takeoverOf.empty() && l.takeoverOf.find('@') == std::string::npos)
    return Error{EINVAL, "lease record " + r.endpoint + " with a bad takeover"};
  return l;
}

}  // namespace weft::gossip
