#include "gossip/daemon/mcast_records.h"

#include <set>

#include "common/ip.h"

namespace weft::gossip {

namespace {

constexpr char kHex[] = "0123456789abcdef";

std::string toHex(const IpAddr& a) {
  const size_t n = a.isV6() ? 16 : 4;
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[a.bytes[i] >> 4];
    out += kHex[a.bytes[i] & 0xf];
  }
  return out;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Groups of one family from a field of `width` hex digits each.
Result<std::vector<std::string>> fromHex(const std::string& field, int family, size_t max) {
  const size_t bytes = family == AF_INET6 ? 16 : 4;
  const size_t width = 2 * bytes;
  if (field.size() % width != 0 || field.size() / width > max)
    return Error{EINVAL, "a group list of " + std::to_string(field.size()) + " characters"};
  std::vector<std::string> out;
  for (size_t at = 0; at < field.size(); at += width) {
    uint8_t raw[16];
    for (size_t i = 0; i < bytes; ++i) {
      int hi = hexDigit(field[at + 2 * i]), lo = hexDigit(field[at + 2 * i + 1]);
      if (hi < 0 || lo < 0) return Error{EINVAL, "a group that is not lower-case hex"};
      raw[i] = static_cast<uint8_t>(hi << 4 | lo);
    }
    out.push_back(IpAddr::fromBytes(family, raw).str());
  }
  return out;
}

}  // namespace

bool isMcastNetwork(const std::string& network) { return network.rfind(kMcastNetworkPrefix, 0) == 0; }

std::string mcastNetwork(const std::string& network) { return kMcastNetworkPrefix + network; }

EndpointRecord mcastToRecord(const cluster::ipc::Mcast& m, const std::string& owner) {
  EndpointRecord r;
  r.network = mcastNetwork(m.network);
  r.endpoint = owner;
  std::set<IpAddr> groups;
  for (const auto& g : m.groups)
    if (auto a = IpAddr::parse(g)) groups.insert(*a);
  for (const auto& a : groups) (a.isV6() ? r.ipv6 : r.ipv4) += toHex(a);
  r.mac = m.all ? "all" : "";
  r.vtep = m.vtep;
  return r;
}

Result<cluster::ipc::Mcast> recordToMcast(const EndpointRecord& r) {
  if (!isMcastNetwork(r.network)) return Error{EINVAL, "not a multicast record"};
  cluster::ipc::Mcast m;
  m.network = r.network.substr(std::string(kMcastNetworkPrefix).size());
  m.owner = r.owner;
  const std::string what = "multicast record of " + r.owner.substr(0, 64) + " for " + m.network.substr(0, 64);
  if (m.network.empty()) return Error{EINVAL, "multicast record with no network"};
  if (r.endpoint != r.owner)  // one record per host, under its own name only
    return Error{EPERM, what + " under another key \"" + r.endpoint.substr(0, 64) + "\""};
  auto vtep = IpAddr::parse(r.vtep);
  if (!vtep || !cluster::ipc::validIp(r.vtep)) return Error{EINVAL, what + " with a bad VTEP address"};
  m.vtep = r.vtep;
  if (r.mac != "all" && !r.mac.empty()) return Error{EINVAL, what + " with unknown flags"};
  m.all = r.mac == "all";
  auto v4 = fromHex(r.ipv4, AF_INET, cluster::ipc::kMaxMcastV4);
  if (!v4) return Error{EINVAL, what + ": IPv4 groups: " + v4.error().message};
  auto v6 = fromHex(r.ipv6, AF_INET6, cluster::ipc::kMaxMcastV6);
  if (!v6) return Error{EINVAL, what + ": IPv6 groups: " + v6.error().message};
  m.groups = *v4;
  m.groups.insert(m.groups.end(), v6->begin(), v6->end());
  if (auto why = cluster::ipc::mcastGroupsProblem(m); !why.empty()) return Error{EINVAL, what + ": " + why};
  return m;
}

}  // namespace weft::gossip
